//! Golden-file tests: every `tests/ui/<case>.toml` must fail to validate with
//! exactly the text in `tests/ui/<case>.expected`.
//!
//! Each case is parsed with the file name `tests/ui/<case>.toml` (relative to
//! the crate root, which is where cargo runs tests), so the expected text
//! does not depend on where the repository lives, and component paths in a
//! case resolve against `tests/ui/` (see `tests/ui/fixtures/`).
//!
//! `tests/ui/sections/<case>.toml` are service sections deployed on their
//! own, checked by `parse_service_section` as the service `hello`, with the
//! case path as origin and `tests/ui` as base directory.
//!
//! Run with `BLESS=1` to write the `.expected` files from the current output;
//! review the diff before keeping it.

use std::fs;
use std::path::{Path, PathBuf};

use wharf_manifest::{Manifest, parse_service_section};

const UI_DIR: &str = "tests/ui";
const SECTIONS_DIR: &str = "tests/ui/sections";

#[test]
fn every_ui_case_fails_with_the_expected_errors() {
    check_cases(UI_DIR, |source, case| match Manifest::parse(source, case) {
        Ok(manifest) => format!("unexpectedly valid: {manifest:#?}"),
        Err(err) => format!("{err}\n"),
    });
}

#[test]
fn every_section_case_fails_with_the_expected_errors() {
    check_cases(SECTIONS_DIR, |source, case| {
        match parse_service_section("hello", source, case, Path::new(UI_DIR)) {
            Ok(service) => format!("unexpectedly valid: {service:#?}"),
            Err(err) => format!("{err}\n"),
        }
    });
}

/// Runs every `<dir>/<case>.toml` through `check` and compares the result
/// with `<case>.expected` (or writes it, with `BLESS`).
fn check_cases(dir: &str, check: impl Fn(&str, &Path) -> String) {
    let bless = std::env::var_os("BLESS").is_some();
    let mut cases: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    cases.sort();
    assert!(!cases.is_empty(), "no cases in {dir}");

    let mut failures = Vec::new();
    for case in &cases {
        let source = fs::read_to_string(case).unwrap();
        let actual = check(&source, case);
        let expected_path = case.with_extension("expected");
        if bless {
            fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                case.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} ui cases differ (rerun with BLESS=1 to accept):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_file_has_a_case() {
    for dir in [UI_DIR, SECTIONS_DIR] {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "expected") {
                assert!(
                    Path::new(&path.with_extension("toml")).is_file(),
                    "{} has no .toml case",
                    path.display()
                );
            }
        }
    }
}
