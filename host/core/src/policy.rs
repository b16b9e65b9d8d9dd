//! What one service version may do, computed once from its manifest entry.
//!
//! A [`ServicePolicy`] turns the manifest's grants and limits into the
//! shapes the per-request path needs (shared `Arc`s, epoch tick budgets),
//! so that building a store per request copies pointers, not lists. Like
//! Spin's per-app allow-lists, it is decided at load time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wharf_manifest::{FileGrant, Limits, ServiceSpec, SocketGrant};

use crate::config::ConfigVariables;
use crate::outbound::OutboundPolicy;

/// Grants and limits of one service version.
#[derive(Debug, Clone, Default)]
pub struct ServicePolicy {
    /// Origins outbound HTTP may reach.
    pub outbound: Arc<OutboundPolicy>,
    /// Directories mapped into the guest.
    pub files: Arc<Vec<FileGrant>>,
    /// Addresses sockets may reach; empty denies all socket use.
    pub sockets: Arc<Vec<SocketGrant>>,
    /// Environment variables, in manifest order.
    pub env: Arc<Vec<(String, String)>>,
    /// The same variables for `wasi:config/store`.
    pub config: ConfigVariables,
    /// Subject patterns the service may publish and send requests to.
    pub publish: Arc<Vec<String>>,
    /// What the service subscribes to.
    pub subscriptions: Arc<Vec<wharf_manifest::Subscription>>,
    /// Whether it has routes, and so must export an HTTP handler.
    pub serves_http: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Key-value stores it may open; the host's backend is attached when
    /// the version is loaded ([`crate::ServiceTemplate`]).
    pub key_value: wharf_keyvalue::KeyValueGrants,
}

impl ServicePolicy {
    /// The policy a manifest entry describes.
    pub fn from_spec(spec: &ServiceSpec) -> Self {
        let env: Vec<(String, String)> = spec
            .variables
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect();
        let config: BTreeMap<String, String> = env.iter().cloned().collect();
        Self {
            outbound: Arc::new(OutboundPolicy::new(spec.outbound.clone())),
            files: Arc::new(spec.files.clone()),
            sockets: Arc::new(spec.sockets.clone()),
            env: Arc::new(env),
            config: Arc::new(config),
            publish: Arc::new(spec.publish.clone()),
            subscriptions: Arc::new(spec.subscriptions.clone()),
            serves_http: !spec.routes.is_empty(),
            limits: spec.limits.clone(),
            key_value: wharf_keyvalue::KeyValueGrants::new(spec.key_value_stores.clone()),
        }
    }

    /// The CPU-time budget in epoch ticks of `tick` (at least one).
    pub fn cpu_ticks(&self, tick: Duration) -> u64 {
        let ticks = self.limits.cpu_time.as_nanos() / tick.as_nanos().max(1);
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}
