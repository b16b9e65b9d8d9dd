//! The one-line text format shared by key and signature files:
//! `<header> <field> …`, with a trailing newline when written.
//!
//! Errors here are bare reasons; the public `from_text` functions wrap them
//! in [`TrustError::Malformed`](crate::TrustError::Malformed) with what was
//! being parsed. No reason ever quotes the input, which may be a secret key
//! pasted in the wrong place.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Header of a secret key file.
pub(crate) const SECRET_HEADER: &str = "wharf-ed25519-secret-v1";
/// Header of a public key file.
pub(crate) const PUBLIC_HEADER: &str = "wharf-ed25519-public-v1";
/// Header of a signature file.
pub(crate) const SIGNATURE_HEADER: &str = "wharf-ed25519-signature-v1";

/// The headers this crate knows, with what each file is, so a file given in
/// the wrong place gets a message saying what it is.
const KNOWN: &[(&str, &str)] = &[
    (SECRET_HEADER, "a Wharf secret key"),
    (PUBLIC_HEADER, "a Wharf public key"),
    (SIGNATURE_HEADER, "a Wharf signature"),
];

/// A format: its header and what the line should look like, for messages.
pub(crate) struct Format {
    /// The first field.
    pub header: &'static str,
    /// The whole line as documentation shows it, e.g.
    /// `wharf-ed25519-public-v1 <base64 public key>`.
    pub shape: &'static str,
    /// What the file is, as the tail of "this is …, not …".
    pub noun: &'static str,
}

impl Format {
    /// Checks the header and field count, and returns the fields after the
    /// header.
    pub(crate) fn fields<'a, const N: usize>(&self, text: &'a str) -> Result<[&'a str; N], String> {
        let line = text.trim();
        if line.is_empty() {
            return Err(format!("the text is empty; expected `{}`", self.shape));
        }
        let lines = line.lines().count();
        if lines > 1 {
            return Err(format!(
                "expected one line `{}`, found {lines} lines",
                self.shape
            ));
        }
        let mut fields = line.split_ascii_whitespace();
        let header = fields.next().unwrap_or_default();
        if header != self.header {
            return Err(match KNOWN.iter().find(|(known, _)| *known == header) {
                Some((_, what)) => format!("this is {what}, not {}", self.noun),
                None => format!(
                    "expected a line starting with `{}` (`{}`)",
                    self.header, self.shape
                ),
            });
        }
        let rest: Vec<&str> = fields.collect();
        <[&str; N]>::try_from(rest).map_err(|rest| {
            format!(
                "expected `{}`, found {} field(s) after `{}`",
                self.shape,
                rest.len(),
                self.header
            )
        })
    }
}

/// Decodes a standard, padded base64 field of exactly `N` bytes.
pub(crate) fn decode_base64<const N: usize>(field: &str, name: &str) -> Result<[u8; N], String> {
    let bytes = STANDARD
        .decode(field)
        .map_err(|_| format!("the {name} is not valid base64 (standard alphabet, padded)"))?;
    let len = bytes.len();
    <[u8; N]>::try_from(bytes).map_err(|_| format!("the {name} is {len} bytes, expected {N}"))
}

/// Encodes bytes as standard, padded base64.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
