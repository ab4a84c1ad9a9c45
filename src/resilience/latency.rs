//! Recent latencies of one provider: the last 256 successful calls, and their 50th and 95th
//! percentiles, recomputed every 16 calls so reading them costs two atomic loads.
//!
//! The percentiles drive hedging ("hedge after the provider's p95") and the deadline checks
//! ("will another attempt finish in time?").

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const KEEP: usize = 256;
const EVERY: u64 = 16;
/// Fewer samples than this give no percentile.
pub const MIN_SAMPLES: usize = 20;
const UNKNOWN: u64 = u64::MAX;

/// See the module docs.
pub struct Latency {
    samples: Mutex<(VecDeque<Duration>, u64)>,
    p50: AtomicU64,
    p95: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        Self {
            samples: Mutex::new((VecDeque::with_capacity(KEEP), 0)),
            p50: AtomicU64::new(UNKNOWN),
            p95: AtomicU64::new(UNKNOWN),
        }
    }
}

impl Latency {
    pub fn record(&self, took: Duration) {
        let mut guard = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let (samples, count) = &mut *guard;
        if samples.len() == KEEP {
            samples.pop_front();
        }
        samples.push_back(took);
        *count += 1;
        if samples.len() >= MIN_SAMPLES && (*count % EVERY == 0 || samples.len() == MIN_SAMPLES) {
            let mut sorted: Vec<Duration> = samples.iter().copied().collect();
            sorted.sort_unstable();
            let at = |q: f64| {
                let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
                sorted[i].as_nanos().min(u128::from(UNKNOWN - 1)) as u64
            };
            self.p50.store(at(0.50), Ordering::Relaxed);
            self.p95.store(at(0.95), Ordering::Relaxed);
        }
    }

    fn read(v: &AtomicU64) -> Option<Duration> {
        match v.load(Ordering::Relaxed) {
            UNKNOWN => None,
            n => Some(Duration::from_nanos(n)),
        }
    }

    pub fn p50(&self) -> Option<Duration> {
        Self::read(&self.p50)
    }

    pub fn p95(&self) -> Option<Duration> {
        Self::read(&self.p95)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_appear_with_enough_samples() {
        let l = Latency::default();
        for ms in 1..MIN_SAMPLES as u64 {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.p95(), None);
        l.record(Duration::from_millis(1000));
        assert_eq!(l.p50(), Some(Duration::from_millis(10)));
        assert_eq!(l.p95(), Some(Duration::from_millis(19)));
        for _ in 0..200 {
            l.record(Duration::from_millis(100));
        }
        assert_eq!(l.p95(), Some(Duration::from_millis(100)));
    }
}
