//! The version label rule, the one place that defines it.
//!
//! A label is shown in `wharf ps`, put in the `x-wharf-version` response
//! header and in metric labels, so it must be a valid header value on its
//! own: 1 to [`MAX_VERSION_LEN`] printable ASCII characters, no spaces.
//! The manifest validator (with file, line and key) and the deployer (for
//! labels given through the admin API) both call [`check_version_label`],
//! so a label the manifest accepts is never refused later by `wharf up`.

/// Longest accepted `version` label, in characters (ASCII, so also bytes).
pub const MAX_VERSION_LEN: usize = 64;

/// The label of a service whose manifest gives none.
pub const DEFAULT_VERSION: &str = "dev";

/// Checks a version label; the error says what is wrong, for the caller to
/// place (a manifest span, or an admin API `400`).
pub fn check_version_label(label: &str) -> Result<(), String> {
    let chars = label.chars().count();
    if label.is_empty() {
        Err("version must not be empty".to_owned())
    } else if chars > MAX_VERSION_LEN {
        Err(format!(
            "version is {chars} characters long; at most {MAX_VERSION_LEN} are allowed"
        ))
    } else if label.chars().any(char::is_whitespace) {
        Err(format!(
            "version `{}` must not contain whitespace",
            label.escape_debug()
        ))
    } else if let Some(c) = label.chars().find(|c| !c.is_ascii_graphic()) {
        Err(format!(
            "version `{}` contains {c:?}; a version is printable ASCII without spaces (it is sent in a header)",
            label.escape_debug()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_labels() {
        for label in [
            "dev",
            "1.0.0",
            "v2-rc.1+build.7",
            &"x".repeat(MAX_VERSION_LEN),
        ] {
            assert_eq!(check_version_label(label), Ok(()), "{label}");
        }
    }

    #[test]
    fn refuses_what_cannot_be_a_header_value() {
        for label in [
            "",
            "1.0 beta",
            "1.0-β",
            "tab\t",
            "new\nline",
            &"x".repeat(MAX_VERSION_LEN + 1),
        ] {
            assert!(
                check_version_label(label).is_err(),
                "{label:?} was accepted"
            );
        }
    }
}
