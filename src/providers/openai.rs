//! OpenAI-compatible chat completions: OpenAI, Groq, Ollama, OpenRouter, vLLM, LM Studio, and
//! Azure OpenAI.
//!
//! `POST {base_url}/chat/completions` with the shared system prompt ([`super::llm`]), the user's
//! text as the user message, and temperature 0; the key goes as a bearer token. With
//! `azure_api_version` configured the same body goes to Azure OpenAI's deployment route,
//! `POST {base_url}/openai/deployments/{model}/chat/completions?api-version={v}` (`model` is the
//! deployment name), with the key in an `api-key` header. The answer's first choice is cleaned
//! ([`super::llm::clean_answer`]: preambles, wrapping quotes, notes removed) and rejected when it
//! is empty, absurdly long or was cut off by the token limit. One pooled client per provider
//! (keep-alive; HTTP/2 when the server offers it over TLS). The key appears nowhere else: errors
//! are built from status codes and reqwest errors stripped of their URL ([`super::http`]).

use serde::Deserialize;

use super::http::{self, HttpReply};
use super::llm;
use super::{Answer, Provider, ProviderError, TranslateJob, Usage};
use crate::config::OpenAiConfig;

/// See the module docs.
pub struct OpenAiProvider {
    client: reqwest::Client,
    url: url::Url,
    /// The header carrying the key (`Authorization: Bearer ...` or Azure's `api-key`),
    /// its value marked sensitive; `None` for keyless servers.
    auth: Option<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
    config: OpenAiConfig,
}

#[derive(Deserialize)]
struct ChatResponse {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
}

#[derive(Deserialize)]
struct ChatUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChoiceMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

impl OpenAiProvider {
    pub fn new(config: OpenAiConfig) -> Result<Self, String> {
        let (url, client) = match &config.azure_api_version {
            None => super::endpoint(&config.base_url, "chat/completions", config.timeout)?,
            Some(version) => {
                let (mut url, client) = super::endpoint(
                    &config.base_url,
                    &azure_path(&config.base_url, &config.model)?,
                    config.timeout,
                )?;
                url.query_pairs_mut().append_pair("api-version", version);
                (url, client)
            }
        };
        let auth = match (&config.api_key, &config.azure_api_version) {
            (None, _) => None,
            (Some(key), None) => Some((
                reqwest::header::AUTHORIZATION,
                http::secret_header(&format!("Bearer {}", key.expose()))?,
            )),
            (Some(key), Some(_)) => Some((
                reqwest::header::HeaderName::from_static("api-key"),
                http::secret_header(key.expose())?,
            )),
        };
        Ok(Self {
            client,
            url,
            auth,
            config,
        })
    }

    fn request(&self, job: &TranslateJob) -> reqwest::RequestBuilder {
        let request = self.client.post(self.url.clone()).json(&self.body(job));
        match &self.auth {
            Some((name, value)) => request.header(name, value.clone()),
            None => request,
        }
    }

    /// The JSON body for one job (Azure takes the model from the URL, not the body).
    fn body(&self, job: &TranslateJob) -> serde_json::Value {
        let mut body = serde_json::json!({
            "temperature": 0,
            "messages": [
                {"role": "system", "content": llm::system_prompt(job)},
                {"role": "user", "content": job.text},
            ],
        });
        if self.config.azure_api_version.is_none() {
            body["model"] = self.config.model.clone().into();
        }
        body
    }
}

/// `openai/deployments/{deployment}/chat/completions`, relative to an Azure resource URL
/// (`https://NAME.openai.azure.com`, with or without a trailing `/openai`).
fn azure_path(base_url: &url::Url, deployment: &str) -> Result<String, String> {
    if !is_deployment_name(deployment) {
        return Err(
            "model (the Azure deployment name) may only hold letters, digits, '-', '_' and '.'"
                .into(),
        );
    }
    let under_openai = base_url.path().trim_end_matches('/').ends_with("/openai");
    Ok(if under_openai {
        format!("deployments/{deployment}/chat/completions")
    } else {
        format!("openai/deployments/{deployment}/chat/completions")
    })
}

/// Whether `name` can be an Azure OpenAI deployment name (and so a URL path segment as is).
pub(crate) fn is_deployment_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name != "."
        && name != ".."
}

/// Parses a chat completion into an answer.
fn parse(reply: HttpReply, source: &str) -> Result<Answer, ProviderError> {
    let parsed: ChatResponse = http::parse_json(&reply.into_body()?, "a chat completion")?;
    let usage = parsed.usage.map_or_else(Usage::default, |u| Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: u.completion_tokens,
    });
    let choice = parsed
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| ProviderError::InvalidResponse("no choices".into()))?;
    if choice.finish_reason.as_deref() == Some("length") {
        return Err(ProviderError::InvalidResponse(
            "answer cut off by the token limit".into(),
        ));
    }
    let content = choice
        .message
        .content
        .ok_or_else(|| ProviderError::InvalidResponse("no content".into()))?;
    Ok(Answer {
        text: llm::clean_answer(&content, source)?,
        usage,
    })
}

#[async_trait::async_trait]
impl Provider for OpenAiProvider {
    async fn translate(&self, job: &TranslateJob) -> Result<Answer, ProviderError> {
        let reply = http::send(self.request(job), self.config.timeout, job.deadline).await?;
        parse(reply, &job.text)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lang::Lang;
    use crate::secret::Secret;
    use reqwest::StatusCode;
    use tokio::time::Instant;

    fn config(base: &str, azure: Option<&str>) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base.parse().expect("url"),
            model: "gpt-4o-mini".into(),
            api_key: Some(Secret::new("sk-x")),
            timeout: Duration::from_secs(5),
            azure_api_version: azure.map(str::to_string),
        }
    }

    fn job() -> TranslateJob {
        TranslateJob {
            text: "hello".into(),
            source: None,
            target: Lang::from_code("fr").expect("fr"),
            deadline: Instant::now(),
        }
    }

    fn ok(body: &str) -> HttpReply {
        HttpReply {
            status: StatusCode::OK,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn openai_style_posts_to_chat_completions_with_the_model_in_the_body() {
        let p = OpenAiProvider::new(config("https://api.groq.com/openai/v1", None)).expect("ok");
        assert_eq!(
            p.url.as_str(),
            "https://api.groq.com/openai/v1/chat/completions"
        );
        let body = p.body(&job());
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["temperature"], 0);
        assert_eq!(body["messages"][1]["content"], "hello");
        assert!(
            body["messages"][0]["content"]
                .as_str()
                .is_some_and(|s| s.contains("(language code: fr)"))
        );
    }

    #[test]
    fn azure_style_posts_to_the_deployment_with_the_api_version() {
        for base in [
            "https://acme.openai.azure.com",
            "https://acme.openai.azure.com/",
            "https://acme.openai.azure.com/openai",
        ] {
            let p = OpenAiProvider::new(config(base, Some("2024-10-21"))).expect("ok");
            assert_eq!(
                p.url.as_str(),
                "https://acme.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21",
                "{base}"
            );
            assert!(p.body(&job()).get("model").is_none());
        }
        let mut bad = config("https://acme.openai.azure.com", Some("2024-10-21"));
        bad.model = "a/b".into();
        assert!(OpenAiProvider::new(bad).is_err());
    }

    #[test]
    fn the_key_is_a_bearer_token_or_azure_api_key_header() {
        let headers = |azure: Option<&str>| {
            let p = OpenAiProvider::new(config("https://acme.openai.azure.com", azure))
                .expect("builds");
            let request = p.request(&job()).build().expect("request");
            let get = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            (get("authorization"), get("api-key"))
        };
        assert_eq!(headers(None), (Some("Bearer sk-x".into()), None));
        assert_eq!(headers(Some("2024-10-21")), (None, Some("sk-x".into())));
        let mut keyless = config("http://127.0.0.1:11434/v1", None);
        keyless.api_key = None;
        let p = OpenAiProvider::new(keyless).expect("builds");
        let request = p.request(&job()).build().expect("request");
        assert!(request.headers().get("authorization").is_none());
    }

    #[test]
    fn completions_are_parsed_cleaned_and_checked() {
        let answer = parse(
            ok(r#"{"choices":[{"message":{"content":"Translation: \"Bonjour\""},"finish_reason":"stop"}],
                 "usage":{"prompt_tokens":12,"completion_tokens":3}}"#),
            "hello",
        )
        .expect("parsed");
        assert_eq!(answer.text, "Bonjour");
        assert_eq!(answer.usage.input_tokens, Some(12));
        assert_eq!(answer.usage.output_tokens, Some(3));
        let no_usage = parse(ok(r#"{"choices":[{"message":{"content":"Salut"}}]}"#), "hi");
        assert_eq!(no_usage, Ok(Answer::text("Salut")));
        for (body, why) in [
            (r#"{"choices":[]}"#, "no choices"),
            (
                r#"{"choices":[{"message":{"content":null}}]}"#,
                "no content",
            ),
            (
                r#"{"choices":[{"message":{"content":"Bon"},"finish_reason":"length"}]}"#,
                "cut off",
            ),
            (r#"{"choices":[{"message":"#, "truncated"),
        ] {
            match parse(ok(body), "hello") {
                Err(ProviderError::InvalidResponse(e)) => assert!(e.contains(why), "{e}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
