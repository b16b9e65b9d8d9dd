//! The shape of `wharf.toml` as serde sees it.
//!
//! These types mirror the file one to one and stay private: they carry
//! [`Spanned`] wrappers so validation can point at a line, and nothing else
//! depends on them, so the file format can grow (new optional tables such as
//! `[service.x.limits]`) without touching the public, validated types in the
//! crate root. Every struct denies unknown fields so a typo is an error, not a
//! silently ignored setting.
//!
//! To add a setting: add a field here, then turn it into a public field of the
//! validated type in `validate.rs`.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde_spanned::Spanned;

/// The top-level table.
///
/// Services are deserialized one by one by the validator (so a mistake in one
/// does not hide mistakes in the next); here `service` only checks that it is
/// a table, and lets serde report unknown top-level keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub(crate) struct RawManifest {
    /// `[app]`.
    #[serde(default)]
    pub(crate) app: Option<RawApp>,
    /// `[service.<name>]`, one entry per service; see [`RawService`].
    #[serde(default, rename = "service")]
    pub(crate) _service: Option<BTreeMap<String, IgnoredAny>>,
}

/// `[app]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an `[app]` table")]
pub(crate) struct RawApp {
    /// `name = "shop"`.
    pub(crate) name: Option<Spanned<String>>,
}

/// `[service.<name>]`, or the body of one deployed on its own.
///
/// `C` is the type of `component`: [`Spanned<RawComponent>`] (required) in a
/// manifest, [`NoComponent`] in a deployed section. One struct for both keeps
/// the two inputs from drifting apart.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a `[service.<name>]` table")]
pub(crate) struct RawService<C> {
    /// `component = "x.wasm"` or `component = { cargo = "dir" }`.
    pub(crate) component: C,
    /// `routes = ["/", "/api/..."]`; may be left out by a service with
    /// subscriptions, so the validator reports its absence.
    pub(crate) routes: Option<Spanned<Vec<Spanned<String>>>>,
    /// `version = "1.0.0"`.
    pub(crate) version: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) outbound: Vec<Spanned<String>>,
    #[serde(default)]
    pub(crate) files: Vec<Spanned<RawFile>>,
    #[serde(default)]
    pub(crate) sockets: Vec<Spanned<String>>,
    /// `publish = ["orders.>"]`.
    #[serde(default)]
    pub(crate) publish: Vec<Spanned<String>>,
    /// `subscriptions = [{ topic = "orders.created" }]`.
    #[serde(default)]
    pub(crate) subscriptions: Vec<Spanned<RawSubscription>>,
    #[serde(default)]
    pub(crate) variables: BTreeMap<String, Spanned<RawVariable>>,
    #[serde(default)]
    pub(crate) limits: Option<Spanned<RawLimits>>,
    /// `key_value_stores = ["default", "cache"]`.
    #[serde(default)]
    pub(crate) key_value_stores: Vec<Spanned<String>>,
}

/// The `component` of a deployed section: always `None`, because the
/// validator takes the key out of the table (reporting it) before serde sees
/// it. An `Option` so that serde accepts its absence.
pub(crate) type NoComponent = Option<IgnoredAny>;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like `{ source = \"./static\", path = \"/static\", mode = \"ro\" }`"
)]
pub(crate) struct RawFile {
    pub(crate) source: Spanned<String>,
    pub(crate) path: Spanned<String>,
    pub(crate) mode: Option<Spanned<String>>,
}

/// One entry of `subscriptions`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like `{ topic = \"orders.created\", queue_group = \"inventory\" }`"
)]
pub(crate) struct RawSubscription {
    pub(crate) topic: Spanned<String>,
    pub(crate) queue_group: Option<Spanned<String>>,
    pub(crate) max_in_flight: Option<Spanned<u32>>,
    pub(crate) retries: Option<Spanned<u32>>,
    pub(crate) dead_letter: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) durable: bool,
}

#[derive(Debug)]
pub(crate) enum RawVariable {
    Plain(String),
    Table(RawVariableTable),
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a `{ value = \"...\", secret = true }` table"
)]
pub(crate) struct RawVariableTable {
    pub(crate) value: String,
    #[serde(default)]
    pub(crate) secret: bool,
}

impl<'de> Deserialize<'de> for RawVariable {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VariableVisitor;

        impl<'de> Visitor<'de> for VariableVisitor {
            type Value = RawVariable;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a table like `{ value = \"...\", secret = true }`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawVariable, E> {
                Ok(RawVariable::Plain(value.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawVariable, A::Error> {
                RawVariableTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawVariable::Table)
            }
        }

        deserializer.deserialize_any(VariableVisitor)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a `[service.<name>.limits]` table")]
pub(crate) struct RawLimits {
    pub(crate) memory: Option<Spanned<String>>,
    pub(crate) cpu_time: Option<Spanned<String>>,
    pub(crate) timeout: Option<Spanned<String>>,
    pub(crate) max_concurrent: Option<Spanned<u32>>,
    pub(crate) max_queued: Option<Spanned<u32>>,
    pub(crate) queue_timeout: Option<Spanned<String>>,
    pub(crate) max_request_body: Option<Spanned<String>>,
    pub(crate) max_response_body: Option<Spanned<String>>,
    pub(crate) instance_reuse: Option<Spanned<u32>>,
}

/// The value of `component`: a path string or a table naming the sources
/// `wharf build` compiles (`{ cargo = "dir" }`, `{ python = "app.py" }`,
/// `{ js = "app.js" }`).
#[derive(Debug)]
pub(crate) enum RawComponent {
    /// `component = "build/hello.wasm"`, or `"oci://…"` for a component in
    /// a registry (told apart by the validator).
    File(String),
    /// `component = { cargo = "services/hello" }` and its siblings; the
    /// validator checks that exactly one key is set.
    Build(RawBuild),
}

/// `component = { cargo = "services/hello" }`, `{ python = "app.py" }` or
/// `{ js = "app.js" }`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like `{ cargo = \"dir\" }`, `{ python = \"app.py\" }` or `{ js = \"app.js\" }`"
)]
pub(crate) struct RawBuild {
    /// A Cargo package directory.
    pub(crate) cargo: Option<Spanned<String>>,
    /// A Python module, built with componentize-py.
    pub(crate) python: Option<Spanned<String>>,
    /// A JavaScript module, built with componentize-js.
    pub(crate) js: Option<Spanned<String>>,
}

// Hand-written rather than `#[serde(untagged)]`, whose only error is "data did
// not match any variant": this way a wrong type names what is expected, and a
// typo inside the table is reported as an unknown field.
impl<'de> Deserialize<'de> for RawComponent {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ComponentVisitor;

        impl<'de> Visitor<'de> for ComponentVisitor {
            type Value = RawComponent;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a path to a `.wasm` file or a table like `{ cargo = \"dir\" }`, \
                     `{ python = \"app.py\" }` or `{ js = \"app.js\" }`",
                )
            }

            fn visit_str<E: de::Error>(self, path: &str) -> Result<RawComponent, E> {
                Ok(RawComponent::File(path.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawComponent, A::Error> {
                RawBuild::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawComponent::Build)
            }
        }

        deserializer.deserialize_any(ComponentVisitor)
    }
}
