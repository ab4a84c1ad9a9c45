//! Executor: runs subtasks in parallel, each through the providers with fallback.
//!
//! Subtasks run as futures of the request's own task (no extra spawns), at most `max_parallel`
//! at a time; dropping the request future (the coordinator was killed, or the deadline passed)
//! cancels every call still running. Each subtask goes through the resilience router
//! (`src/resilience/router.rs`): providers in priority order with fallback and hedging, within
//! the request's deadline.

use futures::StreamExt;

use super::plan::Subtask;
use super::{RomaOutcome, SubtaskResult, TranslateRequest};
use crate::providers::TranslateJob;
use crate::resilience::router::Router;
use crate::telemetry::metrics::Metrics;

/// Runs `subtasks` of `request` and returns their results in the request's order.
pub async fn execute(
    request: &TranslateRequest,
    subtasks: Vec<Subtask>,
    router: &Router,
    max_parallel: usize,
    metrics: &Metrics,
) -> RomaOutcome {
    let mut results: Vec<(usize, SubtaskResult)> = futures::stream::iter(subtasks)
        .map(|s| run_subtask(request, s, router, metrics))
        .buffer_unordered(max_parallel.max(1))
        .collect()
        .await;
    results.sort_by_key(|(i, _)| *i);
    RomaOutcome {
        results: results.into_iter().map(|(_, r)| r).collect(),
        demo_only: router.demo_only(),
    }
}

async fn run_subtask(
    request: &TranslateRequest,
    subtask: Subtask,
    router: &Router,
    metrics: &Metrics,
) -> (usize, SubtaskResult) {
    let job = TranslateJob {
        text: request.text.clone(),
        source: request.source,
        target: subtask.target,
        deadline: request.deadline,
    };
    let result = router.translate(&job, request.requester.as_ref()).await;
    metrics.roma_subtask(if result.is_ok() { "ok" } else { "failed" });
    (
        subtask.index,
        SubtaskResult {
            target: subtask.target,
            result,
        },
    )
}
