//! Executor: runs subtasks in parallel, each through the providers with fallback.
//!
//! Subtasks run as futures of the request's own task (no extra spawns), at most `max_parallel`
//! at a time; dropping the request future (the coordinator was killed, or the deadline passed)
//! cancels every call still running. Each subtask tries the providers in priority order, skipping
//! those whose circuit is open, and stops at the first success or at the deadline.

use std::sync::Arc;

use futures::StreamExt;
use tokio::time::Instant;

use super::plan::Subtask;
use super::{RomaOutcome, SubtaskResult, TranslateRequest};
use crate::actors::provider::ProviderMsg;
use crate::providers::breaker::Breaker;
use crate::providers::{ProviderError, TranslateJob};
use crate::supervision::{CallError, Slot, call};
use crate::telemetry::metrics::Metrics;

/// One provider as the coordinator sees it: its actor's slot and its circuit breaker.
#[derive(Clone)]
pub struct ProviderRoute {
    pub name: Arc<str>,
    pub slot: Arc<Slot<ProviderMsg>>,
    pub breaker: Arc<Breaker>,
    pub demo: bool,
}

/// Runs `subtasks` of `request` and returns their results in the request's order.
pub async fn execute(
    request: &TranslateRequest,
    subtasks: Vec<Subtask>,
    routes: &[ProviderRoute],
    max_parallel: usize,
    metrics: &Metrics,
) -> RomaOutcome {
    let mut results: Vec<(usize, SubtaskResult)> = futures::stream::iter(subtasks)
        .map(|s| run_subtask(request, s, routes, metrics))
        .buffer_unordered(max_parallel.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    RomaOutcome {
        results: results.into_iter().map(|(_, r)| r).collect(),
        demo_only: !routes.is_empty() && routes.iter().all(|r| r.demo),
    }
}

async fn run_subtask(
    request: &TranslateRequest,
    subtask: Subtask,
    routes: &[ProviderRoute],
    metrics: &Metrics,
) -> (usize, SubtaskResult) {
    let job = TranslateJob {
        text: request.text.clone(),
        source: request.source,
        target: subtask.target,
        deadline: request.deadline,
    };
    let mut errors: Vec<ProviderError> = Vec::new();
    let mut result = None;
    for route in routes {
        if Instant::now() >= request.deadline {
            errors.push(ProviderError::Timeout);
            break;
        }
        if route.breaker.refuses() {
            metrics.provider_call(&route.name, "circuit_open", None);
            errors.push(ProviderError::CircuitOpen {
                retry_in: route.breaker.try_acquire().err().unwrap_or_default(),
            });
            continue;
        }
        let answer = call(&route.slot, request.deadline, |reply| {
            ProviderMsg::Translate {
                job: job.clone(),
                reply,
            }
        })
        .await;
        match answer {
            Ok(Ok(translation)) => {
                result = Some(Ok(translation));
                break;
            }
            Ok(Err(e)) => {
                tracing::debug!(provider = %route.name, target = subtask.target.code, error = %e, "provider failed; trying the next one");
                errors.push(e);
            }
            Err(CallError::Timeout) => {
                errors.push(ProviderError::Timeout);
                break;
            }
        }
    }
    let result = result.unwrap_or_else(|| Err(most_telling(errors)));
    metrics.roma_subtask(if result.is_ok() { "ok" } else { "failed" });
    (
        subtask.index,
        SubtaskResult {
            target: subtask.target,
            result,
        },
    )
}

/// The error that best explains a failed subtask: a real provider fault over an open circuit
/// over "not supported" over "unavailable".
fn most_telling(errors: Vec<ProviderError>) -> ProviderError {
    let rank = |e: &ProviderError| match e {
        e if e.is_provider_fault() => 0,
        ProviderError::Status { .. } => 1,
        ProviderError::CircuitOpen { .. } => 2,
        ProviderError::Unsupported(_) => 3,
        _ => 4,
    };
    errors
        .into_iter()
        .enumerate()
        .min_by_key(|(i, e)| (rank(e), *i))
        .map(|(_, e)| e)
        .unwrap_or(ProviderError::Unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_telling_error_wins() {
        let e = most_telling(vec![
            ProviderError::Unsupported("x".into()),
            ProviderError::CircuitOpen {
                retry_in: std::time::Duration::ZERO,
            },
            ProviderError::Timeout,
        ]);
        assert_eq!(e, ProviderError::Timeout);
        assert_eq!(most_telling(vec![]), ProviderError::Unavailable);
    }
}
