//! A circuit breaker per provider: closed → open → half-open → closed.
//!
//! - **Closed**: calls flow; `failure_threshold` consecutive provider faults open it.
//! - **Open**: calls are refused at once for `open_for`.
//! - **Half-open**: one trial call is let through; success closes the circuit, failure opens
//!   it again for another `open_for`.
//!
//! The breaker is shared state (`Arc<Breaker>`) created by the application, not by the provider
//! actor that uses it: a provider actor that is killed and restarted finds its circuit exactly as
//! it left it (an open circuit stays open). A [`Permit`] that is dropped without an outcome (its
//! call was cancelled because the actor died) gives back a half-open trial slot instead of
//! leaving the circuit stuck. Every transition is logged and counted.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::BreakerConfig;
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

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// See the module docs.
pub struct Breaker {
    provider: String,
    config: BreakerConfig,
    state: Mutex<State>,
    metrics: Metrics,
}

/// Permission for one call. Report its outcome with [`Permit::success`], [`Permit::failure`]
/// or [`Permit::neutral`].
pub struct Permit {
    breaker: Arc<Breaker>,
    trial: bool,
    settled: bool,
}

impl Breaker {
    pub fn new(provider: impl Into<String>, config: BreakerConfig, metrics: Metrics) -> Arc<Self> {
        let provider = provider.into();
        metrics.breaker_state(&provider, CircuitState::Closed.as_str());
        Arc::new(Self {
            provider,
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Whether a call would be refused right now (for routing: skip this provider).
    pub fn refuses(&self) -> bool {
        match *self.lock() {
            State::Closed { .. } => false,
            State::Open { until } => Instant::now() < until,
            State::HalfOpen { trial_in_flight } => trial_in_flight,
        }
    }

    /// Asks to make one call. Refused with the time until a trial may be made.
    pub fn try_acquire(self: &Arc<Self>) -> Result<Permit, Duration> {
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(until - now);
                }
                *state = State::HalfOpen {
                    trial_in_flight: true,
                };
                drop(state);
                self.transition(CircuitState::HalfOpen);
                return Ok(self.permit(true));
            }
            State::HalfOpen {
                trial_in_flight: true,
            } => return Err(Duration::from_secs(1)),
            State::HalfOpen {
                trial_in_flight: false,
            } => {
                *state = State::HalfOpen {
                    trial_in_flight: true,
                };
                true
            }
        };
        drop(state);
        Ok(self.permit(trial))
    }

    /// Forces the circuit closed (operator action).
    pub fn reset(&self) {
        let was_closed = matches!(*self.lock(), State::Closed { .. });
        *self.lock() = State::Closed { failures: 0 };
        if !was_closed {
            self.transition(CircuitState::Closed);
        }
    }

    fn permit(self: &Arc<Self>, trial: bool) -> Permit {
        Permit {
            breaker: self.clone(),
            trial,
            settled: false,
        }
    }

    fn transition(&self, to: CircuitState) {
        match to {
            CircuitState::Open => tracing::warn!(
                provider = %self.provider,
                open_for_ms = self.config.open_for.as_millis() as u64,
                "circuit opened"
            ),
            _ => {
                tracing::info!(provider = %self.provider, state = to.as_str(), "circuit state changed")
            }
        }
        self.metrics.breaker_transition(&self.provider, to.as_str());
    }

    fn on_success(&self, trial: bool) {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => *state = State::Closed { failures: 0 },
            State::HalfOpen { .. } if trial => {
                *state = State::Closed { failures: 0 };
                drop(state);
                self.transition(CircuitState::Closed);
            }
            _ => {}
        }
    }

    fn on_failure(&self, trial: bool) {
        let mut state = self.lock();
        let open = match *state {
            State::Closed { failures } => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold.get() {
                    true
                } else {
                    *state = State::Closed { failures };
                    false
                }
            }
            State::HalfOpen { .. } => trial,
            State::Open { .. } => false,
        };
        if open {
            *state = State::Open {
                until: Instant::now() + self.config.open_for,
            };
            drop(state);
            self.transition(CircuitState::Open);
        }
    }

    fn on_neutral(&self, trial: bool) {
        let mut state = self.lock();
        if trial && matches!(*state, State::HalfOpen { .. }) {
            *state = State::HalfOpen {
                trial_in_flight: false,
            };
        }
    }
}

impl Permit {
    /// The call succeeded.
    pub fn success(mut self) {
        self.settled = true;
        self.breaker.on_success(self.trial);
    }

    /// The call failed in a way that is the provider's fault.
    pub fn failure(mut self) {
        self.settled = true;
        self.breaker.on_failure(self.trial);
    }

    /// The call ended in a way that says nothing about the provider's health.
    pub fn neutral(mut self) {
        self.settled = true;
        self.breaker.on_neutral(self.trial);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.on_neutral(self.trial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn breaker(threshold: u32) -> Arc<Breaker> {
        Breaker::new(
            "p",
            BreakerConfig {
                failure_threshold: NonZeroU32::new(threshold).expect("non-zero"),
                open_for: Duration::from_secs(30),
            },
            Metrics::new(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_then_half_opens_then_closes() {
        let b = breaker(2);
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), CircuitState::Closed);
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.refuses());
        let wait = b.try_acquire().err().expect("refused while open");
        assert!(wait <= Duration::from_secs(30));
        tokio::time::advance(Duration::from_secs(31)).await;
        let trial = b.try_acquire().expect("trial allowed");
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert!(b.try_acquire().is_err(), "one trial at a time");
        trial.success();
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_trial_reopens_and_abandoned_trial_frees_the_slot() {
        let b = breaker(1);
        b.try_acquire().expect("closed").failure();
        tokio::time::advance(Duration::from_secs(31)).await;
        let trial = b.try_acquire().expect("trial");
        drop(trial); // the caller died mid-call
        let trial = b.try_acquire().expect("slot given back");
        trial.failure();
        assert_eq!(b.state(), CircuitState::Open);
    }

    #[test]
    fn success_resets_the_failure_count() {
        let b = breaker(2);
        b.try_acquire().expect("closed").failure();
        b.try_acquire().expect("closed").success();
        b.try_acquire().expect("closed").failure();
        assert_eq!(b.state(), CircuitState::Closed);
    }
}
