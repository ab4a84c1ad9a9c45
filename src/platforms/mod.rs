//! Chat platforms: one trait, one file per platform.
//!
//! A platform turns its wire protocol into [`Inbound`] messages and delivers [`Outbound`]
//! replies. It holds the transport (stdin, an HTTP client, a gateway connection), which lives as
//! long as the process; the platform's *session actor* (`src/actors/session.rs`) pulls messages
//! from it, records them in the ledger and routes them to conversation actors, and the outbox
//! (`src/delivery/outbox.rs`) pushes replies back through [`Platform::send`]. Because the
//! transport is not inside an actor, killing the session actor loses nothing that was received.

pub mod console;
pub mod discord;
pub mod memory;
pub mod telegram;

use std::sync::Mutex;
use std::time::Duration;

use crate::delivery::pacing::Pacing;
use crate::domain::{Inbound, MessageKey, Outbound, PlatformId, Voice};
use crate::supervision::{ChildSpec, SupervisorTemplate};

/// Whether a platform is connected, and what it last saw, for `/readyz`, the
/// `tolmach_platform_connected` gauge and `/status`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Connection {
    pub connected: bool,
    /// What the platform last saw (never a token or user text).
    pub detail: String,
}

impl Connection {
    pub fn up(detail: impl Into<String>) -> Self {
        Self {
            connected: true,
            detail: detail.into(),
        }
    }

    pub fn down(detail: impl Into<String>) -> Self {
        Self {
            connected: false,
            detail: detail.into(),
        }
    }
}

/// A [`Connection`] that a platform's input loop updates and health checks read. Changes
/// between connected and not are logged.
#[derive(Debug)]
pub struct ConnectionCell {
    platform: PlatformId,
    current: Mutex<Connection>,
}

impl ConnectionCell {
    pub fn new(platform: PlatformId, initial: Connection) -> Self {
        Self {
            platform,
            current: Mutex::new(initial),
        }
    }

    pub fn set(&self, c: Connection) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.connected != c.connected {
            let platform = self.platform.as_str();
            if c.connected {
                tracing::info!(platform, detail = %c.detail, "platform connected");
            } else {
                tracing::warn!(platform, detail = %c.detail, "platform disconnected");
            }
        }
        *cur = c;
    }

    pub fn get(&self) -> Connection {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Why a reply could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying after a backoff (network error, 5xx).
    #[error("temporary failure: {0}")]
    Transient(String),
    /// The platform asked to wait this long before trying again (HTTP 429).
    #[error("rate limited; retry after {0:?}")]
    RetryAfter(Duration),
    /// Retrying cannot help (bot blocked, chat gone, message rejected).
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A chat platform. See the module docs.
#[async_trait::async_trait]
pub trait Platform: Send + Sync + 'static {
    fn id(&self) -> PlatformId;

    /// The next message from a user. `None` means no more will ever come (input closed).
    ///
    /// Must be cancel safe: if the returned future is dropped before it completes, no message
    /// is lost (the session actor that awaits it may be killed at any time). Only one caller
    /// awaits at a time.
    async fn recv(&self) -> Option<Inbound>;

    /// Delivers one reply.
    async fn send(&self, reply: &Outbound) -> Result<(), SendError>;

    /// Stops taking new messages: `recv` returns `None` once what was already received has
    /// been handed out.
    fn close(&self);

    /// A plain-text reply in the platform's message format, with anything the platform would
    /// read as markup escaped (before splitting). Plain text by default.
    fn render(&self, text: &str) -> String {
        text.to_string()
    }

    /// Whether the platform is connected now. Always connected by default (local input).
    fn connection(&self) -> Connection {
        Connection::up("local")
    }

    /// Longest reply the platform accepts, in characters; longer replies are split.
    fn max_reply_chars(&self) -> usize {
        usize::MAX
    }

    /// How fast replies may be sent. Unlimited by default.
    fn pacing(&self) -> Pacing {
        Pacing::default()
    }

    /// The message `key` is handled for good: its reply was accepted by the platform (or given
    /// up on), or it was deliberately ignored. Platforms with a replayable input use this to
    /// move their durable position forward. Called once per accepted message, never while a
    /// lock of the runtime is held.
    fn ack(&self, key: &MessageKey) {
        let _ = key;
    }

    /// Actors this platform needs supervised (Discord: one per gateway shard, under a supervisor
    /// of their own), placed under the platforms supervisor before the platform's session.
    /// Called once at start; an error stops the start with that message.
    async fn actors(&self, template: &SupervisorTemplate) -> Result<Vec<ChildSpec>, String> {
        let _ = template;
        Ok(Vec::new())
    }

    /// Called once at the end of a graceful shutdown, after every reply went out: tell the
    /// platform where to resume (Telegram confirms its offset). Must return by `deadline`.
    async fn finish(&self, deadline: tokio::time::Instant) {
        let _ = deadline;
    }

    /// The audio of a voice message.
    async fn fetch_voice(&self, voice: &Voice) -> Result<Vec<u8>, MediaError> {
        let _ = voice;
        Err(MediaError::Unsupported)
    }
}

/// Why a voice message's audio could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("this platform has no media")]
    Unsupported,
    #[error("the file is too large ({0} bytes)")]
    TooLarge(u64),
    #[error("cannot fetch the file: {0}")]
    Fetch(String),
}
