//! Bulkhead: a cap on the calls in flight to one provider.
//!
//! A call takes a slot for the time of one attempt (not while it waits out a backoff). When all
//! slots are taken it may wait `max_wait` (never past the request's deadline; until the
//! deadline when the caller has no other provider to go to), and at most
//! `max_waiting` calls may wait at once; beyond either, the call is refused with
//! [`ProviderError::Busy`](crate::providers::ProviderError::Busy) and the request moves on to
//! the next provider. There is no unbounded queue anywhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::config::BulkheadConfig;

/// See the module docs.
pub struct Bulkhead {
    slots: Arc<Semaphore>,
    capacity: usize,
    max_wait: Duration,
    max_waiting: usize,
    waiting: AtomicUsize,
}

/// The bulkhead had no slot for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Bulkhead {
    pub fn new(config: &BulkheadConfig) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(config.max_concurrent.get())),
            capacity: config.max_concurrent.get(),
            max_wait: config.max_wait,
            max_waiting: config.max_waiting,
            waiting: AtomicUsize::new(0),
        }
    }

    /// A slot, held until the returned permit is dropped. `patient`: wait until `deadline`
    /// rather than `max_wait` (the caller has nowhere else to go).
    pub async fn acquire(
        &self,
        deadline: Instant,
        patient: bool,
    ) -> Result<OwnedSemaphorePermit, Full> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.max_wait.is_zero() && !patient {
            return Err(Full);
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Full);
        }
        let _waiting = Waiting(&self.waiting);
        let until = if patient {
            deadline
        } else {
            deadline.min(Instant::now() + self.max_wait)
        };
        match tokio::time::timeout_at(until, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Full),
        }
    }

    /// Calls in flight.
    pub fn in_use(&self) -> usize {
        self.capacity.saturating_sub(self.slots.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroUsize;

    fn bulkhead(max: usize, wait_ms: u64, waiting: usize) -> Bulkhead {
        Bulkhead::new(&BulkheadConfig {
            max_concurrent: NonZeroUsize::new(max).expect("non-zero"),
            max_wait: Duration::from_millis(wait_ms),
            max_waiting: waiting,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn sheds_after_a_bounded_wait() {
        let b = bulkhead(1, 100, 4);
        let far = Instant::now() + Duration::from_secs(60);
        let held = b.acquire(far, false).await.expect("free slot");
        let started = Instant::now();
        assert_eq!(b.acquire(far, false).await.err(), Some(Full));
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(100),
            "waited max_wait"
        );
        drop(held);
        assert!(b.acquire(far, false).await.is_ok(), "free again");
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_gets_the_slot_when_it_frees_and_the_queue_is_bounded() {
        let b = Arc::new(bulkhead(1, 1000, 1));
        let far = Instant::now() + Duration::from_secs(60);
        let held = b.acquire(far, false).await.expect("free slot");
        let waiter = tokio::spawn({
            let b = b.clone();
            async move { b.acquire(far, false).await.is_ok() }
        });
        tokio::task::yield_now().await;
        let started = Instant::now();
        assert_eq!(
            b.acquire(far, false).await.err(),
            Some(Full),
            "queue full: refused at once"
        );
        assert_eq!(started.elapsed(), Duration::ZERO);
        drop(held);
        assert!(waiter.await.expect("joined"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_patient_caller_waits_until_the_deadline() {
        let b = bulkhead(1, 100, 4);
        let held = b
            .acquire(Instant::now() + Duration::from_secs(60), false)
            .await;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(5);
        assert_eq!(b.acquire(deadline, true).await.err(), Some(Full));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        drop(held);
    }

    #[tokio::test(start_paused = true)]
    async fn never_waits_past_the_deadline() {
        let b = bulkhead(1, 10_000, 4);
        let _held = b
            .acquire(Instant::now() + Duration::from_secs(60), false)
            .await;
        let started = Instant::now();
        let deadline = started + Duration::from_millis(30);
        assert_eq!(b.acquire(deadline, false).await.err(), Some(Full));
        assert_eq!(started.elapsed(), Duration::from_millis(30));
    }
}
