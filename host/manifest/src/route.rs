//! HTTP routes as written in `routes = [...]`.

use std::fmt;

/// The suffix that turns a route into a prefix wildcard.
const WILDCARD: &str = "/...";

/// One entry of a service's `routes` list: which request paths the service
/// answers.
///
/// Two spellings exist:
///
/// - `"/hello"` is [`Route::Exact`]: it matches `/hello` and nothing else (a
///   trailing slash is significant, so `/hello/` does not match).
/// - `"/api/..."` is [`Route::Prefix`]: it matches `/api` itself and every path
///   below it (`/api/`, `/api/users/7`), but not `/apis`. `"/..."` matches every
///   path.
///
/// When several routes match a request, the one with the highest
/// [`specificity`](Route::specificity) wins.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    /// Matches this path only.
    Exact(String),
    /// Matches this path and everything below it. Holds the prefix without the
    /// `/...` suffix: `"/api/..."` is `Prefix("/api")` and `"/..."` is
    /// `Prefix("")`.
    Prefix(String),
}

impl Route {
    /// Parses the manifest spelling of a route.
    ///
    /// # Errors
    ///
    /// Returns a human-readable message (without file or key, which the
    /// caller knows) when the route is empty, does not start with `/`,
    /// contains `?`, `#` or whitespace, or uses `...` anywhere but as a final
    /// `/...` segment.
    pub fn parse(s: &str) -> Result<Route, String> {
        if s.is_empty() {
            return Err("route must not be empty; `/...` matches every path".to_owned());
        }
        if !s.starts_with('/') {
            return Err(format!("route `{s}` must start with `/`"));
        }
        if let Some(c) = s.chars().find(|c| matches!(c, '?' | '#')) {
            return Err(format!(
                "route `{s}` must not contain `{c}`: a route matches the path only"
            ));
        }
        if s.chars().any(char::is_whitespace) {
            return Err(format!("route `{s}` must not contain whitespace"));
        }
        let (path, prefix) = match s.strip_suffix(WILDCARD) {
            Some(prefix) => (prefix, true),
            None => (s, false),
        };
        if path.contains("...") {
            return Err(format!(
                "route `{s}` may use `...` only as its last segment, as in `/api/...`"
            ));
        }
        Ok(if prefix {
            Route::Prefix(path.to_owned())
        } else {
            Route::Exact(path.to_owned())
        })
    }

    /// Whether this route matches a request path (the path only, without the
    /// query string).
    pub fn matches(&self, path: &str) -> bool {
        match self {
            Route::Exact(exact) => path == exact,
            Route::Prefix(prefix) => path
                .strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/')),
        }
    }

    /// A rank for longest-match routing: among the routes that match a path,
    /// the one with the highest specificity should win.
    ///
    /// Longer routes rank higher, and an exact route ranks above a prefix of
    /// the same length, so `"/api"` beats `"/api/..."` for the path `/api`.
    /// Two distinct routes that both match one path never tie.
    pub fn specificity(&self) -> usize {
        match self {
            Route::Exact(exact) => exact.len() * 2 + 1,
            Route::Prefix(prefix) => prefix.len() * 2,
        }
    }
}

impl fmt::Display for Route {
    /// Writes the manifest spelling back: `/hello`, `/api/...`, `/...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Exact(exact) => f.write_str(exact),
            Route::Prefix(prefix) => write!(f, "{prefix}{WILDCARD}"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Route;

    fn route(s: &str) -> Route {
        Route::parse(s).unwrap()
    }

    #[test]
    fn parses_exact_and_prefix_routes() {
        assert_eq!(route("/"), Route::Exact("/".into()));
        assert_eq!(route("/hello/"), Route::Exact("/hello/".into()));
        assert_eq!(route("/api/..."), Route::Prefix("/api".into()));
        assert_eq!(route("/..."), Route::Prefix(String::new()));
        assert_eq!(route("/a/b/..."), Route::Prefix("/a/b".into()));
    }

    #[test]
    fn displays_the_manifest_spelling() {
        for s in ["/", "/hello", "/hello/", "/...", "/api/...", "/a.b/c..d"] {
            assert_eq!(route(s).to_string(), s);
        }
    }

    #[test]
    fn rejects_routes_without_leading_slash() {
        assert_eq!(
            Route::parse("hello").unwrap_err(),
            "route `hello` must start with `/`"
        );
        assert_eq!(
            Route::parse("").unwrap_err(),
            "route must not be empty; `/...` matches every path"
        );
        assert_eq!(
            Route::parse("...").unwrap_err(),
            "route `...` must start with `/`"
        );
    }

    #[test]
    fn rejects_query_fragment_and_whitespace() {
        assert_eq!(
            Route::parse("/a?b=1").unwrap_err(),
            "route `/a?b=1` must not contain `?`: a route matches the path only"
        );
        assert_eq!(
            Route::parse("/a#top").unwrap_err(),
            "route `/a#top` must not contain `#`: a route matches the path only"
        );
        assert_eq!(
            Route::parse("/a b").unwrap_err(),
            "route `/a b` must not contain whitespace"
        );
        assert_eq!(
            Route::parse("/a\t").unwrap_err(),
            "route `/a\t` must not contain whitespace"
        );
    }

    #[test]
    fn rejects_ellipsis_anywhere_but_the_end() {
        for s in ["/a/.../b", "/a...", "/.../", "/a/...x", "/....", "/.../..."] {
            let err = Route::parse(s).unwrap_err();
            assert!(
                err.ends_with("may use `...` only as its last segment, as in `/api/...`"),
                "{s}: {err}"
            );
        }
    }

    #[test]
    fn exact_route_matches_only_its_path() {
        let r = route("/hello");
        assert!(r.matches("/hello"));
        assert!(!r.matches("/hello/"));
        assert!(!r.matches("/hello/x"));
        assert!(!r.matches("/hell"));
        assert!(route("/hello/").matches("/hello/"));
        assert!(!route("/hello/").matches("/hello"));
    }

    #[test]
    fn prefix_route_matches_itself_and_below() {
        let r = route("/api/...");
        assert!(r.matches("/api"));
        assert!(r.matches("/api/"));
        assert!(r.matches("/api/users/7"));
        assert!(!r.matches("/apis"));
        assert!(!r.matches("/ap"));
        assert!(!r.matches("/"));
    }

    #[test]
    fn root_wildcard_matches_everything() {
        let r = route("/...");
        for path in ["/", "/a", "/a/b/", "//"] {
            assert!(r.matches(path), "{path}");
        }
    }

    #[test]
    fn longer_and_exact_routes_are_more_specific() {
        assert!(route("/api").specificity() > route("/api/...").specificity());
        assert!(route("/api/v1/...").specificity() > route("/api/...").specificity());
        assert!(route("/api/...").specificity() > route("/...").specificity());
        assert!(route("/").specificity() > route("/...").specificity());
        assert_eq!(route("/...").specificity(), 0);
    }
}
