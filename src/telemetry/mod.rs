//! Logs and metrics.
//!
//! Logs: `tracing`, human-readable by default, one JSON object per line with `log.format =
//! "json"`, filtered by `log.level` (EnvFilter syntax, `TOLMACH_LOG`). Logs go to stderr so the
//! console platform owns stdout. Secrets are [`crate::secret::Secret`]s (they print as
//! `<redacted>`); user text is logged only when `log.user_text` is on (see [`user_text`]).
//!
//! Metrics: see [`metrics`].

pub mod metrics;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global tracing subscriber. Call once, from the binary.
pub fn init_logging(config: &LogConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.level).map_err(|e| e.to_string())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let result = match config.format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| e.to_string())
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
