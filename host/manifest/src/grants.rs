//! Capability grants carried by a service's manifest entry.
//!
//! A grant is parsed and checked when the manifest is loaded, so a typo in
//! an origin is reported with its line, and the host only ever sees
//! well-formed grants. Absent grants mean denied.

/// One allowed origin: scheme, host (optionally `*.`-prefixed for any
/// subdomain), and port (`None` = the scheme's default port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
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
