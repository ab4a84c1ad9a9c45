//! Hedging: when a provider is slower than usual, the same (idempotent) call goes to the next
//! healthy provider too, and the first good answer wins; the other call is cancelled.
//!
//! The delay is per provider: fixed, or its recent 95th-percentile latency (an
//! `initial_delay` until enough calls are known, never below `min_delay`). The
//! [`HedgeBudget`] caps hedges at a fraction of first calls across all providers (a token
//! bucket: each first call earns `ratio` of a token, each hedge spends one), so a slow
//! provider cannot double the traffic.

use std::sync::Mutex;
use std::time::Duration;

use super::config::HedgeDelay;
use super::guard::ProviderGuard;

/// One token, in thousandths (integer arithmetic: ten deposits of 0.1 make exactly one).
const TOKEN: u64 = 1000;
/// Tokens saved up at most (a burst of hedges after a quiet time).
const MAX_TOKENS: u64 = 10 * TOKEN;

/// See the module docs.
pub struct HedgeBudget {
    /// Thousandths of a token earned per first call.
    earn: u64,
    tokens: Mutex<u64>,
}

impl HedgeBudget {
    pub fn new(ratio: f64) -> Self {
        Self {
            earn: (ratio.clamp(0.0, 1.0) * TOKEN as f64).round() as u64,
            tokens: Mutex::new(0),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, u64> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A first call was made.
    pub fn deposit(&self) {
        let mut t = self.tokens();
        *t = (*t + self.earn).min(MAX_TOKENS);
    }

    /// Gives back a hedge that was not sent after all.
    pub fn refund(&self) {
        let mut t = self.tokens();
        *t = (*t + TOKEN).min(MAX_TOKENS);
    }

    /// Spends one hedge, if the budget has one.
    pub fn try_spend(&self) -> bool {
        let mut t = self.tokens();
        if *t >= TOKEN {
            *t -= TOKEN;
            true
        } else {
            false
        }
    }
}

/// How long after a call to `guard`'s provider starts a hedge is sent; `None`: never.
pub fn delay(guard: &ProviderGuard) -> Option<Duration> {
    let hedge = &guard.policies.hedge;
    if !hedge.enabled {
        return None;
    }
    Some(match hedge.delay {
        HedgeDelay::Fixed(d) => d,
        HedgeDelay::P95 => guard
            .latency
            .p95()
            .unwrap_or(hedge.initial_delay)
            .max(hedge.min_delay),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hedges_are_a_fraction_of_first_calls() {
        let b = HedgeBudget::new(0.1);
        let mut hedges = 0;
        for _ in 0..100 {
            b.deposit();
            if b.try_spend() {
                hedges += 1;
            }
        }
        assert_eq!(hedges, 10);
        let quiet = HedgeBudget::new(0.5);
        for _ in 0..1000 {
            quiet.deposit();
        }
        let burst = (0..100).filter(|_| quiet.try_spend()).count();
        assert_eq!(burst, 10, "savings are capped");
    }
}
