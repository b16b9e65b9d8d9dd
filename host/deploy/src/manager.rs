//! The deployer: the one place that changes what a host serves.
//!
//! Every operation (deploy, canary, promote, rollback, activate, traffic,
//! remove, and the start-up restore) runs the same steps under one lock:
//!
//! 1. work out the new deployment record from the current one;
//! 2. make sure every version it puts in service is loaded — hashed,
//!    trusted, validated, compiled (or read from the compiled-code cache),
//!    linked and pre-instantiated. Any failure here returns an error and
//!    nothing has changed;
//! 3. save the record (crash-safe: after a crash the host restores either
//!    the old or the new deployment, never a mix);
//! 4. install a new route table in one atomic store. Requests already
//!    running finish on the version they started on; versions that left
//!    service are cut off after the drain timeout at the latest.
//!
//! The last version before the active one stays loaded, so `rollback` is a
//! table swap, not a compile.
//!
//! ## In a cluster
//!
//! With a shared [`DeploymentStore`] (JetStream, `wharf up --cluster`), the
//! record is the cluster's desired state. Step 3 is a compare-and-swap: when
//! another host saved first, the operation catches up with the latest
//! record and is redone (a few times, then it fails with
//! [`DeployError::Concurrent`]). Records written by other hosts arrive
//! through [`Deployer::converge`], which applies the newest one and never an
//! older one: per service, every version it puts in service is loaded first
//! (reusing whatever is already loaded), and only then is the new route
//! table installed. A service whose desired version cannot be loaded on
//! this host keeps serving what it had and reports the failure in its
//! status: never half-activated.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderName;
use wharf_core::{Runtime, ServiceIdentity, ServicePolicy, ServiceTemplate};
use wharf_http::{Canary, HttpApp, RouteTable, Router, ServiceTarget, Serving};
use wharf_manifest::{CapabilityDiff, Route, ServiceSpec};
use wharf_metrics::{HealthSnapshot, Metrics};
use wharf_trust::TrustPolicy;

use crate::api::{
    CanaryStatus, DeployRequest, DeployResponse, LoadFailure, ServiceStatus, TrafficRequest,
    VersionBrief,
};
use crate::compiled_cache::{CacheOutcome, CompiledCache};
use crate::error::DeployError;
use crate::record::{AutoRollback, CanaryRecord, DeploymentRecord, ServiceRecord, VersionRecord};
use crate::store::{ComponentStore, DeploymentStore, RecordConflict};

/// How often the deployer samples request counters (for requests/s and
/// the canary watch).
const TICK: Duration = Duration::from_secs(1);

/// How often an operation whose save lost a race with another host is
/// redone on the newer record before it gives up.
const CONFLICT_RETRIES: usize = 5;

/// Runs `$op` (an `.await`ed operation on `$inner`) again after catching up
/// with the shared record whenever another host saved first.
macro_rules! retry_on_conflict {
    ($self:ident, $inner:ident, $op:expr) => {{
        let mut attempt = 0;
        loop {
            match $op {
                Err(DeployError::Concurrent(why)) if attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::info!(%why, attempt, "deployment record changed elsewhere; catching up and retrying");
                    if let Err(error) = $self.catch_up(&mut $inner).await {
                        break Err(error);
                    }
                }
                other => break other,
            }
        }
    }};
}

/// Settings of a [`Deployer`].
pub struct DeployerConfig {
    /// How long a version that left service may keep serving the requests
    /// it already had.
    pub drain_timeout: Duration,
    /// When set, only components signed by one of its keys are accepted.
    pub trust: Option<TrustPolicy>,
    /// The host's state directory (token, record, compiled code): a
    /// version whose `files` grant holds it or lies inside it is refused,
    /// at start and at deploy alike.
    pub state_dir: Option<PathBuf>,
    /// Called after every change of what is served (the message trigger
    /// re-syncs its subscriptions).
    pub after_install: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The record is shared by a cluster: a service of the record that
    /// cannot be loaded on this host is reported in its status instead of
    /// stopping the start, and the host keeps converging.
    pub cluster: bool,
}

/// A service as `wharf up` found it in `wharf.toml`: the deployer puts it
/// in service unless the deployment record already has this exact version
/// (then the record, which may hold later deploys, wins).
pub struct ManifestService {
    /// Service name.
    pub name: String,
    /// The manifest's version label.
    pub version: String,
    /// The component bytes.
    pub bytes: Vec<u8>,
    /// The service's manifest table body.
    pub section: String,
    /// The manifest's directory.
    pub base_dir: PathBuf,
    /// Signature found beside the component, if any.
    pub signature: Option<String>,
}

/// Changes what the host serves, one operation at a time.
pub struct Deployer {
    runtime: Arc<Runtime>,
    app: Arc<HttpApp>,
    records: Arc<dyn DeploymentStore>,
    components: Arc<dyn ComponentStore>,
    compiled: Arc<CompiledCache>,
    config: DeployerConfig,
    inner: tokio::sync::Mutex<Inner>,
    /// Status is read without the deploy lock: a slow compile must not
    /// stall `wharf ps`.
    status: std::sync::RwLock<Vec<ServiceStatus>>,
    /// Revision of the record in force, for heartbeats.
    revision: AtomicU64,
}

#[derive(Default)]
struct Inner {
    record: DeploymentRecord,
    live: BTreeMap<String, Live>,
    /// Services whose version in `record` could not be loaded here (only
    /// ever from [`Deployer::converge`]: a local operation that fails
    /// changes nothing). What runs, if anything, is older.
    failed: BTreeMap<String, LoadFailure>,
}

/// The loaded side of one service.
struct Live {
    spec: ServiceSpec,
    stable: Serving,
    /// The version `stable` runs.
    stable_version: VersionRecord,
    canary: Option<LiveCanary>,
    /// The version `rollback` returns to, kept compiled.
    previous: Option<(VersionRecord, Arc<ServiceTemplate>)>,
    /// Request totals sampled every tick, for requests/s.
    samples: VecDeque<(Instant, u64)>,
    last_event: Option<String>,
}

struct LiveCanary {
    serving: Serving,
    /// The version `serving` runs.
    version: VersionRecord,
    watch: Option<Watch>,
}

impl Live {
    /// Whether this runs exactly the versions `wanted` puts in service.
    fn matches(&self, wanted: &ServiceRecord) -> bool {
        same_version(&self.stable_version, &wanted.active)
            && match (&self.canary, &wanted.canary) {
                (None, None) => true,
                (Some(live), Some(want)) => same_version(&live.version, &want.version),
                _ => false,
            }
    }

    /// An already loaded copy of `version`, if this service has one.
    fn serving_for(&self, version: &VersionRecord) -> Option<Serving> {
        if same_version(&self.stable_version, version) {
            return Some(self.stable.clone());
        }
        if let Some(canary) = &self.canary
            && same_version(&canary.version, version)
        {
            return Some(canary.serving.clone());
        }
        self.previous
            .as_ref()
            .filter(|(v, _)| same_version(v, version))
            .map(|(_, template)| Serving::new(template.clone()))
    }
}

/// An automatic-rollback watch over one canary.
struct Watch {
    config: AutoRollback,
    window_started: Instant,
    stable_base: HealthSnapshot,
    canary_base: HealthSnapshot,
}

/// A version loaded and ready to serve.
struct Loaded {
    template: Arc<ServiceTemplate>,
    spec: ServiceSpec,
    compiled: CacheOutcome,
}

impl Deployer {
    /// A deployer serving through `app`; call [`start`](Self::start) next.
    pub fn new(
        runtime: Arc<Runtime>,
        app: Arc<HttpApp>,
        records: Arc<dyn DeploymentStore>,
        components: Arc<dyn ComponentStore>,
        compiled: CompiledCache,
        config: DeployerConfig,
    ) -> Arc<Self> {
        let deployer = Arc::new(Self {
            runtime,
            app,
            records,
            components,
            compiled: Arc::new(compiled),
            config,
            inner: tokio::sync::Mutex::new(Inner::default()),
            status: std::sync::RwLock::new(Vec::new()),
            revision: AtomicU64::new(0),
        });
        tokio::spawn(ticker(Arc::downgrade(&deployer)));
        deployer
    }

    /// The component store uploads go to.
    pub fn components(&self) -> &Arc<dyn ComponentStore> {
        &self.components
    }

    /// Restores the last saved deployment, then puts in service every
    /// manifest service whose component or section differs from what the
    /// record says the manifest supplied last time. Fails, naming the
    /// service, if any version cannot be loaded: a host never starts half
    /// an app.
    pub async fn start(&self, manifest: Vec<ManifestService>) -> anyhow::Result<()> {
        let mut inner = self.inner.lock().await;
        let record = self.records.load().await?.unwrap_or_default();
        if self.config.cluster {
            // The cluster's record: what cannot be loaded here is reported,
            // not fatal (another host may be the one that is right).
            inner.record = record;
            self.reconcile(&mut inner).await;
        } else {
            for (name, service) in &record.services {
                let live = self
                    .restore(name, service)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot restore service `{name}`: {e}"))?;
                inner.live.insert(name.clone(), live);
            }
            inner.record = record;
        }
        for service in manifest {
            let digest = self
                .components
                .put(&service.bytes)
                .await
                .map_err(|e| e.context(format!("cannot store service `{}`", service.name)))?;
            let origin = crate::record::ManifestOrigin {
                digest,
                section: service.section.clone(),
            };
            let name = service.name.clone();
            let outcome = retry_on_conflict!(
                self,
                inner,
                self.apply_manifest_service(&mut inner, &service, digest, origin.clone())
                    .await
            )
            .map_err(|e| anyhow::anyhow!("service `{name}` was refused: {e}"))?;
            if let Some((true, outcome)) = outcome
                && !outcome.diff.is_empty()
            {
                tracing::info!(service = %name, diff = %outcome.diff, "wharf.toml changed the service's capabilities");
            }
        }
        self.install(&inner);
        self.refresh_status(&inner);
        // Nothing is uploading yet, so this is the one safe moment to drop
        // components and compiled code no deployment refers to any more.
        let mut keep = inner.record.digests_in_use();
        keep.extend(
            inner
                .record
                .services
                .values()
                .filter_map(|s| s.from_manifest.as_ref().map(|m| m.digest)),
        );
        match self.components.retain(&keep).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed unused components"),
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot clean up components")
            }
        }
        let compiled = self.compiled.clone();
        match tokio::task::spawn_blocking(move || compiled.retain(&keep)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::warn!(error = %format!("{error:#}"), "cannot clean up compiled code")
            }
            Err(error) => tracing::warn!(%error, "compiled-code cleanup task failed"),
        }
        Ok(())
    }

    /// Deploys a service of `wharf.toml` unless the record already has what
    /// the manifest supplied last time. Returns whether it replaced a
    /// service, and the outcome, when it deployed.
    async fn apply_manifest_service(
        &self,
        inner: &mut Inner,
        service: &ManifestService,
        digest: crate::digest::Digest,
        origin: crate::record::ManifestOrigin,
    ) -> Result<Option<(bool, DeployResponse)>, DeployError> {
        let known = inner.record.services.get(&service.name);
        let replaces = known.is_some();
        if known.and_then(|s| s.from_manifest.as_ref()) == Some(&origin) {
            return Ok(None);
        }
        let request = DeployRequest {
            digest,
            version: Some(service.version.clone()),
            section: Some(service.section.clone()),
            base_dir: Some(service.base_dir.clone()),
            signature: service.signature.clone(),
            // The operator edited the manifest: their file, their grants.
            allow_new_grants: true,
            ..DeployRequest::new(digest)
        };
        let outcome = self
            .apply_deploy(inner, &service.name, request, Some(origin))
            .await?;
        Ok(Some((replaces, outcome)))
    }

    async fn restore(&self, name: &str, service: &ServiceRecord) -> Result<Live, DeployError> {
        let stable = self.load(name, &service.active).await?;
        let canary = match &service.canary {
            Some(canary) => Some(LiveCanary {
                serving: Serving::new(self.load(name, &canary.version).await?.template),
                version: canary.version.clone(),
                // A restart starts a fresh window.
                watch: canary.auto_rollback.clone().map(Watch::new),
            }),
            None => None,
        };
        let mut live = Live {
            spec: stable.spec,
            stable: Serving::new(stable.template),
            stable_version: service.active.clone(),
            canary,
            previous: None,
            samples: VecDeque::new(),
            last_event: Some("restored from the deployment record".into()),
        };
        if let Some(canary) = &mut live.canary
            && let Some(watch) = &mut canary.watch
        {
            watch.reset(&live.stable, &canary.serving);
        }
        self.preload_previous(name, service, &mut live).await;
        Ok(live)
    }

    /// Deploys `request` to `service`.
    pub async fn deploy(
        &self,
        service: &str,
        request: DeployRequest,
    ) -> Result<DeployResponse, DeployError> {
        let mut inner = self.inner.lock().await;
        let result = retry_on_conflict!(
            self,
            inner,
            self.apply_deploy(&mut inner, service, request.clone(), None)
                .await
        );
        self.settle(&mut inner).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(_) => "refused",
        };
        self.runtime
            .metrics()
            .deployments
            .with_label_values(&[service, outcome])
            .inc();
        self.refresh_status(&inner);
        result
    }

    async fn apply_deploy(
        &self,
        inner: &mut Inner,
        service: &str,
        request: DeployRequest,
        from_manifest: Option<crate::record::ManifestOrigin>,
    ) -> Result<DeployResponse, DeployError> {
        let started = Instant::now();
        let current = inner.record.services.get(service);
        // A label from the section counts only when the deploy brought the
        // section; an inherited one would just repeat the active label.
        let section_given = request.section.is_some();
        let (section, base_dir) = match (request.section, current) {
            (Some(section), _) => (section, request.base_dir.unwrap_or_else(root_dir)),
            (None, Some(current)) => (
                current.active.section.clone(),
                current.active.base_dir.clone(),
            ),
            (None, None) => (format!("routes = [\"/{service}/...\"]\n"), root_dir()),
        };
        let mut version = VersionRecord {
            version: request.version.clone().unwrap_or_default(),
            digest: request.digest,
            section,
            base_dir,
            signature: request.signature,
            deployed_at: unix_now(),
        };
        let spec = parse_section(service, &version)?;
        if version.version.is_empty() {
            // The manifest's default label: a deploy without a label of its own is
            // named after its digest instead.
            version.version = if !section_given || spec.version == wharf_manifest::DEFAULT_VERSION {
                request.digest.short()
            } else {
                spec.version.clone()
            };
        }
        check_label(&version.version)?;
        self.check_routes(inner, service, &spec)?;
        let live = inner.live.get(service);
        // A service removed earlier is compared with what it had when it
        // was removed, as if it were still active.
        // A table that no longer parses (a directory gone since) grants
        // nothing, so everything the deploy asks for needs consent.
        let removed = match (current, inner.record.removed.get(service)) {
            (None, Some(last)) => Some((last, parse_section(service, last).ok())),
            _ => None,
        };
        let diff = match (live, &removed) {
            (Some(live), _) => CapabilityDiff::between(&live.spec, &spec),
            (None, Some((_, Some(last)))) => CapabilityDiff::between(last, &spec),
            (None, _) => CapabilityDiff::between(&empty_like(&spec), &spec),
        };
        let compared_with = match (current, &removed) {
            (Some(current), _) => Some(current.active.version.clone()),
            (None, Some((last, _))) => Some(format!("{} (removed)", last.version)),
            (None, None) => None,
        };
        if let Some(active) = compared_with
            && diff.escalates()
            && !request.allow_new_grants
        {
            return Err(DeployError::NewGrants {
                service: service.to_string(),
                active,
                candidate: version.version.clone(),
                diff,
            });
        }
        let canary = match request.canary {
            None => None,
            Some(weight) => {
                let Some(live) = live else {
                    return Err(DeployError::Conflict(format!(
                        "`{service}` has no stable version yet; deploy one without --canary first"
                    )));
                };
                check_weight(weight)?;
                if live.spec.routes != spec.routes {
                    return Err(DeployError::Conflict(format!(
                        "a canary must serve the same routes as the stable version of `{service}`"
                    )));
                }
                if live.stable.template.identity().version.as_ref() == version.version {
                    return Err(DeployError::Conflict(format!(
                        "version `{}` is already the stable version of `{service}`; give the canary another label with --version",
                        version.version
                    )));
                }
                Some(CanaryRecord {
                    version: version.clone(),
                    weight,
                    sticky_header: check_header(request.sticky_header)?,
                    auto_rollback: request.auto_rollback,
                })
            }
        };
        let loaded = self.load_with_spec(service, &version, spec).await?;

        let mut record = inner.record.clone();
        record.revision += 1;
        let role;
        let weight;
        match canary {
            Some(canary) => {
                role = "canary";
                weight = canary.weight;
                let entry = record.services.get_mut(service).ok_or_else(|| {
                    DeployError::Internal(anyhow::anyhow!("record lost `{service}`"))
                })?;
                let watch = canary.auto_rollback.clone().map(Watch::new);
                entry.canary = Some(canary);
                self.commit(&record).await?;
                let live = inner
                    .live
                    .get_mut(service)
                    .ok_or_else(|| DeployError::Internal(anyhow::anyhow!("no live `{service}`")))?;
                let serving = Serving::new(loaded.template);
                let mut canary = LiveCanary {
                    serving,
                    version: version.clone(),
                    watch,
                };
                if let Some(watch) = &mut canary.watch {
                    watch.reset(&live.stable, &canary.serving);
                }
                live.canary = Some(canary);
                live.last_event = Some(format!("canary {} at {weight}% deployed", version.version));
            }
            None => {
                role = "stable";
                weight = 100;
                let entry = match record.services.remove(service) {
                    Some(mut entry) => {
                        let old = std::mem::replace(&mut entry.active, version.clone());
                        entry.push_history(old);
                        entry.canary = None;
                        entry
                    }
                    None => ServiceRecord {
                        active: version.clone(),
                        canary: None,
                        history: Vec::new(),
                        from_manifest: None,
                    },
                };
                let mut entry = entry;
                if from_manifest.is_some() {
                    entry.from_manifest = from_manifest;
                }
                record.services.insert(service.to_string(), entry);
                record.removed.remove(service);
                self.commit(&record).await?;
                let previous = inner.record.services.get(service).map(|s| s.active.clone());
                let live = inner.live.remove(service);
                let previous = match (previous, live) {
                    // (In a cluster, a host that had failed to load the
                    // active version runs an older one: not a rollback
                    // target.)
                    (Some(v), Some(live)) if same_version(&v, &live.stable_version) => {
                        Some((v, live.stable.template))
                    }
                    _ => None,
                };
                inner.live.insert(
                    service.to_string(),
                    Live {
                        spec: loaded.spec,
                        stable: Serving::new(loaded.template),
                        stable_version: version.clone(),
                        canary: None,
                        previous,
                        samples: VecDeque::new(),
                        last_event: Some(format!("{} deployed", version.version)),
                    },
                );
            }
        }
        inner.record = record;
        self.install(inner);
        let activate_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        tracing::info!(
            service,
            version = %version.version,
            digest = %version.digest,
            role,
            weight,
            compiled = loaded.compiled.as_str(),
            activate_ms,
            "version in service"
        );
        Ok(DeployResponse {
            service: service.to_string(),
            version: version.version,
            digest: version.digest,
            role: role.to_string(),
            weight,
            diff,
            compiled: loaded.compiled.as_str().to_string(),
            activate_ms,
        })
    }

    /// Rolls `service` back: a canary is withdrawn; otherwise the previous
    /// version becomes active again.
    pub async fn rollback(&self, service: &str) -> Result<ServiceStatus, DeployError> {
        let mut inner = self.inner.lock().await;
        retry_on_conflict!(
            self,
            inner,
            self.apply_rollback(&mut inner, service, "rollback requested")
                .await
        )?;
        self.settle(&mut inner).await;
        self.runtime
            .metrics()
            .rollbacks
            .with_label_values(&[service, "manual"])
            .inc();
        self.refresh_status(&inner);
        self.status_of(service)
    }

    async fn apply_rollback(
        &self,
        inner: &mut Inner,
        service: &str,
        why: &str,
    ) -> Result<(), DeployError> {
        let mut record = inner.record.clone();
        record.revision += 1;
        let entry = record
            .services
            .get_mut(service)
            .ok_or_else(|| DeployError::UnknownService(service.to_string()))?;
        if let Some(canary) = entry.canary.take() {
            self.commit(&record).await?;
            inner.record = record;
            if let Some(live) = inner.live.get_mut(service) {
                live.canary = None;
                live.last_event = Some(format!(
                    "canary {} rolled back: {why}",
                    canary.version.version
                ));
            }
            self.install(inner);
            return Ok(());
        }
        let Some(target) = entry.history.pop() else {
            return Err(DeployError::Conflict(format!(
                "`{service}` has no earlier version to roll back to"
            )));
        };
        let kept = inner
            .live
            .get(service)
            .and_then(|live| live.previous.as_ref())
            .filter(|(v, _)| same_version(v, &target))
            .map(|(_, template)| template.clone());
        let (template, spec) = match kept {
            Some(template) => {
                let spec = parse_section(service, &target)?;
                (template, spec)
            }
            None => {
                let loaded = self.load(service, &target).await?;
                (loaded.template, loaded.spec)
            }
        };
        let from = std::mem::replace(&mut entry.active, target.clone());
        self.commit(&record).await?;
        let entry = record.services.get(service).cloned();
        inner.record = record;
        let live = inner
            .live
            .get_mut(service)
            .ok_or_else(|| DeployError::Internal(anyhow::anyhow!("no live `{service}`")))?;
        live.spec = spec;
        live.stable = Serving::new(template);
        live.stable_version = target.clone();
        live.previous = None;
        live.last_event = Some(format!(
            "rolled back from {} to {}: {why}",
            from.version, target.version
        ));
        self.install(inner);
        // Off the swap's critical path: the next rollback target.
        if let (Some(entry), Some(mut live)) = (entry, inner.live.remove(service)) {
            self.preload_previous(service, &entry, &mut live).await;
            inner.live.insert(service.to_string(), live);
        }
        Ok(())
    }

    /// Withdraws the canary of `service` if it is still `judged` (another
    /// host of the cluster may have rolled it back, or replaced it, first).
    async fn rollback_canary(
        &self,
        inner: &mut Inner,
        service: &str,
        judged: Option<&VersionRecord>,
        why: &str,
    ) -> Result<(), DeployError> {
        let current = inner
            .record
            .services
            .get(service)
            .and_then(|s| s.canary.as_ref());
        match (current, judged) {
            (Some(current), Some(judged)) if same_version(&current.version, judged) => {
                self.apply_rollback(inner, service, why).await
            }
            _ => Ok(()),
        }
    }

    /// Makes the canary of `service` its stable version.
    pub async fn promote(&self, service: &str) -> Result<ServiceStatus, DeployError> {
        let mut inner = self.inner.lock().await;
        retry_on_conflict!(self, inner, self.apply_promote(&mut inner, service).await)?;
        self.settle(&mut inner).await;
        self.refresh_status(&inner);
        self.status_of(service)
    }

    async fn apply_promote(&self, inner: &mut Inner, service: &str) -> Result<(), DeployError> {
        let mut record = inner.record.clone();
        record.revision += 1;
        let entry = record
            .services
            .get_mut(service)
            .ok_or_else(|| DeployError::UnknownService(service.to_string()))?;
        let Some(canary) = entry.canary.take() else {
            return Err(DeployError::Conflict(format!(
                "`{service}` has no canary to promote"
            )));
        };
        let spec = parse_section(service, &canary.version)?;
        let old = std::mem::replace(&mut entry.active, canary.version.clone());
        entry.push_history(old.clone());
        self.commit(&record).await?;
        inner.record = record;
        let live = inner
            .live
            .get_mut(service)
            .ok_or_else(|| DeployError::Internal(anyhow::anyhow!("no live `{service}`")))?;
        if let Some(canary_live) = live.canary.take() {
            let old_stable = std::mem::replace(&mut live.stable, canary_live.serving);
            live.stable_version = canary_live.version;
            live.previous = Some((old, old_stable.template));
        }
        live.spec = spec;
        live.last_event = Some(format!("canary {} promoted", canary.version.version));
        self.install(inner);
        Ok(())
    }

    /// Puts a version from the history of `service` (by label or digest)
    /// back in service.
    pub async fn activate(&self, service: &str, which: &str) -> Result<ServiceStatus, DeployError> {
        let mut inner = self.inner.lock().await;
        retry_on_conflict!(
            self,
            inner,
            self.apply_activate(&mut inner, service, which).await
        )?;
        self.settle(&mut inner).await;
        self.refresh_status(&inner);
        self.status_of(service)
    }

    async fn apply_activate(
        &self,
        inner: &mut Inner,
        service: &str,
        which: &str,
    ) -> Result<(), DeployError> {
        let entry = inner
            .record
            .services
            .get(service)
            .ok_or_else(|| DeployError::UnknownService(service.to_string()))?;
        let Some(index) = entry
            .history
            .iter()
            .rposition(|v| v.version == which || v.digest.to_string() == which)
        else {
            return Err(DeployError::Conflict(format!(
                "`{service}` has no earlier version `{which}` (see `wharf ps --json` for its history)"
            )));
        };
        let mut record = inner.record.clone();
        record.revision += 1;
        let entry = record
            .services
            .get_mut(service)
            .ok_or_else(|| DeployError::UnknownService(service.to_string()))?;
        let target = entry.history.remove(index);
        let loaded = self.load(service, &target).await?;
        let old = std::mem::replace(&mut entry.active, target.clone());
        entry.push_history(old.clone());
        entry.canary = None;
        self.commit(&record).await?;
        inner.record = record;
        let live = inner
            .live
            .get_mut(service)
            .ok_or_else(|| DeployError::Internal(anyhow::anyhow!("no live `{service}`")))?;
        let old_stable = std::mem::replace(&mut live.stable, Serving::new(loaded.template));
        live.stable_version = target.clone();
        live.previous = Some((old, old_stable.template));
        live.canary = None;
        live.spec = loaded.spec;
        live.last_event = Some(format!("{} activated", target.version));
        self.install(inner);
        Ok(())
    }

    /// Changes the canary's share of `service`'s traffic.
    pub async fn set_traffic(
        &self,
        service: &str,
        traffic: TrafficRequest,
    ) -> Result<ServiceStatus, DeployError> {
        check_weight(traffic.canary_weight)?;
        let sticky = check_header(traffic.sticky_header)?;
        let mut inner = self.inner.lock().await;
        retry_on_conflict!(
            self,
            inner,
            self.apply_traffic(&mut inner, service, traffic.canary_weight, sticky.clone())
                .await
        )?;
        self.settle(&mut inner).await;
        self.refresh_status(&inner);
        self.status_of(service)
    }

    async fn apply_traffic(
        &self,
        inner: &mut Inner,
        service: &str,
        weight: u8,
        sticky: Option<String>,
    ) -> Result<(), DeployError> {
        let mut record = inner.record.clone();
        record.revision += 1;
        let entry = record
            .services
            .get_mut(service)
            .ok_or_else(|| DeployError::UnknownService(service.to_string()))?;
        let Some(canary) = entry.canary.as_mut() else {
            return Err(DeployError::Conflict(format!(
                "`{service}` has no canary; deploy one with --canary"
            )));
        };
        canary.weight = weight;
        canary.sticky_header = sticky;
        self.commit(&record).await?;
        inner.record = record;
        if let Some(live) = inner.live.get_mut(service) {
            live.last_event = Some(format!("canary weight set to {weight}%"));
        }
        self.install(inner);
        Ok(())
    }

    /// Takes `service` out of service and forgets it.
    pub async fn remove(&self, service: &str) -> Result<(), DeployError> {
        let mut inner = self.inner.lock().await;
        retry_on_conflict!(self, inner, self.apply_remove(&mut inner, service).await)?;
        self.settle(&mut inner).await;
        self.refresh_status(&inner);
        tracing::info!(service, "service removed");
        Ok(())
    }

    async fn apply_remove(&self, inner: &mut Inner, service: &str) -> Result<(), DeployError> {
        let mut record = inner.record.clone();
        record.revision += 1;
        let Some(gone) = record.services.remove(service) else {
            return Err(DeployError::UnknownService(service.to_string()));
        };
        record.removed.insert(service.to_string(), gone.active);
        self.commit(&record).await?;
        inner.record = record;
        inner.live.remove(service);
        inner.failed.remove(service);
        self.install(inner);
        Ok(())
    }

    /// Applies a deployment record another host of the cluster saved: the
    /// newest one wins, an older one (or the same) changes nothing. Every
    /// version it puts in service is loaded before the switch; a service
    /// whose version cannot be loaded keeps what it had and reports why.
    pub async fn converge(&self, record: DeploymentRecord) {
        let mut inner = self.inner.lock().await;
        self.converge_locked(&mut inner, record).await;
        self.refresh_status(&inner);
    }

    /// Whether some service's desired version could not be loaded here.
    pub fn has_failures(&self) -> bool {
        self.status().iter().any(|s| s.error.is_some())
    }

    /// Revision of the deployment record this host has applied.
    pub fn revision(&self) -> u64 {
        self.revision.load(Ordering::Relaxed)
    }

    async fn converge_locked(&self, inner: &mut Inner, record: DeploymentRecord) {
        if record.revision < inner.record.revision {
            tracing::debug!(
                have = inner.record.revision,
                got = record.revision,
                "ignoring an older deployment record"
            );
            return;
        }
        let same = record == inner.record;
        if same && inner.failed.is_empty() {
            return;
        }
        let from = inner.record.revision;
        inner.record = record;
        let changed = self.reconcile(inner).await;
        if changed || !same {
            self.install(inner);
            tracing::info!(
                from,
                to = inner.record.revision,
                failed = inner.failed.len(),
                "converged to the cluster's deployment record"
            );
        }
        // Off the switch's critical path: keep rollback targets loaded.
        let names: Vec<String> = inner.live.keys().cloned().collect();
        for name in names {
            if let (Some(entry), Some(mut live)) = (
                inner.record.services.get(&name).cloned(),
                inner.live.remove(&name),
            ) {
                self.preload_previous(&name, &entry, &mut live).await;
                inner.live.insert(name, live);
            }
        }
    }

    /// Loads the latest saved record and converges to it (after a save
    /// lost a race with another host).
    async fn catch_up(&self, inner: &mut Inner) -> Result<(), DeployError> {
        let latest =
            self.records.load().await.map_err(|e| {
                DeployError::Internal(e.context("cannot reload the deployment record"))
            })?;
        if let Some(latest) = latest {
            self.converge_locked(inner, latest).await;
        }
        Ok(())
    }

    /// After an operation: a service this host had failed to load may now
    /// differ from the record in other ways too, so bring it in line.
    async fn settle(&self, inner: &mut Inner) {
        if !inner.failed.is_empty() && self.reconcile(inner).await {
            self.install(inner);
        }
    }

    /// Makes what runs match `inner.record`, service by service, loading
    /// what is missing. Returns whether anything changed; the caller
    /// installs the route table.
    async fn reconcile(&self, inner: &mut Inner) -> bool {
        let record = inner.record.clone();
        let before = inner.live.len();
        inner
            .live
            .retain(|name, _| record.services.contains_key(name));
        inner
            .failed
            .retain(|name, _| record.services.contains_key(name));
        let mut changed = inner.live.len() != before;
        for (name, wanted) in &record.services {
            if inner
                .live
                .get(name)
                .is_some_and(|live| live.matches(wanted))
            {
                inner.failed.remove(name);
                continue;
            }
            match self
                .converge_service(inner, name, wanted, record.revision)
                .await
            {
                Ok(()) => {
                    inner.failed.remove(name);
                    changed = true;
                }
                Err(error) => {
                    // Name the version that failed: the canary when the
                    // stable version is already running here.
                    let stable_runs = inner
                        .live
                        .get(name)
                        .is_some_and(|l| same_version(&l.stable_version, &wanted.active));
                    let failing = match &wanted.canary {
                        Some(canary) if stable_runs => &canary.version,
                        _ => &wanted.active,
                    };
                    tracing::error!(
                        service = %name,
                        version = %failing.version,
                        digest = %failing.digest,
                        %error,
                        "cannot load the cluster's desired version; keeping what runs"
                    );
                    inner.failed.insert(
                        name.clone(),
                        LoadFailure {
                            version: failing.version.clone(),
                            digest: failing.digest,
                            error: error.to_string(),
                        },
                    );
                }
            }
        }
        changed
    }

    /// Loads what `wanted` puts in service (reusing loaded versions) and
    /// replaces the service's live side in one step; on any failure the
    /// live side is untouched.
    async fn converge_service(
        &self,
        inner: &mut Inner,
        name: &str,
        wanted: &ServiceRecord,
        revision: u64,
    ) -> Result<(), DeployError> {
        let old = inner.live.get(name);
        let (stable, spec) = match old.and_then(|l| l.serving_for(&wanted.active)) {
            Some(serving) => (serving, parse_section(name, &wanted.active)?),
            None => {
                let loaded = self.load(name, &wanted.active).await?;
                (Serving::new(loaded.template), loaded.spec)
            }
        };
        let canary = match &wanted.canary {
            None => None,
            Some(canary) => Some(
                match inner
                    .live
                    .get(name)
                    .and_then(|l| l.serving_for(&canary.version))
                {
                    Some(serving) => serving,
                    None => Serving::new(self.load(name, &canary.version).await?.template),
                },
            ),
        };
        // Everything is loaded: from here on nothing can fail.
        let old = inner.live.remove(name);
        let mut previous = None;
        let mut samples = VecDeque::new();
        let mut old_watch = None;
        if let Some(old) = old {
            samples = old.samples;
            if let Some(last) = wanted.history.last() {
                if same_version(&old.stable_version, last) {
                    previous = Some((last.clone(), old.stable.template.clone()));
                } else if let Some((v, t)) = old.previous
                    && same_version(&v, last)
                {
                    previous = Some((v, t));
                }
            }
            if let (Some(live), Some(want)) = (old.canary, &wanted.canary)
                && same_version(&live.version, &want.version)
            {
                old_watch = live.watch;
            }
        }
        let canary = match (canary, &wanted.canary) {
            (Some(serving), Some(record)) => {
                let watch = match old_watch {
                    Some(watch) => Some(watch),
                    None => record.auto_rollback.clone().map(|config| {
                        let mut watch = Watch::new(config);
                        watch.reset(&stable, &serving);
                        watch
                    }),
                };
                Some(LiveCanary {
                    serving,
                    version: record.version.clone(),
                    watch,
                })
            }
            _ => None,
        };
        let event = match &wanted.canary {
            Some(c) => format!(
                "converged to {} with canary {} at {}% (record revision {revision})",
                wanted.active.version, c.version.version, c.weight
            ),
            None => format!(
                "converged to {} (record revision {revision})",
                wanted.active.version
            ),
        };
        tracing::info!(service = name, version = %wanted.active.version, digest = %wanted.active.digest, revision, "version in service (converged)");
        inner.live.insert(
            name.to_string(),
            Live {
                spec,
                stable,
                stable_version: wanted.active.clone(),
                canary,
                previous,
                samples,
                last_event: Some(event),
            },
        );
        Ok(())
    }

    /// Every service, as `wharf ps` shows it.
    pub fn status(&self) -> Vec<ServiceStatus> {
        let mut status = self.status.read().map(|s| s.clone()).unwrap_or_default();
        // Counters are read now, not at the last tick.
        let totals = requests_by_service(self.runtime.metrics());
        let metrics = self.runtime.metrics();
        for service in &mut status {
            service.requests_total = totals.get(&service.name).copied().unwrap_or(0);
            service.live_instances = metrics
                .instances_live
                .with_label_values(&[&service.name])
                .get();
        }
        status
    }

    fn status_of(&self, service: &str) -> Result<ServiceStatus, DeployError> {
        self.status()
            .into_iter()
            .find(|s| s.name == service)
            .ok_or_else(|| DeployError::UnknownService(service.to_string()))
    }

    /// Whether `name` is served; for `/readyz`-style checks.
    pub fn has_service(&self, name: &str) -> bool {
        self.status().iter().any(|s| s.name == name)
    }

    fn refresh_status(&self, inner: &Inner) {
        let metrics = self.runtime.metrics();
        let loaded: usize = inner
            .live
            .values()
            .map(|l| 1 + usize::from(l.canary.is_some()))
            .sum();
        metrics
            .components_loaded
            .set(i64::try_from(loaded).unwrap_or(i64::MAX));
        self.revision
            .store(inner.record.revision, Ordering::Relaxed);
        let failed_only = inner
            .failed
            .iter()
            .filter(|(name, _)| !inner.live.contains_key(*name))
            .map(|(name, failure)| ServiceStatus {
                name: name.clone(),
                version: failure.version.clone(),
                digest: failure.digest,
                routes: Vec::new(),
                state: "failed".into(),
                canary: None,
                history: Vec::new(),
                live_instances: 0,
                requests_total: 0,
                requests_per_second: 0.0,
                last_event: None,
                error: Some(failure.clone()),
            });
        let status = inner
            .record
            .services
            .iter()
            .filter_map(|(name, record)| {
                let live = inner.live.get(name)?;
                let rate = match (live.samples.front(), live.samples.back()) {
                    (Some((t0, n0)), Some((t1, n1))) if t1 > t0 => {
                        n1.saturating_sub(*n0) as f64 / t1.duration_since(*t0).as_secs_f64()
                    }
                    _ => 0.0,
                };
                // What runs here: the record's versions, unless this host
                // could not load them (then `error` says so).
                let canary = live.canary.as_ref().map(|c| {
                    let config = record
                        .canary
                        .as_ref()
                        .filter(|r| same_version(&r.version, &c.version));
                    CanaryStatus {
                        version: c.version.version.clone(),
                        digest: c.version.digest,
                        weight: config.map_or(0, |r| r.weight),
                        auto_rollback: c.watch.is_some(),
                    }
                });
                Some(ServiceStatus {
                    name: name.clone(),
                    version: live.stable_version.version.clone(),
                    digest: live.stable_version.digest,
                    routes: live.spec.routes.iter().map(ToString::to_string).collect(),
                    state: if canary.is_some() {
                        "canary".into()
                    } else {
                        "ready".into()
                    },
                    canary,
                    history: record
                        .history
                        .iter()
                        .rev()
                        .map(|v| VersionBrief {
                            version: v.version.clone(),
                            digest: v.digest,
                        })
                        .collect(),
                    live_instances: metrics.instances_live.with_label_values(&[name]).get(),
                    requests_total: live.samples.back().map_or(0, |(_, n)| *n),
                    requests_per_second: rate,
                    last_event: live.last_event.clone(),
                    error: inner.failed.get(name).cloned(),
                })
            })
            .chain(failed_only)
            .collect();
        if let Ok(mut slot) = self.status.write() {
            *slot = status;
        }
    }

    /// Saves `record`; on failure nothing changes.
    async fn commit(&self, record: &DeploymentRecord) -> Result<(), DeployError> {
        self.records.save(record).await.map_err(|e| {
            if let Some(conflict) = e.downcast_ref::<RecordConflict>() {
                DeployError::Concurrent(conflict.to_string())
            } else {
                DeployError::Internal(e.context("cannot save the deployment record"))
            }
        })
    }

    /// Builds the route table from the live services and puts it in
    /// service; versions no longer in it are retired after the drain
    /// timeout.
    fn install(&self, inner: &Inner) {
        let before = self.app.table();
        let mut services = Vec::with_capacity(inner.live.len());
        let mut routes: Vec<(&Route, usize)> = Vec::new();
        for (index, (name, live)) in inner.live.iter().enumerate() {
            let canary = inner
                .record
                .services
                .get(name)
                .and_then(|r| r.canary.as_ref())
                .zip(live.canary.as_ref())
                .filter(|(record, live)| same_version(&record.version, &live.version))
                .map(|(record, live)| Canary {
                    serving: live.serving.clone(),
                    weight: record.weight,
                    sticky_header: record
                        .sticky_header
                        .as_deref()
                        .and_then(|h| HeaderName::try_from(h).ok()),
                });
            services.push(Arc::new(ServiceTarget {
                stable: live.stable.clone(),
                canary,
            }));
            routes.extend(live.spec.routes.iter().map(|route| (route, index)));
        }
        let table = RouteTable::new(Router::new(routes), services);
        let leaving: Vec<Serving> = before
            .services()
            .iter()
            .flat_map(|t| t.versions())
            .filter(|old| {
                !table
                    .services()
                    .iter()
                    .flat_map(|t| t.versions())
                    .any(|new| Arc::ptr_eq(&new.template, &old.template))
            })
            .cloned()
            .collect();
        self.app.install(table);
        if let Some(hook) = &self.config.after_install {
            hook();
        }
        if !leaving.is_empty() {
            let drain = self.config.drain_timeout;
            tokio::spawn(async move {
                tokio::time::sleep(drain).await;
                for serving in leaving {
                    serving.retire.cancel();
                }
            });
        }
    }

    fn check_routes(
        &self,
        inner: &Inner,
        service: &str,
        spec: &ServiceSpec,
    ) -> Result<(), DeployError> {
        for (other, live) in &inner.live {
            if other == service {
                continue;
            }
            if let Some(route) = spec.routes.iter().find(|r| live.spec.routes.contains(r)) {
                return Err(DeployError::RouteConflict {
                    service: service.to_string(),
                    route: route.to_string(),
                    other: other.clone(),
                });
            }
        }
        Ok(())
    }

    async fn load(&self, service: &str, version: &VersionRecord) -> Result<Loaded, DeployError> {
        let spec = parse_section(service, version)?;
        self.load_with_spec(service, version, spec).await
    }

    /// Fetches, verifies, compiles (or reads from the cache), links and
    /// pre-instantiates one version.
    async fn load_with_spec(
        &self,
        service: &str,
        version: &VersionRecord,
        spec: ServiceSpec,
    ) -> Result<Loaded, DeployError> {
        let digest = version.digest;
        if let Some(state_dir) = &self.config.state_dir {
            check_clear_of_state_dir(service, &spec, state_dir)?;
        }
        if let Some(trust) = &self.config.trust {
            trust.verify(digest.as_bytes(), version.signature.as_deref())?;
        }
        let bytes = self
            .components
            .get(&digest)
            .await
            .map_err(DeployError::Internal)?
            .ok_or(DeployError::UnknownComponent { digest })?;
        let runtime = self.runtime.clone();
        let compiled = self.compiled.clone();
        let identity = ServiceIdentity {
            name: Arc::from(service),
            version: Arc::from(version.version.as_str()),
        };
        let policy = ServicePolicy::from_spec(&spec);
        let origin = format!("{service} {} ({digest})", version.version);
        let name = service.to_string();
        let (template, outcome) = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let (component, outcome) =
                compiled.load_or_compile(runtime.engine(), &digest, || {
                    wharf_core::component::compile(&runtime, &bytes, &origin)
                })?;
            let metrics = runtime.metrics();
            metrics
                .component_cache
                .with_label_values(&[outcome.as_str()])
                .inc();
            metrics
                .compile_duration
                .with_label_values(&[&name])
                .observe(started.elapsed().as_secs_f64());
            let template =
                ServiceTemplate::from_component(&runtime, identity, &component, &origin, policy)?;
            Ok::<_, wharf_core::LoadError>((template, outcome))
        })
        .await
        .map_err(|e| {
            DeployError::Internal(anyhow::Error::from(e).context("compile task failed"))
        })??;
        Ok(Loaded {
            template: Arc::new(template),
            spec,
            compiled: outcome,
        })
    }

    /// Keeps the version `rollback` would return to compiled. A failure
    /// only costs speed later, so it is logged, not returned.
    async fn preload_previous(&self, service: &str, record: &ServiceRecord, live: &mut Live) {
        let Some(previous) = record.history.last() else {
            live.previous = None;
            return;
        };
        if live
            .previous
            .as_ref()
            .is_some_and(|(v, _)| same_version(v, previous))
        {
            return;
        }
        match self.load(service, previous).await {
            Ok(loaded) => live.previous = Some((previous.clone(), loaded.template)),
            Err(error) => {
                live.previous = None;
                tracing::warn!(service, version = %previous.version, %error, "cannot keep the previous version ready for rollback");
            }
        }
    }

    /// One tick: sample request totals and judge canaries under watch.
    async fn tick(&self) {
        // A deploy holding the lock (compiling) just delays the sample.
        let Ok(mut inner) = self.inner.try_lock() else {
            return;
        };
        let totals = requests_by_service(self.runtime.metrics());
        let now = Instant::now();
        let mut verdicts = Vec::new();
        for (name, live) in &mut inner.live {
            live.samples
                .push_back((now, totals.get(name).copied().unwrap_or(0)));
            while live.samples.len() > 6 {
                live.samples.pop_front();
            }
            let stable = &live.stable;
            if let Some(canary) = &mut live.canary
                && let Some(watch) = &mut canary.watch
                && let Some(verdict) = watch.judge(stable, &canary.serving, now)
            {
                verdicts.push((name.clone(), verdict));
            }
        }
        for (service, why) in verdicts {
            tracing::warn!(service = %service, reason = %why, "canary rolled back automatically");
            self.runtime
                .metrics()
                .rollbacks
                .with_label_values(&[&service, "automatic"])
                .inc();
            let judged = inner
                .live
                .get(&service)
                .and_then(|l| l.canary.as_ref())
                .map(|c| c.version.clone());
            let result = retry_on_conflict!(
                self,
                inner,
                self.rollback_canary(&mut inner, &service, judged.as_ref(), &why)
                    .await
            );
            if let Err(error) = result {
                tracing::error!(service = %service, %error, "automatic rollback failed");
            }
            self.settle(&mut inner).await;
        }
        self.refresh_status(&inner);
    }
}

impl Watch {
    fn new(config: AutoRollback) -> Self {
        Self {
            config,
            window_started: Instant::now(),
            stable_base: HealthSnapshot::default(),
            canary_base: HealthSnapshot::default(),
        }
    }

    fn reset(&mut self, stable: &Serving, canary: &Serving) {
        self.window_started = Instant::now();
        self.stable_base = health(stable);
        self.canary_base = health(canary);
    }

    /// At the end of each window: `Some(reason)` if the canary did worse
    /// than stable by more than the configured margins.
    fn judge(&mut self, stable: &Serving, canary: &Serving, now: Instant) -> Option<String> {
        let window = Duration::from_secs(self.config.window_secs.max(1));
        if now.duration_since(self.window_started) < window {
            return None;
        }
        let s = health(stable).since(&self.stable_base);
        let c = health(canary).since(&self.canary_base);
        self.reset(stable, canary);
        if c.requests < self.config.min_requests.max(1) {
            return None;
        }
        let (s_err, c_err) = (s.error_percent(), c.error_percent());
        if c_err > s_err + self.config.max_error_rate_increase {
            return Some(format!(
                "canary error rate {c_err:.1}% vs stable {s_err:.1}% over {} requests in {}s (allowed: +{} points)",
                c.requests, self.config.window_secs, self.config.max_error_rate_increase
            ));
        }
        if let (Some(s_p99), Some(c_p99)) = (s.p99(), c.p99())
            && c_p99.as_secs_f64() > s_p99.as_secs_f64() * self.config.max_p99_ratio
            // Below a few milliseconds the buckets are too coarse to judge.
            && c_p99 > Duration::from_millis(4)
        {
            return Some(format!(
                "canary p99 {c_p99:?} vs stable {s_p99:?} over {} requests in {}s (allowed: ×{})",
                c.requests, self.config.window_secs, self.config.max_p99_ratio
            ));
        }
        None
    }
}

fn health(serving: &Serving) -> HealthSnapshot {
    serving
        .template
        .service_metrics()
        .requests
        .health
        .snapshot()
}

async fn ticker(deployer: Weak<Deployer>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(deployer) = deployer.upgrade() else {
            return;
        };
        deployer.tick().await;
    }
}

/// Sums `wharf_http_requests_total` per service without creating series.
fn requests_by_service(metrics: &Metrics) -> std::collections::HashMap<String, u64> {
    use wharf_metrics::Collector as _;
    let mut totals = std::collections::HashMap::new();
    for family in metrics.http_requests.collect() {
        for metric in family.get_metric() {
            let service = metric
                .get_label()
                .iter()
                .find(|l| l.name() == "service")
                .map(|l| l.value().to_string());
            if let Some(service) = service {
                *totals.entry(service).or_insert(0) += metric.get_counter().value() as u64;
            }
        }
    }
    totals
}

fn parse_section(service: &str, version: &VersionRecord) -> Result<ServiceSpec, DeployError> {
    let origin = PathBuf::from(format!("deploy of {service}"));
    Ok(wharf_manifest::parse_service_section(
        service,
        &version.section,
        &origin,
        &version.base_dir,
    )?)
}

/// Refuses a `files` grant whose resolved source holds the state directory
/// or lies inside it: through it a guest could read the admin token or
/// plant compiled code. Paths are compared canonical, so neither a symlink
/// nor `..` gets around it.
fn check_clear_of_state_dir(
    service: &str,
    spec: &ServiceSpec,
    state_dir: &Path,
) -> Result<(), DeployError> {
    let resolve = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let state = resolve(state_dir);
    for grant in &spec.files {
        let source = resolve(&grant.source);
        if source.starts_with(&state) || state.starts_with(&source) {
            return Err(DeployError::BadRequest(format!(
                "service `{service}`: the files grant `{}` (source {}) would expose the host's state directory {}; grant a directory that neither holds it nor lies inside it, or move the state with --state-dir",
                grant.path,
                source.display(),
                state.display()
            )));
        }
    }
    Ok(())
}

/// The same service version: same bytes, same section, same label.
fn same_version(a: &VersionRecord, b: &VersionRecord) -> bool {
    a.digest == b.digest
        && a.section == b.section
        && a.version == b.version
        && a.base_dir == b.base_dir
}

/// A spec with no grants and minimal limits: what a brand-new service is
/// compared against, so its diff lists everything it asks for.
fn empty_like(spec: &ServiceSpec) -> ServiceSpec {
    ServiceSpec {
        routes: Vec::new(),
        outbound: Vec::new(),
        files: Vec::new(),
        sockets: Vec::new(),
        publish: Vec::new(),
        subscriptions: Vec::new(),
        variables: Vec::new(),
        key_value_stores: Vec::new(),
        ..spec.clone()
    }
}

fn check_weight(weight: u8) -> Result<(), DeployError> {
    if weight > 100 {
        return Err(DeployError::BadRequest(format!(
            "canary weight {weight} is not a percentage (0 to 100)"
        )));
    }
    Ok(())
}

fn check_label(label: &str) -> Result<(), DeployError> {
    wharf_manifest::check_version_label(label).map_err(DeployError::BadRequest)
}

fn check_header(header: Option<String>) -> Result<Option<String>, DeployError> {
    match header {
        None => Ok(None),
        Some(h) => match HeaderName::try_from(h.as_str()) {
            Ok(name) => Ok(Some(name.as_str().to_string())),
            Err(_) => Err(DeployError::BadRequest(format!(
                "`{h}` is not a valid header name"
            ))),
        },
    }
}

fn root_dir() -> PathBuf {
    Path::new("/").to_path_buf()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
