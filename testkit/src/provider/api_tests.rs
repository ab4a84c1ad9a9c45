//! Tests of the Anthropic, DeepL, LibreTranslate and Azure shapes, the fault behaviors,
//! outcome counting and the control routes.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::fault::Rng;
use super::*;

const WAIT: Duration = Duration::from_secs(10);

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A valid request of shape `api` asking to translate `text` into `target`.
fn request(fake: &FakeProvider, api: Api, text: &str, target: &str) -> reqwest::RequestBuilder {
    let client = client();
    match api {
        Api::OpenAi => client.post(fake.chat_completions_url()).json(&json!({
            "model": "gpt-test",
            "messages": [
                { "role": "system", "content": format!("Translate (language code: {target}).") },
                { "role": "user", "content": text },
            ],
        })),
        Api::Anthropic => client
            .post(fake.anthropic_messages_url())
            .header("x-api-key", "sk-ant-test")
            .header("anthropic-version", "2023-06-01")
            .json(&json!({
                "model": "claude-test",
                "max_tokens": 256,
                "system": format!("Translate (language code: {target})."),
                "messages": [{ "role": "user", "content": text }],
            })),
        Api::DeepL => client
            .post(fake.deepl_translate_url())
            .header(header::AUTHORIZATION, "DeepL-Auth-Key dl-key:fx")
            .json(&json!({ "text": [text], "target_lang": target })),
        Api::LibreTranslate => client.post(fake.libretranslate_url()).json(&json!({
            "q": text,
            "source": "auto",
            "target": target,
            "api_key": "lt-key",
        })),
    }
}

async fn send(fake: &FakeProvider, api: Api, text: &str, target: &str) -> reqwest::Response {
    request(fake, api, text, target).send().await.unwrap()
}

/// The translated texts of a success answer of shape `api`.
fn texts_of(api: Api, v: &Value) -> Vec<String> {
    let strings = |items: &Value, key: Option<&str>| -> Vec<String> {
        items
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .iter()
            .map(|item| {
                let item = key.map_or(item, |k| &item[k]);
                item.as_str().unwrap_or_else(|| panic!("{v}")).to_owned()
            })
            .collect()
    };
    match api {
        Api::OpenAi => v["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["message"]["content"].as_str().unwrap().to_owned())
            .collect(),
        Api::Anthropic => strings(&v["content"], Some("text")),
        Api::DeepL => strings(&v["translations"], Some("text")),
        Api::LibreTranslate => match &v["translatedText"] {
            Value::String(s) => vec![s.clone()],
            list => strings(list, None),
        },
    }
}

/// The message of an error answer of shape `api`, checking the shape on the way.
fn error_of(api: Api, v: &Value) -> String {
    let message = match api {
        Api::OpenAi => {
            assert!(v["error"]["type"].is_string(), "{v}");
            &v["error"]["message"]
        }
        Api::Anthropic => {
            assert_eq!(v["type"], "error", "{v}");
            assert!(v["error"]["type"].is_string(), "{v}");
            &v["error"]["message"]
        }
        Api::DeepL => &v["message"],
        Api::LibreTranslate => &v["error"],
    };
    message
        .as_str()
        .unwrap_or_else(|| panic!("no error message in {v}"))
        .to_owned()
}

async fn json_of(resp: reqwest::Response) -> Value {
    resp.json().await.unwrap()
}

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn anthropic_messages_echo_and_recording() {
    let fake = FakeProvider::start().await.unwrap();
    let body = json!({
        "model": "claude-test",
        "max_tokens": 512,
        "temperature": 0,
        "system": [{ "type": "text", "text": "Into German (language code: DE)." }],
        "messages": [
            { "role": "user", "content": "first" },
            { "role": "assistant", "content": "x" },
            { "role": "user", "content": [{ "type": "text", "text": "good " }, { "type": "text", "text": "morning" }] },
        ],
    });
    let resp = client()
        .post(fake.anthropic_messages_url())
        .header("x-api-key", "sk-ant-1")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert!(
        resp.headers()["request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_fake_")
    );
    let v = json_of(resp).await;
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-test");
    assert!(v["id"].as_str().unwrap().starts_with("msg_fake_"));
    assert_eq!(
        v["content"],
        json!([{ "type": "text", "text": "[de] good morning" }])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    // System (5 words) + messages (1 + 1 + 2).
    assert_eq!(v["usage"]["input_tokens"], 9);
    assert_eq!(v["usage"]["output_tokens"], 3);

    let r = &fake.requests()[0];
    assert_eq!(r.api, Api::Anthropic);
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.query, None);
    assert_eq!(r.credential.as_deref(), Some("sk-ant-1"));
    assert_eq!(r.authorization, None);
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.model.as_deref(), Some("claude-test"));
    assert_eq!(
        r.system_text.as_deref(),
        Some("Into German (language code: DE).")
    );
    assert_eq!(r.user_text.as_deref(), Some("good morning"));
    assert_eq!(r.texts, ["good morning"]);
    assert_eq!(r.target_lang.as_deref(), Some("DE"));
    assert_eq!(r.source_lang, None);
    assert_eq!(r.body, body);

    // `/messages` too, and a bearer token counts as the credential.
    let resp = client()
        .post(format!("{}/messages", fake.root_url()))
        .bearer_auth("oauth-token")
        .json(&json!({
            "model": "m",
            "max_tokens": 1,
            "messages": [{ "role": "user", "content": "hi" }],
        }))
        .send()
        .await
        .unwrap();
    let v = json_of(resp).await;
    assert_eq!(texts_of(Api::Anthropic, &v), ["[??] hi"]);
    let r = &fake.requests()[1];
    assert_eq!(r.path, "/messages");
    assert_eq!(r.credential.as_deref(), Some("oauth-token"));
}

#[tokio::test]
async fn anthropic_errors_follow_the_status() {
    let fake = FakeProvider::start().await.unwrap();
    for (status, kind) in [
        (529, "overloaded_error"),
        (500, "api_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (429, "rate_limit_error"),
        (400, "invalid_request_error"),
    ] {
        fake.push_script([Behavior::Status(status)]);
        let resp = send(&fake, Api::Anthropic, "x", "de").await;
        assert_eq!(resp.status(), status);
        let v = json_of(resp).await;
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{status}");
        assert!(v["error"]["message"].is_string());
    }

    fake.push_script([Behavior::RateLimited {
        retry_after_secs: 4,
    }]);
    let resp = send(&fake, Api::Anthropic, "x", "de").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "4");
    assert_eq!(json_of(resp).await["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn anthropic_rejects_requests_the_real_api_rejects() {
    let fake = FakeProvider::start().await.unwrap();
    fake.push_script([Behavior::reply("kept")]);
    for (body, missing) in [
        (
            json!({ "model": "m", "messages": [{ "role": "user", "content": "x" }] }),
            "max_tokens",
        ),
        (
            json!({ "max_tokens": 5, "messages": [{ "role": "user", "content": "x" }] }),
            "model",
        ),
        (
            json!({ "model": "m", "max_tokens": 5, "messages": [] }),
            "messages",
        ),
    ] {
        let resp = client()
            .post(fake.anthropic_messages_url())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let v = json_of(resp).await;
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(error_of(Api::Anthropic, &v).starts_with(missing), "{v}");
    }
    let resp = client()
        .post(fake.anthropic_messages_url())
        .header(header::CONTENT_TYPE, "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(resp).await["type"], "error");

    // Recorded, but the script was not consumed.
    assert_eq!(fake.request_count(), 4);
    assert_eq!(fake.requests()[3].body, Value::Null);
    assert_eq!(fake.script_len(), 1);
    let v = json_of(send(&fake, Api::Anthropic, "x", "de").await).await;
    assert_eq!(texts_of(Api::Anthropic, &v), ["kept"]);
}

#[tokio::test]
async fn deepl_json_and_form_bodies() {
    let fake = FakeProvider::start().await.unwrap();
    let body = json!({
        "text": ["Hallo", "Welt"],
        "target_lang": "EN-GB",
        "source_lang": "de",
        "formality": "less",
    });
    let resp = client()
        .post(fake.deepl_translate_url())
        .header(header::AUTHORIZATION, "DeepL-Auth-Key abc:fx")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        json_of(resp).await,
        json!({ "translations": [
            { "detected_source_language": "DE", "text": "[en-gb] Hallo" },
            { "detected_source_language": "DE", "text": "[en-gb] Welt" },
        ] })
    );
    let r = &fake.requests()[0];
    assert_eq!(r.api, Api::DeepL);
    assert_eq!(r.path, "/v2/translate");
    assert_eq!(r.credential.as_deref(), Some("abc:fx"));
    assert_eq!(r.authorization.as_deref(), Some("DeepL-Auth-Key abc:fx"));
    assert_eq!(r.texts, ["Hallo", "Welt"]);
    assert_eq!(r.user_text.as_deref(), Some("Hallo\nWelt"));
    assert_eq!(r.target_lang.as_deref(), Some("EN-GB"));
    assert_eq!(r.source_lang.as_deref(), Some("de"));
    assert_eq!(r.body, body);

    // Form-encoded, as DeepL's older clients send it; no source: detected as EN.
    let resp = client()
        .post(fake.deepl_translate_url())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("text=ol%C3%A1+mundo&text=tchau&target_lang=PT-BR&auth_key=legacy")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = json_of(resp).await;
    assert_eq!(
        texts_of(Api::DeepL, &v),
        ["[pt-br] olá mundo", "[pt-br] tchau"]
    );
    assert_eq!(v["translations"][0]["detected_source_language"], "EN");
    let r = &fake.requests()[1];
    assert_eq!(r.texts, ["olá mundo", "tchau"]);
    assert_eq!(r.credential.as_deref(), Some("legacy"));
    assert_eq!(
        r.body,
        json!({ "text": ["olá mundo", "tchau"], "target_lang": "PT-BR", "auth_key": "legacy" })
    );
}

#[tokio::test]
async fn deepl_errors_and_empty_answers() {
    let fake = FakeProvider::start().await.unwrap();
    for (status, message) in [
        (456, "Quota exceeded. The character limit has been reached."),
        (403, "Authorization failure, check auth_key"),
        (500, "fake error"),
    ] {
        fake.push_script([Behavior::Status(status)]);
        let resp = send(&fake, Api::DeepL, "x", "DE").await;
        assert_eq!(resp.status(), status);
        assert_eq!(json_of(resp).await, json!({ "message": message }));
    }
    fake.push_script([Behavior::EmptyChoices]);
    let v = json_of(send(&fake, Api::DeepL, "x", "DE").await).await;
    assert_eq!(v, json!({ "translations": [] }));

    // Invalid requests: DeepL's error format, 400, script untouched.
    fake.push_script([Behavior::Status(502)]);
    for body in [
        json!({ "target_lang": "DE" }),
        json!({ "text": [], "target_lang": "DE" }),
        json!({ "text": ["x"] }),
    ] {
        let resp = client()
            .post(fake.deepl_translate_url())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let message = error_of(Api::DeepL, &json_of(resp).await);
        assert!(message.starts_with("Parameter '"), "{message}");
    }
    assert_eq!(fake.script_len(), 1);
}

#[tokio::test]
async fn libretranslate_single_batch_and_form() {
    let fake = FakeProvider::start().await.unwrap();
    let resp = send(&fake, Api::LibreTranslate, "hello", "DE").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        json_of(resp).await,
        json!({
            "translatedText": "[de] hello",
            "detectedLanguage": { "confidence": 90.0, "language": "en" },
        })
    );
    let r = &fake.requests()[0];
    assert_eq!(r.api, Api::LibreTranslate);
    assert_eq!(r.path, "/translate");
    assert_eq!(r.credential.as_deref(), Some("lt-key"));
    assert_eq!(r.source_lang.as_deref(), Some("auto"));
    assert_eq!(r.target_lang.as_deref(), Some("DE"));
    assert_eq!(r.user_text.as_deref(), Some("hello"));

    // A known source: no detectedLanguage. A list of q: a list of translations.
    let resp = client()
        .post(fake.libretranslate_url())
        .json(&json!({ "q": ["a", "b"], "source": "en", "target": "fr", "format": "text" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        json!({ "translatedText": ["[fr] a", "[fr] b"] })
    );

    let resp = client()
        .post(fake.libretranslate_url())
        .form(&[
            ("q", "ciao"),
            ("source", "it"),
            ("target", "en"),
            ("api_key", "k2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        json!({ "translatedText": "[en] ciao" })
    );
    assert_eq!(fake.requests()[2].credential.as_deref(), Some("k2"));

    fake.push_script([Behavior::EmptyChoices]);
    let v = json_of(send(&fake, Api::LibreTranslate, "x", "de").await).await;
    assert_eq!(v["translatedText"], "");
}

#[tokio::test]
async fn libretranslate_errors() {
    let fake = FakeProvider::start().await.unwrap();
    for (status, message) in [
        (403, "Invalid API key"),
        (429, "Too many request limits violation"),
        (500, "fake error"),
    ] {
        fake.push_script([Behavior::Status(status)]);
        let resp = send(&fake, Api::LibreTranslate, "x", "de").await;
        assert_eq!(resp.status(), status);
        assert_eq!(json_of(resp).await, json!({ "error": message }));
    }
    for (body, missing) in [
        (json!({ "source": "en", "target": "de" }), "q"),
        (json!({ "q": "x", "target": "de" }), "source"),
        (json!({ "q": "x", "source": "en" }), "target"),
    ] {
        let resp = client()
            .post(fake.libretranslate_url())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_eq!(
            json_of(resp).await,
            json!({ "error": format!("Invalid request: missing {missing} parameter") })
        );
    }
}

#[tokio::test]
async fn azure_deployment_route() {
    let fake = FakeProvider::start().await.unwrap();
    let url = fake.azure_chat_completions_url("gpt4o-prod", "2024-10-21");
    assert_eq!(
        url,
        format!(
            "http://{}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21",
            fake.addr()
        )
    );
    let resp = client()
        .post(&url)
        .header("api-key", "azure-key")
        .json(&json!({ "messages": [
            { "role": "system", "content": "(language code: uk)" },
            { "role": "user", "content": "hi" },
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v = json_of(resp).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(texts_of(Api::OpenAi, &v), ["[uk] hi"]);
    // Azure requests name no model: the deployment stands in.
    assert_eq!(v["model"], "gpt4o-prod");

    let r = &fake.requests()[0];
    assert_eq!(r.api, Api::OpenAi);
    assert_eq!(r.path, "/openai/deployments/gpt4o-prod/chat/completions");
    assert_eq!(r.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(r.deployment.as_deref(), Some("gpt4o-prod"));
    assert_eq!(r.credential.as_deref(), Some("azure-key"));
    assert_eq!(r.model, None);
    assert_eq!(r.target_lang.as_deref(), Some("uk"));

    // Plain OpenAI: the bearer token is the credential, no query, no deployment.
    let resp = client()
        .post(fake.chat_completions_url())
        .bearer_auth("sk-1")
        .json(&json!({ "messages": [{ "role": "user", "content": "x" }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r = &fake.requests()[1];
    assert_eq!(r.credential.as_deref(), Some("sk-1"));
    assert_eq!(r.query, None);
    assert_eq!(r.deployment, None);
}

#[tokio::test]
async fn every_shape_echoes_replies_and_fails_in_its_own_format() {
    let fake = FakeProvider::start().await.unwrap();
    for api in Api::ALL {
        let v = json_of(send(&fake, api, "Guten Tag", "EN-US").await).await;
        assert_eq!(texts_of(api, &v), ["[en-us] Guten Tag"], "{api}");
        let r = fake.requests().pop().unwrap();
        assert_eq!(r.api, api);
        assert_eq!(r.user_text.as_deref(), Some("Guten Tag"), "{api}");
        assert_eq!(r.texts, ["Guten Tag"], "{api}");
        assert_eq!(r.target_lang.as_deref(), Some("EN-US"), "{api}");

        fake.push_script([
            Behavior::reply("fixed"),
            Behavior::Status(503),
            Behavior::RateLimited {
                retry_after_secs: 9,
            },
            Behavior::WrongShape,
            Behavior::Garbage,
            Behavior::InvalidUtf8,
        ]);
        let v = json_of(send(&fake, api, "x", "de").await).await;
        assert_eq!(texts_of(api, &v), ["fixed"], "{api}");

        let resp = send(&fake, api, "x", "de").await;
        assert_eq!(resp.status(), 503, "{api}");
        let message = error_of(api, &json_of(resp).await);
        assert!(!message.is_empty());

        let resp = send(&fake, api, "x", "de").await;
        assert_eq!(resp.status(), 429, "{api}");
        assert_eq!(resp.headers()[header::RETRY_AFTER], "9", "{api}");
        error_of(api, &json_of(resp).await);

        let resp = send(&fake, api, "x", "de").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(json_of(resp).await, json!({ "foo": 1 }), "{api}");

        let resp = send(&fake, api, "x", "de").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), GARBAGE_BODY, "{api}");

        let bytes = send(&fake, api, "x", "de").await.bytes().await.unwrap();
        assert!(std::str::from_utf8(&bytes).is_err(), "{api}");
        let lossy: Value = serde_json::from_str(&String::from_utf8_lossy(&bytes)).unwrap();
        assert_eq!(
            texts_of(api, &lossy),
            [String::from_utf8_lossy(INVALID_UTF8_CONTENT)],
            "{api}"
        );

        fake.push_script([Behavior::EmptyChoices]);
        let v = json_of(send(&fake, api, "x", "de").await).await;
        let empty = match api {
            Api::OpenAi => v["choices"] == json!([]),
            Api::Anthropic => v["content"] == json!([]) && v["type"] == "message",
            Api::DeepL => v["translations"] == json!([]),
            Api::LibreTranslate => v["translatedText"] == "",
        };
        assert!(empty, "{api}: {v}");
    }
    assert_eq!(fake.request_count(), 4 * 8);
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn truncated_is_a_clean_exchange_with_half_a_document() {
    let fake = FakeProvider::start().await.unwrap();
    for api in Api::ALL {
        let whole = send(&fake, api, "some text to translate", "de")
            .await
            .bytes()
            .await
            .unwrap();
        fake.push_script([Behavior::Truncated]);
        let resp = send(&fake, api, "some text to translate", "de").await;
        assert_eq!(resp.status(), 200);
        let length: usize = resp.headers()[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let bytes = resp.bytes().await.unwrap();
        assert_eq!(bytes.len(), length, "{api}");
        assert!(
            bytes.len() < whole.len() && bytes.len() * 2 + 2 >= whole.len(),
            "{api}"
        );
        let err = serde_json::from_slice::<Value>(&bytes).unwrap_err();
        assert!(err.is_eof(), "{api}: {err}");
        assert!(bytes.starts_with(b"{"), "{api}");
    }
    let stats = fake.stats();
    assert_eq!(stats.total().completed, 8);
    assert_eq!(stats.total().reset, 0);
}

#[tokio::test]
async fn reset_mid_body_fails_the_body_read() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_behavior(Behavior::ResetMidBody);
    for api in Api::ALL {
        let resp = send(&fake, api, "text", "de").await;
        assert_eq!(resp.status(), 200, "{api}");
        assert!(
            resp.content_length().unwrap() > 20,
            "{api}: {:?}",
            resp.headers()
        );
        let err = resp.bytes().await.unwrap_err();
        assert!(err.is_body() || err.is_decode(), "{api}: {err:?}");
    }
    let stats = fake.stats();
    for api in Api::ALL {
        let s = stats.api(api);
        assert_eq!(
            (s.requests, s.reset, s.completed, s.abandoned),
            (1, 1, 0, 0)
        );
    }
}

/// Reads a raw HTTP/1 exchange until the connection ends; the error, if it ended with one.
async fn raw_exchange(fake: &FakeProvider, body: &str) -> (Vec<u8>, Option<std::io::Error>) {
    let mut stream = TcpStream::connect(fake.addr()).await.unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, stream.read(&mut buf))
            .await
            .unwrap()
        {
            Ok(0) => return (received, None),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => return (received, Some(e)),
        }
    }
}

#[tokio::test]
async fn reset_mid_body_is_a_tcp_reset_after_half_the_body() {
    let fake = FakeProvider::start().await.unwrap();
    let body = r#"{"messages":[{"role":"user","content":"hello there"}]}"#;

    // The same request answered in full, for comparison: a clean end of stream.
    let (whole, error) = raw_exchange(&fake, body).await;
    assert!(error.is_none(), "{error:?}");
    let whole = String::from_utf8(whole).unwrap();
    let (_, whole_body) = whole.split_once("\r\n\r\n").unwrap();

    fake.set_behavior(Behavior::ResetMidBody);
    let (received, error) = raw_exchange(&fake, body).await;
    let error = error.expect("the connection ended cleanly");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset, "{error}");
    let received = String::from_utf8(received).unwrap();
    let (head, partial) = received.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, whole_body.len());
    assert!(!partial.is_empty() && partial.len() < length, "{partial}");
    // The part that was sent is the start of a real answer (ids differ by one digit).
    assert_eq!(&partial[..20], &whole_body[..20]);
    assert_eq!(fake.stats().openai.reset, 1);
}

#[tokio::test]
async fn drip_sends_the_body_slowly_in_small_chunks() {
    let fake = FakeProvider::start().await.unwrap();
    let interval = Duration::from_millis(15);
    for api in Api::ALL {
        fake.push_script([Behavior::drip(interval, Behavior::Echo)]);
        let started = Instant::now();
        let mut resp = send(&fake, api, "drip drop", "de").await;
        assert_eq!(resp.status(), 200);
        let length = resp.content_length().unwrap() as usize;
        let mut body = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = resp.chunk().await.unwrap() {
            assert!(chunk.len() <= length);
            body.extend_from_slice(&chunk);
            chunks += 1;
        }
        let elapsed = started.elapsed();
        assert_eq!(body.len(), length);
        let expected_chunks = length.div_ceil(DRIP_CHUNK_BYTES);
        assert!(expected_chunks > 4, "{api}: {length}");
        // The fake pauses between chunks, so the client cannot get them all at once.
        assert!(chunks > 1, "{api}: one chunk");
        assert!(
            elapsed >= interval * (expected_chunks as u32 - 1),
            "{api}: {elapsed:?} for {expected_chunks} chunks"
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(texts_of(api, &v), ["[de] drip drop"]);
    }
    assert_eq!(fake.completed(), 4);

    // The status and headers of the wrapped behavior are kept.
    fake.push_script([Behavior::drip(
        Duration::from_millis(1),
        Behavior::RateLimited {
            retry_after_secs: 3,
        },
    )]);
    let resp = send(&fake, Api::DeepL, "x", "de").await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()[header::RETRY_AFTER], "3");
    assert_eq!(
        error_of(Api::DeepL, &json_of(resp).await),
        "Too many requests, please wait and resend your request."
    );
}

#[tokio::test]
async fn drip_of_a_reset_sends_half_then_resets() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_behavior(Behavior::drip(
        Duration::from_millis(1),
        Behavior::ResetMidBody,
    ));
    let mut resp = send(&fake, Api::OpenAi, "x", "de").await;
    assert_eq!(resp.status(), 200);
    let mut got = 0;
    let err = loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => got += chunk.len(),
            Ok(None) => panic!("clean end after {got} bytes"),
            Err(e) => break e,
        }
    };
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert!(got > DRIP_CHUNK_BYTES, "{got}");
    assert_eq!(fake.stats().openai.reset, 1);
}

#[tokio::test]
async fn client_dropping_a_hanging_request_is_seen_as_abandoned() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_behavior(Behavior::Hang);
    for (n, api) in Api::ALL.into_iter().enumerate() {
        let pending = request(&fake, api, "x", "de").send();
        let task = tokio::spawn(pending);
        tokio::time::timeout(WAIT, fake.wait_for_requests(n + 1))
            .await
            .unwrap();
        assert_eq!(fake.abandoned(), n);
        assert_eq!(fake.stats().api(api).in_flight(), 1);
        // Dropping the request future closes its connection; hyper notices and drops the
        // handler.
        task.abort();
        assert!(task.await.unwrap_err().is_cancelled());
        tokio::time::timeout(WAIT, fake.wait_for_abandoned(n + 1))
            .await
            .expect("the fake did not see the client go away");
        let s = fake.stats().api(api);
        assert_eq!(
            (s.requests, s.abandoned, s.completed, s.in_flight()),
            (1, 1, 0, 0)
        );
    }
}

#[tokio::test]
async fn client_timeout_during_a_delay_is_abandoned() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_behavior(Behavior::random_delay(
        Duration::from_secs(3600),
        Duration::from_secs(7200),
        Behavior::Echo,
    ));
    let err = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap()
        .post(fake.deepl_translate_url())
        .json(&json!({ "text": ["x"], "target_lang": "DE" }))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    tokio::time::timeout(WAIT, fake.wait_for_abandoned(1))
        .await
        .unwrap();
    assert_eq!(fake.stats().deepl.abandoned, 1);
}

#[tokio::test]
async fn client_dropping_a_dripping_body_is_abandoned() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_behavior(Behavior::drip(Duration::from_millis(50), Behavior::Echo));
    let mut resp = send(
        &fake,
        Api::Anthropic,
        "a longer text to make the body long",
        "de",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(first.len() <= DRIP_CHUNK_BYTES);
    assert_eq!(fake.stats().anthropic.in_flight(), 1);
    drop(resp);
    tokio::time::timeout(WAIT, fake.wait_for_abandoned(1))
        .await
        .expect("the fake did not see the client go away");
    assert_eq!(fake.completed(), 0);
}

#[tokio::test]
async fn outcomes_are_counted_per_shape() {
    let fake = FakeProvider::start().await.unwrap();
    for api in Api::ALL {
        assert_eq!(send(&fake, api, "x", "de").await.status(), 200);
    }
    fake.push_script([Behavior::Status(500)]);
    send(&fake, Api::DeepL, "x", "de")
        .await
        .bytes()
        .await
        .unwrap();
    // Invalid requests are answered too.
    client()
        .post(fake.libretranslate_url())
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    fake.wait_for_completed(6).await;
    let stats = fake.stats();
    assert_eq!(
        stats.openai,
        ApiStats {
            requests: 1,
            completed: 1,
            abandoned: 0,
            reset: 0
        }
    );
    assert_eq!(stats.anthropic.completed, 1);
    assert_eq!(stats.deepl.completed, 2);
    assert_eq!(stats.libretranslate.completed, 2);
    assert_eq!(stats.total().requests, 6);
    assert_eq!(stats.total().in_flight(), 0);
    assert_eq!(fake.completed(), 6);
    assert_eq!(fake.abandoned(), 0);
}

#[tokio::test]
async fn hanging_requests_are_released_in_their_shape_on_drop() {
    let fake = FakeProvider::start().await.unwrap();
    fake.set_behavior(Behavior::Hang);
    let task = tokio::spawn(request(&fake, Api::Anthropic, "x", "de").send());
    fake.wait_for_requests(1).await;
    drop(fake);
    let resp = tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(json_of(resp).await["type"], "error");
}

/// Statuses of `n` sequential requests to a fake with `seed` flipping `p` coins.
async fn coin_flips(seed: u64, p: f64, n: usize) -> Vec<u16> {
    let fake = FakeProvider::start_with_seed(seed).await.unwrap();
    assert_eq!(fake.seed(), seed);
    fake.set_behavior(Behavior::chance(p, Behavior::Status(500), Behavior::Echo));
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        statuses.push(send(&fake, Api::OpenAi, "x", "de").await.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn chance_is_reproducible_and_has_the_right_rate() {
    let a = coin_flips(42, 0.3, 200).await;
    let failures = a.iter().filter(|&&s| s == 500).count();
    // Mean 60, standard deviation about 6.5.
    assert!((35..=85).contains(&failures), "{failures}");
    assert!(a.iter().all(|&s| s == 500 || s == 200));
    assert_eq!(coin_flips(42, 0.3, 200).await, a);
    assert_ne!(coin_flips(43, 0.3, 200).await, a);
    assert!(coin_flips(1, 0.0, 50).await.iter().all(|&s| s == 200));
    assert!(coin_flips(1, 1.0, 50).await.iter().all(|&s| s == 500));
}

/// Sends 32 requests after `set_seed(seed)`, checking each coin flip against the
/// generator the request should have drawn from.
async fn flips_after_set_seed(fake: &FakeProvider, seed: u64) -> Vec<StatusCode> {
    fake.set_seed(seed);
    let first = fake.request_count() as u64;
    let mut statuses = Vec::new();
    for i in 0..32 {
        let status = send(fake, Api::OpenAi, "x", "de").await.status();
        let expected = Rng::for_request(seed, first + i).chance(0.5);
        assert_eq!(status == 500, expected, "request {}", first + i);
        statuses.push(status);
    }
    statuses
}

#[tokio::test]
async fn set_seed_applies_to_following_requests() {
    let fake = FakeProvider::start().await.unwrap();
    assert_eq!(fake.seed(), DEFAULT_SEED);
    fake.set_behavior(Behavior::chance(0.5, Behavior::Status(500), Behavior::Echo));
    for seed in [5, 6] {
        let statuses = flips_after_set_seed(&fake, seed).await;
        assert!(statuses.contains(&StatusCode::INTERNAL_SERVER_ERROR));
        assert!(statuses.contains(&StatusCode::OK));
    }
}

#[test]
fn rng_is_uniform_enough_and_reproducible() {
    let min = Duration::from_millis(100);
    let max = Duration::from_millis(200);
    let mut low = 0;
    let mut high = 0;
    for i in 0..2000 {
        let d = Rng::for_request(9, i).duration(min, max);
        assert!(d >= min && d <= max, "{d:?}");
        assert_eq!(Rng::for_request(9, i).duration(min, max), d);
        low += usize::from(d < Duration::from_millis(110));
        high += usize::from(d > Duration::from_millis(190));
    }
    // About 200 each.
    assert!((120..=280).contains(&low), "{low}");
    assert!((120..=280).contains(&high), "{high}");
    // Consecutive draws of one request differ from the next request's draws.
    let mut a = Rng::for_request(9, 0);
    a.next_u64();
    assert_ne!(a.next_u64(), Rng::for_request(9, 1).next_u64());
    assert_eq!(
        Rng::for_request(9, 3).duration(max, min),
        Rng::for_request(9, 3).duration(min, max)
    );
    assert_eq!(Rng::for_request(1, 1).duration(min, min), min);
    let mut r = Rng::for_request(0, 0);
    assert!((0..1000).all(|_| !r.chance(0.0) && r.chance(1.0) && !r.chance(f64::NAN)));
}

#[tokio::test]
async fn random_delay_waits_at_least_min() {
    let fake = FakeProvider::start().await.unwrap();
    let min = Duration::from_millis(60);
    fake.set_behavior(Behavior::random_delay(
        min,
        Duration::from_millis(90),
        Behavior::reply("late"),
    ));
    let started = Instant::now();
    let v = json_of(send(&fake, Api::LibreTranslate, "x", "de").await).await;
    assert!(started.elapsed() >= min);
    assert_eq!(v["translatedText"], "late");
}

// ---------------------------------------------------------------------------------------
// Behavior strings
// ---------------------------------------------------------------------------------------

#[test]
fn behavior_grammar_for_faults() {
    let ms = Duration::from_millis;
    let cases = [
        ("status:503", Behavior::Status(503)),
        ("truncated", Behavior::Truncated),
        ("Reset_Mid_Body", Behavior::ResetMidBody),
        ("delay:2s:echo", Behavior::delayed(ms(2000), Behavior::Echo)),
        (
            "delay:1.5s:hang",
            Behavior::delayed(ms(1500), Behavior::Hang),
        ),
        (
            "delay:250us:echo",
            Behavior::delayed(Duration::from_micros(250), Behavior::Echo),
        ),
        (
            "random-delay:100ms:2s:echo",
            Behavior::random_delay(ms(100), ms(2000), Behavior::Echo),
        ),
        (
            "chance:0.3:status:500",
            Behavior::chance(0.3, Behavior::Status(500), Behavior::Echo),
        ),
        (
            "chance:1%:delay:1s:echo",
            Behavior::chance(
                0.01,
                Behavior::delayed(ms(1000), Behavior::Echo),
                Behavior::Echo,
            ),
        ),
        (
            "chance:0.01:hang|chance:0.3:503|reply:a|b",
            Behavior::chance(
                0.01,
                Behavior::Hang,
                Behavior::chance(0.3, Behavior::Status(503), Behavior::reply("a|b")),
            ),
        ),
        ("drip:200ms:echo", Behavior::drip(ms(200), Behavior::Echo)),
        (
            "drip:10:rate-limited:2",
            Behavior::drip(
                ms(10),
                Behavior::RateLimited {
                    retry_after_secs: 2,
                },
            ),
        ),
        ("reply:a|b", Behavior::reply("a|b")),
    ];
    for (text, expected) in cases {
        let parsed: Behavior = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed, expected, "{text}");
        // Display gives a spelling that parses back.
        let shown = parsed.to_string();
        assert_eq!(shown.parse::<Behavior>().unwrap(), parsed, "{shown}");
    }
    assert_eq!(
        Behavior::chance(0.25, Behavior::Status(500), Behavior::Echo).to_string(),
        "chance:0.25:500|echo"
    );
    assert_eq!(
        Behavior::random_delay(
            ms(100),
            ms(2000),
            Behavior::drip(Duration::from_micros(5), Behavior::Truncated)
        )
        .to_string(),
        "random-delay:100ms:2s:drip:5us:truncated"
    );
    for bad in [
        "chance:1.5:500",
        "chance:x:500",
        "chance:0.3",
        "chance:-0.1:500",
        "random-delay:2s:1s:echo",
        "random-delay:1s:echo",
        "drip:5",
        "drip:fast:echo",
        "delay:5x:echo",
        "truncated:1",
        "status:",
        "status:abc",
        "chance:0.5:nope|echo",
    ] {
        assert!(bad.parse::<Behavior>().is_err(), "{bad:?}");
    }
    // The message lists the grammar.
    let message = "nope".parse::<Behavior>().unwrap_err().to_string();
    assert!(message.contains("reset-mid-body") && message.contains("chance:P"));
}

// ---------------------------------------------------------------------------------------
// Control routes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn control_routes_steer_a_running_fake() {
    let fake = FakeProvider::start().await.unwrap();
    let control = fake.control_url();
    let v = json_of(
        client()
            .get(format!("{control}/behavior"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v, json!({ "behavior": "echo" }));

    let resp = client()
        .post(format!("{control}/behavior"))
        .body("chance:1:status:503\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(json_of(resp).await["behavior"], "chance:1:503|echo");
    assert_eq!(
        fake.behavior(),
        Behavior::chance(1.0, Behavior::Status(503), Behavior::Echo)
    );
    assert_eq!(send(&fake, Api::DeepL, "x", "de").await.status(), 503);

    let resp = client()
        .post(format!("{control}/behavior"))
        .body("sometimes")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        json_of(resp).await["error"]
            .as_str()
            .unwrap()
            .contains("sometimes")
    );
    assert_eq!(
        fake.behavior(),
        Behavior::chance(1.0, Behavior::Status(503), Behavior::Echo)
    );

    // Scripts: all lines or none.
    let resp = client()
        .post(format!("{control}/script"))
        .body("500\nbogus\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(fake.script_len(), 0);
    let resp = client()
        .post(format!("{control}/script"))
        .body("reply:one\n\n  reply:two  \n")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await, json!({ "script_len": 2 }));
    let v = json_of(send(&fake, Api::LibreTranslate, "x", "de").await).await;
    assert_eq!(v["translatedText"], "one");
    let resp = client()
        .delete(format!("{control}/script"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await, json!({ "script_len": 0 }));
    assert_eq!(fake.script_len(), 0);

    // Seeds.
    let resp = client()
        .post(format!("{control}/seed"))
        .body("12345")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await, json!({ "seed": 12345 }));
    assert_eq!(fake.seed(), 12345);
    let v = json_of(
        client()
            .get(format!("{control}/seed"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v, json!({ "seed": 12345 }));
    let resp = client()
        .post(format!("{control}/seed"))
        .body("-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // Stats, with one abandoned request in them.
    fake.set_behavior(Behavior::Hang);
    let task = tokio::spawn(request(&fake, Api::Anthropic, "x", "de").send());
    fake.wait_for_requests(3).await;
    let v = json_of(
        client()
            .get(format!("{control}/stats"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["in_flight"], 1, "{v}");
    task.abort();
    tokio::time::timeout(WAIT, fake.wait_for_abandoned(1))
        .await
        .unwrap();
    let v = json_of(
        client()
            .get(format!("{control}/stats"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        v,
        json!({
            "requests": 3,
            "completed": 2,
            "abandoned": 1,
            "reset": 0,
            "in_flight": 0,
            "by_api": {
                "openai": { "requests": 0, "completed": 0, "abandoned": 0, "reset": 0, "in_flight": 0 },
                "anthropic": { "requests": 1, "completed": 0, "abandoned": 1, "reset": 0, "in_flight": 0 },
                "deepl": { "requests": 1, "completed": 1, "abandoned": 0, "reset": 0, "in_flight": 0 },
                "libretranslate": { "requests": 1, "completed": 1, "abandoned": 0, "reset": 0, "in_flight": 0 },
            },
            "transcriptions": 0,
            "behavior": "hang",
            "script_len": 0,
            "seed": 12345,
        })
    );

    // Control calls are not recorded; wrong methods are refused.
    assert_eq!(fake.request_count(), 3);
    let resp = client()
        .delete(format!("{control}/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
}
