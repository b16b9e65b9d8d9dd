//! Guest stdout and stderr, captured line by line as tagged log events.
//!
//! A guest's output is not the host's output: it must never reach the
//! terminal untagged, and a guest that prints without newlines, or prints
//! megabytes, must not grow host memory. Each stream keeps at most
//! [`MAX_LINE_BYTES`] of a pending line; anything past that is dropped up to
//! the next newline and the emitted line is marked as truncated.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longest line kept from a guest; the rest of that line is dropped.
///
/// Guards against a guest that writes without newlines to exhaust host
/// memory through the line buffer.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Which guest stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestStream {
    /// `wasi:cli/stdout`.
    Stdout,
    /// `wasi:cli/stderr`.
    Stderr,
}

impl GuestStream {
    fn as_str(self) -> &'static str {
        match self {
            GuestStream::Stdout => "stdout",
            GuestStream::Stderr => "stderr",
        }
    }
}

/// One guest line as a [`tap`] subscriber sees it.
#[derive(Debug, Clone)]
pub struct TappedLine {
    /// Service name.
    pub service: Arc<str>,
    /// Version label.
    pub version: Arc<str>,
    /// `stdout` or `stderr`.
    pub stream: &'static str,
    /// The line, lossily UTF-8, without its newline.
    pub line: Arc<str>,
    /// Whether the guest's line was longer than [`MAX_LINE_BYTES`].
    pub truncated: bool,
}

/// Lines a slow [`tap`] subscriber may fall behind by before it loses the
/// oldest (it is told how many it lost).
const TAP_CAPACITY: usize = 256;

static TAP: OnceLock<tokio::sync::broadcast::Sender<Arc<TappedLine>>> = OnceLock::new();

/// Every guest line of this process from now on (the operator console's log
/// stream). Bounded: a subscriber that falls more than 256 lines behind
/// loses the oldest. Lines cost nothing extra while nobody subscribes.
pub fn tap() -> tokio::sync::broadcast::Receiver<Arc<TappedLine>> {
    TAP.get_or_init(|| tokio::sync::broadcast::channel(TAP_CAPACITY).0)
        .subscribe()
}

/// Tags attached to every line a guest writes.
#[derive(Debug, Clone)]
pub struct LogTags {
    /// Service name.
    pub service: Arc<str>,
    /// Version label of the service.
    pub version: Arc<str>,
    /// Host-assigned ID of the request the instance serves.
    pub request_id: Arc<str>,
}

/// A [`StdoutStream`] that turns guest output into `tracing` events.
#[derive(Clone)]
pub struct GuestLog {
    inner: Arc<Mutex<LineBuffer>>,
}

struct LineBuffer {
    tags: LogTags,
    stream: GuestStream,
    pending: Vec<u8>,
    truncated: bool,
}

impl GuestLog {
    /// Creates a log stream for one instance.
    pub fn new(tags: LogTags, stream: GuestStream) -> Self {
        Self {
            inner: Arc::new(Mutex::new(LineBuffer {
                tags,
                stream,
                pending: Vec::new(),
                truncated: false,
            })),
        }
    }

    /// Tags the lines of the next request an instance serves with its ID;
    /// a pending partial line is emitted first, under the request that wrote
    /// it. Only reused instances need this.
    pub fn retag(&self, request_id: Arc<str>) {
        let mut buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !buf.pending.is_empty() || buf.truncated {
            buf.emit();
        }
        buf.tags.request_id = request_id;
    }

    fn write_bytes(&self, bytes: &[u8]) {
        // A poisoned lock only means another writer panicked mid-line;
        // the buffer is still a valid byte vector.
        let mut buf = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        buf.write(bytes);
    }
}

impl LineBuffer {
    fn write(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let (line, rest, complete) = match bytes.iter().position(|b| *b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            let room = MAX_LINE_BYTES.saturating_sub(self.pending.len());
            if line.len() > room {
                self.pending.extend_from_slice(&line[..room]);
                self.truncated = true;
            } else {
                self.pending.extend_from_slice(line);
            }
            if complete {
                self.emit();
            }
            bytes = rest;
        }
    }

    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.pending);
        let line = line.trim_end_matches('\r');
        let tags = &self.tags;
        tracing::info!(
            target: "wharf::guest",
            service = %tags.service,
            version = %tags.version,
            request_id = %tags.request_id,
            stream = self.stream.as_str(),
            truncated = self.truncated,
            "{}",
            wharf_telemetry::guest_text_within(line, MAX_LINE_BYTES)
        );
        if let Some(tap) = TAP.get()
            && tap.receiver_count() > 0
        {
            let _ = tap.send(Arc::new(TappedLine {
                service: tags.service.clone(),
                version: tags.version.clone(),
                stream: self.stream.as_str(),
                line: line.into(),
                truncated: self.truncated,
            }));
        }
        self.pending.clear();
        self.truncated = false;
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        // A last line without a newline still belongs in the log.
        if !self.pending.is_empty() || self.truncated {
            self.emit();
        }
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for GuestLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestLog {
    async fn ready(&mut self) {}
}

impl AsyncWrite for GuestLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffer() -> LineBuffer {
        LineBuffer {
            tags: LogTags {
                service: "svc".into(),
                version: "1".into(),
                request_id: "r".into(),
            },
            stream: GuestStream::Stdout,
            pending: Vec::new(),
            truncated: false,
        }
    }

    #[test]
    fn line_without_newline_is_bounded() {
        let mut buf = buffer();
        for _ in 0..1000 {
            buf.write(&[b'x'; 4096]);
        }
        assert_eq!(buf.pending.len(), MAX_LINE_BYTES);
        assert!(buf.truncated);
        buf.write(b"\nnext");
        assert_eq!(buf.pending, b"next");
        assert!(!buf.truncated);
    }

    #[test]
    fn complete_lines_are_emitted_and_cleared() {
        let mut buf = buffer();
        buf.write(b"one\ntwo\nthr");
        assert_eq!(buf.pending, b"thr");
    }
}
