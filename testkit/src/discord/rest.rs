//! The REST server: HTTP plumbing, routing, faults and the route handlers.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::payload::{
    application_json, current_user_json, error_json, form_error_json, parse_sf, rfc3339, sf,
    unix_ms, user_json,
};
use super::state::{Channel, InteractionState, Shared, State, method_matches};
use super::{
    CreatedMessage, DcUser, INTERACTION_TOKEN_LIFETIME, InteractionCallback, InteractionEdit,
    MAX_CONTENT_CHARS, RestCall, RestFault,
};

/// Largest request body read (Discord's upload limit is lower for most bots).
const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Message flags a bot may set: SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS.
const SETTABLE_FLAGS: u64 = 4 | 64 | 4096;
const EPHEMERAL: u64 = 64;
/// Longest string `nonce` Discord takes.
const MAX_NONCE_CHARS: usize = 25;
/// How long a nonce sent with `enforce_nonce` stays unique. Discord says "the past few
/// minutes"; the fake keeps it shorter, so a bot cannot lean on more than it is promised.
const NONCE_WINDOW: Duration = Duration::from_secs(120);
const LOADING: u64 = 128;

// ---------------------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------------------

pub(crate) enum ReplyBody {
    Json(Value),
    Html(String),
    Empty,
}

pub(crate) struct Reply {
    status: u16,
    body: ReplyBody,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: ReplyBody::Json(body),
            headers: Vec::new(),
        }
    }

    fn ok(body: Value) -> Reply {
        Reply::json(200, body)
    }

    fn no_content() -> Reply {
        Reply {
            status: 204,
            body: ReplyBody::Empty,
            headers: Vec::new(),
        }
    }

    fn error(status: u16, code: u32, message: &str) -> Reply {
        Reply::json(status, error_json(code, message))
    }

    fn form(path: &str, code: &str, message: &str) -> Reply {
        Reply::json(400, form_error_json(path, code, message))
    }

    fn status_line(status: u16) -> Reply {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        Reply::error(status, 0, &format!("{status}: {reason}"))
    }

    fn unknown_channel() -> Reply {
        Reply::error(404, 10003, "Unknown Channel")
    }

    fn unknown_message() -> Reply {
        Reply::error(404, 10008, "Unknown Message")
    }

    fn unknown_webhook() -> Reply {
        Reply::error(404, 10015, "Unknown Webhook")
    }

    fn empty_message() -> Reply {
        Reply::error(400, 50006, "Cannot send an empty message")
    }

    fn invalid_json() -> Reply {
        Reply::error(400, 50109, "The request body contains invalid JSON.")
    }

    fn missing_access() -> Reply {
        Reply::error(403, 50001, "Missing Access")
    }
}

/// `Retry-After` is whole seconds, rounded up, at least 1.
fn retry_after_header(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

fn fault_reply(fault: RestFault, bucket: &str) -> Reply {
    match fault {
        RestFault::RateLimited {
            retry_after,
            global,
        } => {
            let secs = retry_after.as_secs_f64();
            let reset = unix_ms() as f64 / 1000.0 + secs;
            let mut reply = Reply::json(
                429,
                json!({
                    "message": "You are being rate limited.",
                    "retry_after": (secs * 1000.0).round() / 1000.0,
                    "global": global,
                }),
            );
            reply.headers = vec![
                ("retry-after", retry_after_header(retry_after).to_string()),
                ("x-ratelimit-limit", "5".into()),
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", format!("{reset:.3}")),
                ("x-ratelimit-reset-after", format!("{secs:.3}")),
                ("x-ratelimit-bucket", bucket.to_owned()),
                (
                    "x-ratelimit-scope",
                    if global { "global" } else { "user" }.into(),
                ),
            ];
            if global {
                reply.headers.push(("x-ratelimit-global", "true".into()));
            }
            reply
        }
        RestFault::Status(500) => Reply::error(500, 0, "500: Internal Server Error"),
        RestFault::Status(status @ (502..=504)) => {
            let reason = StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Error");
            let html = format!(
                "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
            );
            Reply {
                status,
                body: ReplyBody::Html(html),
                headers: Vec::new(),
            }
        }
        RestFault::Status(status) => Reply::status_line(status),
        RestFault::MissingPermissions => Reply::error(403, 50013, "Missing Permissions"),
        RestFault::MissingAccess => Reply::missing_access(),
        // Handled by the caller; answer sensibly anyway rather than panic.
        RestFault::Drop | RestFault::AnswerLost | RestFault::Delay(_) => Reply::status_line(500),
    }
}

fn into_response(reply: Reply, bucket: &str) -> Response<Body> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let (content_type, body) = match reply.body {
        ReplyBody::Json(v) => (Some("application/json"), Body::from(v.to_string())),
        ReplyBody::Html(html) => (Some("text/html"), Body::from(html)),
        ReplyBody::Empty => (None, Body::empty()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(ct) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if status.is_success() {
        let reset = unix_ms() as f64 / 1000.0 + 1.0;
        let rate_limit = [
            ("x-ratelimit-limit", "5".to_owned()),
            ("x-ratelimit-remaining", "4".to_owned()),
            ("x-ratelimit-reset", format!("{reset:.3}")),
            ("x-ratelimit-reset-after", "1.000".to_owned()),
            ("x-ratelimit-bucket", bucket.to_owned()),
        ];
        for (name, value) in rate_limit {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
    }
    for (name, value) in reply.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

// ---------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Gateway,
    GatewayBot,
    Me,
    CreateDm,
    Application,
    Commands { app: u64, guild: Option<u64> },
    Channel(u64),
    Messages(u64),
    Message(u64, u64),
    Typing(u64),
    Callback { id: u64, token: String },
    Followup { app: u64, token: String },
    Original { app: u64, token: String },
    BadSnowflake { field: &'static str, value: String },
    NotFound,
    MethodNotAllowed,
}

impl Route {
    /// Interaction routes carry their token in the path.
    fn needs_auth(&self) -> bool {
        !matches!(
            self,
            Route::Gateway
                | Route::Callback { .. }
                | Route::Followup { .. }
                | Route::Original { .. }
                | Route::NotFound
                | Route::MethodNotAllowed
        )
    }

    /// A rate-limit bucket id for the headers (route and major parameter).
    fn bucket(&self) -> String {
        let key = match self {
            Route::Channel(c) | Route::Messages(c) | Route::Message(c, _) | Route::Typing(c) => {
                format!("channel:{c}")
            }
            Route::Callback { id, .. } => format!("interaction:{id}"),
            Route::Followup { token, .. } | Route::Original { token, .. } => {
                format!("webhook:{token}")
            }
            other => format!("{other:?}"),
        };
        // FNV-1a: stable and good enough for an opaque id.
        let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("{hash:016x}")
    }
}

fn parse_route(method: &str, path: &str) -> Route {
    let Some(rest) = path.strip_prefix("/api/v10/") else {
        return Route::NotFound;
    };
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    macro_rules! id {
        ($field:literal, $s:expr) => {
            match $s.parse::<u64>() {
                Ok(id) => id,
                Err(_) => {
                    return Route::BadSnowflake {
                        field: $field,
                        value: $s.to_string(),
                    };
                }
            }
        };
    }
    let allow = |allowed: &[&str], route: Route| {
        if allowed.contains(&method) {
            route
        } else {
            Route::MethodNotAllowed
        }
    };
    match segs.as_slice() {
        ["gateway"] => allow(&["GET"], Route::Gateway),
        ["gateway", "bot"] => allow(&["GET"], Route::GatewayBot),
        ["users", "@me"] => allow(&["GET"], Route::Me),
        ["users", "@me", "channels"] => allow(&["POST"], Route::CreateDm),
        ["oauth2", "applications", "@me"] | ["applications", "@me"] => {
            allow(&["GET"], Route::Application)
        }
        ["applications", app, "commands"] => {
            let app = id!("application_id", app);
            allow(
                &["GET", "PUT", "POST"],
                Route::Commands { app, guild: None },
            )
        }
        ["applications", app, "guilds", guild, "commands"] => {
            let app = id!("application_id", app);
            let guild = id!("guild_id", guild);
            let route = Route::Commands {
                app,
                guild: Some(guild),
            };
            allow(&["GET", "PUT", "POST"], route)
        }
        ["channels", channel] => allow(&["GET"], Route::Channel(id!("channel_id", channel))),
        ["channels", channel, "messages"] => allow(
            &["GET", "POST"],
            Route::Messages(id!("channel_id", channel)),
        ),
        ["channels", channel, "messages", message] => {
            let channel = id!("channel_id", channel);
            allow(
                &["GET"],
                Route::Message(channel, id!("message_id", message)),
            )
        }
        ["channels", channel, "typing"] => {
            allow(&["POST"], Route::Typing(id!("channel_id", channel)))
        }
        ["interactions", id, token, "callback"] => {
            let id = id!("interaction_id", id);
            let token = (*token).to_owned();
            allow(&["POST"], Route::Callback { id, token })
        }
        ["webhooks", app, token] => {
            let app = id!("webhook_id", app);
            let token = (*token).to_owned();
            allow(&["POST"], Route::Followup { app, token })
        }
        ["webhooks", app, token, "messages", "@original"] => {
            let app = id!("webhook_id", app);
            let token = (*token).to_owned();
            allow(&["GET", "PATCH"], Route::Original { app, token })
        }
        _ => Route::NotFound,
    }
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------------------

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutting_down() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                // Best effort; only latency depends on it.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one connection until the client closes it, a handler asks to drop it
/// ([`RestFault::Drop`]) or the fake shuts down.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let hang_up = Arc::new(Notify::new());
    let service = {
        let shared = Arc::clone(&shared);
        let hang_up = Arc::clone(&hang_up);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let shared = Arc::clone(&shared);
            let hang_up = Arc::clone(&hang_up);
            async move { Ok::<_, Infallible>(handle(&shared, &hang_up, request).await) }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        biased;
        () = shared.shutting_down() => {}
        () = hang_up.notified() => {}
        // Connection errors (client went away, bad HTTP) end the connection.
        _ = connection => {}
    }
}

/// Asks `serve_connection` to drop the connection, which drops this future too.
async fn hang_up_now(hang_up: &Notify) -> Response<Body> {
    hang_up.notify_one();
    std::future::pending().await
}

/// A file part of a multipart body.
pub(crate) struct FilePart {
    filename: String,
    size: usize,
    content_type: Option<String>,
}

/// The JSON body (`Ok(Value::Null)` when empty; `Err` when it is not JSON) and any files.
async fn read_body(
    parts: Parts,
    body: Incoming,
    content_type: Option<&str>,
) -> (Result<Value, ()>, Vec<FilePart>) {
    if content_type.is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/")) {
        let request = Request::from_parts(parts, Body::new(body));
        let Ok(mut multipart) = Multipart::from_request(request, &()).await else {
            return (Err(()), Vec::new());
        };
        let mut json = Ok(Value::Null);
        let mut files = Vec::new();
        loop {
            let field = match multipart.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(_) => return (Err(()), files),
            };
            let name = field.name().unwrap_or_default().to_owned();
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let Ok(bytes) = field.bytes().await else {
                return (Err(()), files);
            };
            match filename {
                Some(filename) => files.push(FilePart {
                    filename,
                    size: bytes.len(),
                    content_type,
                }),
                None if name == "payload_json" => {
                    json = serde_json::from_slice(&bytes).map_err(|_| ());
                }
                None => {}
            }
        }
        return (json, files);
    }
    let json = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|_| ()),
        Err(_) => Err(()),
    };
    (json, Vec::new())
}

/// What to do with a request once it is recorded.
enum Plan {
    Answer(Reply),
    Fault(RestFault),
    Normal,
}

async fn handle(shared: &Shared, hang_up: &Notify, request: Request<Incoming>) -> Response<Body> {
    if *shared.shutdown.borrow() {
        return hang_up_now(hang_up).await;
    }
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let header_of = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header_of(header::AUTHORIZATION);
    let content_type = header_of(header::CONTENT_TYPE);
    if path.starts_with("/attachments/") {
        return cdn(shared, &method, &path, authorization);
    }
    let (json, files) = read_body(parts, body, content_type.as_deref()).await;
    let route = parse_route(&method, &path);
    let bucket = route.bucket();

    let (index, plan) = shared.mutate(|s| {
        let index = s.rest_calls.len();
        s.rest_calls.push(RestCall {
            method: method.clone(),
            path: path.clone(),
            query: query.clone(),
            authorization: authorization.clone(),
            content_type: content_type.clone(),
            body: json.clone().unwrap_or(Value::Null),
            status: 0,
            at: Instant::now(),
        });
        (
            index,
            s.plan(&route, &method, &path, authorization.as_deref()),
        )
    });
    let serve = |s: &mut State| s.serve(&route, &method, query.as_deref(), &json, &files);
    let reply = match plan {
        Plan::Answer(reply) => Some(reply),
        Plan::Fault(RestFault::Drop) => None,
        Plan::Fault(RestFault::AnswerLost) => {
            let done = shared.mutate(serve);
            shared.mutate(|s| {
                if let Some(call) = s.rest_calls.get_mut(index) {
                    call.status = done.status;
                }
            });
            None
        }
        Plan::Fault(RestFault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Some(shared.mutate(serve))
        }
        Plan::Fault(fault) => Some(fault_reply(fault, &bucket)),
        Plan::Normal => Some(shared.mutate(serve)),
    };
    match reply {
        Some(reply) => {
            shared.mutate(|s| {
                if let Some(call) = s.rest_calls.get_mut(index) {
                    call.status = reply.status;
                }
            });
            into_response(reply, &bucket)
        }
        None => hang_up_now(hang_up).await,
    }
}

/// The CDN: `GET /attachments/…` answers a file added with
/// [`FakeDiscord::add_attachment`](super::FakeDiscord::add_attachment), else 404. Recorded
/// among the REST calls (with its `Authorization` header, which the real CDN does not need).
fn cdn(shared: &Shared, method: &str, path: &str, authorization: Option<String>) -> Response<Body> {
    let file = shared.mutate(|s| {
        let file = s.attachment_files.get(path).cloned();
        s.rest_calls.push(RestCall {
            method: method.to_owned(),
            path: path.to_owned(),
            query: None,
            authorization,
            content_type: None,
            body: Value::Null,
            status: if file.is_some() { 200 } else { 404 },
            at: Instant::now(),
        });
        file
    });
    let (status, body) = match (method, file) {
        ("GET", Some(bytes)) => (StatusCode::OK, Body::from(bytes)),
        _ => (StatusCode::NOT_FOUND, Body::empty()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

// ---------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------

/// `content` of a body: a string, or empty when absent or null.
fn content_of(body: &Map<String, Value>, prefix: &str) -> Result<String, Reply> {
    match body.get("content") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(Reply::form(
            &format!("{prefix}content"),
            "BASE_TYPE_STRING",
            "Must be a string.",
        )),
    }
}

fn array_len(body: &Map<String, Value>, key: &str) -> usize {
    body.get(key).and_then(Value::as_array).map_or(0, Vec::len)
}

/// Discord's checks on a message body (create, follow-up, callback data): content length,
/// embeds, `allowed_mentions`; with `require_something`, the empty-message check.
fn validate_message(
    body: &Map<String, Value>,
    files: usize,
    prefix: &str,
    require_something: bool,
) -> Result<String, Reply> {
    let content = content_of(body, prefix)?;
    if content.chars().count() > MAX_CONTENT_CHARS {
        return Err(Reply::form(
            &format!("{prefix}content"),
            "BASE_TYPE_MAX_LENGTH",
            &format!("Must be {MAX_CONTENT_CHARS} or fewer in length."),
        ));
    }
    if let Some(embeds) = body.get("embeds").filter(|e| !e.is_null()) {
        match embeds.as_array() {
            Some(list) if list.len() > 10 => {
                return Err(Reply::form(
                    &format!("{prefix}embeds"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 10 or fewer in length.",
                ));
            }
            Some(_) => {}
            None => {
                return Err(Reply::form(
                    &format!("{prefix}embeds"),
                    "BASE_TYPE_ARRAY",
                    "Must be an array.",
                ));
            }
        }
    }
    validate_allowed_mentions(body.get("allowed_mentions"), prefix)?;
    let something = !content.trim().is_empty()
        || array_len(body, "embeds") > 0
        || array_len(body, "sticker_ids") > 0
        || array_len(body, "components") > 0
        || body.get("poll").is_some_and(|p| !p.is_null())
        || files > 0;
    if require_something && !something {
        return Err(Reply::empty_message());
    }
    Ok(content)
}

/// A message's `nonce` (an integer or a string of at most 25 characters), as a string.
fn nonce_of(body: &Map<String, Value>) -> Result<Option<String>, Reply> {
    match body.get("nonce") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Some(Value::String(s)) if s.chars().count() <= MAX_NONCE_CHARS => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(Reply::form(
            "nonce",
            "BASE_TYPE_MAX_LENGTH",
            &format!("Must be {MAX_NONCE_CHARS} or fewer in length."),
        )),
        Some(_) => Err(Reply::form(
            "nonce",
            "NONCE_TYPE_INVALID",
            "Nonce must be an integer or a string.",
        )),
    }
}

fn validate_allowed_mentions(value: Option<&Value>, prefix: &str) -> Result<(), Reply> {
    let Some(Value::Object(am)) = value else {
        return Ok(());
    };
    let parse: Vec<&str> = am
        .get("parse")
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (i, kind) in parse.iter().enumerate() {
        if !["users", "roles", "everyone"].contains(kind) {
            return Err(Reply::form(
                &format!("{prefix}allowed_mentions.parse.{i}"),
                "ENUM_TYPE_COERCE",
                &format!("Value \"{kind}\" is not a valid enum value."),
            ));
        }
    }
    for kind in ["users", "roles"] {
        let listed = am.get(kind).and_then(Value::as_array);
        if parse.contains(&kind) && listed.is_some_and(|l| !l.is_empty()) {
            let ids: Vec<String> = listed
                .into_iter()
                .flatten()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect();
            return Err(Reply::form(
                &format!("{prefix}allowed_mentions"),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                &format!(
                    "parse:[\"{kind}\"] and {kind}: [{}] are mutually exclusive.",
                    ids.join(", ")
                ),
            ));
        }
        if listed.is_some_and(|l| l.len() > 100) {
            return Err(Reply::form(
                &format!("{prefix}allowed_mentions.{kind}"),
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            ));
        }
    }
    Ok(())
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn embeds_of(body: &Map<String, Value>) -> Vec<Value> {
    body.get("embeds")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    let mut e = e.clone();
                    if let Some(m) = e.as_object_mut() {
                        m.entry("type").or_insert_with(|| "rich".into());
                    }
                    e
                })
                .collect()
        })
        .unwrap_or_default()
}

fn flags_of(body: &Map<String, Value>) -> u64 {
    body.get("flags").and_then(Value::as_u64).unwrap_or(0) & SETTABLE_FLAGS
}

fn is_valid_command_name(name: &str, kind: u64) -> bool {
    let len = name.chars().count();
    if !(1..=32).contains(&len) {
        return false;
    }
    kind != 1
        || name
            .chars()
            .all(|c| (c.is_alphanumeric() || c == '-' || c == '_') && c.to_lowercase().eq([c]))
}

impl State {
    fn plan(&mut self, route: &Route, method: &str, path: &str, auth: Option<&str>) -> Plan {
        match route {
            Route::NotFound => return Plan::Answer(Reply::status_line(404)),
            Route::MethodNotAllowed => return Plan::Answer(Reply::status_line(405)),
            _ => {}
        }
        if route.needs_auth() {
            let token_ok = auth
                .and_then(|a| a.strip_prefix("Bot "))
                .is_some_and(|t| t.trim() == self.token);
            if !token_ok {
                return Plan::Answer(Reply::error(401, 0, "401: Unauthorized"));
            }
        }
        let pos = self
            .faults
            .iter()
            .position(|f| method_matches(&f.method, method) && path.starts_with(&f.path_prefix));
        match pos.and_then(|pos| self.faults.remove(pos)) {
            Some(queued) => Plan::Fault(queued.fault),
            None => Plan::Normal,
        }
    }

    fn serve(
        &mut self,
        route: &Route,
        method: &str,
        query: Option<&str>,
        json: &Result<Value, ()>,
        files: &[FilePart],
    ) -> Reply {
        let body = match json {
            Ok(Value::Object(m)) => m.clone(),
            Ok(_) => Map::new(),
            Err(()) if method == "GET" => Map::new(),
            Err(()) => return Reply::invalid_json(),
        };
        let raw = json.as_ref().ok();
        match (route, method) {
            (Route::Gateway, _) => Reply::ok(json!({ "url": self.gateway_url })),
            (Route::GatewayBot, _) => Reply::ok(json!({
                "url": self.gateway_url,
                "shards": self.shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000_u64.saturating_sub(self.session_starts),
                    "reset_after": 86_400_000,
                    "max_concurrency": 1,
                },
            })),
            (Route::Me, _) => Reply::ok(current_user_json(&self.bot)),
            (Route::CreateDm, _) => self.create_dm(&body),
            (Route::Application, _) => Reply::ok(application_json(
                self.application_id,
                &self.bot.name,
                &self.owner(),
                &self.bot,
            )),
            (Route::Commands { app, guild }, "GET") => self.get_commands(*app, *guild),
            (Route::Commands { app, guild }, "PUT") => self.put_commands(*app, *guild, raw),
            (Route::Commands { app, guild }, _) => self.post_command(*app, *guild, &body),
            (Route::Channel(channel), _) => match self.channel_json(*channel) {
                Some(channel) => Reply::ok(channel),
                None => Reply::unknown_channel(),
            },
            (Route::Messages(channel), "GET") => self.get_messages(*channel, query),
            (Route::Messages(channel), _) => self.create_message(*channel, &body, files),
            (Route::Message(channel, message), _) => match self.channels.get(channel) {
                None => Reply::unknown_channel(),
                Some(c) => match c.messages.get(message) {
                    Some(m) => Reply::ok(rest_view(m)),
                    None => Reply::unknown_message(),
                },
            },
            (Route::Typing(channel), _) => {
                if self.channels.contains_key(channel) {
                    Reply::no_content()
                } else {
                    Reply::unknown_channel()
                }
            }
            (Route::Callback { id, token }, _) => self.callback(*id, token, &body),
            (Route::Followup { app, token }, _) => self.followup(*app, token, &body, files),
            (Route::Original { app, token }, "GET") => match self.webhook(*app, token) {
                Ok(i) => match &i.original {
                    Some(m) => Reply::ok(m.clone()),
                    None => Reply::unknown_message(),
                },
                Err(reply) => reply,
            },
            (Route::Original { app, token }, _) => self.edit_original(*app, token, &body),
            (Route::BadSnowflake { field, value }, _) => Reply::form(
                field,
                "NUMBER_TYPE_COERCE",
                &format!("Value \"{value}\" is not snowflake."),
            ),
            (Route::NotFound, _) => Reply::status_line(404),
            (Route::MethodNotAllowed, _) => Reply::status_line(405),
        }
    }

    fn create_dm(&mut self, body: &Map<String, Value>) -> Reply {
        let Some(recipient) = parse_sf(body.get("recipient_id")) else {
            return Reply::form(
                "recipient_id",
                "BASE_TYPE_REQUIRED",
                "This field is required",
            );
        };
        let existing = self.channels.iter().find(|(_, c)| {
            c.guild_id.is_none() && c.recipient.as_ref().is_some_and(|u| u.id == recipient)
        });
        if let Some((id, _)) = existing {
            let id = *id;
            return self
                .channel_json(id)
                .map_or_else(Reply::unknown_channel, Reply::ok);
        }
        let Some(user) = self.users.get(&recipient).cloned() else {
            return Reply::error(400, 50033, "Invalid Recipient(s)");
        };
        let id = self.next_id();
        self.add_dm_channel(id, &user);
        self.channel_json(id)
            .map_or_else(Reply::unknown_channel, Reply::ok)
    }

    // -- messages -----------------------------------------------------------------------

    /// A message by the bot (or, for interaction responses, its application webhook).
    fn bot_message(
        &mut self,
        channel_id: u64,
        body: &Map<String, Value>,
        content: &str,
        files: &[FilePart],
        kind: u8,
    ) -> (u64, Map<String, Value>) {
        let id = self.next_id();
        let bot = self.bot.clone();
        let mut m = self.base_message(id, channel_id, &bot, content, kind);
        let attachments: Vec<Value> = files
            .iter()
            .map(|f| {
                let aid = self.next_id();
                let url = format!(
                    "https://cdn.discordapp.com/attachments/{channel_id}/{aid}/{}",
                    f.filename
                );
                json!({
                    "id": sf(aid), "filename": f.filename, "size": f.size,
                    "url": url, "proxy_url": url,
                    "content_type": f.content_type,
                })
            })
            .collect();
        m.insert("attachments".into(), Value::Array(attachments));
        m.insert("embeds".into(), Value::Array(embeds_of(body)));
        if let Some(tts) = body.get("tts").and_then(Value::as_bool) {
            m.insert("tts".into(), tts.into());
        }
        if let Some(nonce) = body.get("nonce").filter(|n| !n.is_null()) {
            m.insert("nonce".into(), nonce.clone());
        }
        m.insert("flags".into(), flags_of(body).into());
        (id, m)
    }

    fn create_message(
        &mut self,
        channel_id: u64,
        body: &Map<String, Value>,
        files: &[FilePart],
    ) -> Reply {
        if !self.channels.contains_key(&channel_id) {
            return Reply::unknown_channel();
        }
        let content = match validate_message(body, files.len(), "", true) {
            Ok(content) => content,
            Err(reply) => return reply,
        };
        let mut reply_to = None;
        if let Some(Value::Object(reference)) = body.get("message_reference") {
            let target = parse_sf(reference.get("message_id"));
            let exists = target.is_some_and(|id| self.referenced(channel_id, id).is_some());
            let other_channel =
                parse_sf(reference.get("channel_id")).is_some_and(|c| c != channel_id);
            let fail = reference
                .get("fail_if_not_exists")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            if exists && !other_channel {
                reply_to = target;
            } else if fail {
                return Reply::form(
                    "message_reference",
                    "REPLIES_UNKNOWN_MESSAGE",
                    "Unknown message",
                );
            }
        }
        let nonce = match nonce_of(body) {
            Ok(nonce) => nonce,
            Err(reply) => return reply,
        };
        let enforced =
            nonce.filter(|_| body.get("enforce_nonce").and_then(Value::as_bool) == Some(true));
        if let Some(earlier) = enforced.as_ref().and_then(|n| self.same_nonce(n)) {
            return Reply::ok(rest_view(&earlier));
        }
        let (id, mut m) = self.bot_message(channel_id, body, &content, files, 0);
        if let Some(to) = reply_to {
            self.make_reply(&mut m, channel_id, to);
        }
        let message = Value::Object(m);
        self.store(channel_id, id, message.clone());
        if let Some(nonce) = enforced {
            let now = Instant::now();
            self.nonces
                .retain(|_, (_, _, at)| now.duration_since(*at) < NONCE_WINDOW);
            self.nonces.insert(nonce, (id, channel_id, now));
        }
        self.created.push(CreatedMessage {
            id,
            channel_id,
            content,
            message_reference: reply_to,
            allowed_mentions: body.get("allowed_mentions").cloned(),
            files: files.iter().map(|f| f.filename.clone()).collect(),
            body: Value::Object(body.clone()),
            at: Instant::now(),
        });
        self.dispatch_message(channel_id, &message);
        Reply::ok(rest_view(&message))
    }

    /// The bot's message created with `enforce_nonce` and this nonce within the window.
    fn same_nonce(&self, nonce: &str) -> Option<Value> {
        let (id, channel_id, at) = *self.nonces.get(nonce)?;
        if at.elapsed() >= NONCE_WINDOW {
            return None;
        }
        self.channels.get(&channel_id)?.messages.get(&id).cloned()
    }

    fn get_messages(&self, channel_id: u64, query: Option<&str>) -> Reply {
        let Some(channel) = self.channels.get(&channel_id) else {
            return Reply::unknown_channel();
        };
        let mut limit = 50_usize;
        let (mut around, mut before, mut after) = (None, None, None);
        for (key, value) in query_pairs(query) {
            let snowflake = |field: &str| {
                value.trim().parse::<u64>().map_err(|_| {
                    Reply::form(
                        field,
                        "NUMBER_TYPE_COERCE",
                        &format!("Value \"{value}\" is not snowflake."),
                    )
                })
            };
            let parsed = match key.as_str() {
                "limit" => match value.trim().parse::<i64>() {
                    Ok(n) if n < 1 => Err(Reply::form(
                        "limit",
                        "NUMBER_TYPE_MIN",
                        "int value should be greater than or equal to 1.",
                    )),
                    Ok(n) if n > 100 => Err(Reply::form(
                        "limit",
                        "NUMBER_TYPE_MAX",
                        "int value should be less than or equal to 100.",
                    )),
                    Ok(n) => {
                        limit = usize::try_from(n).unwrap_or(50);
                        Ok(())
                    }
                    Err(_) => Err(Reply::form(
                        "limit",
                        "NUMBER_TYPE_COERCE",
                        &format!("Value \"{value}\" is not int."),
                    )),
                },
                "around" => snowflake("around").map(|id| around = Some(id)),
                "before" => snowflake("before").map(|id| before = Some(id)),
                "after" => snowflake("after").map(|id| after = Some(id)),
                _ => Ok(()),
            };
            if let Err(reply) = parsed {
                return reply;
            }
        }
        Reply::ok(Value::Array(select_history(
            channel, limit, around, before, after,
        )))
    }

    // -- commands -----------------------------------------------------------------------

    fn command_scope_ok(&self, app: u64, guild: Option<u64>) -> bool {
        app == self.application_id && guild.is_none_or(|g| self.guilds.contains_key(&g))
    }

    fn command_list(&self, guild: Option<u64>) -> &[Value] {
        match guild {
            Some(g) => self.guild_commands.get(&g).map_or(&[], Vec::as_slice),
            None => &self.global_commands,
        }
    }

    fn get_commands(&self, app: u64, guild: Option<u64>) -> Reply {
        if !self.command_scope_ok(app, guild) {
            return Reply::missing_access();
        }
        Reply::ok(Value::Array(self.command_list(guild).to_vec()))
    }

    /// Validates one command and gives it an id and version (kept from `existing` when
    /// the same name and type were registered; the version changes with the content).
    fn normalize_command(
        &mut self,
        input: &Value,
        path: &str,
        existing: &[Value],
        guild: Option<u64>,
    ) -> Result<Value, Reply> {
        let Some(c) = input.as_object() else {
            return Err(Reply::form(
                path.trim_end_matches('.'),
                "DICT_TYPE_CONVERT",
                "Only dictionaries may be used in a DictType",
            ));
        };
        let kind = c.get("type").and_then(Value::as_u64).unwrap_or(1);
        if !(1..=4).contains(&kind) {
            return Err(Reply::form(
                &format!("{path}type"),
                "ENUM_TYPE_COERCE",
                &format!("Value \"{kind}\" is not a valid enum value."),
            ));
        }
        let name = c.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            return Err(Reply::form(
                &format!("{path}name"),
                "BASE_TYPE_REQUIRED",
                "This field is required",
            ));
        }
        if !is_valid_command_name(name, kind) {
            return Err(Reply::form(
                &format!("{path}name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        let description = c.get("description").and_then(Value::as_str).unwrap_or("");
        let description = if kind == 1 {
            let len = description.chars().count();
            if !(1..=100).contains(&len) {
                return Err(Reply::form(
                    &format!("{path}description"),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            description
        } else {
            ""
        };
        let options = match c.get("options") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(list)) if kind == 1 && list.len() <= 25 => list.clone(),
            Some(Value::Array(_)) if kind == 1 => {
                return Err(Reply::form(
                    &format!("{path}options"),
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 25 or fewer in length.",
                ));
            }
            Some(Value::Array(_)) => Vec::new(),
            Some(_) => {
                return Err(Reply::form(
                    &format!("{path}options"),
                    "BASE_TYPE_ARRAY",
                    "Must be an array.",
                ));
            }
        };
        let field = |key: &str| c.get(key).cloned().unwrap_or(Value::Null);
        let mut out = Map::new();
        out.insert("application_id".into(), sf(self.application_id));
        out.insert(
            "default_member_permissions".into(),
            field("default_member_permissions"),
        );
        out.insert("type".into(), kind.into());
        out.insert("name".into(), name.into());
        out.insert("name_localizations".into(), field("name_localizations"));
        out.insert("description".into(), description.into());
        out.insert(
            "description_localizations".into(),
            field("description_localizations"),
        );
        match guild {
            Some(g) => {
                out.insert("guild_id".into(), sf(g));
            }
            None => {
                out.insert(
                    "dm_permission".into(),
                    c.get("dm_permission").cloned().unwrap_or(Value::Bool(true)),
                );
                out.insert("contexts".into(), field("contexts"));
                out.insert(
                    "integration_types".into(),
                    c.get("integration_types")
                        .filter(|v| !v.is_null())
                        .cloned()
                        .unwrap_or_else(|| json!([0])),
                );
            }
        }
        out.insert(
            "nsfw".into(),
            c.get("nsfw").cloned().unwrap_or(Value::Bool(false)),
        );
        if !options.is_empty() {
            out.insert("options".into(), Value::Array(options));
        }
        let previous = existing
            .iter()
            .find(|e| e["name"] == name && e["type"] == kind);
        let (id, version) = match previous {
            Some(prev) => {
                let id = prev["id"].clone();
                let same = {
                    let mut stripped = prev.clone();
                    if let Some(m) = stripped.as_object_mut() {
                        m.remove("id");
                        m.remove("version");
                    }
                    stripped == Value::Object(out.clone())
                };
                let version = if same {
                    prev["version"].clone()
                } else {
                    sf(self.next_id())
                };
                (id, version)
            }
            None => {
                let id = self.next_id();
                (sf(id), sf(id))
            }
        };
        out.insert("id".into(), id);
        out.insert("version".into(), version);
        Ok(Value::Object(out))
    }

    fn put_commands(&mut self, app: u64, guild: Option<u64>, body: Option<&Value>) -> Reply {
        if !self.command_scope_ok(app, guild) {
            return Reply::missing_access();
        }
        let list = match body {
            Some(Value::Array(list)) => list.clone(),
            Some(Value::Null) => Vec::new(),
            _ => {
                return Reply::json(
                    400,
                    json!({"message": "Invalid Form Body", "code": 50035, "errors": {"_errors": [{"code": "BASE_TYPE_ARRAY", "message": "Must be an array."}]}}),
                );
            }
        };
        let existing = self.command_list(guild).to_vec();
        let mut out: Vec<Value> = Vec::with_capacity(list.len());
        for (i, input) in list.iter().enumerate() {
            let command = match self.normalize_command(input, &format!("{i}."), &existing, guild) {
                Ok(command) => command,
                Err(reply) => return reply,
            };
            if out
                .iter()
                .any(|c| c["name"] == command["name"] && c["type"] == command["type"])
            {
                return Reply::form(
                    &format!("{i}.name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                );
            }
            out.push(command);
        }
        match guild {
            Some(g) => {
                self.guild_commands.insert(g, out.clone());
            }
            None => self.global_commands = out.clone(),
        }
        Reply::ok(Value::Array(out))
    }

    fn post_command(&mut self, app: u64, guild: Option<u64>, body: &Map<String, Value>) -> Reply {
        if !self.command_scope_ok(app, guild) {
            return Reply::missing_access();
        }
        let existing = self.command_list(guild).to_vec();
        let input = Value::Object(body.clone());
        let command = match self.normalize_command(&input, "", &existing, guild) {
            Ok(command) => command,
            Err(reply) => return reply,
        };
        let list = match guild {
            Some(g) => self.guild_commands.entry(g).or_default(),
            None => &mut self.global_commands,
        };
        let status = match list.iter_mut().find(|c| c["id"] == command["id"]) {
            Some(slot) => {
                *slot = command.clone();
                200
            }
            None => {
                list.push(command.clone());
                201
            }
        };
        Reply::json(status, command)
    }

    // -- interactions ---------------------------------------------------------------------

    fn interaction_metadata(&self, i: &InteractionState, original: Option<u64>) -> Value {
        let owners = match i.guild_id {
            Some(g) => json!({"0": sf(g)}),
            None => json!({"0": "0"}),
        };
        let mut m = Map::new();
        m.insert("id".into(), sf(i.id));
        m.insert("type".into(), 2.into());
        m.insert("name".into(), i.name.as_str().into());
        m.insert("command_type".into(), i.command_type.into());
        m.insert("user".into(), user_json(&i.user));
        m.insert("authorizing_integration_owners".into(), owners);
        if let Some(original) = original {
            m.insert("original_response_message_id".into(), sf(original));
        }
        if let Some(target) = i.target_id {
            m.insert("target_message_id".into(), sf(target));
        }
        Value::Object(m)
    }

    /// The message object of an interaction response or follow-up.
    fn interaction_message(
        &mut self,
        token: &str,
        body: &Map<String, Value>,
        content: &str,
        files: &[FilePart],
        extra_flags: u64,
        followup: bool,
    ) -> Option<(u64, Value, bool)> {
        let i = self.interactions.get(token)?;
        let channel_id = i.channel_id;
        let kind = if i.command_type == 1 { 20 } else { 23 };
        let original = if followup {
            i.original.as_ref().and_then(|o| parse_sf(o.get("id")))
        } else {
            None
        };
        let metadata = self.interaction_metadata(i, original);
        let (id, mut m) = self.bot_message(channel_id, body, content, files, kind);
        let flags = flags_of(body) | extra_flags;
        m.insert("flags".into(), flags.into());
        m.insert("webhook_id".into(), sf(self.application_id));
        m.insert("application_id".into(), sf(self.application_id));
        m.insert("interaction_metadata".into(), metadata);
        Some((id, Value::Object(m), flags & EPHEMERAL != 0))
    }

    fn callback(&mut self, id: u64, token: &str, body: &Map<String, Value>) -> Reply {
        let unknown = || Reply::error(404, 10062, "Unknown interaction");
        let Some(i) = self.interactions.get(token).filter(|i| i.id == id) else {
            return unknown();
        };
        if i.created.elapsed() > self.interaction_window {
            return unknown();
        }
        if i.responded.is_some() {
            return Reply::error(400, 40060, "Interaction has already been acknowledged.");
        }
        let Some(kind) = body.get("type").and_then(Value::as_u64) else {
            return Reply::form("type", "BASE_TYPE_REQUIRED", "This field is required");
        };
        if ![4, 5, 9, 10, 12].contains(&kind) {
            return Reply::form(
                "type",
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "Interaction response type is invalid for this interaction.",
            );
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let empty = Map::new();
        let data_map = data.as_object().unwrap_or(&empty);
        let content = match kind {
            4 => match validate_message(data_map, 0, "data.", true) {
                Ok(content) => content,
                Err(reply) => return reply,
            },
            5 => String::new(),
            _ => {
                if let Err(reply) = validate_message(data_map, 0, "data.", false) {
                    return reply;
                }
                String::new()
            }
        };
        if kind == 4 || kind == 5 {
            let loading = if kind == 5 { LOADING } else { 0 };
            let created = self.interaction_message(token, data_map, &content, &[], loading, false);
            if let Some((message_id, message, ephemeral)) = created {
                let channel_id = parse_sf(message.get("channel_id")).unwrap_or(0);
                if let Some(i) = self.interactions.get_mut(token) {
                    i.original = Some(message.clone());
                }
                if !ephemeral {
                    self.store(channel_id, message_id, message.clone());
                    self.dispatch_message(channel_id, &message);
                }
            }
        }
        if let Some(i) = self.interactions.get_mut(token) {
            i.responded = u8::try_from(kind).ok();
        }
        self.callbacks.push(InteractionCallback {
            interaction_id: id,
            token: token.to_owned(),
            kind: u8::try_from(kind).unwrap_or(0),
            data,
            at: Instant::now(),
        });
        Reply::no_content()
    }

    /// The interaction behind a webhook route.
    fn webhook(&self, app: u64, token: &str) -> Result<&InteractionState, Reply> {
        if app != self.application_id {
            return Err(Reply::unknown_webhook());
        }
        let Some(i) = self.interactions.get(token) else {
            return Err(Reply::unknown_webhook());
        };
        if i.created.elapsed() > INTERACTION_TOKEN_LIFETIME {
            return Err(Reply::error(401, 50027, "Invalid Webhook Token"));
        }
        Ok(i)
    }

    fn edit_original(&mut self, app: u64, token: &str, body: &Map<String, Value>) -> Reply {
        let original = match self.webhook(app, token) {
            Ok(i) => i.original.clone(),
            Err(reply) => return reply,
        };
        let Some(Value::Object(mut message)) = original else {
            return Reply::unknown_message();
        };
        if let Err(reply) = validate_message(body, 0, "", false) {
            return reply;
        }
        if body.contains_key("content") {
            let content = body.get("content").and_then(Value::as_str).unwrap_or("");
            message.insert("content".into(), content.into());
            let mentions = self.base_message(0, 0, &DcUser::new(0, ""), content, 0);
            for key in ["mentions", "mention_everyone"] {
                if let Some(v) = mentions.get(key) {
                    message.insert(key.into(), v.clone());
                }
            }
        }
        if body.contains_key("embeds") {
            message.insert("embeds".into(), Value::Array(embeds_of(body)));
        }
        let now_empty = message["content"]
            .as_str()
            .is_none_or(|c| c.trim().is_empty())
            && message["embeds"].as_array().is_none_or(Vec::is_empty)
            && message["attachments"].as_array().is_none_or(Vec::is_empty)
            && array_len(body, "components") == 0;
        if now_empty {
            return Reply::empty_message();
        }
        let flags = message.get("flags").and_then(Value::as_u64).unwrap_or(0);
        message.insert(
            "edited_timestamp".into(),
            if flags & LOADING != 0 {
                Value::Null
            } else {
                rfc3339(unix_ms()).into()
            },
        );
        message.insert("flags".into(), (flags & !LOADING).into());
        let message_id = parse_sf(message.get("id")).unwrap_or(0);
        let channel_id = parse_sf(message.get("channel_id")).unwrap_or(0);
        let message = Value::Object(message);
        if let Some(i) = self.interactions.get_mut(token) {
            i.original = Some(message.clone());
        }
        if flags & EPHEMERAL == 0 {
            self.store(channel_id, message_id, message.clone());
        }
        self.edits.push(InteractionEdit {
            token: token.to_owned(),
            message_id,
            content: body
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            body: Value::Object(body.clone()),
            at: Instant::now(),
        });
        Reply::ok(message)
    }

    fn followup(
        &mut self,
        app: u64,
        token: &str,
        body: &Map<String, Value>,
        files: &[FilePart],
    ) -> Reply {
        if let Err(reply) = self.webhook(app, token) {
            return reply;
        }
        let content = match validate_message(body, files.len(), "", true) {
            Ok(content) => content,
            Err(reply) => return reply,
        };
        let Some((message_id, message, ephemeral)) =
            self.interaction_message(token, body, &content, files, 0, true)
        else {
            return Reply::unknown_webhook();
        };
        let channel_id = parse_sf(message.get("channel_id")).unwrap_or(0);
        if !ephemeral {
            self.store(channel_id, message_id, message.clone());
            self.dispatch_message(channel_id, &message);
        }
        self.followups.push(InteractionEdit {
            token: token.to_owned(),
            message_id,
            content,
            body: Value::Object(body.clone()),
            at: Instant::now(),
        });
        Reply::ok(message)
    }
}

/// Discord's history selection; the result is newest first.
fn select_history(
    channel: &Channel,
    limit: usize,
    around: Option<u64>,
    before: Option<u64>,
    after: Option<u64>,
) -> Vec<Value> {
    let messages = &channel.messages;
    let mut out: Vec<Value> = if let Some(around) = around {
        let newer = limit / 2;
        let older = limit - newer;
        let mut list: Vec<Value> = messages
            .range(around.saturating_add(1)..)
            .take(newer)
            .map(|(_, m)| m.clone())
            .collect();
        list.reverse();
        list.extend(
            messages
                .range(..=around)
                .rev()
                .take(older)
                .map(|(_, m)| m.clone()),
        );
        list
    } else if let Some(before) = before {
        messages
            .range(..before)
            .rev()
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect()
    } else if let Some(after) = after {
        let mut list: Vec<Value> = messages
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(_, m)| m.clone())
            .collect();
        list.reverse();
        list
    } else {
        messages.values().rev().take(limit).cloned().collect()
    };
    out.truncate(limit);
    out.iter().map(rest_view).collect()
}

/// A message as the REST API shows it: without the gateway-only `guild_id` and `member`
/// (Discord sends those in `MESSAGE_CREATE` only), so clients must know a channel's guild
/// themselves.
fn rest_view(message: &Value) -> Value {
    let mut m = message.clone();
    if let Some(o) = m.as_object_mut() {
        o.remove("guild_id");
        o.remove("member");
    }
    m
}
