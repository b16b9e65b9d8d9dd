//! The operator files in `deploy/` stay valid and in step with the metrics the
//! host really exports.
//!
//! - `deploy/prometheus/prometheus.yml` and `alerts.yml` must pass
//!   `promtool check config` / `promtool check rules`, the alerts must fire
//!   as `alerts_test.yml` expects (`promtool test rules`), and every dashboard
//!   query must parse as PromQL (checked by handing them to `promtool` as
//!   recording rules). `promtool` comes from the Debian package `prometheus`,
//!   which `scripts/test.sh` installs when it is missing; without it these
//!   tests fail rather than skip.
//! - Every `wharf_*` / `process_*` name used by an alert rule or a panel of
//!   `deploy/grafana/wharf-dashboard.json` must be one that
//!   `wharf_metrics::Metrics` registers (a histogram family `x` also covers
//!   `x_bucket`, `x_sum` and `x_count`), so renaming or dropping a metric
//!   breaks this test instead of silently emptying a panel or an alert.
//! - `deploy/kubernetes/` ([`kubernetes`]), `deploy/systemd/` ([`systemd`])
//!   and `deploy/Dockerfile` ([`docker`]): schema, `systemd-analyze` and
//!   linter checks, the wiring they promise, and the pods' and the unit's
//!   command lines run on loopback ([`local`]) with the checkers of
//!   [`tools`].

mod docker;
mod kubernetes;
mod local;
mod systemd;
mod tools;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `deploy/<rel>` at the repository root.
fn deploy_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(rel)
}

fn read(rel: &str) -> String {
    let path = deploy_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&read("grafana/wharf-dashboard.json"))
        .expect("deploy/grafana/wharf-dashboard.json is not valid JSON")
}

fn alert_rules() -> Value {
    serde_yaml_ng::from_str(&read("prometheus/alerts.yml"))
        .expect("deploy/prometheus/alerts.yml is not valid YAML")
}

/// Every string stored under an `expr` key, anywhere in `value`.
fn exprs(value: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

/// The query strings of the dashboard's templating variables (e.g.
/// `label_values(wharf_http_requests_total, service)`).
fn variable_queries(dashboard: &Value) -> Vec<String> {
    let vars = dashboard["templating"]["list"]
        .as_array()
        .expect("dashboard has no templating.list");
    vars.iter()
        .filter(|v| v["type"] == "query")
        .flat_map(|v| [&v["definition"], &v["query"], &v["query"]["query"]])
        .filter_map(|q| q.as_str().map(str::to_owned))
        .collect()
}

/// Metric names in a PromQL expression: maximal runs of identifier
/// characters (`[A-Za-z0-9_:]`) that start with `wharf_` or `process_` at a
/// word boundary — i.e. `\b(wharf|process)_\w+\b`, written out by hand.
fn metric_names_in(expr: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = Vec::new();
    let mut rest = expr;
    let mut prev_ident = false;
    while let Some(c) = rest.chars().next() {
        if !prev_ident && (rest.starts_with("wharf_") || rest.starts_with("process_")) {
            let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
            names.push(rest[..end].to_owned());
            rest = &rest[end..];
            prev_ident = true;
            continue;
        }
        prev_ident = is_ident(c);
        rest = &rest[c.len_utf8()..];
    }
    names
}

/// Series names the host exports: every registered family, plus
/// `_bucket`/`_sum`/`_count` of any family (exact for histograms; harmless
/// for the rest, since no registered name ends in those suffixes).
struct Exported(BTreeSet<String>);

impl Exported {
    fn load() -> Self {
        let metrics = wharf_metrics::Metrics::new().expect("registering the metrics");
        let names: BTreeSet<String> = metrics.metric_names().iter().cloned().collect();
        assert!(
            names.contains("wharf_http_requests_total"),
            "metric_names() looks wrong: {names:?}"
        );
        Self(names)
    }

    fn contains(&self, series: &str) -> bool {
        self.0.contains(series)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                series
                    .strip_suffix(suffix)
                    .is_some_and(|family| self.0.contains(family))
            })
    }

    /// Names in `exprs` that are not exported, with the query they appear in.
    fn unknown_in(&self, exprs: &[String]) -> Vec<(String, String)> {
        exprs
            .iter()
            .flat_map(|e| metric_names_in(e).into_iter().map(move |n| (n, e.clone())))
            .filter(|(n, _)| !self.contains(n))
            .collect()
    }
}

/// Runs `promtool` with `args`; fails (never skips) when it is not installed.
fn promtool(args: &[&str]) -> std::process::Output {
    match Command::new("promtool").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`promtool` is not on PATH: install the Debian package `prometheus` \
             (scripts/test.sh does so when promtool is missing)"
        ),
        Err(e) => panic!("running promtool {args:?}: {e}"),
    }
}

/// Runs `promtool` with `args` and fails with its output (and `context`)
/// unless it succeeds.
fn assert_promtool_ok(args: &[&str], context: &str) {
    let out = promtool(args);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\n{output}{context}",
        args.join(" "),
        out.status
    );
}

#[test]
fn prometheus_config_and_rules_pass_promtool() {
    let config = deploy_path("prometheus/prometheus.yml");
    let rules = deploy_path("prometheus/alerts.yml");
    // `check config` also checks the rule files the config loads.
    assert_promtool_ok(&["check", "config", config.to_str().unwrap()], "");
    assert_promtool_ok(&["check", "rules", rules.to_str().unwrap()], "");
}

#[test]
fn alert_rules_fire_exactly_on_their_unit_test_series() {
    // deploy/prometheus/alerts_test.yml feeds synthetic series to every
    // alert and lists the alerts (labels and rendered annotations) expected.
    let tests = deploy_path("prometheus/alerts_test.yml");
    assert_promtool_ok(&["test", "rules", tests.to_str().unwrap()], "");
}

#[test]
fn dashboard_queries_parse_as_promql() {
    let queries = exprs(&dashboard());
    assert!(!queries.is_empty(), "the dashboard has no queries");
    // Each query becomes a recording rule, so `promtool check rules` parses
    // it. Grafana's interval macros are replaced by a fixed range; the
    // `$job`-style variables only appear inside label-matcher strings.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, query) in queries.iter().enumerate() {
        let query = query
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "1h");
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::to_string(&query).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-queries.yml");
    std::fs::write(&path, rules).unwrap();
    let index: String = queries
        .iter()
        .enumerate()
        .map(|(i, q)| format!("\n  dashboard:query_{i} = {q}"))
        .collect();
    assert_promtool_ok(
        &["check", "rules", path.to_str().unwrap()],
        &format!("\nthe dashboard's queries:{index}"),
    );
}

#[test]
fn every_dashboard_and_alert_query_names_an_exported_metric() {
    let exported = Exported::load();

    let dashboard = dashboard();
    let mut dashboard_queries = exprs(&dashboard);
    assert!(
        !dashboard_queries.is_empty(),
        "the dashboard has no panel queries"
    );
    let variables = variable_queries(&dashboard);
    assert!(
        variables
            .iter()
            .any(|q| q.contains("label_values(wharf_http_requests_total")
                && q.contains("service)")),
        "no `service` variable from label_values(wharf_http_requests_total, service): {variables:?}"
    );
    dashboard_queries.extend(variables);

    let alert_queries = exprs(&alert_rules());
    assert!(!alert_queries.is_empty(), "alerts.yml has no rules");

    let unknown: Vec<_> = exported
        .unknown_in(&dashboard_queries)
        .into_iter()
        .chain(exported.unknown_in(&alert_queries))
        .collect();
    assert!(
        unknown.is_empty(),
        "queries use metrics the host does not export (registered: {:?}):\n{}",
        exported.0,
        unknown
            .iter()
            .map(|(name, expr)| format!("  {name}  in  {expr}"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    let used: BTreeSet<String> = dashboard_queries
        .iter()
        .flat_map(|e| metric_names_in(e))
        .collect();
    assert!(
        used.len() >= 10,
        "the dashboard should chart at least 10 distinct metrics, uses {used:?}"
    );
    // Every alert is about Wharf: it names a Wharf metric or Wharf's `up`.
    for expr in &alert_queries {
        assert!(
            !metric_names_in(expr).is_empty() || expr.contains(r#"up{job="wharf"}"#),
            "alert rule names no Wharf metric: {expr}"
        );
    }
}

#[test]
fn every_alert_rule_has_duration_severity_summary_and_description() {
    let rules = alert_rules();
    let groups = rules["groups"]
        .as_array()
        .expect("alerts.yml has no groups");
    let wharf = groups
        .iter()
        .find(|g| g["name"] == "wharf")
        .expect("alerts.yml has no group named `wharf`");
    let rules = wharf["rules"]
        .as_array()
        .expect("group `wharf` has no rules");
    assert!(!rules.is_empty(), "group `wharf` has no rules");
    for rule in rules {
        let name = rule["alert"]
            .as_str()
            .unwrap_or_else(|| panic!("not an alert: {rule}"));
        assert!(rule["for"].is_string(), "{name}: no `for`");
        assert!(
            rule["labels"]["severity"].is_string(),
            "{name}: no labels.severity"
        );
        for key in ["summary", "description"] {
            assert!(
                rule["annotations"][key]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name}: no annotations.{key}"
            );
        }
    }
}

#[test]
fn metric_name_scanner_finds_whole_names_only() {
    assert_eq!(
        metric_names_in(
            r#"sum by (le) (rate(wharf_http_request_duration_seconds_bucket{job="wharf",reason="x_wharf_y"}[5m])) / process_open_fds"#
        ),
        [
            "wharf_http_request_duration_seconds_bucket",
            "process_open_fds"
        ]
    );
    // Inside another identifier, not a name of ours.
    assert!(metric_names_in("my_wharf_thing + xprocess_y").is_empty());
    // A recording-rule-style suffix stays part of the name (and so fails).
    assert_eq!(metric_names_in("wharf_ready:sum"), ["wharf_ready:sum"]);
}
