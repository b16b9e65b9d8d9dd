//! The deployment record: which version of each service is active, any
//! canary being tried, and what came before. Stored as JSON by a
//! [`DeploymentStore`](crate::store::DeploymentStore).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;

/// How many previously active versions a service keeps for rollback.
pub const HISTORY_LIMIT: usize = 10;

/// Everything the host has deployed, persisted across restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// Bumped on every save; lets a reader tell two records apart.
    pub revision: u64,
    /// Per service, by service name.
    pub services: BTreeMap<String, ServiceRecord>,
    /// The last active version of every service `wharf rm` removed, by
    /// name: a later deploy under that name is diffed against its grants,
    /// so removing a service and deploying it again cannot skip the
    /// consent an escalation needs. (Only its table is used; its component
    /// is not kept.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub removed: BTreeMap<String, VersionRecord>,
}

impl DeploymentRecord {
    /// Every digest the record still refers to (active, canary and history
    /// of every service): the components garbage collection must keep.
    pub fn digests_in_use(&self) -> BTreeSet<Digest> {
        let mut set = BTreeSet::new();
        for service in self.services.values() {
            set.insert(service.active.digest);
            if let Some(canary) = &service.canary {
                set.insert(canary.version.digest);
            }
            set.extend(service.history.iter().map(|v| v.digest));
        }
        set
    }
}

/// One service's deployment state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceRecord {
    /// The version serving (the stable side when a canary runs).
    pub active: VersionRecord,
    /// A version receiving a share of the traffic, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryRecord>,
    /// Previously active versions, oldest first; the last one is what `rollback` returns to.
    #[serde(default)]
    pub history: Vec<VersionRecord>,
    /// Digest + section of the version `wharf.toml` supplied last time the host started, so a restart can tell "the file changed" from "an admin deploy replaced it".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_manifest: Option<ManifestOrigin>,
}

impl ServiceRecord {
    /// Appends `v` as the most recent previous version, dropping the oldest
    /// entries beyond [`HISTORY_LIMIT`].
    pub fn push_history(&mut self, v: VersionRecord) {
        self.history.push(v);
        let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..excess);
    }
}

/// What `wharf.toml` said about a service when the host last started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestOrigin {
    /// Digest of the component the manifest pointed at.
    pub digest: Digest,
    /// TOML body of the service's manifest table.
    pub section: String,
}

/// One deployable version of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionRecord {
    /// Human label (from the manifest or the deploy request).
    pub version: String,
    /// The component, by content.
    pub digest: Digest,
    /// TOML body of the service's manifest table for this version.
    pub section: String,
    /// Directory relative `files` paths in `section` resolve against.
    pub base_dir: PathBuf,
    /// Signature the component was deployed with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Unix seconds.
    pub deployed_at: u64,
}

/// A version being tried on part of the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryRecord {
    /// The canary version.
    pub version: VersionRecord,
    /// Percent of requests (0..=100) sent to the canary.
    pub weight: u8,
    /// Request header whose value pins a client to one side of the split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky_header: Option<String>,
    /// When set, the canary is rolled back automatically if it does worse
    /// than the stable version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_rollback: Option<AutoRollback>,
}

/// Thresholds for rolling a canary back automatically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutoRollback {
    /// Seconds per comparison window.
    pub window_secs: u64,
    /// Canary error rate may exceed the stable one by at most this many percentage points.
    pub max_error_rate_increase: f64,
    /// Canary p99 may be at most this factor of the stable p99.
    pub max_p99_ratio: f64,
    /// Fewer canary requests than this in a window decide nothing.
    pub min_requests: u64,
}

impl Default for AutoRollback {
    fn default() -> Self {
        Self {
            window_secs: 10,
            max_error_rate_increase: 5.0,
            max_p99_ratio: 2.0,
            min_requests: 20,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn version(label: &str, bytes: &[u8]) -> VersionRecord {
        VersionRecord {
            version: label.to_string(),
            digest: Digest::of(bytes),
            section: format!("component = \"{label}.wasm\"\n"),
            base_dir: PathBuf::from("/srv/app"),
            signature: None,
            deployed_at: 1_700_000_000,
        }
    }

    /// A record using every field.
    pub(crate) fn sample() -> DeploymentRecord {
        let mut api = ServiceRecord {
            active: version("v2", b"api-v2"),
            canary: Some(CanaryRecord {
                version: VersionRecord {
                    signature: Some("sig".into()),
                    ..version("v3", b"api-v3")
                },
                weight: 10,
                sticky_header: Some("x-user".into()),
                auto_rollback: Some(AutoRollback::default()),
            }),
            history: vec![],
            from_manifest: Some(ManifestOrigin {
                digest: Digest::of(b"api-v1"),
                section: "component = \"v1.wasm\"\n".into(),
            }),
        };
        api.push_history(version("v1", b"api-v1"));
        let web = ServiceRecord {
            active: version("1", b"web"),
            canary: None,
            history: vec![],
            from_manifest: None,
        };
        DeploymentRecord {
            revision: 7,
            services: [("api".to_string(), api), ("web".to_string(), web)].into(),
            removed: BTreeMap::new(),
        }
    }

    #[test]
    fn json_round_trip_and_optional_fields() {
        let record = sample();
        let json = serde_json::to_string_pretty(&record).unwrap();
        assert_eq!(
            serde_json::from_str::<DeploymentRecord>(&json).unwrap(),
            record
        );
        // `web` has no canary / origin: those keys are left out, and a record
        // without them (or without history) still loads.
        let web = serde_json::to_value(&record.services["web"]).unwrap();
        assert!(web.get("canary").is_none());
        assert!(web.get("from_manifest").is_none());
        let mut web = web;
        web.as_object_mut().unwrap().remove("history");
        let back: ServiceRecord = serde_json::from_value(web).unwrap();
        assert_eq!(back, record.services["web"]);
    }

    #[test]
    fn history_is_trimmed_oldest_first() {
        let mut s = sample().services["web"].clone();
        for i in 0..HISTORY_LIMIT + 3 {
            s.push_history(version(&i.to_string(), i.to_string().as_bytes()));
        }
        assert_eq!(s.history.len(), HISTORY_LIMIT);
        assert_eq!(s.history[0].version, "3");
        assert_eq!(
            s.history.last().unwrap().version,
            (HISTORY_LIMIT + 2).to_string()
        );
    }

    #[test]
    fn digests_in_use_covers_active_canary_history() {
        let used = sample().digests_in_use();
        let expected: BTreeSet<_> = [b"api-v1" as &[u8], b"api-v2", b"api-v3", b"web"]
            .into_iter()
            .map(Digest::of)
            .collect();
        assert_eq!(used, expected);
    }
}
