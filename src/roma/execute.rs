//! Executor: runs a plan's ready tasks in parallel, within the request's deadline.
//!
//! Provider calls and the transcription run as futures of the request's own task (no extra
//! spawns), at most `max_parallel` at a time; joins, kept texts and expansions run inline as soon
//! as what they wait for is done. Each translation goes through the resilience router
//! (`src/resilience/router.rs`): providers in priority order with fallback and hedging, retries
//! and breakers, cached and coalesced. When the deadline passes, every call still running is
//! dropped (cancelling its HTTP request) and every unfinished target is reported as timed out,
//! so a partial answer still goes out; dropping the whole future (the coordinator was killed,
//! the user's request was abandoned) cancels everything.

use std::future::Future;
use std::pin::Pin;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::plan::{Plan, Task, TaskId, expand};
use super::{Input, RomaOutcome, SpeechError, SubtaskResult, TranslateRequest};
use crate::providers::{ProviderError, TranslateJob, Translation};
use crate::resilience::router::Router;
use crate::telemetry::metrics::Metrics;

type TaskResult = Result<Translation, ProviderError>;

/// What a finished running task produced.
enum Output {
    Translated(TaskResult),
    Transcribed(Result<String, SpeechError>),
}

type Running<'a> = FuturesUnordered<Pin<Box<dyn Future<Output = (TaskId, Output)> + Send + 'a>>>;

/// Runs `plan` for `request` and returns each target's result in the request's order.
pub async fn execute(
    request: &TranslateRequest,
    mut plan: Plan,
    router: &Router,
    max_parallel: usize,
    metrics: &Metrics,
) -> RomaOutcome {
    let max_parallel = max_parallel.max(1);
    let mut results: Vec<Option<TaskResult>> = vec![None; plan.nodes.len()];
    let mut started = vec![false; plan.nodes.len()];
    let mut transcript: Option<Result<String, SpeechError>> = None;
    let mut running: Running<'_> = FuturesUnordered::new();
    let deadline = tokio::time::sleep_until(request.deadline);
    tokio::pin!(deadline);
    let mut provider_time = std::time::Duration::ZERO;

    loop {
        // Start or finish everything that is ready, until nothing more is.
        let mut progress = true;
        while progress {
            progress = false;
            for id in 0..plan.nodes.len() {
                if started[id] || !ready(&plan, &results, &transcript, id) {
                    continue;
                }
                let task = plan.nodes[id].task.clone();
                match task {
                    Task::Translate { slot, chunk } => {
                        if running.len() >= max_parallel {
                            continue;
                        }
                        let (_, core, _) = plan.piece(chunk);
                        if core.is_empty() {
                            results[id] = Some(Ok(kept(String::new())));
                        } else {
                            let job = TranslateJob {
                                text: core.to_string(),
                                source: plan.source.filter(|s| !s.detected).map(|s| s.lang),
                                target: slot.target,
                                deadline: request.deadline,
                            };
                            running.push(Box::pin(async move {
                                let result =
                                    router.translate(&job, request.requester.as_ref()).await;
                                (id, Output::Translated(result))
                            }));
                        }
                    }
                    Task::Transcribe => {
                        if running.len() >= max_parallel {
                            continue;
                        }
                        let Input::Voice(speech) = &request.input else {
                            transcript = Some(Err(SpeechError::Fetch));
                            started[id] = true;
                            progress = true;
                            continue;
                        };
                        let speech = speech.clone();
                        let deadline = request.deadline;
                        running.push(Box::pin(async move {
                            (id, Output::Transcribed(speech.transcribe(deadline).await))
                        }));
                    }
                    Task::Keep { .. } => {
                        let text = plan.text.as_deref().unwrap_or("").to_string();
                        results[id] = Some(Ok(kept(text)));
                    }
                    Task::Join { .. } => {
                        results[id] = Some(join(&plan, &plan.nodes[id].deps, &results));
                    }
                    Task::Expand { .. } => {
                        if let Some(Ok(text)) = &transcript {
                            let added = expand(&mut plan, id, text.as_str().into());
                            results.resize(plan.nodes.len(), None);
                            started.resize(plan.nodes.len(), false);
                            tracing::debug!(tasks = added.len(), plan = %plan.summary(), "expanded");
                        }
                        results[id] = Some(Ok(kept(String::new())));
                    }
                }
                started[id] = true;
                progress = true;
            }
        }
        if running.is_empty() {
            break;
        }
        let waiting = tokio::time::Instant::now();
        let next = tokio::select! {
            Some(done) = running.next() => Some(done),
            () = &mut deadline => None,
        };
        provider_time += waiting.elapsed();
        match next {
            Some((id, Output::Translated(result))) => {
                metrics.roma_subtask(if result.is_ok() { "ok" } else { "failed" });
                results[id] = Some(result);
            }
            Some((_, Output::Transcribed(result))) => transcript = Some(result),
            None => {
                tracing::debug!(
                    unfinished = running.len(),
                    "request deadline passed; cancelling"
                );
                if transcript.is_none() && matches!(request.input, Input::Voice(_)) {
                    transcript = Some(Err(SpeechError::Timeout));
                }
                break;
            }
        }
    }
    drop(running);

    let targets = request.targets.iter().enumerate().map(|(index, &target)| {
        let result = match (&transcript, plan.outputs[index]) {
            (Some(Err(e)), _) => Err(ProviderError::Unsupported(e.to_string())),
            (_, Some(id)) => results[id].clone().unwrap_or(Err(ProviderError::Timeout)),
            (_, None) => Err(ProviderError::Timeout),
        };
        SubtaskResult { target, result }
    });
    let results: Vec<SubtaskResult> = targets.collect();
    let width = plan
        .nodes
        .iter()
        .filter(|n| matches!(n.task, Task::Translate { .. }))
        .count();
    let ok = results.iter().filter(|r| r.result.is_ok()).count();
    let result = match ok {
        0 => "failed",
        n if n == results.len() => "complete",
        _ => "partial",
    };
    metrics.roma_request(width, result);
    RomaOutcome {
        results,
        demo_only: router.demo_only(),
        source: plan.source,
        transcript,
        provider_time,
    }
}

/// Whether every task `id` waits for is done (for a transcription's dependants: succeeded).
fn ready(
    plan: &Plan,
    results: &[Option<TaskResult>],
    transcript: &Option<Result<String, SpeechError>>,
    id: TaskId,
) -> bool {
    plan.nodes[id]
        .deps
        .iter()
        .all(|&dep| match plan.nodes[dep].task {
            Task::Transcribe => matches!(transcript, Some(Ok(_))),
            _ => results[dep].is_some(),
        })
}

/// A result that needed no provider.
fn kept(text: String) -> Translation {
    Translation {
        text,
        provider: "none".into(),
        demo: false,
        dollars: 0.0,
    }
}

/// The chunk translations `pieces` reassembled in order, with the whitespace that surrounded
/// each chunk in the original; the first failed chunk fails the whole.
fn join(plan: &Plan, pieces: &[TaskId], results: &[Option<TaskResult>]) -> TaskResult {
    let mut text = String::new();
    let mut providers: Vec<&str> = Vec::new();
    let mut demo = false;
    let mut dollars = 0.0;
    for &id in pieces {
        let chunk = match &plan.nodes[id].task {
            Task::Translate { chunk, .. } => *chunk,
            _ => None,
        };
        let (lead, _, trail) = plan.piece(chunk);
        match results[id].as_ref() {
            Some(Ok(t)) => {
                text.push_str(lead);
                text.push_str(&t.text);
                text.push_str(trail);
                if !t.text.is_empty() && !providers.contains(&&*t.provider) {
                    providers.push(&t.provider);
                }
                demo |= t.demo;
                dollars += t.dollars;
            }
            Some(Err(e)) => return Err(e.clone()),
            None => return Err(ProviderError::Timeout),
        }
    }
    Ok(Translation {
        text: text.trim().to_string(),
        provider: providers.join("+").into(),
        demo,
        dollars,
    })
}
