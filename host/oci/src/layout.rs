//! The Wasm OCI artifact layout, the one other Wasm tooling (wkg,
//! wasm-pkg-tools, wash, `oci-wasm`) pushes and pulls.
//!
//! One OCI image manifest with
//! - a config blob of media type [`WASM_CONFIG_MEDIA_TYPE`]: the JSON
//!   [`WasmConfig`] (`architecture = "wasm"`, `os = "wasip2"`, the layer
//!   digests, and the component's top-level imports and exports);
//! - exactly one layer of media type [`WASM_LAYER_MEDIA_TYPE`]: the
//!   component's bytes as they are, so the layer digest is the component's
//!   sha256, the name Wharf stores and deploys it by.
//!
//! [`inspect_component`] is also the gate `wharf push` and every pull go
//! through: only valid WebAssembly components pass.

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use wasmparser::{Parser, Payload, Validator, WasmFeatures};
use wharf_deploy::Digest;

/// Media type of the OCI image manifest.
pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// Media type of the config blob of a Wasm artifact.
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
/// Media type of the layer holding the component.
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";
/// `architecture` of every Wasm artifact.
pub const WASM_ARCHITECTURE: &str = "wasm";
/// `os` of a component (a core module would be `wasip1`).
pub const COMPONENT_OS: &str = "wasip2";

/// The config blob of a Wasm artifact (field names as in the layout's
/// JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WasmConfig {
    /// When the artifact was made, RFC 3339.
    pub created: String,
    /// Who made it; Wharf leaves it empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Always [`WASM_ARCHITECTURE`].
    pub architecture: String,
    /// [`COMPONENT_OS`] for a component.
    pub os: String,
    /// The digests of the manifest's layers, in order. They make the config
    /// (and so the manifest) unique per component.
    pub layer_digests: Vec<String>,
    /// The component's imports and exports; required when `os` is `wasip2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentInfo>,
}

/// What a component imports and exports at its top level, by name
/// (`wasi:http/incoming-handler@0.2.0`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentInfo {
    /// Names of the top-level exports.
    pub exports: Vec<String>,
    /// Names of the top-level imports.
    pub imports: Vec<String>,
    /// The WIT world the component targets, when known; Wharf does not set
    /// it.
    #[serde(default)]
    pub target: Option<String>,
}

impl WasmConfig {
    /// The config for a component with digest `digest` and the given
    /// imports and exports, created now.
    pub fn for_component(digest: &Digest, component: ComponentInfo) -> Self {
        Self {
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            author: None,
            architecture: WASM_ARCHITECTURE.to_owned(),
            os: COMPONENT_OS.to_owned(),
            layer_digests: vec![digest.to_string()],
            component: Some(component),
        }
    }
}

/// Checks that `bytes` are a valid WebAssembly component and lists its
/// top-level imports and exports.
///
/// # Errors
///
/// A message for people: not WebAssembly at all, a core module rather than a
/// component, or a component that does not validate.
pub fn inspect_component(bytes: &[u8]) -> anyhow::Result<ComponentInfo> {
    if !bytes.starts_with(b"\0asm") {
        bail!("not a WebAssembly file (it does not start with the `\\0asm` magic number)");
    }
    if !Parser::is_component(bytes) {
        if Parser::is_core_wasm(bytes) {
            bail!(
                "a core WebAssembly module, not a component; Wharf runs components \
                 (build for wasm32-wasip2, or wrap the module with `wasm-tools component new`)"
            );
        }
        bail!("not a WebAssembly component (unknown binary version)");
    }
    // Every proposal is accepted here: the host decides at deploy time what
    // its engine runs. This only keeps what is not a component out.
    Validator::new_with_features(WasmFeatures::all())
        .validate_all(bytes)
        .context("not a valid WebAssembly component")?;
    let mut info = ComponentInfo::default();
    // Nested modules and components have their own imports and exports;
    // only the outermost ones (depth 1) describe the component.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.context("not a valid WebAssembly component")? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 1 => {
                for import in reader {
                    let import = import.context("not a valid WebAssembly component")?;
                    info.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 1 => {
                for export in reader {
                    let export = export.context("not a valid WebAssembly component")?;
                    info.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_is_not_a_component() {
        let err = inspect_component(b"hello").unwrap_err().to_string();
        assert!(err.contains("not a WebAssembly file"), "{err}");
        let module = b"\0asm\x01\0\0\0";
        let err = inspect_component(module).unwrap_err().to_string();
        assert!(err.contains("core WebAssembly module"), "{err}");
        // A component header followed by garbage.
        let broken = b"\0asm\x0d\0\x01\0\xff\xff";
        let err = format!("{:#}", inspect_component(broken).unwrap_err());
        assert!(err.contains("not a valid WebAssembly component"), "{err}");
    }

    #[test]
    fn lists_a_components_top_level_imports_and_exports() {
        let bytes = std::fs::read(wharf_test_artifacts::HTTP_HELLO_COMPONENT).unwrap();
        let info = inspect_component(&bytes).unwrap();
        assert!(
            info.exports
                .iter()
                .any(|e| e.starts_with("wasi:http/incoming-handler@")),
            "{info:?}"
        );
        assert!(
            info.imports.iter().any(|i| i.starts_with("wasi:io/")),
            "{info:?}"
        );
        // Nested core modules' imports (`wasi_snapshot_preview1`, …) are not
        // the component's.
        assert!(info.imports.iter().all(|i| i.contains(':')), "{info:?}");
    }

    #[test]
    fn the_config_has_the_layouts_field_names() {
        let digest = Digest::of(b"component");
        let config = WasmConfig::for_component(
            &digest,
            ComponentInfo {
                exports: vec!["wasi:http/incoming-handler@0.2.0".to_owned()],
                imports: vec![],
                target: None,
            },
        );
        let json: serde_json::Value = serde_json::to_value(&config).unwrap();
        assert_eq!(json["architecture"], "wasm");
        assert_eq!(json["os"], "wasip2");
        assert_eq!(json["layerDigests"][0], digest.to_string());
        assert_eq!(
            json["component"]["exports"][0],
            "wasi:http/incoming-handler@0.2.0"
        );
        assert!(json["created"].as_str().unwrap().ends_with('Z'));
        let back: WasmConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }
}
