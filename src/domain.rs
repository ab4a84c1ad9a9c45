//! The shared vocabulary of the runtime: who talks (platform, chat, user), what they send (an
//! [`Inbound`] message) and what the bot answers (an [`Outbound`] reply).
//!
//! Platform adapters translate their wire types into these at the boundary; nothing in
//! `src/actors` sees a teloxide or serenity type.

use std::fmt;
use std::sync::Arc;
use tokio::time::Instant;

/// Which chat platform a message belongs to. A small closed set, so it is safe as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformId {
    /// One chat over stdin/stdout.
    Console,
    /// An in-process platform for tests, benchmarks and embedding.
    Memory,
    /// Telegram Bot API.
    Telegram,
    /// Discord gateway and REST.
    Discord,
}

impl PlatformId {
    /// Stable lowercase name, used in logs, metric labels and actor paths.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Memory => "memory",
            Self::Telegram => "telegram",
            Self::Discord => "discord",
        }
    }
}

impl fmt::Display for PlatformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A chat (private conversation, group or channel) on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChatKey {
    pub platform: PlatformId,
    pub chat: Arc<str>,
}

impl ChatKey {
    pub fn new(platform: PlatformId, chat: impl Into<Arc<str>>) -> Self {
        Self {
            platform,
            chat: chat.into(),
        }
    }
}

impl fmt::Display for ChatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.chat)
    }
}

/// A user on one platform. Used as a rate-limit key; never as a metric label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey {
    pub platform: PlatformId,
    pub user: Arc<str>,
}

impl UserKey {
    pub fn new(platform: PlatformId, user: impl Into<Arc<str>>) -> Self {
        Self {
            platform,
            user: user.into(),
        }
    }
}

/// Identifies one inbound message for exactly-once handling: the platform's own id for it
/// (Telegram `update_id`, Discord message id, console line number), scoped to its chat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    pub chat: ChatKey,
    pub id: Arc<str>,
}

impl fmt::Display for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.chat, self.id)
    }
}

impl MessageKey {
    /// The correlation id of this message: every log line about it, in every actor that
    /// touches it, carries it as `corr`. Derived from the key (FNV-1a), so a message redelivered
    /// after a crash keeps its id, and it names no user or chat.
    pub fn corr(&self) -> Corr {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let platform = self.chat.platform.as_str().as_bytes();
        for part in [platform, self.chat.chat.as_bytes(), self.id.as_bytes()] {
            for b in part.iter().chain(std::iter::once(&0xff)) {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Corr(h)
    }
}

/// A correlation id (see [`MessageKey::corr`]); prints as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Corr(u64);

impl fmt::Display for Corr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Kind of chat, which decides how chatty the bot may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChatKind {
    #[default]
    Private,
    Group,
}

/// One message from a user, as every platform hands it to the runtime.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub key: MessageKey,
    pub user: UserKey,
    pub chat_kind: ChatKind,
    /// The platform's own id of the message, to reply to (may differ from `key.id`).
    pub reply_to: Option<Arc<str>>,
    /// The text as received. Platforms pass it through unchanged except for a hard size cap;
    /// see [`Inbound::truncated`].
    pub text: String,
    /// The platform cut the text because it exceeded the adapter's hard cap; the original was
    /// at least this many characters long.
    pub truncated: Option<usize>,
    /// The text of the message this one replies to (or the part of it the user quoted), when
    /// the platform delivers it. Passed through like `text`: unchanged, control characters
    /// included (the parser sanitises), and bounded by the platform's own message limit (the
    /// Telegram and Discord adapters do not cut `text` either; the console has no replies).
    /// `None` for a reply to a message without text (a sticker, a photo without caption).
    pub quoted: Option<String>,
    /// The user's interface language as the platform reports it (IETF tag, e.g. `es`, `pt-br`).
    pub user_language: Option<Arc<str>>,
    /// A voice message to transcribe; `text` then holds its caption (possibly empty).
    pub voice: Option<Voice>,
    /// The message holds nothing the bot can read (a sticker, a photo or a file without a
    /// caption): it is answered with a hint. Platforms set it only in private chats; in a group
    /// such a message is ignored.
    pub unreadable: bool,
    /// When the platform adapter read the message off the platform (monotonic; not kept across
    /// restarts). Where the runtime's own share of a reply's latency starts
    /// (`tolmach_runtime_overhead_seconds`).
    pub received_at: Instant,
}

/// A voice message, fetched from the platform on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voice {
    /// The platform's handle for the audio file.
    pub file_id: Arc<str>,
    pub duration_secs: u32,
    pub mime_type: Option<Arc<str>>,
}

/// One reply, addressed to the chat and message it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    pub chat: ChatKey,
    /// For pacing: groups have stricter limits.
    pub chat_kind: ChatKind,
    /// The inbound message this answers (its ledger key).
    pub in_reply_to: MessageKey,
    /// What the reply answers, in the platform's terms (a message id; an interaction handle),
    /// when it has one. Kept on every part of a split reply; platforms decide per part.
    pub reply_to: Option<Arc<str>>,
    /// Which part of a split reply this is (0 for the first or only one).
    pub part: u16,
    pub text: String,
}
