//! Per-program link settings for the guest components.

fn main() {
    // `http_wasi_0_2_0` must import only WASI 0.2.0 interfaces. By default
    // wasm-component-ld merges imports of one interface across semver-compatible
    // versions, upgrading them to the newest version named by *any* component
    // type linked into the module (Rust std's and the `wasi` 0.14 crate's
    // worlds are linked into every binary here), which would turn this
    // program's imports into 0.2.4/0.2.6 ones.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-bin=http_wasi_0_2_0=--merge-imports-based-on-semver=false");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
