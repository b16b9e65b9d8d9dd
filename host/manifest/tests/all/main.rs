//! Integration tests for `wharf-manifest`: one binary, one module per area.
//!
//! - `ui`: golden files, `tests/ui/<case>.toml` against `<case>.expected`, and
//!   `tests/ui/sections/` for deployed sections.
//! - `parse`: valid manifests and the public types they produce.
//! - `load`: finding and reading `wharf.toml` on disk, and `single_component`.
//! - `section`: a service section deployed on its own, and extracting one.
//! - `messaging`: `publish` and `subscriptions`, and routes made optional by
//!   subscriptions.
//! - `diff`: capability differences between two versions of a service.
//! - `oci`: `component = "oci://…"` references.
//! - `properties`: property tests (proptest): no input panics the parser,
//!   every error is positioned.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod diff;
mod load;
mod messaging;
mod oci;
mod parse;
mod properties;
mod section;
mod ui;
