//! A circuit breaker per provider, after resilience4j: closed → open → half-open → closed.
//!
//! - **Closed**: calls flow, and each outcome lands in a sliding window: the last
//!   `window_size` calls (count window) or the calls of the last `window_size` seconds (time
//!   window, one bucket a second). Once the window holds `minimum_calls`, a failure rate of at
//!   least `failure_rate` percent, or a slow-call rate of at least `slow_call_rate` percent
//!   (calls slower than `slow_call_duration`, failed or not), opens the circuit.
//! - **Open**: calls are refused at once for `wait_in_open`.
//! - **Half-open**: `half_open_calls` trial calls are let through. All succeeding (and not
//!   slow) closes the circuit with an empty window; one bad probe opens it again.
//!
//! Outcomes that say nothing about the provider (the user's own 4xx, an unsupported language, a
//! call cancelled because a hedge won) are *neutral*: not recorded, and a neutral trial gives
//! its half-open slot back. A [`Permit`] dropped without an outcome is neutral, so a call that
//! died with its actor cannot leave the circuit stuck half-open.
//!
//! The breaker is shared state (`Arc<Breaker>`) created by the application, not by the provider
//! actor that uses it: a provider actor that is killed and restarted finds its circuit exactly as
//! it left it. Every transition is logged and counted, and the state is exported as a gauge.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::config::{BreakerConfig, WindowKind};
use crate::telemetry::metrics::Metrics;

/// The three states, for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    calls: u32,
    failures: u32,
    slow: u32,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.calls += o.calls;
        self.failures += o.failures;
        self.slow += o.slow;
    }
    fn sub(&mut self, o: Counts) {
        self.calls -= o.calls;
        self.failures -= o.failures;
        self.slow -= o.slow;
    }
}

/// The closed state's sliding window, with running totals.
#[derive(Debug)]
enum Window {
    /// One entry per call.
    Count {
        calls: VecDeque<Counts>,
        total: Counts,
    },
    /// One bucket per second (keyed by seconds since the breaker was made).
    Time {
        buckets: VecDeque<(u64, Counts)>,
        total: Counts,
    },
}

impl Window {
    fn new(kind: WindowKind) -> Self {
        match kind {
            WindowKind::Count => Self::Count {
                calls: VecDeque::new(),
                total: Counts::default(),
            },
            WindowKind::Time => Self::Time {
                buckets: VecDeque::new(),
                total: Counts::default(),
            },
        }
    }

    fn record(&mut self, outcome: Counts, size: u32, second: u64) -> Counts {
        match self {
            Self::Count { calls, total } => {
                calls.push_back(outcome);
                total.add(outcome);
                while calls.len() > size as usize {
                    if let Some(old) = calls.pop_front() {
                        total.sub(old);
                    }
                }
                *total
            }
            Self::Time { buckets, total } => {
                while buckets
                    .front()
                    .is_some_and(|(s, _)| *s + u64::from(size) <= second)
                {
                    if let Some((_, old)) = buckets.pop_front() {
                        total.sub(old);
                    }
                }
                match buckets.back_mut() {
                    Some((s, c)) if *s == second => c.add(outcome),
                    _ => buckets.push_back((second, outcome)),
                }
                total.add(outcome);
                *total
            }
        }
    }
}

#[derive(Debug)]
enum State {
    Closed(Window),
    Open { until: Instant },
    HalfOpen { issued: u32, succeeded: u32 },
}

struct Inner {
    state: State,
    /// Bumped on every transition; outcomes of permits from an older generation are ignored.
    generation: u64,
}

/// See the module docs.
pub struct Breaker {
    provider: Arc<str>,
    config: BreakerConfig,
    inner: Mutex<Inner>,
    born: Instant,
    metrics: Metrics,
}

/// Permission for one call. Report its outcome with [`Permit::success`], [`Permit::failure`]
/// or [`Permit::neutral`]; dropping it is neutral.
pub struct Permit {
    breaker: Arc<Breaker>,
    generation: u64,
    trial: bool,
    settled: bool,
}

impl Breaker {
    pub fn new(
        provider: impl Into<Arc<str>>,
        config: BreakerConfig,
        metrics: Metrics,
    ) -> Arc<Self> {
        let provider = provider.into();
        metrics.breaker_state(&provider, CircuitState::Closed.as_str());
        Arc::new(Self {
            provider,
            inner: Mutex::new(Inner {
                state: State::Closed(Window::new(config.window)),
                generation: 0,
            }),
            config,
            born: Instant::now(),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> CircuitState {
        match self.lock().state {
            State::Closed(_) => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Whether a call would be refused right now (for routing: skip this provider), and for
    /// how long at least.
    pub fn refuses(&self) -> Option<Duration> {
        match self.lock().state {
            State::Closed(_) => None,
            State::Open { until } => {
                let now = Instant::now();
                (now < until).then(|| until - now)
            }
            State::HalfOpen { issued, .. } => {
                (issued >= self.config.half_open_calls.get()).then_some(Duration::from_secs(1))
            }
        }
    }

    /// Asks to make one call. Refused with the time until a trial may be made.
    pub fn try_acquire(self: &Arc<Self>) -> Result<Permit, Duration> {
        let mut inner = self.lock();
        match inner.state {
            State::Closed(_) => {
                let generation = inner.generation;
                drop(inner);
                Ok(self.permit(generation, false))
            }
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                self.enter(
                    &mut inner,
                    State::HalfOpen {
                        issued: 1,
                        succeeded: 0,
                    },
                );
                let generation = inner.generation;
                drop(inner);
                Ok(self.permit(generation, true))
            }
            State::HalfOpen { ref mut issued, .. } => {
                if *issued >= self.config.half_open_calls.get() {
                    return Err(Duration::from_secs(1));
                }
                *issued += 1;
                let generation = inner.generation;
                drop(inner);
                Ok(self.permit(generation, true))
            }
        }
    }

    /// Forces the circuit closed with an empty window (operator action).
    pub fn reset(&self) {
        let mut inner = self.lock();
        self.enter(&mut inner, State::Closed(Window::new(self.config.window)));
    }

    fn permit(self: &Arc<Self>, generation: u64, trial: bool) -> Permit {
        Permit {
            breaker: self.clone(),
            generation,
            trial,
            settled: false,
        }
    }

    /// Moves to `to`, logging and counting the transition.
    fn enter(&self, inner: &mut Inner, to: State) {
        inner.state = to;
        inner.generation += 1;
        let state = match inner.state {
            State::Closed(_) => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        };
        match state {
            // `alert`: also a Sentry event, tagged with the provider.
            CircuitState::Open => tracing::warn!(
                alert = "circuit_open",
                tags.provider = %self.provider,
                provider = %self.provider,
                wait_in_open_ms = self.config.wait_in_open.as_millis() as u64,
                "circuit opened"
            ),
            _ => {
                tracing::info!(provider = %self.provider, state = state.as_str(), "circuit state changed")
            }
        }
        self.metrics
            .breaker_transition(&self.provider, state.as_str());
    }

    fn open(&self, inner: &mut Inner) {
        let until = Instant::now() + self.config.wait_in_open;
        self.enter(inner, State::Open { until });
    }

    fn settle(&self, generation: u64, trial: bool, outcome: Option<(bool, Duration)>) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return; // an outcome from before the last transition says nothing about now
        }
        let Some((failed, took)) = outcome else {
            // Neutral: a trial gives its slot back.
            if trial && let State::HalfOpen { issued, .. } = &mut inner.state {
                *issued = issued.saturating_sub(1);
            }
            return;
        };
        let slow = took >= self.config.slow_call_duration;
        let second = Instant::now().duration_since(self.born).as_secs();
        match &mut inner.state {
            State::Closed(window) => {
                let outcome = Counts {
                    calls: 1,
                    failures: u32::from(failed),
                    slow: u32::from(slow),
                };
                let total = window.record(outcome, self.config.window_size.get(), second);
                if total.calls >= self.config.minimum_calls.get() {
                    let rate = |n: u32| f64::from(n) * 100.0 / f64::from(total.calls);
                    let (failure_rate, slow_rate) = (rate(total.failures), rate(total.slow));
                    if failure_rate >= self.config.failure_rate
                        || slow_rate >= self.config.slow_call_rate
                    {
                        tracing::warn!(
                            provider = %self.provider,
                            calls = total.calls,
                            failure_rate,
                            slow_rate,
                            "failure or slow-call rate over the threshold"
                        );
                        self.open(&mut inner);
                    }
                }
            }
            State::HalfOpen { succeeded, .. } if trial => {
                if failed || slow {
                    self.open(&mut inner);
                } else {
                    *succeeded += 1;
                    if *succeeded >= self.config.half_open_calls.get() {
                        self.enter(&mut inner, State::Closed(Window::new(self.config.window)));
                    }
                }
            }
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }
}

impl Permit {
    /// The call succeeded after `took`.
    pub fn success(mut self, took: Duration) {
        self.settled = true;
        self.breaker
            .settle(self.generation, self.trial, Some((false, took)));
    }

    /// The call failed after `took`, in a way that is the provider's fault.
    pub fn failure(mut self, took: Duration) {
        self.settled = true;
        self.breaker
            .settle(self.generation, self.trial, Some((true, took)));
    }

    /// The call ended in a way that says nothing about the provider's health.
    pub fn neutral(mut self) {
        self.settled = true;
        self.breaker.settle(self.generation, self.trial, None);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.settle(self.generation, self.trial, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    const FAST: Duration = Duration::from_millis(10);

    fn config(window: WindowKind, size: u32, minimum: u32) -> BreakerConfig {
        BreakerConfig {
            window,
            window_size: NonZeroU32::new(size).expect("non-zero"),
            minimum_calls: NonZeroU32::new(minimum).expect("non-zero"),
            failure_rate: 50.0,
            slow_call_duration: Duration::from_secs(5),
            slow_call_rate: 100.0,
            wait_in_open: Duration::from_secs(30),
            half_open_calls: NonZeroU32::new(2).expect("non-zero"),
        }
    }

    fn breaker(config: BreakerConfig) -> Arc<Breaker> {
        Breaker::new("p", config, Metrics::new())
    }

    #[tokio::test(start_paused = true)]
    async fn opens_at_the_failure_rate_once_the_window_holds_the_minimum() {
        let b = breaker(config(WindowKind::Count, 10, 4));
        b.try_acquire().expect("closed").failure(FAST);
        b.try_acquire().expect("closed").failure(FAST);
        b.try_acquire().expect("closed").failure(FAST);
        assert_eq!(b.state(), CircuitState::Closed, "below minimum_calls");
        b.try_acquire().expect("closed").success(FAST);
        assert_eq!(b.state(), CircuitState::Open, "3 of 4 failed: 75% >= 50%");
        assert!(b.refuses().is_some());
        let wait = b.try_acquire().err().expect("refused while open");
        assert!(wait <= Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn stays_closed_below_the_rate_and_forgets_old_calls() {
        let b = breaker(config(WindowKind::Count, 4, 4));
        for _ in 0..3 {
            b.try_acquire().expect("closed").success(FAST);
        }
        b.try_acquire().expect("closed").failure(FAST);
        assert_eq!(b.state(), CircuitState::Closed, "25% < 50%");
        // The window slides: the three successes leave it, failures come in.
        b.try_acquire().expect("closed").failure(FAST);
        assert_eq!(b.state(), CircuitState::Open, "2 of the last 4 failed");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_calls_open_it_too() {
        let mut c = config(WindowKind::Count, 4, 2);
        c.slow_call_rate = 50.0;
        let b = breaker(c);
        b.try_acquire()
            .expect("closed")
            .success(Duration::from_secs(6));
        b.try_acquire().expect("closed").success(FAST);
        assert_eq!(b.state(), CircuitState::Open, "half the calls were slow");
    }

    #[tokio::test(start_paused = true)]
    async fn a_time_window_forgets_calls_older_than_its_span() {
        let b = breaker(config(WindowKind::Time, 10, 2));
        b.try_acquire().expect("closed").failure(FAST);
        tokio::time::advance(Duration::from_secs(11)).await;
        b.try_acquire().expect("closed").success(FAST);
        b.try_acquire().expect("closed").success(FAST);
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "the old failure left the window"
        );
        b.try_acquire().expect("closed").failure(FAST);
        b.try_acquire().expect("closed").failure(FAST);
        assert_eq!(b.state(), CircuitState::Open, "2 of 4 in the last 10 s");
    }

    #[tokio::test(start_paused = true)]
    async fn half_opens_after_the_wait_and_closes_after_good_probes() {
        let b = breaker(config(WindowKind::Count, 2, 1));
        b.try_acquire().expect("closed").failure(FAST);
        assert_eq!(b.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(31)).await;
        let first = b.try_acquire().expect("first trial");
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let second = b.try_acquire().expect("second trial");
        assert!(b.try_acquire().is_err(), "only half_open_calls trials");
        first.success(FAST);
        assert_eq!(b.state(), CircuitState::HalfOpen, "one good probe of two");
        second.success(FAST);
        assert_eq!(b.state(), CircuitState::Closed);
        // A fresh window: one success does not carry the old failure.
        b.try_acquire().expect("closed").success(FAST);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_probe_reopens_and_an_abandoned_probe_frees_its_slot() {
        let b = breaker(config(WindowKind::Count, 2, 1));
        b.try_acquire().expect("closed").failure(FAST);
        tokio::time::advance(Duration::from_secs(31)).await;
        let a = b.try_acquire().expect("trial");
        let c = b.try_acquire().expect("trial");
        drop(a); // the caller died mid-call
        let a = b.try_acquire().expect("slot given back");
        c.failure(FAST);
        assert_eq!(b.state(), CircuitState::Open, "one bad probe re-opens");
        a.success(FAST); // from the previous half-open period: ignored
        assert_eq!(b.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(29)).await;
        assert!(b.try_acquire().is_err(), "a full wait_in_open again");
    }

    #[tokio::test(start_paused = true)]
    async fn neutral_outcomes_are_not_counted() {
        let b = breaker(config(WindowKind::Count, 4, 1));
        for _ in 0..10 {
            b.try_acquire().expect("closed").neutral();
        }
        b.try_acquire().expect("closed").success(FAST);
        assert_eq!(b.state(), CircuitState::Closed);
    }
}
