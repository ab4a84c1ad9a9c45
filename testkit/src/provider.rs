//! A fake OpenAI-compatible chat-completions (and audio-transcriptions) server.
//!
//! [`FakeProvider`] is a real HTTP/1 server (axum) bound to a local port. Point the
//! code under test at [`FakeProvider::base_url`] instead of `https://api.openai.com/v1`
//! and it will answer `POST {base}/chat/completions` with whatever [`Behavior`] you ask
//! for: a proper `chat.completion` object, an HTTP error, a 429 with `Retry-After`, a slow
//! or never-ending answer, or one of several kinds of broken payload.
//!
//! Every request that reaches a chat-completions route is *recorded before it is
//! answered* (so even a request that hangs forever shows up) and can be inspected with
//! [`FakeProvider::requests`]. [`FakeProvider::wait_for_requests`] lets a test wait for
//! traffic without polling or sleeping.
//!
//! # Choosing the answer
//!
//! * [`FakeProvider::set_behavior`] sets the default behavior for all following requests
//!   ([`Behavior::Echo`] when the server starts).
//! * [`FakeProvider::push_script`] queues one-shot behaviors; each incoming request
//!   consumes the next one, and once the script is empty the default applies again.
//!   This is how a retry test says "fail twice, then succeed".
//!
//! [`Behavior::Echo`] answers `"[{code}] {user_text}"`, where `{code}` comes from a
//! `(language code: xx)` marker in the system prompt (`??` when there is none) and
//! `{user_text}` is the last user message. That makes translation round trips easy to
//! assert on without any real model.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `POST /v1/chat/completions` | the current behavior |
//! | `POST /chat/completions` | the same, for base URLs without `/v1` |
//! | `POST /openai/v1/chat/completions` | the same, for Groq-style base URLs |
//! | `GET /v1/models` (also `/models`, `/openai/v1/models`) | a small model list |
//! | `POST /v1/audio/transcriptions` (also `/audio/transcriptions`, `/openai/v1/audio/transcriptions`) | the current [`TranscriptionBehavior`] |
//! | anything else | 404 with an OpenAI-style JSON error |
//!
//! A body that is not JSON (or JSON that is not an object) is recorded with
//! [`RecordedRequest::body`] = `Value::Null` (resp. the parsed value), answered with 400
//! and does **not** consume a scripted behavior. Streaming (`"stream": true`) is not
//! supported; the answer is always a single JSON document.
//!
//! # Audio transcriptions
//!
//! The transcription routes speak OpenAI's Whisper API: a `multipart/form-data` body
//! with a `file` part (the audio, with a file name and content type), `model`, and the
//! optional `response_format`, `language` and `prompt`; other parts are ignored. Bodies
//! up to [`TRANSCRIPTION_BODY_LIMIT`] (25 MiB) are accepted, enough for Telegram's 20 MB
//! voice files. Every request is recorded before it is answered
//! ([`FakeProvider::transcriptions`], [`FakeProvider::wait_for_transcriptions`]); these
//! requests are separate from the chat-completions ones ([`FakeProvider::requests`]).
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
//! use tolmach_testkit::{Behavior, FakeProvider};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let fake = FakeProvider::start().await?;
//! fake.push_script([Behavior::Status(500), Behavior::RateLimited { retry_after_secs: 1 }]);
//! // ... configure the client with fake.base_url() and run the code under test ...
//! fake.wait_for_requests(3).await;
//! assert_eq!(fake.requests()[2].user_text.as_deref(), Some("hello"));
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

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// How the fake answers one chat-completions request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    /// 200; content = `"[{code}] {user_text}"` where `{code}` is taken from the system
    /// message pattern `(language code: xx)` (letters and hyphens), `??` if absent.
    #[default]
    Echo,
    /// 200 with exactly this assistant content.
    Reply(String),
    /// That HTTP status with body
    /// `{"error":{"message":"fake error","type":"server_error","code":null}}`.
    /// A number that is not a valid HTTP status is answered as 500.
    Status(u16),
    /// 429 with a `Retry-After` header and an OpenAI-style JSON error body.
    RateLimited {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// Wait (`tokio::time::sleep`), then behave as the inner behavior.
    Delay(Duration, Box<Behavior>),
    /// Never answer; the connection stays open until the client gives up (or the fake
    /// is dropped, which releases the request with a 503).
    Hang,
    /// 200, `content-type: application/json`, body `<html>this is not json</html>`.
    Garbage,
    /// 200, `content-type: application/json`, a well-formed `chat.completion` whose
    /// content string contains the raw bytes `0xFF 0xFE` (see [`INVALID_UTF8_CONTENT`]).
    InvalidUtf8,
    /// 200 `{"id":..,"object":"chat.completion","created":..,"model":..,"choices":[]}`.
    EmptyChoices,
    /// 200 `{"foo": 1}`.
    WrongShape,
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
}

/// Error returned by [`Behavior::from_str`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseBehaviorError(String);

impl fmt::Display for ParseBehaviorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown behavior {:?}; expected echo, reply:TEXT, a status code like 500, \
             rate-limited[:SECS], delay:MILLIS:BEHAVIOR, hang, garbage, invalid-utf8, \
             empty-choices or wrong-shape",
            self.0
        )
    }
}

impl std::error::Error for ParseBehaviorError {}

impl FromStr for Behavior {
    type Err = ParseBehaviorError;

    /// Parses the command-line spelling used by the `fake-provider` binary:
    /// `echo`, `reply:TEXT`, `500` (any status code), `rate-limited[:SECS]` (default 1),
    /// `delay:MILLIS:BEHAVIOR`, `hang`, `garbage`, `invalid-utf8`, `empty-choices`,
    /// `wrong-shape`. Names are case-insensitive and `_` may be used for `-`.
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
            ("rate-limited" | "ratelimited", None) => Behavior::RateLimited {
                retry_after_secs: 1,
            },
            ("rate-limited" | "ratelimited", Some(secs)) => Behavior::RateLimited {
                retry_after_secs: secs.trim().parse().map_err(|_| err())?,
            },
            ("delay", Some(rest)) => {
                let (millis, inner) = rest.split_once(':').ok_or_else(err)?;
                let millis: u64 = millis.trim().parse().map_err(|_| err())?;
                Behavior::delayed(Duration::from_millis(millis), inner.parse()?)
            }
            ("hang", None) => Behavior::Hang,
            ("garbage", None) => Behavior::Garbage,
            ("invalid-utf8", None) => Behavior::InvalidUtf8,
            ("empty-choices", None) => Behavior::EmptyChoices,
            ("wrong-shape", None) => Behavior::WrongShape,
            (code, None) if !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) => {
                Behavior::Status(code.parse().map_err(|_| err())?)
            }
            _ => return Err(err()),
        };
        Ok(behavior)
    }
}

/// One request received on a chat-completions route.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Raw `Authorization` header value (lossily decoded), if any.
    pub authorization: Option<String>,
    /// The JSON body; `Value::Null` if the body was not JSON.
    pub body: Value,
    /// `body.model`, if it is a string.
    pub model: Option<String>,
    /// Content of the first message with role `system`.
    pub system_text: Option<String>,
    /// Content of the last message with role `user`.
    pub user_text: Option<String>,
}

impl RecordedRequest {
    fn new(path: &str, headers: &HeaderMap, body: Value) -> Self {
        let authorization = authorization(headers);
        let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let system_text = messages
            .iter()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
            .and_then(message_text);
        let user_text = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(message_text);
        RecordedRequest {
            path: path.to_owned(),
            authorization,
            body,
            model,
            system_text,
            user_text,
        }
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
    match message.get("content")? {
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
    default: Behavior,
    script: VecDeque<Behavior>,
    transcriptions: Vec<RecordedTranscription>,
    transcription: TranscriptionBehavior,
}

struct Shared {
    state: Mutex<Mutable>,
    /// Number of recorded requests; updated under the `state` lock.
    count: watch::Sender<usize>,
    /// Number of recorded transcription requests; updated under the `state` lock.
    transcription_count: watch::Sender<usize>,
    /// Becomes `true` when the last handle is dropped.
    shutdown: watch::Sender<bool>,
    next_id: AtomicU64,
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

    fn next_id(&self) -> String {
        format!(
            "chatcmpl-fake-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed) + 1
        )
    }
}

/// Stops the server when the last [`FakeProvider`] clone goes away.
struct ServerGuard {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // Release hanging/delayed handlers and start axum's graceful shutdown, so that
        // open connections are closed too, then stop accepting right away.
        self.shared.shutdown.send_replace(true);
        self.task.abort();
    }
}

/// Handle to a running fake OpenAI-compatible provider. Cheap to clone; the server
/// stops when the last clone is dropped. See the [module docs](self).
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

    /// Starts a fake listening on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<FakeProvider> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (count, _) = watch::channel(0);
        let (transcription_count, _) = watch::channel(0);
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(Mutable {
                requests: Vec::new(),
                default: Behavior::Echo,
                script: VecDeque::new(),
                transcriptions: Vec::new(),
                transcription: TranscriptionBehavior::default(),
            }),
            count,
            transcription_count,
            shutdown,
            next_id: AtomicU64::new(0),
        });
        let app = router(Arc::clone(&shared));
        let signal_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let signal = async move { signal_shared.shutting_down().await };
            // axum's serve only returns an error for listener setup problems, and the
            // listener is already bound; nothing useful to do with it here.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await;
        });
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

    /// `http://ADDR/v1`, without a trailing slash: use it as the OpenAI base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR/v1/chat/completions`.
    pub fn chat_completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url())
    }

    /// `http://ADDR/v1/audio/transcriptions`.
    pub fn transcriptions_url(&self) -> String {
        format!("{}/audio/transcriptions", self.base_url())
    }

    /// Sets the default behavior for all following requests (after any queued script).
    pub fn set_behavior(&self, b: Behavior) {
        self.shared.lock().default = b;
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

    /// Every request received on a chat-completions route, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Number of requests received on a chat-completions route.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// Resolves once at least `n` requests have been recorded. Wrap it in
    /// `tokio::time::timeout` if the test should fail rather than hang.
    pub async fn wait_for_requests(&self, n: usize) {
        let mut rx = self.shared.count.subscribe();
        // The sender lives in `self.shared`, so it cannot be dropped while we wait.
        let _ = rx.wait_for(|count| *count >= n).await;
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

type AppState = Arc<Shared>;

fn router(shared: AppState) -> Router {
    let chat = post(chat_completions).fallback(method_not_allowed);
    let models = get(list_models).fallback(method_not_allowed);
    // Overrides the router-wide `disable()` below (inner layers win).
    let transcriptions = post(audio_transcriptions)
        .fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(TRANSCRIPTION_BODY_LIMIT));
    Router::new()
        .route("/v1/chat/completions", chat.clone())
        .route("/chat/completions", chat.clone())
        .route("/openai/v1/chat/completions", chat)
        .route("/v1/models", models.clone())
        .route("/models", models.clone())
        .route("/openai/v1/models", models)
        .route("/v1/audio/transcriptions", transcriptions.clone())
        .route("/audio/transcriptions", transcriptions.clone())
        .route("/openai/v1/audio/transcriptions", transcriptions)
        .fallback(not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

fn error_response(status: StatusCode, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({ "error": { "message": message, "type": kind, "code": code } });
    (status, axum::Json(body)).into_response()
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
    axum::Json(json!({ "object": "list", "data": data })).into_response()
}

async fn chat_completions(
    State(shared): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body);
    let body_ok = matches!(parsed, Ok(Value::Object(_)));
    let parse_error = parsed.as_ref().err().map(ToString::to_string);
    let request = RecordedRequest::new(uri.path(), &headers, parsed.unwrap_or(Value::Null));

    // Record first, so that even a request that never gets an answer is visible.
    let behavior = {
        let mut state = shared.lock();
        let behavior = if body_ok {
            let next = state.script.pop_front();
            Some(next.unwrap_or_else(|| state.default.clone()))
        } else {
            None
        };
        state.requests.push(request.clone());
        // Sent under the lock so the count never goes backwards.
        shared.count.send_replace(state.requests.len());
        behavior
    };

    let Some(mut behavior) = behavior else {
        let message = match parse_error {
            Some(e) => format!("fake provider: request body is not valid JSON: {e}"),
            None => "fake provider: request body must be a JSON object".to_owned(),
        };
        return error_response(
            StatusCode::BAD_REQUEST,
            &message,
            "invalid_request_error",
            None,
        );
    };

    loop {
        match behavior {
            Behavior::Delay(delay, inner) => {
                tokio::select! {
                    () = tokio::time::sleep(delay) => behavior = *inner,
                    () = shared.shutting_down() => return shutting_down_response(),
                }
            }
            Behavior::Hang => {
                shared.shutting_down().await;
                return shutting_down_response();
            }
            other => return respond(&shared, &request, other),
        }
    }
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
        TranscriptionBehavior::Status(code) => status_response(code),
        TranscriptionBehavior::Garbage => raw_json_response(Body::from(GARBAGE_BODY)),
        TranscriptionBehavior::Hang => {
            shared.shutting_down().await;
            shutting_down_response()
        }
    }
}

/// [`Behavior::Status`]: that status (500 if invalid) with a generic error body.
fn status_response(code: u16) -> Response {
    error_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "fake error",
        "server_error",
        None,
    )
}

fn shutting_down_response() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "fake provider is shutting down",
        "server_error",
        None,
    )
}

/// Produces the response for a behavior that answers right away.
fn respond(shared: &Shared, request: &RecordedRequest, behavior: Behavior) -> Response {
    match behavior {
        Behavior::Echo => {
            let code = request
                .system_text
                .as_deref()
                .and_then(language_code)
                .unwrap_or("??");
            let user = request.user_text.as_deref().unwrap_or_default();
            json_response(completion(shared, request, &format!("[{code}] {user}")))
        }
        Behavior::Reply(content) => json_response(completion(shared, request, &content)),
        Behavior::Status(code) => status_response(code),
        Behavior::RateLimited { retry_after_secs } => {
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "fake rate limit",
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        Behavior::Garbage => raw_json_response(Body::from(GARBAGE_BODY)),
        Behavior::InvalidUtf8 => {
            // Serialize with a placeholder, then splice the raw bytes in, keeping the
            // document otherwise well-formed.
            const PLACEHOLDER: &str = "__TOLMACH_TESTKIT_INVALID_UTF8__";
            let value = completion(shared, request, PLACEHOLDER);
            let mut bytes = value.to_string().into_bytes();
            if let Some(pos) = bytes
                .windows(PLACEHOLDER.len())
                .position(|w| w == PLACEHOLDER.as_bytes())
            {
                bytes.splice(
                    pos..pos + PLACEHOLDER.len(),
                    INVALID_UTF8_CONTENT.iter().copied(),
                );
            }
            raw_json_response(Body::from(bytes))
        }
        Behavior::EmptyChoices => json_response(json!({
            "id": shared.next_id(),
            "object": "chat.completion",
            "created": unix_now(),
            "model": model_of(request),
            "choices": [],
        })),
        Behavior::WrongShape => json_response(json!({ "foo": 1 })),
        // Handled by the caller; answer sensibly anyway rather than panic.
        Behavior::Delay(_, inner) => respond(shared, request, *inner),
        Behavior::Hang => shutting_down_response(),
    }
}

fn json_response(value: Value) -> Response {
    axum::Json(value).into_response()
}

fn raw_json_response(body: Body) -> Response {
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn model_of(request: &RecordedRequest) -> &str {
    request.model.as_deref().unwrap_or(DEFAULT_MODEL)
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

/// A realistic `chat.completion` object with one choice.
fn completion(shared: &Shared, request: &RecordedRequest, content: &str) -> Value {
    let prompt_tokens: u64 = request
        .body
        .get("messages")
        .and_then(Value::as_array)
        .map(|messages| {
            messages
                .iter()
                .filter_map(message_text)
                .map(|t| approx_tokens(&t))
                .sum()
        })
        .unwrap_or(0);
    let completion_tokens = approx_tokens(content);
    json!({
        "id": shared.next_id(),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model_of(request),
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    })
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
        assert_eq!(content_of(&v), "[pt-BR] olá mundo");
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
