//! Atomizer and planner: from a request to a DAG of plain-data tasks.
//!
//! A *goal* is "translate this text into these languages". [`atomize`] calls a goal atomic when it
//! is one provider call: one target and a text no longer than a chunk. Otherwise [`plan`]
//! decomposes it, recursively:
//!
//! - several targets: one sub-goal per target (planned again, one level deeper);
//! - one target and a long text: one [`Task::Translate`] per chunk (see [`super::chunk`]), then a
//!   [`Task::Join`] that reassembles them in order;
//! - a voice message: [`Task::Transcribe`], then [`Task::Expand`], which the executor turns into
//!   the text's own plan once the transcript is known ([`expand`]);
//! - a target that is the source language (named, or detected with confidence): [`Task::Keep`],
//!   the text as it is, without a provider call.
//!
//! At `max_depth` every goal is treated as atomic. Task ids are indexes into [`Plan::nodes`];
//! a task only depends on tasks with smaller ids, so the nodes are in a topological order.

use std::ops::Range;
use std::sync::Arc;

use super::{Input, Source, TranslateRequest, chunk, detect_source};
use crate::lang::Lang;

/// Index of a task in [`Plan::nodes`].
pub type TaskId = usize;

/// How a goal is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atomicity {
    /// One provider call.
    Atomic,
    /// Needs a plan: several targets, a text longer than a chunk, or speech to transcribe first.
    Composite,
}

/// Bounds for planning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Longest text sent to a provider in one call, in characters.
    pub chunk_chars: usize,
    /// Deepest recursion; goals at this depth are atomic.
    pub max_depth: u8,
}

impl Default for PlanLimits {
    fn default() -> Self {
        Self {
            chunk_chars: 1500,
            max_depth: 4,
        }
    }
}

/// A target language and its place in the user's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub index: usize,
    pub target: &'static Lang,
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Speech to text; the [`Task::Expand`] after it plans the rest.
    Transcribe,
    /// Plan these targets once the text (the transcript) is known: ROMA's recursion at run time.
    Expand { slots: Vec<Slot> },
    /// One provider call: the whole text (`chunk: None`) or one chunk of it into one language.
    Translate { slot: Slot, chunk: Option<usize> },
    /// The chunk translations this task depends on, reassembled in order.
    Join { slot: Slot },
    /// The source language is the target: the text as it is.
    Keep { slot: Slot },
}

/// A task, what it waits for, and how deep in the recursion it was planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub task: Task,
    pub deps: Vec<TaskId>,
    pub depth: u8,
}

/// A request's plan: plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub nodes: Vec<Node>,
    /// The text to translate, once known (after transcription for voice).
    pub text: Option<Arc<str>>,
    /// Byte ranges of `text`, in order, when it was split.
    pub chunks: Vec<Range<usize>>,
    /// For each target in the user's order, the task that yields its translation.
    pub outputs: Vec<Option<TaskId>>,
    /// The source language, named or detected.
    pub source: Option<Source>,
    pub limits: PlanLimits,
}

/// A goal: a text (unknown for speech) into some targets.
struct Goal<'a> {
    text_chars: Option<usize>,
    slots: &'a [Slot],
}

/// Whether a goal is a single provider call.
fn atomicity(goal: &Goal<'_>, depth: u8, limits: PlanLimits) -> Atomicity {
    match goal.text_chars {
        _ if depth >= limits.max_depth => Atomicity::Atomic,
        Some(chars) if goal.slots.len() <= 1 && chars <= limits.chunk_chars => Atomicity::Atomic,
        _ => Atomicity::Composite,
    }
}

/// Whether a request is atomic (one short text, one target) or needs planning.
pub fn atomize(request: &TranslateRequest, limits: PlanLimits) -> Atomicity {
    let slots = slots(&request.targets);
    let text_chars = match &request.input {
        Input::Text(text) => Some(text.chars().count()),
        Input::Voice(_) => None,
    };
    atomicity(
        &Goal {
            text_chars,
            slots: &slots,
        },
        0,
        limits,
    )
}

fn slots(targets: &[&'static Lang]) -> Vec<Slot> {
    targets
        .iter()
        .enumerate()
        .map(|(index, &target)| Slot { index, target })
        .collect()
}

/// The plan for a request.
pub fn plan(request: &TranslateRequest, limits: PlanLimits) -> Plan {
    let mut plan = Plan {
        nodes: Vec::new(),
        text: None,
        chunks: Vec::new(),
        outputs: vec![None; request.targets.len()],
        source: request.source.map(|lang| Source {
            lang,
            detected: false,
        }),
        limits,
    };
    let slots = slots(&request.targets);
    match &request.input {
        Input::Text(text) => {
            set_text(&mut plan, text.clone());
            plan_goal(&mut plan, &slots, &[], 0);
        }
        Input::Voice(_) => {
            let transcribe = push(&mut plan, Task::Transcribe, Vec::new(), 0);
            if !slots.is_empty() {
                push(&mut plan, Task::Expand { slots }, vec![transcribe], 1);
            }
        }
    }
    plan
}

/// Plans the [`Task::Expand`] at `at` now that the text is known; its targets' outputs become
/// the new tasks'. Returns the ids of the tasks added.
pub fn expand(plan: &mut Plan, at: TaskId, text: Arc<str>) -> Range<TaskId> {
    let start = plan.nodes.len();
    let Some(Node {
        task: Task::Expand { slots },
        depth,
        ..
    }) = plan.nodes.get(at).cloned()
    else {
        return start..start;
    };
    set_text(plan, text);
    plan_goal(plan, &slots, &[at], depth);
    start..plan.nodes.len()
}

/// Records the text, detecting its language unless the user named it.
fn set_text(plan: &mut Plan, text: Arc<str>) {
    if plan.source.is_none() {
        plan.source = detect_source(&text).map(|lang| Source {
            lang,
            detected: true,
        });
    }
    plan.text = Some(text);
}

fn push(plan: &mut Plan, task: Task, deps: Vec<TaskId>, depth: u8) -> TaskId {
    plan.nodes.push(Node { task, deps, depth });
    plan.nodes.len() - 1
}

/// Plans `slots` of the plan's text at `depth`, after `deps`.
fn plan_goal(plan: &mut Plan, slots: &[Slot], deps: &[TaskId], depth: u8) {
    let text_chars = plan.text.as_deref().map(|t| t.chars().count());
    let goal = Goal { text_chars, slots };
    let source = plan.source.map(|s| s.lang);
    match (atomicity(&goal, depth, plan.limits), slots) {
        (_, []) => {}
        (_, [slot]) if Some(slot.target) == source => {
            let id = push(plan, Task::Keep { slot: *slot }, deps.to_vec(), depth);
            plan.outputs[slot.index] = Some(id);
        }
        (Atomicity::Atomic, _) => {
            for slot in slots {
                let task = if Some(slot.target) == source {
                    Task::Keep { slot: *slot }
                } else {
                    Task::Translate {
                        slot: *slot,
                        chunk: None,
                    }
                };
                let id = push(plan, task, deps.to_vec(), depth);
                plan.outputs[slot.index] = Some(id);
            }
        }
        (Atomicity::Composite, [slot]) => {
            // One language, a long text: chunks in parallel, then a join.
            if plan.chunks.is_empty()
                && let Some(text) = &plan.text
            {
                plan.chunks = chunk::split(text, plan.limits.chunk_chars);
            }
            let pieces: Vec<TaskId> = (0..plan.chunks.len())
                .map(|i| {
                    push(
                        plan,
                        Task::Translate {
                            slot: *slot,
                            chunk: Some(i),
                        },
                        deps.to_vec(),
                        depth + 1,
                    )
                })
                .collect();
            let join = push(plan, Task::Join { slot: *slot }, pieces, depth);
            plan.outputs[slot.index] = Some(join);
        }
        (Atomicity::Composite, _) => {
            for slot in slots {
                plan_goal(plan, std::slice::from_ref(slot), deps, depth + 1);
            }
        }
    }
}

impl Plan {
    /// A one-line summary for logs: no text, only the shape.
    pub fn summary(&self) -> String {
        let count = |f: fn(&Task) -> bool| self.nodes.iter().filter(|n| f(&n.task)).count();
        format!(
            "{} tasks: {} translate, {} join, {} keep, {} transcribe; {} chunks; depth {}",
            self.nodes.len(),
            count(|t| matches!(t, Task::Translate { .. })),
            count(|t| matches!(t, Task::Join { .. })),
            count(|t| matches!(t, Task::Keep { .. })),
            count(|t| matches!(t, Task::Transcribe)),
            self.chunks.len(),
            self.nodes.iter().map(|n| n.depth).max().unwrap_or(0),
        )
    }

    /// The text of a translate task: the whole text or one chunk, without the whitespace around
    /// it (see [`chunk::core`]).
    pub fn piece(&self, chunk: Option<usize>) -> (&str, &str, &str) {
        let text = self.text.as_deref().unwrap_or("");
        match chunk.and_then(|i| self.chunks.get(i)) {
            Some(range) => chunk::core(text.get(range.clone()).unwrap_or("")),
            None => chunk::core(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roma::{Speech, SpeechError};
    use tokio::time::Instant;

    fn lang(code: &str) -> &'static Lang {
        Lang::from_code(code).expect("known")
    }

    fn request(text: &str, targets: &[&str]) -> TranslateRequest {
        TranslateRequest {
            input: Input::Text(text.into()),
            source: None,
            targets: targets.iter().map(|c| lang(c)).collect(),
            deadline: Instant::now(),
            requester: None,
        }
    }

    const LIMITS: PlanLimits = PlanLimits {
        chunk_chars: 20,
        max_depth: 4,
    };

    fn tasks(plan: &Plan) -> Vec<String> {
        plan.nodes
            .iter()
            .map(|n| match &n.task {
                Task::Transcribe => "transcribe".into(),
                Task::Expand { slots } => format!("expand x{}", slots.len()),
                Task::Translate { slot, chunk } => match chunk {
                    Some(i) => format!("{}#{i}", slot.target.code),
                    None => slot.target.code.to_string(),
                },
                Task::Join { slot } => format!("join {} <- {:?}", slot.target.code, n.deps),
                Task::Keep { slot } => format!("keep {}", slot.target.code),
            })
            .collect()
    }

    #[test]
    fn one_short_text_one_target_is_atomic() {
        let r = request("hello", &["es"]);
        assert_eq!(atomize(&r, LIMITS), Atomicity::Atomic);
        let p = plan(&r, LIMITS);
        assert_eq!(tasks(&p), ["es"]);
        assert_eq!(p.outputs, [Some(0)]);
    }

    #[test]
    fn many_targets_fan_out_in_the_users_order() {
        let r = request("hello", &["de", "es", "fr"]);
        assert_eq!(atomize(&r, LIMITS), Atomicity::Composite);
        let p = plan(&r, LIMITS);
        assert_eq!(tasks(&p), ["de", "es", "fr"]);
        assert_eq!(p.outputs, [Some(0), Some(1), Some(2)]);
        assert!(p.nodes.iter().all(|n| n.deps.is_empty() && n.depth == 1));
    }

    #[test]
    fn a_long_text_is_chunked_per_target_and_joined_in_order() {
        let text = "First sentence. Second sentence. Third one.";
        let r = request(text, &["es", "fr"]);
        let p = plan(&r, LIMITS);
        assert_eq!(p.chunks.len(), 3, "{:?}", p.chunks);
        assert_eq!(
            tasks(&p),
            [
                "es#0",
                "es#1",
                "es#2",
                "join es <- [0, 1, 2]",
                "fr#0",
                "fr#1",
                "fr#2",
                "join fr <- [4, 5, 6]"
            ]
        );
        assert_eq!(p.outputs, [Some(3), Some(7)]);
        // Chunks are planned two levels below the request: target, then chunk.
        assert_eq!(p.nodes[0].depth, 2);
        assert_eq!(p.piece(Some(1)), ("", "Second sentence.", " "));
        let whole: String = p.chunks.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(whole, text);
    }

    #[test]
    fn recursion_stops_at_the_depth_limit() {
        let text = "a".repeat(100);
        let limits = PlanLimits {
            chunk_chars: 20,
            max_depth: 1,
        };
        let p = plan(&request(&text, &["es", "fr"]), limits);
        assert_eq!(tasks(&p), ["es", "fr"], "no chunking below the limit");
        let limits = PlanLimits {
            chunk_chars: 20,
            max_depth: 0,
        };
        let p = plan(&request(&text, &["es"]), limits);
        assert_eq!(tasks(&p), ["es"]);
    }

    #[test]
    fn the_source_language_is_kept_not_translated() {
        let mut r = request("ciao", &["it", "en"]);
        r.source = Some(lang("it"));
        let p = plan(&r, LIMITS);
        assert_eq!(tasks(&p), ["keep it", "en"]);
        assert_eq!(
            p.source,
            Some(Source {
                lang: lang("it"),
                detected: false
            })
        );
    }

    struct Silent;
    #[async_trait::async_trait]
    impl Speech for Silent {
        async fn transcribe(&self, _: Instant) -> Result<String, SpeechError> {
            Err(SpeechError::Fetch)
        }
    }

    #[test]
    fn voice_is_transcribed_then_planned_again_when_the_text_is_known() {
        let mut r = request("", &["es", "fr"]);
        r.input = Input::Voice(std::sync::Arc::new(Silent));
        assert_eq!(atomize(&r, LIMITS), Atomicity::Composite);
        let mut p = plan(&r, LIMITS);
        assert_eq!(tasks(&p), ["transcribe", "expand x2"]);
        assert_eq!(p.outputs, [None, None]);
        let added = expand(&mut p, 1, "good morning".into());
        assert_eq!(added, 2..4);
        assert_eq!(tasks(&p), ["transcribe", "expand x2", "es", "fr"]);
        assert_eq!(p.nodes[2].deps, [1]);
        assert_eq!(p.outputs, [Some(2), Some(3)]);
        // A voice message without targets is only transcribed.
        r.targets.clear();
        assert_eq!(tasks(&plan(&r, LIMITS)), ["transcribe"]);
    }
}
