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
    let call = async {
        guard.faults.apply().await?;
        provider.translate(job).await
    };
    let result = tokio::time::timeout_at(job.deadline, call)
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
    tracing::debug!(
        provider = %guard.name,
        lang = job.target.code,
        outcome,
        took_ms = took.as_millis() as u64,
        "provider call"
    );
    guard
        .metrics
        .provider_call(&guard.name, outcome, Some(took));
    result.map(|answer| (answer, spent))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::config::Config;
    use crate::lang::Lang;
    use crate::resilience::breaker::CircuitState;
    use crate::resilience::config::Policies;
    use crate::telemetry::metrics::Metrics;

    /// A provider that answers from a script and notes when it was called.
    #[derive(Default)]
    struct Scripted {
        script: Mutex<VecDeque<Result<&'static str, ProviderError>>>,
        calls: Mutex<Vec<Instant>>,
    }

    impl Scripted {
        fn new(script: Vec<Result<&'static str, ProviderError>>) -> Self {
            Self {
                script: Mutex::new(script.into()),
                calls: Mutex::default(),
            }
        }
        fn gaps(&self) -> Vec<Duration> {
            let calls = self.calls.lock().expect("lock");
            calls.windows(2).map(|w| w[1] - w[0]).collect()
        }
        fn count(&self) -> usize {
            self.calls.lock().expect("lock").len()
        }
    }

    #[async_trait::async_trait]
    impl Provider for Scripted {
        async fn translate(&self, _job: &TranslateJob) -> Result<Answer, ProviderError> {
            self.calls.lock().expect("lock").push(Instant::now());
            let next = self.script.lock().expect("lock").pop_front();
            match next {
                Some(r) => r.map(Answer::text),
                None => std::future::pending().await,
            }
        }
    }

    fn policies() -> Policies {
        let mut p = Config::defaults()
            .expect("defaults")
            .resilience
            .defaults
            .clone();
        p.retry.jitter = 0.0;
        p
    }

    fn job(within: Duration) -> TranslateJob {
        TranslateJob {
            text: "hello".into(),
            source: None,
            target: Lang::from_code("es").expect("es"),
            deadline: Instant::now() + within,
        }
    }

    fn status(status: u16, retry_after: Option<u64>) -> ProviderError {
        ProviderError::Status {
            status,
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_after_1s_then_2s() {
        let guard = ProviderGuard::new("p", policies(), Metrics::new());
        let p = Scripted::new(vec![
            Err(status(503, None)),
            Err(ProviderError::Transport("reset".into())),
            Ok("Hola"),
        ]);
        let (answer, _) = call(&guard, &p, &job(Duration::from_secs(30)), false)
            .await
            .expect("third attempt succeeds");
        assert_eq!(answer.text, "Hola");
        assert_eq!(p.gaps(), [Duration::from_secs(1), Duration::from_secs(2)]);
    }

    #[tokio::test(start_paused = true)]
    async fn at_most_max_attempts_and_never_on_other_4xx() {
        let guard = ProviderGuard::new("p", policies(), Metrics::new());
        let p = Scripted::new(vec![Err(status(500, None)); 5]);
        let e = call(&guard, &p, &job(Duration::from_secs(30)), false).await;
        assert_eq!(e.err(), Some(status(500, None)));
        assert_eq!(p.count(), 3);

        for refused in [400, 401, 404, 422] {
            let p = Scripted::new(vec![Err(status(refused, None)), Ok("never")]);
            let guard = ProviderGuard::new("p", policies(), Metrics::new());
            assert!(
                call(&guard, &p, &job(Duration::from_secs(30)), false)
                    .await
                    .is_err()
            );
            assert_eq!(p.count(), 1, "{refused} is not retried");
        }
        let p = Scripted::new(vec![Err(status(429, None)), Ok("never")]);
        assert!(
            call(&guard, &p, &job(Duration::from_secs(30)), false)
                .await
                .is_err()
        );
        assert_eq!(p.count(), 1, "429 without Retry-After moves on");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_out_only_when_it_fits_the_deadline() {
        let guard = ProviderGuard::new("p", policies(), Metrics::new());
        let p = Scripted::new(vec![Err(status(429, Some(5))), Ok("Hola")]);
        let started = Instant::now();
        assert!(
            call(&guard, &p, &job(Duration::from_secs(30)), false)
                .await
                .is_ok()
        );
        assert_eq!(p.gaps(), [Duration::from_secs(5)]);
        assert_eq!(started.elapsed(), Duration::from_secs(5));

        let guard = ProviderGuard::new("p", policies(), Metrics::new());
        let p = Scripted::new(vec![Err(status(429, Some(60))), Ok("never")]);
        let started = Instant::now();
        let e = call(&guard, &p, &job(Duration::from_secs(30)), false).await;
        assert_eq!(e.err(), Some(status(429, Some(60))));
        assert_eq!(started.elapsed(), Duration::ZERO, "gave up at once");
        assert!(guard.cooling().is_some(), "routing will skip it meanwhile");
        assert_eq!(
            guard.breaker.state(),
            CircuitState::Closed,
            "429 is not a fault"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_that_cannot_finish_before_the_deadline() {
        let guard = ProviderGuard::new("p", policies(), Metrics::new());
        let p = Scripted::new(vec![Err(status(500, None)), Ok("never")]);
        let e = call(&guard, &p, &job(Duration::from_millis(900)), false).await;
        assert!(e.is_err());
        assert_eq!(p.count(), 1, "a 1 s backoff does not fit in 900 ms");
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_never_outlives_its_deadline() {
        let guard = ProviderGuard::new("p", policies(), Metrics::new());
        let p = Scripted::new(vec![]); // hangs
        let started = Instant::now();
        let e = call(&guard, &p, &job(Duration::from_secs(7)), false).await;
        assert_eq!(e.err(), Some(ProviderError::Timeout));
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_retry_budget_stops_retries_in_an_outage() {
        let mut policies = policies();
        policies.retry.budget_min = 2;
        policies.retry.budget_ratio = 0.0;
        policies.breaker.minimum_calls = std::num::NonZeroU32::MAX;
        let guard = ProviderGuard::new("p", policies, Metrics::new());
        let p = Arc::new(Scripted::new(vec![Err(status(500, None)); 100]));
        for _ in 0..5 {
            let _ = call(&guard, p.as_ref(), &job(Duration::from_secs(30)), false).await;
        }
        assert_eq!(
            p.count(),
            5 + 2,
            "five first attempts, two retries from the budget"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_circuit_keeps_calls_away() {
        let mut policies = policies();
        policies.retry.max_attempts = std::num::NonZeroU32::MIN;
        let guard = ProviderGuard::new("p", policies, Metrics::new());
        let p = Scripted::new(vec![Err(status(500, None)); 100]);
        for _ in 0..5 {
            let _ = call(&guard, &p, &job(Duration::from_secs(30)), false).await;
        }
        assert_eq!(guard.breaker.state(), CircuitState::Open);
        let e = call(&guard, &p, &job(Duration::from_secs(30)), false).await;
        assert!(matches!(e, Err(ProviderError::CircuitOpen { .. })), "{e:?}");
        assert_eq!(p.count(), 5);
    }
}
