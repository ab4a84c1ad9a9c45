//! The last line of defence for secrets: masks tokens and keys in every log line and every
//! Sentry envelope before it leaves the process.
//!
//! Secrets are [`Secret`]s and print as `<redacted>`, so this should find nothing. It catches
//! what slips through anyway: a token inside a URL in a library's error message, a key a
//! provider echoes back. Two kinds of match are masked:
//!
//! - the exact values of every secret in the configuration (platform tokens, provider keys,
//!   the admin token, the Sentry DSN);
//! - text shaped like a credential: Telegram bot tokens, Discord bot tokens, `sk-…` keys,
//!   `Bearer …`, `key=…`/`"token": "…"` pairs, and the user-info part of URLs.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::Arc;

use regex::{Regex, RegexSet};
use tracing_subscriber::fmt::MakeWriter;

use crate::secret::Secret;

/// What replaces a secret.
pub const MASK: &str = "<redacted>";

/// Credential-shaped text; each pattern's group 1 (if any) is kept, the rest masked.
const PATTERNS: &[&str] = &[
    // Telegram bot token, also inside ".../bot<token>/getUpdates".
    r"[0-9]{5,16}:[A-Za-z0-9_-]{30,}",
    // Discord bot token: three base64url parts.
    r"[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,45}",
    // OpenAI-style and similar API keys.
    r"\b(?:sk|pk|rk|gsk|xox[abp])[-_][A-Za-z0-9_-]{16,}",
    // Authorization header values.
    r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}",
    // key=value and "key": "value" pairs naming a credential.
    r#"(?i)(\b(?:api[_-]?key|access[_-]?token|auth[_-]?token|bot[_-]?token|token|secret|password|passwd|authorization|x-api-key|sentry_key)["']?\s*[:=]\s*["']?)[^\s"',;&<>]{6,}"#,
    // user:password@ in URLs (a Sentry DSN's key, database URLs).
    r"(://)[^/\s:@<>]+(?::[^/\s@<>]*)?@",
];

/// Masks secrets in text. Cheap to clone.
#[derive(Clone)]
pub struct Redactor {
    inner: Arc<Inner>,
}

struct Inner {
    /// Exact values, longest first (so a value containing another is masked whole).
    values: Vec<String>,
    any: RegexSet,
    patterns: Vec<Regex>,
}

impl Redactor {
    /// A redactor for the configuration's `secrets` (values shorter than 6 characters are
    /// ignored: masking "abc" everywhere would mangle logs and protect nothing).
    pub fn new(secrets: &[Secret]) -> Self {
        let mut values: Vec<String> = secrets
            .iter()
            .map(|s| s.expose().to_string())
            .filter(|v| v.len() >= 6)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        let patterns = PATTERNS.iter().filter_map(|p| Regex::new(p).ok()).collect();
        let any = RegexSet::new(PATTERNS).unwrap_or_else(|_| RegexSet::empty());
        Self {
            inner: Arc::new(Inner {
                values,
                any,
                patterns,
            }),
        }
    }

    /// `text` with every secret masked; borrowed when there was nothing to mask.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for v in &self.inner.values {
            if out.contains(v.as_str()) {
                out = Cow::Owned(out.replace(v.as_str(), MASK));
            }
        }
        if !self.inner.any.is_match(&out) {
            return out;
        }
        for re in &self.inner.patterns {
            if let Cow::Owned(s) = re.replace_all(&out, |c: &regex::Captures<'_>| {
                format!("{}{MASK}", c.get(1).map_or("", |m| m.as_str()))
            }) {
                out = Cow::Owned(s);
            }
        }
        out
    }

    /// Bytes with every secret masked (invalid UTF-8 is passed through lossily).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let text = String::from_utf8_lossy(bytes);
        match self.redact(&text) {
            Cow::Borrowed(_) => Cow::Borrowed(bytes),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

/// A [`MakeWriter`] that masks secrets in what the log formatter writes. The formatter writes
/// each event as one buffer, so a secret is never split across writes.
#[derive(Clone)]
pub struct RedactingMakeWriter<M> {
    inner: M,
    redactor: Redactor,
}

impl<M> RedactingMakeWriter<M> {
    pub fn new(inner: M, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            inner: self.inner.make_writer(),
            redactor: self.redactor.clone(),
        }
    }
}

pub struct RedactingWriter<W> {
    inner: W,
    redactor: Redactor,
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write_all(&self.redactor.redact_bytes(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r() -> Redactor {
        Redactor::new(&[
            Secret::new("configured-secret-value-42"),
            Secret::new("abc"),
        ])
    }

    #[test]
    fn masks_configured_values_anywhere() {
        let out = r().redact("x=configured-secret-value-42;y");
        assert!(!out.contains("configured-secret-value-42"), "{out}");
        // Too short to mask.
        assert_eq!(r().redact("abc def"), "abc def");
    }

    #[test]
    fn masks_credential_shaped_text() {
        let cases = [
            "GET https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0/getUpdates",
            "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc",
            "key sk-proj-abcdefghijklmnopqrstuvwx rejected",
            r#"{"api_key": "0123456789abcdef"}"#,
            "https://d41d8cd98f00b204e9800998ecf8427e@o1.ingest.sentry.io/42",
            "token MTA5ODc2NTQzMjEwOTg3NjU0.GhIjKl.abcdefghijklmnopqrstuvwxyz0123456789ab",
        ];
        for case in cases {
            let out = r().redact(case);
            assert!(out.contains(MASK), "not masked: {case} -> {out}");
            for secret in [
                "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
                "eyJhbGciOiJIUzI1NiJ9",
                "abcdefghijklmnopqrstuvwx",
                "0123456789abcdef",
                "d41d8cd98f00b204e9800998ecf8427e",
                "abcdefghijklmnopqrstuvwxyz0123456789ab",
            ] {
                assert!(!out.contains(secret), "{case} -> {out}");
            }
        }
    }

    #[test]
    fn leaves_ordinary_logs_alone() {
        for line in [
            "circuit opened provider=groq wait_in_open_ms=30000",
            "telegram: getUpdates failed error=\"cannot connect\" retry_in_s=2",
            "handling message corr=00ff00ff00ff00ff text=<12 chars>",
            "http://127.0.0.1:9464/metrics",
            "no token configured",
        ] {
            assert_eq!(r().redact(line), line);
        }
    }

    #[test]
    fn the_writer_masks_each_line() {
        let buf: Vec<u8> = Vec::new();
        let mut w = RedactingWriter {
            inner: buf,
            redactor: r(),
        };
        w.write_all(b"key=configured-secret-value-42\n").unwrap();
        let text = String::from_utf8(w.inner).unwrap();
        assert_eq!(text, format!("key={MASK}\n"));
    }
}
