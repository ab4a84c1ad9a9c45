//! Translation providers: one trait, one file per vendor.
//!
//! A [`Provider`] turns one [`TranslateJob`] (a text, one target language, a deadline) into
//! translated text, or a typed [`ProviderError`] that says whether the failure is the provider's
//! fault (counts against its circuit breaker, worth falling back) or not.
//!
//! # Layout
//! - vendors: [`demo`] (offline phrasebook), [`openai`] (OpenAI-compatible chat completions and
//!   Azure OpenAI), [`anthropic`] (Claude's Messages API), [`deepl`], [`libretranslate`];
//! - shared by the chat models: [`llm`] (the system prompt, cleaning the model's answer);
//! - shared by every HTTP vendor: `endpoint` (URL and pooled client), `http` (one call bounded
//!   by the deadline and a body cap, errors typed, `Retry-After` read);
//! - [`transcription`] (voice to text).
//!
//! Providers know nothing of retries, breakers, bulkheads, hedging or budgets: those are
//! composed around them by `src/resilience` (its module docs give the order). A provider makes
//! one honest attempt and classifies its failure.

pub mod anthropic;
pub mod deepl;
pub mod demo;
pub(crate) mod http;
pub mod libretranslate;
pub mod llm;
pub mod openai;
mod phrasebook;
pub mod transcription;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{ProviderConfig, ProviderKind};
use crate::lang::Lang;

/// One unit of provider work: translate `text` into `target`.
#[derive(Debug, Clone)]
pub struct TranslateJob {
    pub text: String,
    /// The source language when the user named it; providers detect it otherwise.
    pub source: Option<&'static Lang>,
    pub target: &'static Lang,
    /// The request's deadline; a provider must not outlive it.
    pub deadline: Instant,
}

/// A successful translation.
#[derive(Debug, Clone, PartialEq)]
pub struct Translation {
    pub text: String,
    /// The provider that produced it (its configured name).
    pub provider: Arc<str>,
    /// It came from the offline demo phrasebook (the reply says so).
    pub demo: bool,
    /// Its estimated price in dollars (from the provider's `[cost]` table).
    pub dollars: f64,
}

/// Why a provider gave no translation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("timed out")]
    Timeout,
    #[error("HTTP {status}")]
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("unusable answer: {0}")]
    InvalidResponse(String),
    /// The provider cannot do this job (a phrase outside the demo phrasebook, a language it
    /// does not offer). Not a fault of the provider.
    #[error("{0}")]
    Unsupported(String),
    /// Its circuit breaker is open.
    #[error("circuit open")]
    CircuitOpen { retry_in: Duration },
    /// The provider's actor could not be reached before the deadline.
    #[error("provider unavailable")]
    Unavailable,
    /// Its bulkhead was full: too many calls in flight already.
    #[error("provider busy")]
    Busy,
    /// Today's budget (the provider's, or the user's) is spent.
    #[error("daily budget spent")]
    QuotaExhausted,
}

impl ProviderError {
    /// Whether this failure says something about the provider's health (breaker food).
    pub fn is_provider_fault(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) | Self::InvalidResponse(_) => true,
            Self::Status { status, .. } => {
                *status >= 500 || matches!(status, 401 | 403 | 404 | 429 | 456)
            }
            Self::Unsupported(_)
            | Self::CircuitOpen { .. }
            | Self::Unavailable
            | Self::Busy
            | Self::QuotaExhausted => false,
        }
    }

    /// A bounded label for metrics.
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Status { status: 429, .. } => "rate_limited",
            Self::Status { status, .. } if *status >= 500 => "status_5xx",
            Self::Status { .. } => "status_4xx",
            Self::Transport(_) => "transport",
            Self::InvalidResponse(_) => "invalid_response",
            Self::Unsupported(_) => "unsupported",
            Self::CircuitOpen { .. } => "circuit_open",
            Self::Unavailable => "unavailable",
            Self::Busy => "bulkhead_full",
            Self::QuotaExhausted => "quota_exhausted",
        }
    }

    /// What to tell the user, briefly (no internals, no secrets).
    pub fn user_reason(&self) -> String {
        match self {
            Self::Timeout => "provider timed out".into(),
            Self::Status { status: 429, .. } => "provider is busy (rate limited)".into(),
            Self::Status { status, .. } if *status >= 500 => {
                format!("provider error (HTTP {status})")
            }
            Self::Status { status, .. } => format!("provider refused the request (HTTP {status})"),
            Self::Transport(_) => "provider unreachable".into(),
            Self::InvalidResponse(_) => "provider answered nonsense".into(),
            Self::Unsupported(reason) => reason.clone(),
            Self::CircuitOpen { retry_in } => format!(
                "provider temporarily disabled after repeated failures (retry in {}s)",
                retry_in.as_secs().max(1)
            ),
            Self::Unavailable => "provider unavailable".into(),
            Self::Busy => "all providers busy, try again in a minute".into(),
            Self::QuotaExhausted => {
                "today's translation budget is spent, try again tomorrow".into()
            }
        }
    }
}

/// What a provider reports it used for one call (for quotas and cost), when it says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// One provider call's answer: the translation and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub text: String,
    pub usage: Usage,
}

impl Answer {
    /// An answer whose provider reports no token usage (machine translation, the demo).
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            usage: Usage::default(),
        }
    }
}

/// A translation backend.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Translates one job. Must return by `job.deadline` (callers also enforce it).
    async fn translate(&self, job: &TranslateJob) -> Result<Answer, ProviderError>;

    /// Whether this is the offline demo (its answers are labelled as such).
    fn is_demo(&self) -> bool {
        false
    }
}

/// The endpoint `path` under an API base URL (`https://host/v1` + `chat/completions`), and a
/// pooled HTTP client for it: keep-alive, the given timeout, no proxy for loopback servers
/// (Ollama, vLLM, the test kit's fakes).
pub(crate) fn endpoint(
    base_url: &url::Url,
    path: &str,
    timeout: Duration,
) -> Result<(url::Url, reqwest::Client), String> {
    let mut base = base_url.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    let url = base.join(path).map_err(|e| format!("bad base_url: {e}"))?;
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("tolmach/", env!("CARGO_PKG_VERSION")))
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(90));
    if http::is_loopback(&url) {
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))?;
    Ok((url, client))
}

/// Errors building a provider from configuration.
#[derive(Debug, thiserror::Error)]
#[error("provider {name}: {reason}")]
pub struct BuildError {
    pub name: String,
    pub reason: String,
}

/// Builds the provider a configuration entry describes.
pub fn build(config: &ProviderConfig) -> Result<Arc<dyn Provider>, BuildError> {
    fn shared<P: Provider>(p: P) -> Arc<dyn Provider> {
        Arc::new(p)
    }
    let built = match &config.kind {
        ProviderKind::Demo => Ok(shared(demo::DemoProvider)),
        ProviderKind::OpenAi(c) => openai::OpenAiProvider::new(c.clone()).map(shared),
        ProviderKind::Anthropic(c) => anthropic::AnthropicProvider::new(c.clone()).map(shared),
        ProviderKind::DeepL(c) => deepl::DeepLProvider::new(c.clone()).map(shared),
        ProviderKind::LibreTranslate(c) => {
            libretranslate::LibreTranslateProvider::new(c.clone()).map(shared)
        }
    };
    built.map_err(|reason| BuildError {
        name: config.name.clone(),
        reason,
    })
}
