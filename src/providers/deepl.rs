//! DeepL's translation API (v2).
//!
//! `POST {base}/v2/translate` with `Authorization: DeepL-Auth-Key {key}` and the JSON body
//! `{"text": [text], "target_lang": ..., "source_lang"?: ...}`; the answer is
//! `translations[0].text`. Without a configured `base_url` the host follows the key: keys ending
//! in `:fx` belong to DeepL API Free (`https://api-free.deepl.com`), others to Pro
//! (`https://api.deepl.com`).
//!
//! Languages are checked before any call: DeepL offers a fixed list ([`LANGUAGES`]), and a job
//! outside it is answered at once with [`ProviderError::Unsupported`] ("DeepL does not offer
//! Swahili"), so the coordinator falls back without spending a round trip. Our ISO 639-1 codes
//! become DeepL's: sources are the upper-case code (`EN`), targets name a variant where DeepL
//! wants one (`EN-US`, `PT-BR`, `ZH-HANS`: our languages carry no region, so the most widely used
//! variant is chosen), and Norwegian (`no`) is `NB`.
//!
//! DeepL is machine translation: the answer is the translation, with no preamble to clean; it is
//! only checked for being non-empty. It bills characters, not tokens, so [`Usage`] stays empty.
//! HTTP 456 (character quota used up) keeps its status. The key appears only in its header.
//!
//! [`Usage`]: super::Usage

use serde::Deserialize;

use super::http::{self, HttpReply};
use super::{Answer, Provider, ProviderError, TranslateJob};
use crate::config::DeepLConfig;
use crate::lang::Lang;

/// DeepL API Free's host, for keys ending in `:fx`.
pub const FREE_BASE_URL: &str = "https://api-free.deepl.com";

/// DeepL API Pro's host.
pub const PRO_BASE_URL: &str = "https://api.deepl.com";

/// The languages DeepL translates from and into: `(our ISO 639-1 code, DeepL source code, DeepL
/// target code)`. From DeepL's documented list (AR BG CS DA DE EL EN ES ET FI FR HE HU ID IT JA
/// KO LT LV NB NL PL PT RO RU SK SL SV TH TR UK VI ZH).
pub const LANGUAGES: &[(&str, &str, &str)] = &[
    ("ar", "AR", "AR"),
    ("bg", "BG", "BG"),
    ("cs", "CS", "CS"),
    ("da", "DA", "DA"),
    ("de", "DE", "DE"),
    ("el", "EL", "EL"),
    ("en", "EN", "EN-US"),
    ("es", "ES", "ES"),
    ("et", "ET", "ET"),
    ("fi", "FI", "FI"),
    ("fr", "FR", "FR"),
    ("he", "HE", "HE"),
    ("hu", "HU", "HU"),
    ("id", "ID", "ID"),
    ("it", "IT", "IT"),
    ("ja", "JA", "JA"),
    ("ko", "KO", "KO"),
    ("lt", "LT", "LT"),
    ("lv", "LV", "LV"),
    ("no", "NB", "NB"),
    ("nl", "NL", "NL"),
    ("pl", "PL", "PL"),
    ("pt", "PT", "PT-BR"),
    ("ro", "RO", "RO"),
    ("ru", "RU", "RU"),
    ("sk", "SK", "SK"),
    ("sl", "SL", "SL"),
    ("sv", "SV", "SV"),
    ("th", "TH", "TH"),
    ("tr", "TR", "TR"),
    ("uk", "UK", "UK"),
    ("vi", "VI", "VI"),
    ("zh", "ZH", "ZH-HANS"),
];

/// DeepL's code for `lang` as a source language, if DeepL offers it.
pub fn source_code(lang: &Lang) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .find(|(code, _, _)| *code == lang.code)
        .map(|(_, source, _)| *source)
}

/// DeepL's code for `lang` as a target language, if DeepL offers it.
pub fn target_code(lang: &Lang) -> Option<&'static str> {
    LANGUAGES
        .iter()
        .find(|(code, _, _)| *code == lang.code)
        .map(|(_, _, target)| *target)
}

/// The host a key belongs to when no `base_url` is configured.
pub fn default_base_url(key: &str) -> &'static str {
    if key.trim_end().ends_with(":fx") {
        FREE_BASE_URL
    } else {
        PRO_BASE_URL
    }
}

/// See the module docs.
pub struct DeepLProvider {
    client: reqwest::Client,
    url: url::Url,
    /// The `Authorization` value (sensitive).
    auth: reqwest::header::HeaderValue,
    config: DeepLConfig,
}

#[derive(Deserialize)]
struct TranslateResponse {
    translations: Vec<Translated>,
}

#[derive(Deserialize)]
struct Translated {
    text: String,
}

impl DeepLProvider {
    pub fn new(config: DeepLConfig) -> Result<Self, String> {
        let base = match &config.base_url {
            Some(url) => url.clone(),
            None => url::Url::parse(default_base_url(config.api_key.expose()))
                .map_err(|e| format!("bad DeepL host: {e}"))?,
        };
        let path = if base.path().trim_end_matches('/').ends_with("/v2") {
            "translate"
        } else {
            "v2/translate"
        };
        let (url, client) = super::endpoint(&base, path, config.timeout)?;
        Ok(Self {
            client,
            url,
            auth: http::secret_header(&format!("DeepL-Auth-Key {}", config.api_key.expose()))?,
            config,
        })
    }

    /// The request, or `Unsupported` when DeepL does not offer a language of the job.
    fn request(&self, job: &TranslateJob) -> Result<reqwest::RequestBuilder, ProviderError> {
        Ok(self
            .client
            .post(self.url.clone())
            .header(reqwest::header::AUTHORIZATION, self.auth.clone())
            .json(&Self::body(job)?))
    }

    /// The request body, or `Unsupported` when DeepL does not offer a language of the job.
    fn body(job: &TranslateJob) -> Result<serde_json::Value, ProviderError> {
        let unsupported =
            |lang: &Lang| ProviderError::Unsupported(format!("DeepL does not offer {}", lang.name));
        let target = target_code(job.target).ok_or_else(|| unsupported(job.target))?;
        let mut body = serde_json::json!({
            "text": [job.text],
            "target_lang": target,
        });
        if let Some(source) = job.source {
            body["source_lang"] = source_code(source)
                .ok_or_else(|| unsupported(source))?
                .into();
        }
        Ok(body)
    }
}

fn parse(reply: HttpReply) -> Result<Answer, ProviderError> {
    let parsed: TranslateResponse = http::parse_json(&reply.into_body()?, "a DeepL translation")?;
    let text = parsed
        .translations
        .into_iter()
        .next()
        .map(|t| t.text)
        .ok_or_else(|| ProviderError::InvalidResponse("no translations".into()))?;
    let text: String = text
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
impl Provider for DeepLProvider {
    async fn translate(&self, job: &TranslateJob) -> Result<Answer, ProviderError> {
        let reply = http::send(self.request(job)?, self.config.timeout, job.deadline).await?;
        parse(reply)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use reqwest::StatusCode;
    use tokio::time::Instant;

    use super::*;
    use crate::secret::Secret;

    fn lang(code: &str) -> &'static Lang {
        Lang::from_code(code).expect("known language")
    }

    fn job(source: Option<&str>, target: &str) -> TranslateJob {
        TranslateJob {
            text: "good morning".into(),
            source: source.map(lang),
            target: lang(target),
            deadline: Instant::now(),
        }
    }

    fn provider(key: &str, base: Option<&str>) -> DeepLProvider {
        DeepLProvider::new(DeepLConfig {
            base_url: base.map(|b| b.parse().expect("url")),
            api_key: Secret::new(key),
            timeout: Duration::from_secs(5),
        })
        .expect("builds")
    }

    #[test]
    fn free_keys_go_to_the_free_host_and_the_rest_to_pro() {
        assert_eq!(
            provider("abc-123:fx", None).url.as_str(),
            "https://api-free.deepl.com/v2/translate"
        );
        assert_eq!(
            provider("abc-123", None).url.as_str(),
            "https://api.deepl.com/v2/translate"
        );
        // A configured base URL wins, with or without /v2.
        for base in ["http://127.0.0.1:9", "http://127.0.0.1:9/v2"] {
            assert_eq!(
                provider("abc:fx", Some(base)).url.as_str(),
                "http://127.0.0.1:9/v2/translate"
            );
        }
    }

    #[test]
    fn every_language_in_the_table_is_one_we_know() {
        for (code, source, target) in LANGUAGES {
            let lang = lang(code);
            assert_eq!(source_code(lang), Some(*source));
            assert_eq!(target_code(lang), Some(*target));
            assert!(target.starts_with(source), "{code}: {source} vs {target}");
        }
        assert_eq!(LANGUAGES.len(), 33);
    }

    #[test]
    fn codes_are_mapped_to_deepl_variants() {
        for (code, source, target) in [
            ("en", "EN", "EN-US"),
            ("pt", "PT", "PT-BR"),
            ("zh", "ZH", "ZH-HANS"),
            ("no", "NB", "NB"),
            ("he", "HE", "HE"),
            ("de", "DE", "DE"),
        ] {
            assert_eq!(source_code(lang(code)), Some(source), "{code}");
            assert_eq!(target_code(lang(code)), Some(target), "{code}");
        }
        assert_eq!(target_code(lang("sw")), None);
        assert_eq!(source_code(lang("hi")), None);
    }

    #[test]
    fn the_body_names_deepl_codes_and_the_source_only_when_known() {
        let body = DeepLProvider::body(&job(None, "en")).expect("offered");
        assert_eq!(
            body,
            serde_json::json!({"text": ["good morning"], "target_lang": "EN-US"})
        );
        let body = DeepLProvider::body(&job(Some("pt"), "zh")).expect("offered");
        assert_eq!(body["source_lang"], "PT");
        assert_eq!(body["target_lang"], "ZH-HANS");
    }

    #[test]
    fn the_key_goes_in_the_deepl_authorization_header() {
        let request = provider("abc:fx", None)
            .request(&job(None, "de"))
            .expect("offered")
            .build()
            .expect("request");
        let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
        assert_eq!(header("authorization"), Some("DeepL-Auth-Key abc:fx"));
        assert_eq!(header("content-type"), Some("application/json"));
        assert!(request.headers()["authorization"].is_sensitive());
    }

    #[tokio::test]
    async fn languages_deepl_lacks_are_refused_without_a_call() {
        // Port 9 (discard) on loopback: a call would fail with a transport error, not this.
        let p = provider("k:fx", Some("http://127.0.0.1:9"));
        let mut j = job(None, "sw");
        j.deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            p.translate(&j).await,
            Err(ProviderError::Unsupported(
                "DeepL does not offer Swahili".into()
            ))
        );
        let mut j = job(Some("hi"), "de");
        j.deadline = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            p.translate(&j).await,
            Err(ProviderError::Unsupported(
                "DeepL does not offer Hindi".into()
            ))
        );
    }

    #[test]
    fn answers_and_errors_are_parsed() {
        let reply = |status: u16, body: &str| HttpReply {
            status: StatusCode::from_u16(status).expect("status"),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(
            parse(reply(
                200,
                r#"{"translations":[{"detected_source_language":"EN","text":"Guten Morgen"}]}"#
            )),
            Ok(Answer::text("Guten Morgen"))
        );
        assert_eq!(
            parse(reply(456, r#"{"message":"Quota exceeded"}"#)),
            Err(ProviderError::Status {
                status: 456,
                retry_after: None
            })
        );
        for body in [
            r#"{"translations":[]}"#,
            r#"{"translations":[{"text":"  "}]}"#,
            r#"{"message":"ok"}"#,
            r#"{"translations":[{"te"#,
        ] {
            assert!(
                matches!(
                    parse(reply(200, body)),
                    Err(ProviderError::InvalidResponse(_))
                ),
                "{body}"
            );
        }
    }
}
