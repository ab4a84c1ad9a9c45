//! Speech to text for voice messages: an OpenAI-compatible `/audio/transcriptions` endpoint
//! (Whisper on Groq or OpenAI, or a local server).
//!
//! `POST {base_url}/audio/transcriptions` as multipart form data (`file`, `model`,
//! `response_format=json`); the answer's `text` is the transcription. Errors are the same typed
//! [`ProviderError`]s as translation providers; the key is a bearer token and appears nowhere
//! else.

use serde::Deserialize;
use tokio::time::Instant;

use super::ProviderError;
use crate::config::TranscriptionConfig;

/// Largest transcription accepted, in bytes of text.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Speech to text.
#[async_trait::async_trait]
pub trait Transcriber: Send + Sync + 'static {
    /// The text spoken in `audio` (an Ogg/Opus voice note or similar), by `deadline`.
    async fn transcribe(
        &self,
        audio: Vec<u8>,
        mime_type: Option<&str>,
        deadline: Instant,
    ) -> Result<String, ProviderError>;
}

/// See the module docs.
pub struct OpenAiTranscriber {
    client: reqwest::Client,
    url: url::Url,
    config: TranscriptionConfig,
}

#[derive(Deserialize)]
struct TranscriptionResponse {
    text: String,
}

impl OpenAiTranscriber {
    pub fn new(config: TranscriptionConfig) -> Result<Self, String> {
        let (url, client) =
            super::endpoint(&config.base_url, "audio/transcriptions", config.timeout)?;
        Ok(Self {
            client,
            url,
            config,
        })
    }
}

fn file_name(mime: &str) -> &'static str {
    match mime {
        "audio/mpeg" | "audio/mp3" => "voice.mp3",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" => "voice.m4a",
        "audio/wav" | "audio/x-wav" => "voice.wav",
        "audio/webm" => "voice.webm",
        _ => "voice.ogg",
    }
}

#[async_trait::async_trait]
impl Transcriber for OpenAiTranscriber {
    async fn transcribe(
        &self,
        audio: Vec<u8>,
        mime_type: Option<&str>,
        deadline: Instant,
    ) -> Result<String, ProviderError> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(ProviderError::Timeout);
        }
        let mime = mime_type.unwrap_or("audio/ogg");
        let part = reqwest::multipart::Part::bytes(audio)
            .file_name(file_name(mime))
            .mime_str(mime)
            .map_err(|_| ProviderError::Unsupported("unknown audio format".into()))?;
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", self.config.model.clone())
            .text("response_format", "json");
        let mut request = self
            .client
            .post(self.url.clone())
            .timeout(self.config.timeout.min(remaining))
            .multipart(form);
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose());
        }
        let call = async {
            let response = request.send().await.map_err(super::http::classify)?;
            let status = response.status();
            if !status.is_success() {
                return Err(ProviderError::Status {
                    status: status.as_u16(),
                    retry_after: super::http::retry_after(response.headers()),
                });
            }
            response.bytes().await.map_err(super::http::classify)
        };
        let bytes = tokio::time::timeout_at(deadline, call)
            .await
            .map_err(|_| ProviderError::Timeout)??;
        let parsed: TranscriptionResponse = serde_json::from_slice(&bytes)
            .map_err(|_| ProviderError::InvalidResponse("not a transcription".into()))?;
        let text: String = parsed
            .text
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect();
        let text = text.trim();
        if text.is_empty() {
            return Err(ProviderError::Unsupported("no speech recognised".into()));
        }
        if text.len() > MAX_TEXT_BYTES {
            return Err(ProviderError::InvalidResponse(
                "transcription too long".into(),
            ));
        }
        Ok(text.to_string())
    }
}
