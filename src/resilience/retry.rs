//! Retry: which failures are worth another attempt, how long to wait, and a budget so an outage
//! cannot multiply the load.
//!
//! Only transient failures are retried: 5xx, connection failures (refused, reset, an answer cut
//! off) and timeouts. Other 4xx never are. A 429 with `Retry-After` is waited out when it fits
//! the request's deadline (the caller checks); a 429 without one moves on to the next provider.
//! Waits grow exponentially (`backoff`, × `multiplier`, capped at `backoff_max`) with jitter.
//!
//! The [`RetryBudget`] (after Finagle's) lets retries be at most `budget_min` plus
//! `budget_ratio` × first attempts over the last ten seconds: with the default 0.2, a provider
//! that fails every call sees at most 1.2× the load, not 3×.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::config::RetryConfig;
use crate::providers::ProviderError;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after this backoff.
    Backoff(Duration),
    /// The provider asked to wait this long (429 `Retry-After`).
    RetryAfter(Duration),
    /// Give up on this provider.
    GiveUp,
}

/// Whether `error` after attempt number `attempt` (1-based) deserves another attempt.
pub fn decide(config: &RetryConfig, error: &ProviderError, attempt: u32) -> Decision {
    if attempt >= config.max_attempts.get() {
        return Decision::GiveUp;
    }
    match error {
        ProviderError::Timeout | ProviderError::Transport(_) => {
            Decision::Backoff(backoff(config, attempt))
        }
        ProviderError::Status { status, .. } if *status >= 500 => {
            Decision::Backoff(backoff(config, attempt))
        }
        ProviderError::Status {
            status: 429,
            retry_after: Some(wait),
        } => Decision::RetryAfter(*wait),
        _ => Decision::GiveUp,
    }
}

/// The wait after attempt `attempt` (1-based), jittered.
pub fn backoff(config: &RetryConfig, attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30) as i32;
    let base = (config.backoff.as_secs_f64() * config.multiplier.powi(exponent))
        .min(config.backoff_max.as_secs_f64());
    let factor = if config.jitter > 0.0 {
        1.0 + config.jitter * (fastrand::f64() * 2.0 - 1.0)
    } else {
        1.0
    };
    Duration::from_secs_f64((base * factor).max(0.0))
}

const BUDGET_WINDOW_SECS: u64 = 10;

/// See the module docs. Shared by every call to one provider; outlives its actor.
pub struct RetryBudget {
    ratio: f64,
    min: u32,
    born: Instant,
    /// (second, first attempts, retries), the last ten seconds.
    buckets: Mutex<VecDeque<(u64, u32, u32)>>,
}

impl RetryBudget {
    pub fn new(config: &RetryConfig) -> Self {
        Self {
            ratio: config.budget_ratio,
            min: config.budget_min,
            born: Instant::now(),
            buckets: Mutex::new(VecDeque::new()),
        }
    }

    fn with_current<T>(&self, f: impl FnOnce(&mut VecDeque<(u64, u32, u32)>) -> T) -> T {
        let second = Instant::now().duration_since(self.born).as_secs();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        while buckets
            .front()
            .is_some_and(|(s, _, _)| s + BUDGET_WINDOW_SECS <= second)
        {
            buckets.pop_front();
        }
        if buckets.back().is_none_or(|(s, _, _)| *s != second) {
            buckets.push_back((second, 0, 0));
        }
        f(&mut buckets)
    }

    /// A first attempt was made (it earns retries).
    pub fn deposit(&self) {
        self.with_current(|b| {
            if let Some(last) = b.back_mut() {
                last.1 += 1;
            }
        });
    }

    /// Takes one retry from the budget, if there is one left.
    pub fn try_withdraw(&self) -> bool {
        self.with_current(|b| {
            let (calls, retries) = b.iter().fold((0u64, 0u64), |(c, r), (_, bc, br)| {
                (c + u64::from(*bc), r + u64::from(*br))
            });
            let allowed = f64::from(self.min) + self.ratio * calls as f64;
            if (retries + 1) as f64 <= allowed {
                if let Some(last) = b.back_mut() {
                    last.2 += 1;
                }
                true
            } else {
                false
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn config() -> RetryConfig {
        RetryConfig {
            max_attempts: NonZeroU32::new(3).expect("non-zero"),
            backoff: Duration::from_secs(1),
            multiplier: 2.0,
            backoff_max: Duration::from_secs(4),
            jitter: 0.0,
            budget_ratio: 0.2,
            budget_min: 2,
        }
    }

    fn status(status: u16) -> ProviderError {
        ProviderError::Status {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let c = config();
        for e in [
            status(500),
            status(503),
            status(529),
            ProviderError::Timeout,
            ProviderError::Transport("reset".into()),
        ] {
            assert_eq!(
                decide(&c, &e, 1),
                Decision::Backoff(Duration::from_secs(1)),
                "{e}"
            );
        }
        for e in [
            status(400),
            status(401),
            status(404),
            status(429),
            ProviderError::InvalidResponse("garbage".into()),
            ProviderError::Unsupported("no".into()),
            ProviderError::Busy,
        ] {
            assert_eq!(decide(&c, &e, 1), Decision::GiveUp, "{e}");
        }
        let limited = ProviderError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(
            decide(&c, &limited, 1),
            Decision::RetryAfter(Duration::from_secs(7))
        );
        assert_eq!(decide(&c, &status(500), 3), Decision::GiveUp, "3 attempts");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_bounds() {
        let mut c = config();
        c.max_attempts = NonZeroU32::new(10).expect("non-zero");
        let waits: Vec<u64> = (1..=5).map(|a| backoff(&c, a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 4, 4]);
        c.jitter = 0.2;
        for _ in 0..1000 {
            let w = backoff(&c, 2).as_secs_f64();
            assert!((1.6..=2.4).contains(&w), "{w}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_caps_retries_at_a_fraction_of_calls() {
        let budget = RetryBudget::new(&config());
        for _ in 0..10 {
            budget.deposit();
        }
        // 2 + 0.2 × 10 = 4 retries.
        let granted = (0..10).filter(|_| budget.try_withdraw()).count();
        assert_eq!(granted, 4);
        tokio::time::advance(Duration::from_secs(11)).await;
        assert!(
            budget.try_withdraw(),
            "the window moved on: the minimum again"
        );
    }
}
