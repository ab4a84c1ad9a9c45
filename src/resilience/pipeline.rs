//! One provider call through the provider's own policies, outermost first:
//!
//! 1. **retry** ([`retry`](super::retry)): transient failures are tried again after a jittered
//!    backoff (or the provider's `Retry-After`), only while the retry budget allows and only if
//!    the wait plus the provider's typical latency still fits before the deadline;
//! 2. **circuit breaker** ([`breaker`](super::breaker)): each attempt asks for a permit; an
//!    open circuit fails the attempt at once;
//! 3. **bulkhead** ([`bulkhead`](super::bulkhead)): each attempt takes a slot, waiting a
//!    bounded time at most (until the deadline when no other provider could take the job);
//! 4. **deadline**: the attempt is cut off at the request's deadline (the provider's own HTTP
//!    timeout bounds it too).
//!
//! Each attempt's outcome feeds the breaker, the latency record, the meter (successful calls are
//! charged) and the metrics. The pipeline runs inside the provider actor's call task; dropping
//! it (a hedge won, the request was dropped, the actor died) abandons the HTTP call and leaves
//! the breaker untouched.

use tokio::time::Instant;

use super::guard::ProviderGuard;
use super::quota::{Spent, price};
use super::retry::{self, Decision};
use crate::providers::{Answer, Provider, ProviderError, TranslateJob};

/// Runs `job` on `provider` under `guard`'s policies, and says what the answer cost. See the
/// module docs. `last_resort`: no other provider could take the job, so a full bulkhead is
/// waited for until the deadline rather than `max_wait`.
pub async fn call(
    guard: &ProviderGuard,
    provider: &dyn Provider,
    job: &TranslateJob,
    last_resort: bool,
) -> Result<(Answer, Spent), ProviderError> {
    guard.retry_budget.deposit();
    let mut attempt = 1;
    loop {
        let error = match attempt_once(guard, provider, job, last_resort).await {
            Ok(answer) => return Ok(answer),
            Err(e) => e,
        };
        let wait = match retry::decide(&guard.policies.retry, &error, attempt) {
            Decision::GiveUp => return Err(error),
            Decision::Backoff(wait) | Decision::RetryAfter(wait) => wait,
        };
        let expected = guard.latency.p50().unwrap_or_default();
        if Instant::now() + wait + expected >= job.deadline {
            guard.metrics.retry_skipped(&guard.name, "deadline");
            return Err(error);
        }
        if !guard.retry_budget.try_withdraw() {
            guard.metrics.retry_skipped(&guard.name, "budget");
            return Err(error);
        }
        guard.metrics.retry(&guard.name, error.outcome());
        tracing::debug!(
            provider = %guard.name,
            attempt,
            error = %error,
            wait_ms = wait.as_millis() as u64,
            "retrying"
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

async fn attempt_once(
    guard: &ProviderGuard,
    provider: &dyn Provider,
    job: &TranslateJob,
    last_resort: bool,
) -> Result<(Answer, Spent), ProviderError> {
    let permit = match guard.breaker.try_acquire() {
        Ok(p) => p,
        Err(retry_in) => {
            guard
                .metrics
                .provider_call(&guard.name, "circuit_open", None);
            return Err(ProviderError::CircuitOpen { retry_in });
        }
    };
    let Ok(_slot) = guard.bulkhead.acquire(job.deadline, last_resort).await else {
        permit.neutral();
        guard
            .metrics
            .provider_call(&guard.name, "bulkhead_full", None);
        return Err(ProviderError::Busy);
    };
    let started = Instant::now();
    let result = tokio::time::timeout_at(job.deadline, provider.translate(job))
        .await
        .unwrap_or(Err(ProviderError::Timeout));
    let took = started.elapsed();
    let mut spent = Spent::default();
    match &result {
        Ok(answer) => {
            permit.success(took);
            guard.latency.record(took);
            spent = price(
                &guard.policies.cost,
                job.text.chars().count() as u64,
                answer.text.chars().count() as u64,
                answer.usage,
            );
            let today = guard.meter.charge(spent);
            guard.metrics.provider_spent(&guard.name, &spent, today);
        }
        Err(ProviderError::Status {
            status: 429,
            retry_after: Some(wait),
        }) => {
            // Not a fault: the provider said when to come back, and routing honours it.
            permit.neutral();
            guard.cool_for(*wait);
        }
        Err(e) if e.is_provider_fault() => permit.failure(took),
        Err(_) => permit.neutral(),
    }
    let outcome = result
        .as_ref()
        .map_or_else(ProviderError::outcome, |_| "ok");
    guard
        .metrics
        .provider_call(&guard.name, outcome, Some(took));
    result.map(|answer| (answer, spent))
}
