//! Capability grants carried by a service's manifest entry.
//!
//! A grant is parsed and checked when the manifest is loaded, so a typo in
//! an origin is reported with its line, and the host only ever sees
//! well-formed grants. Absent grants mean denied.

use std::path::PathBuf;

/// One allowed origin: scheme, host (optionally `*.`-prefixed for any
/// subdomain), and port (`None` = the scheme's default port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl std::fmt::Display for AllowedOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

impl AllowedOrigin {
    /// Parses `scheme://host[:port]`, e.g. `http://127.0.0.1:8081` or
    /// `https://*.example.com`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("`{s}` is not an origin: expected `scheme://host[:port]`"))?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{s}`: scheme must be `http` or `https`"));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(format!(
                "`{s}` is not an origin: expected `scheme://host[:port]` with no path"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || rest.starts_with('[') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("`{s}`: `{port}` is not a port number"))?;
                (host, Some(port))
            }
            _ => (rest, None),
        };
        if host.is_empty() {
            return Err(format!("`{s}`: the host is empty"));
        }
        Ok(Self {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }

    /// `scheme://host:port` with the port always written, so origins that
    /// allow the same requests (`https://a.com`, `https://a.com:443`) read
    /// the same.
    pub(crate) fn canonical(&self) -> String {
        format!(
            "{}://{}:{}",
            self.scheme,
            self.host,
            self.port.unwrap_or(self.default_port())
        )
    }

    /// Whether every request `other` allows, `self` allows too: same scheme
    /// and port, and the same host or a wildcard over it.
    pub(crate) fn covers(&self, other: &AllowedOrigin) -> bool {
        if self.scheme != other.scheme
            || self.port.unwrap_or(self.default_port())
                != other.port.unwrap_or(other.default_port())
        {
            return false;
        }
        if self.host == other.host {
            return true;
        }
        // `*.example.com` covers `a.example.com` and `*.a.example.com`.
        self.host.strip_prefix("*.").is_some_and(|parent| {
            other
                .host
                .strip_suffix(parent)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
        })
    }

    /// Whether a request to `scheme://host[:port]` matches this origin.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if scheme != self.scheme {
            return false;
        }
        let port = port.unwrap_or(self.default_port());
        if port != self.port.unwrap_or(self.default_port()) {
            return false;
        }
        let host = host.to_ascii_lowercase();
        match self.host.strip_prefix("*.") {
            Some(parent) => host
                .strip_suffix(parent)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => host == self.host,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(origins: &[&str], uri: &str) -> bool {
        let (scheme, rest) = uri.split_once("://").unwrap_or(("", uri));
        let authority = rest.split('/').next().unwrap_or("");
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()),
            None => (authority, None),
        };
        origins
            .iter()
            .filter_map(|o| AllowedOrigin::parse(o).ok())
            .any(|o| o.allows(scheme, host, port))
    }

    #[test]
    fn empty_grant_denies_everything() {
        assert!(!allows(&[], "http://127.0.0.1:80/"));
    }

    #[test]
    fn exact_origin_matches_scheme_host_and_port() {
        let p = &["http://127.0.0.1:8081"];
        assert!(allows(p, "http://127.0.0.1:8081/x"));
        assert!(!allows(p, "http://127.0.0.1:8082/x"));
        assert!(!allows(p, "https://127.0.0.1:8081/x"));
        assert!(!allows(p, "http://localhost:8081/x"));
    }

    #[test]
    fn default_ports_are_implied() {
        let p = &["https://api.example.com"];
        assert!(allows(p, "https://api.example.com/"));
        assert!(allows(p, "https://api.example.com:443/"));
        assert!(!allows(p, "https://api.example.com:8443/"));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = &["https://*.example.com"];
        assert!(allows(p, "https://a.example.com/"));
        assert!(allows(p, "https://a.b.example.com/"));
        assert!(!allows(p, "https://example.com/"));
        assert!(!allows(p, "https://badexample.com/"));
    }

    #[test]
    fn malformed_origins_are_rejected() {
        assert!(AllowedOrigin::parse("127.0.0.1").is_err());
        assert!(AllowedOrigin::parse("ftp://x").is_err());
        assert!(AllowedOrigin::parse("http://x/path").is_err());
        assert!(AllowedOrigin::parse("http://x:notaport").is_err());
    }
}

/// A directory of the host mapped into the guest (a WASI preopen).
///
/// Enforced by wasmtime-wasi over cap-std: the guest can reach nothing
/// outside `source`, whether by `..`, an absolute path or a symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    /// Absolute host directory.
    pub source: PathBuf,
    /// Where the guest sees it, e.g. `/static`.
    pub path: String,
    /// Whether the guest may create, change and delete files in it.
    pub writable: bool,
}

/// An address pattern a service may open sockets to: an IP address or
/// network (`127.0.0.1`, `10.0.0.0/8`) and a port or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketGrant {
    net: ipnet::IpNet,
    port: Option<u16>,
}

impl SocketGrant {
    /// Parses `ADDR:PORT`, `ADDR:*`, `NET/LEN:PORT` or `[V6]:PORT`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{s}` is not a socket address pattern: expected `IP:PORT`, `IP:*` or `NETWORK/LEN:PORT`"
            )
        };
        let (addr, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let addr = addr
            .strip_prefix('[')
            .and_then(|a| a.strip_suffix(']'))
            .unwrap_or(addr);
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| bad())?),
        };
        let net = match addr.parse::<ipnet::IpNet>() {
            Ok(net) => net,
            Err(_) => addr
                .parse::<std::net::IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| bad())?,
        };
        Ok(Self { net, port })
    }

    /// Whether a connection to (or datagram for) `addr` is granted.
    pub fn allows(&self, addr: std::net::SocketAddr) -> bool {
        self.net.contains(&addr.ip()) && self.port.is_none_or(|p| p == addr.port())
    }

    /// Whether every address `other` allows, `self` allows too.
    pub(crate) fn covers(&self, other: &SocketGrant) -> bool {
        self.net.contains(&other.net) && self.port.is_none_or(|p| other.port == Some(p))
    }
}

/// The manifest spelling: `127.0.0.1:5432`, `10.0.0.0/8:*`, `[::1]:80`.
impl std::fmt::Display for SocketGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let single = self.net.prefix_len() == self.net.max_prefix_len();
        match (&self.net, single) {
            (ipnet::IpNet::V6(_), true) => write!(f, "[{}]", self.net.addr())?,
            (ipnet::IpNet::V6(_), false) => write!(f, "[{}]", self.net)?,
            (ipnet::IpNet::V4(_), true) => write!(f, "{}", self.net.addr())?,
            (ipnet::IpNet::V4(_), false) => write!(f, "{}", self.net)?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => f.write_str(":*"),
        }
    }
}

/// One `subscriptions` entry: messages on `topic` are delivered to the
/// service's handler.
///
/// Delivery is at least once: a delivery whose handler errors or traps is
/// tried again up to [`retries`](Self::retries) times, then published to
/// [`dead_letter`](Self::dead_letter) by the host. The dead-letter subject
/// needs no `publish` grant, since the host publishes it, not the guest; it
/// is part of what the capability diff compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subscription {
    /// The subject or pattern subscribed to (NATS syntax, see
    /// [`check_topic_pattern`](crate::check_topic_pattern)).
    pub topic: String,
    /// Subscribers in the same queue group share the topic's messages, each
    /// message going to one of them (a NATS queue group); `None` for a plain
    /// subscription. `[A-Za-z0-9_-]{1,64}`.
    pub queue_group: Option<String>,
    /// Deliveries of this subscription handled at once,
    /// 1..=[`MAX_MAX_IN_FLIGHT`](Self::MAX_MAX_IN_FLIGHT); default
    /// [`DEFAULT_MAX_IN_FLIGHT`](Self::DEFAULT_MAX_IN_FLIGHT).
    pub max_in_flight: u32,
    /// Attempts after the first when the handler errors or traps,
    /// 0..=[`MAX_RETRIES`](Self::MAX_RETRIES); default
    /// [`DEFAULT_RETRIES`](Self::DEFAULT_RETRIES).
    pub retries: u32,
    /// The plain subject a delivery goes to once every attempt failed;
    /// default [`Subscription::default_dead_letter`].
    pub dead_letter: String,
    /// Whether the subscription is a durable JetStream consumer, which keeps
    /// messages while the service is down; only meaningful with NATS.
    pub durable: bool,
}

impl Subscription {
    /// Default [`max_in_flight`](Self::max_in_flight).
    pub const DEFAULT_MAX_IN_FLIGHT: u32 = 16;
    /// Largest accepted [`max_in_flight`](Self::max_in_flight).
    pub const MAX_MAX_IN_FLIGHT: u32 = 1024;
    /// Default [`retries`](Self::retries).
    pub const DEFAULT_RETRIES: u32 = 3;
    /// Largest accepted [`retries`](Self::retries).
    pub const MAX_RETRIES: u32 = 20;

    /// The dead-letter subject of a subscription to `topic` by `service`
    /// when the manifest names none: `<topic>.dlq` for a plain subject
    /// (`orders.created.dlq`), `dlq.<service>` for a pattern, which has no
    /// single subject to append to (`dlq.inventory`).
    pub fn default_dead_letter(topic: &str, service: &str) -> String {
        if crate::topic::has_wildcards(topic) {
            format!("dlq.{service}")
        } else {
            format!("{topic}.dlq")
        }
    }
}

/// A variable visible to a service as an environment variable and through
/// `wasi:config/store`.
#[derive(Clone, PartialEq, Eq)]
pub struct Variable {
    /// Name, `^[A-Za-z_][A-Za-z0-9_]*$`.
    pub name: String,
    /// Value, with `${env.NAME}` references already resolved.
    pub value: String,
    /// A secret never appears in logs or `Debug` output. Values that
    /// reference the host's environment are always secret.
    pub secret: bool,
    /// The host environment variables the value reads (`${env.NAME}`), in
    /// order: reading one the active version did not is an escalation.
    pub host_env: Vec<String>,
}

impl std::fmt::Debug for Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value: &dyn std::fmt::Debug = if self.secret {
            &"<secret>"
        } else {
            &self.value
        };
        f.debug_struct("Variable")
            .field("name", &self.name)
            .field("value", value)
            .field("secret", &self.secret)
            .finish()
    }
}

/// Resolves `${env.NAME}` references in a variable's value from `lookup`.
/// Returns the value and the names referenced.
pub(crate) fn interpolate(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    let mut referenced = Vec::new();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated `${{` in `{value}`"))?;
        let reference = &after[..end];
        let name = reference.strip_prefix("env.").ok_or_else(|| {
            format!(
                "`${{{reference}}}` is not a known reference; only `${{env.NAME}}` is supported"
            )
        })?;
        let resolved = lookup(name).ok_or_else(|| {
            format!("`${{env.{name}}}` refers to the host environment variable `{name}`, which is not set")
        })?;
        out.push_str(&resolved);
        if !referenced.iter().any(|r| r == name) {
            referenced.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok((out, referenced))
}

#[cfg(test)]
mod more_tests {
    use super::*;

    #[test]
    fn socket_patterns_match_address_and_port() {
        let g = SocketGrant::parse("127.0.0.1:5432").unwrap_or_else(|e| panic!("{e}"));
        assert!(g.allows("127.0.0.1:5432".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(!g.allows("127.0.0.1:5433".parse().unwrap_or_else(|e| panic!("{e}"))));
        let g = SocketGrant::parse("10.0.0.0/8:*").unwrap_or_else(|e| panic!("{e}"));
        assert!(g.allows("10.1.2.3:1".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(!g.allows("11.0.0.1:1".parse().unwrap_or_else(|e| panic!("{e}"))));
        assert!(SocketGrant::parse("localhost:80").is_err());
        assert!(SocketGrant::parse("127.0.0.1").is_err());
    }

    #[test]
    fn socket_grants_display_as_written_and_cover_narrower_ones() {
        let parse = |s: &str| SocketGrant::parse(s).unwrap_or_else(|e| panic!("{e}"));
        for spelling in ["127.0.0.1:5432", "10.0.0.0/8:*", "[::1]:80", "[fd00::/8]:*"] {
            assert_eq!(parse(spelling).to_string(), spelling);
            assert_eq!(parse(&parse(spelling).to_string()), parse(spelling));
        }
        assert!(parse("10.0.0.0/8:*").covers(&parse("10.1.2.3:5432")));
        assert!(parse("10.0.0.0/8:*").covers(&parse("10.1.0.0/16:*")));
        assert!(!parse("10.0.0.0/8:5432").covers(&parse("10.1.2.3:*")));
        assert!(!parse("10.1.0.0/16:*").covers(&parse("10.0.0.0/8:*")));
        assert!(!parse("0.0.0.0/0:*").covers(&parse("[::1]:80")));
    }

    #[test]
    fn origins_cover_by_scheme_port_and_host() {
        let parse = |s: &str| AllowedOrigin::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            parse("https://API.example.com").canonical(),
            "https://api.example.com:443"
        );
        assert!(parse("https://a.com").covers(&parse("https://a.com:443")));
        assert!(parse("https://*.a.com").covers(&parse("https://x.a.com")));
        assert!(parse("https://*.a.com").covers(&parse("https://*.x.a.com")));
        assert!(!parse("https://*.a.com").covers(&parse("https://a.com")));
        assert!(!parse("https://x.a.com").covers(&parse("https://*.a.com")));
        assert!(!parse("https://a.com").covers(&parse("http://a.com")));
        assert!(!parse("https://a.com").covers(&parse("https://a.com:8443")));
    }

    #[test]
    fn env_references_resolve_or_fail() {
        let lookup = |n: &str| (n == "KEY").then(|| "s3cret".to_string());
        assert_eq!(
            interpolate("Bearer ${env.KEY}", lookup),
            Ok(("Bearer s3cret".to_string(), vec!["KEY".to_string()]))
        );
        assert_eq!(
            interpolate("plain", lookup),
            Ok(("plain".to_string(), Vec::new()))
        );
        assert!(interpolate("${env.MISSING}", lookup).is_err());
        assert!(interpolate("${other.KEY}", lookup).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let v = Variable {
            name: "K".into(),
            value: "s3cret".into(),
            secret: true,
            host_env: Vec::new(),
        };
        assert!(!format!("{v:?}").contains("s3cret"));
    }
}

/// Longest key-value store name.
pub const MAX_KEY_VALUE_STORE_LEN: usize = 64;

/// Checks a name in `key_value_stores`: 1 to 64 lowercase ASCII letters,
/// digits, `-` or `_`, starting with a letter or digit. Such a name is
/// also valid in a NATS JetStream bucket name and a
/// redb table name, so every backend can hold every granted store.
pub fn check_key_value_store(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_KEY_VALUE_STORE_LEN
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "invalid key-value store name `{name}`: use 1 to {MAX_KEY_VALUE_STORE_LEN} lowercase \
             letters, digits, `-` or `_`, starting with a letter or digit"
        ))
    }
}
