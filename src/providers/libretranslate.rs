//! LibreTranslate: open-source machine translation (Argos models), usually self-hosted.
//!
//! `POST {base_url}/translate` with the JSON body `{q, source, target, format: "text",
//! api_key?}`: `source` is the job's source code or `"auto"` (the server detects it), `api_key`
//! is sent only when one is configured (self-hosted servers often need none; libretranslate.com
//! does). The answer is `translatedText`.
//!
//! Which languages a server offers depends on the models it has installed, so it cannot be
//! decided here before the call: a server that lacks one answers 400 `{"error": "xx is not
//! supported"}`, which becomes [`ProviderError::Unsupported`] ("LibreTranslate does not offer
//! Welsh"), so the coordinator falls back without counting it as a fault. Other errors keep
//! their status (a missing or wrong key is 400/403, the server's rate limit 429). Codes are our
//! ISO 639-1 codes, except Norwegian (`no`), which LibreTranslate calls `nb`. The key appears
//! only in the request body.

use serde::Deserialize;

use super::http::{self, HttpReply};
use super::{Answer, Provider, ProviderError, TranslateJob};
use crate::config::LibreTranslateConfig;
use crate::lang::Lang;

/// See the module docs.
pub struct LibreTranslateProvider {
    client: reqwest::Client,
    url: url::Url,
    config: LibreTranslateConfig,
}

#[derive(Deserialize)]
struct TranslateResponse {
    #[serde(rename = "translatedText")]
    translated_text: String,
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
}

/// LibreTranslate's code for `lang`.
pub fn code(lang: &Lang) -> &'static str {
    match lang.code {
        "no" => "nb",
        other => other,
    }
}

impl LibreTranslateProvider {
    pub fn new(config: LibreTranslateConfig) -> Result<Self, String> {
        let (url, client) = super::endpoint(&config.base_url, "translate", config.timeout)?;
        Ok(Self {
            client,
            url,
            config,
        })
    }

    fn request(&self, job: &TranslateJob) -> reqwest::RequestBuilder {
        self.client.post(self.url.clone()).json(&self.body(job))
    }

    fn body(&self, job: &TranslateJob) -> serde_json::Value {
        let mut body = serde_json::json!({
            "q": job.text,
            "source": job.source.map_or("auto", code),
            "target": code(job.target),
            "format": "text",
        });
        if let Some(key) = &self.config.api_key {
            body["api_key"] = key.expose().into();
        }
        body
    }
}

/// The answer to `job`: the translation, `Unsupported` for a language the server lacks, or the
/// HTTP status.
fn parse(reply: HttpReply, job: &TranslateJob) -> Result<Answer, ProviderError> {
    if reply.status == reqwest::StatusCode::BAD_REQUEST
        && let Ok(e) = serde_json::from_slice::<ErrorResponse>(&reply.body)
        && e.error.contains("not supported")
    {
        // "xx is not supported": name the language it is about, the source if it says so.
        let lang = job
            .source
            .filter(|s| e.error.trim_start().starts_with(code(s)))
            .unwrap_or(job.target);
        return Err(ProviderError::Unsupported(format!(
            "LibreTranslate does not offer {}",
            lang.name
        )));
    }
    let parsed: TranslateResponse =
        http::parse_json(&reply.into_body()?, "a LibreTranslate translation")?;
    let text: String = parsed
        .translated_text
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect();
    let text = text.trim();
    if text.is_empty() {
        return Err(ProviderError::InvalidResponse("empty translation".into()));
    }
    Ok(Answer::text(text))
}

#[async_trait::async_trait]
impl Provider for LibreTranslateProvider {
    async fn translate(&self, job: &TranslateJob) -> Result<Answer, ProviderError> {
        let reply = http::send(self.request(job), self.config.timeout, job.deadline).await?;
        parse(reply, job)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;
    use tokio::time::Instant;

    use super::*;
    use crate::secret::Secret;

    fn provider(base: &str, key: Option<&str>) -> LibreTranslateProvider {
        LibreTranslateProvider::new(LibreTranslateConfig {
            base_url: base.parse().expect("url"),
            api_key: key.map(Secret::new),
            timeout: Duration::from_secs(5),
        })
        .expect("builds")
    }

    fn job(source: Option<&str>, target: &str) -> TranslateJob {
        TranslateJob {
            text: "good morning".into(),
            source: source.and_then(Lang::from_code),
            target: Lang::from_code(target).expect("language"),
            deadline: Instant::now(),
        }
    }

    fn reply(status: u16, body: &str) -> HttpReply {
        HttpReply {
            status: StatusCode::from_u16(status).expect("status"),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn posts_to_translate_under_the_base_url() {
        for base in ["http://127.0.0.1:5000", "http://127.0.0.1:5000/"] {
            assert_eq!(
                provider(base, None).url.as_str(),
                "http://127.0.0.1:5000/translate"
            );
        }
        assert_eq!(
            provider("https://example.org/lt", None).url.as_str(),
            "https://example.org/lt/translate"
        );
    }

    #[test]
    fn the_body_detects_the_source_unless_given_and_sends_a_key_only_if_configured() {
        let keyless = provider("http://127.0.0.1:5000", None);
        assert_eq!(
            keyless.body(&job(None, "es")),
            serde_json::json!({"q": "good morning", "source": "auto", "target": "es", "format": "text"})
        );
        let keyed = provider("https://libretranslate.com", Some("lt-key"));
        let body = keyed.body(&job(Some("en"), "no"));
        assert_eq!(body["source"], "en");
        assert_eq!(body["target"], "nb");
        assert_eq!(body["api_key"], "lt-key");
    }

    #[test]
    fn no_key_travels_in_headers() {
        let request = provider("http://127.0.0.1:5000", Some("lt-key"))
            .request(&job(None, "es"))
            .build()
            .expect("request");
        assert!(request.headers().get("authorization").is_none());
        assert_eq!(
            request
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
    }

    #[test]
    fn answers_and_errors_are_parsed() {
        let j = job(None, "de");
        assert_eq!(
            parse(
                reply(
                    200,
                    r#"{"translatedText":"Guten Morgen","detectedLanguage":{"confidence":90,"language":"en"}}"#
                ),
                &j
            ),
            Ok(Answer::text("Guten Morgen"))
        );
        assert_eq!(
            parse(reply(400, r#"{"error":"de is not supported"}"#), &j),
            Err(ProviderError::Unsupported(
                "LibreTranslate does not offer German".into()
            ))
        );
        let from_welsh = job(Some("cy"), "de");
        assert_eq!(
            parse(
                reply(400, r#"{"error":"cy is not supported"}"#),
                &from_welsh
            ),
            Err(ProviderError::Unsupported(
                "LibreTranslate does not offer Welsh".into()
            ))
        );
        assert_eq!(
            parse(
                reply(400, r#"{"error":"Invalid request: missing q parameter"}"#),
                &j
            ),
            Err(ProviderError::Status {
                status: 400,
                retry_after: None
            })
        );
        assert_eq!(
            parse(reply(403, r#"{"error":"Invalid API key"}"#), &j),
            Err(ProviderError::Status {
                status: 403,
                retry_after: None
            })
        );
        for body in [r#"{"translatedText":""}"#, r#"{"error":"x"}"#, "<html>"] {
            assert!(
                matches!(
                    parse(reply(200, body), &j),
                    Err(ProviderError::InvalidResponse(_))
                ),
                "{body}"
            );
        }
    }
}
