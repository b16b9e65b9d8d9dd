//! The CLI's side of the admin API: one typed method per endpoint, with
//! every failure turned into a message a person can act on (the host's own
//! error text, and for refused grants the capability diff).

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use wharf_deploy::api::{
    ActivateRequest, ClusterStatus, DeployRequest, DeployResponse, ErrorBody, ServiceStatus,
    TrafficRequest,
};
use wharf_deploy::digest::Digest;

use crate::cli::AdminArgs;
use crate::token;

/// Upload chunk size: small enough for a smooth progress bar.
const CHUNK: usize = 256 * 1024;

/// A client of one host's admin API.
pub struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// A client for the host `args` names; the token comes from
    /// `WHARF_ADMIN_TOKEN` or the state directory.
    pub fn new(args: &AdminArgs) -> anyhow::Result<Self> {
        wharf_oci::install_crypto_provider();
        let state_dir = match &args.state_dir {
            Some(dir) => dir.clone(),
            // The token comes from the environment; no directory is read.
            None if token::from_env() => std::path::PathBuf::new(),
            None => crate::state_dir::default_for(std::path::Path::new("."))?,
        };
        Ok(Self {
            base: args.admin.trim_end_matches('/').to_string(),
            token: token::read(&state_dir)?,
            http: reqwest::Client::builder()
                .build()
                .context("cannot create an HTTP client")?,
        })
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<reqwest::Body>,
        json: Option<&serde_json::Value>,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/octet-stream")
                .body(body);
        }
        if let Some(json) = json {
            request = request.json(json);
        }
        let response = request.send().await.with_context(|| {
            format!("cannot reach the admin API at {url}: is `wharf up` running?")
        })?;
        if response.status().is_success() || response.status() == StatusCode::NOT_FOUND {
            return Ok(response);
        }
        Err(refusal(response).await)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> anyhow::Result<T> {
        let response = self.send(method, path, None, json).await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(refusal(response).await);
        }
        response
            .json()
            .await
            .context("the admin API answered something unexpected")
    }

    /// Every service of the host.
    pub async fn services(&self) -> anyhow::Result<Vec<ServiceStatus>> {
        self.call(Method::GET, "/v1/services", None).await
    }

    /// The host's cluster: desired state and every live host.
    pub async fn cluster(&self) -> anyhow::Result<ClusterStatus> {
        self.call(Method::GET, "/v1/cluster", None).await
    }

    /// Uploads `bytes` unless the host already has them; shows progress.
    pub async fn upload(&self, digest: &Digest, bytes: Bytes) -> anyhow::Result<bool> {
        let path = format!("/v1/components/{digest}");
        let head = self.send(Method::HEAD, &path, None, None).await?;
        if head.status() == StatusCode::OK {
            return Ok(false);
        }
        let bar = ProgressBar::new(bytes.len() as u64).with_style(
            ProgressStyle::with_template(
                "uploading {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let chunks: Vec<Bytes> = (0..bytes.len())
            .step_by(CHUNK)
            .map(|start| bytes.slice(start..bytes.len().min(start + CHUNK)))
            .collect();
        let progress = bar.clone();
        let stream = futures::stream::iter(chunks.into_iter().map(move |chunk| {
            progress.inc(chunk.len() as u64);
            Ok::<_, std::io::Error>(chunk)
        }));
        let response = self
            .send(
                Method::PUT,
                &path,
                Some(reqwest::Body::wrap_stream(stream)),
                None,
            )
            .await;
        bar.finish_and_clear();
        let response = response?;
        if !response.status().is_success() {
            return Err(refusal(response).await);
        }
        Ok(true)
    }

    /// Deploys an uploaded component; shows a spinner while the host
    /// compiles.
    pub async fn deploy(
        &self,
        service: &str,
        request: &DeployRequest,
    ) -> anyhow::Result<DeployResponse> {
        let spinner = ProgressBar::new_spinner()
            .with_message(format!("compiling and checking {service} on the host"));
        spinner.enable_steady_tick(Duration::from_millis(100));
        let json = serde_json::to_value(request)?;
        let result = self
            .call(
                Method::POST,
                &format!("/v1/services/{service}/deployments"),
                Some(&json),
            )
            .await;
        spinner.finish_and_clear();
        result
    }

    /// Rolls a service back.
    pub async fn rollback(&self, service: &str) -> anyhow::Result<ServiceStatus> {
        self.call(
            Method::POST,
            &format!("/v1/services/{service}/rollback"),
            None,
        )
        .await
    }

    /// Promotes a service's canary.
    pub async fn promote(&self, service: &str) -> anyhow::Result<ServiceStatus> {
        self.call(
            Method::POST,
            &format!("/v1/services/{service}/promote"),
            None,
        )
        .await
    }

    /// Puts an earlier version back in service.
    pub async fn activate(&self, service: &str, version: &str) -> anyhow::Result<ServiceStatus> {
        let json = serde_json::to_value(ActivateRequest {
            version: version.to_string(),
        })?;
        self.call(
            Method::POST,
            &format!("/v1/services/{service}/activate"),
            Some(&json),
        )
        .await
    }

    /// Sets a canary's share.
    pub async fn traffic(
        &self,
        service: &str,
        request: &TrafficRequest,
    ) -> anyhow::Result<ServiceStatus> {
        let json = serde_json::to_value(request)?;
        self.call(
            Method::PUT,
            &format!("/v1/services/{service}/traffic"),
            Some(&json),
        )
        .await
    }

    /// Removes a service.
    pub async fn remove(&self, service: &str) -> anyhow::Result<()> {
        let response = self
            .send(
                Method::DELETE,
                &format!("/v1/services/{service}"),
                None,
                None,
            )
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(refusal(response).await);
        }
        Ok(())
    }
}

/// The host's explanation of a non-2xx answer.
async fn refusal(response: reqwest::Response) -> anyhow::Error {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED {
        return anyhow::anyhow!(
            "the admin API refused the token (set WHARF_ADMIN_TOKEN, or --state-dir to the host's state directory)"
        );
    }
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => anyhow::anyhow!("{} (HTTP {})", body.error, status.as_u16()),
        Err(_) if text.trim().is_empty() => anyhow::anyhow!("the admin API answered {status}"),
        Err(_) => anyhow::anyhow!("the admin API answered {status}: {}", text.trim()),
    }
}

/// Runs `future` on a fresh single-threaded runtime: the CLI commands are
/// synchronous functions.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?
        .block_on(future)
}
