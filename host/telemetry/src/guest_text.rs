//! Guest-chosen text in host log fields, made safe to print.
//!
//! Store names, subjects, URIs, trap messages (which carry the guest's own
//! function names) and guest output all come from code the host does not
//! trust. Written raw, a `\n` forges a whole log line in the pretty
//! format, an escape sequence rewrites the operator's terminal, and a
//! megabyte-long name bloats every line. Every log field that holds such
//! text goes through [`guest_text`] (or [`guest_text_within`] where a
//! field has its own size limit), which escapes control characters and
//! caps the length.

use std::fmt;

/// Most bytes of guest-chosen text one log field shows; the rest is
/// replaced by a count.
pub const MAX_GUEST_TEXT_BYTES: usize = 1024;

/// `text` for a log field: control characters (including `\n`, `\r`,
/// `ESC` and Unicode bidi controls) escaped, at most
/// [`MAX_GUEST_TEXT_BYTES`] of it shown.
pub fn guest_text(text: &str) -> GuestText<'_> {
    guest_text_within(text, MAX_GUEST_TEXT_BYTES)
}

/// Like [`guest_text`], showing at most `max` bytes.
pub fn guest_text_within(text: &str, max: usize) -> GuestText<'_> {
    GuestText { text, max }
}

/// Displays guest-chosen text escaped and capped; see [`guest_text`].
#[derive(Debug, Clone, Copy)]
pub struct GuestText<'a> {
    text: &'a str,
    max: usize,
}

impl fmt::Display for GuestText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = 0;
        for (at, c) in self.text.char_indices() {
            if shown + c.len_utf8() > self.max {
                return write!(f, "…[{} more bytes]", self.text.len() - at);
            }
            shown += c.len_utf8();
            if needs_escape(c) {
                write!(f, "{}", c.escape_unicode())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

/// Characters that change how a line prints rather than what it says.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters_and_caps() {
        let forged = "store\nINFO forged line\r\x1b[31m\u{202e}";
        let shown = guest_text(forged).to_string();
        assert!(!shown.contains('\n') && !shown.contains('\r') && !shown.contains('\x1b'));
        assert!(!shown.contains('\u{202e}'));
        assert!(shown.starts_with("store\\u{a}INFO forged line"), "{shown}");
        assert_eq!(guest_text("plain ünïcode").to_string(), "plain ünïcode");
        let long = "é".repeat(2000);
        let shown = guest_text(&long).to_string();
        assert!(shown.len() < MAX_GUEST_TEXT_BYTES + 32, "{}", shown.len());
        assert!(shown.ends_with("…[2976 more bytes]"), "{shown}");
    }
}
