//! Per-instance state: the `T` of every `Store<T>`.
//!
//! An [`InstanceState`] is created for one request and dropped with its
//! store. It is built deny-by-default: the WASI context starts from
//! `WasiCtxBuilder::new()` (no environment variables, no arguments, no
//! preopened directories, no socket address allowed, empty stdin), and only
//! what the service's [`ServicePolicy`] grants is added: its variables, its
//! directories (through cap-std, read-only unless granted `rw`), the socket
//! addresses it may reach (TCP and UDP are off without a socket grant),
//! and stdout/stderr wired to the host log. Its resource table holds at
//! most [`MAX_RESOURCES`](crate::limits::MAX_RESOURCES) handles.

use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};
use wharf_metrics::Metrics;

use crate::config::{ConfigVariables, ConfigView};
use crate::guest_log::{GuestLog, GuestStream, LogTags};
use crate::limiter::{InstanceLimiter, LimitHit};
use crate::outbound::OutboundHooks;
use crate::policy::ServicePolicy;

/// Store data of one instance.
pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    /// The guest's stdout and stderr, kept to retag them when a reused
    /// instance serves its next request.
    logs: [GuestLog; 2],
    config: ConfigVariables,
    messaging: Option<crate::messaging::MessagingContext>,
    key_value: wharf_keyvalue::KeyValueGrants,
    pub(crate) limiter: InstanceLimiter,
    /// Epoch ticks this instance has run for, and its budget.
    pub(crate) ticks: u64,
    pub(crate) tick_budget: u64,
    pub(crate) limit_hit: Option<LimitHit>,
}

impl InstanceState {
    /// Builds the deny-by-default state for one instance of a service.
    pub fn new(
        tags: LogTags,
        policy: &ServicePolicy,
        tick_budget: u64,
        metrics: &Arc<Metrics>,
        outbound: crate::outbound::OutboundContext,
    ) -> anyhow::Result<Self> {
        let service = tags.service.clone();
        let logs = [
            GuestLog::new(tags.clone(), GuestStream::Stdout),
            GuestLog::new(tags, GuestStream::Stderr),
        ];
        let mut builder = WasiCtx::builder();
        builder
            .stdout(logs[0].clone())
            .stderr(logs[1].clone())
            .envs(&policy.env);
        for grant in policy.files.iter() {
            let perms = if grant.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&grant.source, &grant.path, perms)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("cannot open granted directory {}", grant.source.display())
                })?;
        }
        // wasmtime-wasi allocates an OS socket at `create-tcp-socket` /
        // `create-udp-socket`, before any address is known: a service with
        // no socket grant must not get that far, or it can hold thousands
        // of the host's file descriptors. So TCP and UDP are enabled only
        // with a grant (name lookup never: grants are addresses), and then
        // the address check below decides every bind, connect and send,
        // and the resource-table cap bounds how many sockets one instance
        // holds.
        let granted = !policy.sockets.is_empty();
        builder
            .allow_tcp(granted)
            .allow_udp(granted)
            .allow_ip_name_lookup(false);
        let sockets = policy.sockets.clone();
        let denied = metrics
            .outbound_denied
            .with_label_values(&[&*service, "socket"]);
        builder.socket_addr_check(move |addr, usage| {
            let allowed = match usage {
                // Implicit binds before a connect or send use the
                // unspecified address and port 0; the destination is
                // checked on its own.
                SocketAddrUse::TcpBind | SocketAddrUse::UdpBind
                    if !sockets.is_empty() && addr.ip().is_unspecified() && addr.port() == 0 =>
                {
                    true
                }
                _ => sockets.iter().any(|grant| grant.allows(addr)),
            };
            if !allowed && !addr.ip().is_unspecified() {
                denied.inc();
            }
            tracing::debug!(%addr, ?usage, allowed, "socket address check");
            Box::pin(async move { allowed })
        });
        let messaging = outbound
            .broker
            .clone()
            .map(|broker| crate::messaging::MessagingContext {
                broker,
                namespace: outbound.namespace.clone(),
                publish: policy.publish.clone(),
                reply_to: outbound.reply_to.clone(),
                propagate: outbound.propagate.clone(),
                metadata: outbound.message_metadata.clone(),
            });
        Ok(Self {
            logs,
            messaging,
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(crate::limits::MAX_RESOURCES);
                table
            },
            hooks: OutboundHooks {
                service,
                policy: policy.outbound.clone(),
                metrics: metrics.clone(),
                context: outbound,
            },
            config: policy.config.clone(),
            key_value: policy.key_value.clone(),
            limiter: InstanceLimiter::new(
                usize::try_from(policy.limits.memory_bytes).unwrap_or(usize::MAX),
            ),
            ticks: 0,
            tick_budget,
            limit_hit: None,
        })
    }

    /// Readies a reused instance's state for its next request: that
    /// request's ID on log lines and outbound calls, its trace context, and
    /// a fresh CPU-time budget. Grants are the version's and do not change.
    pub(crate) fn rebind(
        &mut self,
        request_id: Arc<str>,
        outbound: crate::outbound::OutboundContext,
    ) {
        for log in &self.logs {
            log.retag(request_id.clone());
        }
        if let Some(messaging) = &mut self.messaging {
            messaging.reply_to = outbound.reply_to.clone();
            messaging.propagate = outbound.propagate.clone();
            messaging.metadata = outbound.message_metadata.clone();
        }
        self.hooks.context = outbound;
        self.ticks = 0;
        self.limit_hit = None;
    }

    /// Whether the guest left nothing behind in the resource table (no
    /// open stream, body or pollable): only such an instance is reused, so
    /// a request can never pick up a handle of an earlier one.
    pub(crate) fn is_quiescent(&self) -> bool {
        self.table.is_empty()
    }

    /// Which limit ended the instance, if one did.
    pub fn limit_hit(&self) -> Option<LimitHit> {
        self.limit_hit
            .or_else(|| self.limiter.memory_denied().then_some(LimitHit::Memory))
    }

    /// The largest linear memory the instance reached, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limiter.peak_memory()
    }

    pub(crate) fn config_view(&mut self) -> ConfigView<'_> {
        ConfigView::new(&self.config)
    }

    pub(crate) fn key_value_view(&mut self) -> wharf_keyvalue::KeyValueView<'_> {
        wharf_keyvalue::KeyValueView::new(&self.key_value, &mut self.table, &self.hooks.service)
    }

    pub(crate) fn wasi_messaging_view(&mut self) -> crate::wasi_messaging::WasiMessagingView<'_> {
        crate::wasi_messaging::WasiMessagingView {
            context: self.messaging.as_ref(),
            table: &mut self.table,
            service: &self.hooks.service,
        }
    }

    /// The instance's resource table, where the host puts the resources it
    /// hands a guest (a received `wasi:messaging` message).
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    pub(crate) fn messaging_view(&mut self) -> crate::messaging::MessagingView<'_> {
        crate::messaging::MessagingView {
            context: self.messaging.as_ref(),
            service: &self.hooks.service,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
