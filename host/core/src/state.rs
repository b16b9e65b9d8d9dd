//! Per-instance state: the `T` of every `Store<T>`.
//!
//! An [`InstanceState`] is created for one request and dropped with its
//! store. It is built deny-by-default: the WASI context starts from
//! `WasiCtxBuilder::new()` (no environment variables, no arguments, no
//! preopened directories, no network, empty stdin) and only the guest's
//! stdout/stderr are wired, to the host log.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::guest_log::{GuestLog, GuestStream, LogTags};
use crate::outbound::{OutboundHooks, OutboundPolicy};

/// Store data of one instance.
pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
}

impl InstanceState {
    /// Builds the deny-by-default state for one instance of a service.
    pub fn new(tags: LogTags, outbound: Arc<OutboundPolicy>) -> Self {
        let service = tags.service.clone();
        let wasi = WasiCtx::builder()
            .stdout(GuestLog::new(tags.clone(), GuestStream::Stdout))
            .stderr(GuestLog::new(tags, GuestStream::Stderr))
            .build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks {
                service,
                policy: outbound,
            },
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
