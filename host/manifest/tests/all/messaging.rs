//! `publish` and `subscriptions`: what valid messaging settings turn into,
//! their defaults, and when `routes` may be left out. Every error is in the
//! ui cases `invalid_messaging` and `routes_and_subscriptions`.

use std::path::Path;

use wharf_manifest::{Manifest, ManifestError, Route, ServiceSpec, Subscription};

const WASM: &str = "tests/ui/fixtures/existing-file";

fn parse(source: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(source, Path::new("wharf.toml"))
}

/// The only service of a manifest made of `[service.inventory]` with a
/// component and `rest`.
fn inventory(rest: &str) -> ServiceSpec {
    let source = format!("[service.inventory]\ncomponent = \"{WASM}\"\n{rest}");
    let mut manifest = parse(&source).unwrap_or_else(|e| panic!("{e}\n{source}"));
    manifest.services.remove(0)
}

fn error_text(rest: &str) -> String {
    let source = format!("[service.inventory]\ncomponent = \"{WASM}\"\n{rest}");
    match parse(&source) {
        Ok(manifest) => panic!("expected an error, got {manifest:#?}"),
        Err(err) => err.to_string(),
    }
}

fn subscription(topic: &str, queue_group: Option<&str>) -> Subscription {
    Subscription {
        topic: topic.to_owned(),
        queue_group: queue_group.map(str::to_owned),
        max_in_flight: 16,
        retries: 3,
        dead_letter: Subscription::default_dead_letter(topic, "inventory"),
        durable: false,
    }
}

#[test]
fn parses_every_messaging_key() {
    let service = inventory(
        r#"
routes = ["/inventory/..."]
publish = ["inventory.>", "orders.reserved"]
subscriptions = [
  { topic = "orders.created", queue_group = "inventory" },
  { topic = "inventory.check" },
  { topic = "orders.*", max_in_flight = 8, retries = 5, dead_letter = "orders.failed", durable = true },
]
"#,
    );
    assert_eq!(service.routes, [Route::Prefix("/inventory".into())]);
    assert_eq!(service.publish, ["inventory.>", "orders.reserved"]);
    assert_eq!(
        service.subscriptions,
        [
            Subscription {
                topic: "orders.created".into(),
                queue_group: Some("inventory".into()),
                max_in_flight: 16,
                retries: 3,
                dead_letter: "orders.created.dlq".into(),
                durable: false,
            },
            Subscription {
                topic: "inventory.check".into(),
                queue_group: None,
                max_in_flight: 16,
                retries: 3,
                dead_letter: "inventory.check.dlq".into(),
                durable: false,
            },
            Subscription {
                topic: "orders.*".into(),
                queue_group: None,
                max_in_flight: 8,
                retries: 5,
                dead_letter: "orders.failed".into(),
                durable: true,
            },
        ]
    );
}

#[test]
fn messaging_is_absent_by_default() {
    let service = inventory("routes = ['/...']\n");
    assert!(service.publish.is_empty());
    assert!(service.subscriptions.is_empty());
}

#[test]
fn defaults_are_the_documented_ones() {
    assert_eq!(Subscription::DEFAULT_MAX_IN_FLIGHT, 16);
    assert_eq!(Subscription::MAX_MAX_IN_FLIGHT, 1024);
    assert_eq!(Subscription::DEFAULT_RETRIES, 3);
    assert_eq!(Subscription::MAX_RETRIES, 20);
    assert_eq!(
        Subscription::default_dead_letter("orders.created", "inventory"),
        "orders.created.dlq"
    );
    for pattern in ["orders.*", "orders.>", ">", "*.created"] {
        assert_eq!(
            Subscription::default_dead_letter(pattern, "inventory"),
            "dlq.inventory"
        );
    }
}

#[test]
fn the_default_dead_letter_depends_on_wildcards() {
    let service = inventory(
        "subscriptions = [{ topic = 'orders.created' }, { topic = 'orders.>' }, { topic = '*' }]\n",
    );
    let dead_letters: Vec<&str> = service
        .subscriptions
        .iter()
        .map(|s| s.dead_letter.as_str())
        .collect();
    assert_eq!(
        dead_letters,
        ["orders.created.dlq", "dlq.inventory", "dlq.inventory"]
    );
}

#[test]
fn accepts_the_bounds_of_every_range() {
    let group = "g".repeat(64);
    let service = inventory(&format!(
        "subscriptions = [\n\
         {{ topic = 'a', max_in_flight = 1, retries = 0, queue_group = '{group}' }},\n\
         {{ topic = 'a', max_in_flight = 1024, retries = 20, queue_group = 'A_z-09' }},\n\
         ]\n"
    ));
    let settings: Vec<(u32, u32)> = service
        .subscriptions
        .iter()
        .map(|s| (s.max_in_flight, s.retries))
        .collect();
    assert_eq!(settings, [(1, 0), (1024, 20)]);
}

#[test]
fn the_same_topic_in_other_queue_groups_is_another_subscription() {
    let service = inventory(
        "subscriptions = [{ topic = 'a' }, { topic = 'a', queue_group = 'x' }, \
         { topic = 'a', queue_group = 'y' }, { topic = 'a.*' }]\n",
    );
    assert_eq!(
        service.subscriptions,
        [
            subscription("a", None),
            subscription("a", Some("x")),
            subscription("a", Some("y")),
            subscription("a.*", None),
        ]
    );
}

#[test]
fn accepts_arrays_of_subscription_tables() {
    let service = inventory(
        "\n[[service.inventory.subscriptions]]\ntopic = 'orders.created'\n\
         queue_group = 'inventory'\n\n[[service.inventory.subscriptions]]\ntopic = 'inventory.check'\n",
    );
    assert_eq!(
        service.subscriptions,
        [
            subscription("orders.created", Some("inventory")),
            subscription("inventory.check", None),
        ]
    );
    assert!(service.routes.is_empty());
}

#[test]
fn routes_are_optional_with_subscriptions() {
    let absent = inventory("subscriptions = [{ topic = 'jobs.>' }]\n");
    assert!(absent.routes.is_empty());
    let empty = inventory("routes = []\nsubscriptions = [{ topic = 'jobs.>' }]\n");
    assert!(empty.routes.is_empty());
    let both = inventory("routes = ['/jobs']\nsubscriptions = [{ topic = 'jobs.>' }]\n");
    assert_eq!(both.routes, [Route::Exact("/jobs".into())]);
}

#[test]
fn routes_are_still_required_without_subscriptions() {
    assert_eq!(
        error_text("publish = ['jobs.new']\n"),
        "wharf.toml:1:1: service.inventory: missing field `routes`"
    );
    assert_eq!(
        error_text("subscriptions = []\n"),
        "wharf.toml:1:1: service.inventory: missing field `routes`"
    );
    assert_eq!(
        error_text("routes = []\npublish = ['jobs.new']\n"),
        "wharf.toml:3:10: service.inventory.routes: at least one route is required, e.g. \
         `routes = [\"/...\"]`"
    );
}

#[test]
fn invalid_subscriptions_still_make_routes_optional() {
    // Only the subscription is wrong; a missing route would be a second,
    // misleading error.
    assert_eq!(
        error_text("subscriptions = [{ topic = 'a..b' }]\n"),
        "wharf.toml:3:28: service.inventory.subscriptions[0].topic: `a..b` is not a valid topic: \
         it has an empty token (tokens are separated by single dots, with none at the start or \
         end)"
    );
}

#[test]
fn a_default_dead_letter_must_fit_in_a_topic() {
    let longest = "a".repeat(251);
    let service = inventory(&format!("subscriptions = [{{ topic = '{longest}' }}]\n"));
    assert_eq!(service.subscriptions[0].dead_letter.len(), 255);

    let too_long = "a".repeat(252);
    assert_eq!(
        error_text(&format!("subscriptions = [{{ topic = '{too_long}' }}]\n")),
        "wharf.toml:3:28: service.inventory.subscriptions[0].topic: the default dead_letter \
         `<topic>.dlq` would be longer than 255 characters; set `dead_letter`"
    );
    inventory(&format!(
        "subscriptions = [{{ topic = '{too_long}', dead_letter = 'x' }}]\n"
    ));
    // A pattern's default does not grow with the topic.
    let pattern = format!("{}.>", "a".repeat(253));
    let service = inventory(&format!("subscriptions = [{{ topic = '{pattern}' }}]\n"));
    assert_eq!(service.subscriptions[0].dead_letter, "dlq.inventory");
}

#[test]
fn every_mistake_of_a_service_is_reported_at_once() {
    let text = error_text(
        "publish = ['a b']\nsubscriptions = [{ topic = 'x', queue_group = '', retries = 99 }]\n",
    );
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn single_component_has_no_messaging() {
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join(WASM);
    let manifest = Manifest::single_component(&wasm).unwrap();
    assert!(manifest.services[0].publish.is_empty());
    assert!(manifest.services[0].subscriptions.is_empty());
}
