//! NATS subject rules, shared by every broker.
//!
//! This module owns what a valid subject and a valid subscription pattern
//! are, how a pattern matches a subject, and whether one pattern is covered
//! by another (the check the host makes when a service subscribes under a
//! grant). It lives apart from the brokers so that the embedded broker, the
//! NATS broker and the host's grant checks all agree on one set of rules.
//!
//! The rules are NATS's, slightly stricter:
//!
//! - a subject is one or more non-empty tokens separated by `.`;
//! - no whitespace or control characters anywhere;
//! - in a pattern a token may be `*` (exactly one token) or, as the last
//!   token only, `>` (one or more tokens);
//! - a publish subject has no wildcards;
//! - `*` and `>` are refused inside a longer token (`a*`, `b>c`). NATS
//!   accepts those as literal characters; refusing them keeps subjects and
//!   grants unambiguous to read.

/// Why a subject or pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    /// The subject is the empty string.
    #[error("subject is empty")]
    Empty,
    /// Two dots in a row, or a leading or trailing dot.
    #[error("subject {subject:?} has an empty token")]
    EmptyToken {
        /// The refused subject.
        subject: String,
    },
    /// Whitespace or a control character.
    #[error("subject {subject:?} contains the invalid character {character:?}")]
    InvalidCharacter {
        /// The refused subject.
        subject: String,
        /// The first offending character.
        character: char,
    },
    /// `*` or `>` inside a longer token, such as `a*` or `b>c`.
    #[error("subject {subject:?} has a wildcard character inside a token")]
    WildcardInsideToken {
        /// The refused subject.
        subject: String,
    },
    /// A `*` or `>` token in a subject that is published to.
    #[error("subject {subject:?} contains a wildcard; wildcards are only allowed when subscribing")]
    WildcardInSubject {
        /// The refused subject.
        subject: String,
    },
    /// A `>` token that is not the last one.
    #[error("pattern {pattern:?} has `>` before its last token")]
    FullWildcardNotLast {
        /// The refused pattern.
        pattern: String,
    },
}

/// The single-token wildcard.
const ONE: &str = "*";
/// The tail wildcard: one or more tokens, last position only.
const TAIL: &str = ">";

/// Checks the characters and tokens shared by subjects and patterns.
fn check_tokens(s: &str) -> Result<(), SubjectError> {
    if s.is_empty() {
        return Err(SubjectError::Empty);
    }
    if let Some(character) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(SubjectError::InvalidCharacter {
            subject: s.to_owned(),
            character,
        });
    }
    for token in s.split('.') {
        if token.is_empty() {
            return Err(SubjectError::EmptyToken {
                subject: s.to_owned(),
            });
        }
        if token.len() > 1 && token.contains(['*', '>']) {
            return Err(SubjectError::WildcardInsideToken {
                subject: s.to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks a subject that a message is published to: no wildcards.
pub fn validate_subject(subject: &str) -> Result<(), SubjectError> {
    check_tokens(subject)?;
    if subject.split('.').any(|t| t == ONE || t == TAIL) {
        return Err(SubjectError::WildcardInSubject {
            subject: subject.to_owned(),
        });
    }
    Ok(())
}

/// Checks a subscription pattern: `*` tokens anywhere, `>` as the last token only.
pub fn validate_pattern(pattern: &str) -> Result<(), SubjectError> {
    check_tokens(pattern)?;
    let mut tokens = pattern.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token == TAIL && tokens.peek().is_some() {
            return Err(SubjectError::FullWildcardNotLast {
                pattern: pattern.to_owned(),
            });
        }
    }
    Ok(())
}

/// Checks a queue group name: non-empty, no whitespace or control characters.
pub fn validate_queue_group(group: &str) -> Result<(), SubjectError> {
    if group.is_empty() {
        return Err(SubjectError::Empty);
    }
    if let Some(character) = group.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(SubjectError::InvalidCharacter {
            subject: group.to_owned(),
            character,
        });
    }
    Ok(())
}

/// Whether `pattern` matches the (wildcard-free) `subject`.
///
/// `*` matches exactly one token, `>` one or more trailing tokens: `a.>`
/// matches `a.b` and `a.b.c` but not `a`. Both arguments are expected to be
/// valid; invalid input gives an answer but not a meaningful one.
pub fn pattern_matches(pattern: &str, subject: &str) -> bool {
    let mut subject_tokens = subject.split('.');
    for p in pattern.split('.') {
        if p == TAIL {
            return subject_tokens.next().is_some();
        }
        match subject_tokens.next() {
            Some(s) if p == ONE || p == s => {}
            _ => return false,
        }
    }
    subject_tokens.next().is_none()
}

/// Whether every subject matched by `pattern` is also matched by `grant`.
///
/// Used to check a subscription against what a service was granted:
/// `pattern_covers("orders.>", "orders.*.created")` is true,
/// `pattern_covers("orders.*", "orders.>")` is false (`orders.a.b`).
/// For a wildcard-free `pattern` this is [`pattern_matches`]. Both arguments
/// are expected to be valid patterns.
pub fn pattern_covers(grant: &str, pattern: &str) -> bool {
    let mut pattern_tokens = pattern.split('.');
    for g in grant.split('.') {
        if g == TAIL {
            // `>` takes one or more tokens; every pattern token stands for at
            // least one subject token, so any non-empty rest is covered.
            return pattern_tokens.next().is_some();
        }
        match pattern_tokens.next() {
            // The pattern can be longer than any fixed-length grant.
            Some(TAIL) | None => return false,
            Some(_) if g == ONE => {}
            Some(p) if p == g => {}
            Some(_) => return false,
        }
    }
    pattern_tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_subjects() {
        for s in [
            "a",
            "a.b",
            "orders.created",
            "_INBOX.abc123",
            "a-b.c_d.1",
            "ünï.cødé",
        ] {
            assert_eq!(validate_subject(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn invalid_subjects() {
        assert_eq!(validate_subject(""), Err(SubjectError::Empty));
        for s in [".", "a.", ".a", "a..b"] {
            assert!(
                matches!(validate_subject(s), Err(SubjectError::EmptyToken { .. })),
                "{s}"
            );
        }
        for s in ["a b", "a\tb", "a.b\n", "a\u{0}b", "a\u{a0}b"] {
            assert!(
                matches!(
                    validate_subject(s),
                    Err(SubjectError::InvalidCharacter { .. })
                ),
                "{s:?}"
            );
        }
        for s in ["*", "a.*", ">", "a.>", "*.b"] {
            assert!(
                matches!(
                    validate_subject(s),
                    Err(SubjectError::WildcardInSubject { .. })
                ),
                "{s}"
            );
        }
        for s in ["a*", "a.b>", "a.*b.c", "a.>>"] {
            assert!(
                matches!(
                    validate_subject(s),
                    Err(SubjectError::WildcardInsideToken { .. })
                ),
                "{s}"
            );
        }
    }

    #[test]
    fn patterns() {
        for p in ["a", "*", ">", "a.*", "a.>", "*.b.>", "*.*"] {
            assert_eq!(validate_pattern(p), Ok(()), "{p}");
        }
        for p in [">.a", "a.>.b", ">.>"] {
            assert!(
                matches!(
                    validate_pattern(p),
                    Err(SubjectError::FullWildcardNotLast { .. })
                ),
                "{p}"
            );
        }
        assert!(validate_pattern("").is_err());
        assert!(validate_pattern("a..*").is_err());
        assert!(validate_pattern("a.b*").is_err());
        assert!(validate_pattern("a .b").is_err());
    }

    #[test]
    fn matching() {
        // literal
        assert!(pattern_matches("a.b", "a.b"));
        assert!(!pattern_matches("a.b", "a.c"));
        assert!(!pattern_matches("a.b", "a"));
        assert!(!pattern_matches("a", "a.b"));
        // `*` matches exactly one token
        assert!(pattern_matches("a.*", "a.b"));
        assert!(!pattern_matches("a.*", "a"));
        assert!(!pattern_matches("a.*", "a.b.c"));
        assert!(pattern_matches("*.b", "a.b"));
        assert!(pattern_matches("*", "a"));
        assert!(!pattern_matches("*", "a.b"));
        assert!(pattern_matches("a.*.c", "a.x.c"));
        assert!(!pattern_matches("a.*.c", "a.x.y.c"));
        // `>` matches one or more tokens
        assert!(pattern_matches("a.>", "a.b"));
        assert!(pattern_matches("a.>", "a.b.c.d"));
        assert!(!pattern_matches("a.>", "a"));
        assert!(!pattern_matches("a.>", "b.c"));
        assert!(pattern_matches(">", "a"));
        assert!(pattern_matches(">", "a.b.c"));
        assert!(pattern_matches("*.>", "a.b"));
        assert!(!pattern_matches("*.>", "a"));
        // no prefix matching on tokens
        assert!(!pattern_matches("ab", "abc"));
        assert!(!pattern_matches("a.b", "a.bc"));
    }

    #[test]
    fn covering() {
        // identical and wider grants
        assert!(pattern_covers("a.b", "a.b"));
        assert!(pattern_covers("a.*", "a.b"));
        assert!(pattern_covers("a.*", "a.*"));
        assert!(pattern_covers("a.>", "a.b"));
        assert!(pattern_covers("a.>", "a.*"));
        assert!(pattern_covers("a.>", "a.>"));
        assert!(pattern_covers("a.>", "a.*.>"));
        assert!(pattern_covers("a.>", "a.b.c.>"));
        assert!(pattern_covers(">", "a"));
        assert!(pattern_covers(">", ">"));
        assert!(pattern_covers(">", "*.*.>"));
        assert!(pattern_covers("*.*", "a.*"));
        assert!(pattern_covers("*.>", "a.b.>"));
        // narrower grants
        assert!(!pattern_covers("a.b", "a.*"));
        assert!(!pattern_covers("a.*", "a.>"));
        assert!(!pattern_covers("a.*", "a.b.c"));
        assert!(!pattern_covers("a.>", "a"));
        assert!(!pattern_covers("a.>", ">"));
        assert!(!pattern_covers("a.>", "*.b"));
        assert!(!pattern_covers("a.b.>", "a.>"));
        assert!(!pattern_covers("*", "a.b"));
        assert!(!pattern_covers("*", ">"));
        assert!(!pattern_covers("a", "b"));
        assert!(!pattern_covers("a.b", "a"));
    }

    /// `pattern_covers` agrees with `pattern_matches` on a small universe:
    /// covered means every subject the pattern matches, the grant matches.
    #[test]
    fn covering_agrees_with_matching() {
        let tokens = ["a", "b"];
        let mut subjects = Vec::new();
        for len in 1..=4 {
            let mut acc = vec![String::new()];
            for _ in 0..len {
                acc = acc
                    .iter()
                    .flat_map(|p| {
                        tokens.iter().map(move |t| {
                            if p.is_empty() {
                                (*t).to_owned()
                            } else {
                                format!("{p}.{t}")
                            }
                        })
                    })
                    .collect();
            }
            subjects.extend(acc);
        }
        let patterns = [
            "a", "b", "*", ">", "a.b", "a.*", "*.b", "a.>", "*.>", "*.*", "a.*.>", "a.b.>",
            "*.*.*", "a.b.a",
        ];
        for grant in patterns {
            for pattern in patterns {
                // Subjects up to 4 tokens are enough to tell these patterns apart.
                let semantic = subjects
                    .iter()
                    .filter(|s| pattern_matches(pattern, s))
                    .all(|s| pattern_matches(grant, s));
                assert_eq!(
                    pattern_covers(grant, pattern),
                    semantic,
                    "grant {grant} pattern {pattern}"
                );
            }
        }
    }
}
