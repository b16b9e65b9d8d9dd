//! Size limits on streamed bodies.
//!
//! Bodies stream, so a limit cannot be checked up front unless the peer
//! declared a `content-length`. [`LimitedBody`] counts bytes as they pass
//! and fails the stream the moment the limit is crossed, recording that it
//! did so the handler can answer 413 (request) or cut the connection
//! (response) instead of a generic error.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::Error as HttpError;

pin_project_lite::pin_project! {
    /// A body that fails once more than `limit` bytes have passed.
    pub struct LimitedBody<B> {
        #[pin]
        inner: B,
        limit: u64,
        seen: u64,
        exceeded: Arc<AtomicBool>,
        is_request: bool,
        // Bytes that passed, readable by whoever records the request.
        counted: Option<Arc<AtomicU64>>,
    }
}

impl<B> LimitedBody<B> {
    /// Limits a request body; `exceeded` is set if the limit is crossed,
    /// and `counted` tracks the bytes that passed.
    pub fn request(
        inner: B,
        limit: u64,
        exceeded: Arc<AtomicBool>,
        counted: Arc<AtomicU64>,
    ) -> Self {
        Self {
            inner,
            limit,
            seen: 0,
            exceeded,
            is_request: true,
            counted: Some(counted),
        }
    }

    /// Limits a response body.
    pub fn response(inner: B, limit: u64) -> Self {
        Self {
            inner,
            limit,
            seen: 0,
            exceeded: Arc::new(AtomicBool::new(false)),
            is_request: false,
            counted: None,
        }
    }
}

impl<B> Body for LimitedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<HttpError>,
{
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.seen = this.seen.saturating_add(data.len() as u64);
                    if let Some(counted) = this.counted {
                        counted.store(*this.seen, Ordering::Relaxed);
                    }
                    if *this.seen > *this.limit {
                        this.exceeded.store(true, Ordering::Release);
                        let limit = Some(*this.limit);
                        return Poll::Ready(Some(Err(if *this.is_request {
                            HttpError::HttpRequestBodySize(limit)
                        } else {
                            HttpError::HttpResponseBodySize(limit)
                        })));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
