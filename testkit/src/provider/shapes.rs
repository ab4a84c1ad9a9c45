//! The four API shapes: reading a request ([`parse`]) and writing an answer
//! ([`render`], [`bad_request`], [`shutting_down`]).

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use serde_json::{Map, Value, json};

use super::{
    Api, Behavior, DEFAULT_MODEL, GARBAGE_BODY, INVALID_UTF8_CONTENT, RecordedRequest, Shared,
    approx_tokens, authorization, content_text, language_code, message_text, unix_now,
};

/// An answer before it is put on the wire.
pub(super) struct Rendered {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Rendered {
    fn json(status: StatusCode, value: &Value) -> Rendered {
        Rendered::raw(status, Bytes::from(value.to_string()))
    }

    /// `content-type: application/json` whatever the bytes are.
    fn raw(status: StatusCode, body: Bytes) -> Rendered {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Rendered {
            status,
            headers,
            body,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Reads a request of shape `api`. The second value is why the request is invalid, if
/// it is (it is recorded all the same).
pub(super) fn parse(
    api: Api,
    uri: &Uri,
    headers: &HeaderMap,
    bytes: &[u8],
    deployment: Option<String>,
) -> (RecordedRequest, Option<String>) {
    let (body, mut invalid) = match decode_body(api, headers, bytes) {
        Ok(body @ Value::Object(_)) => (body, None),
        Ok(other) => (
            other,
            Some("fake provider: request body must be a JSON object".to_owned()),
        ),
        Err(e) => (
            Value::Null,
            Some(format!(
                "fake provider: request body is not valid JSON: {e}"
            )),
        ),
    };
    let str_field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let last_user = || {
        messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(message_text)
    };

    let (system_text, user_text, texts, source_lang, target_lang);
    match api {
        Api::OpenAi | Api::Anthropic => {
            system_text = if api == Api::OpenAi {
                messages
                    .iter()
                    .find(|m| m.get("role").and_then(Value::as_str) == Some("system"))
                    .and_then(message_text)
            } else {
                body.get("system").and_then(content_text)
            };
            user_text = last_user();
            texts = user_text.iter().cloned().collect();
            source_lang = None;
            target_lang = system_text
                .as_deref()
                .and_then(language_code)
                .map(str::to_owned);
        }
        Api::DeepL | Api::LibreTranslate => {
            let (text_field, source_field, target_field) = if api == Api::DeepL {
                ("text", "source_lang", "target_lang")
            } else {
                ("q", "source", "target")
            };
            system_text = None;
            texts = string_list(body.get(text_field));
            user_text = (!texts.is_empty()).then(|| texts.join("\n"));
            source_lang = str_field(source_field);
            target_lang = str_field(target_field);
        }
    }

    if invalid.is_none() {
        invalid = validate(
            api,
            &body,
            &texts,
            source_lang.is_some(),
            target_lang.is_some(),
        );
    }
    let request = RecordedRequest {
        api,
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        headers: headers.clone(),
        authorization: authorization(headers),
        credential: credential(api, headers, &body),
        model: str_field("model"),
        deployment,
        system_text,
        user_text,
        texts,
        source_lang,
        target_lang,
        body,
    };
    (request, invalid)
}

/// JSON, or (DeepL and LibreTranslate) a form body turned into a JSON object.
fn decode_body(api: Api, headers: &HeaderMap, bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if is_form && matches!(api, Api::DeepL | Api::LibreTranslate) {
        Ok(form_to_json(bytes))
    } else {
        serde_json::from_slice(bytes)
    }
}

/// `a=1&b=2&b=3` as `{"a":"1","b":["2","3"]}`.
fn form_to_json(bytes: &[u8]) -> Value {
    let mut object = Map::new();
    for (key, value) in form_urlencoded::parse(bytes) {
        let value = Value::String(value.into_owned());
        match object.get_mut(key.as_ref()) {
            None => {
                object.insert(key.into_owned(), value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    Value::Object(object)
}

/// A string or a list of strings (other entries are skipped).
fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The fields each shape cannot do without, in the wording of the real services.
fn validate(
    api: Api,
    body: &Value,
    texts: &[String],
    has_source: bool,
    has_target: bool,
) -> Option<String> {
    let problem = match api {
        Api::OpenAi => return None,
        Api::Anthropic => {
            if !body.get("model").is_some_and(Value::is_string) {
                "model: Field required"
            } else if !body.get("max_tokens").is_some_and(Value::is_u64) {
                "max_tokens: Field required"
            } else if body
                .get("messages")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                "messages: Field required"
            } else {
                return None;
            }
        }
        Api::DeepL => {
            if texts.is_empty() {
                "Parameter 'text' not specified."
            } else if !has_target {
                "Parameter 'target_lang' not specified."
            } else {
                return None;
            }
        }
        Api::LibreTranslate => {
            if texts.is_empty() {
                "Invalid request: missing q parameter"
            } else if !has_source {
                "Invalid request: missing source parameter"
            } else if !has_target {
                "Invalid request: missing target parameter"
            } else {
                return None;
            }
        }
    };
    Some(problem.to_owned())
}

/// The credential the request carried, in the scheme its API uses (see
/// [`RecordedRequest::credential`]).
fn credential(api: Api, headers: &HeaderMap, body: &Value) -> Option<String> {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
    };
    let scheme = |scheme: &str| {
        let value = authorization(headers)?;
        let (given, rest) = value.trim().split_once(' ')?;
        given
            .eq_ignore_ascii_case(scheme)
            .then(|| rest.trim().to_owned())
    };
    let param = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
    match api {
        Api::OpenAi => header("api-key").or_else(|| scheme("Bearer")),
        Api::Anthropic => header("x-api-key").or_else(|| scheme("Bearer")),
        Api::DeepL => scheme("DeepL-Auth-Key")
            .or_else(|| param("auth_key"))
            .or_else(|| scheme("Bearer")),
        Api::LibreTranslate => param("api_key").or_else(|| scheme("Bearer")),
    }
}

// ---------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------

/// What a successful answer says.
#[derive(Clone, Copy)]
enum Content<'a> {
    /// `"[{code}] {text}"` for each text.
    Echo,
    /// This text for each text.
    Fixed(&'a str),
    /// Nothing at all.
    Empty,
}

/// The answer of a behavior that answers right away ([`Behavior::Truncated`] and
/// [`Behavior::ResetMidBody`] render the echo answer; the caller cuts it).
pub(super) fn render(shared: &Shared, request: &RecordedRequest, behavior: &Behavior) -> Rendered {
    let api = request.api;
    match behavior {
        Behavior::Echo | Behavior::Truncated | Behavior::ResetMidBody => {
            success(shared, request, Content::Echo)
        }
        Behavior::Reply(text) => success(shared, request, Content::Fixed(text)),
        Behavior::EmptyChoices => success(shared, request, Content::Empty),
        Behavior::InvalidUtf8 => {
            // Render with a placeholder, then splice the raw bytes in, keeping the
            // document otherwise well-formed.
            const PLACEHOLDER: &[u8] = b"__TOLMACH_TESTKIT_INVALID_UTF8__";
            let mut rendered = success(
                shared,
                request,
                Content::Fixed("__TOLMACH_TESTKIT_INVALID_UTF8__"),
            );
            rendered.body = Bytes::from(replace_all(
                &rendered.body,
                PLACEHOLDER,
                INVALID_UTF8_CONTENT,
            ));
            rendered
        }
        Behavior::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error(
                api,
                status,
                status_message(api, status),
                "server_error",
                None,
            )
        }
        Behavior::RateLimited { retry_after_secs } => {
            let message = match api {
                Api::OpenAi | Api::Anthropic => "fake rate limit",
                Api::DeepL | Api::LibreTranslate => {
                    status_message(api, StatusCode::TOO_MANY_REQUESTS)
                }
            };
            let mut rendered = error(
                api,
                StatusCode::TOO_MANY_REQUESTS,
                message,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
            );
            rendered
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            rendered
        }
        Behavior::Garbage => {
            Rendered::raw(StatusCode::OK, Bytes::from_static(GARBAGE_BODY.as_bytes()))
        }
        Behavior::WrongShape => Rendered::json(StatusCode::OK, &json!({ "foo": 1 })),
        // The caller resolves these first; answer sensibly anyway rather than panic.
        Behavior::Delay(_, then)
        | Behavior::RandomDelay { then, .. }
        | Behavior::Chance { then, .. }
        | Behavior::Drip { then, .. } => render(shared, request, then),
        Behavior::Hang => shutting_down(api),
    }
}

/// 400 in the shape's error format.
pub(super) fn bad_request(api: Api, message: &str) -> Rendered {
    error(
        api,
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        None,
    )
}

/// 503, for requests still waiting when the fake shuts down.
pub(super) fn shutting_down(api: Api) -> Rendered {
    error(
        api,
        StatusCode::SERVICE_UNAVAILABLE,
        "fake provider is shutting down",
        "server_error",
        None,
    )
}

/// An error answer in the shape's format; `openai_type` and `openai_code` fill OpenAI's
/// `type` and `code` (Anthropic's type follows the status).
fn error(
    api: Api,
    status: StatusCode,
    message: &str,
    openai_type: &str,
    openai_code: Option<&str>,
) -> Rendered {
    let body = match api {
        Api::OpenAi => {
            json!({ "error": { "message": message, "type": openai_type, "code": openai_code } })
        }
        Api::Anthropic => json!({
            "type": "error",
            "error": { "type": anthropic_error_type(status), "message": message },
        }),
        Api::DeepL => json!({ "message": message }),
        Api::LibreTranslate => json!({ "error": message }),
    };
    Rendered::json(status, &body)
}

/// Anthropic's `error.type` for an HTTP status.
pub(super) fn anthropic_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// The message of a [`Behavior::Status`] or [`Behavior::RateLimited`] error.
fn status_message(api: Api, status: StatusCode) -> &'static str {
    match (api, status.as_u16()) {
        (Api::OpenAi, _) => "fake error",
        (Api::Anthropic, 401) => "invalid x-api-key",
        (Api::Anthropic, 429) => "fake rate limit",
        (Api::Anthropic, 529) => "Overloaded",
        (Api::DeepL, 403) => "Authorization failure, check auth_key",
        (Api::DeepL, 429) => "Too many requests, please wait and resend your request.",
        (Api::DeepL, 456) => "Quota exceeded. The character limit has been reached.",
        (Api::LibreTranslate, 403) => "Invalid API key",
        (Api::LibreTranslate, 429) => "Too many request limits violation",
        _ => "fake error",
    }
}

/// A 200 answer saying `content` in the request's shape.
fn success(shared: &Shared, request: &RecordedRequest, content: Content<'_>) -> Rendered {
    let text_for = |text: &str| match content {
        Content::Echo => echo(request.target_lang.as_deref(), text),
        Content::Fixed(fixed) => fixed.to_owned(),
        Content::Empty => String::new(),
    };
    let user = request.user_text.as_deref().unwrap_or_default();
    let value = match request.api {
        Api::OpenAi => {
            if let Content::Empty = content {
                json!({
                    "id": shared.next_id("chatcmpl-fake-"),
                    "object": "chat.completion",
                    "created": unix_now(),
                    "model": model_of(request),
                    "choices": [],
                })
            } else {
                completion(shared, request, &text_for(user))
            }
        }
        Api::Anthropic => {
            let (blocks, output) = match content {
                Content::Empty => (json!([]), String::new()),
                _ => {
                    let text = text_for(user);
                    (json!([{ "type": "text", "text": text }]), text)
                }
            };
            let mut rendered = Rendered::json(
                StatusCode::OK,
                &anthropic_message(shared, request, blocks, &output),
            );
            if let Ok(id) = HeaderValue::from_str(&shared.next_id("req_fake_")) {
                rendered.headers.insert("request-id", id);
            }
            return rendered;
        }
        Api::DeepL => {
            let detected = request
                .source_lang
                .as_deref()
                .map_or_else(|| "EN".to_owned(), str::to_ascii_uppercase);
            let translations: Vec<Value> = match content {
                Content::Empty => Vec::new(),
                _ => request
                    .texts
                    .iter()
                    .map(|t| json!({ "detected_source_language": detected, "text": text_for(t) }))
                    .collect(),
            };
            json!({ "translations": translations })
        }
        Api::LibreTranslate => {
            let batch = request.body.get("q").is_some_and(Value::is_array);
            let auto = request
                .source_lang
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("auto"));
            let detected = json!({ "confidence": 90.0, "language": "en" });
            let mut answer = Map::new();
            if batch {
                let translated: Vec<Value> = match content {
                    Content::Empty => Vec::new(),
                    _ => request
                        .texts
                        .iter()
                        .map(|t| Value::String(text_for(t)))
                        .collect(),
                };
                if auto {
                    answer.insert(
                        "detectedLanguage".to_owned(),
                        Value::Array(vec![detected; translated.len()]),
                    );
                }
                answer.insert("translatedText".to_owned(), Value::Array(translated));
            } else {
                answer.insert("translatedText".to_owned(), Value::String(text_for(user)));
                if auto {
                    answer.insert("detectedLanguage".to_owned(), detected);
                }
            }
            Value::Object(answer)
        }
    };
    Rendered::json(StatusCode::OK, &value)
}

/// `"[{code}] {text}"`, the code lowercased, `??` without one.
fn echo(code: Option<&str>, text: &str) -> String {
    let code = code
        .filter(|c| !c.is_empty())
        .map_or_else(|| "??".to_owned(), str::to_ascii_lowercase);
    format!("[{code}] {text}")
}

/// The requested model, else the Azure deployment, else [`DEFAULT_MODEL`].
fn model_of(request: &RecordedRequest) -> &str {
    request
        .model
        .as_deref()
        .or(request.deployment.as_deref())
        .unwrap_or(DEFAULT_MODEL)
}

/// Words of every message (and Anthropic's `system`) in the request.
fn prompt_tokens(request: &RecordedRequest) -> u64 {
    let messages: u64 = request
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
    let system = match request.api {
        Api::Anthropic => request.system_text.as_deref().map_or(0, approx_tokens),
        _ => 0,
    };
    messages + system
}

/// A realistic `chat.completion` object with one choice.
fn completion(shared: &Shared, request: &RecordedRequest, content: &str) -> Value {
    let prompt_tokens = prompt_tokens(request);
    let completion_tokens = approx_tokens(content);
    json!({
        "id": shared.next_id("chatcmpl-fake-"),
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

/// A realistic Anthropic `message` object.
fn anthropic_message(
    shared: &Shared,
    request: &RecordedRequest,
    content: Value,
    output: &str,
) -> Value {
    json!({
        "id": shared.next_id("msg_fake_"),
        "type": "message",
        "role": "assistant",
        "model": model_of(request),
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {
            "input_tokens": prompt_tokens(request),
            "output_tokens": approx_tokens(output),
        },
    })
}

/// `haystack` with every `needle` replaced by `with`.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(pos) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..pos]);
        out.extend_from_slice(with);
        rest = &rest[pos + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}
