//! Discord REST calls: serenity builds each request, the runtime executes it.
//!
//! serenity's `Http` can only be pointed elsewhere (a test fake, a proxy) with its own rate
//! limiter disabled, and then it drops what a 429 says: the `Retry-After` header and Discord's
//! body (`{"retry_after": 0.5, ...}`, which has no `code`, so serenity cannot decode it). So every
//! call the runtime makes is built by serenity's [`Request::build`] (route, `Authorization`,
//! user agent, the base-URL rewrite) and executed here with the same reqwest client, and the raw
//! answer is classified: 2xx success; 429 `retry after` exactly as Discord says; 5xx and network
//! errors transient; other 4xx permanent. The same path runs in production and under test
//! (`docs/adr/0009-discord.md`).
//!
//! Error texts never contain the URL (interaction routes carry a token in it), the bot token or
//! response bodies beyond Discord's short error message.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serenity::http::{LightMethod, Request, Route};
use serenity::model::id::{ApplicationId, ChannelId, InteractionId, MessageId};

use crate::platforms::{MediaError, SendError};
use crate::secret::Secret;

/// How a REST call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("refused: {0}")]
    Permanent(String),
}

impl From<RestError> for SendError {
    fn from(e: RestError) -> Self {
        match e {
            RestError::RetryAfter(d) => SendError::RetryAfter(d),
            RestError::Transient(s) => SendError::Transient(s),
            RestError::Permanent(s) => SendError::Permanent(s),
        }
    }
}

/// See the module docs.
pub struct Rest {
    client: reqwest::Client,
    /// `Bot <token>`, the `Authorization` header.
    authorization: Secret,
    /// The REST base URL replacing `https://discord.com` in serenity's routes.
    base: String,
}

#[derive(serde::Deserialize)]
struct DiscordError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
    #[serde(default)]
    retry_after: Option<f64>,
}

impl Rest {
    pub fn new(token: &Secret, api_url: &url::Url, client: reqwest::Client) -> Self {
        Self {
            client,
            authorization: Secret::new(format!("Bot {}", token.expose())),
            base: api_url.as_str().trim_end_matches('/').to_string(),
        }
    }

    /// Downloads an attachment (a voice message) from the URL Discord gave for it, without the
    /// bot's token (the CDN needs none), at most `max` bytes.
    pub async fn download(&self, url: &str, max: u64) -> Result<Vec<u8>, MediaError> {
        let fetch = |what: &str| MediaError::Fetch(what.to_string());
        let url = url::Url::parse(url).map_err(|_| fetch("not a URL"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(fetch("not an HTTP URL"));
        }
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| MediaError::Fetch(describe_network(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(MediaError::Fetch(format!("HTTP {status}")));
        }
        if let Some(len) = response.content_length().filter(|&n| n > max) {
            return Err(MediaError::TooLarge(len));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| MediaError::Fetch(describe_network(&e)))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                return Err(MediaError::TooLarge(bytes.len() as u64));
            }
        }
        Ok(bytes)
    }

    /// Runs one request; the successful response, or a classified error.
    pub async fn execute(&self, request: Request<'_>) -> Result<reqwest::Response, RestError> {
        let builder = request
            .build(&self.client, self.authorization.expose(), Some(&self.base))
            .map_err(|e| RestError::Permanent(format!("cannot build the request: {e}")))?;
        let response = builder.send().await.map_err(network)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let body: Option<DiscordError> = response
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if status.as_u16() == 429 {
            let secs = body
                .as_ref()
                .and_then(|b| b.retry_after)
                .or(header_wait)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .unwrap_or(1.0);
            return Err(RestError::RetryAfter(Duration::from_secs_f64(
                secs.min(3600.0),
            )));
        }
        let what = match &body {
            Some(b) if !b.message.is_empty() => {
                let message: String = b.message.chars().take(120).collect();
                format!("HTTP {} ({message}, code {})", status.as_u16(), b.code)
            }
            _ => format!("HTTP {}", status.as_u16()),
        };
        if status.is_server_error() {
            Err(RestError::Transient(what))
        } else {
            Err(RestError::Permanent(what))
        }
    }

    /// Runs one request and decodes its JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, request: Request<'_>) -> Result<T, RestError> {
        let response = self.execute(request).await?;
        let bytes = response.bytes().await.map_err(network)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RestError::Transient(format!("unexpected answer: {}", e.classify_name())))
    }

    /// Posts a message in `channel`, quoting `reply_to` if given, pinging nobody. With a
    /// `nonce` (at most 25 characters), Discord creates nothing when the bot sent the same
    /// nonce in the past few minutes and answers with that message instead (`enforce_nonce`),
    /// so sending again after a crash does not post the reply twice.
    pub async fn create_message(
        &self,
        channel: ChannelId,
        content: &str,
        reply_to: Option<MessageId>,
        nonce: Option<&str>,
    ) -> Result<(), RestError> {
        let mut body = serde_json::json!({
            "content": content,
            "allowed_mentions": { "parse": [] },
        });
        if let Some(nonce) = nonce {
            body["nonce"] = nonce.into();
            body["enforce_nonce"] = true.into();
        }
        if let Some(id) = reply_to {
            body["message_reference"] = serde_json::json!({
                "message_id": id.to_string(),
                "fail_if_not_exists": false,
            });
        }
        let request = Request::new(
            Route::ChannelMessages {
                channel_id: channel,
            },
            LightMethod::Post,
        )
        .body(Some(to_bytes(&body)));
        self.execute(request).await.map(|_| ())
    }

    /// Messages of `channel` after `after`, oldest first (Discord answers newest first).
    pub async fn messages_after(
        &self,
        channel: ChannelId,
        after: MessageId,
        limit: u8,
    ) -> Result<Vec<serenity::model::channel::Message>, RestError> {
        let request = Request::new(
            Route::ChannelMessages {
                channel_id: channel,
            },
            LightMethod::Get,
        )
        .params(Some(vec![
            ("after", after.to_string()),
            ("limit", limit.to_string()),
        ]));
        let mut messages: Vec<serenity::model::channel::Message> = self.json(request).await?;
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    /// The guild `channel` belongs to; `None` for a DM.
    pub async fn channel_guild(&self, channel: ChannelId) -> Result<Option<u64>, RestError> {
        let request = Request::new(
            Route::Channel {
                channel_id: channel,
            },
            LightMethod::Get,
        );
        let value: serde_json::Value = self.json(request).await?;
        Ok(value
            .get("guild_id")
            .and_then(serde_json::Value::as_str)
            .and_then(|g| g.parse::<u64>().ok())
            .filter(|g| *g != 0))
    }

    /// Acknowledges an interaction now and answers it later (Discord allows 3 s for the first).
    pub async fn defer(
        &self,
        interaction: InteractionId,
        token: &str,
        ephemeral: bool,
    ) -> Result<(), RestError> {
        let mut body = serde_json::json!({ "type": 5 });
        if ephemeral {
            body["data"] = serde_json::json!({ "flags": 64 });
        }
        let request = Request::new(
            Route::InteractionResponse {
                interaction_id: interaction,
                token,
            },
            LightMethod::Post,
        )
        .body(Some(to_bytes(&body)));
        self.execute(request).await.map(|_| ())
    }

    /// Replaces a deferred interaction response with `content`.
    pub async fn edit_original(
        &self,
        application: ApplicationId,
        token: &str,
        content: &str,
    ) -> Result<(), RestError> {
        let body = serde_json::json!({ "content": content, "allowed_mentions": { "parse": [] } });
        let request = Request::new(
            Route::WebhookOriginalInteractionResponse {
                application_id: application,
                token,
            },
            LightMethod::Patch,
        )
        .body(Some(to_bytes(&body)));
        self.execute(request).await.map(|_| ())
    }

    /// A further message answering an interaction (the parts after the first).
    pub async fn followup(
        &self,
        application: ApplicationId,
        token: &str,
        content: &str,
        ephemeral: bool,
    ) -> Result<(), RestError> {
        let mut body =
            serde_json::json!({ "content": content, "allowed_mentions": { "parse": [] } });
        if ephemeral {
            body["flags"] = serde_json::json!(64);
        }
        let request = Request::new(
            Route::WebhookFollowupMessages {
                application_id: application,
                token,
            },
            LightMethod::Post,
        )
        .body(Some(to_bytes(&body)));
        self.execute(request).await.map(|_| ())
    }

    /// Replaces the application's global commands with `commands`.
    pub async fn set_global_commands(
        &self,
        application: ApplicationId,
        commands: &serde_json::Value,
    ) -> Result<(), RestError> {
        let request = Request::new(
            Route::Commands {
                application_id: application,
            },
            LightMethod::Put,
        )
        .body(Some(to_bytes(commands)));
        self.execute(request).await.map(|_| ())
    }

    /// The bot's user id and its application id.
    pub async fn identity(&self) -> Result<(u64, u64), RestError> {
        let user: serenity::model::user::CurrentUser = self
            .json(Request::new(Route::UserMe, LightMethod::Get))
            .await?;
        let application: serenity::model::application::CurrentApplicationInfo = self
            .json(Request::new(
                Route::Oauth2ApplicationCurrent,
                LightMethod::Get,
            ))
            .await?;
        Ok((user.id.get(), application.id.get()))
    }

    /// Discord's recommended shard count (`GET /gateway/bot`).
    pub async fn recommended_shards(&self) -> Result<u32, RestError> {
        let request = Request::new(Route::GatewayBot, LightMethod::Get);
        let gateway: serenity::model::gateway::BotGateway = self.json(request).await?;
        Ok(gateway.shards.max(1))
    }
}

fn to_bytes(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn network(e: reqwest::Error) -> RestError {
    RestError::Transient(describe_network(&e))
}

/// What went wrong, without the URL (an attachment's URL is the user's content).
fn describe_network(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "network error"
    };
    what.to_string()
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "malformed JSON",
            serde_json::error::Category::Data => "unexpected shape",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}
