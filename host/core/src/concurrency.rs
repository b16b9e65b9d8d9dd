//! Per-service concurrency limit with a bounded wait queue.
//!
//! At most `max_concurrent` instances of a service run at once. Past that,
//! up to `max_queued` requests wait (each at most `queue_timeout`) for a
//! free slot; anyone beyond is rejected at once, so a burst turns into fast
//! 503s rather than unbounded memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request got no instance slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The wait queue was full.
    #[error("the service's wait queue is full")]
    QueueFull,
    /// The request waited `queue_timeout` without a slot coming free.
    #[error("no instance slot came free in time")]
    QueueTimeout,
}

/// The concurrency limit of one service.
#[derive(Debug)]
pub struct ConcurrencyLimit {
    slots: Arc<Semaphore>,
    queued: AtomicU32,
    max_queued: u32,
    queue_timeout: Duration,
}

impl ConcurrencyLimit {
    /// A limit of `max_concurrent` running and `max_queued` waiting.
    pub fn new(max_concurrent: u32, max_queued: u32, queue_timeout: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max_concurrent as usize)),
            queued: AtomicU32::new(0),
            max_queued,
            queue_timeout,
        }
    }

    /// Takes a slot, waiting in the queue if there is room. The slot is
    /// released when the permit is dropped.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, Rejected> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Rejected::QueueFull);
        }
        let waited =
            tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Rejected::QueueTimeout),
        }
    }

    /// Requests currently waiting for a slot.
    pub fn queued(&self) -> u32 {
        self.queued.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rejects_past_the_queue_and_times_out_in_it() {
        let limit = Arc::new(ConcurrencyLimit::new(1, 1, Duration::from_millis(50)));
        let first = limit.acquire().await;
        assert!(first.is_ok());
        let waiting = tokio::spawn({
            let limit = limit.clone();
            async move { limit.acquire().await.map(drop) }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(limit.queued(), 1);
        assert_eq!(limit.acquire().await.map(drop), Err(Rejected::QueueFull));
        assert_eq!(waiting.await.ok(), Some(Err(Rejected::QueueTimeout)));
        assert_eq!(limit.queued(), 0);
        drop(first);
        assert!(limit.acquire().await.is_ok());
    }
}
