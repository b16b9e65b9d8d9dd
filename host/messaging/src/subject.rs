//! NATS subject rules as the brokers apply them, and the per-app namespace
//! every service subject lives in on the broker.
//!
//! # Syntax
//!
//! What a valid subject, pattern and queue group are, and how a pattern
//! matches, is defined once, by `wharf_manifest` (its `topic` module): this
//! module calls it, so the grant a manifest names and the subject a broker
//! carries follow one rule. The broker's check has no length cap (a
//! namespaced subject is longer than what the service wrote; the manifest
//! caps that).
//!
//! # Namespaces
//!
//! Services never see the broker's raw subject space. Every subject a
//! service publishes to, subscribes to or names as a reply-to is put into
//! its app's [`Namespace`] before it reaches the broker, and taken out of it
//! before a service sees a delivered message:
//!
//! | broker | namespace prefix |
//! |---|---|
//! | embedded, or NATS without `--cluster` | `wharf.local.<app>.` |
//! | NATS with `--cluster <cluster>` | `wharf.cluster.<cluster>.<app>.` |
//!
//! `<app>` and `<cluster>` are encoded into one token each ([`encode_token`]:
//! ASCII letters and digits kept, every other byte `_xx` in hex), so the
//! namespaces of two apps or two clusters never overlap. A grant of `>` thus
//! means "every subject of this app", and a service can never reach the
//! broker's own subjects (`_INBOX.…` reply inboxes, `$KV.…`, `$JS.…`,
//! `$SYS.…`), another app's or another cluster's subjects.
//!
//! Replies are the one way out of the namespace: when a service handles a
//! request, the host hands it the reply inbox the requester's host
//! generated, and the service may publish to exactly that subject (see
//! `wharf_core::messaging`). JetStream key-value buckets and streams are
//! named per namespace too ([`Namespace::bucket`]).
//!
//! External clients that talk to an app over NATS use the namespaced
//! subject: `wharf.local.shop.orders.created` for `orders.created` of app
//! `shop`.

/// Why a subject, pattern or queue group was refused; the message names it
/// and says what is wrong (the manifest's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SubjectError(String);

/// Checks a subject that a message is published to: no wildcards.
pub fn validate_subject(subject: &str) -> Result<(), SubjectError> {
    wharf_manifest::check_topic_syntax(subject, false).map_err(SubjectError)
}

/// Checks a subscription pattern: `*` tokens anywhere, `>` as the last token only.
pub fn validate_pattern(pattern: &str) -> Result<(), SubjectError> {
    wharf_manifest::check_topic_syntax(pattern, true).map_err(SubjectError)
}

/// Checks a queue group name (see `wharf_manifest::check_queue_group`).
pub fn validate_queue_group(group: &str) -> Result<(), SubjectError> {
    wharf_manifest::check_queue_group(group).map_err(SubjectError)
}

/// Whether `pattern` matches the (wildcard-free) `subject`.
///
/// `*` matches exactly one token, `>` one or more trailing tokens: `a.>`
/// matches `a.b` and `a.b.c` but not `a`. Both arguments are expected to be
/// valid; invalid input gives an answer but not a meaningful one.
pub fn pattern_matches(pattern: &str, subject: &str) -> bool {
    wharf_manifest::pattern_matches_valid(pattern, subject)
}

/// Whether every subject matched by `pattern` is also matched by `grant`.
///
/// `pattern_covers("orders.>", "orders.*.created")` is true,
/// `pattern_covers("orders.*", "orders.>")` is false (`orders.a.b`).
/// Both arguments are expected to be valid patterns.
pub fn pattern_covers(grant: &str, pattern: &str) -> bool {
    wharf_manifest::pattern_covers_valid(grant, pattern)
}

/// Encodes `name` into one subject token that is also valid in a JetStream
/// bucket or stream name: ASCII letters and digits are kept, every other
/// byte becomes `_` and two lowercase hex digits (`my-app` → `my_2dapp`).
/// Injective, so two names never share a namespace; never empty (the empty
/// name is `_`).
pub fn encode_token(name: &str) -> String {
    if name.is_empty() {
        return "_".to_owned();
    }
    let mut out = String::with_capacity(name.len());
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("_{byte:02x}"));
        }
    }
    out
}

/// The part of the broker's subject space one app's services live in (see
/// the [module documentation](self) for the layout and why).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    /// `wharf.local.<app>.` or `wharf.cluster.<cluster>.<app>.`, dot included.
    prefix: String,
    /// The same scope for JetStream names: `local-<app>` or
    /// `cluster-<cluster>-<app>`.
    names: String,
}

impl Namespace {
    /// The namespace of app `app`, on a cluster's NATS when `cluster` is set.
    pub fn for_app(app: &str, cluster: Option<&str>) -> Self {
        let app = encode_token(app);
        match cluster {
            None => Self {
                prefix: format!("wharf.local.{app}."),
                names: format!("local-{app}"),
            },
            Some(cluster) => {
                let cluster = encode_token(cluster);
                Self {
                    prefix: format!("wharf.cluster.{cluster}.{app}."),
                    names: format!("cluster-{cluster}-{app}"),
                }
            }
        }
    }

    /// The prefix, ending in `.`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The broker subject (or pattern) for a service's `subject`: `>` becomes
    /// "every subject of this app", never more.
    pub fn to_broker(&self, subject: &str) -> String {
        format!("{}{subject}", self.prefix)
    }

    /// The service's view of a broker subject: `None` when the subject is
    /// not in this namespace (a reply inbox, another app's subject).
    pub fn from_broker<'a>(&self, subject: &'a str) -> Option<&'a str> {
        subject
            .strip_prefix(self.prefix.as_str())
            .filter(|rest| !rest.is_empty())
    }

    /// A JetStream bucket or stream name of this namespace:
    /// `wharf-<kind>-<scope>-<name>` (`wharf-kv-local-shop-cart`), every
    /// part encoded with [`encode_token`] so names of different apps,
    /// clusters or kinds never collide.
    pub fn bucket(&self, kind: &str, name: &str) -> String {
        format!(
            "wharf-{}-{}-{}",
            encode_token(kind),
            self.names,
            encode_token(name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_subjects() {
        for s in ["a", "a.b", "orders.created", "_INBOX.abc123", "a-b.c_d.1"] {
            assert_eq!(validate_subject(s), Ok(()), "{s}");
        }
        // Longer than a manifest topic: the namespace prefix is in front.
        assert_eq!(validate_subject(&"a".repeat(400)), Ok(()));
    }

    #[test]
    fn invalid_subjects() {
        for s in [
            "", ".", "a.", ".a", "a..b", "a b", "a\tb", "a.b\n", "a\u{0}b", "*", "a.*", ">", "a.>",
            "a*", "a.b>", "ünï",
        ] {
            assert!(validate_subject(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn patterns() {
        for p in ["a", "*", ">", "a.*", "a.>", "*.b.>", "*.*"] {
            assert_eq!(validate_pattern(p), Ok(()), "{p}");
        }
        for p in [">.a", "a.>.b", ">.>", "", "a..*", "a.b*", "a .b"] {
            assert!(validate_pattern(p).is_err(), "{p}");
        }
    }

    #[test]
    fn queue_groups() {
        assert_eq!(validate_queue_group("workers-1_a"), Ok(()));
        for g in ["", "a b", "a.b", &"a".repeat(65)] {
            assert!(validate_queue_group(g).is_err(), "{g}");
        }
    }

    #[test]
    fn matching() {
        assert!(pattern_matches("a.*", "a.b"));
        assert!(!pattern_matches("a.*", "a.b.c"));
        assert!(pattern_matches("a.>", "a.b.c"));
        assert!(!pattern_matches("a.>", "a"));
        assert!(pattern_covers("a.>", "a.*"));
        assert!(!pattern_covers("a.*", "a.>"));
    }

    #[test]
    fn tokens_are_encoded_injectively() {
        assert_eq!(encode_token("shop"), "shop");
        assert_eq!(encode_token("my-app"), "my_2dapp");
        assert_eq!(encode_token(".tmp x"), "_2etmp_20x");
        assert_eq!(encode_token(""), "_");
        assert_ne!(encode_token("a_2d"), encode_token("a-"));
        for name in ["a.b", "a b", "*", ">", "$KV", "é"] {
            assert!(validate_subject(&encode_token(name)).is_ok(), "{name}");
        }
    }

    #[test]
    fn namespaces_confine_and_separate() {
        let shop = Namespace::for_app("shop", None);
        assert_eq!(
            shop.to_broker("orders.created"),
            "wharf.local.shop.orders.created"
        );
        assert_eq!(shop.to_broker(">"), "wharf.local.shop.>");
        assert_eq!(
            shop.from_broker("wharf.local.shop.orders.created"),
            Some("orders.created")
        );
        assert_eq!(shop.from_broker("wharf.local.shop."), None);
        assert_eq!(shop.from_broker("_INBOX.abc"), None);
        assert_eq!(shop.from_broker("wharf.local.shopx.a"), None);
        let clustered = Namespace::for_app("shop", Some("prod"));
        assert_eq!(clustered.to_broker("a"), "wharf.cluster.prod.shop.a");
        assert_eq!(clustered.from_broker("wharf.local.shop.a"), None);
        // `>` of one app never matches another app's or the broker's subjects.
        let all = shop.to_broker(">");
        for other in [
            "_INBOX.abc",
            "$KV.wharf-prod-deployments.record",
            "$JS.API.INFO",
            "$SYS.REQ.SERVER.PING",
            "wharf.local.shop2.a",
            "wharf.cluster.prod.shop.a",
        ] {
            assert!(!pattern_matches(&all, other), "{other}");
        }
        assert_eq!(shop.bucket("kv", "cart"), "wharf-kv-local-shop-cart");
        assert_eq!(
            clustered.bucket("kv", "cart"),
            "wharf-kv-cluster-prod-shop-cart"
        );
        assert_ne!(
            Namespace::for_app("a-b", None).bucket("kv", "c"),
            Namespace::for_app("a", None).bucket("kv", "b-c")
        );
    }
}
