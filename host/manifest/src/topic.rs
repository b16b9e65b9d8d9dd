//! Messaging topics: NATS subject syntax, matching and covering.
//!
//! A subject is a non-empty string of dot-separated, non-empty tokens of
//! printable ASCII without whitespace (`orders.created`), at most
//! [`MAX_TOPIC_LEN`] characters. A pattern may also use two wildcard
//! tokens: `*` matches exactly one token and `>` one or more, and may only
//! be the last token. A wildcard is always a whole token: `orders.*` is a
//! pattern, `orders.a*` is neither a pattern nor a subject.
//!
//! These are the rules of NATS, so a grant means the same to the embedded
//! broker and to a NATS server. The host uses [`topic_pattern_matches`] to
//! check a publish against a service's `publish` grants, and the capability
//! diff uses [`topic_pattern_covers`] to tell whether a new grant allows
//! anything the old ones did not.
//!
//! This module is the one definition of topic syntax: the brokers
//! (`wharf_messaging::subject`) call [`check_topic_syntax`],
//! [`pattern_matches_valid`] and [`check_queue_group`] rather than keeping
//! rules of their own, so the manifest and the broker cannot disagree.
//!
//! Some subjects belong to the broker, not to services: `_INBOX.…` (reply
//! inboxes) and every subject whose first token starts with `$` (`$KV`,
//! `$JS`, `$SYS`, `$O`, …). A grant naming one is refused when the manifest
//! is loaded ([`check_not_reserved`]). The host also puts every service
//! subject into its app's namespace on the broker, so even `>` never
//! reaches them; refusing them at load says so where the mistake is made.

/// Longest accepted topic (subject or pattern), in characters.
pub const MAX_TOPIC_LEN: usize = 255;

/// Checks a topic pattern: a subject in which `*` and a final `>` may stand
/// for whole tokens.
///
/// # Errors
///
/// A message for the user, naming the pattern and what is wrong with it.
pub fn check_topic_pattern(pattern: &str) -> Result<(), String> {
    check(pattern, true)
}

/// Checks a plain subject: a topic without wildcards, such as a
/// `dead_letter` or a subject a service publishes to.
///
/// # Errors
///
/// A message for the user, naming the subject and what is wrong with it.
pub fn check_topic_subject(subject: &str) -> Result<(), String> {
    check(subject, false)
}

/// Whether the plain `subject` is one of those `pattern` stands for.
///
/// `false` when `pattern` is not a valid pattern or `subject` is not a valid
/// plain subject (see [`check_topic_pattern`], [`check_topic_subject`]), so a
/// guest cannot get past a grant by publishing to `orders.>`.
///
/// ```
/// use wharf_manifest::topic_pattern_matches;
///
/// assert!(topic_pattern_matches("orders.*", "orders.created"));
/// assert!(!topic_pattern_matches("orders.*", "orders.created.eu"));
/// assert!(topic_pattern_matches("orders.>", "orders.created.eu"));
/// assert!(!topic_pattern_matches("orders.>", "orders"));
/// ```
pub fn topic_pattern_matches(pattern: &str, subject: &str) -> bool {
    check(pattern, true).is_ok()
        && check(subject, false).is_ok()
        && pattern_matches_valid(pattern, subject)
}

/// Whether every subject `pattern` matches, `grant` matches too: whether a
/// service granted `grant` may already do everything `pattern` allows.
///
/// `false` when either is not a valid pattern. Every pattern covers itself.
///
/// ```
/// use wharf_manifest::topic_pattern_covers;
///
/// assert!(topic_pattern_covers(">", "orders.*"));
/// assert!(topic_pattern_covers("orders.>", "orders.*"));
/// assert!(topic_pattern_covers("orders.*", "orders.created"));
/// assert!(!topic_pattern_covers("orders.created", "orders.*"));
/// assert!(!topic_pattern_covers("orders.*", "orders.>"));
/// ```
pub fn topic_pattern_covers(grant: &str, pattern: &str) -> bool {
    check(grant, true).is_ok()
        && check(pattern, true).is_ok()
        && pattern_covers_valid(grant, pattern)
}

/// Longest accepted queue group name, in characters.
pub const MAX_QUEUE_GROUP_LEN: usize = 64;

/// Checks a queue group name: 1 to [`MAX_QUEUE_GROUP_LEN`] ASCII letters,
/// digits, `_` or `-`.
///
/// # Errors
///
/// A message for the user, naming the group and what is wrong with it.
pub fn check_queue_group(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err(
            "queue_group must not be empty; leave it out for a plain subscription".to_owned(),
        );
    }
    if group.chars().count() > MAX_QUEUE_GROUP_LEN
        || !group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "invalid queue group `{}`: use 1 to {MAX_QUEUE_GROUP_LEN} letters, digits, `_` or `-`",
            group.escape_debug()
        ));
    }
    Ok(())
}

/// Refuses a topic that names a subject reserved to the broker: first token
/// `_INBOX` (reply inboxes) or starting with `$` (`$KV`, `$JS`, `$SYS`, …).
/// Wildcards in the first token (`*`, `>`) are not reserved: the host
/// confines them to the app's namespace.
///
/// # Errors
///
/// A message for the user naming the topic and the reserved prefix.
pub fn check_not_reserved(topic: &str) -> Result<(), String> {
    let first = topic.split('.').next().unwrap_or_default();
    if first == "_INBOX" || first.starts_with('$') {
        return Err(format!(
            "`{}` is reserved to the broker (`{}` subjects carry replies, key-value and \
             JetStream traffic); services cannot publish or subscribe to it",
            topic.escape_debug(),
            first.escape_debug()
        ));
    }
    Ok(())
}

/// Checks the syntax of a topic (with `*` and `>` tokens when `wildcards`)
/// without the [`MAX_TOPIC_LEN`] cap: for subjects on the broker itself,
/// which carry an app namespace in front of what a service wrote.
///
/// # Errors
///
/// A message naming the topic and what is wrong with it.
pub fn check_topic_syntax(topic: &str, wildcards: bool) -> Result<(), String> {
    syntax(topic, wildcards)
}

/// [`topic_pattern_matches`] for a pattern and a subject already known to
/// be valid: no checks, so a broker can call it per message.
pub fn pattern_matches_valid(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for token in pattern.split('.') {
        match (token, subject.next()) {
            // At least one token is left, and `>` takes it and the rest.
            (">", Some(_)) => return true,
            (_, None) => return false,
            ("*", Some(_)) => {}
            (literal, Some(got)) if literal == got => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

/// [`topic_pattern_covers`] for two patterns already known to be valid.
pub fn pattern_covers_valid(grant: &str, pattern: &str) -> bool {
    let mut pattern = pattern.split('.');
    for token in grant.split('.') {
        match (token, pattern.next()) {
            // Whatever is left of `pattern` stands for one or more tokens.
            (">", Some(_)) => return true,
            // `pattern` stops short, or goes on for any number of tokens
            // where `grant` wants a fixed number.
            (_, None | Some(">")) => return false,
            ("*", Some(_)) => {}
            (literal, Some(got)) if literal == got => {}
            _ => return false,
        }
    }
    pattern.next().is_none()
}

/// Whether `topic` contains a wildcard token; for a valid topic, whether it
/// is a pattern rather than a plain subject.
pub(crate) fn has_wildcards(topic: &str) -> bool {
    topic.split('.').any(|token| token == "*" || token == ">")
}

/// Checks a topic, with or without wildcards, and its length.
fn check(topic: &str, wildcards: bool) -> Result<(), String> {
    syntax(topic, wildcards)?;
    if topic.len() > MAX_TOPIC_LEN {
        return Err(format!(
            "topic is {} characters long; at most {MAX_TOPIC_LEN} are allowed",
            topic.len()
        ));
    }
    Ok(())
}

/// The syntax rules, without the length cap.
fn syntax(topic: &str, wildcards: bool) -> Result<(), String> {
    if topic.is_empty() {
        return Err("a topic must not be empty".to_owned());
    }
    let invalid = |reason: &str| {
        Err(format!(
            "`{}` is not a valid topic: {reason}",
            topic.escape_debug()
        ))
    };
    if let Some(c) = topic.chars().find(|c| !c.is_ascii_graphic()) {
        return if c.is_whitespace() {
            invalid("it contains whitespace")
        } else {
            invalid(&format!(
                "it contains `{}`; use printable ASCII characters",
                c.escape_debug()
            ))
        };
    }
    let tokens: Vec<&str> = topic.split('.').collect();
    if tokens.contains(&"") {
        return invalid(
            "it has an empty token (tokens are separated by single dots, with none at the \
             start or end)",
        );
    }
    if let Some(token) = tokens
        .iter()
        .find(|t| t.len() > 1 && t.contains(['*', '>']))
    {
        return invalid(&format!(
            "`*` and `>` are wildcards that stand for whole tokens (`orders.*`), not part of \
             `{token}`"
        ));
    }
    if !wildcards && has_wildcards(topic) {
        return Err(format!(
            "`{topic}` is a pattern; a plain subject, without `*` or `>`, is required here"
        ));
    }
    if tokens[..tokens.len() - 1].contains(&">") {
        return invalid("`>` may only be the last token");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_subjects_and_patterns() {
        for ok in [
            "a",
            "orders.created",
            "_INBOX.a1b2",
            "a-b_c.$SYS.x~y!",
            "*",
            ">",
            "orders.*",
            "orders.>",
            "*.created.>",
            &"a".repeat(255),
        ] {
            assert_eq!(check_topic_pattern(ok), Ok(()), "{ok}");
        }
        for ok in ["a", "orders.created", "a-b_c.$SYS.x~y!"] {
            assert_eq!(check_topic_subject(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_topics_with_a_reason() {
        let cases = [
            ("", "a topic must not be empty"),
            (
                "orders created",
                "`orders created` is not a valid topic: it contains whitespace",
            ),
            (
                "orders.\tx",
                "`orders.\\tx` is not a valid topic: it contains whitespace",
            ),
            (
                "café",
                "`café` is not a valid topic: it contains `é`; use printable ASCII characters",
            ),
            (
                "orders..created",
                "`orders..created` is not a valid topic: it has an empty token (tokens are \
                 separated by single dots, with none at the start or end)",
            ),
            (
                ".orders",
                "`.orders` is not a valid topic: it has an empty token (tokens are separated by \
                 single dots, with none at the start or end)",
            ),
            (
                "orders.",
                "`orders.` is not a valid topic: it has an empty token (tokens are separated by \
                 single dots, with none at the start or end)",
            ),
            (
                "orders.a*",
                "`orders.a*` is not a valid topic: `*` and `>` are wildcards that stand for \
                 whole tokens (`orders.*`), not part of `a*`",
            ),
            (
                "orders.>>",
                "`orders.>>` is not a valid topic: `*` and `>` are wildcards that stand for \
                 whole tokens (`orders.*`), not part of `>>`",
            ),
            (
                "orders.>.eu",
                "`orders.>.eu` is not a valid topic: `>` may only be the last token",
            ),
        ];
        for (topic, message) in cases {
            assert_eq!(
                check_topic_pattern(topic),
                Err(message.to_owned()),
                "{topic}"
            );
        }
        assert_eq!(
            check_topic_pattern(&"a".repeat(256)),
            Err("topic is 256 characters long; at most 255 are allowed".to_owned())
        );
    }

    #[test]
    fn subjects_have_no_wildcards() {
        for pattern in ["orders.*", ">", "a.>"] {
            assert_eq!(
                check_topic_subject(pattern),
                Err(format!(
                    "`{pattern}` is a pattern; a plain subject, without `*` or `>`, is required \
                     here"
                ))
            );
        }
        // Other mistakes are reported as for patterns.
        assert!(
            check_topic_subject("a.b*")
                .unwrap_err()
                .contains("not part of `b*`")
        );
    }

    #[test]
    fn star_matches_exactly_one_token() {
        assert!(topic_pattern_matches("orders.*", "orders.created"));
        assert!(topic_pattern_matches("*.created", "orders.created"));
        assert!(topic_pattern_matches("*", "orders"));
        assert!(!topic_pattern_matches("orders.*", "orders"));
        assert!(!topic_pattern_matches("orders.*", "orders.created.eu"));
        assert!(!topic_pattern_matches("*", "orders.created"));
        assert!(topic_pattern_matches("a.*.c", "a.b.c"));
        assert!(!topic_pattern_matches("a.*.c", "a.b.d"));
    }

    #[test]
    fn greater_than_matches_one_or_more_tokens() {
        assert!(topic_pattern_matches("a.>", "a.b"));
        assert!(topic_pattern_matches("a.>", "a.b.c.d"));
        assert!(!topic_pattern_matches("a.>", "a"));
        assert!(!topic_pattern_matches("a.>", "b.c"));
        assert!(topic_pattern_matches(">", "a"));
        assert!(topic_pattern_matches(">", "a.b.c"));
        assert!(topic_pattern_matches("*.>", "a.b"));
        assert!(!topic_pattern_matches("*.>", "a"));
    }

    #[test]
    fn literals_match_only_themselves() {
        assert!(topic_pattern_matches("orders.created", "orders.created"));
        assert!(!topic_pattern_matches("orders.created", "orders.Created"));
        assert!(!topic_pattern_matches(
            "orders.created",
            "orders.created.eu"
        ));
        assert!(!topic_pattern_matches(
            "orders.created.eu",
            "orders.created"
        ));
        assert!(!topic_pattern_matches("orders", "orders2"));
    }

    #[test]
    fn invalid_patterns_and_subjects_match_nothing() {
        // A wildcard is not a subject, even where it would match itself.
        assert!(!topic_pattern_matches("orders.*", "orders.*"));
        assert!(!topic_pattern_matches(">", ">"));
        assert!(!topic_pattern_matches(">", "orders.>"));
        assert!(!topic_pattern_matches(">", ""));
        assert!(!topic_pattern_matches(">", "a..b"));
        assert!(!topic_pattern_matches(">", "a b"));
        assert!(!topic_pattern_matches("a.>.b", "a.x.b"));
        assert!(!topic_pattern_matches("a*", "a*"));
        assert!(!topic_pattern_matches("", ""));
    }

    #[test]
    fn covers_what_it_matches_a_superset_of() {
        let covered = [
            ("orders.>", "orders.*"),
            ("orders.>", "orders.>"),
            ("orders.>", "orders.created.eu"),
            ("orders.>", "orders.*.eu"),
            (">", "orders.*"),
            (">", ">"),
            (">", "*"),
            (">", "a.b.c"),
            ("a.*", "a.b"),
            ("a.*", "a.*"),
            ("*.*", "a.*"),
            ("*.>", "a.>"),
            ("a.b", "a.b"),
            ("*", "a"),
        ];
        for (grant, pattern) in covered {
            assert!(topic_pattern_covers(grant, pattern), "{grant} {pattern}");
        }
        let not_covered = [
            ("a.b", "a.*"),
            ("a.*", "a.>"),
            ("a.*", "a.b.c"),
            ("a.*", "a"),
            ("a.>", "a"),
            ("orders.>", ">"),
            ("orders.>", "*"),
            ("*", ">"),
            ("*", "a.b"),
            ("*.*", "a.>"),
            ("a.b", "a.c"),
            ("a.b.c", "a.b"),
            ("a.b", "a.b.c"),
            // Invalid on either side covers nothing.
            (">", "a..b"),
            (">", ""),
            ("a.>.b", "a.x.b"),
            ("a*", "a*"),
        ];
        for (grant, pattern) in not_covered {
            assert!(!topic_pattern_covers(grant, pattern), "{grant} {pattern}");
        }
    }

    #[test]
    fn covering_agrees_with_matching() {
        let patterns = [
            ">", "*", "a", "a.b", "a.c", "a.*", "a.>", "*.b", "*.*", "*.>", "a.b.c", "a.*.c",
            "a.b.>", "*.*.*",
        ];
        let subjects = [
            "a", "b", "a.b", "a.c", "b.b", "a.b.c", "a.x.c", "a.b.d", "x.y.z", "a.b.c.d",
        ];
        for grant in patterns {
            for pattern in patterns {
                if topic_pattern_covers(grant, pattern) {
                    for subject in subjects {
                        assert!(
                            !topic_pattern_matches(pattern, subject)
                                || topic_pattern_matches(grant, subject),
                            "{grant} covers {pattern} but not {subject}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn knows_patterns_from_subjects() {
        assert!(has_wildcards("orders.*"));
        assert!(has_wildcards(">"));
        assert!(!has_wildcards("orders.created"));
    }
}
