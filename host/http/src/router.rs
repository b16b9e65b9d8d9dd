//! Longest-match routing from request paths to services.
//!
//! Built once per app and read lock-free on every request: exact routes in a
//! hash map, prefix routes sorted longest first. An exact route always wins
//! over a prefix that matches the same path, because a matching prefix can
//! never be longer than the path itself.

use std::collections::HashMap;

use wharf_manifest::Route;

/// Maps paths to the index of a service.
#[derive(Debug, Default, Clone)]
pub struct Router {
    exact: HashMap<String, usize>,
    /// `(prefix, service)`, longest prefix first.
    prefixes: Vec<(String, usize)>,
}

impl Router {
    /// Builds the table. Conflicting routes are rejected earlier, by the
    /// manifest; if two services still claim the same route the first wins.
    pub fn new<'a>(routes: impl IntoIterator<Item = (&'a Route, usize)>) -> Self {
        let mut router = Router::default();
        for (route, service) in routes {
            match route {
                Route::Exact(path) => {
                    router.exact.entry(path.clone()).or_insert(service);
                }
                Route::Prefix(prefix) => {
                    if !router.prefixes.iter().any(|(p, _)| p == prefix) {
                        router.prefixes.push((prefix.clone(), service));
                    }
                }
            }
        }
        router
            .prefixes
            .sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        router
    }

    /// The service that serves `path`, if any.
    pub fn lookup(&self, path: &str) -> Option<usize> {
        if let Some(service) = self.exact.get(path) {
            return Some(*service);
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| prefix_matches(prefix, path))
            .map(|(_, service)| *service)
    }
}

/// `/api` matches `/api` and `/api/...`, but not `/apix`; the empty prefix
/// (from `/...`) matches everything.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, usize)]) -> Router {
        let parsed: Vec<(Route, usize)> = routes
            .iter()
            .filter_map(|(r, s)| Route::parse(r).ok().map(|r| (r, *s)))
            .collect();
        assert_eq!(parsed.len(), routes.len(), "all test routes parse");
        Router::new(parsed.iter().map(|(r, s)| (r, *s)))
    }

    #[test]
    fn longest_prefix_wins() {
        let r = router(&[("/...", 0), ("/api/...", 1), ("/api/v2/...", 2)]);
        assert_eq!(r.lookup("/"), Some(0));
        assert_eq!(r.lookup("/other"), Some(0));
        assert_eq!(r.lookup("/api"), Some(1));
        assert_eq!(r.lookup("/api/x"), Some(1));
        assert_eq!(r.lookup("/api/v2"), Some(2));
        assert_eq!(r.lookup("/api/v2/items/1"), Some(2));
        assert_eq!(r.lookup("/apix"), Some(0));
    }

    #[test]
    fn exact_beats_prefix() {
        let r = router(&[("/api/...", 1), ("/api/special", 3)]);
        assert_eq!(r.lookup("/api/special"), Some(3));
        assert_eq!(r.lookup("/api/special/x"), Some(1));
    }

    #[test]
    fn unmatched_is_none() {
        let r = router(&[("/", 0), ("/hello/...", 1)]);
        assert_eq!(r.lookup("/"), Some(0));
        assert_eq!(r.lookup("/nope"), None);
        assert_eq!(r.lookup("/hellox"), None);
        assert_eq!(r.lookup("/hello"), Some(1));
    }
}
