//! The admin API's route table: one list that the request handler matches
//! against and the OpenAPI test compares with `openapi.yaml`, so the
//! document cannot drift from what the listener answers.

use http::Method;

/// One route of the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// HTTP method.
    pub method: &'static str,
    /// Path template; `{name}` segments are parameters.
    pub path: &'static str,
    /// Operation ID (also in the OpenAPI document).
    pub id: &'static str,
    /// Whether the bearer token is required.
    pub authenticated: bool,
}

const fn open(method: &'static str, path: &'static str, id: &'static str) -> Endpoint {
    Endpoint {
        method,
        path,
        id,
        authenticated: false,
    }
}

const fn auth(method: &'static str, path: &'static str, id: &'static str) -> Endpoint {
    Endpoint {
        method,
        path,
        id,
        authenticated: true,
    }
}

/// Every route the admin listener answers.
pub const ENDPOINTS: &[Endpoint] = &[
    open("GET", "/healthz", "healthz"),
    open("GET", "/readyz", "readyz"),
    open("GET", "/metrics", "metrics"),
    open("GET", "/v1/openapi.yaml", "openapi"),
    open("GET", "/", "console-redirect"),
    open("GET", "/ui/", "console-index"),
    open("GET", "/ui/{asset}", "console-asset"),
    auth("GET", "/v1/host", "host-status"),
    auth("GET", "/v1/services", "list-services"),
    auth("GET", "/v1/services/{name}", "get-service"),
    auth("DELETE", "/v1/services/{name}", "remove-service"),
    auth("GET", "/v1/services/{name}/series", "service-series"),
    auth("GET", "/v1/services/{name}/logs", "service-logs"),
    auth("POST", "/v1/services/{name}/deployments", "deploy"),
    auth("POST", "/v1/services/{name}/rollback", "rollback"),
    auth("POST", "/v1/services/{name}/promote", "promote"),
    auth("POST", "/v1/services/{name}/activate", "activate"),
    auth("PUT", "/v1/services/{name}/traffic", "set-traffic"),
    auth("HEAD", "/v1/components/{digest}", "head-component"),
    auth("PUT", "/v1/components/{digest}", "put-component"),
    auth("GET", "/v1/cluster", "cluster-status"),
];

/// Why no route matched.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// No route has this path.
    NotFound,
    /// The path exists with other methods (listed, for `Allow`).
    Method(String),
}

/// The route for `method` and `path`, with its parameters in order.
pub fn resolve(method: &Method, path: &str) -> Result<(&'static Endpoint, Vec<String>), Miss> {
    let mut allowed = Vec::new();
    for endpoint in ENDPOINTS {
        let Some(params) = match_path(endpoint.path, path) else {
            continue;
        };
        if endpoint.method == method.as_str() {
            return Ok((endpoint, params));
        }
        allowed.push(endpoint.method);
    }
    if allowed.is_empty() {
        Err(Miss::NotFound)
    } else {
        Err(Miss::Method(allowed.join(", ")))
    }
}

fn match_path(template: &str, path: &str) -> Option<Vec<String>> {
    let mut params = Vec::new();
    let mut want = template.split('/');
    let mut have = path.split('/');
    loop {
        match (want.next(), have.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(h)) if w.starts_with('{') && w.ends_with('}') => {
                if h.is_empty() {
                    return None;
                }
                params.push(h.to_string());
            }
            (Some(w), Some(h)) if w == h => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_parameters_and_methods() {
        let (e, p) = resolve(&Method::POST, "/v1/services/hello/rollback")
            .unwrap_or_else(|_| unreachable!());
        assert_eq!((e.id, p), ("rollback", vec!["hello".to_string()]));
        assert_eq!(
            resolve(&Method::GET, "/v1/services/hello/rollback").err(),
            Some(Miss::Method("POST".into()))
        );
        assert_eq!(
            resolve(&Method::GET, "/v1/services//rollback").err(),
            Some(Miss::NotFound)
        );
        assert_eq!(resolve(&Method::GET, "/nope").err(), Some(Miss::NotFound));
        let allowed = resolve(&Method::POST, "/v1/services/x").err();
        assert_eq!(allowed, Some(Miss::Method("GET, DELETE".into())));
    }
}
