//! Standard compatibility: components built without our SDK, by other
//! toolchains and against other WASI 0.2.x minor versions, run unchanged,
//! and get the deny-by-default WASI context.

use wharf_test_artifacts as art;

use crate::common::{InProcessHost, client, service};

async fn get_body(component: &str, path: &str) -> (u16, String) {
    let (host, _app) = InProcessHost::start(&service("svc", component, &["/..."])).await;
    let response = client().get(host.url(path)).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn runs_a_component_built_with_the_wasi_crate() {
    assert_eq!(
        get_body(art::EXAMPLE_HELLO_WASI_COMPONENT, "/").await,
        (200, "Hello from a plain wasi:http component!\n".to_string())
    );
}

#[tokio::test]
async fn runs_a_wstd_async_server() {
    assert_eq!(
        get_body(art::HTTP_WSTD_COMPONENT, "/some/path").await,
        (200, "hello from wstd: /some/path\n".to_string())
    );
}

#[tokio::test]
async fn runs_a_component_built_against_wasi_0_2_0() {
    assert_eq!(
        get_body(art::HTTP_WASI_0_2_0_COMPONENT, "/").await,
        (200, "built against wasi 0.2.0\n".to_string())
    );
}

#[tokio::test]
async fn runs_a_component_importing_wasi_cli_environment_with_an_empty_environment() {
    // The host process has plenty of environment variables; none may leak.
    let (status, body) = get_body(art::HTTP_ENV_COMPONENT, "/").await;
    assert_eq!(status, 200);
    assert!(body.starts_with("vars=0\nargs=0\n"), "{body:?}");
}

#[tokio::test]
async fn runs_a_component_importing_a_newer_wasi_minor() {
    let (status, body) = get_body(art::HTTP_NEWER_MINOR_COMPONENT, "/").await;
    assert_eq!((status, body.as_str()), (200, "env=0\n"));
}
