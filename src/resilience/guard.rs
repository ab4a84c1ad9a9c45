//! Everything that guards one provider, in one place: its policies, breaker, bulkhead, retry
//! budget, recent latencies, spending meter and `Retry-After` cooldown.
//!
//! A [`ProviderGuard`] is made by the application for each configured provider and shared by the
//! provider's actor (which runs calls through [`pipeline`](super::pipeline)) and the router
//! (which reads it to choose providers). It outlives the actor: a restarted provider actor finds
//! its circuit, budgets and meters as they were.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::breaker::Breaker;
use super::bulkhead::Bulkhead;
use super::config::Policies;
use super::faults::Faults;
use super::latency::Latency;
use super::quota::Meter;
use super::retry::RetryBudget;
use crate::providers::ProviderError;
use crate::telemetry::metrics::Metrics;

/// See the module docs.
pub struct ProviderGuard {
    pub name: Arc<str>,
    pub policies: Policies,
    pub breaker: Arc<Breaker>,
    pub bulkhead: Bulkhead,
    pub retry_budget: RetryBudget,
    pub latency: Latency,
    pub meter: Meter,
    pub metrics: Metrics,
    /// Faults injected through the admin API.
    pub faults: Faults,
    cooldown: Mutex<Option<Instant>>,
}

impl ProviderGuard {
    pub fn new(name: impl Into<Arc<str>>, policies: Policies, metrics: Metrics) -> Arc<Self> {
        let name = name.into();
        Arc::new(Self {
            breaker: Breaker::new(name.clone(), policies.breaker.clone(), metrics.clone()),
            bulkhead: Bulkhead::new(&policies.bulkhead),
            retry_budget: RetryBudget::new(&policies.retry),
            latency: Latency::default(),
            meter: Meter::default(),
            faults: Faults::default(),
            cooldown: Mutex::new(None),
            name,
            policies,
            metrics,
        })
    }

    /// The provider asked (429 `Retry-After`) not to be called for `wait`.
    pub fn cool_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut c = self.cooldown.lock().unwrap_or_else(|e| e.into_inner());
        if c.is_none_or(|old| old < until) {
            *c = Some(until);
        }
    }

    /// How long the provider still asked not to be called.
    pub fn cooling(&self) -> Option<Duration> {
        let c = *self.cooldown.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        c.filter(|until| *until > now).map(|until| until - now)
    }

    /// The fraction of today's budget this provider used (0 without budgets).
    pub fn budget_used(&self) -> f64 {
        self.meter.used(&self.policies.cost)
    }

    /// Why a request due by `deadline` should not be sent here now, if it should not.
    pub fn unfit(&self, deadline: Instant) -> Option<ProviderError> {
        if let Some(retry_in) = self.breaker.refuses() {
            return Some(ProviderError::CircuitOpen { retry_in });
        }
        if self.budget_used() >= 1.0 {
            return Some(ProviderError::QuotaExhausted);
        }
        if let Some(wait) = self.cooling()
            && Instant::now() + wait >= deadline
        {
            return Some(ProviderError::Status {
                status: 429,
                retry_after: Some(wait),
            });
        }
        None
    }
}
