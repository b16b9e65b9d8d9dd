//! `CapabilityDiff`: one test per rule, the display and serde forms.
//!
//! Versions are written as deployed sections (see `section`), parsed with the
//! crate root as base directory.

use std::path::{Path, PathBuf};

use wharf_manifest::{
    CapabilityDiff, Change, ChangeKind, Direction, ServiceSpec, parse_service_section,
};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A version of the service `api` with `routes = ["/..."]` and `rest`.
fn version(rest: &str) -> ServiceSpec {
    let section = format!("routes = ['/...']\n{rest}");
    parse_service_section("api", &section, Path::new("test"), &crate_dir())
        .unwrap_or_else(|e| panic!("{e}\n{section}"))
}

fn diff(active: &str, candidate: &str) -> CapabilityDiff {
    CapabilityDiff::between(&version(active), &version(candidate))
}

fn change(kind: ChangeKind, direction: Direction, detail: &str) -> Change {
    Change {
        kind,
        direction,
        detail: detail.to_owned(),
    }
}

/// `(display line, is escalation)` for every change.
fn lines(diff: &CapabilityDiff) -> Vec<(String, bool)> {
    diff.changes
        .iter()
        .map(|c| (c.to_string(), c.is_escalation()))
        .collect()
}

#[test]
fn identical_versions_differ_in_nothing() {
    let text = "outbound = ['https://a.com']\nsockets = ['127.0.0.1:5432']\n\
                files = [{ source = 'tests', path = '/t' }]\n\
                [variables]\nA = 'x'\n[limits]\nmemory = '32MiB'\n";
    let diff = diff(text, text);
    assert!(diff.is_empty());
    assert!(!diff.escalates());
    assert_eq!(diff.escalations().count(), 0);
    assert_eq!(diff.to_string(), "");
}

#[test]
fn the_version_label_is_not_a_capability() {
    assert!(diff("version = '1'\n", "version = '2'\n").is_empty());
}

#[test]
fn outbound_origins_added_escalate_and_removed_do_not() {
    let diff = diff(
        "outbound = ['https://old.example.com', 'http://127.0.0.1:8080']\n",
        "outbound = ['http://127.0.0.1:8080', 'https://api.example.com']\n",
    );
    assert_eq!(
        diff.changes,
        [
            change(
                ChangeKind::Outbound,
                Direction::Removed,
                "https://old.example.com:443"
            ),
            change(
                ChangeKind::Outbound,
                Direction::Added,
                "https://api.example.com:443"
            ),
        ]
    );
    assert_eq!(
        lines(&diff),
        [
            ("- outbound https://old.example.com:443".to_owned(), false),
            ("+ outbound https://api.example.com:443".to_owned(), true),
        ]
    );
    assert!(diff.escalates());
}

#[test]
fn outbound_origins_compare_by_what_they_allow() {
    // The default port spelled out, and a case change in the host.
    assert!(
        diff(
            "outbound = ['https://api.example.com']\n",
            "outbound = ['https://API.example.com:443/']\n",
        )
        .is_empty()
    );
    // A subdomain of a wildcard the active version had is nothing new, and
    // losing the wildcard is a removal.
    let narrowed = diff(
        "outbound = ['https://*.example.com']\n",
        "outbound = ['https://a.example.com']\n",
    );
    assert_eq!(
        lines(&narrowed),
        [("- outbound https://*.example.com:443".to_owned(), false)]
    );
    // The reverse gains every other subdomain.
    let widened = diff(
        "outbound = ['https://a.example.com']\n",
        "outbound = ['https://*.example.com']\n",
    );
    assert_eq!(
        lines(&widened),
        [("+ outbound https://*.example.com:443".to_owned(), true)]
    );
    // Another port or scheme is another origin.
    let other_port = diff(
        "outbound = ['https://a.com']\n",
        "outbound = ['https://a.com:8443']\n",
    );
    assert_eq!(
        lines(&other_port),
        [
            ("- outbound https://a.com:443".to_owned(), false),
            ("+ outbound https://a.com:8443".to_owned(), true),
        ]
    );
}

#[test]
fn repeated_grants_are_listed_once() {
    let diff = diff(
        "",
        "outbound = ['https://a.com', 'https://a.com:443']\nsockets = ['127.0.0.1:1', '127.0.0.1:1']\n",
    );
    assert_eq!(
        diff.to_string(),
        "+ outbound https://a.com:443\n+ sockets 127.0.0.1:1"
    );
}

#[test]
fn sockets_added_escalate_and_covered_ones_are_not_new() {
    let diff = diff(
        "sockets = ['10.0.0.0/8:*', '192.168.1.1:53']\n",
        "sockets = ['10.1.2.3:5432', '[::1]:6379']\n",
    );
    assert_eq!(
        lines(&diff),
        [
            ("- sockets 10.0.0.0/8:*".to_owned(), false),
            ("- sockets 192.168.1.1:53".to_owned(), false),
            ("+ sockets [::1]:6379".to_owned(), true),
        ]
    );
    assert_eq!(
        diff.escalations().collect::<Vec<_>>(),
        [&change(ChangeKind::Socket, Direction::Added, "[::1]:6379")]
    );
}

#[test]
fn files_added_escalate_and_removed_do_not() {
    let fixtures = crate_dir().join("tests/ui/fixtures");
    let diff = diff(
        "files = [{ source = 'tests', path = '/t' }]\n",
        "files = [{ source = 'tests/ui/fixtures', path = '/static' }]\n",
    );
    assert_eq!(
        lines(&diff),
        [
            (
                format!(
                    "- files /t -> {} (read-only)",
                    crate_dir().join("tests").display()
                ),
                false
            ),
            (
                format!("+ files /static -> {} (read-only)", fixtures.display()),
                true
            ),
        ]
    );
}

#[test]
fn a_file_grant_made_writable_is_widened_and_the_reverse_narrowed() {
    let tests = crate_dir().join("tests");
    let ro = "files = [{ source = 'tests', path = '/data' }]\n";
    let rw = "files = [{ source = 'tests', path = '/data', mode = 'rw' }]\n";

    let widened = diff(ro, rw);
    assert_eq!(
        widened.changes,
        [change(
            ChangeKind::File,
            Direction::Widened,
            &format!("/data -> {} (read-write, was read-only)", tests.display())
        )]
    );
    assert!(widened.escalates());
    assert_eq!(
        widened.to_string(),
        format!(
            "~ files /data -> {} (read-write, was read-only)",
            tests.display()
        )
    );

    let narrowed = diff(rw, ro);
    assert_eq!(
        narrowed.changes,
        [change(
            ChangeKind::File,
            Direction::Narrowed,
            &format!("/data -> {} (read-only, was read-write)", tests.display())
        )]
    );
    assert!(!narrowed.escalates());
}

#[test]
fn a_file_grant_from_another_host_directory_is_changed_and_escalates() {
    let (tests, ui) = (crate_dir().join("tests"), crate_dir().join("tests/ui"));
    let diff = diff(
        "files = [{ source = 'tests', path = '/data', mode = 'rw' }]\n",
        "files = [{ source = 'tests/ui', path = '/data', mode = 'rw' }]\n",
    );
    assert_eq!(
        lines(&diff),
        [(
            format!(
                "~ files /data -> {} (read-write, was {})",
                ui.display(),
                tests.display()
            ),
            true
        )]
    );
    // Even when it is read-only now.
    let diff = CapabilityDiff::between(
        &version("files = [{ source = 'tests', path = '/data', mode = 'rw' }]\n"),
        &version("files = [{ source = 'tests/ui', path = '/data' }]\n"),
    );
    assert_eq!(
        lines(&diff),
        [(
            format!(
                "~ files /data -> {} (read-only, was {}, read-write)",
                ui.display(),
                tests.display()
            ),
            true
        )]
    );
}

#[test]
fn variables_added_or_newly_reading_host_env_escalate_changed_values_do_not_never_shown() {
    let diff = diff(
        "[variables]\nGONE = 'gone-value'\nGREETING = 'hello'\nKEY = { value = 'old-key', secret = true }\nSAME = 'x'\n",
        "[variables]\nGREETING = 'bonjour'\nKEY = '${env.CARGO_PKG_NAME}'\nNEW = 'new-value'\nSAME = 'x'\n",
    );
    assert_eq!(
        lines(&diff),
        [
            ("- variables.GONE".to_owned(), false),
            ("~ variables.GREETING value changed".to_owned(), false),
            (
                "~ variables.KEY now reads host environment CARGO_PKG_NAME".to_owned(),
                true
            ),
            ("+ variables.NEW".to_owned(), true),
        ]
    );
    // Reading the same host variable as before, in another value, is not
    // an escalation.
    let same_env = CapabilityDiff::between(
        &version("[variables]\nKEY = '${env.CARGO_PKG_NAME}'\n"),
        &version("[variables]\nKEY = 'v ${env.CARGO_PKG_NAME}'\n"),
    );
    assert_eq!(
        lines(&same_env),
        [("~ variables.KEY value changed".to_owned(), false)]
    );
    assert_eq!(
        diff.changes[1],
        change(
            ChangeKind::Variable,
            Direction::Changed,
            "GREETING value changed"
        )
    );
    let everything = format!("{diff}\n{diff:?}\n{}", toml::to_string(&diff).unwrap());
    for value in [
        "gone-value",
        "hello",
        "bonjour",
        "old-key",
        "wharf-manifest",
        "new-value",
    ] {
        assert!(!everything.contains(value), "{value} in {everything}");
    }
}

#[test]
fn a_variable_made_secret_is_changed() {
    let diff = diff(
        "[variables]\nA = 'x'\nB = { value = 'y', secret = true }\n",
        "[variables]\nA = { value = 'x', secret = true }\nB = 'y'\n",
    );
    assert_eq!(
        lines(&diff),
        [
            ("~ variables.A now secret".to_owned(), false),
            ("~ variables.B no longer secret".to_owned(), false),
        ]
    );
}

#[test]
fn larger_limits_are_widened_and_escalate() {
    let diff = diff(
        "[limits]\nmax_response_body = '2MiB'\n",
        "[limits]\nmemory = '256MiB'\ncpu_time = '10s'\ntimeout = '1m'\nmax_concurrent = 200\n\
         max_queued = 1000\nqueue_timeout = '5500ms'\nmax_request_body = '1GiB'\n\
         instance_reuse = 128\n",
    );
    assert_eq!(
        lines(&diff),
        [
            ("~ limits.memory 64 MiB -> 256 MiB (more)".to_owned(), true),
            ("~ limits.cpu_time 5s -> 10s (more)".to_owned(), true),
            ("~ limits.timeout 30s -> 1m (more)".to_owned(), true),
            ("~ limits.max_concurrent 100 -> 200 (more)".to_owned(), true),
            ("~ limits.max_queued 100 -> 1000 (more)".to_owned(), true),
            (
                "~ limits.queue_timeout 5s -> 5s 500ms (more)".to_owned(),
                true
            ),
            (
                "~ limits.max_request_body 128 MiB -> 1 GiB (more)".to_owned(),
                true
            ),
            // Reusing instances weakens isolation between requests.
            ("~ limits.instance_reuse 1 -> 128 (more)".to_owned(), true),
            (
                "~ limits.max_response_body 2 MiB -> unlimited (more)".to_owned(),
                true
            ),
        ]
    );
    assert!(diff.changes.iter().all(|c| c.kind == ChangeKind::Limit));
    assert_eq!(diff.changes[0].detail, "memory 64 MiB -> 256 MiB");
}

#[test]
fn smaller_limits_are_narrowed_and_do_not_escalate() {
    let diff = diff(
        "",
        "[limits]\nmemory = '1536KiB'\ncpu_time = '250ms'\nmax_queued = 0\nmax_response_body = '1000B'\n",
    );
    assert_eq!(
        lines(&diff),
        [
            (
                "~ limits.memory 64 MiB -> 1536 KiB (less)".to_owned(),
                false
            ),
            ("~ limits.cpu_time 5s -> 250ms (less)".to_owned(), false),
            ("~ limits.max_queued 100 -> 0 (less)".to_owned(), false),
            (
                "~ limits.max_response_body unlimited -> 1000 B (less)".to_owned(),
                false
            ),
        ]
    );
    assert!(
        diff.changes
            .iter()
            .all(|c| c.direction == Direction::Narrowed)
    );
    assert!(!diff.escalates());
}

#[test]
fn routes_are_shown_but_never_escalate() {
    let active = parse_service_section(
        "api",
        "routes = ['/old/...', '/']\n",
        Path::new("test"),
        &crate_dir(),
    )
    .unwrap();
    let candidate = parse_service_section(
        "api",
        "routes = ['/', '/new']\n",
        Path::new("test"),
        &crate_dir(),
    )
    .unwrap();
    let diff = CapabilityDiff::between(&active, &candidate);
    assert_eq!(
        diff.changes,
        [
            change(ChangeKind::Route, Direction::Removed, "/old/..."),
            change(ChangeKind::Route, Direction::Added, "/new"),
        ]
    );
    assert_eq!(diff.to_string(), "- routes /old/...\n+ routes /new");
    assert!(!diff.is_empty());
    assert!(!diff.escalates());
}

#[test]
fn displays_one_line_per_change_grouped_by_kind() {
    let diff = diff(
        "files = [{ source = 'tests', path = '/data' }]\n[variables]\nGREETING = 'hi'\n",
        "outbound = ['https://api.example.com']\nsockets = ['127.0.0.1:5432']\n\
         [variables]\nGREETING = 'hello'\n[limits]\nmemory = '256MiB'\n",
    );
    assert_eq!(
        diff.to_string(),
        format!(
            "+ outbound https://api.example.com:443\n\
             - files /data -> {} (read-only)\n\
             + sockets 127.0.0.1:5432\n\
             ~ variables.GREETING value changed\n\
             ~ limits.memory 64 MiB -> 256 MiB (more)",
            crate_dir().join("tests").display()
        )
    );
    let escalations: Vec<String> = diff.escalations().map(ToString::to_string).collect();
    assert_eq!(
        escalations,
        [
            "+ outbound https://api.example.com:443",
            "+ sockets 127.0.0.1:5432",
            "~ limits.memory 64 MiB -> 256 MiB (more)",
        ]
    );
    assert!(diff.escalates());
}

#[test]
fn serializes_with_kebab_case_names() {
    let diff = CapabilityDiff {
        changes: vec![
            change(ChangeKind::Outbound, Direction::Added, "https://a.com:443"),
            change(
                ChangeKind::Limit,
                Direction::Narrowed,
                "memory 64 MiB -> 1 MiB",
            ),
        ],
    };
    let text = toml::to_string(&diff).unwrap();
    assert_eq!(
        text,
        "[[changes]]\nkind = \"outbound\"\ndirection = \"added\"\ndetail = \"https://a.com:443\"\n\n\
         [[changes]]\nkind = \"limit\"\ndirection = \"narrowed\"\ndetail = \"memory 64 MiB -> 1 MiB\"\n"
    );
    assert_eq!(toml::from_str::<CapabilityDiff>(&text).unwrap(), diff);
}

#[test]
fn publish_patterns_added_escalate_unless_covered_and_removed_do_not() {
    let diff = diff(
        "publish = ['orders.>', 'audit.log']\n",
        "publish = ['orders.*', 'orders.created.eu', 'inventory.>', 'inventory.>']\n",
    );
    assert_eq!(
        diff.changes,
        [
            change(ChangeKind::Publish, Direction::Removed, "orders.>"),
            change(ChangeKind::Publish, Direction::Removed, "audit.log"),
            change(ChangeKind::Publish, Direction::Added, "inventory.>"),
        ]
    );
    assert_eq!(
        lines(&diff),
        [
            ("- publish orders.>".to_owned(), false),
            ("- publish audit.log".to_owned(), false),
            ("+ publish inventory.>".to_owned(), true),
        ]
    );

    // A wider pattern is new, and the narrower one it replaces is not lost;
    // `>` covers everything.
    assert_eq!(
        lines(&self::diff(
            "publish = ['orders.*']\n",
            "publish = ['orders.>']\n"
        )),
        [("+ publish orders.>".to_owned(), true)]
    );
    assert_eq!(
        lines(&self::diff(
            "publish = ['>']\n",
            "publish = ['a.b', 'a.*', 'x.>']\n"
        )),
        [("- publish >".to_owned(), false)]
    );
    assert!(!self::diff("publish = ['>']\n", "").escalates());
}

#[test]
fn subscriptions_added_escalate_and_removed_do_not() {
    let diff = diff(
        "subscriptions = [{ topic = 'orders.created', queue_group = 'inventory' }, \
         { topic = 'inventory.check' }]\n",
        "subscriptions = [{ topic = 'orders.created' }, { topic = 'inventory.check' }, \
         { topic = 'orders.created', queue_group = 'other' }]\n",
    );
    assert_eq!(
        lines(&diff),
        [
            (
                "- subscriptions orders.created (queue inventory)".to_owned(),
                false
            ),
            ("+ subscriptions orders.created".to_owned(), true),
            (
                "+ subscriptions orders.created (queue other)".to_owned(),
                true
            ),
        ]
    );
    assert_eq!(
        diff.changes[0],
        change(
            ChangeKind::Subscription,
            Direction::Removed,
            "orders.created (queue inventory)"
        )
    );
    assert!(diff.escalates());

    // Subscriptions are matched as written: a topic an active pattern covers
    // is still a new subscription.
    assert_eq!(
        lines(&self::diff(
            "subscriptions = [{ topic = 'orders.>' }]\n",
            "subscriptions = [{ topic = 'orders.>' }, { topic = 'orders.created' }]\n",
        )),
        [("+ subscriptions orders.created".to_owned(), true)]
    );
    let removed = self::diff("subscriptions = [{ topic = 'orders.>' }]\n", "");
    assert_eq!(
        lines(&removed),
        [("- subscriptions orders.>".to_owned(), false)]
    );
}

#[test]
fn changed_subscription_settings_are_changed_and_do_not_escalate() {
    let diff = diff(
        "subscriptions = [{ topic = 'orders.created', queue_group = 'inventory' }, \
         { topic = 'orders.*', max_in_flight = 8, retries = 5, durable = true }]\n",
        "subscriptions = [{ topic = 'orders.created', queue_group = 'inventory', \
         max_in_flight = 64, retries = 0, durable = true }, { topic = 'orders.*' }]\n",
    );
    assert_eq!(
        lines(&diff),
        [
            (
                "~ subscriptions orders.created (queue inventory) max_in_flight 16 -> 64"
                    .to_owned(),
                false
            ),
            (
                "~ subscriptions orders.created (queue inventory) retries 3 -> 0".to_owned(),
                false
            ),
            (
                "~ subscriptions orders.created (queue inventory) now durable".to_owned(),
                false
            ),
            (
                "~ subscriptions orders.* max_in_flight 8 -> 16".to_owned(),
                false
            ),
            ("~ subscriptions orders.* retries 5 -> 3".to_owned(), false),
            (
                "~ subscriptions orders.* no longer durable".to_owned(),
                false
            ),
        ]
    );
    assert!(
        diff.changes
            .iter()
            .all(|c| (c.kind, c.direction) == (ChangeKind::Subscription, Direction::Changed))
    );
    assert!(!diff.escalates());
}

#[test]
fn a_changed_dead_letter_escalates() {
    let diff = diff(
        "subscriptions = [{ topic = 'orders.*', dead_letter = 'orders.failed' }, \
         { topic = 'a.b' }]\n",
        "subscriptions = [{ topic = 'orders.*' }, { topic = 'a.b', retries = 1, \
         dead_letter = 'a.b.dlq' }]\n",
    );
    assert_eq!(
        diff.changes,
        [
            change(
                ChangeKind::Subscription,
                Direction::Changed,
                "a.b retries 3 -> 1"
            ),
            change(
                ChangeKind::DeadLetter,
                Direction::Changed,
                "orders.* dead_letter orders.failed -> dlq.api"
            ),
        ]
    );
    assert_eq!(
        lines(&diff),
        [
            ("~ subscriptions a.b retries 3 -> 1".to_owned(), false),
            (
                "~ subscriptions orders.* dead_letter orders.failed -> dlq.api".to_owned(),
                true
            ),
        ]
    );
    // Spelling out the default changes nothing.
    assert!(
        self::diff(
            "subscriptions = [{ topic = 'a.b' }]\n",
            "subscriptions = [{ topic = 'a.b', dead_letter = 'a.b.dlq' }]\n"
        )
        .is_empty()
    );
}

#[test]
fn messaging_changes_come_after_sockets_and_before_variables() {
    let diff = diff(
        "[variables]\nA = 'x'\n",
        "sockets = ['127.0.0.1:1']\npublish = ['a.>']\n\
         subscriptions = [{ topic = 'b', dead_letter = 'c' }]\n",
    );
    assert_eq!(
        diff.to_string(),
        "+ sockets 127.0.0.1:1\n+ publish a.>\n+ subscriptions b\n- variables.A"
    );
}

#[test]
fn messaging_kinds_serialize_with_kebab_case_names() {
    let diff = CapabilityDiff {
        changes: vec![
            change(ChangeKind::Publish, Direction::Added, "orders.>"),
            change(ChangeKind::Subscription, Direction::Added, "a (queue b)"),
            change(
                ChangeKind::DeadLetter,
                Direction::Changed,
                "a dead_letter a.dlq -> x",
            ),
        ],
    };
    let text = toml::to_string(&diff).unwrap();
    let kinds: Vec<&str> = text.lines().filter(|l| l.starts_with("kind")).collect();
    assert_eq!(
        kinds,
        [
            "kind = \"publish\"",
            "kind = \"subscription\"",
            "kind = \"dead-letter\""
        ]
    );
    assert_eq!(toml::from_str::<CapabilityDiff>(&text).unwrap(), diff);
}

#[test]
fn key_value_stores_added_escalate_and_removed_do_not() {
    let diff = diff(
        "key_value_stores = ['default', 'old']\n",
        "key_value_stores = ['default', 'cache']\n",
    );
    assert_eq!(
        diff.changes,
        [
            change(ChangeKind::KeyValueStore, Direction::Removed, "old"),
            change(ChangeKind::KeyValueStore, Direction::Added, "cache"),
        ]
    );
    assert_eq!(
        lines(&diff),
        [
            ("- key_value_stores old".to_owned(), false),
            ("+ key_value_stores cache".to_owned(), true),
        ]
    );
    assert!(diff.escalates());
    let text = toml::to_string(&diff).unwrap();
    assert!(text.contains("kind = \"key-value-store\""), "{text}");
    // None → some is an escalation too; the same set in another order is
    // no change.
    assert!(diff_escalates("", "key_value_stores = ['default']\n"));
    assert!(
        self::diff(
            "key_value_stores = ['a', 'b']\n",
            "key_value_stores = ['b', 'a']\n"
        )
        .is_empty()
    );
}

fn diff_escalates(active: &str, candidate: &str) -> bool {
    diff(active, candidate).escalates()
}

#[test]
fn directories_are_compared_resolved_not_as_written() {
    // `tests/ui/..` is `tests`: not another host directory.
    let dotted = diff(
        "files = [{ source = 'tests', path = '/t' }]\n",
        "files = [{ source = 'tests/ui/..', path = '/t' }]\n",
    );
    assert!(dotted.is_empty(), "{dotted}");
    // A symlink is resolved too.
    let link = std::env::temp_dir().join(format!("wharf-diff-link-{}", std::process::id()));
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(crate_dir().join("tests"), &link).unwrap();
    let linked = diff(
        "files = [{ source = 'tests', path = '/t' }]\n",
        &format!(
            "files = [{{ source = {:?}, path = '/t' }}]\n",
            link.to_str().unwrap()
        ),
    );
    std::fs::remove_file(&link).unwrap();
    assert!(linked.is_empty(), "{linked}");
}
