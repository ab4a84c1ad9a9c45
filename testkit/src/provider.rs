//! A fake, fault-injecting LLM and machine-translation provider: OpenAI-compatible chat
//! completions (also Azure OpenAI's deployment routes), Anthropic Messages, DeepL and
//! LibreTranslate, plus OpenAI's audio transcriptions.
//!
//! [`FakeProvider`] is a real HTTP/1 server (axum over hyper) bound to a local port. Point
//! the code under test at it instead of the real service (see the URL helpers such as
//! [`FakeProvider::base_url`]) and it answers with whatever [`Behavior`] you ask for: a
//! proper answer in the right shape, an HTTP error, a 429 with `Retry-After`, a fixed or
//! random latency, a never-ending or slowly dripping answer, a connection reset in the
//! middle of the body, or one of several kinds of broken payload. A test that simulates
//! several providers typically starts one fake per provider.
//!
//! Every request that reaches a chat-completions or translation route is *recorded before
//! it is answered* (so even a request that hangs forever shows up) and can be inspected
//! with [`FakeProvider::requests`]. [`FakeProvider::wait_for_requests`] lets a test wait
//! for traffic without polling or sleeping, and [`FakeProvider::stats`] counts how each
//! request ended: answered completely, abandoned by its client, or reset by the fake.
//!
//! # API shapes
//!
//! The same behaviors, script, recording and counters apply to all four shapes
//! ([`Api`]); only the JSON differs.
//!
//! | [`Api`] | routes | request | success | error body |
//! |---|---|---|---|---|
//! | [`Api::OpenAi`] | `POST /v1/chat/completions`, `/chat/completions`, `/openai/v1/chat/completions`, `/openai/deployments/{deployment}/chat/completions` (Azure) | JSON `{model, messages:[{role, content}]}` | `chat.completion` object | `{"error":{"message","type","code"}}` |
//! | [`Api::Anthropic`] | `POST /v1/messages`, `/messages` | JSON `{model, max_tokens, system?, messages}` | `{"type":"message","content":[{"type":"text","text":..}],..}` | `{"type":"error","error":{"type","message"}}` |
//! | [`Api::DeepL`] | `POST /v2/translate` | JSON `{"text":[..],"target_lang":"DE",..}` or a form `text=..&target_lang=DE` | `{"translations":[{"detected_source_language","text"}]}`, one per text | `{"message":..}` (456 = quota exceeded) |
//! | [`Api::LibreTranslate`] | `POST /translate` | JSON or form `{q, source, target, format?, api_key?}` (`q` may be a list) | `{"translatedText":..}` (+ `detectedLanguage` when `source` is `auto`) | `{"error":..}` |
//!
//! Request validation is light: OpenAI bodies must be JSON objects; Anthropic bodies need
//! `model`, `max_tokens` and a non-empty `messages`; DeepL needs `text` and `target_lang`;
//! LibreTranslate needs `q`, `source` and `target`. An invalid request is recorded, answered
//! with 400 in the shape's error format and does **not** consume a scripted behavior.
//! Credentials are recorded ([`RecordedRequest::credential`]) but never checked.
//! Streaming (`"stream": true`) is not supported; the answer is always a single JSON
//! document.
//!
//! # Choosing the answer
//!
//! * [`FakeProvider::set_behavior`] sets the default behavior for all following requests
//!   ([`Behavior::Echo`] when the server starts).
//! * [`FakeProvider::push_script`] queues one-shot behaviors; each incoming request
//!   consumes the next one, and once the script is empty the default applies again.
//!   This is how a retry test says "fail twice, then succeed".
//!
//! [`Behavior::Echo`] answers `"[{code}] {text}"` in every shape, where `{code}` is the
//! target language code as the request gave it, lowercased (`??` when there is none) and
//! `{text}` the text to translate ([`RecordedRequest::user_text`]):
//!
//! * OpenAI and Anthropic: the code comes from a `(language code: xx)` marker in the system
//!   prompt (the first `system` message; Anthropic's top-level `system`), the text is the
//!   last user message;
//! * DeepL: `target_lang` (`DE` gives `de`, `EN-GB` gives `en-gb`), one translation per
//!   `text`;
//! * LibreTranslate: `target`, one translation per `q`.
//!
//! That makes translation round trips easy to assert on without any real model.
//!
//! # Behaviors
//!
//! Answers (each in the shape of the route that was called):
//!
//! | behavior | answer |
//! |---|---|
//! | [`Echo`](Behavior::Echo) | 200, `"[{code}] {text}"` as above |
//! | [`Reply(text)`](Behavior::Reply) | 200 with exactly this text (every DeepL/LibreTranslate entry) |
//! | [`Status(n)`](Behavior::Status) | that status with the shape's error body (Anthropic's `error.type` follows the status: 529 `overloaded_error`, 429 `rate_limit_error`, 401 `authentication_error`, 500 `api_error`, ...; DeepL's 456 says "Quota exceeded") |
//! | [`RateLimited`](Behavior::RateLimited) | 429 with `Retry-After` and the shape's rate-limit error |
//! | [`Garbage`](Behavior::Garbage) | 200, `content-type: application/json`, body [`GARBAGE_BODY`] |
//! | [`InvalidUtf8`](Behavior::InvalidUtf8) | 200, a well-formed answer whose text holds the bytes `0xFF 0xFE` |
//! | [`EmptyChoices`](Behavior::EmptyChoices) | 200, a well-formed answer with nothing in it: no choices, no content blocks, no translations (LibreTranslate: `""`) |
//! | [`WrongShape`](Behavior::WrongShape) | 200 `{"foo": 1}` |
//! | [`Truncated`](Behavior::Truncated) | 200, the echo answer cut in half; `Content-Length` matches, so the client sees a JSON parse error |
//! | [`ResetMidBody`](Behavior::ResetMidBody) | 200 with the echo answer's full `Content-Length`, half of its bytes, then a TCP reset: the client sees a body/connection error |
//! | [`Hang`](Behavior::Hang) | never answers |
//!
//! Faults that wrap another behavior and compose freely:
//!
//! | behavior | effect |
//! |---|---|
//! | [`Delay(d, then)`](Behavior::Delay) | waits `d`, then `then` |
//! | [`RandomDelay { min, max, then }`](Behavior::RandomDelay) | waits a uniformly random time in `min..=max`, then `then` |
//! | [`Chance { p, then, otherwise }`](Behavior::Chance) | `then` with probability `p`, else `otherwise` ("fail 30% of calls with 500": `Behavior::chance(0.3, Behavior::Status(500), Behavior::Echo)`) |
//! | [`Drip { interval, then }`](Behavior::Drip) | `then`'s answer, its body sent [`DRIP_CHUNK_BYTES`] at a time with `interval` between chunks |
//!
//! Randomness is reproducible: each request draws from its own generator, seeded from the
//! fake's seed ([`DEFAULT_SEED`] unless [`FakeProvider::start_with_seed`] or
//! [`FakeProvider::set_seed`] says otherwise) and the request's position in
//! [`FakeProvider::requests`]. The same seed and the same sequence of requests give the
//! same delays and the same coin flips.
//!
//! The [`FromStr`] spelling (used by the `fake-provider` binary and the control routes) is
//! described on [`Behavior::from_str`]; [`Display`](fmt::Display) writes it back.
//!
//! # Outcomes and cancellation
//!
//! Each recorded request ends in one of three ways, counted per shape in
//! [`FakeProvider::stats`]:
//!
//! * **completed**: the whole answer (error answers included) was handed to the
//!   connection;
//! * **abandoned**: the client went away first: hyper dropped the request's handler while
//!   it waited (a hang, a delay), or dropped the body while it was being sent (a drip).
//!   See [`FakeProvider::abandoned`] and [`FakeProvider::wait_for_abandoned`];
//! * **reset**: the fake broke the connection itself ([`Behavior::ResetMidBody`]).
//!
//! Until then a request is *in flight*.
//!
//! # Runtime control
//!
//! A few routes let a person (or a script) steer a running fake; they are not recorded.
//!
//! | route | effect |
//! |---|---|
//! | `GET /_control/behavior` | `{"behavior": "echo"}`, the default behavior |
//! | `POST /_control/behavior` | body: a behavior string; sets the default behavior (400 `{"error": ..}` if it does not parse) |
//! | `POST /_control/script` | body: behavior strings, one per line; queues them as a script (all or nothing) |
//! | `DELETE /_control/script` | clears the script |
//! | `GET` / `POST /_control/seed` | reads / sets the seed (body: a number) |
//! | `GET /_control/stats` | counts: requests, completed, abandoned, reset and in flight, in total and `by_api`; transcriptions; the behavior, script length and seed |
//!
//! # All routes
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/chat/completions` | the current behavior, OpenAI shape |
//! | `POST /chat/completions` | the same, for base URLs without `/v1` |
//! | `POST /openai/v1/chat/completions` | the same, for Groq-style base URLs |
//! | `POST /openai/deployments/{deployment}/chat/completions` | the same, Azure OpenAI style (`?api-version=..` and the `api-key` header are recorded; the deployment is the default model) |
//! | `POST /v1/messages` (also `/messages`) | the current behavior, Anthropic shape |
//! | `POST /v2/translate` | the current behavior, DeepL shape |
//! | `POST /translate` | the current behavior, LibreTranslate shape |
//! | `GET /v1/models` (also `/models`, `/openai/v1/models`) | a small model list |
//! | `POST /v1/audio/transcriptions` (also `/audio/transcriptions`, `/openai/v1/audio/transcriptions`) | the current [`TranscriptionBehavior`] |
//! | `/_control/...` | see [Runtime control](#runtime-control) |
//! | anything else | 404 with an OpenAI-style JSON error (405 for a wrong method) |
//!
//! # Audio transcriptions
//!
//! The transcription routes speak OpenAI's Whisper API: a `multipart/form-data` body
//! with a `file` part (the audio, with a file name and content type), `model`, and the
//! optional `response_format`, `language` and `prompt`; other parts are ignored. Bodies
//! up to [`TRANSCRIPTION_BODY_LIMIT`] (25 MiB) are accepted, enough for Telegram's 20 MB
//! voice files. Every request is recorded before it is answered
//! ([`FakeProvider::transcriptions`], [`FakeProvider::wait_for_transcriptions`]); these
//! requests are separate from the chat and translation ones ([`FakeProvider::requests`]).
//!
//! [`FakeProvider::set_transcription`] picks the answer for all following requests
//! ([`TranscriptionBehavior::Text`] of [`DEFAULT_TRANSCRIPTION`] when the server starts);
//! there is no one-shot script for this route. A transcript is answered as
//! `{"text": ...}` for `response_format` `json` (the default) and as a plain-text body
//! for `text`; any other format is answered with 400. A body that is not valid
//! multipart or has no `file` part is recorded with whatever could be read and answered
//! with 400 (413 when it exceeds the limit).
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use tolmach_testkit::{Behavior, FakeProvider};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let fake = FakeProvider::start().await?;
//! fake.push_script([Behavior::Status(500), Behavior::RateLimited { retry_after_secs: 1 }]);
//! // ... configure the client with fake.base_url() and run the code under test ...
//! fake.wait_for_requests(3).await;
//! assert_eq!(fake.requests()[2].user_text.as_deref(), Some("hello"));
//!
//! // A flaky DeepL: 30% of calls fail with 503, the rest take 50 to 400 ms.
//! let deepl = FakeProvider::start_with_seed(7).await?;
//! deepl.set_behavior(Behavior::chance(
//!     0.3,
//!     Behavior::Status(503),
//!     Behavior::random_delay(Duration::from_millis(50), Duration::from_millis(400), Behavior::Echo),
//! ));
//! // ... point the DeepL client at deepl.deepl_translate_url() ...
//! # Ok(())
//! # }
//! ```
//!
//! The server stops (listener closed, hanging requests released with a 503) when the
//! last clone of the [`FakeProvider`] handle is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Extension, Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use fault::{AnswerBody, Connection, Cut, Outcome, Rng, Socket, Tracker};
use shapes::Rendered;

mod fault;
mod shapes;

#[cfg(test)]
mod api_tests;

/// Model name reported when the request does not name one.
pub const DEFAULT_MODEL: &str = "fake-model";

/// Models listed by `GET /v1/models`.
pub const LISTED_MODELS: &[&str] = &[DEFAULT_MODEL, "fake-model-large"];

/// Content of the assistant message produced by [`Behavior::InvalidUtf8`], as raw bytes.
pub const INVALID_UTF8_CONTENT: &[u8] = b"invalid utf-8: \xFF\xFE";

/// Body produced by [`Behavior::Garbage`].
pub const GARBAGE_BODY: &str = "<html>this is not json</html>";

/// Transcript returned by [`TranscriptionBehavior::default`].
pub const DEFAULT_TRANSCRIPTION: &str = "hello world";

/// Largest request body accepted on the audio-transcription routes: 25 MiB, OpenAI's
/// own upload limit (Telegram voice files can be up to 20 MB).
pub const TRANSCRIPTION_BODY_LIMIT: usize = 25 * 1024 * 1024;

/// Seed of the random faults ([`Behavior::RandomDelay`], [`Behavior::Chance`]) when none
/// is given.
pub const DEFAULT_SEED: u64 = 0x7011_AC11;

/// Size of the chunks a [`Behavior::Drip`] answer is sent in (the last one may be
/// shorter).
pub const DRIP_CHUNK_BYTES: usize = 16;

/// Which provider API a request was made to (the route decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Api {
    /// OpenAI-compatible chat completions, Azure OpenAI's deployment route included.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// DeepL's `/v2/translate`.
    DeepL,
    /// LibreTranslate's `/translate`.
    LibreTranslate,
}

impl Api {
    /// Every shape, in declaration order.
    pub const ALL: [Api; 4] = [Api::OpenAi, Api::Anthropic, Api::DeepL, Api::LibreTranslate];

    /// `openai`, `anthropic`, `deepl` or `libretranslate` (the keys of the stats JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
            Api::DeepL => "deepl",
            Api::LibreTranslate => "libretranslate",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the requests of one shape (or all of them, [`ProviderStats::total`]) ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiStats {
    /// Requests recorded (valid or not).
    pub requests: usize,
    /// Requests whose whole answer was handed to the connection.
    pub completed: usize,
    /// Requests whose client went away before the answer was complete.
    pub abandoned: usize,
    /// Requests whose connection the fake reset on purpose ([`Behavior::ResetMidBody`]).
    pub reset: usize,
}

impl ApiStats {
    /// Requests that have not ended yet (waiting, hanging, or being sent).
    pub fn in_flight(&self) -> usize {
        self.requests
            .saturating_sub(self.completed + self.abandoned + self.reset)
    }

    fn to_json(self) -> Value {
        json!({
            "requests": self.requests,
            "completed": self.completed,
            "abandoned": self.abandoned,
            "reset": self.reset,
            "in_flight": self.in_flight(),
        })
    }
}

/// Per-shape request counts; see [`FakeProvider::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProviderStats {
    /// Chat completions (Azure included).
    pub openai: ApiStats,
    /// Anthropic Messages.
    pub anthropic: ApiStats,
    /// DeepL.
    pub deepl: ApiStats,
    /// LibreTranslate.
    pub libretranslate: ApiStats,
}

impl ProviderStats {
    /// The counts of one shape.
    pub fn api(&self, api: Api) -> ApiStats {
        match api {
            Api::OpenAi => self.openai,
            Api::Anthropic => self.anthropic,
            Api::DeepL => self.deepl,
            Api::LibreTranslate => self.libretranslate,
        }
    }

    /// The counts of all shapes added up.
    pub fn total(&self) -> ApiStats {
        Api::ALL
            .iter()
            .map(|&api| self.api(api))
            .fold(ApiStats::default(), |a, b| ApiStats {
                requests: a.requests + b.requests,
                completed: a.completed + b.completed,
                abandoned: a.abandoned + b.abandoned,
                reset: a.reset + b.reset,
            })
    }

    fn api_mut(&mut self, api: Api) -> &mut ApiStats {
        match api {
            Api::OpenAi => &mut self.openai,
            Api::Anthropic => &mut self.anthropic,
            Api::DeepL => &mut self.deepl,
            Api::LibreTranslate => &mut self.libretranslate,
        }
    }
}

/// How the fake answers one audio-transcriptions request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TranscriptionBehavior {
    /// 200 with this transcript: `{"text": ...}`, or the plain text for
    /// `response_format=text`.
    Text(String),
    /// That HTTP status with the same OpenAI-style JSON error body as
    /// [`Behavior::Status`]. A number that is not a valid HTTP status is answered as 500.
    Status(u16),
    /// 200, `content-type: application/json`, body `<html>this is not json</html>`
    /// ([`GARBAGE_BODY`]).
    Garbage,
    /// Never answer; the connection stays open until the client gives up (or the fake
    /// is dropped, which releases the request with a 503).
    Hang,
}

impl Default for TranscriptionBehavior {
    /// `TranscriptionBehavior::Text("hello world")` ([`DEFAULT_TRANSCRIPTION`]).
    fn default() -> Self {
        TranscriptionBehavior::Text(DEFAULT_TRANSCRIPTION.to_owned())
    }
}

impl TranscriptionBehavior {
    /// `TranscriptionBehavior::Text(text.into())`.
    pub fn text(text: impl Into<String>) -> TranscriptionBehavior {
        TranscriptionBehavior::Text(text.into())
    }
}

/// One request received on an audio-transcriptions route. Fields that were absent (or
/// could not be read because the body was malformed) are `None` / empty.
#[derive(Clone, Debug)]
pub struct RecordedTranscription {
    /// Request path, e.g. `/v1/audio/transcriptions`.
    pub path: String,
    /// Raw `Authorization` header value (lossily decoded), if any.
    pub authorization: Option<String>,
    /// The `model` part.
    pub model: Option<String>,
    /// File name of the `file` part.
    pub file_name: Option<String>,
    /// Content type of the `file` part.
    pub content_type: Option<String>,
    /// The audio bytes of the `file` part, as received.
    pub file: Vec<u8>,
    /// The `response_format` part.
    pub response_format: Option<String>,
    /// The `language` part.
    pub language: Option<String>,
    /// The `prompt` part.
    pub prompt: Option<String>,
}

impl RecordedTranscription {
    fn new(path: &str, headers: &HeaderMap) -> Self {
        RecordedTranscription {
            path: path.to_owned(),
            authorization: authorization(headers),
            model: None,
            file_name: None,
            content_type: None,
            file: Vec::new(),
            response_format: None,
            language: None,
            prompt: None,
        }
    }

    /// Reads the form into `self`, field by field, so that whatever precedes a
    /// malformed part is kept. Fails (status, message) on a malformed body or a missing
    /// `file` part.
    async fn read_form(&mut self, multipart: &mut Multipart) -> Result<(), (StatusCode, String)> {
        fn malformed(e: MultipartError) -> (StatusCode, String) {
            let message = format!("fake provider: bad multipart body: {}", e.body_text());
            (e.status(), message)
        }
        let mut has_file = false;
        while let Some(field) = multipart.next_field().await.map_err(malformed)? {
            let slot = match field.name().unwrap_or_default() {
                "file" => {
                    has_file = true;
                    self.file_name = field.file_name().map(str::to_owned);
                    self.content_type = field.content_type().map(str::to_owned);
                    self.file = field.bytes().await.map_err(malformed)?.to_vec();
                    continue;
                }
                "model" => &mut self.model,
                "response_format" => &mut self.response_format,
                "language" => &mut self.language,
                "prompt" => &mut self.prompt,
                // Skipped by the next `next_field` call.
                _ => continue,
            };
            *slot = Some(field.text().await.map_err(malformed)?);
        }
        if has_file {
            Ok(())
        } else {
            Err((
                StatusCode::BAD_REQUEST,
                "fake provider: multipart body has no `file` part".to_owned(),
            ))
        }
    }
}

/// How the fake answers one chat-completions or translation request. See the
/// [module docs](self#behaviors) for what each one looks like in each API shape.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Behavior {
    /// 200; the text is `"[{code}] {text}"`, where `{code}` is the request's target
    /// language code, lowercased (`??` if there is none), and `{text}` the text to
    /// translate. For OpenAI and Anthropic the code comes from the system prompt pattern
    /// `(language code: xx)` (letters and hyphens).
    #[default]
    Echo,
    /// 200 with exactly this assistant content (every entry of a DeepL or
    /// LibreTranslate answer).
    Reply(String),
    /// That HTTP status with the shape's error body; for OpenAI
    /// `{"error":{"message":"fake error","type":"server_error","code":null}}`.
    /// A number that is not a valid HTTP status is answered as 500.
    Status(u16),
    /// 429 with a `Retry-After` header and the shape's rate-limit error body.
    RateLimited {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Wait (`tokio::time::sleep`), then behave as the inner behavior.
    Delay(Duration, Box<Behavior>),
    /// Wait a uniformly distributed random time in `min..=max` (see the module docs on
    /// seeds), then behave as `then`.
    RandomDelay {
        /// Shortest wait.
        min: Duration,
        /// Longest wait.
        max: Duration,
        /// What to do after the wait.
        then: Box<Behavior>,
    },
    /// Behave as `then` with probability `p` (clamped to `0..=1`; NaN counts as 0), as
    /// `otherwise` the rest of the time. Reproducible: see the module docs on seeds.
    Chance {
        /// Probability of `then`.
        p: f64,
        /// The behavior picked with probability `p`.
        then: Box<Behavior>,
        /// The behavior picked otherwise.
        otherwise: Box<Behavior>,
    },
    /// Never answer; the connection stays open until the client gives up (which counts
    /// as abandoned) or the fake is dropped, which releases the request with a 503.
    Hang,
    /// 200, `content-type: application/json`, body `<html>this is not json</html>`.
    Garbage,
    /// 200, `content-type: application/json`, a well-formed answer whose text contains
    /// the raw bytes `0xFF 0xFE` (see [`INVALID_UTF8_CONTENT`]).
    InvalidUtf8,
    /// 200, a well-formed answer with nothing in it: OpenAI
    /// `{"id":..,"object":"chat.completion","created":..,"model":..,"choices":[]}`,
    /// Anthropic `"content": []`, DeepL `"translations": []`, LibreTranslate
    /// `"translatedText": ""` (`[]` for a list of `q`).
    EmptyChoices,
    /// 200 `{"foo": 1}`.
    WrongShape,
    /// 200, `content-type: application/json`, the [`Echo`](Behavior::Echo) answer cut in
    /// half; the `Content-Length` matches the bytes sent, so the HTTP exchange is clean
    /// and the client sees a JSON parse error.
    Truncated,
    /// 200 with the [`Echo`](Behavior::Echo) answer's full `Content-Length`, then half of
    /// its bytes, then the connection is reset (TCP RST): the client sees an error while
    /// reading the body, never a clean short body. Counted as *reset*, not *completed*.
    ResetMidBody,
    /// `then`'s answer (status and headers unchanged), its body sent
    /// [`DRIP_CHUNK_BYTES`] at a time with `interval` between chunks: a slow-dripping
    /// body. `Content-Length` is the full length.
    Drip {
        /// Pause between two chunks.
        interval: Duration,
        /// The behavior whose answer is dripped (waits and coin flips happen first).
        then: Box<Behavior>,
    },
}

impl Behavior {
    /// `Behavior::Delay(delay, Box::new(then))`.
    pub fn delayed(delay: Duration, then: Behavior) -> Behavior {
        Behavior::Delay(delay, Box::new(then))
    }

    /// `Behavior::Reply(content.into())`.
    pub fn reply(content: impl Into<String>) -> Behavior {
        Behavior::Reply(content.into())
    }

    /// `Behavior::RandomDelay { min, max, then }`.
    pub fn random_delay(min: Duration, max: Duration, then: Behavior) -> Behavior {
        Behavior::RandomDelay {
            min,
            max,
            then: Box::new(then),
        }
    }

    /// `Behavior::Chance { p, then, otherwise }`: `then` with probability `p`.
    pub fn chance(p: f64, then: Behavior, otherwise: Behavior) -> Behavior {
        Behavior::Chance {
            p,
            then: Box::new(then),
            otherwise: Box::new(otherwise),
        }
    }

    /// `Behavior::Drip { interval, then }`.
    pub fn drip(interval: Duration, then: Behavior) -> Behavior {
        Behavior::Drip {
            interval,
            then: Box::new(then),
        }
    }
}

/// Error returned by [`Behavior::from_str`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseBehaviorError(String);

impl fmt::Display for ParseBehaviorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown behavior {:?}; expected echo, reply:TEXT, a status code like 500 \
             (or status:500), rate-limited[:SECS], delay:DURATION:BEHAVIOR, \
             random-delay:MIN:MAX:BEHAVIOR, chance:P:BEHAVIOR[|BEHAVIOR], \
             drip:DURATION:BEHAVIOR, hang, garbage, invalid-utf8, empty-choices, \
             wrong-shape, truncated or reset-mid-body (DURATION: 250, 250ms, 2s, 1.5s; \
             P: 0.3 or 30%)",
            self.0
        )
    }
}

impl std::error::Error for ParseBehaviorError {}

impl FromStr for Behavior {
    type Err = ParseBehaviorError;

    /// Parses the spelling used by the `fake-provider` binary and the control routes.
    /// Names are case-insensitive and `_` may be used for `-`.
    ///
    /// | spelling | behavior |
    /// |---|---|
    /// | `echo` | [`Behavior::Echo`] |
    /// | `reply:TEXT` | [`Behavior::Reply`] (TEXT is everything after the first `:`) |
    /// | `500`, `status:500` | [`Behavior::Status`] |
    /// | `rate-limited[:SECS]` | [`Behavior::RateLimited`] (default 1 s) |
    /// | `delay:DURATION:BEHAVIOR` | [`Behavior::Delay`] |
    /// | `random-delay:MIN:MAX:BEHAVIOR` | [`Behavior::RandomDelay`] (MIN ≤ MAX) |
    /// | `chance:P:THEN[\|OTHERWISE]` | [`Behavior::Chance`]; OTHERWISE defaults to `echo` |
    /// | `drip:DURATION:BEHAVIOR` | [`Behavior::Drip`] |
    /// | `hang`, `garbage`, `invalid-utf8`, `empty-choices`, `wrong-shape`, `truncated`, `reset-mid-body` | the variant of that name |
    ///
    /// DURATION is a number with an optional unit `ns`, `us`, `ms`, `s` or `m`; a bare
    /// number means milliseconds (`250`, `250ms`, `2s`, `1.5s`). P is a probability, `0.3`
    /// or `30%`. A BEHAVIOR is the rest of the string, so wrappers nest:
    /// `delay:1s:chance:0.5:500`. In `chance`, THEN ends at the first `|`, so a chain
    /// reads left to right: `chance:0.01:hang|chance:0.3:503|echo` hangs on 1% of calls,
    /// fails 30% of the others with 503 and echoes the rest.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseBehaviorError(s.to_owned());
        let (head, rest) = match s.split_once(':') {
            Some((head, rest)) => (head, Some(rest)),
            None => (s, None),
        };
        let head = head.trim().to_ascii_lowercase().replace('_', "-");
        let behavior = match (head.as_str(), rest) {
            ("echo", None) => Behavior::Echo,
            ("reply", Some(text)) => Behavior::Reply(text.to_owned()),
            ("status", Some(code)) => Behavior::Status(code.trim().parse().map_err(|_| err())?),
            ("rate-limited" | "ratelimited", None) => Behavior::RateLimited {
                retry_after_secs: 1,
            },
            ("rate-limited" | "ratelimited", Some(secs)) => Behavior::RateLimited {
                retry_after_secs: secs.trim().parse().map_err(|_| err())?,
            },
            ("delay", Some(rest)) => {
                let (delay, inner) = rest.split_once(':').ok_or_else(err)?;
                Behavior::delayed(parse_duration(delay).ok_or_else(err)?, inner.parse()?)
            }
            ("random-delay" | "randomdelay", Some(rest)) => {
                let (min, rest) = rest.split_once(':').ok_or_else(err)?;
                let (max, inner) = rest.split_once(':').ok_or_else(err)?;
                let min = parse_duration(min).ok_or_else(err)?;
                let max = parse_duration(max).ok_or_else(err)?;
                if min > max {
                    return Err(err());
                }
                Behavior::random_delay(min, max, inner.parse()?)
            }
            ("chance", Some(rest)) => {
                let (p, rest) = rest.split_once(':').ok_or_else(err)?;
                let p = parse_probability(p).ok_or_else(err)?;
                let (then, otherwise) = rest.split_once('|').unwrap_or((rest, "echo"));
                Behavior::chance(p, then.parse()?, otherwise.parse()?)
            }
            ("drip", Some(rest)) => {
                let (interval, inner) = rest.split_once(':').ok_or_else(err)?;
                Behavior::drip(parse_duration(interval).ok_or_else(err)?, inner.parse()?)
            }
            ("hang", None) => Behavior::Hang,
            ("garbage", None) => Behavior::Garbage,
            ("invalid-utf8", None) => Behavior::InvalidUtf8,
            ("empty-choices", None) => Behavior::EmptyChoices,
            ("wrong-shape", None) => Behavior::WrongShape,
            ("truncated", None) => Behavior::Truncated,
            ("reset-mid-body", None) => Behavior::ResetMidBody,
            (code, None) if !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) => {
                Behavior::Status(code.parse().map_err(|_| err())?)
            }
            _ => return Err(err()),
        };
        Ok(behavior)
    }
}

impl fmt::Display for Behavior {
    /// The [`FromStr`] spelling. It parses back to the same behavior unless a reply text
    /// (or a nested `chance`) inside the THEN branch of a `chance` contains a `|`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behavior::Echo => f.write_str("echo"),
            Behavior::Reply(text) => write!(f, "reply:{text}"),
            Behavior::Status(code) => write!(f, "{code}"),
            Behavior::RateLimited { retry_after_secs } => {
                write!(f, "rate-limited:{retry_after_secs}")
            }
            Behavior::Delay(delay, then) => write!(f, "delay:{}:{then}", DisplayDuration(*delay)),
            Behavior::RandomDelay { min, max, then } => write!(
                f,
                "random-delay:{}:{}:{then}",
                DisplayDuration(*min),
                DisplayDuration(*max)
            ),
            Behavior::Chance { p, then, otherwise } => write!(f, "chance:{p}:{then}|{otherwise}"),
            Behavior::Hang => f.write_str("hang"),
            Behavior::Garbage => f.write_str("garbage"),
            Behavior::InvalidUtf8 => f.write_str("invalid-utf8"),
            Behavior::EmptyChoices => f.write_str("empty-choices"),
            Behavior::WrongShape => f.write_str("wrong-shape"),
            Behavior::Truncated => f.write_str("truncated"),
            Behavior::ResetMidBody => f.write_str("reset-mid-body"),
            Behavior::Drip { interval, then } => {
                write!(f, "drip:{}:{then}", DisplayDuration(*interval))
            }
        }
    }
}

/// Writes a duration in the unit [`parse_duration`] reads back exactly.
struct DisplayDuration(Duration);

impl fmt::Display for DisplayDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            f.write_str("0ms")
        } else if nanos.is_multiple_of(1_000_000_000) {
            write!(f, "{}s", nanos / 1_000_000_000)
        } else if nanos.is_multiple_of(1_000_000) {
            write!(f, "{}ms", nanos / 1_000_000)
        } else if nanos.is_multiple_of(1_000) {
            write!(f, "{}us", nanos / 1_000)
        } else {
            write!(f, "{nanos}ns")
        }
    }
}

/// `250` (milliseconds), `250ms`, `2s`, `1.5s`, `100us`, `10ns`, `1m`.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    if let Ok(n) = number.parse::<u64>() {
        return match unit.as_str() {
            "" | "ms" => Some(Duration::from_millis(n)),
            "s" => Some(Duration::from_secs(n)),
            "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
            "us" | "µs" => Some(Duration::from_micros(n)),
            "ns" => Some(Duration::from_nanos(n)),
            _ => None,
        };
    }
    let n: f64 = number.parse().ok()?;
    let secs = match unit.as_str() {
        "" | "ms" => n / 1e3,
        "s" => n,
        "m" | "min" => n * 60.0,
        "us" | "µs" => n / 1e6,
        "ns" => n / 1e9,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// `0.3` or `30%`, within `0..=1`.
fn parse_probability(text: &str) -> Option<f64> {
    let text = text.trim();
    let p = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().ok()? / 100.0,
        None => text.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&p).then_some(p)
}

/// One request received on a chat-completions or translation route. Fields that do not
/// apply to the request's shape (or were absent) are `None` / empty.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The API shape of the route.
    pub api: Api,
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The raw query string (without `?`), e.g. `api-version=2024-10-21` on Azure routes.
    pub query: Option<String>,
    /// All request headers.
    pub headers: HeaderMap,
    /// Raw `Authorization` header value (lossily decoded), if any.
    pub authorization: Option<String>,
    /// The credential the request carried, whatever the scheme: the `api-key` header
    /// (Azure) or the `Authorization: Bearer` token for OpenAI; `x-api-key` (else a
    /// bearer token) for Anthropic; the `Authorization: DeepL-Auth-Key` key (else an
    /// `auth_key` parameter) for DeepL; the `api_key` parameter for LibreTranslate.
    pub credential: Option<String>,
    /// The body as JSON: the parsed JSON body, or a form body as an object (a repeated
    /// field becomes a list); `Value::Null` if the body could not be read.
    pub body: Value,
    /// `body.model`, if it is a string.
    pub model: Option<String>,
    /// The `{deployment}` of an Azure OpenAI route.
    pub deployment: Option<String>,
    /// OpenAI: content of the first message with role `system`; Anthropic: the
    /// top-level `system` (text blocks concatenated).
    pub system_text: Option<String>,
    /// The text to translate: for OpenAI and Anthropic the content of the last message
    /// with role `user`; for DeepL and LibreTranslate the texts joined by `\n`.
    pub user_text: Option<String>,
    /// The texts to translate, one entry per DeepL `text` or LibreTranslate `q`; for
    /// OpenAI and Anthropic the last user message (if any).
    pub texts: Vec<String>,
    /// The source language as given: DeepL `source_lang`, LibreTranslate `source`.
    pub source_lang: Option<String>,
    /// The target language as given (not lowercased): the `(language code: xx)` marker
    /// of the system prompt for OpenAI and Anthropic, DeepL `target_lang`,
    /// LibreTranslate `target`.
    pub target_lang: Option<String>,
}

impl RecordedRequest {
    /// A header's value, if present and valid UTF-8 (`name` is case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Raw `Authorization` header value, lossily decoded.
fn authorization(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Text of a message whose `content` is either a string or an array of content parts
/// (`{"type":"text","text":..}`; the text parts are concatenated).
fn message_text(message: &Value) -> Option<String> {
    content_text(message.get("content")?)
}

/// A string, or the concatenated `text` of an array of content blocks.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        _ => None,
    }
}

/// Extracts `xx` from the first well-formed `(language code: xx)` in `text`.
fn language_code(text: &str) -> Option<&str> {
    const MARKER: &str = "(language code: ";
    let mut rest = text;
    while let Some(pos) = rest.find(MARKER) {
        rest = &rest[pos + MARKER.len()..];
        let len = rest
            .find(|c: char| !(c.is_ascii_alphabetic() || c == '-'))
            .unwrap_or(rest.len());
        if len > 0 && rest[len..].starts_with(')') {
            return Some(&rest[..len]);
        }
    }
    None
}

/// Mutable part of the server state.
struct Mutable {
    requests: Vec<RecordedRequest>,
    /// Requests received, kept or not.
    received: usize,
    /// Most requests kept in `requests` (see [`FakeProvider::keep_requests`]).
    keep: usize,
    default: Behavior,
    script: VecDeque<Behavior>,
    seed: u64,
    transcriptions: Vec<RecordedTranscription>,
    transcription: TranscriptionBehavior,
}

struct Shared {
    state: Mutex<Mutable>,
    /// Number of recorded requests; updated under the `state` lock.
    count: watch::Sender<usize>,
    /// Number of recorded transcription requests; updated under the `state` lock.
    transcription_count: watch::Sender<usize>,
    /// How the recorded requests ended; `requests` is updated under the `state` lock.
    stats: watch::Sender<ProviderStats>,
    /// Becomes `true` when the last handle is dropped.
    shutdown: watch::Sender<bool>,
    next_id: AtomicU64,
}

/// What [`Shared::admit`] decided for one request.
struct Admitted {
    /// `None` for an invalid request.
    behavior: Option<Behavior>,
    /// This request's own random numbers.
    rng: Rng,
    /// Counts how the request ends.
    tracker: Tracker,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Mutable> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that
        // matters for a test double, so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when the fake is shutting down.
    async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = rx.wait_for(|down| *down).await;
    }

    /// Sleeps for `delay`; `false` if the fake started shutting down first.
    async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = self.shutting_down() => false,
        }
    }

    /// `{prefix}{n}` with `n` counting up from 1 across all answers.
    fn next_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// Records `request` and, when it is `valid`, picks its behavior (the next scripted
    /// one, else the default). Invalid requests do not consume the script.
    fn admit(self: &Arc<Self>, request: RecordedRequest, valid: bool) -> Admitted {
        let api = request.api;
        let mut state = self.lock();
        let behavior = if valid {
            let next = state.script.pop_front();
            Some(next.unwrap_or_else(|| state.default.clone()))
        } else {
            None
        };
        let index = state.received as u64;
        let rng = Rng::for_request(state.seed, index);
        state.received += 1;
        if state.requests.len() < state.keep {
            state.requests.push(request);
        }
        // Sent under the lock so the counts never go backwards or disagree.
        self.count.send_replace(state.received);
        self.stats.send_modify(|s| s.api_mut(api).requests += 1);
        drop(state);
        Admitted {
            behavior,
            rng,
            tracker: Tracker::new(Arc::clone(self), api),
        }
    }

    fn record_outcome(&self, api: Api, outcome: Outcome) {
        self.stats.send_modify(|s| {
            let stats = s.api_mut(api);
            match outcome {
                Outcome::Completed => stats.completed += 1,
                Outcome::Abandoned => stats.abandoned += 1,
                Outcome::Reset => stats.reset += 1,
            }
        });
    }
}

/// Stops the server when the last [`FakeProvider`] clone goes away.
struct ServerGuard {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // Release hanging/delayed handlers and gracefully close the open connections,
        // then stop accepting right away.
        self.shared.shutdown.send_replace(true);
        self.task.abort();
    }
}

/// Handle to a running fake provider. Cheap to clone; the server stops when the last
/// clone is dropped. See the [module docs](self).
#[derive(Clone)]
pub struct FakeProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _guard: Arc<ServerGuard>,
}

impl fmt::Debug for FakeProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeProvider")
            .field("addr", &self.addr)
            .field("requests", &self.request_count())
            .field("transcriptions", &self.shared.lock().transcriptions.len())
            .finish_non_exhaustive()
    }
}

impl FakeProvider {
    /// Starts a fake on `127.0.0.1` with an ephemeral port, answering with
    /// [`Behavior::Echo`]. Must be called inside a Tokio runtime.
    pub async fn start() -> std::io::Result<FakeProvider> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Like [`start`](Self::start), with `seed` for the random faults instead of
    /// [`DEFAULT_SEED`].
    pub async fn start_with_seed(seed: u64) -> std::io::Result<FakeProvider> {
        let fake = Self::start().await?;
        fake.set_seed(seed);
        Ok(fake)
    }

    /// Starts a fake listening on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeProvider> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (count, _) = watch::channel(0);
        let (transcription_count, _) = watch::channel(0);
        let (stats, _) = watch::channel(ProviderStats::default());
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(Mutable {
                requests: Vec::new(),
                received: 0,
                keep: usize::MAX,
                default: Behavior::Echo,
                script: VecDeque::new(),
                seed: DEFAULT_SEED,
                transcriptions: Vec::new(),
                transcription: TranscriptionBehavior::default(),
            }),
            count,
            transcription_count,
            stats,
            shutdown,
            next_id: AtomicU64::new(0),
        });
        let app = router(Arc::clone(&shared));
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), app));
        let guard = Arc::new(ServerGuard {
            shared: Arc::clone(&shared),
            task,
        });
        Ok(FakeProvider {
            shared,
            addr,
            _guard: guard,
        })
    }

    /// The address the server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, without a trailing slash: the base URL of the Anthropic, DeepL and
    /// LibreTranslate clients (which add `/v1/messages`, `/v2/translate`, `/translate`)
    /// and of Azure OpenAI endpoints.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR/v1`, without a trailing slash: use it as the OpenAI base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR/v1/chat/completions`.
    pub fn chat_completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url())
    }

    /// `http://ADDR/openai/deployments/{deployment}/chat/completions?api-version={api_version}`,
    /// Azure OpenAI's chat-completions URL.
    pub fn azure_chat_completions_url(&self, deployment: &str, api_version: &str) -> String {
        format!(
            "{}/openai/deployments/{deployment}/chat/completions?api-version={api_version}",
            self.root_url()
        )
    }

    /// `http://ADDR/v1/messages`, Anthropic's Messages URL.
    pub fn anthropic_messages_url(&self) -> String {
        format!("{}/v1/messages", self.root_url())
    }

    /// `http://ADDR/v2/translate`, DeepL's translate URL.
    pub fn deepl_translate_url(&self) -> String {
        format!("{}/v2/translate", self.root_url())
    }

    /// `http://ADDR/translate`, LibreTranslate's translate URL.
    pub fn libretranslate_url(&self) -> String {
        format!("{}/translate", self.root_url())
    }

    /// `http://ADDR/v1/audio/transcriptions`.
    pub fn transcriptions_url(&self) -> String {
        format!("{}/audio/transcriptions", self.base_url())
    }

    /// `http://ADDR/_control`, the prefix of the [runtime control](self#runtime-control)
    /// routes.
    pub fn control_url(&self) -> String {
        format!("{}/_control", self.root_url())
    }

    /// Sets the default behavior for all following requests (after any queued script).
    pub fn set_behavior(&self, b: Behavior) {
        self.shared.lock().default = b;
    }

    /// The default behavior.
    pub fn behavior(&self) -> Behavior {
        self.shared.lock().default.clone()
    }

    /// Queues one-shot behaviors, consumed in order, one per request, before the
    /// default behavior applies again.
    pub fn push_script(&self, bs: impl IntoIterator<Item = Behavior>) {
        self.shared.lock().script.extend(bs);
    }

    /// Drops any queued one-shot behaviors that were not consumed yet.
    pub fn clear_script(&self) {
        self.shared.lock().script.clear();
    }

    /// Number of queued one-shot behaviors not consumed yet.
    pub fn script_len(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// Sets the seed of the random faults for the following requests. A request's random
    /// numbers depend only on the seed and its position in [`requests`](Self::requests).
    pub fn set_seed(&self, seed: u64) {
        self.shared.lock().seed = seed;
    }

    /// The seed of the random faults ([`DEFAULT_SEED`] unless set).
    pub fn seed(&self) -> u64 {
        self.shared.lock().seed
    }

    /// Every request received on a chat-completions or translation route (all shapes),
    /// in arrival order (only the first ones after [`keep_requests`](Self::keep_requests)).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Keeps at most `max` requests for [`requests`](Self::requests); later ones are
    /// counted, answered and seeded as usual but not stored. For load tests that send
    /// hundreds of thousands of requests.
    pub fn keep_requests(&self, max: usize) {
        self.shared.lock().keep = max;
    }

    /// Number of requests received on a chat-completions or translation route.
    pub fn request_count(&self) -> usize {
        self.shared.lock().received
    }

    /// Resolves once at least `n` requests have been recorded. Wrap it in
    /// `tokio::time::timeout` if the test should fail rather than hang.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.shared.count.subscribe();
        // The sender lives in `self.shared`, so it cannot be dropped while we wait.
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// How the recorded requests ended so far, per shape.
    pub fn stats(&self) -> ProviderStats {
        *self.shared.stats.borrow()
    }

    /// Number of requests (all shapes) whose client went away before the answer was
    /// complete.
    pub fn abandoned(&self) -> usize {
        self.stats().total().abandoned
    }

    /// Number of requests (all shapes) whose whole answer was handed to the connection.
    pub fn completed(&self) -> usize {
        self.stats().total().completed
    }

    /// Resolves once at least `n` requests have been abandoned by their clients. Wrap it
    /// in `tokio::time::timeout` if the test should fail rather than hang.
    pub async fn wait_for_abandoned(&self, n: usize) {
        self.wait_for_stats(|s| s.total().abandoned >= n).await;
    }

    /// Resolves once at least `n` requests have been answered completely. Wrap it in
    /// `tokio::time::timeout` if the test should fail rather than hang.
    pub async fn wait_for_completed(&self, n: usize) {
        self.wait_for_stats(|s| s.total().completed >= n).await;
    }

    /// Resolves once `done` holds for the [`stats`](Self::stats), checked on every
    /// change. Wrap it in `tokio::time::timeout` if the test should fail rather than hang.
    pub async fn wait_for_stats(&self, mut done: impl FnMut(&ProviderStats) -> bool) {
        let mut rx = self.shared.stats.subscribe();
        // The sender lives in `self.shared`, so it cannot be dropped while we wait.
        let _ = rx.wait_for(|s| done(s)).await;
    }

    /// What the following audio-transcriptions requests answer
    /// (default: `TranscriptionBehavior::Text("hello world")`).
    pub fn set_transcription(&self, b: TranscriptionBehavior) {
        self.shared.lock().transcription = b;
    }

    /// Every request received on an audio-transcriptions route, in arrival order,
    /// recorded before it was answered.
    pub fn transcriptions(&self) -> Vec<RecordedTranscription> {
        self.shared.lock().transcriptions.clone()
    }

    /// Resolves once at least `n` transcription requests have been recorded. Wrap it in
    /// `tokio::time::timeout` if the test should fail rather than hang.
    pub async fn wait_for_transcriptions(&self, n: usize) {
        let mut rx = self.shared.transcription_count.subscribe();
        // The sender lives in `self.shared`, so it cannot be dropped while we wait.
        let _ = rx.wait_for(|count| *count >= n).await;
    }
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------------------

type AppState = Arc<Shared>;

/// Accepts connections until the fake shuts down. The fake runs its own accept loop
/// (rather than `axum::serve`) so that a handler can reset its connection
/// ([`Behavior::ResetMidBody`]).
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, app: Router) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutting_down() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                // Best effort; only latency depends on it.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared), app.clone()));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one connection until the client closes it, an answer resets it, or the fake
/// shuts down (gracefully: answers in progress are finished, hanging ones get a 503).
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, app: Router) {
    let connection = Connection::new();
    let io = TokioIo::new(Socket::new(stream, &connection));
    let app = TowerToHyperService::new(app);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(connection.clone());
        hyper::service::Service::call(&app, request)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        // Connection errors (client went away, bad HTTP, a reset) end the connection;
        // nothing to do.
        _ = conn.as_mut() => {}
        () = shared.shutting_down() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn router(shared: AppState) -> Router {
    let chat = post(chat_completions).fallback(method_not_allowed);
    let azure = post(azure_chat_completions).fallback(method_not_allowed);
    let messages = post(anthropic_messages).fallback(method_not_allowed);
    let deepl = post(deepl_translate).fallback(method_not_allowed);
    let libre = post(libre_translate).fallback(method_not_allowed);
    let models = get(list_models).fallback(method_not_allowed);
    // Overrides the router-wide `disable()` below (inner layers win).
    let transcriptions = post(audio_transcriptions)
        .fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(TRANSCRIPTION_BODY_LIMIT));
    Router::new()
        .route("/v1/chat/completions", chat.clone())
        .route("/chat/completions", chat.clone())
        .route("/openai/v1/chat/completions", chat)
        .route("/openai/deployments/{deployment}/chat/completions", azure)
        .route("/v1/messages", messages.clone())
        .route("/messages", messages)
        .route("/v2/translate", deepl)
        .route("/translate", libre)
        .route("/v1/models", models.clone())
        .route("/models", models.clone())
        .route("/openai/v1/models", models)
        .route("/v1/audio/transcriptions", transcriptions.clone())
        .route("/audio/transcriptions", transcriptions.clone())
        .route("/openai/v1/audio/transcriptions", transcriptions)
        .route(
            "/_control/behavior",
            get(control_behavior)
                .post(control_set_behavior)
                .fallback(method_not_allowed),
        )
        .route(
            "/_control/script",
            post(control_push_script)
                .delete(control_clear_script)
                .fallback(method_not_allowed),
        )
        .route(
            "/_control/seed",
            get(control_seed)
                .post(control_set_seed)
                .fallback(method_not_allowed),
        )
        .route(
            "/_control/stats",
            get(control_stats).fallback(method_not_allowed),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

fn error_response(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({ "error": { "message": message, "type": kind, "code": code } });
    (status, Json(body)).into_response()
}

async fn not_found(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &format!("fake provider: no route for {method} {}", uri.path()),
        "invalid_request_error",
        Some("not_found"),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!(
            "fake provider: method {method} not allowed on {}",
            uri.path()
        ),
        "invalid_request_error",
        Some("method_not_allowed"),
    )
}

async fn list_models() -> Response {
    let data: Vec<Value> = LISTED_MODELS
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": 0, "owned_by": "tolmach-testkit" }))
        .collect();
    Json(json!({ "object": "list", "data": data })).into_response()
}

async fn chat_completions(
    State(shared): State<AppState>,
    Extension(connection): Extension<Connection>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = shapes::parse(Api::OpenAi, &uri, &headers, &body, None);
    answer(shared, connection, request).await
}

async fn azure_chat_completions(
    State(shared): State<AppState>,
    Extension(connection): Extension<Connection>,
    Path(deployment): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = shapes::parse(Api::OpenAi, &uri, &headers, &body, Some(deployment));
    answer(shared, connection, request).await
}

async fn anthropic_messages(
    State(shared): State<AppState>,
    Extension(connection): Extension<Connection>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = shapes::parse(Api::Anthropic, &uri, &headers, &body, None);
    answer(shared, connection, request).await
}

async fn deepl_translate(
    State(shared): State<AppState>,
    Extension(connection): Extension<Connection>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = shapes::parse(Api::DeepL, &uri, &headers, &body, None);
    answer(shared, connection, request).await
}

async fn libre_translate(
    State(shared): State<AppState>,
    Extension(connection): Extension<Connection>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = shapes::parse(Api::LibreTranslate, &uri, &headers, &body, None);
    answer(shared, connection, request).await
}

/// Records a parsed request, plays its behavior and answers in its shape.
async fn answer(
    shared: Arc<Shared>,
    connection: Connection,
    (request, invalid): (RecordedRequest, Option<String>),
) -> Response {
    let api = request.api;
    // Record first, so that even a request that never gets an answer is visible. From
    // here on, the tracker counts the request as abandoned if this future is dropped.
    let Admitted {
        behavior,
        mut rng,
        tracker,
    } = shared.admit(request.clone(), invalid.is_none());
    let Some(mut behavior) = behavior else {
        let message = invalid.unwrap_or_default();
        let rendered = shapes::bad_request(api, &message);
        return deliver(&shared, &connection, rendered, Cut::Whole, None, tracker);
    };

    let mut drip = None;
    let terminal = loop {
        behavior = match behavior {
            Behavior::Delay(delay, then) => {
                if !shared.pause(delay).await {
                    break Behavior::Hang;
                }
                *then
            }
            Behavior::RandomDelay { min, max, then } => {
                if !shared.pause(rng.duration(min, max)).await {
                    break Behavior::Hang;
                }
                *then
            }
            Behavior::Chance { p, then, otherwise } => {
                if rng.chance(p) {
                    *then
                } else {
                    *otherwise
                }
            }
            Behavior::Drip { interval, then } => {
                // The outermost drip wins.
                drip.get_or_insert(interval);
                *then
            }
            Behavior::Hang => {
                shared.shutting_down().await;
                break Behavior::Hang;
            }
            other => break other,
        };
    };

    let cut = match terminal {
        // Only reached once the fake is shutting down.
        Behavior::Hang => {
            let rendered = shapes::shutting_down(api);
            return deliver(&shared, &connection, rendered, Cut::Whole, None, tracker);
        }
        Behavior::Truncated => Cut::Truncate,
        Behavior::ResetMidBody => Cut::Reset,
        _ => Cut::Whole,
    };
    let rendered = shapes::render(&shared, &request, &terminal);
    deliver(&shared, &connection, rendered, cut, drip, tracker)
}

/// Turns a rendered answer into a response whose body reports how it ended.
fn deliver(
    shared: &Arc<Shared>,
    connection: &Connection,
    rendered: Rendered,
    cut: Cut,
    drip: Option<Duration>,
    tracker: Tracker,
) -> Response {
    let Rendered {
        status,
        headers,
        body,
    } = rendered;
    let body = AnswerBody::new(body, cut, drip, connection, Arc::clone(shared), tracker);
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

async fn audio_transcriptions(
    State(shared): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Response {
    let mut request = RecordedTranscription::new(uri.path(), &headers);
    let parsed = match multipart {
        Ok(mut multipart) => request.read_form(&mut multipart).await,
        Err(rejection) => Err((
            StatusCode::BAD_REQUEST,
            format!("fake provider: {}", rejection.body_text()),
        )),
    };

    // Record first, so that even a request that never gets an answer is visible.
    let behavior = {
        let mut state = shared.lock();
        state.transcriptions.push(request.clone());
        // Sent under the lock so the count never goes backwards.
        shared
            .transcription_count
            .send_replace(state.transcriptions.len());
        state.transcription.clone()
    };

    if let Err((status, message)) = parsed {
        return error_response(status, &message, "invalid_request_error", None);
    }
    match behavior {
        TranscriptionBehavior::Text(text) => match request.response_format.as_deref() {
            None | Some("json") => json_response(json!({ "text": text })),
            Some("text") => {
                let mut response = Response::new(Body::from(text));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                response
            }
            Some(other) => error_response(
                StatusCode::BAD_REQUEST,
                &format!("fake provider: unsupported response_format {other:?} (json or text)"),
                "invalid_request_error",
                None,
            ),
        },
        TranscriptionBehavior::Status(code) => error_response(
            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "fake error",
            "server_error",
            None,
        ),
        TranscriptionBehavior::Garbage => {
            let mut response = Response::new(Body::from(GARBAGE_BODY));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        TranscriptionBehavior::Hang => {
            shared.shutting_down().await;
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "fake provider is shutting down",
                "server_error",
                None,
            )
        }
    }
}

fn json_response(value: Value) -> Response {
    Json(value).into_response()
}

// ---------------------------------------------------------------------------------------
// Runtime control
// ---------------------------------------------------------------------------------------

fn control_error(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

async fn control_behavior(State(shared): State<AppState>) -> Response {
    let behavior = shared.lock().default.to_string();
    json_response(json!({ "behavior": behavior }))
}

async fn control_set_behavior(State(shared): State<AppState>, body: String) -> Response {
    match body.trim().parse::<Behavior>() {
        Ok(behavior) => {
            let text = behavior.to_string();
            shared.lock().default = behavior;
            json_response(json!({ "behavior": text }))
        }
        Err(e) => control_error(e.to_string()),
    }
}

async fn control_push_script(State(shared): State<AppState>, body: String) -> Response {
    let parsed: Result<Vec<Behavior>, _> = body
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::parse)
        .collect();
    match parsed {
        Ok(behaviors) => {
            let mut state = shared.lock();
            state.script.extend(behaviors);
            json_response(json!({ "script_len": state.script.len() }))
        }
        Err(e) => control_error(e.to_string()),
    }
}

async fn control_clear_script(State(shared): State<AppState>) -> Response {
    shared.lock().script.clear();
    json_response(json!({ "script_len": 0 }))
}

async fn control_seed(State(shared): State<AppState>) -> Response {
    let seed = shared.lock().seed;
    json_response(json!({ "seed": seed }))
}

async fn control_set_seed(State(shared): State<AppState>, body: String) -> Response {
    match body.trim().parse::<u64>() {
        Ok(seed) => {
            shared.lock().seed = seed;
            json_response(json!({ "seed": seed }))
        }
        Err(e) => control_error(format!("invalid seed {:?}: {e}", body.trim())),
    }
}

async fn control_stats(State(shared): State<AppState>) -> Response {
    let stats = *shared.stats.borrow();
    let total = stats.total();
    let by_api: serde_json::Map<String, Value> = Api::ALL
        .iter()
        .map(|&api| (api.as_str().to_owned(), stats.api(api).to_json()))
        .collect();
    let state = shared.lock();
    json_response(json!({
        "requests": total.requests,
        "completed": total.completed,
        "abandoned": total.abandoned,
        "reset": total.reset,
        "in_flight": total.in_flight(),
        "by_api": by_api,
        "transcriptions": state.transcriptions.len(),
        "behavior": state.default.to_string(),
        "script_len": state.script.len(),
        "seed": state.seed,
    }))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Rough token estimate: whitespace-separated words.
fn approx_tokens(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    fn client_with_timeout(timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(timeout)
            .build()
            .unwrap()
    }

    fn chat_body(system: Option<&str>, user: &str) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = system {
            messages.push(json!({ "role": "system", "content": system }));
        }
        messages.push(json!({ "role": "user", "content": user }));
        json!({ "model": "gpt-test", "messages": messages })
    }

    async fn post_chat(fake: &FakeProvider, body: &Value) -> reqwest::Response {
        client()
            .post(fake.chat_completions_url())
            .json(body)
            .send()
            .await
            .unwrap()
    }

    fn content_of(v: &Value) -> &str {
        v["choices"][0]["message"]["content"].as_str().unwrap()
    }

    async fn assert_error_body(resp: reqwest::Response) -> Value {
        let v: Value = resp.json().await.unwrap();
        assert!(v["error"]["message"].is_string(), "{v}");
        assert!(v["error"]["type"].is_string(), "{v}");
        assert!(v["error"].get("code").is_some(), "{v}");
        v
    }

    #[tokio::test]
    async fn echo_uses_language_code_and_last_user_message() {
        let fake = FakeProvider::start().await.unwrap();
        let body = json!({
            "model": "gpt-test",
            "messages": [
                { "role": "system", "content": "Translate (language code: pt-BR) please" },
                { "role": "user", "content": "first" },
                { "role": "assistant", "content": "x" },
                { "role": "user", "content": "olá mundo" },
            ],
        });
        let resp = client()
            .post(fake.chat_completions_url())
            .bearer_auth("sk-test")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(content_of(&v), "[pt-br] olá mundo");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], "gpt-test");
        assert_eq!(v["choices"][0]["index"], 0);
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-fake-"));
        let usage = &v["usage"];
        assert_eq!(
            usage["total_tokens"].as_u64().unwrap(),
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        );
        assert!(usage["prompt_tokens"].as_u64().unwrap() > 0);

        let reqs = fake.requests();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test"));
        assert_eq!(r.model.as_deref(), Some("gpt-test"));
        assert_eq!(
            r.system_text.as_deref(),
            Some("Translate (language code: pt-BR) please")
        );
        assert_eq!(r.user_text.as_deref(), Some("olá mundo"));
        assert_eq!(r.body, body);
    }

    #[tokio::test]
    async fn echo_without_code_uses_question_marks_and_default_model() {
        let fake = FakeProvider::start().await.unwrap();
        let body = json!({
            "messages": [
                { "role": "system", "content": "no code here (language code: )" },
                { "role": "user", "content": [{ "type": "text", "text": "hi " }, { "type": "text", "text": "there" }] },
            ],
        });
        let v: Value = post_chat(&fake, &body).await.json().await.unwrap();
        assert_eq!(content_of(&v), "[??] hi there");
        assert_eq!(v["model"], DEFAULT_MODEL);
        assert_eq!(fake.requests()[0].model, None);
        assert_eq!(fake.requests()[0].authorization, None);
    }

    #[test]
    fn language_code_extraction() {
        assert_eq!(language_code("x (language code: de) y"), Some("de"));
        assert_eq!(language_code("(language code: zh-Hant)"), Some("zh-Hant"));
        assert_eq!(
            language_code("(language code: 1) then (language code: fr)"),
            Some("fr")
        );
        assert_eq!(language_code("(language code: de"), None);
        assert_eq!(language_code("language code: de"), None);
    }

    #[tokio::test]
    async fn reply_returns_exact_content_and_ids_increase() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::reply("  exact\ncontent "));
        let a: Value = post_chat(&fake, &chat_body(None, "a"))
            .await
            .json()
            .await
            .unwrap();
        let b: Value = post_chat(&fake, &chat_body(None, "b"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(content_of(&a), "  exact\ncontent ");
        assert_eq!(content_of(&b), "  exact\ncontent ");
        assert_eq!(a["id"], "chatcmpl-fake-1");
        assert_eq!(b["id"], "chatcmpl-fake-2");
        assert_eq!(a["usage"]["completion_tokens"], 2);
    }

    #[tokio::test]
    async fn status_returns_error_json() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::Status(503));
        let resp = post_chat(&fake, &chat_body(None, "x")).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            v,
            json!({ "error": { "message": "fake error", "type": "server_error", "code": null } })
        );

        fake.set_behavior(Behavior::Status(9999));
        let resp = post_chat(&fake, &chat_body(None, "x")).await;
        assert_eq!(resp.status(), 500);
    }

    #[tokio::test]
    async fn rate_limited_sets_retry_after() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::RateLimited {
            retry_after_secs: 7,
        });
        let resp = post_chat(&fake, &chat_body(None, "x")).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "7");
        let v = assert_error_body(resp).await;
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    }

    #[tokio::test]
    async fn delay_then_inner_behavior() {
        let fake = FakeProvider::start().await.unwrap();
        let delay = Duration::from_millis(150);
        fake.set_behavior(Behavior::delayed(delay, Behavior::reply("late")));
        let started = std::time::Instant::now();
        let resp = client_with_timeout(Duration::from_secs(10))
            .post(fake.chat_completions_url())
            .json(&chat_body(None, "x"))
            .send()
            .await
            .unwrap();
        assert!(started.elapsed() >= delay);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(content_of(&v), "late");
    }

    #[tokio::test]
    async fn long_delay_times_out_client_but_is_recorded() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::delayed(Duration::from_secs(3600), Behavior::Echo));
        let err = client_with_timeout(Duration::from_millis(200))
            .post(fake.chat_completions_url())
            .json(&chat_body(None, "slow"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert_eq!(fake.request_count(), 1);
        assert_eq!(fake.requests()[0].user_text.as_deref(), Some("slow"));
    }

    #[tokio::test]
    async fn hang_never_answers_but_is_recorded() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::Hang);
        let url = fake.chat_completions_url();
        let request = tokio::spawn(async move {
            client_with_timeout(Duration::from_millis(300))
                .post(url)
                .json(&chat_body(None, "stuck"))
                .send()
                .await
        });
        // Recorded while the response is still outstanding.
        tokio::time::timeout(Duration::from_secs(5), fake.wait_for_requests(1))
            .await
            .unwrap();
        assert_eq!(fake.requests()[0].user_text.as_deref(), Some("stuck"));
        let err = request.await.unwrap().unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
    }

    #[tokio::test]
    async fn dropping_last_handle_releases_hanging_requests() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::Hang);
        let url = fake.chat_completions_url();
        let request = tokio::spawn(async move {
            client_with_timeout(Duration::from_secs(30))
                .post(url)
                .json(&chat_body(None, "x"))
                .send()
                .await
        });
        fake.wait_for_requests(1).await;
        let clone = fake.clone();
        drop(fake);
        // Still served while a clone is alive.
        assert_eq!(clone.request_count(), 1);
        assert!(!request.is_finished());
        drop(clone);
        let resp = tokio::time::timeout(Duration::from_secs(10), request)
            .await
            .expect("hanging request was not released")
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 503);
    }

    #[tokio::test]
    async fn clones_share_state() {
        let fake = FakeProvider::start().await.unwrap();
        let clone = fake.clone();
        clone.set_behavior(Behavior::reply("from clone"));
        let v: Value = post_chat(&fake, &chat_body(None, "x"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(content_of(&v), "from clone");
        assert_eq!(clone.request_count(), 1);
        assert_eq!(clone.addr(), fake.addr());
    }

    #[tokio::test]
    async fn garbage_is_not_json() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::Garbage);
        let resp = post_chat(&fake, &chat_body(None, "x")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let text = resp.text().await.unwrap();
        assert_eq!(text, GARBAGE_BODY);
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }

    #[tokio::test]
    async fn invalid_utf8_content() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::InvalidUtf8);
        let resp = post_chat(&fake, &chat_body(None, "x")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = resp.bytes().await.unwrap();
        assert!(std::str::from_utf8(&bytes).is_err());
        assert!(bytes.windows(2).any(|w| w == [0xFF, 0xFE]));
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());
        // Apart from the bad bytes it is a proper completion.
        let lossy = String::from_utf8_lossy(&bytes);
        let v: Value = serde_json::from_str(&lossy).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(
            content_of(&v),
            String::from_utf8_lossy(INVALID_UTF8_CONTENT)
        );
    }

    #[tokio::test]
    async fn empty_choices_and_wrong_shape() {
        let fake = FakeProvider::start().await.unwrap();
        fake.push_script([Behavior::EmptyChoices, Behavior::WrongShape]);
        let v: Value = post_chat(&fake, &chat_body(None, "x"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"], json!([]));
        assert!(v["id"].is_string());
        let resp = post_chat(&fake, &chat_body(None, "x")).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v, json!({ "foo": 1 }));
    }

    #[tokio::test]
    async fn script_is_consumed_in_order_then_default_applies() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_behavior(Behavior::reply("default"));
        fake.push_script([Behavior::Status(500), Behavior::reply("scripted")]);
        fake.push_script([Behavior::RateLimited {
            retry_after_secs: 1,
        }]);
        assert_eq!(fake.script_len(), 3);

        let r1 = post_chat(&fake, &chat_body(None, "1")).await;
        assert_eq!(r1.status(), 500);
        let r2: Value = post_chat(&fake, &chat_body(None, "2"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(content_of(&r2), "scripted");
        let r3 = post_chat(&fake, &chat_body(None, "3")).await;
        assert_eq!(r3.status(), 429);
        for _ in 0..2 {
            let v: Value = post_chat(&fake, &chat_body(None, "n"))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(content_of(&v), "default");
        }
        assert_eq!(fake.request_count(), 5);

        fake.push_script([Behavior::Status(502)]);
        fake.clear_script();
        let v: Value = post_chat(&fake, &chat_body(None, "n"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(content_of(&v), "default");
    }

    #[tokio::test]
    async fn malformed_body_is_recorded_and_rejected_without_consuming_script() {
        let fake = FakeProvider::start().await.unwrap();
        fake.push_script([Behavior::reply("kept")]);
        let resp = client()
            .post(fake.chat_completions_url())
            .header(header::CONTENT_TYPE, "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let v = assert_error_body(resp).await;
        assert_eq!(v["error"]["type"], "invalid_request_error");

        let resp = client()
            .post(fake.chat_completions_url())
            .body("[1, 2]")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);

        let reqs = fake.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].body, Value::Null);
        assert_eq!(reqs[1].body, json!([1, 2]));
        assert_eq!(fake.script_len(), 1);

        // The server is still fine and the script entry is still there.
        let v: Value = post_chat(&fake, &chat_body(None, "x"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(content_of(&v), "kept");
    }

    #[tokio::test]
    async fn alternative_paths_models_and_404() {
        let fake = FakeProvider::start().await.unwrap();
        let root = format!("http://{}", fake.addr());
        assert_eq!(fake.base_url(), format!("{root}/v1"));
        for path in ["/chat/completions", "/openai/v1/chat/completions"] {
            let resp = client()
                .post(format!("{root}{path}"))
                .json(&chat_body(Some("(language code: ja)"), "hi"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(content_of(&v), "[ja] hi");
        }
        let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/chat/completions", "/openai/v1/chat/completions"]);

        let v: Value = client()
            .get(format!("{}/models", fake.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["object"], "list");
        assert_eq!(v["data"][0]["id"], DEFAULT_MODEL);

        let resp = client()
            .post(format!("{root}/v1/embeddings"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404);
        assert_error_body(resp).await;

        let resp = client()
            .get(fake.chat_completions_url())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
        assert_error_body(resp).await;

        // Neither 404s nor wrong methods are recorded.
        assert_eq!(fake.request_count(), 2);
    }

    #[tokio::test]
    async fn wait_for_requests_wakes_on_arrival() {
        let fake = FakeProvider::start().await.unwrap();
        let waiter = {
            let fake = fake.clone();
            tokio::spawn(async move { fake.wait_for_requests(3).await })
        };
        for _ in 0..3 {
            // Fewer than 3 requests so far: the waiter cannot have finished.
            assert!(!waiter.is_finished());
            post_chat(&fake, &chat_body(None, "x")).await;
        }
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        // Already satisfied: returns immediately.
        fake.wait_for_requests(0).await;
        fake.wait_for_requests(3).await;
        assert_eq!(fake.request_count(), 3);
    }

    #[tokio::test]
    async fn concurrent_requests_are_all_recorded() {
        let fake = FakeProvider::start().await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let url = fake.chat_completions_url();
            tasks.push(tokio::spawn(async move {
                client()
                    .post(url)
                    .json(&chat_body(None, &format!("m{i}")))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 200);
        }
        let mut texts: Vec<String> = fake
            .requests()
            .into_iter()
            .filter_map(|r| r.user_text)
            .collect();
        texts.sort();
        let mut expected: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        expected.sort();
        assert_eq!(texts, expected);
    }

    /// Bytes that are not valid UTF-8 and include a CRLF and a would-be boundary, so
    /// that any text-based mangling of the file part shows.
    const AUDIO: &[u8] = b"OggS\x00\x02\xff\xfe\r\n--not-a-boundary\r\n\x00tail";

    fn audio_part(bytes: Vec<u8>) -> reqwest::multipart::Part {
        reqwest::multipart::Part::bytes(bytes)
            .file_name("voice.oga")
            .mime_str("audio/ogg")
            .unwrap()
    }

    fn transcription_form(response_format: Option<&str>) -> reqwest::multipart::Form {
        let form = reqwest::multipart::Form::new()
            .text("model", "whisper-1")
            .part("file", audio_part(AUDIO.to_vec()));
        match response_format {
            Some(f) => form.text("response_format", f.to_owned()),
            None => form,
        }
    }

    async fn post_transcription(
        fake: &FakeProvider,
        form: reqwest::multipart::Form,
    ) -> reqwest::Response {
        client()
            .post(fake.transcriptions_url())
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn transcription_records_the_form_and_answers_json() {
        let fake = FakeProvider::start().await.unwrap();
        let form = reqwest::multipart::Form::new()
            .part("file", audio_part(AUDIO.to_vec()))
            .text("model", "whisper-1")
            .text("language", "de")
            .text("prompt", "Tolmach, Telegram")
            .text("temperature", "0");
        let resp = client()
            .post(fake.transcriptions_url())
            .bearer_auth("sk-test")
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v, json!({ "text": DEFAULT_TRANSCRIPTION }));

        let recorded = fake.transcriptions();
        assert_eq!(recorded.len(), 1);
        let r = &recorded[0];
        assert_eq!(r.path, "/v1/audio/transcriptions");
        assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test"));
        assert_eq!(r.model.as_deref(), Some("whisper-1"));
        assert_eq!(r.file_name.as_deref(), Some("voice.oga"));
        assert_eq!(r.content_type.as_deref(), Some("audio/ogg"));
        assert_eq!(r.file, AUDIO);
        assert_eq!(r.response_format, None);
        assert_eq!(r.language.as_deref(), Some("de"));
        assert_eq!(r.prompt.as_deref(), Some("Tolmach, Telegram"));
        // Transcriptions are not chat requests.
        assert_eq!(fake.request_count(), 0);

        fake.set_transcription(TranscriptionBehavior::text("grüß dich"));
        let resp = post_transcription(&fake, transcription_form(Some("json"))).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v, json!({ "text": "grüß dich" }));
        let r = &fake.transcriptions()[1];
        assert_eq!(r.response_format.as_deref(), Some("json"));
        assert_eq!(r.authorization, None);
        assert_eq!(r.language, None);
    }

    #[tokio::test]
    async fn transcription_text_format_is_plain_text() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_transcription(TranscriptionBehavior::text(" {\"text\": \"no\"}\n"));
        let resp = post_transcription(&fake, transcription_form(Some("text"))).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(resp.text().await.unwrap(), " {\"text\": \"no\"}\n");

        // Formats the fake does not produce are refused rather than answered as JSON.
        let resp = post_transcription(&fake, transcription_form(Some("srt"))).await;
        assert_eq!(resp.status(), 400);
        assert_error_body(resp).await;

        let formats: Vec<Option<String>> = fake
            .transcriptions()
            .into_iter()
            .map(|r| r.response_format)
            .collect();
        assert_eq!(formats, [Some("text".to_owned()), Some("srt".to_owned())]);
    }

    #[tokio::test]
    async fn transcription_status_and_garbage() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_transcription(TranscriptionBehavior::Status(503));
        let resp = post_transcription(&fake, transcription_form(None)).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            v,
            json!({ "error": { "message": "fake error", "type": "server_error", "code": null } })
        );

        fake.set_transcription(TranscriptionBehavior::Status(9999));
        let resp = post_transcription(&fake, transcription_form(None)).await;
        assert_eq!(resp.status(), 500);

        fake.set_transcription(TranscriptionBehavior::Garbage);
        let resp = post_transcription(&fake, transcription_form(None)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let text = resp.text().await.unwrap();
        assert_eq!(text, GARBAGE_BODY);
        assert!(serde_json::from_str::<Value>(&text).is_err());

        // Failing answers are recorded all the same.
        let recorded = fake.transcriptions();
        assert_eq!(recorded.len(), 3);
        assert!(recorded.iter().all(|r| r.file == AUDIO));
    }

    #[tokio::test]
    async fn transcription_without_file_part_is_recorded_and_rejected() {
        let fake = FakeProvider::start().await.unwrap();
        let form = reqwest::multipart::Form::new()
            .text("model", "whisper-1")
            .text("response_format", "text")
            .part("audio", audio_part(AUDIO.to_vec()));
        let resp = post_transcription(&fake, form).await;
        assert_eq!(resp.status(), 400);
        let v = assert_error_body(resp).await;
        assert_eq!(v["error"]["type"], "invalid_request_error");

        // Not multipart at all.
        let resp = client()
            .post(fake.transcriptions_url())
            .bearer_auth("sk-test")
            .json(&json!({ "model": "whisper-1", "file": "x" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_error_body(resp).await;

        // Multipart in name only: the parts cannot be read.
        let resp = client()
            .post(fake.transcriptions_url())
            .header(header::CONTENT_TYPE, "multipart/form-data; boundary=XYZ")
            .body("this is not a multipart body")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_error_body(resp).await;

        let recorded = fake.transcriptions();
        assert_eq!(recorded.len(), 3);
        let r = &recorded[0];
        assert_eq!(r.model.as_deref(), Some("whisper-1"));
        assert_eq!(r.response_format.as_deref(), Some("text"));
        assert_eq!(r.file_name, None);
        assert_eq!(r.content_type, None);
        assert!(r.file.is_empty());
        assert_eq!(recorded[1].authorization.as_deref(), Some("Bearer sk-test"));
        assert_eq!(recorded[1].model, None);
        assert_eq!(recorded[2].model, None);

        // The server is still fine.
        let resp = post_transcription(&fake, transcription_form(None)).await;
        assert_eq!(resp.status(), 200);
    }

    #[tokio::test]
    async fn transcription_alternative_paths_and_wrong_method() {
        let fake = FakeProvider::start().await.unwrap();
        let root = format!("http://{}", fake.addr());
        assert_eq!(
            fake.transcriptions_url(),
            format!("{root}/v1/audio/transcriptions")
        );
        for path in ["/audio/transcriptions", "/openai/v1/audio/transcriptions"] {
            let resp = client()
                .post(format!("{root}{path}"))
                .multipart(transcription_form(None))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["text"], DEFAULT_TRANSCRIPTION);
        }
        let paths: Vec<String> = fake.transcriptions().into_iter().map(|r| r.path).collect();
        assert_eq!(
            paths,
            ["/audio/transcriptions", "/openai/v1/audio/transcriptions"]
        );

        let resp = client()
            .get(fake.transcriptions_url())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405);
        assert_error_body(resp).await;
        assert_eq!(fake.transcriptions().len(), 2);
    }

    #[tokio::test]
    async fn transcription_hang_is_recorded_and_released_on_drop() {
        let fake = FakeProvider::start().await.unwrap();
        fake.set_transcription(TranscriptionBehavior::Hang);
        let url = fake.transcriptions_url();
        let request = tokio::spawn(async move {
            client_with_timeout(Duration::from_secs(30))
                .post(url)
                .multipart(transcription_form(None))
                .send()
                .await
        });
        // Recorded while the response is still outstanding.
        tokio::time::timeout(Duration::from_secs(5), fake.wait_for_transcriptions(1))
            .await
            .unwrap();
        assert_eq!(fake.transcriptions()[0].file, AUDIO);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!request.is_finished());
        drop(fake);
        let resp = tokio::time::timeout(Duration::from_secs(10), request)
            .await
            .expect("hanging transcription was not released")
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 503);
    }

    #[tokio::test]
    async fn transcription_accepts_a_20_mb_voice_file() {
        let fake = FakeProvider::start().await.unwrap();
        let audio: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
        let form = reqwest::multipart::Form::new()
            .text("model", "whisper-1")
            .part("file", audio_part(audio.clone()));
        let resp = post_transcription(&fake, form).await;
        assert_eq!(resp.status(), 200);
        let recorded = fake.transcriptions();
        assert_eq!(recorded[0].file.len(), audio.len());
        assert!(recorded[0].file == audio);
    }

    #[tokio::test]
    async fn transcription_over_the_body_limit_is_rejected() {
        let fake = FakeProvider::start().await.unwrap();
        let form = reqwest::multipart::Form::new()
            .text("model", "whisper-1")
            .part("file", audio_part(vec![0; TRANSCRIPTION_BODY_LIMIT + 1]));
        let resp = post_transcription(&fake, form).await;
        assert_eq!(resp.status(), 413);
        assert_error_body(resp).await;
        let recorded = fake.transcriptions();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].model.as_deref(), Some("whisper-1"));
        assert_eq!(recorded[0].file_name.as_deref(), Some("voice.oga"));
    }

    #[test]
    fn behavior_from_str() {
        assert_eq!("echo".parse(), Ok(Behavior::Echo));
        assert_eq!("500".parse(), Ok(Behavior::Status(500)));
        assert_eq!("garbage".parse(), Ok(Behavior::Garbage));
        assert_eq!("HANG".parse(), Ok(Behavior::Hang));
        assert_eq!("invalid_utf8".parse(), Ok(Behavior::InvalidUtf8));
        assert_eq!("empty-choices".parse(), Ok(Behavior::EmptyChoices));
        assert_eq!("wrong-shape".parse(), Ok(Behavior::WrongShape));
        assert_eq!("reply:a:b c".parse(), Ok(Behavior::reply("a:b c")));
        assert_eq!(
            "rate-limited".parse(),
            Ok(Behavior::RateLimited {
                retry_after_secs: 1
            })
        );
        assert_eq!(
            "rate-limited:30".parse(),
            Ok(Behavior::RateLimited {
                retry_after_secs: 30
            })
        );
        assert_eq!(
            "delay:250:reply:hi".parse(),
            Ok(Behavior::delayed(
                Duration::from_millis(250),
                Behavior::reply("hi")
            ))
        );
        for bad in [
            "",
            "nope",
            "delay:x:echo",
            "delay:5",
            "echo:x",
            "99999",
            "rate-limited:x",
        ] {
            assert!(bad.parse::<Behavior>().is_err(), "{bad:?}");
        }
    }
}
