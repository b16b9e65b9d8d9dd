//! `component = "oci://…"`: a component in an OCI registry, parsed into an
//! [`OciReference`] and reported at its position when malformed.

use std::path::Path;

use wharf_manifest::{ComponentSource, Manifest, ManifestError, OciReference};

fn parse(source: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(source, Path::new("wharf.toml"))
}

#[test]
fn an_oci_component_becomes_a_reference() {
    let manifest = parse(
        "[service.hello]\ncomponent = \"oci://127.0.0.1:5000/wharf/hello:v2\"\nroutes = ['/']\n",
    )
    .unwrap();
    let ComponentSource::Oci(reference) = &manifest.services[0].component else {
        panic!(
            "expected an OCI component: {:?}",
            manifest.services[0].component
        );
    };
    assert_eq!(
        reference,
        &"127.0.0.1:5000/wharf/hello:v2"
            .parse::<OciReference>()
            .unwrap()
    );
    assert_eq!(reference.url(), "oci://127.0.0.1:5000/wharf/hello:v2");
}

#[test]
fn a_malformed_oci_component_is_reported_at_its_position() {
    let source = "[service.hello]\nroutes = ['/']\ncomponent = 'oci://acme/hello'\n\n\
                  [service.other]\ncomponent = \"oci://ghcr.io/acme/Other:v1\"\nroutes = ['/o']\n";
    let err = parse(source).unwrap_err();
    assert_eq!(
        err.to_string(),
        "wharf.toml:3:13: service.hello.component: invalid OCI reference `oci://acme/hello`: \
         `acme` is not a registry: write the registry first, e.g. ghcr.io/acme/… or \
         127.0.0.1:5000/acme/…\n\
         wharf.toml:6:13: service.other.component: invalid OCI reference \
         `oci://ghcr.io/acme/Other:v1`: repository `acme/Other`: `Other` must be lowercase \
         letters and digits, separated by `.`, `_`, `__` or `-`"
    );
}

#[test]
fn an_oci_component_without_a_tag_or_digest_is_refused() {
    let err = parse("[service.hello]\ncomponent = 'oci://ghcr.io/acme/hello'\nroutes = ['/']\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "wharf.toml:2:13: service.hello.component: invalid OCI reference \
         `oci://ghcr.io/acme/hello`: no tag or digest: add `:<tag>` (e.g. \
         `ghcr.io/acme/hello:1.0`) or `@sha256:<digest>`"
    );
}
