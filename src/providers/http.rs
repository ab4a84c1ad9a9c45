//! The HTTP plumbing every network provider shares: one call, bounded in time and size, turned
//! into bytes or a typed [`ProviderError`].
//!
//! A vendor file builds its `reqwest` request (URL, key header, JSON body) and hands it to
//! [`send`], which:
//! 1. refuses at once when `job.deadline` has passed ([`ProviderError::Timeout`]);
//! 2. caps the request's own timeout by the time left, and the whole call (headers and body) by
//!    the deadline, so a provider never outlives its request;
//! 3. reads at most [`MAX_BODY_BYTES`] of a 2xx body (more is [`ProviderError::InvalidResponse`])
//!    and a little of an error body (vendors explain refusals there; reading it also lets the
//!    connection go back to the pool);
//! 4. maps reqwest failures with [`classify`] (URLs stripped, so nothing secret or private can
//!    reach an error message) and reads `Retry-After` ([`retry_after`]).
//!
//! The vendor file then turns a non-2xx [`HttpReply`] into [`ProviderError::Status`]
//! ([`HttpReply::into_body`]) unless its body says something more useful, and parses a 2xx body
//! with [`parse_json`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::ProviderError;

/// Largest successful response body read, in bytes.
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// Most of an error body kept, in bytes; the rest is not read.
const MAX_ERROR_BODY_BYTES: usize = 16 << 10;

/// How long an error body may take to arrive once the status is known: the status alone already
/// answers the call, so a server that sends headers and stalls does not turn it into a timeout.
const ERROR_BODY_PATIENCE: Duration = Duration::from_secs(1);

/// The longest `Retry-After` believed (a day); longer values are capped.
const MAX_RETRY_AFTER_SECS: f64 = 86_400.0;

/// A provider's answer to one HTTP call.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub status: StatusCode,
    /// `Retry-After` (or `retry-after-ms`), when the server sent one.
    pub retry_after: Option<Duration>,
    /// The body: all of it for a 2xx, at most [`MAX_ERROR_BODY_BYTES`] otherwise.
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The body of a 2xx answer, or [`ProviderError::Status`].
    pub fn into_body(self) -> Result<Vec<u8>, ProviderError> {
        if self.status.is_success() {
            Ok(self.body)
        } else {
            Err(self.status_error())
        }
    }

    /// This answer's status as an error.
    pub fn status_error(&self) -> ProviderError {
        ProviderError::Status {
            status: self.status.as_u16(),
            retry_after: self.retry_after,
        }
    }
}

/// Sends `request` with `timeout` (capped by the time left before `deadline`) and reads the
/// answer, all by `deadline`. See the module docs.
pub(crate) async fn send(
    request: reqwest::RequestBuilder,
    timeout: Duration,
    deadline: Instant,
) -> Result<HttpReply, ProviderError> {
    let remaining = deadline.saturating_duration_since(Instant::now());
    if remaining.is_zero() {
        return Err(ProviderError::Timeout);
    }
    let request = request.timeout(timeout.min(remaining));
    let call = async {
        let mut response = request.send().await.map_err(classify)?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let mut body = Vec::new();
        if status.is_success() {
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ProviderError::InvalidResponse("answer too large".into()));
                }
                body.extend_from_slice(&chunk);
            }
        } else {
            // Best effort: the status is the answer; the body only adds detail.
            let read = async {
                while let Ok(Some(chunk)) = response.chunk().await {
                    let room = MAX_ERROR_BODY_BYTES - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if body.len() >= MAX_ERROR_BODY_BYTES {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(ERROR_BODY_PATIENCE, read).await;
        }
        Ok(HttpReply {
            status,
            retry_after,
            body,
        })
    };
    // The request timeout covers the body too; this bounds everything by the deadline.
    tokio::time::timeout_at(deadline, call)
        .await
        .map_err(|_| ProviderError::Timeout)?
}

/// A header value carrying a secret (`Bearer sk-...`, an API key), marked sensitive so that
/// HTTP-level debug output shows it redacted. The error never contains the value.
pub(crate) fn secret_header(value: &str) -> Result<reqwest::header::HeaderValue, String> {
    let mut header = reqwest::header::HeaderValue::from_str(value)
        .map_err(|_| "the API key holds characters an HTTP header cannot carry".to_string())?;
    header.set_sensitive(true);
    Ok(header)
}

/// Parses a 2xx body as `T`; `what` names the expected document in the error
/// ("not a chat completion (truncated)").
pub(crate) fn parse_json<T: DeserializeOwned>(
    bytes: &[u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let why = match e.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated",
        };
        ProviderError::InvalidResponse(format!("not {what} ({why})"))
    })
}

/// Whether `url` points at this machine (no proxy for it: Ollama, vLLM, the test kit's fakes).
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A reqwest failure as a [`ProviderError`], without its URL (which may carry a query string).
pub(crate) fn classify(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        return ProviderError::Timeout;
    }
    let e = e.without_url();
    if e.is_connect() {
        ProviderError::Transport(format!("cannot connect: {e}"))
    } else if e.is_body() || e.is_decode() {
        // The connection broke while the answer was arriving: transient, worth a retry.
        // reqwest reports that as a *decode* error (its body decoder wraps the read error);
        // the JSON is parsed here, never by reqwest, so a decode error is never a bad document.
        ProviderError::Transport(format!("answer cut off: {}", root_cause(&e)))
    } else {
        ProviderError::Transport(e.to_string())
    }
}

/// The innermost error under `e` ("Connection reset by peer"), or `e` itself.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// How long the server asks us to wait: `retry-after-ms` (OpenAI, Azure), else `Retry-After`
/// in seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let number = |name: &str| {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 0.0)
    };
    let capped = |secs: f64| Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER_SECS));
    if let Some(ms) = number("retry-after-ms") {
        return Some(capped(ms / 1000.0));
    }
    if let Some(secs) = number(reqwest::header::RETRY_AFTER.as_str()) {
        return Some(capped(secs));
    }
    let date = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let wait = http_date(date.trim())?
        .duration_since(now)
        .unwrap_or_default();
    Some(wait.min(capped(MAX_RETRY_AFTER_SECS)))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only HTTP date form servers still send.
fn http_date(value: &str) -> Option<SystemTime> {
    let parts: Vec<&str> = value.split_ascii_whitespace().collect();
    let [_weekday, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok().filter(|d| (1..=31).contains(d))?;
    let year: i64 = year.parse().ok().filter(|y| (1970..=9999).contains(y))?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if hms.next().is_some() || h > 23 || m > 59 || s > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn retry_after_is_read_in_seconds_milliseconds_or_as_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let at = |pairs: &[(&'static str, &str)]| retry_after_at(&headers(pairs), now);
        assert_eq!(at(&[("retry-after", "7")]), Some(Duration::from_secs(7)));
        assert_eq!(
            at(&[("retry-after", "1.5")]),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            at(&[("retry-after", "7"), ("retry-after-ms", "250")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            at(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
            Some(Duration::from_secs(30))
        );
        // A date already past: retry now.
        assert_eq!(
            at(&[("retry-after", "Sat, 05 Nov 1994 08:49:37 GMT")]),
            Some(Duration::ZERO)
        );
        assert_eq!(
            at(&[("retry-after", "99999999")]),
            Some(Duration::from_secs(86_400))
        );
        for junk in ["soon", "-3", "NaN", "Sun, 06 Foo 1994 08:49:37 GMT", ""] {
            assert_eq!(at(&[("retry-after", junk)]), None, "{junk:?}");
        }
        assert_eq!(at(&[]), None);
    }

    #[test]
    fn http_dates_are_exact() {
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(UNIX_EPOCH));
        assert_eq!(
            http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(951_825_600))
        );
        assert_eq!(http_date("Tue, 29 Feb 2000 12:00:00 CET"), None);
        assert_eq!(http_date("Tue, 29 Feb 2000 25:00:00 GMT"), None);
    }

    #[test]
    fn error_statuses_keep_retry_after() {
        let reply = HttpReply {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(Duration::from_secs(3)),
            body: b"{}".to_vec(),
        };
        assert_eq!(
            reply.into_body(),
            Err(ProviderError::Status {
                status: 429,
                retry_after: Some(Duration::from_secs(3))
            })
        );
    }

    #[test]
    fn json_errors_say_what_was_expected_and_why() {
        let e = parse_json::<serde_json::Value>(b"{\"a\":", "a message").expect_err("cut");
        assert_eq!(
            e,
            ProviderError::InvalidResponse("not a message (truncated)".into())
        );
        let e = parse_json::<serde_json::Value>(b"<html>", "a message").expect_err("html");
        assert_eq!(
            e,
            ProviderError::InvalidResponse("not a message (malformed JSON)".into())
        );
    }

    #[test]
    fn secret_headers_are_sensitive_and_never_echoed() {
        let header = secret_header("sk-abc").expect("valid");
        assert!(header.is_sensitive());
        assert_eq!(header.to_str().ok(), Some("sk-abc"));
        let e = secret_header("sk-\nabc").expect_err("newline");
        assert!(!e.contains("abc"), "{e}");
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for (url, expected) in [
            ("http://127.0.0.1:8080/v1", true),
            ("http://localhost/v1", true),
            ("http://[::1]:1/", true),
            ("https://api.openai.com/v1", false),
        ] {
            let url = url::Url::parse(url).expect("url");
            assert_eq!(is_loopback(&url), expected, "{url}");
        }
    }
}
