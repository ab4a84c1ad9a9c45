//! The ROMA engine behind the coordinator: atomize → plan → execute → aggregate.
//!
//! - [`plan::atomize`] decides whether a goal is atomic (one short text, one target: a single
//!   provider call) or needs planning;
//! - [`plan::plan`] turns a request into a [`plan::Plan`], a DAG of plain-data tasks: one branch
//!   per target language, a long text split into chunks ([`chunk`]) translated in parallel and
//!   joined in order, a voice message transcribed first and planned again once its text is known
//!   (recursion, with a depth limit). Plans are logged at debug and testable without a provider;
//! - [`execute::execute`] runs ready tasks in parallel under a concurrency budget, each
//!   translation through the resilience router (fallback, hedging, retries, breakers), within
//!   the request's deadline; whatever is left when the deadline passes is cancelled and reported
//!   as timed out, and dropping the request cancels everything;
//! - [`aggregate::aggregate`] builds one reply in the order the user asked, with explicit partial
//!   success.
//!
//! The coordinator actor (`src/actors/coordinator.rs`) runs one request per task; everything
//! here is a function of its inputs, the providers and (for voice) the speech source.

pub mod aggregate;
pub mod chunk;
pub mod execute;
pub mod plan;

use std::fmt;
use std::sync::Arc;

use tokio::time::Instant;

use crate::lang::Lang;
use crate::providers::{ProviderError, Translation};

/// What to translate.
#[derive(Clone)]
pub enum Input {
    Text(Arc<str>),
    /// A voice message, transcribed by the plan's first task.
    Voice(Arc<dyn Speech>),
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Never the text itself: requests are logged.
            Self::Text(text) => write!(f, "Text({} chars)", text.chars().count()),
            Self::Voice(_) => f.write_str("Voice"),
        }
    }
}

/// Speech to text for one voice message (fetching its audio and transcribing it).
#[async_trait::async_trait]
pub trait Speech: Send + Sync + 'static {
    async fn transcribe(&self, deadline: Instant) -> Result<String, SpeechError>;
}

/// Why a voice message has no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpeechError {
    #[error("cannot fetch the audio")]
    Fetch,
    #[error("transcription failed: {0}")]
    Transcribe(ProviderError),
    #[error("timed out")]
    Timeout,
}

/// What the coordinator is asked to do.
#[derive(Debug, Clone)]
pub struct TranslateRequest {
    pub input: Input,
    /// The source language when the user named it (`from Italian`); detected otherwise.
    pub source: Option<&'static Lang>,
    /// In the order the user asked for them. Empty with a voice input: just the transcript.
    pub targets: Vec<&'static Lang>,
    pub deadline: Instant,
    /// Who asked (platform-qualified), for the per-user budget; never logged.
    pub requester: Option<Arc<str>>,
}

/// The source language shown in the reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub lang: &'static Lang,
    /// Detected from the text rather than named by the user.
    pub detected: bool,
}

/// The result for one target language.
#[derive(Debug, Clone)]
pub struct SubtaskResult {
    pub target: &'static Lang,
    pub result: Result<Translation, ProviderError>,
}

/// Every target's result, in the order of the request's targets.
#[derive(Debug, Clone)]
pub struct RomaOutcome {
    pub results: Vec<SubtaskResult>,
    /// Every configured provider is the offline demo (the reply says so).
    pub demo_only: bool,
    /// The source language, named or detected, when known.
    pub source: Option<Source>,
    /// For a voice input: what was heard, or why nothing was.
    pub transcript: Option<Result<String, SpeechError>>,
    /// How long the request waited on providers (translations and the transcription, the HTTP
    /// client's time included): not the runtime's own time.
    pub provider_time: std::time::Duration,
}

/// The source language of `text` when the detector is confident about it.
pub fn detect_source(text: &str) -> Option<&'static Lang> {
    crate::detect::detect(text)
        .filter(|d| d.confident)
        .map(|d| d.lang)
}
