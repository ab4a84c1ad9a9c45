//! Logs and metrics.
//!
//! Logs: `tracing`, human-readable by default, one JSON object per line with `log.format =
//! "json"`, filtered by `log.level` (EnvFilter syntax with per-module levels, `TOLMACH_LOG`).
//! Logs go to stderr so the console platform owns stdout. Every line about a user message
//! carries its correlation id `corr` ([`crate::domain::MessageKey::corr`]): the session logs it,
//! the conversation opens an `update` span with it, and the coordinator and provider actors run
//! their share of the work inside that span. Secrets are [`crate::secret::Secret`]s (they print
//! as `<redacted>`), and every line passes the [`redact::Redactor`] on its way out; user text is
//! logged only when `log.user_text` is on (see [`user_text`]).
//!
//! Errors: [`sentry`]. Metrics: [`metrics`]. Probes: [`health`].

pub mod health;
pub mod metrics;
pub mod redact;
pub mod sentry;

use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

use crate::config::{Config, LogFormat};
use redact::{RedactingMakeWriter, Redactor};

/// What the binary keeps alive while it runs: the Sentry client (sends what is queued when
/// dropped).
pub struct Telemetry {
    _sentry: Option<::sentry::ClientInitGuard>,
}

impl Telemetry {
    pub fn sentry_enabled(&self) -> bool {
        self._sentry.is_some()
    }
}

/// Installs the global tracing subscriber (logs to stderr through the [`Redactor`], and Sentry
/// when configured). Call once, from the binary.
pub fn init(config: &Config) -> Result<Telemetry, String> {
    let redactor = Redactor::new(&config.secrets());
    let filter = EnvFilter::try_new(&config.log.level).map_err(|e| e.to_string())?;
    let writer = RedactingMakeWriter::new(std::io::stderr, redactor.clone());
    let logs = match config.log.format {
        LogFormat::Text => fmt::layer()
            .with_writer(writer)
            .with_target(true)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .with_target(true)
            .boxed(),
    };
    let guard = sentry::init(&config.sentry, redactor);
    let sentry_layers = guard.is_some().then(|| {
        use ::sentry::integrations::tracing::{BreadcrumbLayer, ErrorLayer};
        let ours = |m: &tracing::Metadata<'_>| m.target().starts_with("tolmach");
        BreadcrumbLayer::new()
            .with_filter(FilterFn::new(move |m| {
                ours(m) && matches!(*m.level(), tracing::Level::INFO | tracing::Level::WARN)
            }))
            .and_then(ErrorLayer::new().with_filter(FilterFn::new(|m| {
                *m.level() == tracing::Level::ERROR
                    || (*m.level() == tracing::Level::WARN && m.fields().field("alert").is_some())
            })))
    });
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(sentry_layers)
        .try_init()
        .map_err(|e| e.to_string())?;
    Ok(Telemetry { _sentry: guard })
}

/// What to log in place of a user's message: the text itself only if the operator opted in,
/// otherwise its length.
pub fn user_text(enabled: bool, text: &str) -> String {
    if enabled {
        text.to_string()
    } else {
        format!("<{} chars>", text.chars().count())
    }
}
