//! # wharf-cluster: hosts that form a cluster through NATS JetStream
//!
//! `wharf up --nats URL --cluster NAME` makes a host one of a cluster with
//! no coordinator of Wharf's own: NATS JetStream holds the shared state,
//! and every host converges to it by itself.
//!
//! | bucket | kind | holds |
//! |---|---|---|
//! | `wharf-<NAME>-deployments` | key-value | the deployment record, key `record` ([`records`]) |
//! | `wharf-<NAME>-components` | object store | component bytes by digest ([`components`]) |
//! | `wharf-<NAME>-hosts` | key-value, `max_age` = TTL | one heartbeat per host ([`HostHeartbeat`]) |
//!
//! Buckets that do not exist are created (file storage, one replica); to
//! run with more replicas, create them beforehand.
//!
//! - **Writes**: `wharf deploy` (and rollback, traffic, …) against any
//!   host's admin API checks and loads the version there, then saves the
//!   record with compare-and-swap ([`records`]).
//! - **Convergence**: every host watches the record key. The newest record
//!   seen is handed to [`Deployer::converge`], which loads (fetching from
//!   the object store, verifying the digest, compiling, pre-instantiating)
//!   and swaps with the single-host zero-downtime rules. Records that
//!   arrive while one is being applied are collapsed to the newest one; an
//!   older revision is never applied after a newer one. The watch is
//!   re-established when it fails, and the key is also polled every
//!   [`POLL_INTERVAL`], so a missed update is picked up anyway. A host that
//!   starts (or restarts) reads the record first and converges before it
//!   says it serves.
//! - **Heartbeats**: every [`HEARTBEAT_INTERVAL`] each host puts its ID,
//!   addresses, applied revision and, per service, what it serves and any
//!   load error. The bucket's `max_age` drops a dead host's entry after
//!   [`HEARTBEAT_TTL`]; a host that stops cleanly deletes its own.
#![deny(missing_docs)]

pub mod components;
pub mod host_id;
pub mod records;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use async_nats::jetstream::{self, kv, object_store};
use bytes::Bytes;
use futures::StreamExt as _;
use wharf_deploy::api::CanaryStatus;
use wharf_deploy::api::{ClusterStatus, DesiredService, HostHeartbeat, HostService};
use wharf_deploy::store::{ComponentStore, DeploymentStore, FileComponentStore};
use wharf_deploy::{Deployer, DeploymentRecord};

pub use components::JetStreamComponentStore;
pub use records::{JetStreamDeploymentStore, RecordSigning};

/// How often a host publishes its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

/// How long a heartbeat counts: a host silent for this long drops out.
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(10);

/// How often the record key is read directly, in case the watch missed an
/// update.
pub const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// How often a host retries loading a desired version it failed to load.
pub const RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// How long listing the heartbeats may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// A host's membership of a cluster.
pub struct Cluster {
    name: String,
    host_id: String,
    records: Arc<JetStreamDeploymentStore>,
    components: Arc<JetStreamComponentStore>,
    hosts: kv::Store,
}

/// Where a host can be reached, for its heartbeat.
#[derive(Debug, Clone)]
pub struct HostAddresses {
    /// The admin API.
    pub admin: String,
    /// The public HTTP listener.
    pub http: String,
}

/// Whether `name` can name a cluster: 1 to 32 letters, digits, `-`, `_`
/// (it becomes part of JetStream bucket names).
pub fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Cluster {
    /// Joins the cluster `name` through `client`: opens (or creates) its
    /// buckets; the host's ID comes from `state_dir`, whose component
    /// directory caches the shared components. `signing` says how records
    /// are signed and which are applied ([`records`]).
    pub async fn join(
        client: async_nats::Client,
        name: &str,
        state_dir: &Path,
        signing: RecordSigning,
    ) -> anyhow::Result<Self> {
        if !valid_cluster_name(name) {
            anyhow::bail!("invalid cluster name `{name}`: use 1 to 32 letters, digits, `-` or `_`");
        }
        let host_id = host_id::load_or_create(state_dir)?;
        let js = jetstream::new(client);
        let deployments = wharf_messaging::jetstream::open_key_value(
            &js,
            kv::Config {
                bucket: format!("wharf-{name}-deployments"),
                description: format!("Wharf cluster {name}: the deployment record"),
                history: 10,
                ..Default::default()
            },
        )
        .await?;
        let hosts = wharf_messaging::jetstream::open_key_value(
            &js,
            kv::Config {
                bucket: format!("wharf-{name}-hosts"),
                description: format!("Wharf cluster {name}: host heartbeats"),
                history: 1,
                max_age: HEARTBEAT_TTL,
                ..Default::default()
            },
        )
        .await?;
        let bucket = format!("wharf-{name}-components");
        let objects = match js.get_object_store(&bucket).await {
            Ok(store) => store,
            Err(_) => match js
                .create_object_store(object_store::Config {
                    bucket: bucket.clone(),
                    description: Some(format!("Wharf cluster {name}: components by digest")),
                    ..Default::default()
                })
                .await
            {
                Ok(store) => store,
                // Another host created it first.
                Err(create) => js.get_object_store(&bucket).await.map_err(|_| {
                    anyhow::Error::new(create).context(format!(
                        "cannot open or create the object store `{bucket}` (is JetStream enabled on the NATS server?)"
                    ))
                })?,
            },
        };
        let local = FileComponentStore::open(state_dir)?;
        Ok(Self {
            name: name.to_string(),
            host_id,
            records: Arc::new(JetStreamDeploymentStore::with_signing(deployments, signing)),
            components: Arc::new(JetStreamComponentStore::new(local, objects, bucket)),
            hosts,
        })
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This host's ID.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// The shared deployment record, for the deployer.
    pub fn records(&self) -> Arc<dyn DeploymentStore> {
        self.records.clone()
    }

    /// The shared components, for the deployer.
    pub fn components(&self) -> Arc<dyn ComponentStore> {
        self.components.clone()
    }

    /// Starts converging `deployer` to the shared record and publishing
    /// heartbeats, until the process ends.
    pub fn run(self: &Arc<Self>, deployer: Arc<Deployer>, addresses: HostAddresses) {
        let (tx, rx) = tokio::sync::watch::channel::<Option<DeploymentRecord>>(None);
        let tx = Arc::new(tx);
        tokio::spawn(watch_record(self.records.clone(), tx.clone()));
        tokio::spawn(poll_record(self.records.clone(), tx));
        tokio::spawn(apply(deployer.clone(), rx));
        tokio::spawn(heartbeats(self.clone(), deployer, addresses));
    }

    /// Removes this host's heartbeat (on a clean stop), so it drops out of
    /// `wharf ps --cluster` at once.
    pub async fn leave(&self) {
        if let Err(error) = self.hosts.purge(&self.host_id).await {
            tracing::warn!(%error, "cannot remove this host's heartbeat");
        }
    }

    async fn beat(&self, deployer: &Deployer, addresses: &HostAddresses) -> anyhow::Result<()> {
        let beat = HostHeartbeat {
            host_id: self.host_id.clone(),
            admin: addresses.admin.clone(),
            http: addresses.http.clone(),
            heartbeat_unix_ms: unix_ms(),
            age_ms: 0,
            revision: deployer.revision(),
            services: deployer.status().iter().map(HostService::from).collect(),
            refused_record: self.records.refused(),
        };
        let json = serde_json::to_vec(&beat).context("cannot encode the heartbeat")?;
        self.hosts
            .put(&self.host_id, Bytes::from(json))
            .await
            .with_context(|| format!("cannot publish the heartbeat to `{}`", self.hosts.name))?;
        Ok(())
    }

    /// The desired state and every live host, as `GET /v1/cluster` and
    /// `wharf ps --cluster` show it.
    pub async fn status(&self) -> anyhow::Result<ClusterStatus> {
        // A refused record leaves the last accepted one in force.
        let record = match self.records.load().await {
            Ok(record) => record.unwrap_or_default(),
            Err(error) if error.is::<records::RecordRefused>() => {
                self.records.accepted().unwrap_or_default()
            }
            Err(error) => return Err(error),
        };
        let services = record
            .services
            .iter()
            .map(|(name, s)| DesiredService {
                name: name.clone(),
                version: s.active.version.clone(),
                digest: s.active.digest,
                canary: s.canary.as_ref().map(|c| CanaryStatus {
                    version: c.version.version.clone(),
                    digest: c.version.digest,
                    weight: c.weight,
                    auto_rollback: c.auto_rollback.is_some(),
                }),
            })
            .collect();
        let hosts = tokio::time::timeout(LIST_TIMEOUT, self.heartbeats())
            .await
            .map_err(|_| anyhow::anyhow!("listing the hosts' heartbeats timed out"))??;
        Ok(ClusterStatus {
            cluster: self.name.clone(),
            host_id: self.host_id.clone(),
            revision: record.revision,
            services,
            hosts,
            refused_record: self.records.refused(),
        })
    }

    /// Every heartbeat younger than [`HEARTBEAT_TTL`], by host ID.
    async fn heartbeats(&self) -> anyhow::Result<Vec<HostHeartbeat>> {
        let mut keys = self
            .hosts
            .keys()
            .await
            .with_context(|| format!("cannot list `{}`", self.hosts.name))?;
        let mut ids = Vec::new();
        while let Some(key) = keys.next().await {
            ids.push(key.with_context(|| format!("cannot list `{}`", self.hosts.name))?);
        }
        let now = unix_ms();
        let mut hosts = Vec::new();
        for id in ids {
            let Some(value) = self
                .hosts
                .get(&id)
                .await
                .with_context(|| format!("cannot read heartbeat `{id}`"))?
            else {
                continue;
            };
            let mut beat: HostHeartbeat = match serde_json::from_slice(&value) {
                Ok(beat) => beat,
                Err(error) => {
                    tracing::warn!(host = %id, %error, "ignoring an unreadable heartbeat");
                    continue;
                }
            };
            beat.age_ms = now.saturating_sub(beat.heartbeat_unix_ms);
            if u128::from(beat.age_ms) <= HEARTBEAT_TTL.as_millis() {
                hosts.push(beat);
            }
        }
        hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
        Ok(hosts)
    }
}

/// Offers `record` to the applier: kept only if newer than what it holds.
fn offer(tx: &tokio::sync::watch::Sender<Option<DeploymentRecord>>, record: DeploymentRecord) {
    tx.send_if_modified(|current| {
        if current
            .as_ref()
            .is_none_or(|c| record.revision > c.revision)
        {
            *current = Some(record);
            true
        } else {
            false
        }
    });
}

/// Follows the record key; re-established (after a pause) whenever the
/// watch fails or ends.
async fn watch_record(
    store: Arc<JetStreamDeploymentStore>,
    tx: Arc<tokio::sync::watch::Sender<Option<DeploymentRecord>>>,
) {
    let mut pause = Duration::from_millis(250);
    loop {
        if tx.is_closed() {
            return;
        }
        match store.bucket().watch_with_history(records::RECORD_KEY).await {
            Ok(mut watch) => {
                pause = Duration::from_millis(250);
                while let Some(entry) = watch.next().await {
                    match entry {
                        Ok(entry) => match store.decode(&entry) {
                            Ok(Some(record)) => offer(&tx, record),
                            Ok(None) => {}
                            Err(error) => {
                                tracing::error!(error = %format!("{error:#}"), "ignoring a deployment record")
                            }
                        },
                        Err(error) => {
                            tracing::warn!(%error, "the deployment record watch failed; re-establishing it");
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot watch the deployment record; retrying");
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Reads the record key every [`POLL_INTERVAL`]: a safety net under the
/// watch.
async fn poll_record(
    store: Arc<JetStreamDeploymentStore>,
    tx: Arc<tokio::sync::watch::Sender<Option<DeploymentRecord>>>,
) {
    let mut interval = tokio::time::interval(POLL_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if tx.is_closed() {
            return;
        }
        match store.load().await {
            Ok(Some(record)) => offer(&tx, record),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot read the deployment record")
            }
        }
    }
}

/// Hands the newest record to the deployer, one at a time; records that
/// arrive meanwhile collapse into the newest. Retries failed loads every
/// [`RETRY_INTERVAL`].
async fn apply(
    deployer: Arc<Deployer>,
    mut rx: tokio::sync::watch::Receiver<Option<DeploymentRecord>>,
) {
    loop {
        let retry = deployer.has_failures();
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep(RETRY_INTERVAL), if retry => {}
        }
        let record = rx.borrow_and_update().clone();
        if let Some(record) = record {
            deployer.converge(record).await;
        }
    }
}

async fn heartbeats(cluster: Arc<Cluster>, deployer: Arc<Deployer>, addresses: HostAddresses) {
    let mut interval = tokio::time::interval(HEARTBEAT_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        interval.tick().await;
        match cluster.beat(&deployer, &addresses).await {
            Ok(()) => {
                if failing {
                    tracing::info!("heartbeats are published again");
                }
                failing = false;
            }
            Err(error) => {
                // Logged once per outage, not every two seconds.
                if !failing {
                    tracing::warn!(error = %format!("{error:#}"), "cannot publish the heartbeat");
                }
                failing = true;
            }
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
