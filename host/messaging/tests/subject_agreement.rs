//! Property tests: the manifest's topic rules (what a grant allows) and the
//! broker (what is delivered) agree on every generated subject and pattern,
//! and an app's namespace confines every pattern to that app.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use proptest::prelude::*;
use wharf_messaging::subject::{validate_pattern, validate_subject};
use wharf_messaging::{Broker, EmbeddedBroker, Message, Namespace};

/// Tokens from a small alphabet, so patterns and subjects often meet,
/// plus the wildcards and some characters that must be refused.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "orders", "$KV", "_INBOX"]).prop_map(str::to_owned),
        2 => prop::sample::select(vec!["*", ">"]).prop_map(str::to_owned),
        1 => prop::sample::select(vec!["", "a b", "x*", "é", ">>", "\n"]).prop_map(str::to_owned),
    ]
}

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 1..5).prop_map(|tokens| tokens.join("."))
}

/// A valid pattern: literal and `*` tokens, maybe a final `>`.
fn valid_pattern() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["a", "b", "orders", "$KV", "_INBOX", "*"]),
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(tokens, tail)| {
            let mut tokens: Vec<&str> = tokens;
            if tail || tokens.is_empty() {
                tokens.push(">");
            }
            tokens.join(".")
        })
}

/// A valid subject: literal tokens only.
fn valid_subject() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!["a", "b", "orders", "$KV", "_INBOX"]),
        1..5,
    )
    .prop_map(|tokens| tokens.join("."))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The broker accepts exactly what the manifest accepts (the manifest
    /// also caps the length, which the broker does not: it carries the
    /// namespace in front).
    #[test]
    fn syntax_agrees(topic in topic()) {
        prop_assert_eq!(
            wharf_manifest::check_topic_pattern(&topic).is_ok(),
            validate_pattern(&topic).is_ok()
        );
        prop_assert_eq!(
            wharf_manifest::check_topic_subject(&topic).is_ok(),
            validate_subject(&topic).is_ok()
        );
    }

    /// In a namespace, a pattern the manifest accepts is one the broker
    /// accepts, and the embedded broker delivers a subject to it exactly
    /// when the manifest says the pattern matches; a service's view of
    /// what it receives is the subject it was sent to.
    #[test]
    fn delivery_agrees_with_grants(pattern in valid_pattern(), subject in valid_subject()) {
        prop_assume!(wharf_manifest::check_topic_pattern(&pattern).is_ok());
        prop_assume!(wharf_manifest::check_topic_subject(&subject).is_ok());
        let namespace = Namespace::for_app("shop", None);
        let broker = EmbeddedBroker::with_full_wait(Duration::from_millis(1));
        let delivered = runtime().block_on(async {
            let mut subscription = broker
                .subscribe(&namespace.to_broker(&pattern), None, 4)
                .await
                .unwrap();
            broker
                .publish(Message::new(namespace.to_broker(&subject), "x"))
                .await
                .unwrap();
            // The embedded broker delivers synchronously on publish.
            futures::FutureExt::now_or_never(subscription.next()).flatten()
        });
        prop_assert_eq!(
            delivered.is_some(),
            wharf_manifest::topic_pattern_matches(&pattern, &subject)
        );
        if let Some(message) = delivered {
            prop_assert_eq!(namespace.from_broker(&message.subject), Some(subject.as_str()));
        }
    }

    /// No pattern of one app matches a subject of another app, nor a
    /// subject outside every namespace (inboxes, `$KV`, `$JS`, `$SYS`).
    #[test]
    fn namespaces_never_overlap(
        pattern in valid_pattern(),
        subject in valid_subject(),
        app in "[a-z.-]{0,6}",
    ) {
        prop_assume!(wharf_manifest::check_topic_pattern(&pattern).is_ok());
        prop_assume!(wharf_manifest::check_topic_subject(&subject).is_ok());
        let mine = Namespace::for_app("shop", None);
        let confined = mine.to_broker(&pattern);
        for other in [
            Namespace::for_app(&format!("{app}x"), None),
            Namespace::for_app("shop", Some("prod")),
        ] {
            prop_assert!(!wharf_messaging::subject::pattern_matches(
                &confined,
                &other.to_broker(&subject)
            ));
        }
        // The broker's own subjects are outside every namespace.
        prop_assert!(!wharf_messaging::subject::pattern_matches(&confined, &subject));
    }
}
