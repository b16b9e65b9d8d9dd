//! Guards `host/admin/openapi.yaml` (served at `/v1/openapi.yaml`) against
//! drifting from what the admin listener answers: the document must list
//! exactly the routes of [`wharf_admin::routes::ENDPOINTS`] (method, path,
//! operation ID and whether the bearer token is needed), every `$ref` must
//! name a schema the document defines, and every authenticated operation
//! must document its `401`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use serde_yaml_ng::{Mapping, Value};
use wharf_admin::routes::ENDPOINTS;

/// The keys of an OpenAPI path item that are operations.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One route: method (uppercase), path template, operation ID, authenticated.
type Route = (String, String, String, bool);

fn document() -> Value {
    serde_yaml_ng::from_str(wharf_admin::OPENAPI_YAML).expect("openapi.yaml is not valid YAML")
}

fn mapping<'a>(value: &'a Value, what: &str) -> &'a Mapping {
    value
        .as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping: {value:?}"))
}

fn key(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => panic!("non-string key {other:?}; quote it (status codes must be '401', not 401)"),
    }
}

/// Whether a `security` list requires the token: non-empty, and no empty
/// requirement (`{}` would make authentication optional).
fn requires_token(security: &Value) -> bool {
    let list = security
        .as_sequence()
        .unwrap_or_else(|| panic!("`security` is not a list: {security:?}"));
    !list.is_empty()
        && list
            .iter()
            .all(|req| req.as_mapping().is_some_and(|m| !m.is_empty()))
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let paths = mapping(doc.get("paths").expect("no `paths`"), "`paths`");
    let mut out = Vec::new();
    for (path, item) in paths {
        let path = key(path);
        for (method, operation) in mapping(item, &format!("path item {path}")) {
            let method = key(method);
            if METHODS.contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    out
}

/// Whether `operation` needs the token, per its own `security` or else the
/// document's.
fn authenticated(doc: &Value, operation: &Value) -> bool {
    match operation.get("security").or_else(|| doc.get("security")) {
        Some(security) => requires_token(security),
        None => false,
    }
}

#[test]
fn openapi_document_matches_the_route_table() {
    let doc = document();
    let mut documented = BTreeSet::new();
    for (method, path, operation) in operations(&doc) {
        let id = operation
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"))
            .to_string();
        let auth = authenticated(&doc, operation);
        documented.insert((method, path, id, auth));
    }
    let served: BTreeSet<Route> = ENDPOINTS
        .iter()
        .map(|e| {
            (
                e.method.to_string(),
                e.path.to_string(),
                e.id.to_string(),
                e.authenticated,
            )
        })
        .collect();
    assert_eq!(
        served.len(),
        ENDPOINTS.len(),
        "ENDPOINTS lists a route twice"
    );

    let show = |routes: Vec<&Route>| {
        routes
            .iter()
            .map(|(m, p, id, auth)| {
                let auth = if *auth { "token" } else { "open" };
                format!("\n  {m} {p} (operationId {id}, {auth})")
            })
            .collect::<String>()
    };
    let undocumented = show(served.difference(&documented).collect());
    let unserved = show(documented.difference(&served).collect());
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "openapi.yaml and routes::ENDPOINTS disagree.\n\
         In ENDPOINTS but not in openapi.yaml:{undocumented}\n\
         In openapi.yaml but not in ENDPOINTS:{unserved}\n\
         (Authenticated = `security: [{{adminToken: []}}]`, open = `security: []`.)"
    );
}

/// Every `$ref` under `value`, with where it is.
fn refs(value: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                let name = match k {
                    Value::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                let here = format!("{at}/{name}");
                if name == "$ref" {
                    let target = v
                        .as_str()
                        .unwrap_or_else(|| panic!("{here} is not a string: {v:?}"));
                    out.push((here, target.to_string()));
                } else {
                    refs(v, &here, out);
                }
            }
        }
        Value::Sequence(s) => {
            for (i, v) in s.iter().enumerate() {
                refs(v, &format!("{at}/{i}"), out);
            }
        }
        Value::Tagged(t) => refs(&t.value, at, out),
        _ => {}
    }
}

#[test]
fn every_ref_names_a_defined_schema() {
    let doc = document();
    let schemas = doc
        .get("components")
        .and_then(|c| c.get("schemas"))
        .map(|s| mapping(s, "`components/schemas`"))
        .expect("no `components/schemas`");
    let mut found = Vec::new();
    refs(&doc, "#", &mut found);
    assert!(
        !found.is_empty(),
        "no `$ref` at all: is the document empty?"
    );
    let broken: Vec<String> = found
        .iter()
        .filter(|(_, target)| {
            !target
                .strip_prefix("#/components/schemas/")
                .is_some_and(|name| schemas.contains_key(name))
        })
        .map(|(at, target)| format!("\n  {at}: {target}"))
        .collect();
    assert!(
        broken.is_empty(),
        "`$ref`s that name no `#/components/schemas/*` entry:{}",
        broken.concat()
    );
}

#[test]
fn every_authenticated_operation_documents_401() {
    let doc = document();
    let mut missing = Vec::new();
    for (method, path, operation) in operations(&doc) {
        if !authenticated(&doc, operation) {
            continue;
        }
        let responses = operation
            .get("responses")
            .map(|r| mapping(r, &format!("responses of {method} {path}")))
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        if !responses.contains_key("401") {
            missing.push(format!("\n  {method} {path}"));
        }
    }
    assert!(
        missing.is_empty(),
        "authenticated operations without a '401' response:{}",
        missing.concat()
    );
}
