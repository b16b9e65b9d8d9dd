//! Loading a component: bytes → compiled → linked → pre-instantiated.
//!
//! Everything that can be done once per service version happens here, at
//! load, so the per-request path is only "new store, instantiate from the
//! template, call". Anything wrong with a component is found here too and
//! reported as a [`LoadError`] that names the problem: not Wasm, a core
//! module instead of a component, an import the host does not provide, a
//! WASI 0.3 pre-release, or no HTTP handler export.
//!
//! The [`GuestAbi`] of an HTTP service is decided here too, once per
//! version: a component exporting `wasi:http/incoming-handler@0.2.x` is a
//! WASI 0.2 service, one exporting `wasi:http/handler@0.3.x` a WASI 0.3
//! service. The triggers dispatch on that value instead of looking at
//! exports per request.

use std::sync::Arc;

use wasmtime::component::Component;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::handler::Proxy;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use wharf_metrics::{Metrics, ServiceMetrics};

use crate::concurrency::ConcurrencyLimit;
use crate::guest_log::LogTags;
use crate::limiter::LimitHit;
use crate::policy::ServicePolicy;
use crate::reuse::{IdleInstances, Instance};
use crate::runtime::Runtime;
use crate::state::InstanceState;

/// The export of a WASI 0.2 HTTP service (any 0.2.x minor version).
pub const INCOMING_HANDLER_EXPORT: &str = "wasi:http/incoming-handler@0.2.x";

/// The export of a WASI 0.3 HTTP service (any 0.3.x minor version).
pub const HANDLER_EXPORT_P3: &str = "wasi:http/handler@0.3.x";

/// The WASI 0.3 release the host implements (wasmtime 48's `p3` WIT); a
/// component importing any later 0.3.x minor runs too, a pre-release
/// (`0.3.0-rc-…`) does not.
pub const WASI_P3_VERSION: &str = "0.3.0";

/// How a service version's HTTP handler is called: chosen once at load from
/// what the component exports, pre-instantiated, and dispatched on per
/// request.
pub enum GuestAbi {
    /// WASI 0.2: `wasi:http/incoming-handler@0.2.x`, one synchronous call
    /// per request that answers through a `response-outparam`.
    HttpP2(ProxyPre<InstanceState>),
    /// WASI 0.3: `wasi:http/handler@0.3.x`, an async export that returns the
    /// response and may keep running (streaming its body) afterwards.
    HttpP3(ServicePre<InstanceState>),
}

impl GuestAbi {
    /// Instantiates the handler in `store`.
    pub async fn instantiate(&self, store: &mut Store<InstanceState>) -> wasmtime::Result<Proxy> {
        Ok(match self {
            GuestAbi::HttpP2(pre) => Proxy::P2(pre.instantiate_async(store).await?),
            GuestAbi::HttpP3(pre) => Proxy::P3(pre.instantiate_async(store).await?),
        })
    }

    /// The WASI release this ABI belongs to, for logs and `wharf ps`.
    pub fn wasi(&self) -> &'static str {
        match self {
            GuestAbi::HttpP2(_) => "0.2",
            GuestAbi::HttpP3(_) => "0.3",
        }
    }
}

/// The export a service with subscriptions must provide (either one).
pub const MESSAGE_HANDLER_EXPORT: &str =
    "wasi:messaging/incoming-handler@0.2.0-draft` or `wasmcloud:messaging/handler@0.2.0";

/// The interface label that has covered several incompatible WIT texts.
const WASI_MESSAGING_LABEL: &str = "@0.2.0-draft";

/// Why a component was refused at load. Callers branch on it (the CLI exits
/// non-zero, a deploy API answers 422), so it is a typed error.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("{origin} is not a WebAssembly file (it does not start with the `\\0asm` magic bytes)")]
    NotWasm {
        /// Where the bytes came from (a path, an upload).
        origin: String,
    },
    /// A core module was given where a component is needed.
    #[error(
        "{origin} is a core WebAssembly module, not a component: build it for `wasm32-wasip2`, or wrap it with `wasm-tools component new`"
    )]
    CoreModule {
        /// Where the bytes came from.
        origin: String,
    },
    /// wasmtime could not compile the component.
    #[error("{origin} failed to compile: {reason}")]
    Compile {
        /// Where the bytes came from.
        origin: String,
        /// wasmtime's explanation, flattened to one line.
        reason: String,
    },
    /// The component imports something this host does not provide.
    #[error(
        "{origin} imports `{import}`, which this host does not provide{detail}; Wharf provides WASI 0.2 and 0.3 (wasi:cli, wasi:clocks, wasi:filesystem, wasi:http, wasi:io, wasi:random, wasi:sockets)"
    )]
    MissingImport {
        /// Where the bytes came from.
        origin: String,
        /// The fully qualified import name, e.g. `acme:secret/vault`.
        import: String,
        /// Extra detail from the type checker (e.g. a type mismatch), if any.
        detail: String,
    },
    /// The component is built against a pre-release of WASI 0.3.
    #[error(
        "{origin} {direction} `{name}`, from the WASI 0.3 pre-release {version}; this host implements WASI {implemented} (any 0.3.x release runs, pre-releases do not): rebuild it with a toolchain for WASI 0.3.0 or later (e.g. the `wasip3` crate 0.9+)"
    )]
    PreRelease {
        /// Where the bytes came from.
        origin: String,
        /// `imports` or `exports`.
        direction: &'static str,
        /// The pre-release interface, e.g. `wasi:http/types@0.3.0-rc-2026-03-15`.
        name: String,
        /// Its version, e.g. `0.3.0-rc-2026-03-15`.
        version: String,
        /// The WASI 0.3 version the host implements ([`WASI_P3_VERSION`]).
        implemented: &'static str,
    },
    /// The component exports no HTTP handler of either WASI release.
    #[error(
        "{origin} does not export `{INCOMING_HANDLER_EXPORT}` (WASI 0.2) or `{HANDLER_EXPORT_P3}` (WASI 0.3), which its manifest entry needs (it exports: {found})"
    )]
    NoHttpHandler {
        /// Where the bytes came from.
        origin: String,
        /// What the component does export, comma-separated.
        found: String,
    },
    /// The component does not export what its manifest entry needs.
    #[error(
        "{origin} does not export `{expected}`, which its manifest entry needs (it exports: {found})"
    )]
    MissingExport {
        /// Where the bytes came from.
        origin: String,
        /// What was expected.
        expected: &'static str,
        /// What the component does export, comma-separated.
        found: String,
    },
    /// The service asks for more memory per instance than the host allows.
    #[error(
        "{origin}: a memory limit of {requested} bytes exceeds the host's per-instance maximum of {maximum} bytes"
    )]
    MemoryLimitTooLarge {
        /// Where the bytes came from.
        origin: String,
        /// The service's limit.
        requested: u64,
        /// The host's maximum.
        maximum: u64,
    },
    /// The component was built against an older text of
    /// `wasi:messaging@0.2.0-draft`: the label has covered three
    /// incompatible texts, and the host implements the newest.
    #[error(
        "{origin} was built against an older, incompatible text of `wasi:messaging@0.2.0-draft` (`{interface}` does not match{detail}); the version label has covered three different texts, and Wharf implements the newest (WebAssembly/wasi-messaging at f027346, Dec 2024, vendored in wit/deps/messaging): rebuild the component against it"
    )]
    OutdatedMessagingText {
        /// Where the bytes came from.
        origin: String,
        /// The import or export that does not match.
        interface: String,
        /// What the type checker said, if anything.
        detail: String,
    },
    /// Linking failed for a reason other than a missing import.
    #[error("{origin} could not be linked: {reason}")]
    Link {
        /// Where the bytes came from.
        origin: String,
        /// wasmtime's explanation, flattened to one line.
        reason: String,
    },
}

/// The name and version label of a service, shared by all its instances.
#[derive(Debug, Clone)]
pub struct ServiceIdentity {
    /// Service name from the manifest.
    pub name: Arc<str>,
    /// Version label from the manifest.
    pub version: Arc<str>,
}

/// One loaded version of an HTTP service: compiled, linked and
/// pre-instantiated, ready to create an instance per request.
pub struct ServiceTemplate {
    identity: ServiceIdentity,
    metrics: Arc<Metrics>,
    /// This version's metric handles, resolved once.
    service_metrics: ServiceMetrics,
    engine: wasmtime::Engine,
    /// The HTTP entry point and its ABI, when the component exports one.
    http: Option<GuestAbi>,
    /// The message entry point, when the service has subscriptions.
    messaging: Option<crate::messaging::WasmcloudMessagingPre<InstanceState>>,
    /// The standard message entry point; preferred over `messaging` when
    /// a component exports both.
    wasi_messaging: Option<crate::wasi_messaging::WasiMessagingPre<InstanceState>>,
    policy: ServicePolicy,
    /// CPU-time budget in epoch ticks.
    tick_budget: u64,
    concurrency: ConcurrencyLimit,
    /// Idle HTTP instances, when the service opted into reuse.
    idle: Option<Arc<IdleInstances>>,
}

impl ServiceTemplate {
    /// Compiles, links and pre-instantiates `bytes`.
    ///
    /// `origin` names the bytes in error messages (usually the file path).
    pub fn load(
        runtime: &Runtime,
        identity: ServiceIdentity,
        bytes: &[u8],
        origin: &str,
        policy: ServicePolicy,
    ) -> Result<Self, LoadError> {
        check_memory_limit(runtime, &policy, origin)?;
        let component = compile(runtime, bytes, origin)?;
        Self::from_component(runtime, identity, &component, origin, policy)
    }

    /// Links and pre-instantiates an already compiled `component` (from
    /// [`compile`] or a compiled-code cache).
    pub fn from_component(
        runtime: &Runtime,
        identity: ServiceIdentity,
        component: &Component,
        origin: &str,
        policy: ServicePolicy,
    ) -> Result<Self, LoadError> {
        check_memory_limit(runtime, &policy, origin)?;
        let mut policy = policy;
        policy.key_value = policy.key_value.with_backend(runtime.key_value().cloned());
        let origin = origin.to_string();
        let exports = Exports::of(runtime, component);
        if let Some(error) = exports.pre_release(&origin) {
            return Err(error);
        }
        let serves_http = policy.serves_http;
        let handles_messages = !policy.subscriptions.is_empty();
        let has_http = exports.http.is_some();
        if (serves_http || !handles_messages) && !has_http {
            return Err(LoadError::NoHttpHandler {
                found: exports.found(),
                origin,
            });
        }
        if let Some(old) = exports.outdated_messaging() {
            return Err(LoadError::OutdatedMessagingText {
                origin,
                interface: old.to_string(),
                detail: String::new(),
            });
        }
        if handles_messages && !exports.messaging && !exports.wasi_messaging {
            return Err(exports.missing(&origin, MESSAGE_HANDLER_EXPORT));
        }
        let instance_pre = runtime
            .linker()
            .instantiate_pre(component)
            .map_err(|e| link_error(&e, &origin))?;
        let link = |e: wasmtime::Error| LoadError::Link {
            origin: origin.clone(),
            reason: one_line(&e),
        };
        let http = match exports.http {
            Some(HttpExport::P2) => Some(GuestAbi::HttpP2(
                ProxyPre::new(instance_pre.clone()).map_err(link)?,
            )),
            Some(HttpExport::P3) => Some(GuestAbi::HttpP3(
                ServicePre::new(instance_pre.clone()).map_err(link)?,
            )),
            None => None,
        };
        let messaging = if exports.messaging {
            Some(crate::messaging::WasmcloudMessagingPre::new(instance_pre.clone()).map_err(link)?)
        } else {
            None
        };
        let wasi_messaging = if exports.wasi_messaging {
            Some(
                crate::wasi_messaging::WasiMessagingPre::new(instance_pre).map_err(|e| {
                    LoadError::OutdatedMessagingText {
                        origin: origin.clone(),
                        interface: crate::wasi_messaging::INCOMING_HANDLER_EXPORT.to_string(),
                        detail: format!(": {}", one_line(&e)),
                    }
                })?,
            )
        } else {
            None
        };
        let limits = &policy.limits;
        let concurrency = ConcurrencyLimit::new(
            limits.max_concurrent,
            limits.max_queued,
            limits.queue_timeout,
        );
        Ok(Self {
            service_metrics: runtime.metrics().service(&identity.name, &identity.version),
            identity,
            metrics: runtime.metrics().clone(),
            engine: runtime.engine().clone(),
            http,
            messaging,
            wasi_messaging,
            tick_budget: policy.cpu_ticks(runtime.epoch_tick()),
            idle: IdleInstances::new(policy.limits.instance_reuse),
            policy,
            concurrency,
        })
    }

    /// This version's metric handles.
    pub fn service_metrics(&self) -> &ServiceMetrics {
        &self.service_metrics
    }

    /// Grants and limits of this version.
    pub fn policy(&self) -> &ServicePolicy {
        &self.policy
    }

    /// The service's concurrency limit.
    pub fn concurrency(&self) -> &ConcurrencyLimit {
        &self.concurrency
    }

    /// Name and version of the service.
    pub fn identity(&self) -> &ServiceIdentity {
        &self.identity
    }

    /// The pre-instantiated component's HTTP entry point and its ABI, if it
    /// serves HTTP.
    pub fn http(&self) -> Option<&GuestAbi> {
        self.http.as_ref()
    }

    /// The pre-instantiated component's message entry point, if it
    /// handles messages.
    pub fn messaging(&self) -> Option<&crate::messaging::WasmcloudMessagingPre<InstanceState>> {
        self.messaging.as_ref()
    }

    /// Whether this version handles messages (exports either message
    /// handler).
    pub fn handles_messages(&self) -> bool {
        self.wasi_messaging.is_some() || self.messaging.is_some()
    }

    /// Instantiates this version in `store` and hands it `message`.
    ///
    /// A component that exports both handlers gets every message through
    /// the standard `wasi:messaging/incoming-handler`; its
    /// `wasmcloud:messaging/handler` is then never called. The outer error
    /// is a trap (or no handler at all), the inner one the guest's own
    /// error.
    pub async fn handle_message(
        &self,
        store: &mut Store<InstanceState>,
        message: &wharf_messaging::Message,
    ) -> anyhow::Result<Result<(), String>> {
        if let Some(pre) = &self.wasi_messaging {
            return crate::wasi_messaging::handle(pre, store, message)
                .await
                .map_err(anyhow::Error::from);
        }
        let Some(pre) = &self.messaging else {
            anyhow::bail!("this version exports no message handler");
        };
        let msg = crate::messaging::BrokerMessage {
            subject: message.subject.clone(),
            body: message.body.to_vec(),
            reply_to: message.reply_to.clone(),
        };
        let bindings = pre.instantiate_async(&mut *store).await?;
        Ok(bindings
            .wasmcloud_messaging_handler()
            .call_handle_message(&mut *store, &msg)
            .await?)
    }

    /// An instance for one HTTP request: an idle one of this version bound
    /// to the request when the service reuses instances and one is idle,
    /// otherwise a [fresh store](Self::new_store) to instantiate.
    pub fn checkout(
        &self,
        request_id: Arc<str>,
        outbound: crate::outbound::OutboundContext,
    ) -> anyhow::Result<Instance> {
        if let Some(mut instance) = self.idle.as_ref().and_then(|idle| idle.take()) {
            instance.store.data_mut().rebind(request_id, outbound);
            // The deadline counts from now, not from the last request.
            instance.store.set_epoch_deadline(1);
            return Ok(instance);
        }
        Ok(Instance::fresh(self.new_store(request_id, outbound)?))
    }

    /// Hands back an instance whose request ended cleanly (`handle`
    /// returned, no limit hit); it is kept for the next request if the
    /// service reuses instances, and dropped otherwise.
    pub fn check_in(&self, store: Store<InstanceState>, proxy: Proxy, served: u32) {
        if let Some(idle) = &self.idle {
            idle.put(store, proxy, served);
        }
    }

    /// A fresh store for one request: deny-by-default state, the memory
    /// limiter, and an epoch callback that yields to other tasks at every
    /// tick and interrupts the guest once its CPU-time budget is spent.
    ///
    /// `outbound` adds the request's context (trace context, request ID)
    /// to every outbound request the instance makes, and dispatches calls
    /// to other services of the app in-process.
    pub fn new_store(
        &self,
        request_id: Arc<str>,
        outbound: crate::outbound::OutboundContext,
    ) -> anyhow::Result<Store<InstanceState>> {
        let tags = LogTags {
            service: self.identity.name.clone(),
            version: self.identity.version.clone(),
            request_id,
        };
        let state = InstanceState::new(
            tags,
            &self.policy,
            self.tick_budget,
            &self.metrics,
            outbound,
        )?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.ticks += 1;
            if state.ticks >= state.tick_budget {
                state.limit_hit = Some(LimitHit::CpuTime);
                return Ok(UpdateDeadline::Interrupt);
            }
            // Yielding at every tick is what keeps a busy guest from
            // starving the other tasks on its worker thread.
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }
}

/// Compiles `bytes` into a component for `runtime`'s engine, after
/// checking they are a component at all.
pub fn compile(runtime: &Runtime, bytes: &[u8], origin: &str) -> Result<Component, LoadError> {
    check_header(bytes, origin)?;
    Component::new(runtime.engine(), bytes).map_err(|e| LoadError::Compile {
        origin: origin.to_string(),
        reason: one_line(&e),
    })
}

fn check_memory_limit(
    runtime: &Runtime,
    policy: &ServicePolicy,
    origin: &str,
) -> Result<(), LoadError> {
    let maximum = runtime.limits().max_memory_bytes as u64;
    if policy.limits.memory_bytes > maximum {
        return Err(LoadError::MemoryLimitTooLarge {
            origin: origin.to_string(),
            requested: policy.limits.memory_bytes,
            maximum,
        });
    }
    Ok(())
}

/// Wasm binaries start with `\0asm` and a 4-byte version whose upper half
/// is the layer: 0 for core modules, 1 for components.
fn check_header(bytes: &[u8], origin: &str) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm {
            origin: origin.to_string(),
        });
    }
    if bytes[6..8] == [0, 0] {
        return Err(LoadError::CoreModule {
            origin: origin.to_string(),
        });
    }
    Ok(())
}

/// Which HTTP handler a component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpExport {
    P2,
    P3,
}

/// The entry points a component exports, and what it imports.
struct Exports {
    names: Vec<String>,
    imports: Vec<String>,
    http: Option<HttpExport>,
    messaging: bool,
    wasi_messaging: bool,
}

impl Exports {
    fn of(runtime: &Runtime, component: &Component) -> Self {
        let ty = component.component_type();
        let names: Vec<String> = ty
            .exports(runtime.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        let imports = ty
            .imports(runtime.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        let exports_release = |prefix: &str| {
            names.iter().any(|name| {
                name.strip_prefix(prefix)
                    .is_some_and(|patch| !patch.contains('-'))
            })
        };
        // A component exporting both is served as WASI 0.3, as `wasmtime
        // serve` does.
        let http = if exports_release("wasi:http/handler@0.3.") {
            Some(HttpExport::P3)
        } else if exports_release("wasi:http/incoming-handler@0.2.") {
            Some(HttpExport::P2)
        } else {
            None
        };
        Self {
            http,
            messaging: names
                .iter()
                .any(|name| name == "wasmcloud:messaging/handler@0.2.0"),
            wasi_messaging: names
                .iter()
                .any(|name| name == crate::wasi_messaging::INCOMING_HANDLER_EXPORT),
            names,
            imports,
        }
    }

    /// The refusal of a component that imports or exports a WASI 0.3
    /// pre-release interface (`wasi:…@0.3.0-rc-…`): its types predate the
    /// release, so it would fail to link, or worse, link and misbehave.
    fn pre_release(&self, origin: &str) -> Option<LoadError> {
        let imports = self.imports.iter().map(|name| ("imports", name));
        let exports = self.names.iter().map(|name| ("exports", name));
        imports.chain(exports).find_map(|(direction, name)| {
            let version = wasi_p3_pre_release(name)?;
            Some(LoadError::PreRelease {
                origin: origin.to_string(),
                direction,
                name: name.clone(),
                version: version.to_string(),
                implemented: WASI_P3_VERSION,
            })
        })
    }

    fn found(&self) -> String {
        if self.names.is_empty() {
            "nothing".to_string()
        } else {
            self.names.join(", ")
        }
    }

    /// An export only an older `wasi:messaging@0.2.0-draft` text has
    /// (the February 2024 text's `messaging-guest`).
    fn outdated_messaging(&self) -> Option<&str> {
        self.names
            .iter()
            .find(|name| {
                is_wasi_messaging(name) && **name != crate::wasi_messaging::INCOMING_HANDLER_EXPORT
            })
            .map(String::as_str)
    }

    fn missing(&self, origin: &str, expected: &'static str) -> LoadError {
        LoadError::MissingExport {
            origin: origin.to_string(),
            expected,
            found: self.found(),
        }
    }
}

/// The version of a `wasi:` interface name that is a 0.3 pre-release
/// (`wasi:http/types@0.3.0-rc-2026-03-15` → `0.3.0-rc-2026-03-15`).
fn wasi_p3_pre_release(name: &str) -> Option<&str> {
    let (interface, version) = name.split_once('@')?;
    (interface.starts_with("wasi:") && version.starts_with("0.3.") && version.contains('-'))
        .then_some(version)
}

/// wasmtime reports a missing import as "component imports instance `X`,
/// but a matching implementation was not found in the linker"; pull `X` out
/// so the user sees the name first.
fn link_error(error: &wasmtime::Error, origin: &str) -> LoadError {
    let message = error.to_string();
    let import = message
        .strip_prefix("component imports ")
        .and_then(|rest| rest.split_once('`'))
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_string());
    match import {
        Some(import) if is_wasi_messaging(&import) => {
            // Every interface of the current text is in the linker, so a
            // `wasi:messaging@0.2.0-draft` import that does not link comes
            // from another text under the same label.
            let causes: Vec<String> = error.chain().skip(1).map(|c| c.to_string()).collect();
            LoadError::OutdatedMessagingText {
                origin: origin.to_string(),
                interface: import,
                detail: if causes.is_empty() {
                    String::new()
                } else {
                    format!(": {}", causes.join(": "))
                },
            }
        }
        Some(import) => {
            let causes: Vec<String> = error.chain().skip(1).map(|c| c.to_string()).collect();
            // When the whole interface is absent wasmtime still reports its
            // first function as "missing"; that adds nothing to the name.
            let absent = causes
                .iter()
                .any(|c| c.contains("implementation is missing"));
            let detail = if causes.is_empty() || absent {
                String::new()
            } else {
                format!(" ({})", causes.join(": "))
            };
            LoadError::MissingImport {
                origin: origin.to_string(),
                import,
                detail,
            }
        }
        None => LoadError::Link {
            origin: origin.to_string(),
            reason: one_line(error),
        },
    }
}

/// Whether `name` is an interface of `wasi:messaging@0.2.0-draft`.
fn is_wasi_messaging(name: &str) -> bool {
    name.starts_with("wasi:messaging/") && name.ends_with(WASI_MESSAGING_LABEL)
}

fn one_line(error: &wasmtime::Error) -> String {
    error
        .chain()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::wasi_p3_pre_release;

    #[test]
    fn only_wasi_0_3_pre_releases_are_pre_releases() {
        assert_eq!(
            wasi_p3_pre_release("wasi:http/types@0.3.0-rc-2026-03-15"),
            Some("0.3.0-rc-2026-03-15")
        );
        assert_eq!(wasi_p3_pre_release("wasi:http/types@0.3.0"), None);
        assert_eq!(wasi_p3_pre_release("wasi:http/handler@0.3.2"), None);
        // WASI 0.2 drafts (wasi:config, wasi:keyvalue) are their own matter.
        assert_eq!(wasi_p3_pre_release("wasi:config/store@0.2.0-draft"), None);
        assert_eq!(wasi_p3_pre_release("acme:x/y@0.3.0-rc-1"), None);
        assert_eq!(wasi_p3_pre_release("wasi:http/types"), None);
    }
}
