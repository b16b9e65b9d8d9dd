//! The JSON bodies of the admin API's deployment endpoints, shared by the
//! host (which serves them) and the CLI (which sends them), so the two can
//! never disagree on a field name.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use wharf_manifest::CapabilityDiff;

use crate::digest::Digest;
use crate::record::AutoRollback;

/// `POST /v1/services/{name}/deployments`: put an uploaded component in
/// service, as the new stable version or as a canary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// The component, uploaded before with `PUT /v1/components/{digest}`.
    pub digest: Digest,
    /// Version label; default: the `version` of `section` when one is
    /// given, else the digest's first 12 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// TOML body of the service's manifest table (routes, grants, limits);
    /// default: the active version's, or for a new service only the route
    /// `/<name>/...` and no grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// Directory relative `files` paths in `section` resolve against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_dir: Option<PathBuf>,
    /// Send this percentage of requests to the new version and keep the
    /// active one as stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<u8>,
    /// Split a canary by this request header (sticky clients) instead of
    /// the request ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_header: Option<String>,
    /// Watch the canary and roll it back when it does worse than stable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<AutoRollback>,
    /// Accept a version that has capabilities the active one lacks.
    #[serde(default)]
    pub allow_new_grants: bool,
    /// `wharf sign` output for the component, when the host has a trust
    /// policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl DeployRequest {
    /// A plain deploy of `digest`: stable, the active version's section,
    /// no new grants.
    pub fn new(digest: Digest) -> Self {
        Self {
            digest,
            version: None,
            section: None,
            base_dir: None,
            canary: None,
            sticky_header: None,
            auto_rollback: None,
            allow_new_grants: false,
            signature: None,
        }
    }
}

/// What a deploy did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeployResponse {
    /// The service.
    pub service: String,
    /// The version label now in service.
    pub version: String,
    /// Its component.
    pub digest: Digest,
    /// `stable` or `canary`.
    pub role: String,
    /// The canary's share of requests, in percent (100 for stable).
    pub weight: u8,
    /// Differences from the version it was compared with (the active one).
    pub diff: CapabilityDiff,
    /// Compiled-code cache: `hit`, `miss` or `stale`.
    pub compiled: String,
    /// Milliseconds from the request to the version taking traffic.
    pub activate_ms: u64,
}

/// `PUT /v1/services/{name}/traffic`: change a canary's share.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrafficRequest {
    /// Percent of requests for the canary, 0..=100.
    pub canary_weight: u8,
    /// Split by this header instead of the request ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_header: Option<String>,
}

/// `POST /v1/services/{name}/activate`: put a version from the service's
/// history back in service.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActivateRequest {
    /// A version label or a digest (`sha256:…`) from the history.
    pub version: String,
}

/// One version, briefly.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionBrief {
    /// Version label.
    pub version: String,
    /// Component digest.
    pub digest: Digest,
}

/// A canary, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CanaryStatus {
    /// Version label.
    pub version: String,
    /// Component digest.
    pub digest: Digest,
    /// Percent of requests.
    pub weight: u8,
    /// Whether the host rolls it back by itself when it does worse.
    pub auto_rollback: bool,
}

/// One service as `GET /v1/services` and `wharf ps` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceStatus {
    /// Service name.
    pub name: String,
    /// Active (stable) version label.
    pub version: String,
    /// Its component digest.
    pub digest: Digest,
    /// Routes as written in the manifest.
    pub routes: Vec<String>,
    /// `ready` once compiled and accepting; `canary` while a canary runs.
    pub state: String,
    /// The canary, if one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// Versions `rollback` can return to, most recent first.
    #[serde(default)]
    pub history: Vec<VersionBrief>,
    /// Instances alive right now.
    pub live_instances: i64,
    /// Requests answered since the host started.
    pub requests_total: u64,
    /// Requests per second over the last few seconds.
    pub requests_per_second: f64,
    /// The last thing that happened to the service (deploy, rollback and
    /// why), for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<String>,
    /// In a cluster: the desired version this host could not load (it
    /// keeps serving what it had, shown above; `state` is `failed` when it
    /// had nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LoadFailure>,
}

/// A desired version a host could not load.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoadFailure {
    /// The version label it should serve.
    pub version: String,
    /// Its component.
    pub digest: Digest,
    /// Why it could not.
    pub error: String,
}

/// `GET /v1/cluster`: the cluster as one host sees it — the desired state
/// from the shared deployment record and every live host's heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClusterStatus {
    /// The cluster's name (`wharf up --cluster`).
    pub cluster: String,
    /// The host that answered.
    pub host_id: String,
    /// Revision of the shared deployment record (0: none yet).
    pub revision: u64,
    /// Per service, the desired (stable) version and any canary.
    pub services: Vec<DesiredService>,
    /// Every host whose last heartbeat is younger than the time-to-live,
    /// by host ID.
    pub hosts: Vec<HostHeartbeat>,
    /// Why the answering host refused the record now in the bucket (not
    /// signed by a trusted operator, a bad signature), if it did; the
    /// fields above then describe the last record it accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_record: Option<String>,
}

/// One service's desired state, from the shared record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DesiredService {
    /// Service name.
    pub name: String,
    /// Desired stable version label.
    pub version: String,
    /// Its component.
    pub digest: Digest,
    /// The canary every host should split traffic to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
}

/// What one host publishes every heartbeat.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostHeartbeat {
    /// Stable ID of the host (kept in its state directory).
    pub host_id: String,
    /// Its admin API address.
    pub admin: String,
    /// Its public HTTP address.
    pub http: String,
    /// When the heartbeat was sent, Unix milliseconds (the host's clock).
    pub heartbeat_unix_ms: u64,
    /// Milliseconds since the heartbeat was stored, as the answering host
    /// measured it (by the NATS server's timestamp).
    #[serde(default)]
    pub age_ms: u64,
    /// The record revision the host has applied.
    pub revision: u64,
    /// What the host serves.
    pub services: Vec<HostService>,
    /// Why the host refused the newest record in the bucket, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_record: Option<String>,
}

/// One service on one host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HostService {
    /// Service name.
    pub name: String,
    /// The stable version the host serves.
    pub version: String,
    /// Its component.
    pub digest: Digest,
    /// The canary the host serves, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStatus>,
    /// `ready`, `canary` or `failed`.
    pub state: String,
    /// The desired version the host could not load, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LoadFailure>,
}

impl From<&ServiceStatus> for HostService {
    fn from(s: &ServiceStatus) -> Self {
        Self {
            name: s.name.clone(),
            version: s.version.clone(),
            digest: s.digest,
            canary: s.canary.clone(),
            state: s.state.clone(),
            error: s.error.clone(),
        }
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs (see `DeployError::kind`).
    pub kind: String,
    /// For `new-grants`: the capability difference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<CapabilityDiff>,
}
