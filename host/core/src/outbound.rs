//! The outbound HTTP allowlist.
//!
//! Every request a guest sends through `wasi:http/outgoing-handler` passes
//! through [`OutboundHooks::send_request`]. A request whose origin is not on
//! the service's allowlist never leaves the host: the guest receives the
//! standard `HTTP-request-denied` error code and the host logs the attempt
//! with the service's name. The allowlist is computed once per service
//! version ([`OutboundPolicy`]) and shared by its instances.

use std::sync::Arc;

use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks, default_send_request,
};

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

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
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

/// The origins one service version may call. Empty means none: deny by
/// default.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed: Vec<AllowedOrigin>,
}

impl OutboundPolicy {
    /// A policy that allows exactly `allowed`.
    pub fn new(allowed: Vec<AllowedOrigin>) -> Self {
        Self { allowed }
    }

    /// Whether a request to `uri` may leave the host.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else {
            return false;
        };
        self.allowed
            .iter()
            .any(|o| o.allows(scheme, host, uri.port_u16()))
    }
}

/// The `wasi:http` hooks of one instance: the allowlist, then wasmtime's
/// default client.
pub struct OutboundHooks {
    /// Name of the service, for the denial log line.
    pub service: Arc<str>,
    /// The allowlist of the service's version.
    pub policy: Arc<OutboundPolicy>,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        drop(fut);
        if !self.policy.allows(request.uri()) {
            tracing::warn!(
                service = %self.service,
                uri = %request.uri(),
                "outbound request denied: origin not granted to the service"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(
            origins
                .iter()
                .map(|o| AllowedOrigin::parse(o))
                .collect::<Result<_, _>>()
                .unwrap_or_default(),
        )
    }

    fn allows(p: &OutboundPolicy, uri: &str) -> bool {
        p.allows(&uri.parse().unwrap_or_default())
    }

    #[test]
    fn empty_policy_denies_everything() {
        assert!(!allows(&policy(&[]), "http://127.0.0.1:80/"));
    }

    #[test]
    fn exact_origin_matches_scheme_host_and_port() {
        let p = policy(&["http://127.0.0.1:8081"]);
        assert!(allows(&p, "http://127.0.0.1:8081/x"));
        assert!(!allows(&p, "http://127.0.0.1:8082/x"));
        assert!(!allows(&p, "https://127.0.0.1:8081/x"));
        assert!(!allows(&p, "http://localhost:8081/x"));
    }

    #[test]
    fn default_ports_are_implied() {
        let p = policy(&["https://api.example.com"]);
        assert!(allows(&p, "https://api.example.com/"));
        assert!(allows(&p, "https://api.example.com:443/"));
        assert!(!allows(&p, "https://api.example.com:8443/"));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = policy(&["https://*.example.com"]);
        assert!(allows(&p, "https://a.example.com/"));
        assert!(allows(&p, "https://a.b.example.com/"));
        assert!(!allows(&p, "https://example.com/"));
        assert!(!allows(&p, "https://badexample.com/"));
    }

    #[test]
    fn malformed_origins_are_rejected() {
        assert!(AllowedOrigin::parse("127.0.0.1").is_err());
        assert!(AllowedOrigin::parse("ftp://x").is_err());
        assert!(AllowedOrigin::parse("http://x/path").is_err());
        assert!(AllowedOrigin::parse("http://x:notaport").is_err());
    }
}
