//! Integration tests for `wharf-manifest`: one binary, one module per area.
//!
//! - `ui`: golden files, `tests/ui/<case>.toml` against `<case>.expected`.
//! - `parse`: valid manifests and the public types they produce.
//! - `load`: finding and reading `wharf.toml` on disk, and `single_component`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod load;
mod parse;
mod ui;
