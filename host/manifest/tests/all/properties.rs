//! Property tests of the parser (proptest): whatever text it is given, it
//! never panics, and every error it returns names the file, a line inside
//! the text, a column, and a key.
//!
//! Two generators: arbitrary text, and a valid manifest mutated by
//! deleting, duplicating and inserting TOML fragments (which reaches far
//! more of the validator than random bytes do).

use std::path::Path;

use proptest::prelude::*;
use wharf_manifest::{Manifest, ManifestError};

/// A manifest that parses, using most keys, as the seed for mutations.
const VALID: &str = r#"[app]
name = "shop"

[service.hello]
component = "tests/ui/fixtures/existing-file"
routes = ["/", "/hello/..."]
version = "1.0.0"
outbound = ["https://api.example.com", "http://orders.internal"]
files = [{ source = "tests", path = "/data", mode = "ro" }]
sockets = ["127.0.0.1:5432", "10.0.0.0/8:*"]
publish = ["orders.created", "inventory.*"]
subscriptions = [{ topic = "orders.>", queue_group = "q", max_in_flight = 4, retries = 2, dead_letter = "orders.dlq" }]
key_value_stores = ["default"]

[service.hello.variables]
GREETING = "hi"
KEY = { value = "x", secret = true }

[service.hello.limits]
memory = "32MiB"
cpu_time = "2s"
timeout = "10s"
max_concurrent = 10
max_queued = 5
"#;

/// Fragments a mutation may insert: TOML syntax, keys the schema knows,
/// and values of the wrong type or out of range.
const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "{",
    "}",
    "=",
    "\"",
    "'",
    ",",
    "\n",
    "#",
    ".",
    "[[service.x]]\n",
    "[service.",
    "[service.a.limits]\n",
    "component",
    "routes",
    "files",
    "sockets",
    "publish",
    "subscriptions",
    "variables",
    "limits",
    "memory",
    "cpu_time",
    "mode",
    "source",
    "path",
    "topic",
    "\"/...\"",
    "\"/a/../b\"",
    "-1",
    "0",
    "1e999",
    "18446744073709551616",
    "\"9999TiB\"",
    "\"0s\"",
    "true",
    "[]",
    "{}",
    "\"${env.\"",
    "\"${env.NOPE_NOT_SET}\"",
    "\"rw\"",
    "\"xx\"",
    "\"\u{0}\"",
    "\"é\u{202e}\"",
    "\"256.0.0.1:99999\"",
    "\"/*\"",
    "\">\"",
    "\"a..b\"",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, fragment: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..FRAGMENTS.len())
            .prop_map(|(at, fragment)| Mutation::Insert { at, fragment }),
        (any::<usize>(), 0usize..200).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

/// The nearest char boundary at or before `at % (len + 1)`.
fn boundary(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &mut String, mutation: &Mutation) {
    match *mutation {
        Mutation::Delete { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start.saturating_add(len).min(text.len()));
            text.replace_range(start..end.max(start), "");
        }
        Mutation::Insert { at, fragment } => {
            let at = boundary(text, at);
            text.insert_str(at, FRAGMENTS[fragment]);
        }
        Mutation::Duplicate { at, len } => {
            let start = boundary(text, at);
            let end = boundary(text, start.saturating_add(len).min(text.len()));
            let copy = text[start..end.max(start)].to_string();
            text.insert_str(end.max(start), &copy);
        }
    }
}

/// Parses `source` as `wharf.toml` in the crate root; panics (failing the
/// property) on an error that does not name file, line, column and key.
fn check(source: &str) -> Result<(), TestCaseError> {
    let Err(error) = Manifest::parse(source, Path::new("wharf.toml")) else {
        return Ok(());
    };
    let problems: Vec<&ManifestError> = match &error {
        ManifestError::Multiple(_) => error.problems().iter().collect(),
        other => vec![other],
    };
    prop_assert!(!problems.is_empty());
    let lines = source.lines().count().max(1) + 1;
    for problem in problems {
        match problem {
            ManifestError::Invalid {
                file,
                line,
                column,
                key,
                message,
            } => {
                prop_assert_eq!(file.as_path(), Path::new("wharf.toml"));
                prop_assert!(
                    (1..=lines).contains(line),
                    "line {} of {}: {}",
                    line,
                    lines,
                    problem
                );
                prop_assert!(*column >= 1, "{}", problem);
                prop_assert!(!key.is_empty(), "{}", problem);
                prop_assert!(!message.is_empty(), "{}", problem);
                prop_assert!(problem.to_string().starts_with("wharf.toml:"));
            }
            other => prop_assert!(false, "not a positioned problem: {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn the_seed_manifest_is_valid() {
    Manifest::parse(VALID, Path::new("wharf.toml")).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_errors_are_positioned(source in "(?s).{0,600}") {
        check(&source)?;
    }

    #[test]
    fn mutated_manifests_never_panic_and_errors_are_positioned(
        mutations in proptest::collection::vec(mutation(), 1..8)
    ) {
        let mut source = VALID.to_string();
        for m in &mutations {
            apply(&mut source, m);
        }
        check(&source)?;
    }
}
