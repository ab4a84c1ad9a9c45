//! Anthropic's Messages API (Claude).
//!
//! `POST {base_url}/v1/messages` (`base_url` defaults to `https://api.anthropic.com`; one that
//! already ends in `/v1` is not doubled) with headers `x-api-key` and
//! `anthropic-version: 2023-06-01` and the body `{model, max_tokens, temperature: 0, system,
//! messages: [{role: "user", content: text}]}`. The system prompt is the one every chat model
//! gets ([`super::llm::system_prompt`]). `max_tokens` is derived from the text's length, capped
//! by the configured `max_tokens` (default [`DEFAULT_MAX_TOKENS`]): Anthropic counts a request's
//! `max_tokens` against the output-tokens-per-minute limit before the answer is known, so asking
//! for what a translation can need, not the model's maximum, keeps short jobs cheap in quota.
//!
//! The answer's `text` content blocks are joined and cleaned ([`super::llm::clean_answer`]);
//! `usage.input_tokens`/`output_tokens` are reported. An answer stopped by `max_tokens` is
//! incomplete and rejected. HTTP errors keep their status, including 529 "overloaded" (transient
//! like any 5xx). The key appears only in its header ([`super::http`] builds every error).

use serde::Deserialize;

use super::http::{self, HttpReply};
use super::llm;
use super::{Answer, Provider, ProviderError, TranslateJob, Usage};
use crate::config::AnthropicConfig;

/// The Messages API version this code speaks.
pub const API_VERSION: &str = "2023-06-01";

/// The default base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// Upper bound of `max_tokens` when none is configured: every Claude model can produce this much.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// See the module docs.
pub struct AnthropicProvider {
    client: reqwest::Client,
    url: url::Url,
    /// The `x-api-key` value (sensitive).
    key: reqwest::header::HeaderValue,
    config: AnthropicConfig,
}

#[derive(Deserialize)]
struct MessagesResponse {
    content: Vec<ContentBlock>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
}

#[derive(Deserialize)]
struct ContentBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct MessagesUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl AnthropicProvider {
    pub fn new(config: AnthropicConfig) -> Result<Self, String> {
        let path = if config
            .base_url
            .path()
            .trim_end_matches('/')
            .ends_with("/v1")
        {
            "messages"
        } else {
            "v1/messages"
        };
        let (url, client) = super::endpoint(&config.base_url, path, config.timeout)?;
        Ok(Self {
            client,
            url,
            key: http::secret_header(config.api_key.expose())?,
            config,
        })
    }

    /// Output tokens to ask for: enough for any translation of `text` (scripts such as Thai or
    /// Amharic can take several tokens per character), at most the configured cap.
    fn max_tokens(&self, text: &str) -> u32 {
        let cap = self
            .config
            .max_tokens
            .map_or(DEFAULT_MAX_TOKENS, |n| n.get());
        let need = u32::try_from(text.chars().count())
            .unwrap_or(u32::MAX)
            .saturating_mul(4)
            .saturating_add(256);
        need.min(cap)
    }

    fn request(&self, job: &TranslateJob) -> reqwest::RequestBuilder {
        self.client
            .post(self.url.clone())
            .header("x-api-key", self.key.clone())
            .header("anthropic-version", API_VERSION)
            .json(&self.body(job))
    }

    fn body(&self, job: &TranslateJob) -> serde_json::Value {
        serde_json::json!({
            "model": self.config.model,
            "max_tokens": self.max_tokens(&job.text),
            "temperature": 0,
            "system": llm::system_prompt(job),
            "messages": [{"role": "user", "content": job.text}],
        })
    }
}

fn parse(reply: HttpReply, source: &str) -> Result<Answer, ProviderError> {
    let parsed: MessagesResponse = http::parse_json(&reply.into_body()?, "a message")?;
    if parsed.stop_reason.as_deref() == Some("max_tokens") {
        return Err(ProviderError::InvalidResponse(
            "answer cut off by max_tokens".into(),
        ));
    }
    let text: String = parsed
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text.as_deref())
        .collect();
    let usage = parsed.usage.map_or_else(Usage::default, |u| Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
    });
    Ok(Answer {
        text: llm::clean_answer(&text, source)?,
        usage,
    })
}

#[async_trait::async_trait]
impl Provider for AnthropicProvider {
    async fn translate(&self, job: &TranslateJob) -> Result<Answer, ProviderError> {
        let reply = http::send(self.request(job), self.config.timeout, job.deadline).await?;
        parse(reply, &job.text)
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;
    use std::time::Duration;

    use reqwest::StatusCode;
    use tokio::time::Instant;

    use super::*;
    use crate::lang::Lang;
    use crate::secret::Secret;

    fn provider(base: &str, max_tokens: Option<u32>) -> AnthropicProvider {
        AnthropicProvider::new(AnthropicConfig {
            base_url: base.parse().expect("url"),
            model: "claude-3-5-haiku-latest".into(),
            api_key: Secret::new("sk-ant-x"),
            timeout: Duration::from_secs(5),
            max_tokens: max_tokens.and_then(NonZeroU32::new),
        })
        .expect("builds")
    }

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply {
            status: StatusCode::from_u16(status).expect("status"),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn the_url_gets_v1_messages_once() {
        for base in [
            "https://api.anthropic.com",
            "https://api.anthropic.com/",
            "https://api.anthropic.com/v1",
            "https://api.anthropic.com/v1/",
        ] {
            assert_eq!(
                provider(base, None).url.as_str(),
                "https://api.anthropic.com/v1/messages",
                "{base}"
            );
        }
        assert_eq!(
            provider("http://127.0.0.1:9/proxy/anthropic", None)
                .url
                .as_str(),
            "http://127.0.0.1:9/proxy/anthropic/v1/messages"
        );
    }

    #[test]
    fn the_body_is_what_the_messages_api_expects() {
        let p = provider(DEFAULT_BASE_URL, None);
        let job = TranslateJob {
            text: "good morning".into(),
            source: Lang::from_code("en"),
            target: Lang::from_code("ja").expect("ja"),
            deadline: Instant::now(),
        };
        let body = p.body(&job);
        assert_eq!(body["model"], "claude-3-5-haiku-latest");
        assert_eq!(body["temperature"], 0);
        assert_eq!(body["max_tokens"], 12 * 4 + 256);
        assert_eq!(
            body["messages"],
            serde_json::json!([{"role": "user", "content": "good morning"}])
        );
        let system = body["system"].as_str().unwrap_or_default();
        assert!(
            system.contains("from English into Japanese (language code: ja)"),
            "{system}"
        );
    }

    #[test]
    fn the_key_and_version_go_in_headers() {
        let job = TranslateJob {
            text: "hi".into(),
            source: None,
            target: Lang::from_code("fr").expect("fr"),
            deadline: Instant::now(),
        };
        let request = provider(DEFAULT_BASE_URL, None)
            .request(&job)
            .build()
            .expect("request");
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(request.method(), reqwest::Method::POST);
        assert_eq!(header("x-api-key"), Some("sk-ant-x"));
        assert_eq!(header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(header("content-type"), Some("application/json"));
        assert_eq!(header("authorization"), None);
        assert!(request.headers()["x-api-key"].is_sensitive());
    }

    #[test]
    fn max_tokens_grows_with_the_text_up_to_the_cap() {
        let p = provider(DEFAULT_BASE_URL, None);
        assert_eq!(p.max_tokens(""), 256);
        assert_eq!(p.max_tokens(&"あ".repeat(4000)), DEFAULT_MAX_TOKENS);
        assert_eq!(
            provider(DEFAULT_BASE_URL, Some(300)).max_tokens("hello"),
            276
        );
        assert_eq!(
            provider(DEFAULT_BASE_URL, Some(100)).max_tokens("hello"),
            100
        );
    }

    #[test]
    fn text_blocks_are_joined_and_usage_reported() {
        let answer = parse(
            reply(
                200,
                r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude",
                    "content":[{"type":"text","text":"Here is the translation:\n"},
                               {"type":"tool_use","id":"t","name":"x","input":{}},
                               {"type":"text","text":"おはようございます"}],
                    "stop_reason":"end_turn","usage":{"input_tokens":40,"output_tokens":9}}"#,
            ),
            "good morning",
        )
        .expect("parsed");
        assert_eq!(answer.text, "おはようございます");
        assert_eq!(
            answer.usage,
            Usage {
                input_tokens: Some(40),
                output_tokens: Some(9)
            }
        );
    }

    #[test]
    fn errors_and_broken_answers_are_typed() {
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e = parse(reply(529, overloaded), "hi").expect_err("529");
        assert_eq!(
            e,
            ProviderError::Status {
                status: 529,
                retry_after: None
            }
        );
        assert!(e.is_provider_fault());
        for body in [
            r#"{"content":[],"stop_reason":"end_turn"}"#,
            r#"{"content":[{"type":"text","text":"Bonj"}],"stop_reason":"max_tokens"}"#,
            r#"{"content":"#,
            r#"{"foo":1}"#,
        ] {
            assert!(
                matches!(
                    parse(reply(200, body), "hello"),
                    Err(ProviderError::InvalidResponse(_))
                ),
                "{body}"
            );
        }
    }
}
