//! References to components in OCI registries: `oci://<registry>/<repo>:<tag>`
//! or `oci://<registry>/<repo>@sha256:<hex>`.
//!
//! The grammar is the OCI distribution spec's (the one `docker` and other
//! registry clients accept), with two choices of ours that keep deploys
//! explicit: the registry must be written out (no silent default to Docker
//! Hub), and a tag or a digest must be given (no implicit `latest`). Only
//! `sha256` digests are accepted, the algorithm every registry uses and the
//! one Wharf names components by.
//!
//! This module only checks text; pulling and pushing are `wharf-oci`'s.

use std::fmt;
use std::str::FromStr;

/// The scheme that marks a component reference as an OCI one.
pub const OCI_SCHEME: &str = "oci://";

/// The longest repository name registries accept (the distribution spec's
/// limit on `<registry>/<repository>`).
const MAX_NAME_LEN: usize = 255;
/// The longest tag the distribution spec allows.
const MAX_TAG_LEN: usize = 128;

/// A parsed reference to a component in an OCI registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OciReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl OciReference {
    /// `text` with its `oci://` prefix removed, or `None` if it has none:
    /// how callers tell a registry reference from a file path.
    pub fn strip_scheme(text: &str) -> Option<&str> {
        text.strip_prefix(OCI_SCHEME)
    }

    /// The registry: a host name or IP address, with an optional port
    /// (`ghcr.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository within the registry (`wharf/hello`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The manifest digest (`sha256:<64 lowercase hex>`), if one was given;
    /// it wins over the tag when both are.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// Whether the registry is on this machine (`localhost`, `127.0.0.0/8`,
    /// `[::1]`), where registries are commonly run without TLS: clients
    /// speak plain HTTP to those and HTTPS to every other one.
    pub fn is_loopback_registry(&self) -> bool {
        let host = match self.registry.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or_default(),
            None => self.registry.split(':').next().unwrap_or_default(),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The same reference pinned to `digest` (a manifest digest), without
    /// the tag.
    pub fn with_digest(&self, digest: &str) -> Self {
        Self {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest.to_owned()),
        }
    }

    /// The reference with its scheme: `oci://registry/repo:tag`.
    pub fn url(&self) -> String {
        format!("{OCI_SCHEME}{self}")
    }
}

/// Writes `registry/repository[:tag][@digest]`, without the scheme.
impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Why a text is not an [`OciReference`]; displays as a message for users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid OCI reference `{input}`: {reason}")]
pub struct ParseOciReferenceError {
    /// The rejected text, truncated for messages.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses `[oci://]registry/repository(:tag|@sha256:hex|:tag@sha256:hex)`.
impl FromStr for OciReference {
    type Err = ParseOciReferenceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse(text).map_err(|reason| ParseOciReferenceError {
            input: text.chars().take(300).collect(),
            reason,
        })
    }
}

fn parse(text: &str) -> Result<OciReference, String> {
    let rest = OciReference::strip_scheme(text).unwrap_or(text);
    if rest.is_empty() {
        return Err(
            "expected <registry>/<repository>:<tag> or <registry>/<repository>@sha256:<digest>"
                .to_owned(),
        );
    }
    let (name_and_tag, digest) = match rest.split_once('@') {
        Some((name, digest)) => (name, Some(check_digest(digest)?)),
        None => (rest, None),
    };
    let Some((registry, path_and_tag)) = name_and_tag.split_once('/') else {
        return Err(
            "no repository: expected <registry>/<repository>:<tag>, e.g. ghcr.io/acme/hello:1.0"
                .to_owned(),
        );
    };
    check_registry(registry)?;
    // A tag is whatever follows the last `:` of the path (the registry's
    // port was split off with the registry).
    let (repository, tag) = match path_and_tag.rsplit_once(':') {
        Some((repository, tag)) => (repository, Some(check_tag(tag)?)),
        None => (path_and_tag, None),
    };
    check_repository(repository)?;
    if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
        return Err(format!("the name is longer than {MAX_NAME_LEN} characters"));
    }
    if tag.is_none() && digest.is_none() {
        return Err(format!(
            "no tag or digest: add `:<tag>` (e.g. `{name_and_tag}:1.0`) or `@sha256:<digest>`"
        ));
    }
    Ok(OciReference {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        tag: tag.map(str::to_owned),
        digest: digest.map(str::to_owned),
    })
}

/// `host[:port]`: DNS labels separated by dots, an IPv4 address, or an IPv6
/// address in brackets. A registry must look like one (a dot, a port, or
/// `localhost`), so `acme/hello:1.0` is refused instead of silently meaning
/// Docker Hub.
fn check_registry(registry: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return Err(format!("registry `{registry}`: missing `]`"));
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "registry `{registry}`: `{ip}` is not an IPv6 address"
            ));
        }
        match after {
            "" => (None, None),
            port => match port.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return Err(format!("registry `{registry}`: unexpected `{after}`")),
            },
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(port) = port
        && !(port.parse::<u16>().is_ok_and(|p| p > 0) && port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "registry `{registry}`: `{port}` is not a port number"
        ));
    }
    if let Some(host) = host {
        let label_ok = |label: &str| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if !host.split('.').all(label_ok) {
            return Err(format!(
                "registry `{registry}` is not a host name or address (like ghcr.io or 127.0.0.1:5000)"
            ));
        }
        if !(host.contains('.') || port.is_some() || host == "localhost") {
            return Err(format!(
                "`{registry}` is not a registry: write the registry first, e.g. \
                 ghcr.io/{registry}/… or 127.0.0.1:5000/{registry}/…"
            ));
        }
    }
    Ok(())
}

/// Slash-separated components of lowercase letters and digits, joined
/// inside a component by `.`, `_`, `__` or runs of `-`.
fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("the repository is empty".to_owned());
    }
    for component in repository.split('/') {
        if !repository_component_ok(component) {
            return Err(format!(
                "repository `{repository}`: `{component}` must be lowercase letters and digits, \
                 separated by `.`, `_`, `__` or `-`"
            ));
        }
    }
    Ok(())
}

fn repository_component_ok(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Separators between alphanumeric runs: `.`, `_`, `__`, or `-`+.
    let mut separator = String::new();
    for &b in bytes {
        if alnum(b) {
            if !(separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.bytes().all(|s| s == b'-'))
            {
                return false;
            }
            separator.clear();
        } else if matches!(b, b'.' | b'_' | b'-') {
            separator.push(char::from(b));
        } else {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(tag: &str) -> Result<&str, String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= MAX_TAG_LEN
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(tag)
    } else {
        Err(format!(
            "tag `{tag}` must be 1 to {MAX_TAG_LEN} letters, digits, `_`, `.` or `-`, \
             not starting with `.` or `-`"
        ))
    }
}

/// `sha256:<64 lowercase hex digits>`.
fn check_digest(digest: &str) -> Result<&str, String> {
    let hex = digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(digest)
    } else {
        Err(format!(
            "digest `{digest}` must be sha256:<64 lowercase hex digits>"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn parses_tags_and_digests() {
        let r: OciReference = "oci://127.0.0.1:5000/wharf/hello:v1".parse().unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "wharf/hello");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.digest(), None);
        assert!(r.is_loopback_registry());
        assert_eq!(r.to_string(), "127.0.0.1:5000/wharf/hello:v1");
        assert_eq!(r.url(), "oci://127.0.0.1:5000/wharf/hello:v1");

        let text = format!("ghcr.io/acme/web-app@sha256:{HEX}");
        let r: OciReference = text.parse().unwrap();
        assert_eq!(r.registry(), "ghcr.io");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(format!("sha256:{HEX}").as_str()));
        assert!(!r.is_loopback_registry());
        assert_eq!(r.to_string(), text);

        let r: OciReference = format!("localhost/a_b/c__d/e--f.g:1.0.0-rc.1@sha256:{HEX}")
            .parse()
            .unwrap();
        assert_eq!(r.tag(), Some("1.0.0-rc.1"));
        assert!(r.is_loopback_registry());
        assert_eq!(r.with_digest("sha256:00").tag(), None);

        let r: OciReference = "[::1]:5000/hello:latest".parse().unwrap();
        assert_eq!(r.registry(), "[::1]:5000");
        assert!(r.is_loopback_registry());
    }

    #[test]
    fn refuses_what_is_not_a_reference() {
        for (bad, why) in [
            ("", "expected"),
            ("oci://", "expected"),
            ("hello:v1", "no repository"),
            ("acme/hello:v1", "is not a registry"),
            ("ghcr.io/acme/hello", "no tag or digest"),
            ("ghcr.io/Acme/hello:v1", "lowercase"),
            ("ghcr.io/acme//hello:v1", "lowercase"),
            ("ghcr.io/acme/hello-:v1", "lowercase"),
            ("ghcr.io/acme/a...b:v1", "lowercase"),
            ("ghcr.io/acme/hello:.v1", "tag"),
            ("ghcr.io/acme/hello:v 1", "tag"),
            ("ghcr.io/acme/hello@sha256:abc", "digest"),
            ("ghcr.io/acme/hello@sha512:abc", "digest"),
            ("ghcr.io:99999/acme/hello:v1", "port"),
            ("ghcr.io:/acme/hello:v1", "port"),
            ("gh_cr.io/acme/hello:v1", "host name"),
            ("[::1/hello:v1", "]"),
            ("[nope]:5000/hello:v1", "IPv6"),
        ] {
            let err = bad.parse::<OciReference>().unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.starts_with("invalid OCI reference"), "{bad:?}: {err}");
        }
        let long = format!("ghcr.io/{}:v1", "a".repeat(300));
        assert!(long.parse::<OciReference>().is_err());
        let long_tag = format!("ghcr.io/a:{}", "t".repeat(129));
        assert!(long_tag.parse::<OciReference>().is_err());
    }
}
