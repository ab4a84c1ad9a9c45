//! A fake Telegram Bot API server.
//!
//! [`FakeTelegram`] is a real HTTP/1 server bound to a local port that speaks enough of
//! the [Bot API](https://core.telegram.org/bots/api) for a long-polling bot: point the
//! real client at [`FakeTelegram::api_url`] instead of `https://api.telegram.org` (with
//! teloxide: `Bot::new(token).set_api_url(fake.api_url().parse()?)`) and play both
//! sides of a conversation from the test:
//!
//! * **the users' side**: [`FakeTelegram::send_text`], [`FakeTelegram::push_message`]
//!   (with a [`MessageBuilder`] for photos, voice notes, stickers, service messages,
//!   edits, channel posts, and replies with or without a quote) and [`FakeTelegram::push_update`] (raw JSON) queue
//!   updates that the bot receives through `getUpdates`;
//! * **the bot's side**: every call is recorded ([`FakeTelegram::calls`]), every accepted
//!   `sendMessage` too ([`FakeTelegram::sent`]), and [`FakeTelegram::wait_for_sent`] /
//!   [`FakeTelegram::wait_for_calls`] let a test wait for them without polling or sleeping;
//! * **faults**: [`FakeTelegram::fail_next`] makes the next calls of a method fail the way
//!   Telegram (or a proxy in front of it) fails: 429 with `retry_after`, 5xx with an HTML
//!   body, API errors such as "bot was blocked by the user", group migration, a body
//!   that is not JSON, a slow answer or a dropped connection ([`Fault`]);
//!   [`FakeTelegram::set_limits`] turns on Telegram-like flood limits ([`Limits`]).
//!
//! The JSON it produces was checked against the real teloxide client (0.17 / teloxide-core
//! 0.13): the tests in this module drive that client and assert on the parsed types.
//!
//! # Telegram semantics modelled
//!
//! * **Long polling.** `getUpdates` first *confirms*: every update with
//!   `update_id < offset` is forgotten and offsets only move forward; a negative offset
//!   keeps only the last `-offset` updates. It then returns the pending updates, oldest
//!   first, at most `limit` (default and maximum 100). When there are none it holds the
//!   request until an update is pushed or `timeout` seconds pass (it wakes on the push; no
//!   polling loop). Updates are returned again by later calls until a later offset
//!   confirms them, exactly as Telegram redelivers after a crash.
//! * **`allowed_updates`** is remembered from the last call that passed it (like Telegram);
//!   an empty list or no list at all means every kind except `chat_member`,
//!   `message_reaction` and `message_reaction_count`. Updates of kinds not allowed are
//!   skipped (and confirmed by later offsets). The filter is applied at delivery, so unlike
//!   Telegram it also hides updates queued before the filter was set.
//! * **One poller.** A `getUpdates` that arrives while another one is waiting ends the
//!   older one with 409 "Conflict: terminated by other getUpdates request; ...".
//! * **Messages.** `message_id`s increase per chat and are shared by the users' and the
//!   bot's messages. The fake remembers every chat and message it has seen (pushed or
//!   sent), so `sendMessage` answers with the chat as known, and replies carry the full
//!   `reply_to_message` (without its own `reply_to_message`, as Telegram does). A reply to
//!   a message the fake does not know is refused with 400 "Bad Request: message to be
//!   replied not found" unless `allow_sending_without_reply` is set.
//! * **Text checks.** Empty (or whitespace-only) text: 400 "Bad Request: message text is
//!   empty"; more than 4096 UTF-16 code units: 400 "Bad Request: message is too long".
//!   The text is recorded and echoed verbatim: `parse_mode` markup is not parsed (only
//!   the mode's name is checked), so the length check counts markup too.
//! * **Entities.** Incoming texts and captions get `bot_command` entities for `/command`
//!   and `/command@botname` at the start of a word and `mention` entities for
//!   `@username` (5 to 32 word characters), with offsets and lengths in UTF-16 code units.
//! * **Flood limits** (off by default, see [`Limits`]): sliding windows per chat, per
//!   group chat and globally; a send over a limit gets 429 with
//!   `parameters.retry_after` = whole seconds until it would be allowed.
//! * **Errors** use Telegram's envelope `{"ok":false,"error_code":N,"description":"..."}`
//!   and descriptions, which teloxide maps to its `ApiError` variants.
//!
//! Deliberate leniency: `sendMessage` to a chat the fake has never seen succeeds (the chat
//! is made up from the id: positive = private, `-100…` = supergroup, other negative =
//! group); use [`Fault::Api`] with "Bad Request: chat not found" to test that error.
//! `can_read_all_group_messages` is reported as `false` (privacy mode), but the fake
//! delivers whatever the test pushes.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `POST` or `GET /bot{TOKEN}/{method}` | the method below; JSON body, form body (`application/x-www-form-urlencoded`) and query parameters are all accepted; method names are case-insensitive |
//! | `… /getMe` | the bot user (`id` from the token's numeric prefix, username configurable) |
//! | `… /getUpdates` | `offset`, `limit`, `timeout`, `allowed_updates` as described above |
//! | `… /sendMessage` | `chat_id` (id or `@username`), `text`, `reply_parameters` / `reply_to_message_id`, `parse_mode`, `entities`, `message_thread_id`, inline `reply_markup`: the sent `Message` |
//! | `… /getFile` | `{file_id, file_unique_id, file_size, file_path}` for files added with [`FakeTelegram::add_file`], else 400 "Bad Request: invalid file_id" |
//! | `… /getWebhookInfo` | `{"url":"","has_custom_certificate":false,"pending_update_count":N}` |
//! | `… /deleteWebhook` | `true` (with `drop_pending_updates`: pending updates are confirmed) |
//! | `… /setMyCommands`, `/deleteMyCommands`, `/getMyCommands` | stored and returned (scope and language are ignored) |
//! | `… /sendChatAction`, `/logOut`, `/close` | `true` |
//! | `… /{any other method}` | 404 `{"ok":false,"error_code":404,"description":"Not Found"}` |
//! | wrong token | 401 `{"ok":false,"error_code":401,"description":"Unauthorized"}` |
//! | `GET /file/bot{TOKEN}/{file_path}` | the bytes of a file added with [`FakeTelegram::add_file`] (the path may be percent-encoded, as teloxide sends it), else 404 |
//! | anything else | 404 Not Found |
//!
//! Every `/bot…` call, including refused ones, is recorded in [`FakeTelegram::calls`] with
//! its canonical (lower-case) method name; file downloads are recorded as method `file`
//! with params `{"file_path": …}`, and [`FakeTelegram::fail_next`] works for them too.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use teloxide::prelude::*;
//! use tolmach_testkit::{FakeTelegram, TgChat, TgUser};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = FakeTelegram::start("123456:TEST").await?;
//! let bot = Bot::new("123456:TEST").set_api_url(fake.api_url().parse()?);
//! // ... start the code under test with `bot` ...
//! let alice = TgUser::new(42, "Alice").language("es");
//! fake.send_text(&TgChat::private(42, "Alice"), &alice, "/start");
//! assert!(fake.wait_for_sent(1, Duration::from_secs(5)).await);
//! assert_eq!(fake.sent()[0].chat_id, 42);
//! # let _ = bot;
//! # Ok(())
//! # }
//! ```
//!
//! Clients built on reqwest honour `HTTP(S)_PROXY` even for `127.0.0.1`: build them with
//! `.no_proxy()` (teloxide: `Bot::with_client`) or set `NO_PROXY=127.0.0.1,localhost`.
//!
//! The server stops (listener closed, open connections dropped) when the last clone of
//! the [`FakeTelegram`] handle is dropped.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Username reported by `getMe` unless [`FakeTelegram::with_username`] says otherwise.
pub const DEFAULT_BOT_USERNAME: &str = "tolmach_test_bot";

/// First name reported by `getMe` unless [`FakeTelegram::with_first_name`] says otherwise.
pub const DEFAULT_BOT_FIRST_NAME: &str = "Tolmach Test Bot";

/// Bot id used when the token does not start with a numeric id (`"123456:ABC"` gives 123456).
pub const DEFAULT_BOT_ID: i64 = 7_000_000_001;

/// Longest accepted message text, in UTF-16 code units.
pub const MAX_MESSAGE_UTF16_LEN: usize = 4096;

/// Body of a [`Fault::MalformedJson`] answer: a JSON document cut off in the middle.
pub const MALFORMED_BODY: &str = r#"{"ok":true,"result":{"message_id":"#;

/// Description of the 409 that ends a `getUpdates` superseded by a newer one.
pub const CONFLICT_DESCRIPTION: &str = "Conflict: terminated by other getUpdates request; \
                                        make sure that only one bot instance is running";

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Methods the fake implements, by canonical (lower-case) name.
const METHODS: &[&str] = &[
    "getme",
    "getupdates",
    "sendmessage",
    "getfile",
    "getwebhookinfo",
    "deletewebhook",
    "setmycommands",
    "getmycommands",
    "deletemycommands",
    "sendchataction",
    "logout",
    "close",
];

/// Update kinds left out when `allowed_updates` is empty or was never given.
const OPT_IN_UPDATE_KINDS: &[&str] = &["chat_member", "message_reaction", "message_reaction_count"];

/// Update kinds whose payload is a `Message`.
const MESSAGE_UPDATE_KINDS: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
];

// ---------------------------------------------------------------------------------------
// Public value types
// ---------------------------------------------------------------------------------------

/// Type of a Telegram chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatKind {
    /// A one-to-one chat with a user (`"private"`).
    Private,
    /// A basic group (`"group"`).
    Group,
    /// A supergroup (`"supergroup"`), ids usually start with `-100`.
    Supergroup,
    /// A channel (`"channel"`), ids usually start with `-100`.
    Channel,
}

impl ChatKind {
    /// The Bot API spelling: `private`, `group`, `supergroup` or `channel`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Private => "private",
            ChatKind::Group => "group",
            ChatKind::Supergroup => "supergroup",
            ChatKind::Channel => "channel",
        }
    }
}

/// A chat as the users' side of a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgChat {
    /// Chat id: positive for private chats, negative for groups, `-100…` for supergroups
    /// and channels.
    pub id: i64,
    /// Chat type.
    pub kind: ChatKind,
    /// Title of a group, supergroup or channel.
    pub title: Option<String>,
    /// First name of the other party of a private chat.
    pub first_name: Option<String>,
    /// Username of a private chat, supergroup or channel.
    pub username: Option<String>,
}

impl TgChat {
    /// A private chat with the user `id` (a private chat's id is the user's id).
    pub fn private(id: i64, first_name: &str) -> TgChat {
        TgChat {
            id,
            kind: ChatKind::Private,
            title: None,
            first_name: Some(first_name.to_owned()),
            username: None,
        }
    }

    /// The private chat with `user` (same id, first name and username).
    pub fn private_with(user: &TgUser) -> TgChat {
        TgChat {
            username: user.username.clone(),
            ..TgChat::private(user.id, &user.first_name)
        }
    }

    /// A basic group.
    pub fn group(id: i64, title: &str) -> TgChat {
        TgChat::public(id, ChatKind::Group, title)
    }

    /// A supergroup.
    pub fn supergroup(id: i64, title: &str) -> TgChat {
        TgChat::public(id, ChatKind::Supergroup, title)
    }

    /// A channel.
    pub fn channel(id: i64, title: &str) -> TgChat {
        TgChat::public(id, ChatKind::Channel, title)
    }

    fn public(id: i64, kind: ChatKind, title: &str) -> TgChat {
        TgChat {
            id,
            kind,
            title: Some(title.to_owned()),
            first_name: None,
            username: None,
        }
    }

    /// Sets the chat's public username (without `@`); `sendMessage` then also accepts
    /// `chat_id = "@username"` for it.
    pub fn with_username(mut self, username: &str) -> TgChat {
        self.username = Some(username.trim_start_matches('@').to_owned());
        self
    }

    /// The Bot API `Chat` object.
    pub fn to_json(&self) -> Value {
        let mut chat = Map::new();
        chat.insert("id".into(), self.id.into());
        chat.insert("type".into(), self.kind.as_str().into());
        if self.kind == ChatKind::Private {
            let first_name = self.first_name.as_deref().unwrap_or("User");
            chat.insert("first_name".into(), first_name.into());
        } else {
            let title = self.title.as_deref().unwrap_or("Chat");
            chat.insert("title".into(), title.into());
        }
        if let (Some(username), true) = (&self.username, self.kind != ChatKind::Group) {
            chat.insert("username".into(), username.as_str().into());
        }
        Value::Object(chat)
    }
}

/// A Telegram user (a person, or another bot with [`TgUser::bot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TgUser {
    /// User id.
    pub id: i64,
    /// First name.
    pub first_name: String,
    /// Username, without `@`.
    pub username: Option<String>,
    /// IETF language tag of the user's client, e.g. `"es"`.
    pub language_code: Option<String>,
    /// `true` for bots.
    pub is_bot: bool,
}

impl TgUser {
    /// A human user without username or language.
    pub fn new(id: i64, first_name: &str) -> TgUser {
        TgUser {
            id,
            first_name: first_name.to_owned(),
            username: None,
            language_code: None,
            is_bot: false,
        }
    }

    /// Sets `language_code`.
    pub fn language(mut self, code: &str) -> TgUser {
        self.language_code = Some(code.to_owned());
        self
    }

    /// Sets the username (a leading `@` is removed).
    pub fn with_username(mut self, username: &str) -> TgUser {
        self.username = Some(username.trim_start_matches('@').to_owned());
        self
    }

    /// Marks the user as a bot.
    pub fn bot(mut self) -> TgUser {
        self.is_bot = true;
        self
    }

    /// The Bot API `User` object.
    pub fn to_json(&self) -> Value {
        let mut user = Map::new();
        user.insert("id".into(), self.id.into());
        user.insert("is_bot".into(), self.is_bot.into());
        user.insert("first_name".into(), self.first_name.as_str().into());
        if let Some(username) = &self.username {
            user.insert("username".into(), username.as_str().into());
        }
        if let Some(code) = &self.language_code {
            user.insert("language_code".into(), code.as_str().into());
        }
        Value::Object(user)
    }
}

/// One `sendMessage` the fake accepted.
#[derive(Clone, Debug)]
pub struct SentMessage {
    /// The id the fake gave the message.
    pub message_id: i64,
    /// The chat it was sent to (resolved from `@username` if needed).
    pub chat_id: i64,
    /// The text, exactly as sent.
    pub text: String,
    /// The message it replies to, when the reply was made (from `reply_parameters` or
    /// `reply_to_message_id`; `None` when `allow_sending_without_reply` dropped it).
    pub reply_to_message_id: Option<i64>,
    /// All request parameters, as received (form and query values are strings).
    pub params: Value,
    /// When the fake accepted it (after any [`Fault::Delay`]).
    pub at: Instant,
}

/// One Bot API call received by the fake, whatever its outcome.
#[derive(Clone, Debug)]
pub struct ApiCall {
    /// Canonical method name: lower case (`"sendmessage"`, `"getupdates"`), or `"file"`
    /// for a file download.
    pub method: String,
    /// The request parameters as a JSON object (form and query values are strings);
    /// `Value::Null` when the body could not be parsed.
    pub params: Value,
    /// When the request was received.
    pub at: Instant,
    /// HTTP status answered; `0` while the call is still being answered (a long poll)
    /// or when the connection was dropped without an answer ([`Fault::Drop`]).
    pub status: u16,
}

/// A failure injected with [`FakeTelegram::fail_next`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 429 `{"description":"Too Many Requests: retry after N","parameters":{"retry_after":N}}`.
    RetryAfter(u64),
    /// That 5xx status with an HTML body, like a proxy in front of Telegram. (teloxide
    /// sleeps 10 s inside any request that gets a 5xx.)
    ServerError(u16),
    /// `{"ok":false,"error_code":code,"description":description}` with HTTP status `code`,
    /// e.g. 403 "Forbidden: bot was blocked by the user" or 400 "Bad Request: chat not found".
    Api {
        /// HTTP status and `error_code`.
        code: u16,
        /// Telegram's description; teloxide matches it to an `ApiError` variant.
        description: String,
    },
    /// 400 "Bad Request: group chat was upgraded to a supergroup chat" with
    /// `parameters.migrate_to_chat_id`.
    MigrateTo(i64),
    /// 200 with a body that is not JSON ([`MALFORMED_BODY`]).
    MalformedJson,
    /// Answer normally after this delay.
    Delay(Duration),
    /// Close the connection without answering.
    Drop,
    /// Do the call, then answer `{"ok":true,"result":VALUE}` instead of its result: a result
    /// the client may not be able to parse (a Bot API newer than the client).
    OddResult(Value),
}

impl Fault {
    /// `Fault::Api { code, description }`.
    pub fn api(code: u16, description: &str) -> Fault {
        Fault::Api {
            code,
            description: description.to_owned(),
        }
    }

    /// 403 "Forbidden: bot was blocked by the user".
    pub fn bot_blocked() -> Fault {
        Fault::api(403, "Forbidden: bot was blocked by the user")
    }

    /// 400 "Bad Request: chat not found".
    pub fn chat_not_found() -> Fault {
        Fault::api(400, "Bad Request: chat not found")
    }
}

/// Telegram-like flood limits on `sendMessage`, as sliding windows: at most `N` accepted
/// sends in any window of the given length. A limit with `N = 0` or a zero window is off.
///
/// * `per_chat` applies to each chat separately;
/// * `per_group` applies, in addition, to each group, supergroup or channel (negative
///   chat id) separately;
/// * `global` applies to all sends together.
///
/// A send over any limit is refused with 429 and `retry_after` = the whole number of
/// seconds (rounded up, at least 1) after which it would be allowed; refused sends do not
/// count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Sends per chat per window.
    pub per_chat: (u32, Duration),
    /// Sends per group chat per window.
    pub per_group: (u32, Duration),
    /// Sends in total per window.
    pub global: (u32, Duration),
}

impl Limits {
    /// Telegram's published limits as sliding windows, the way teloxide's `Throttle` adaptor
    /// models them: one message per second per chat, 20 per minute per group, 30 per second
    /// overall.
    pub fn telegram() -> Limits {
        Limits {
            per_chat: (1, Duration::from_secs(1)),
            per_group: (20, Duration::from_secs(60)),
            global: (30, Duration::from_secs(1)),
        }
    }

    /// How long a send to `chat_id` at `now` must wait, given earlier accepted sends
    /// `(time, chat_id)` in time order; `None` if it is allowed now.
    fn wait(&self, log: &VecDeque<(Instant, i64)>, chat_id: i64, now: Instant) -> Option<Duration> {
        let global = window_wait(log.iter().map(|(t, _)| *t), self.global, now);
        let in_chat = || log.iter().filter(|(_, c)| *c == chat_id).map(|(t, _)| *t);
        let per_chat = window_wait(in_chat(), self.per_chat, now);
        let per_group = if chat_id < 0 {
            window_wait(in_chat(), self.per_group, now)
        } else {
            None
        };
        [global, per_chat, per_group].into_iter().flatten().max()
    }

    /// The longest window, i.e. how long sends must be remembered.
    fn horizon(&self) -> Duration {
        self.per_chat.1.max(self.per_group.1).max(self.global.1)
    }
}

/// Wait before one more event fits `(n, window)`, given earlier event times in order.
fn window_wait(
    times: impl Iterator<Item = Instant>,
    (n, window): (u32, Duration),
    now: Instant,
) -> Option<Duration> {
    if n == 0 || window.is_zero() {
        return None;
    }
    let recent: Vec<Instant> = times
        .filter(|t| now.saturating_duration_since(*t) < window)
        .collect();
    let n = usize::try_from(n).unwrap_or(usize::MAX);
    if recent.len() < n {
        return None;
    }
    // The window has room again once the n-th most recent event has left it.
    let allowed_at = recent[recent.len() - n] + window;
    Some(allowed_at.saturating_duration_since(now))
}

/// Whole seconds, rounded up, at least 1.
fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

// ---------------------------------------------------------------------------------------
// Message builder
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Content {
    Text(String),
    Photo {
        caption: Option<String>,
    },
    Voice {
        file_id: String,
        duration: u32,
        caption: Option<String>,
    },
    Sticker,
    NewMembers(Vec<TgUser>),
}

/// Builds an incoming message for [`FakeTelegram::push_message`].
///
/// Every constructor produces JSON that teloxide parses into the matching
/// `MessageKind` / `MediaKind`; the modifiers turn it into a reply, an edit or a channel
/// post. The `message_id` comes from the chat's counter unless set with
/// [`with_message_id`](Self::with_message_id).
#[derive(Clone, Debug)]
pub struct MessageBuilder {
    chat: TgChat,
    from: TgUser,
    content: Content,
    reply_to: Option<i64>,
    quote: Option<String>,
    edited: bool,
    channel_post: bool,
    message_id: Option<i64>,
    file_id: Option<String>,
    extra: Map<String, Value>,
}

impl MessageBuilder {
    fn new(chat: &TgChat, from: &TgUser, content: Content) -> MessageBuilder {
        MessageBuilder {
            chat: chat.clone(),
            from: from.clone(),
            content,
            reply_to: None,
            quote: None,
            edited: false,
            channel_post: false,
            message_id: None,
            file_id: None,
            extra: Map::new(),
        }
    }

    /// A text message (`MediaKind::Text`) with `bot_command` / `mention` entities.
    pub fn text(chat: &TgChat, from: &TgUser, text: &str) -> MessageBuilder {
        MessageBuilder::new(chat, from, Content::Text(text.to_owned()))
    }

    /// A photo (two sizes) with a caption and its entities (`MediaKind::Photo`). An empty
    /// caption is left out.
    pub fn photo_with_caption(chat: &TgChat, from: &TgUser, caption: &str) -> MessageBuilder {
        let caption = (!caption.is_empty()).then(|| caption.to_owned());
        MessageBuilder::new(chat, from, Content::Photo { caption })
    }

    /// A voice note (`MediaKind::Voice`, `audio/ogg`). Register its bytes with
    /// [`FakeTelegram::add_file`] under the same `file_id` to let the bot download it.
    pub fn voice(
        chat: &TgChat,
        from: &TgUser,
        file_id: &str,
        duration_secs: u32,
        caption: Option<&str>,
    ) -> MessageBuilder {
        let content = Content::Voice {
            file_id: file_id.to_owned(),
            duration: duration_secs,
            caption: caption.map(str::to_owned),
        };
        MessageBuilder::new(chat, from, content)
    }

    /// A regular static sticker, emoji 👍 (`MediaKind::Sticker`).
    pub fn sticker(chat: &TgChat, from: &TgUser) -> MessageBuilder {
        MessageBuilder::new(chat, from, Content::Sticker)
    }

    /// The service message for `from` joining the chat (`MessageKind::NewChatMembers`).
    pub fn service_new_members(chat: &TgChat, from: &TgUser) -> MessageBuilder {
        MessageBuilder::new(chat, from, Content::NewMembers(vec![from.clone()]))
    }

    /// The service message for `from` adding `members` to the chat.
    pub fn service_members_added(
        chat: &TgChat,
        from: &TgUser,
        members: &[TgUser],
    ) -> MessageBuilder {
        MessageBuilder::new(chat, from, Content::NewMembers(members.to_vec()))
    }

    /// Makes it a reply to message `message_id` of the same chat (a user's or the bot's).
    /// If the fake knows that message, `reply_to_message` carries it; otherwise the field
    /// is left out (Telegram does the same for messages that are gone).
    pub fn reply_to(mut self, message_id: i64) -> MessageBuilder {
        self.reply_to = Some(message_id);
        self
    }

    /// Adds the part of the replied-to message the user selected: `quote` (a `TextQuote`,
    /// `is_manual`), with `position` = where `text` starts in the original's text or caption
    /// in UTF-16 code units (0 if the fake does not find it). Use with
    /// [`reply_to`](Self::reply_to); Telegram sends a quote only with a reply.
    pub fn quote(mut self, text: &str) -> MessageBuilder {
        self.quote = Some(text.to_owned());
        self
    }

    /// Makes it an `edited_message` (or `edited_channel_post`) with `edit_date`. Combine
    /// with [`with_message_id`](Self::with_message_id) to edit an earlier message;
    /// otherwise the edit gets a fresh id.
    pub fn edited(mut self) -> MessageBuilder {
        self.edited = true;
        self
    }

    /// Makes it a `channel_post`: no `from`, `sender_chat` = the chat.
    pub fn channel_post(mut self) -> MessageBuilder {
        self.channel_post = true;
        self
    }

    /// Uses this `message_id` instead of the chat's next one.
    pub fn with_message_id(mut self, message_id: i64) -> MessageBuilder {
        self.message_id = Some(message_id);
        self
    }

    /// Uses this `file_id` for the photo (largest size) or sticker.
    pub fn with_file_id(mut self, file_id: &str) -> MessageBuilder {
        self.file_id = Some(file_id.to_owned());
        self
    }

    /// Sets any other field of the message object (added last, so it may override).
    pub fn with_field(mut self, key: &str, value: Value) -> MessageBuilder {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// The update kind and the message object; allocates the message id from `state`.
    fn build(self, state: &mut State) -> (&'static str, Value) {
        let chat_id = self.chat.id;
        let message_id = match self.message_id {
            Some(id) => id,
            None => state.next_message_id(chat_id),
        };
        let now = unix_now();
        let date = if self.edited {
            state
                .messages
                .get(&(chat_id, message_id))
                .and_then(|m| m.get("date"))
                .and_then(Value::as_i64)
                .unwrap_or(now)
        } else {
            now
        };
        let mut m = Map::new();
        m.insert("message_id".into(), message_id.into());
        if self.channel_post {
            m.insert("sender_chat".into(), self.chat.to_json());
        } else {
            m.insert("from".into(), self.from.to_json());
        }
        m.insert("chat".into(), self.chat.to_json());
        m.insert("date".into(), date.into());
        if self.edited {
            m.insert("edit_date".into(), now.into());
        }
        let original = self
            .reply_to
            .and_then(|reply_to| state.messages.get(&(chat_id, reply_to)));
        if let Some(original) = original {
            m.insert("reply_to_message".into(), original.clone());
        }
        if let Some(quote) = self.quote {
            let whole = original
                .and_then(|o| o.get("text").or_else(|| o.get("caption")))
                .and_then(Value::as_str)
                .unwrap_or_default();
            let position = whole
                .find(quote.as_str())
                .map_or(0, |at| whole[..at].encode_utf16().count());
            m.insert(
                "quote".into(),
                json!({"text": quote, "position": position, "is_manual": true}),
            );
        }
        let file_ref = |id: &str, default_size: u64| -> (Value, Value, Value) {
            let size = state
                .files
                .get(id)
                .map_or(default_size, |f| f.bytes.len() as u64);
            (id.into(), unique_file_id(id).into(), size.into())
        };
        let base_id = |prefix: &str| format!("{prefix}_{}_{message_id}", chat_id.unsigned_abs());
        match self.content {
            Content::Text(text) => {
                let entities = compute_entities(&text);
                m.insert("text".into(), text.into());
                if !entities.is_empty() {
                    m.insert("entities".into(), entities.into());
                }
            }
            Content::Photo { caption } => {
                let big = self.file_id.unwrap_or_else(|| base_id("photo"));
                let small = format!("{big}_s");
                let (small_id, small_uid, small_size) = file_ref(&small, 1_254);
                let (big_id, big_uid, big_size) = file_ref(&big, 48_213);
                m.insert(
                    "photo".into(),
                    json!([
                        {
                            "file_id": small_id, "file_unique_id": small_uid,
                            "file_size": small_size, "width": 90, "height": 68,
                        },
                        {
                            "file_id": big_id, "file_unique_id": big_uid,
                            "file_size": big_size, "width": 1280, "height": 960,
                        },
                    ]),
                );
                insert_caption(&mut m, caption);
            }
            Content::Voice {
                file_id,
                duration,
                caption,
            } => {
                let (id, uid, size) = file_ref(&file_id, u64::from(duration.max(1)) * 2_000);
                m.insert(
                    "voice".into(),
                    json!({
                        "file_id": id, "file_unique_id": uid, "file_size": size,
                        "duration": duration, "mime_type": "audio/ogg",
                    }),
                );
                insert_caption(&mut m, caption);
            }
            Content::Sticker => {
                let file_id = self.file_id.unwrap_or_else(|| base_id("sticker"));
                let (id, uid, size) = file_ref(&file_id, 23_456);
                m.insert(
                    "sticker".into(),
                    json!({
                        "file_id": id, "file_unique_id": uid, "file_size": size,
                        "type": "regular", "width": 512, "height": 512,
                        "is_animated": false, "is_video": false,
                        "emoji": "👍", "set_name": "TolmachTestStickers",
                    }),
                );
            }
            Content::NewMembers(members) => {
                let members: Vec<Value> = members.iter().map(TgUser::to_json).collect();
                m.insert("new_chat_members".into(), members.into());
            }
        }
        m.extend(self.extra);
        let kind = match (self.channel_post, self.edited) {
            (false, false) => "message",
            (false, true) => "edited_message",
            (true, false) => "channel_post",
            (true, true) => "edited_channel_post",
        };
        (kind, Value::Object(m))
    }
}

fn insert_caption(m: &mut Map<String, Value>, caption: Option<String>) {
    if let Some(caption) = caption {
        let entities = compute_entities(&caption);
        m.insert("caption".into(), caption.into());
        if !entities.is_empty() {
            m.insert("caption_entities".into(), entities.into());
        }
    }
}

fn unique_file_id(file_id: &str) -> String {
    // FNV-1a: short, stable, and distinct for distinct ids in practice.
    let hash = file_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("AQAD{hash:016x}")
}

/// `bot_command` and `mention` entities of `text`, offsets and lengths in UTF-16 units.
///
/// A command is `/name` or `/name@bot` (word characters) at the start of the text or after
/// whitespace, not followed by a word character, `/` or `@`. A mention is `@name` with 5
/// to 32 word characters, not preceded by a word character, `/` or `@`.
pub fn compute_entities(text: &str) -> Vec<Value> {
    let chars: Vec<char> = text.chars().collect();
    let mut utf16 = Vec::with_capacity(chars.len() + 1);
    let mut offset = 0;
    for c in &chars {
        utf16.push(offset);
        offset += c.len_utf16();
    }
    utf16.push(offset);
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let word_end = |mut j: usize| {
        while j < chars.len() && is_word(chars[j]) {
            j += 1;
        }
        j
    };
    let entity = |kind: &str, start: usize, end: usize| {
        let (offset, length) = (utf16[start], utf16[end] - utf16[start]);
        json!({ "type": kind, "offset": offset, "length": length })
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        if chars[i] == '/' && prev.is_none_or(char::is_whitespace) {
            let name_end = word_end(i + 1);
            if name_end > i + 1 && name_end - i - 1 <= 64 {
                let mut end = name_end;
                if end < chars.len() && chars[end] == '@' {
                    let bot_end = word_end(end + 1);
                    if bot_end > end + 1 {
                        end = bot_end;
                    }
                }
                let ends_well = chars.get(end).is_none_or(|&c| c != '/' && c != '@');
                if ends_well {
                    out.push(entity("bot_command", i, end));
                    i = end;
                    continue;
                }
            }
        } else if chars[i] == '@' && prev.is_none_or(|p| !is_word(p) && p != '/' && p != '@') {
            let end = word_end(i + 1);
            let len = end - i - 1;
            if (5..=32).contains(&len) && chars.get(end) != Some(&'@') {
                out.push(entity("mention", i, end));
                i = end;
                continue;
            }
        }
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Server state
// ---------------------------------------------------------------------------------------

struct PendingUpdate {
    id: i64,
    kind: String,
    value: Value,
}

struct StoredFile {
    path: String,
    bytes: Bytes,
}

struct State {
    token: String,
    bot_id: i64,
    bot_username: String,
    bot_first_name: String,
    /// Pushed and not yet confirmed, ordered by id.
    pending: VecDeque<PendingUpdate>,
    next_update_id: i64,
    confirmed_offset: i64,
    /// Last `allowed_updates` given; `None` or empty = the default set.
    allowed_updates: Option<Vec<String>>,
    chats: HashMap<i64, Value>,
    /// Messages by (chat, message id), without their `reply_to_message`.
    messages: HashMap<(i64, i64), Value>,
    last_message_id: HashMap<i64, i64>,
    /// update id -> (chat id, message id) for updates that carried a message.
    update_messages: HashMap<i64, (i64, i64)>,
    /// update id -> when `getUpdates` first returned it.
    first_offered: HashMap<i64, Instant>,
    sent: Vec<SentMessage>,
    calls: Vec<ApiCall>,
    faults: VecDeque<(String, Fault)>,
    limits: Option<Limits>,
    send_log: VecDeque<(Instant, i64)>,
    files: HashMap<String, StoredFile>,
    commands: Value,
}

impl State {
    fn next_message_id(&mut self, chat_id: i64) -> i64 {
        let last = self.last_message_id.entry(chat_id).or_insert(0);
        *last += 1;
        *last
    }

    fn bot_user_json(&self) -> Value {
        json!({
            "id": self.bot_id,
            "is_bot": true,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        })
    }

    /// Remembers a message (and its chat) seen in an update or sent by the bot.
    fn register_message(&mut self, message: &Value) -> Option<(i64, i64)> {
        let chat = message.get("chat")?;
        let chat_id = chat.get("id").and_then(Value::as_i64)?;
        let message_id = message.get("message_id").and_then(Value::as_i64)?;
        self.chats.insert(chat_id, chat.clone());
        let mut stored = message.clone();
        if let Some(obj) = stored.as_object_mut() {
            obj.remove("reply_to_message");
        }
        self.messages.insert((chat_id, message_id), stored);
        let last = self.last_message_id.entry(chat_id).or_insert(0);
        *last = (*last).max(message_id);
        Some((chat_id, message_id))
    }

    /// Queues an update; assigns `update_id` if absent. Returns the id.
    fn insert_update(&mut self, update: Value) -> i64 {
        let mut obj = match update {
            Value::Object(obj) => obj,
            other => {
                let mut obj = Map::new();
                obj.insert("raw".into(), other);
                obj
            }
        };
        let id = match obj.get("update_id").and_then(Value::as_i64) {
            Some(id) => id,
            None => {
                let id = self.next_update_id;
                obj.insert("update_id".into(), id.into());
                id
            }
        };
        self.next_update_id = self.next_update_id.max(id.saturating_add(1));
        let kind = obj
            .keys()
            .find(|k| k.as_str() != "update_id")
            .cloned()
            .unwrap_or_default();
        if MESSAGE_UPDATE_KINDS.contains(&kind.as_str())
            && let Some(message) = obj.get(&kind)
            && let Some(ids) = self.register_message(message)
        {
            self.update_messages.insert(id, ids);
        }
        // An id that is already confirmed would never be delivered by Telegram.
        if id >= self.confirmed_offset {
            let at = self.pending.partition_point(|u| u.id <= id);
            let value = Value::Object(obj);
            self.pending.insert(at, PendingUpdate { id, kind, value });
        }
        id
    }

    /// `getUpdates`' confirmation step.
    fn confirm(&mut self, offset: i64) {
        if offset > 0 {
            self.confirmed_offset = self.confirmed_offset.max(offset);
            let confirmed = self.confirmed_offset;
            self.pending.retain(|u| u.id >= confirmed);
        } else if offset < 0 {
            let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
            while self.pending.len() > keep {
                self.pending.pop_front();
            }
            let first_kept = self.pending.front().map_or(self.next_update_id, |u| u.id);
            self.confirmed_offset = self.confirmed_offset.max(first_kept);
        }
    }

    fn confirm_all(&mut self) {
        self.pending.clear();
        self.confirmed_offset = self.confirmed_offset.max(self.next_update_id);
    }

    fn allowed(&self, kind: &str) -> bool {
        match &self.allowed_updates {
            Some(list) if !list.is_empty() => list.iter().any(|a| a == kind),
            _ => !OPT_IN_UPDATE_KINDS.contains(&kind),
        }
    }

    /// The next updates for `getUpdates`; remembers when each was first offered.
    fn deliverable(&mut self, limit: usize) -> Vec<Value> {
        let now = Instant::now();
        let batch: Vec<(i64, Value)> = self
            .pending
            .iter()
            .filter(|u| self.allowed(&u.kind))
            .take(limit)
            .map(|u| (u.id, u.value.clone()))
            .collect();
        batch
            .into_iter()
            .map(|(id, value)| {
                self.first_offered.entry(id).or_insert(now);
                value
            })
            .collect()
    }

    fn chat_json(&self, chat_id: i64) -> Value {
        if let Some(chat) = self.chats.get(&chat_id) {
            return chat.clone();
        }
        if chat_id > 0 {
            json!({ "id": chat_id, "type": "private", "first_name": format!("User {chat_id}") })
        } else if chat_id <= -1_000_000_000_000 {
            json!({ "id": chat_id, "type": "supergroup", "title": format!("Chat {chat_id}") })
        } else {
            json!({ "id": chat_id, "type": "group", "title": format!("Group {chat_id}") })
        }
    }

    /// Resolves a `chat_id` parameter: an integer, a numeric string or `@username`.
    fn resolve_chat(&self, value: Option<&Value>) -> Result<i64, Failure> {
        let not_found = || Failure::bad_request("Bad Request: chat not found");
        match value {
            None => Err(Failure::bad_request("Bad Request: chat_id is empty")),
            Some(Value::Number(n)) => n.as_i64().ok_or_else(not_found),
            Some(Value::String(s)) => {
                let s = s.trim();
                if let Ok(id) = s.parse::<i64>() {
                    return Ok(id);
                }
                let Some(username) = s.strip_prefix('@') else {
                    return Err(not_found());
                };
                self.chats
                    .iter()
                    .find(|(_, chat)| {
                        chat.get("username")
                            .and_then(Value::as_str)
                            .is_some_and(|u| u.eq_ignore_ascii_case(username))
                    })
                    .map(|(id, _)| *id)
                    .ok_or_else(not_found)
            }
            Some(_) => Err(not_found()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parameters and answers
// ---------------------------------------------------------------------------------------

/// An error answer in Telegram's envelope.
#[derive(Debug)]
struct Failure {
    status: u16,
    description: String,
    parameters: Option<Value>,
}

impl Failure {
    fn new(status: u16, description: impl Into<String>) -> Failure {
        Failure {
            status,
            description: description.into(),
            parameters: None,
        }
    }

    fn bad_request(description: impl Into<String>) -> Failure {
        Failure::new(400, description)
    }

    fn retry_after(secs: u64) -> Failure {
        Failure {
            parameters: Some(json!({ "retry_after": secs })),
            ..Failure::new(429, format!("Too Many Requests: retry after {secs}"))
        }
    }

    fn into_response(self) -> Response<Body> {
        let mut body = json!({
            "ok": false,
            "error_code": self.status,
            "description": self.description,
        });
        if let (Some(parameters), Some(obj)) = (self.parameters, body.as_object_mut()) {
            obj.insert("parameters".into(), parameters);
        }
        json_response(status_code(self.status, StatusCode::BAD_REQUEST), &body)
    }
}

type Params = Map<String, Value>;

/// A parameter, treating `null` as absent.
fn param<'a>(p: &'a Params, key: &str) -> Option<&'a Value> {
    p.get(key).filter(|v| !v.is_null())
}

fn int_param(p: &Params, key: &str) -> Result<Option<i64>, Failure> {
    let bad = || Failure::bad_request(format!("Bad Request: invalid {key}"));
    match param(p, key) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

fn str_param(p: &Params, key: &str) -> Option<String> {
    match param(p, key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn bool_value(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.trim(), "true" | "True" | "1"),
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        _ => false,
    }
}

/// A structured parameter: JSON in a JSON body, or a JSON string in a form/query.
fn json_param(p: &Params, key: &str) -> Result<Option<Value>, Failure> {
    match param(p, key) {
        None => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| {
            Failure::bad_request(format!("Bad Request: can't parse {key} JSON object"))
        }),
        Some(v) => Ok(Some(v.clone())),
    }
}

/// Merges query parameters and the body (JSON or form) into one object.
fn parse_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Result<Params, String> {
    let mut params = Params::new();
    if let Some(query) = query {
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            params.insert(k.into_owned(), Value::String(v.into_owned()));
        }
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json_body = || match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) | Err(_) => Err("Bad Request: can't parse request JSON object".to_owned()),
    };
    let form_body = || {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect::<Params>()
    };
    let body_params = if content_type.starts_with("application/json") {
        json_body()?
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        form_body()
    } else if content_type.starts_with("multipart/") {
        return Err("Bad Request: multipart/form-data is not supported by the fake".to_owned());
    } else {
        json_body().unwrap_or_else(|_| form_body())
    };
    params.extend(body_params);
    Ok(params)
}

fn status_code(code: u16, fallback: StatusCode) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(fallback)
}

fn json_response(status: StatusCode, value: &Value) -> Response<Body> {
    raw_response(status, "application/json", Body::from(value.to_string()))
}

fn raw_response(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn ok_response(result: Value) -> Response<Body> {
    json_response(StatusCode::OK, &json!({ "ok": true, "result": result }))
}

fn not_found_response() -> Response<Body> {
    Failure::new(404, "Not Found").into_response()
}

fn unauthorized_response() -> Response<Body> {
    Failure::new(401, "Unauthorized").into_response()
}

fn server_error_response(code: u16) -> Response<Body> {
    let status = status_code(code, StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Server Error");
    let line = format!("{} {reason}", status.as_u16());
    let html = format!(
        "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    raw_response(status, "text/html", Body::from(html))
}

/// The answer for a fault that answers right away (not `Delay` / `Drop`).
fn fault_response(fault: Fault) -> Response<Body> {
    match fault {
        Fault::RetryAfter(secs) => Failure::retry_after(secs).into_response(),
        Fault::ServerError(code) => server_error_response(code),
        Fault::Api { code, description } => Failure::new(code, description).into_response(),
        Fault::MigrateTo(chat_id) => Failure {
            parameters: Some(json!({ "migrate_to_chat_id": chat_id })),
            ..Failure::bad_request("Bad Request: group chat was upgraded to a supergroup chat")
        }
        .into_response(),
        Fault::MalformedJson => raw_response(
            StatusCode::OK,
            "application/json",
            Body::from(MALFORMED_BODY),
        ),
        // Handled by the caller; answer sensibly anyway rather than panic.
        Fault::Delay(_) | Fault::Drop | Fault::OddResult(_) => {
            Failure::new(500, "Internal Server Error").into_response()
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------

struct Shared {
    state: Mutex<State>,
    /// Bumped on every pushed update; long polls wait on it.
    updates: watch::Sender<u64>,
    /// Generation of the newest `getUpdates`; an older waiting one ends with 409.
    polls: watch::Sender<u64>,
    /// Number of accepted `sendMessage`s; updated under the state lock.
    sent_count: watch::Sender<usize>,
    /// Number of recorded calls; updated under the state lock.
    call_count: watch::Sender<usize>,
    /// Becomes `true` when the last handle is dropped.
    shutdown: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that
        // matters for a test double, so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = rx.wait_for(|down| *down).await;
    }

    fn wake_pollers(&self) {
        self.updates.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// Stops the server when the last [`FakeTelegram`] clone goes away.
struct ServerGuard {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // Connection tasks watch this flag and drop their connections.
        self.shared.shutdown.send_replace(true);
        self.task.abort();
    }
}

/// Handle to a running fake Telegram Bot API server. Cheap to clone; the server stops
/// when the last clone is dropped. See the [module docs](self).
#[derive(Clone)]
pub struct FakeTelegram {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _guard: Arc<ServerGuard>,
}

impl fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("FakeTelegram")
            .field("addr", &self.addr)
            .field("bot_username", &state.bot_username)
            .field("pending_updates", &state.pending.len())
            .field("calls", &state.calls.len())
            .field("sent", &state.sent.len())
            .finish_non_exhaustive()
    }
}

impl FakeTelegram {
    /// Starts a fake for bot `token` on `127.0.0.1` with an ephemeral port. Must be
    /// called inside a Tokio runtime.
    pub async fn start(token: &str) -> std::io::Result<FakeTelegram> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), token).await
    }

    /// Starts a fake for bot `token` listening on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr, token: &str) -> std::io::Result<FakeTelegram> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let bot_id = token
            .split_once(':')
            .and_then(|(id, _)| id.parse::<i64>().ok())
            .filter(|id| *id > 0)
            .unwrap_or(DEFAULT_BOT_ID);
        let state = State {
            token: token.to_owned(),
            bot_id,
            bot_username: DEFAULT_BOT_USERNAME.to_owned(),
            bot_first_name: DEFAULT_BOT_FIRST_NAME.to_owned(),
            pending: VecDeque::new(),
            next_update_id: 1,
            confirmed_offset: 0,
            allowed_updates: None,
            chats: HashMap::new(),
            messages: HashMap::new(),
            last_message_id: HashMap::new(),
            update_messages: HashMap::new(),
            first_offered: HashMap::new(),
            sent: Vec::new(),
            calls: Vec::new(),
            faults: VecDeque::new(),
            limits: None,
            send_log: VecDeque::new(),
            files: HashMap::new(),
            commands: json!([]),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            updates: watch::channel(0).0,
            polls: watch::channel(0).0,
            sent_count: watch::channel(0).0,
            call_count: watch::channel(0).0,
            shutdown: watch::channel(false).0,
        });
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        let guard = Arc::new(ServerGuard {
            shared: Arc::clone(&shared),
            task,
        });
        Ok(FakeTelegram {
            shared,
            addr,
            _guard: guard,
        })
    }

    /// Sets the username `getMe` reports (default [`DEFAULT_BOT_USERNAME`]).
    pub fn with_username(self, username: &str) -> Self {
        self.shared.lock().bot_username = username.trim_start_matches('@').to_owned();
        self
    }

    /// Sets the first name `getMe` reports (default [`DEFAULT_BOT_FIRST_NAME`]).
    pub fn with_first_name(self, first_name: &str) -> Self {
        self.shared.lock().bot_first_name = first_name.to_owned();
        self
    }

    /// The address the server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash: the Bot API base URL
    /// (teloxide: `Bot::set_api_url(fake.api_url().parse()?)`).
    pub fn api_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token the fake accepts.
    pub fn token(&self) -> String {
        self.shared.lock().token.clone()
    }

    /// The bot's user id (the token's numeric prefix, else [`DEFAULT_BOT_ID`]).
    pub fn bot_id(&self) -> i64 {
        self.shared.lock().bot_id
    }

    /// The bot's username, without `@`.
    pub fn bot_username(&self) -> String {
        self.shared.lock().bot_username.clone()
    }

    /// The bot as a [`TgUser`], e.g. for [`MessageBuilder::service_members_added`].
    pub fn bot_user(&self) -> TgUser {
        let state = self.shared.lock();
        TgUser::new(state.bot_id, &state.bot_first_name)
            .with_username(&state.bot_username)
            .bot()
    }

    // -- the users' side ---------------------------------------------------------------

    /// Queues a raw update (a JSON object such as `{"message": {...}}`); assigns
    /// `update_id` if absent and returns it. Messages in it are remembered (for replies
    /// and chat lookups). Wakes waiting long polls. A value that is not an object is
    /// queued as `{"update_id": N, "raw": value}`.
    pub fn push_update(&self, update: Value) -> i64 {
        let id = self.shared.lock().insert_update(update);
        self.shared.wake_pollers();
        id
    }

    /// Queues a `message` update with `text` from `from` in `chat`, with `bot_command` /
    /// `mention` entities; returns its `update_id`.
    pub fn send_text(&self, chat: &TgChat, from: &TgUser, text: &str) -> i64 {
        self.push_message(MessageBuilder::text(chat, from, text))
    }

    /// Queues the message `m` describes; returns its `update_id`.
    pub fn push_message(&self, m: MessageBuilder) -> i64 {
        let id = {
            let mut state = self.shared.lock();
            let (kind, message) = m.build(&mut state);
            let mut update = Map::new();
            update.insert(kind.to_owned(), message);
            state.insert_update(Value::Object(update))
        };
        self.shared.wake_pollers();
        id
    }

    /// The `message_id` of the message carried by update `update_id`, if any.
    pub fn message_id_of(&self, update_id: i64) -> Option<i64> {
        self.shared
            .lock()
            .update_messages
            .get(&update_id)
            .map(|(_, message_id)| *message_id)
    }

    /// When `getUpdates` first returned update `update_id` (`None` if it never did): the
    /// moment the bot could first have seen it, where a load test starts its clock.
    pub fn first_offered(&self, update_id: i64) -> Option<Instant> {
        self.shared.lock().first_offered.get(&update_id).copied()
    }

    /// [`first_offered`](Self::first_offered) of every update offered so far, with the
    /// (chat id, message id) of the message it carried, in one lock: for a harness that
    /// reads tens of thousands at the end of a run.
    pub fn offers(&self) -> HashMap<i64, (Instant, Option<(i64, i64)>)> {
        let state = self.shared.lock();
        state
            .first_offered
            .iter()
            .map(|(id, at)| (*id, (*at, state.update_messages.get(id).copied())))
            .collect()
    }

    /// The highest `message_id` seen or given out in `chat_id` (users' and bot's).
    pub fn last_message_id(&self, chat_id: i64) -> Option<i64> {
        self.shared.lock().last_message_id.get(&chat_id).copied()
    }

    /// Registers a file for `getFile` (as `file_path`) and for download.
    pub fn add_file(&self, file_id: &str, file_path: &str, bytes: Vec<u8>) {
        let file = StoredFile {
            path: file_path.trim_start_matches('/').to_owned(),
            bytes: Bytes::from(bytes),
        };
        self.shared.lock().files.insert(file_id.to_owned(), file);
    }

    /// Registers a chat, so that `sendMessage` answers with it and accepts its
    /// `@username`, before any message in it was pushed.
    pub fn add_chat(&self, chat: &TgChat) {
        self.shared.lock().chats.insert(chat.id, chat.to_json());
    }

    // -- the bot's side ----------------------------------------------------------------

    /// Every accepted `sendMessage`, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.lock().sent.clone()
    }

    /// Number of accepted `sendMessage`s.
    pub fn sent_count(&self) -> usize {
        *self.shared.sent_count.borrow()
    }

    /// Waits until at least `n` `sendMessage`s were accepted; `false` on timeout.
    pub async fn wait_for_sent(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.sent_count.subscribe();
        // The sender lives in `self.shared`, so `wait_for` cannot fail while we wait.
        let wait = async move { rx.wait_for(|count| *count >= n).await.is_ok() };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    /// Every call received, in order of arrival.
    pub fn calls(&self) -> Vec<ApiCall> {
        self.shared.lock().calls.clone()
    }

    /// Number of calls received.
    pub fn call_count(&self) -> usize {
        *self.shared.call_count.borrow()
    }

    /// Waits until at least `n` calls of `method` (case-insensitive; `"*"` = any) have
    /// been *received* (they may still be waiting for their answer, like a long poll);
    /// `false` on timeout.
    pub async fn wait_for_calls(&self, method: &str, n: usize, timeout: Duration) -> bool {
        let method = method.to_ascii_lowercase();
        let count = || {
            let state = self.shared.lock();
            state
                .calls
                .iter()
                .filter(|c| method == "*" || c.method == method)
                .count()
        };
        let mut rx = self.shared.call_count.subscribe();
        let wait = async {
            loop {
                rx.borrow_and_update();
                if count() >= n {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return count() >= n;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    /// The highest offset confirmed so far (0 before any confirmation).
    pub fn confirmed_offset(&self) -> i64 {
        self.shared.lock().confirmed_offset
    }

    /// Number of updates pushed and not yet confirmed.
    pub fn pending_updates(&self) -> usize {
        self.shared.lock().pending.len()
    }

    /// The commands last stored with `setMyCommands` (a JSON array).
    pub fn commands(&self) -> Value {
        self.shared.lock().commands.clone()
    }

    // -- faults and limits ---------------------------------------------------------------

    /// Makes the next `times` calls of `method` (case-insensitive, e.g. `"sendMessage"`;
    /// `"file"` for downloads; `"*"` for any method) fail with `fault`. Faults are queued:
    /// each call consumes the first queued fault that matches it, then normal behaviour
    /// resumes. Faulted calls are recorded in [`calls`](Self::calls); a faulted
    /// `sendMessage` is not in [`sent`](Self::sent), except after [`Fault::Delay`] and
    /// [`Fault::OddResult`].
    pub fn fail_next(&self, method: &str, fault: Fault, times: usize) {
        let method = method.to_ascii_lowercase();
        let mut state = self.shared.lock();
        for _ in 0..times {
            state.faults.push_back((method.clone(), fault.clone()));
        }
    }

    /// Number of queued faults not consumed yet.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.len()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Turns flood limits on `sendMessage` on (`Some`) or off (`None`, the default).
    /// Sends before the call do not count.
    pub fn set_limits(&self, limits: Option<Limits>) {
        let mut state = self.shared.lock();
        state.limits = limits;
        state.send_log.clear();
    }
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------------------

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutting_down() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                // Best effort; only latency depends on it.
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            // Out of file descriptors and the like: back off instead of spinning.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one connection until the client closes it, a handler asks to drop it
/// ([`Fault::Drop`]) or the fake shuts down. Dropping the connection future closes the
/// socket without writing anything more.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let hang_up = Arc::new(Notify::new());
    let service = {
        let shared = Arc::clone(&shared);
        let hang_up = Arc::clone(&hang_up);
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let shared = Arc::clone(&shared);
            let hang_up = Arc::clone(&hang_up);
            async move { Ok::<_, Infallible>(handle(&shared, &hang_up, request).await) }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service);
    // Biased: once the fake shuts down or a handler hangs up, nothing more is written,
    // even if a handler finished at the same moment. (Handlers need no shutdown logic of
    // their own: dropping the connection drops them.)
    tokio::select! {
        biased;
        () = shared.shutting_down() => {}
        () = hang_up.notified() => {}
        // Connection errors (client went away, bad HTTP) end the connection; nothing to do.
        _ = connection => {}
    }
}

async fn handle(shared: &Shared, hang_up: &Notify, request: Request<Incoming>) -> Response<Body> {
    if *shared.shutdown.borrow() {
        // Shutting down: serve nothing more on connections that are still open.
        return hang_up_now(hang_up).await;
    }
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if let Some(rest) = path.strip_prefix("/file/bot") {
        let (token, file_path) = rest.split_once('/').unwrap_or((rest, ""));
        let (token, file_path) = (percent_decode(token), percent_decode(file_path));
        return download(shared, hang_up, &token, &file_path).await;
    }
    let Some((token, method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return not_found_response();
    };
    let (token, method) = (percent_decode(token), percent_decode(method));
    let method = method.trim_end_matches('/').to_ascii_lowercase();
    let params = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(bytes) => parse_params(parts.uri.query(), &parts.headers, &bytes),
        Err(_) => Err("Bad Request: request body could not be read".to_owned()),
    };
    api_call(shared, hang_up, &token, &method, params).await
}

/// What to do with a call once it is recorded.
enum Plan {
    Answer(Response<Body>),
    Fault(Fault),
    Normal,
}

impl Shared {
    /// Records a call and decides how to answer it: token check, known method, faults.
    fn admit(
        &self,
        token: &str,
        method: &str,
        params: Value,
        known: bool,
        invalid: Option<String>,
    ) -> (usize, Plan) {
        let mut state = self.lock();
        let index = state.calls.len();
        state.calls.push(ApiCall {
            method: method.to_owned(),
            params,
            at: Instant::now(),
            status: 0,
        });
        self.call_count.send_replace(state.calls.len());
        let plan = if token != state.token {
            Plan::Answer(unauthorized_response())
        } else if !known {
            Plan::Answer(not_found_response())
        } else if let Some(description) = invalid {
            Plan::Answer(Failure::bad_request(description).into_response())
        } else if let Some(pos) = state
            .faults
            .iter()
            .position(|(m, _)| m == method || m == "*")
        {
            match state.faults.remove(pos) {
                Some((_, fault)) => Plan::Fault(fault),
                None => Plan::Normal,
            }
        } else {
            Plan::Normal
        };
        (index, plan)
    }

    fn finish(&self, index: usize, status: u16) {
        if let Some(call) = self.lock().calls.get_mut(index) {
            call.status = status;
        }
    }

    /// Runs the plan: `None` means "drop the connection".
    async fn execute<F>(plan: Plan, normal: F) -> Option<Response<Body>>
    where
        F: AsyncFnOnce() -> Response<Body>,
    {
        match plan {
            Plan::Answer(response) => Some(response),
            Plan::Fault(Fault::Drop) => None,
            Plan::Fault(Fault::OddResult(result)) => {
                normal().await;
                Some(ok_response(result))
            }
            Plan::Fault(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                Some(normal().await)
            }
            Plan::Fault(fault) => Some(fault_response(fault)),
            Plan::Normal => Some(normal().await),
        }
    }
}

async fn finish_or_hang_up(
    shared: &Shared,
    hang_up: &Notify,
    index: usize,
    response: Option<Response<Body>>,
) -> Response<Body> {
    match response {
        Some(response) => {
            shared.finish(index, response.status().as_u16());
            response
        }
        None => hang_up_now(hang_up).await,
    }
}

/// Asks `serve_connection` to drop the connection, which drops this future too.
async fn hang_up_now(hang_up: &Notify) -> Response<Body> {
    hang_up.notify_one();
    std::future::pending().await
}

async fn api_call(
    shared: &Shared,
    hang_up: &Notify,
    token: &str,
    method: &str,
    params: Result<Params, String>,
) -> Response<Body> {
    let (recorded, invalid) = match &params {
        Ok(p) => (Value::Object(p.clone()), None),
        Err(description) => (Value::Null, Some(description.clone())),
    };
    let known = METHODS.contains(&method);
    let (index, plan) = shared.admit(token, method, recorded, known, invalid);
    let params = params.unwrap_or_default();
    let normal = async || match run_method(shared, method, &params).await {
        Ok(result) => ok_response(result),
        Err(failure) => failure.into_response(),
    };
    let response = Shared::execute(plan, normal).await;
    finish_or_hang_up(shared, hang_up, index, response).await
}

async fn download(
    shared: &Shared,
    hang_up: &Notify,
    token: &str,
    file_path: &str,
) -> Response<Body> {
    let params = json!({ "file_path": file_path });
    let (index, plan) = shared.admit(token, "file", params, true, None);
    let normal = async || {
        let state = shared.lock();
        match state.files.values().find(|f| f.path == file_path) {
            Some(file) => raw_response(
                StatusCode::OK,
                "application/octet-stream",
                Body::from(file.bytes.clone()),
            ),
            None => not_found_response(),
        }
    };
    let response = Shared::execute(plan, normal).await;
    finish_or_hang_up(shared, hang_up, index, response).await
}

// ---------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------

async fn run_method(shared: &Shared, method: &str, p: &Params) -> Result<Value, Failure> {
    if method == "getupdates" {
        return get_updates(shared, p).await;
    }
    let mut state = shared.lock();
    match method {
        "getme" => Ok(json!({
            "id": state.bot_id,
            "is_bot": true,
            "first_name": state.bot_first_name,
            "username": state.bot_username,
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            "can_connect_to_business": false,
            "has_main_web_app": false,
        })),
        "sendmessage" => {
            let message = send_message(&mut state, p)?;
            shared.sent_count.send_replace(state.sent.len());
            Ok(message)
        }
        "getfile" => {
            let file_id = str_param(p, "file_id").unwrap_or_default();
            let file = state
                .files
                .get(&file_id)
                .ok_or_else(|| Failure::bad_request("Bad Request: invalid file_id"))?;
            Ok(json!({
                "file_id": file_id,
                "file_unique_id": unique_file_id(&file_id),
                "file_size": file.bytes.len(),
                "file_path": file.path,
            }))
        }
        "getwebhookinfo" => Ok(json!({
            "url": "",
            "has_custom_certificate": false,
            "pending_update_count": state.pending.len(),
        })),
        "deletewebhook" => {
            if bool_value(param(p, "drop_pending_updates")) {
                state.confirm_all();
            }
            Ok(json!(true))
        }
        "setmycommands" => {
            let commands = json_param(p, "commands")?.unwrap_or_else(|| json!([]));
            if !commands.is_array() {
                return Err(Failure::bad_request(
                    "Bad Request: can't parse commands JSON object",
                ));
            }
            state.commands = commands;
            Ok(json!(true))
        }
        "deletemycommands" => {
            state.commands = json!([]);
            Ok(json!(true))
        }
        "getmycommands" => Ok(state.commands.clone()),
        "sendchataction" => {
            state.resolve_chat(param(p, "chat_id"))?;
            Ok(json!(true))
        }
        "logout" | "close" => Ok(json!(true)),
        _ => Err(Failure::new(404, "Not Found")),
    }
}

async fn get_updates(shared: &Shared, p: &Params) -> Result<Value, Failure> {
    let offset = int_param(p, "offset")?.unwrap_or(0);
    let limit = match int_param(p, "limit")? {
        Some(n @ 1..=100) => usize::try_from(n).unwrap_or(100),
        _ => 100,
    };
    let timeout = int_param(p, "timeout")?.unwrap_or(0).max(0);
    let timeout = Duration::from_secs(u64::try_from(timeout).unwrap_or(0));
    let allowed = match json_param(p, "allowed_updates")? {
        None => None,
        Some(Value::Array(kinds)) => Some(
            kinds
                .iter()
                .map(|k| k.as_str().map(str::to_owned))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| Failure::bad_request("Bad Request: invalid allowed_updates"))?,
        ),
        Some(_) => return Err(Failure::bad_request("Bad Request: invalid allowed_updates")),
    };

    let mut generation = 0;
    shared.polls.send_modify(|g| {
        *g += 1;
        generation = *g;
    });
    {
        let mut state = shared.lock();
        state.confirm(offset);
        if let Some(allowed) = allowed {
            state.allowed_updates = Some(allowed);
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        // Subscribe before looking, so that a push in between wakes us.
        let mut updates = shared.updates.subscribe();
        let mut polls = shared.polls.subscribe();
        if *polls.borrow_and_update() != generation {
            return Err(Failure::new(409, CONFLICT_DESCRIPTION));
        }
        let batch = shared.lock().deliverable(limit);
        if !batch.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Value::Array(batch));
        }
        tokio::select! {
            _ = updates.changed() => {}
            _ = polls.changed() => {}
            () = tokio::time::sleep_until(deadline) => {}
        }
    }
}

fn send_message(state: &mut State, p: &Params) -> Result<Value, Failure> {
    let chat_id = state.resolve_chat(param(p, "chat_id"))?;
    let text = str_param(p, "text").unwrap_or_default();
    if text.trim().is_empty() {
        return Err(Failure::bad_request("Bad Request: message text is empty"));
    }
    if text.encode_utf16().count() > MAX_MESSAGE_UTF16_LEN {
        return Err(Failure::bad_request("Bad Request: message is too long"));
    }
    if let Some(mode) = str_param(p, "parse_mode")
        && !["markdownv2", "markdown", "html"].contains(&mode.to_ascii_lowercase().as_str())
    {
        return Err(Failure::bad_request(format!(
            "Bad Request: unsupported parse_mode \"{mode}\""
        )));
    }

    let (reply_id, reply_chat, allow_without_reply) = match json_param(p, "reply_parameters")? {
        Some(Value::Object(rp)) => (
            int_param(&rp, "message_id")?,
            match param(&rp, "chat_id") {
                Some(chat) => state.resolve_chat(Some(chat))?,
                None => chat_id,
            },
            bool_value(param(&rp, "allow_sending_without_reply")),
        ),
        Some(_) => {
            return Err(Failure::bad_request(
                "Bad Request: invalid reply parameters",
            ));
        }
        None => (
            int_param(p, "reply_to_message_id")?,
            chat_id,
            bool_value(param(p, "allow_sending_without_reply")),
        ),
    };
    let reply = match reply_id {
        None => None,
        Some(id) => match state.messages.get(&(reply_chat, id)) {
            Some(original) => Some((id, original.clone())),
            None if allow_without_reply => None,
            None => {
                return Err(Failure::bad_request(
                    "Bad Request: message to be replied not found",
                ));
            }
        },
    };

    let now = Instant::now();
    if let Some(limits) = &state.limits {
        if let Some(wait) = limits.wait(&state.send_log, chat_id, now) {
            return Err(Failure::retry_after(retry_after_secs(wait)));
        }
        let horizon = limits.horizon();
        state.send_log.push_back((now, chat_id));
        while state
            .send_log
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= horizon)
        {
            state.send_log.pop_front();
        }
    }

    let message_id = state.next_message_id(chat_id);
    let mut m = Map::new();
    m.insert("message_id".into(), message_id.into());
    if let Some(thread) = int_param(p, "message_thread_id")? {
        m.insert("message_thread_id".into(), thread.into());
    }
    let chat = state.chat_json(chat_id);
    if chat.get("type").and_then(Value::as_str) == Some("channel") {
        // Channel posts have no `from`; the channel is the sender.
        m.insert("sender_chat".into(), chat.clone());
    } else {
        m.insert("from".into(), state.bot_user_json());
    }
    m.insert("chat".into(), chat);
    m.insert("date".into(), unix_now().into());
    if let Some((_, original)) = &reply {
        m.insert("reply_to_message".into(), original.clone());
    }
    m.insert("text".into(), text.as_str().into());
    if let Ok(Some(entities @ Value::Array(_))) = json_param(p, "entities") {
        m.insert("entities".into(), entities);
    }
    if let Ok(Some(markup)) = json_param(p, "reply_markup")
        && markup.get("inline_keyboard").is_some()
    {
        m.insert("reply_markup".into(), markup);
    }
    let message = Value::Object(m);
    state.register_message(&message);
    state.sent.push(SentMessage {
        message_id,
        chat_id,
        text,
        reply_to_message_id: reply.map(|(id, _)| id),
        params: Value::Object(p.clone()),
        at: now,
    });
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    use teloxide::net::Download;
    use teloxide::prelude::*;
    use teloxide::types::{
        AllowedUpdate, BotCommand, ChatAction, FileId, MediaKind, MessageEntityKind, MessageId,
        MessageKind, Recipient, ReplyParameters, UpdateKind,
    };
    use teloxide::{ApiError, DownloadError, RequestError};

    const TOKEN: &str = "123456:TEST-TOKEN";
    const WAIT: Duration = Duration::from_secs(10);

    /// teloxide's own client settings, minus any proxy from the environment.
    fn client() -> reqwest::Client {
        teloxide::net::default_reqwest_settings()
            .no_proxy()
            .build()
            .unwrap()
    }

    fn bot_for(fake: &FakeTelegram, token: &str) -> Bot {
        Bot::with_client(token, client()).set_api_url(fake.api_url().parse().unwrap())
    }

    async fn setup() -> (FakeTelegram, Bot) {
        let fake = FakeTelegram::start(TOKEN).await.unwrap();
        let bot = bot_for(&fake, TOKEN);
        (fake, bot)
    }

    fn alice() -> TgUser {
        TgUser::new(42, "Alice")
            .with_username("alice_w")
            .language("es")
    }

    fn method_url(fake: &FakeTelegram, method: &str) -> String {
        format!("{}/bot{TOKEN}/{method}", fake.api_url())
    }

    fn statuses(fake: &FakeTelegram) -> Vec<u16> {
        fake.calls().iter().map(|c| c.status).collect()
    }

    fn message_of(update: &Update) -> &Message {
        match &update.kind {
            UpdateKind::Message(m)
            | UpdateKind::EditedMessage(m)
            | UpdateKind::ChannelPost(m)
            | UpdateKind::EditedChannelPost(m) => m,
            other => panic!("not a message update: {other:?}"),
        }
    }

    fn media(message: &Message) -> &MediaKind {
        match &message.kind {
            MessageKind::Common(common) => &common.media_kind,
            other => panic!("not a common message: {other:?}"),
        }
    }

    #[tokio::test]
    async fn get_me_parses() {
        let (fake, bot) = setup().await;
        let me = bot.get_me().await.unwrap();
        assert_eq!(me.id, UserId(123_456));
        assert!(me.is_bot);
        assert_eq!(me.username(), DEFAULT_BOT_USERNAME);
        assert_eq!(me.first_name, DEFAULT_BOT_FIRST_NAME);
        assert!(me.can_join_groups);
        assert_eq!(fake.bot_id(), 123_456);

        let calls = fake.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].method, "getme");
        assert_eq!(calls[0].params, json!({}));
        assert_eq!(calls[0].status, 200);

        // Non-numeric token: default id; configurable username.
        let other = FakeTelegram::start("not-a-numeric-token")
            .await
            .unwrap()
            .with_username("@other_bot")
            .with_first_name("Other");
        let me = bot_for(&other, "not-a-numeric-token")
            .get_me()
            .await
            .unwrap();
        assert_eq!(me.id.0, DEFAULT_BOT_ID as u64);
        assert_eq!(me.username(), "other_bot");
        assert_eq!(other.bot_username(), "other_bot");
        assert_eq!(me.first_name, "Other");
        assert_eq!(other.bot_user().username.as_deref(), Some("other_bot"));
    }

    #[tokio::test]
    async fn every_builder_parses_into_the_right_kind() {
        let (fake, bot) = setup().await;
        let alice = alice();
        let helper = TgUser::new(99, "Helper").with_username("helper_bot").bot();
        let private = TgChat::private_with(&alice);
        let group = TgChat::group(-2002, "Group");
        let supergroup = TgChat::supergroup(-1_001_234_567_890, "Super").with_username("super_pub");
        let channel = TgChat::channel(-1_009_876_543_210, "News");

        let u_cmd = fake.send_text(
            &group,
            &alice,
            "/start@tolmach_test_bot hi 😀 @someone_else",
        );
        let first = fake.message_id_of(u_cmd).unwrap();
        let u_photo = fake.push_message(MessageBuilder::photo_with_caption(
            &supergroup,
            &alice,
            "look 🐈 @tolmach_test_bot",
        ));
        let u_voice =
            fake.push_message(MessageBuilder::voice(&private, &alice, "voice-1", 3, None));
        let u_sticker = fake.push_message(MessageBuilder::sticker(&private, &alice));
        let u_join = fake.push_message(MessageBuilder::service_new_members(&group, &alice));
        let u_edit = fake.push_message(
            MessageBuilder::text(&group, &alice, "/start fixed")
                .with_message_id(first)
                .edited(),
        );
        let u_post =
            fake.push_message(MessageBuilder::text(&channel, &alice, "breaking").channel_post());
        let u_reply =
            fake.push_message(MessageBuilder::text(&group, &alice, "as I said").reply_to(first));
        let u_bot = fake.send_text(&group, &helper, "beep");
        let u_voice_caption = fake.push_message(MessageBuilder::voice(
            &private,
            &alice,
            "voice-2",
            7,
            Some("/transcribe"),
        ));
        let u_edited_post = fake.push_message(
            MessageBuilder::text(&channel, &alice, "breaking!")
                .channel_post()
                .edited(),
        );
        let expected_ids = [
            u_cmd,
            u_photo,
            u_voice,
            u_sticker,
            u_join,
            u_edit,
            u_post,
            u_reply,
            u_bot,
            u_voice_caption,
            u_edited_post,
        ];
        assert_eq!(fake.pending_updates(), expected_ids.len());

        let updates = bot.get_updates().await.unwrap();
        let ids: Vec<i64> = updates.iter().map(|u| i64::from(u.id.0)).collect();
        assert_eq!(ids, expected_ids);
        for u in &updates {
            assert!(!matches!(u.kind, UpdateKind::Error(_)), "{u:?}");
        }

        // Text with a command (with @botname) and a mention after an astral emoji.
        let m = message_of(&updates[0]);
        assert!(matches!(updates[0].kind, UpdateKind::Message(_)));
        assert!(m.chat.is_group());
        assert_eq!(m.chat.title(), Some("Group"));
        assert_eq!(m.from.as_ref().unwrap().id, UserId(42));
        assert_eq!(
            m.from.as_ref().unwrap().language_code.as_deref(),
            Some("es")
        );
        assert_eq!(m.id, MessageId(i32::try_from(first).unwrap()));
        let entities = m.parse_entities().unwrap();
        let found: Vec<(&MessageEntityKind, &str)> =
            entities.iter().map(|e| (e.kind(), e.text())).collect();
        assert_eq!(
            found,
            [
                (&MessageEntityKind::BotCommand, "/start@tolmach_test_bot"),
                (&MessageEntityKind::Mention, "@someone_else"),
            ]
        );

        // Photo with caption and caption entities, in a supergroup.
        let m = message_of(&updates[1]);
        assert!(m.chat.is_supergroup());
        assert_eq!(m.chat.username(), Some("super_pub"));
        let MediaKind::Photo(photo) = media(m) else {
            panic!("{m:?}")
        };
        assert_eq!(photo.photo.len(), 2);
        assert_eq!(photo.caption.as_deref(), Some("look 🐈 @tolmach_test_bot"));
        let caption_entities = m.parse_caption_entities().unwrap();
        assert_eq!(caption_entities.len(), 1);
        assert_eq!(caption_entities[0].kind(), &MessageEntityKind::Mention);
        assert_eq!(caption_entities[0].text(), "@tolmach_test_bot");

        // Voice with its file id, in a private chat.
        let m = message_of(&updates[2]);
        assert!(m.chat.is_private());
        assert_eq!(m.chat.first_name(), Some("Alice"));
        let MediaKind::Voice(voice) = media(m) else {
            panic!("{m:?}")
        };
        assert_eq!(voice.voice.file.id, FileId("voice-1".into()));
        assert_eq!(voice.voice.duration.seconds(), 3);
        assert_eq!(
            voice
                .voice
                .mime_type
                .as_ref()
                .map(ToString::to_string)
                .as_deref(),
            Some("audio/ogg")
        );
        assert_eq!(voice.caption, None);

        // Sticker.
        let m = message_of(&updates[3]);
        let MediaKind::Sticker(sticker) = media(m) else {
            panic!("{m:?}")
        };
        assert!(sticker.sticker.is_regular());
        assert!(sticker.sticker.is_static());
        assert_eq!(sticker.sticker.emoji.as_deref(), Some("👍"));

        // Service message.
        let m = message_of(&updates[4]);
        let MessageKind::NewChatMembers(joined) = &m.kind else {
            panic!("{m:?}")
        };
        assert_eq!(joined.new_chat_members.len(), 1);
        assert_eq!(joined.new_chat_members[0].id, UserId(42));

        // Edited message: same id, original date, edit_date set.
        let UpdateKind::EditedMessage(m) = &updates[5].kind else {
            panic!("{:?}", updates[5])
        };
        assert_eq!(m.id, MessageId(i32::try_from(first).unwrap()));
        assert_eq!(m.text(), Some("/start fixed"));
        assert!(m.edit_date().is_some());
        assert_eq!(m.date, message_of(&updates[0]).date);

        // Channel post: no `from`, sender_chat = the channel.
        let UpdateKind::ChannelPost(m) = &updates[6].kind else {
            panic!("{:?}", updates[6])
        };
        assert!(m.chat.is_channel());
        assert!(m.from.is_none());
        assert_eq!(
            m.sender_chat.as_ref().unwrap().id,
            ChatId(-1_009_876_543_210)
        );
        assert_eq!(m.text(), Some("breaking"));

        // Reply carries the (edited) original, without its own reply.
        let m = message_of(&updates[7]);
        let original = m.reply_to_message().unwrap();
        assert_eq!(original.id, MessageId(i32::try_from(first).unwrap()));
        assert_eq!(original.text(), Some("/start fixed"));
        assert_eq!(m.text(), Some("as I said"));

        // From another bot.
        let m = message_of(&updates[8]);
        let from = m.from.as_ref().unwrap();
        assert!(from.is_bot);
        assert_eq!(from.username.as_deref(), Some("helper_bot"));

        // Voice with a caption that is a command.
        let m = message_of(&updates[9]);
        let MediaKind::Voice(voice) = media(m) else {
            panic!("{m:?}")
        };
        assert_eq!(voice.caption.as_deref(), Some("/transcribe"));
        assert_eq!(
            voice.caption_entities[0].kind,
            MessageEntityKind::BotCommand
        );

        // Edited channel post.
        assert!(matches!(updates[10].kind, UpdateKind::EditedChannelPost(_)));

        // Message ids count per chat.
        assert_eq!(fake.last_message_id(-2002), Some(first + 3));
        assert_eq!(fake.last_message_id(42), Some(3));
    }

    #[tokio::test]
    async fn raw_updates_get_ids_and_are_remembered() {
        let (fake, bot) = setup().await;
        // The minimal update from the platform notes.
        let raw = json!({"message": {
            "message_id": 7, "date": 1_700_000_000,
            "chat": {"id": 42, "type": "private", "first_name": "A"},
            "from": {"id": 42, "is_bot": false, "first_name": "A"},
            "text": "hello",
        }});
        let id = fake.push_update(raw);
        assert_eq!(id, 1);
        let explicit = fake.push_update(json!({"update_id": 50, "poll_answer": {
            "poll_id": "p",
            "user": {"id": 42, "is_bot": false, "first_name": "A"},
            "option_ids": [],
        }}));
        assert_eq!(explicit, 50);
        let next = fake.send_text(&TgChat::private(42, "A"), &TgUser::new(42, "A"), "next");
        assert_eq!(next, 51);
        assert_eq!(fake.message_id_of(id), Some(7));
        // The chat's counter continues after the raw message's id.
        assert_eq!(fake.message_id_of(next), Some(8));

        let updates = bot.get_updates().await.unwrap();
        assert_eq!(updates.len(), 3);
        assert_eq!(message_of(&updates[0]).text(), Some("hello"));
        assert!(matches!(updates[1].kind, UpdateKind::PollAnswer(_)));

        // The bot can reply to the raw message.
        let sent = bot
            .send_message(ChatId(42), "hi")
            .reply_parameters(ReplyParameters::new(MessageId(7)))
            .await
            .unwrap();
        assert_eq!(sent.reply_to_message().unwrap().text(), Some("hello"));
        assert_eq!(sent.chat.first_name(), Some("A"));
        assert_eq!(sent.id, MessageId(9));
    }

    #[tokio::test]
    async fn replies_quote_part_of_the_original_in_utf16_positions() {
        let (fake, bot) = setup().await;
        let group = TgChat::supergroup(-1_001_234_567_890, "Super");
        let bob = TgUser::new(50, "Bob");
        let first = fake.send_text(&group, &bob, "😀 Guten Morgen! Wie geht's?");
        let first = fake.message_id_of(first).unwrap();
        let photo = fake.push_message(MessageBuilder::photo_with_caption(
            &group,
            &bob,
            "Blick vom Balkon",
        ));
        let photo = fake.message_id_of(photo).unwrap();
        fake.push_message(
            MessageBuilder::text(&group, &alice(), "/tr en")
                .reply_to(first)
                .quote("Wie geht's?"),
        );
        fake.push_message(
            MessageBuilder::text(&group, &alice(), "/tr en")
                .reply_to(photo)
                .quote("Balkon"),
        );
        fake.push_message(MessageBuilder::text(&group, &alice(), "/tr en").reply_to(first));

        let updates = bot.get_updates().await.unwrap();
        let m = message_of(&updates[2]);
        assert_eq!(
            m.reply_to_message().unwrap().text(),
            Some("😀 Guten Morgen! Wie geht's?")
        );
        let quote = m.quote().unwrap();
        assert_eq!(quote.text, "Wie geht's?");
        // The emoji is two UTF-16 code units.
        assert_eq!(quote.position, 17);
        assert!(quote.is_manual);
        let m = message_of(&updates[3]);
        assert_eq!(
            m.reply_to_message().unwrap().caption(),
            Some("Blick vom Balkon")
        );
        assert_eq!(m.quote().unwrap().position, 10);
        assert!(message_of(&updates[4]).quote().is_none());
    }

    #[tokio::test]
    async fn offsets_confirm_and_unconfirmed_updates_are_redelivered() {
        let (fake, bot) = setup().await;
        let (user, chat) = (alice(), TgChat::private(42, "Alice"));
        let ids: Vec<i64> = (0..3)
            .map(|i| fake.send_text(&chat, &user, &format!("m{i}")))
            .collect();
        let texts = |updates: &[Update]| -> Vec<String> {
            updates
                .iter()
                .map(|u| message_of(u).text().unwrap().to_owned())
                .collect()
        };

        // Not confirmed: delivered again and again.
        assert_eq!(texts(&bot.get_updates().await.unwrap()), ["m0", "m1", "m2"]);
        assert_eq!(
            texts(&bot.get_updates().offset(0).await.unwrap()),
            ["m0", "m1", "m2"]
        );
        assert_eq!(fake.pending_updates(), 3);
        assert_eq!(fake.confirmed_offset(), 0);

        // offset = id confirms everything before it.
        let offset = i32::try_from(ids[1]).unwrap();
        assert_eq!(
            texts(&bot.get_updates().offset(offset).await.unwrap()),
            ["m1", "m2"]
        );
        assert_eq!(fake.confirmed_offset(), ids[1]);
        assert_eq!(fake.pending_updates(), 2);

        // Offsets only move forward.
        let back = i32::try_from(ids[0]).unwrap();
        assert_eq!(
            texts(&bot.get_updates().offset(back).await.unwrap()),
            ["m1", "m2"]
        );
        assert_eq!(fake.confirmed_offset(), ids[1]);

        // Confirm all.
        let past = i32::try_from(ids[2] + 1).unwrap();
        assert!(bot.get_updates().offset(past).await.unwrap().is_empty());
        assert_eq!(fake.pending_updates(), 0);
        assert_eq!(fake.confirmed_offset(), ids[2] + 1);

        // limit: the oldest first.
        for i in 3..6 {
            fake.send_text(&chat, &user, &format!("m{i}"));
        }
        assert_eq!(
            texts(&bot.get_updates().limit(2).await.unwrap()),
            ["m3", "m4"]
        );
        assert_eq!(fake.pending_updates(), 3);

        // A negative offset keeps only the last -offset updates.
        assert_eq!(texts(&bot.get_updates().offset(-1).await.unwrap()), ["m5"]);
        assert_eq!(fake.pending_updates(), 1);

        let calls = fake.calls();
        assert!(
            calls
                .iter()
                .all(|c| c.method == "getupdates" && c.status == 200)
        );
        assert_eq!(calls[2].params["offset"], json!(ids[1]));
    }

    #[tokio::test]
    async fn long_poll_waits_and_wakes_on_push() {
        let (fake, bot) = setup().await;
        let poll = tokio::spawn({
            let bot = bot.clone();
            async move { bot.get_updates().timeout(10).await }
        });
        assert!(fake.wait_for_calls("GetUpdates", 1, WAIT).await);
        // Received and nothing to deliver: the fake holds the request.
        assert!(!poll.is_finished());
        assert_eq!(fake.calls()[0].status, 0);

        let started = Instant::now();
        let id = fake.send_text(&TgChat::private(42, "Alice"), &alice(), "wake up");
        let updates = tokio::time::timeout(WAIT, poll)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(updates.len(), 1);
        assert_eq!(i64::from(updates[0].id.0), id);
        assert_eq!(fake.calls()[0].status, 200);
    }

    #[tokio::test]
    async fn long_poll_times_out_with_an_empty_list() {
        let (fake, bot) = setup().await;
        let started = Instant::now();
        let updates = bot.get_updates().timeout(1).await.unwrap();
        let elapsed = started.elapsed();
        assert!(updates.is_empty());
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        assert_eq!(fake.calls()[0].params["timeout"], json!(1));
    }

    #[tokio::test]
    async fn a_newer_get_updates_ends_the_waiting_one_with_409() {
        let (fake, bot) = setup().await;
        let first = tokio::spawn({
            let bot = bot.clone();
            async move { bot.get_updates().timeout(10).await }
        });
        assert!(fake.wait_for_calls("getupdates", 1, WAIT).await);
        assert!(bot.get_updates().await.unwrap().is_empty());
        let err = tokio::time::timeout(WAIT, first)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err,
                RequestError::Api(ApiError::TerminatedByOtherGetUpdates)
            ),
            "{err:?}"
        );
        assert!(fake.wait_for_calls("getupdates", 2, WAIT).await);
        let calls = fake.calls();
        assert_eq!(calls[0].status, 409);
        assert_eq!(calls[1].status, 200);
    }

    #[tokio::test]
    async fn allowed_updates_filter_and_persist() {
        let (fake, bot) = setup().await;
        let (user, chat) = (alice(), TgChat::private(42, "Alice"));
        let edited = fake.push_message(MessageBuilder::text(&chat, &user, "e").edited());
        let plain = fake.send_text(&chat, &user, "m");

        let only_messages = bot
            .get_updates()
            .allowed_updates([AllowedUpdate::Message])
            .await
            .unwrap();
        assert_eq!(only_messages.len(), 1);
        assert_eq!(i64::from(only_messages[0].id.0), plain);
        // Remembered by later calls that don't pass it.
        assert_eq!(bot.get_updates().await.unwrap().len(), 1);
        // The skipped update is still pending until an offset passes it.
        assert_eq!(fake.pending_updates(), 2);

        // An empty list restores the default set.
        let all = bot.get_updates().allowed_updates([]).await.unwrap();
        let ids: Vec<i64> = all.iter().map(|u| i64::from(u.id.0)).collect();
        assert_eq!(ids, [edited, plain]);

        // The default set leaves out chat_member updates.
        fake.push_update(json!({"chat_member": {}}));
        assert_eq!(bot.get_updates().await.unwrap().len(), 2);
        assert_eq!(fake.pending_updates(), 3);
    }

    #[tokio::test]
    async fn send_message_with_reply_parameters_is_parsed_and_recorded() {
        let (fake, bot) = setup().await;
        let (user, chat) = (alice(), TgChat::private_with(&alice()));
        let uid = fake.send_text(&chat, &user, "hello");
        let mid = fake.message_id_of(uid).unwrap();

        let sent = bot
            .send_message(ChatId(42), "hi there")
            .reply_parameters(ReplyParameters::new(MessageId(i32::try_from(mid).unwrap())))
            .await
            .unwrap();
        assert_eq!(sent.text(), Some("hi there"));
        assert_eq!(sent.id.0, i32::try_from(mid + 1).unwrap());
        let from = sent.from.as_ref().unwrap();
        assert!(from.is_bot);
        assert_eq!(from.id, UserId(123_456));
        assert_eq!(from.username.as_deref(), Some(DEFAULT_BOT_USERNAME));
        assert!(sent.chat.is_private());
        assert_eq!(sent.chat.username(), Some("alice_w"));
        let original = sent.reply_to_message().unwrap();
        assert_eq!(original.id.0, i32::try_from(mid).unwrap());
        assert_eq!(original.text(), Some("hello"));

        let recorded = fake.sent();
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].message_id, mid + 1);
        assert_eq!(recorded[0].chat_id, 42);
        assert_eq!(recorded[0].text, "hi there");
        assert_eq!(recorded[0].reply_to_message_id, Some(mid));
        assert_eq!(
            recorded[0].params["reply_parameters"]["message_id"],
            json!(mid)
        );

        // A reply to a message the fake doesn't know.
        let err = bot
            .send_message(ChatId(42), "x")
            .reply_parameters(ReplyParameters::new(MessageId(999)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::MessageToReplyNotFound)),
            "{err:?}"
        );
        let without = bot
            .send_message(ChatId(42), "anyway")
            .reply_parameters(ReplyParameters::new(MessageId(999)).allow_sending_without_reply())
            .await
            .unwrap();
        assert!(without.reply_to_message().is_none());
        assert_eq!(fake.sent()[1].reply_to_message_id, None);

        // The user replies to the bot's message.
        let bot_mid = i64::from(sent.id.0);
        fake.push_message(MessageBuilder::text(&chat, &user, "thanks").reply_to(bot_mid));
        let updates = bot.get_updates().await.unwrap();
        let reply = message_of(updates.last().unwrap());
        let replied = reply.reply_to_message().unwrap();
        assert_eq!(replied.text(), Some("hi there"));
        assert!(replied.from.as_ref().unwrap().is_bot);

        // Chats by @username; unknown chats are made up from the id.
        let channel = TgChat::channel(-1_005_555, "Pub").with_username("pub_chan");
        fake.add_chat(&channel);
        let to_channel = bot
            .send_message(Recipient::ChannelUsername("@pub_chan".into()), "post")
            .await
            .unwrap();
        assert!(to_channel.chat.is_channel());
        assert!(to_channel.from.is_none());
        assert_eq!(
            to_channel.sender_chat.as_ref().unwrap().id,
            ChatId(-1_005_555)
        );
        assert_eq!(fake.sent().last().unwrap().chat_id, -1_005_555);
        let err = bot
            .send_message(Recipient::ChannelUsername("@nobody_here".into()), "x")
            .await
            .unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::ChatNotFound)),
            "{err:?}"
        );
        let to_group = bot.send_message(ChatId(-77), "g").await.unwrap();
        assert!(to_group.chat.is_group());
        let to_super = bot
            .send_message(ChatId(-1_000_000_000_077), "s")
            .await
            .unwrap();
        assert!(to_super.chat.is_supergroup());
        assert_eq!(fake.sent().len(), 5);
    }

    #[tokio::test]
    async fn text_length_and_emptiness_are_checked_in_utf16_units() {
        let (fake, bot) = setup().await;
        let send = |text: String| bot.send_message(ChatId(42), text);
        send("a".repeat(4096)).await.unwrap();
        let err = send("a".repeat(4097)).await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::MessageIsTooLong)),
            "{err:?}"
        );
        // 2048 astral characters are 4096 UTF-16 code units.
        send("😀".repeat(2048)).await.unwrap();
        let err = send("😀".repeat(2049)).await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::MessageIsTooLong)),
            "{err:?}"
        );
        for empty in ["", " \n "] {
            let err = send(empty.to_owned()).await.unwrap_err();
            assert!(
                matches!(err, RequestError::Api(ApiError::MessageTextIsEmpty)),
                "{err:?}"
            );
        }
        assert_eq!(fake.sent().len(), 2);
        assert_eq!(statuses(&fake), [200, 400, 200, 400, 400, 400]);
    }

    #[tokio::test]
    async fn faults_map_to_the_expected_teloxide_errors() {
        let (fake, bot) = setup().await;
        fake.fail_next("sendMessage", Fault::RetryAfter(3), 1);
        fake.fail_next("SendMessage", Fault::MigrateTo(-100_777), 1);
        fake.fail_next("sendmessage", Fault::bot_blocked(), 1);
        fake.fail_next("sendMessage", Fault::chat_not_found(), 1);
        fake.fail_next("sendMessage", Fault::MalformedJson, 1);
        fake.fail_next("sendMessage", Fault::Drop, 1);
        fake.fail_next("sendMessage", Fault::Delay(Duration::from_millis(200)), 1);
        assert_eq!(fake.pending_faults(), 7);
        let send = || bot.send_message(ChatId(42), "x");

        // A fault for another method is not consumed by getMe.
        bot.get_me().await.unwrap();

        match send().await {
            Err(RequestError::RetryAfter(secs)) => assert_eq!(secs.seconds(), 3),
            other => panic!("{other:?}"),
        }
        match send().await {
            Err(RequestError::MigrateToChatId(chat)) => assert_eq!(chat, ChatId(-100_777)),
            other => panic!("{other:?}"),
        }
        let err = send().await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::BotBlocked)),
            "{err:?}"
        );
        let err = send().await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::ChatNotFound)),
            "{err:?}"
        );
        let err = send().await.unwrap_err();
        assert!(matches!(err, RequestError::InvalidJson { .. }), "{err:?}");
        let err = send().await.unwrap_err();
        assert!(matches!(err, RequestError::Network(_)), "{err:?}");
        assert!(fake.sent().is_empty());

        let started = Instant::now();
        let delayed = send().await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        let normal = send().await.unwrap();
        assert_eq!(normal.id.0, delayed.id.0 + 1);
        assert_eq!(fake.pending_faults(), 0);

        // Only accepted sends are recorded; every call is.
        assert_eq!(fake.sent().len(), 2);
        assert_eq!(statuses(&fake), [200, 429, 400, 403, 400, 200, 0, 200, 200]);
        let methods: Vec<String> = fake.calls().into_iter().map(|c| c.method).collect();
        assert_eq!(methods[0], "getme");
        assert!(methods[1..].iter().all(|m| m == "sendmessage"));
    }

    #[tokio::test]
    async fn faults_repeat_times_and_wildcard_matches_any_method() {
        let (fake, bot) = setup().await;
        fake.fail_next("getMe", Fault::RetryAfter(1), 2);
        fake.fail_next("*", Fault::bot_blocked(), 1);
        for _ in 0..2 {
            assert!(matches!(
                bot.get_me().await,
                Err(RequestError::RetryAfter(_))
            ));
        }
        let err = bot.get_webhook_info().await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::BotBlocked)),
            "{err:?}"
        );
        bot.get_me().await.unwrap();

        fake.fail_next("getMe", Fault::Drop, 5);
        fake.clear_faults();
        bot.get_me().await.unwrap();
    }

    #[tokio::test]
    async fn server_error_answers_html_with_that_status() {
        // Not through teloxide: it sleeps 10 s inside any request that gets a 5xx.
        let (fake, _bot) = setup().await;
        fake.fail_next("sendMessage", Fault::ServerError(502), 1);
        let body = json!({"chat_id": 42, "text": "x"});
        let resp = client()
            .post(method_url(&fake, "sendMessage"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 502);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html");
        let html = resp.text().await.unwrap();
        assert!(html.contains("502 Bad Gateway"), "{html}");
        assert!(serde_json::from_str::<Value>(&html).is_err());

        let resp = client()
            .post(method_url(&fake, "sendMessage"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(fake.sent().len(), 1);
        assert_eq!(statuses(&fake), [502, 200]);
    }

    #[tokio::test]
    async fn get_file_and_download_round_trip() {
        let (fake, bot) = setup().await;
        let bytes: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        fake.add_file("voice-1", "voice/file_1.oga", bytes.clone());

        // A voice note with a registered file reports its size.
        let chat = TgChat::private(42, "Alice");
        fake.push_message(MessageBuilder::voice(&chat, &alice(), "voice-1", 2, None));
        let updates = bot.get_updates().await.unwrap();
        let MediaKind::Voice(voice) = media(message_of(&updates[0])) else {
            panic!("{updates:?}")
        };
        assert_eq!(voice.voice.file.size, 10_000);

        let file = bot.get_file(voice.voice.file.id.clone()).await.unwrap();
        assert_eq!(file.path, "voice/file_1.oga");
        assert_eq!(file.meta.size, 10_000);
        assert_eq!(file.meta.unique_id, voice.voice.file.unique_id);

        let mut downloaded: Vec<u8> = Vec::new();
        bot.download_file(&file.path, &mut downloaded)
            .await
            .unwrap();
        assert_eq!(downloaded, bytes);
        let download_call = fake.calls().pop().unwrap();
        assert_eq!(download_call.method, "file");
        assert_eq!(download_call.params["file_path"], "voice/file_1.oga");
        assert_eq!(download_call.status, 200);

        // Unknown file id / path.
        match bot.get_file(FileId("nope".into())).await {
            Err(RequestError::Api(ApiError::Unknown(description))) => {
                assert_eq!(description, "Bad Request: invalid file_id");
            }
            other => panic!("{other:?}"),
        }
        let mut sink: Vec<u8> = Vec::new();
        let err = bot
            .download_file("voice/missing.oga", &mut sink)
            .await
            .unwrap_err();
        assert!(matches!(err, DownloadError::Network(_)), "{err:?}");

        // Faults work for downloads too.
        fake.fail_next("file", Fault::Drop, 1);
        let err = bot.download_file(&file.path, &mut sink).await.unwrap_err();
        assert!(matches!(err, DownloadError::Network(_)), "{err:?}");
        assert!(sink.is_empty());
    }

    #[tokio::test]
    async fn wrong_token_is_unauthorized() {
        let (fake, _bot) = setup().await;
        let wrong = bot_for(&fake, "999:WRONG");
        let err = wrong.get_me().await.unwrap_err();
        assert!(
            matches!(err, RequestError::Api(ApiError::InvalidToken)),
            "{err:?}"
        );

        let resp = client()
            .post(format!("{}/bot999:WRONG/sendMessage", fake.api_url()))
            .json(&json!({"chat_id": 42, "text": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(
            v,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
        );
        assert!(fake.sent().is_empty());
        assert_eq!(statuses(&fake), [401, 401]);

        let resp = client()
            .get(format!("{}/file/bot999:WRONG/x", fake.api_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
    }

    #[tokio::test]
    async fn limits_answer_429_with_a_retry_after_that_is_honoured() {
        let (fake, bot) = setup().await;
        fake.set_limits(Some(Limits {
            per_chat: (2, Duration::from_secs(1)),
            ..Limits::telegram()
        }));
        bot.send_message(ChatId(42), "1").await.unwrap();
        bot.send_message(ChatId(42), "2").await.unwrap();
        let retry_after = match bot.send_message(ChatId(42), "3").await {
            Err(RequestError::RetryAfter(secs)) => secs,
            other => panic!("{other:?}"),
        };
        assert_eq!(retry_after.seconds(), 1);
        // Other chats are not limited by this chat's window.
        bot.send_message(ChatId(43), "elsewhere").await.unwrap();

        // Waiting as told is enough.
        tokio::time::sleep(retry_after.duration()).await;
        bot.send_message(ChatId(42), "3 again").await.unwrap();
        let texts: Vec<String> = fake.sent().into_iter().map(|s| s.text).collect();
        assert_eq!(texts, ["1", "2", "elsewhere", "3 again"]);
        let refused = &fake.calls()[2];
        assert_eq!(refused.status, 429);

        fake.set_limits(None);
        for i in 0..5 {
            bot.send_message(ChatId(42), i.to_string()).await.unwrap();
        }
    }

    #[test]
    fn limit_windows() {
        let limits = Limits::telegram();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut log = VecDeque::new();
        // 20 sends to one group over 28.5 s, spaced out so the per-chat window has room.
        for i in 0..20u64 {
            log.push_back((at(i * 1_500), -5));
        }
        let now = at(29_600);
        let wait = limits.wait(&log, -5, now).unwrap();
        // The first send leaves the 60 s window at 60 s.
        assert_eq!(wait, Duration::from_millis(30_400));
        assert_eq!(retry_after_secs(wait), 31);
        // A private chat with the same history is fine (per_group applies to groups only).
        let private_log: VecDeque<_> = log.iter().map(|(t, _)| (*t, 5)).collect();
        assert_eq!(limits.wait(&private_log, 5, now), None);
        // Another chat is not affected by the group's windows.
        assert_eq!(limits.wait(&log, -6, now), None);

        // Global: 30 in the last second.
        let burst: VecDeque<_> = (0..30).map(|i| (at(10_000 + i), i as i64)).collect();
        let wait = limits.wait(&burst, 1_000, at(10_100)).unwrap();
        assert_eq!(wait, Duration::from_millis(900));
        assert_eq!(retry_after_secs(wait), 1);
        assert_eq!(limits.wait(&burst, 1_000, at(11_000)), None);

        // Per chat: 1 per second.
        let chat: VecDeque<_> = [0].iter().map(|ms| (at(*ms), 7)).collect();
        assert_eq!(
            limits.wait(&chat, 7, at(300)),
            Some(Duration::from_millis(700))
        );
        assert_eq!(limits.wait(&chat, 7, at(1_000)), None);
        assert_eq!(retry_after_secs(Duration::from_millis(2_700)), 3);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);

        // Zero disables a limit.
        let off = Limits {
            per_chat: (0, Duration::from_secs(1)),
            per_group: (5, Duration::ZERO),
            global: (0, Duration::ZERO),
        };
        assert_eq!(off.wait(&log, -5, now), None);
    }

    #[tokio::test]
    async fn raw_protocol_accepts_get_form_and_json_and_answers_like_telegram() {
        let (fake, _bot) = setup().await;
        let http = client();
        let json_of = |resp: reqwest::Response| async move {
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        };

        // GET with no parameters, method names in any case, POST without a body.
        let (status, me) =
            json_of(http.get(method_url(&fake, "getMe")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        assert_eq!(me["ok"], true);
        assert_eq!(me["result"]["username"], DEFAULT_BOT_USERNAME);
        assert_eq!(me["result"]["can_connect_to_business"], false);
        let (status, _) =
            json_of(http.post(method_url(&fake, "GETME")).send().await.unwrap()).await;
        assert_eq!(status, 200);
        let (status, _) = json_of(
            http.post(method_url(&fake, "getme"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{}")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);

        // sendMessage by query string and by form, with reply parameters as a JSON string.
        let user_update = fake.send_text(&TgChat::private(42, "Alice"), &alice(), "hey");
        let mid = fake.message_id_of(user_update).unwrap();
        let (status, sent) = json_of(
            http.get(format!(
                "{}?chat_id=42&text=by%20query",
                method_url(&fake, "sendMessage")
            ))
            .send()
            .await
            .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
        assert_eq!(sent["result"]["text"], "by query");
        let form =
            format!("chat_id=42&text=by+form&reply_parameters=%7B%22message_id%22%3A{mid}%7D");
        let (status, sent) = json_of(
            http.post(method_url(&fake, "sendMessage"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{sent}");
        assert_eq!(sent["result"]["reply_to_message"]["message_id"], json!(mid));
        assert_eq!(fake.sent()[1].reply_to_message_id, Some(mid));
        assert_eq!(fake.sent()[1].params["chat_id"], "42");

        // getUpdates by form.
        let (status, updates) = json_of(
            http.post(method_url(&fake, "getUpdates"))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("offset=0&limit=1&timeout=0")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(updates["result"][0]["update_id"], json!(user_update));
        assert_eq!(updates["result"][0]["message"]["text"], "hey");

        // Unknown method, unknown route, broken bodies.
        let (status, v) = json_of(
            http.post(method_url(&fake, "sendRocket"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(
            v,
            json!({"ok": false, "error_code": 404, "description": "Not Found"})
        );
        let (status, _) = json_of(
            http.get(format!("{}/nothing", fake.api_url()))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 404);
        let (status, v) = json_of(
            http.post(method_url(&fake, "sendMessage"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("{not json")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(v["ok"], false);
        assert_eq!(v["error_code"], 400);
        let (status, v) = json_of(
            http.post(method_url(&fake, "sendMessage"))
                .json(&json!({"text": "no chat"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(v["description"], "Bad Request: chat_id is empty");
        let (status, v) = json_of(
            http.post(method_url(&fake, "sendMessage"))
                .json(&json!({"chat_id": 42, "text": "x", "parse_mode": "BBCode"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 400, "{v}");

        let calls = fake.calls();
        let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
        assert_eq!(
            methods,
            [
                "getme",
                "getme",
                "getme",
                "sendmessage",
                "sendmessage",
                "getupdates",
                "sendrocket",
                "sendmessage",
                "sendmessage",
                "sendmessage",
            ]
        );
        assert_eq!(calls[7].params, Value::Null);
        assert_eq!(calls[6].status, 404);
        assert_eq!(fake.sent().len(), 2);
    }

    #[tokio::test]
    async fn other_methods_answer_plausibly() {
        let (fake, bot) = setup().await;
        fake.send_text(&TgChat::private(42, "Alice"), &alice(), "pending");
        let info = bot.get_webhook_info().await.unwrap();
        assert_eq!(info.url, None);
        assert_eq!(info.pending_update_count, 1);

        bot.set_my_commands([
            BotCommand::new("start", "Start"),
            BotCommand::new("lang", "Pick a language"),
        ])
        .await
        .unwrap();
        let commands = bot.get_my_commands().await.unwrap();
        assert_eq!(commands.len(), 2);
        assert_eq!(commands[1].command, "lang");
        assert_eq!(fake.commands()[0]["description"], "Start");

        bot.send_chat_action(ChatId(42), ChatAction::Typing)
            .await
            .unwrap();
        bot.delete_webhook().await.unwrap();
        assert_eq!(fake.pending_updates(), 1);
        bot.delete_webhook()
            .drop_pending_updates(true)
            .await
            .unwrap();
        assert_eq!(fake.pending_updates(), 0);
        assert!(bot.get_updates().await.unwrap().is_empty());
        bot.delete_my_commands().await.unwrap();
        assert!(bot.get_my_commands().await.unwrap().is_empty());
        assert!(fake.calls().iter().all(|c| c.status == 200));
    }

    #[tokio::test]
    async fn wait_for_sent_wakes_on_send_and_times_out() {
        let (fake, bot) = setup().await;
        let waiter = tokio::spawn({
            let fake = fake.clone();
            async move { fake.wait_for_sent(2, WAIT).await }
        });
        bot.send_message(ChatId(1), "one").await.unwrap();
        // One of two: the waiter cannot be done.
        assert!(!waiter.is_finished());
        bot.send_message(ChatId(1), "two").await.unwrap();
        assert!(waiter.await.unwrap());
        assert!(fake.wait_for_sent(2, Duration::ZERO).await);
        assert!(!fake.wait_for_sent(3, Duration::from_millis(50)).await);
        assert!(
            !fake
                .wait_for_calls("getMe", 1, Duration::from_millis(50))
                .await
        );
        assert!(fake.wait_for_calls("*", 2, Duration::ZERO).await);
    }

    #[tokio::test]
    async fn the_teloxide_dispatcher_runs_against_the_fake() {
        use teloxide::update_listeners::Polling;

        let (fake, bot) = setup().await;
        let handler = Update::filter_message().endpoint(|bot: Bot, msg: Message| async move {
            let text = msg.text().unwrap_or_default().to_owned();
            bot.send_message(msg.chat.id, format!("echo: {text}"))
                .reply_parameters(ReplyParameters::new(msg.id))
                .await?;
            respond(())
        });
        let mut dispatcher = Dispatcher::builder(bot.clone(), handler).build();
        let shutdown = dispatcher.shutdown_token();
        let listener = Polling::builder(bot)
            .timeout(Duration::from_secs(1))
            .build();
        let running = tokio::spawn(async move {
            dispatcher
                .dispatch_with_listener(listener, LoggingErrorHandler::new())
                .await;
        });

        let (user, chat) = (alice(), TgChat::private(42, "Alice"));
        let first = fake.send_text(&chat, &user, "hola");
        let second = fake.send_text(&TgChat::group(-2002, "G"), &user, "/start@tolmach_test_bot");
        assert!(fake.wait_for_sent(2, WAIT).await);
        let mut texts: Vec<(i64, String)> = fake
            .sent()
            .into_iter()
            .map(|s| (s.chat_id, s.text))
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            [
                (-2002, "echo: /start@tolmach_test_bot".to_owned()),
                (42, "echo: hola".to_owned()),
            ]
        );
        assert!(fake.sent().iter().all(|s| s.reply_to_message_id.is_some()));

        shutdown.shutdown().unwrap().await;
        tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
        // The stop confirmed what was handled.
        assert_eq!(fake.confirmed_offset(), first.max(second) + 1);
        assert_eq!(fake.pending_updates(), 0);
        let methods: Vec<String> = fake.calls().into_iter().map(|c| c.method).collect();
        assert_eq!(methods[0], "getme");
        assert!(
            methods[1..]
                .iter()
                .all(|m| m == "getupdates" || m == "sendmessage")
        );
        let last = fake.calls().pop().unwrap();
        assert_eq!(last.params["limit"], 1);
        assert_eq!(last.params["timeout"], 0);
    }

    #[tokio::test]
    async fn dropping_the_last_handle_stops_the_server() {
        let (fake, bot) = setup().await;
        let poll = tokio::spawn({
            let bot = bot.clone();
            async move { bot.get_updates().timeout(30).await }
        });
        assert!(fake.wait_for_calls("getupdates", 1, WAIT).await);
        let clone = fake.clone();
        drop(fake);
        // Still served while a clone is alive.
        assert!(!poll.is_finished());
        bot.get_me().await.unwrap();
        drop(clone);
        let result = tokio::time::timeout(WAIT, poll).await.unwrap().unwrap();
        assert!(
            matches!(result, Err(RequestError::Network(_))),
            "{result:?}"
        );
        let err = bot.get_me().await.unwrap_err();
        assert!(matches!(err, RequestError::Network(_)), "{err:?}");
    }

    #[test]
    fn entities_cover_commands_and_mentions_in_utf16_units() {
        let kinds = |text: &str| -> Vec<(String, u64, u64)> {
            compute_entities(text)
                .iter()
                .map(|e| {
                    (
                        e["type"].as_str().unwrap().to_owned(),
                        e["offset"].as_u64().unwrap(),
                        e["length"].as_u64().unwrap(),
                    )
                })
                .collect()
        };
        let e = |kind: &str, offset: u64, length: u64| (kind.to_owned(), offset, length);
        assert_eq!(kinds("/start"), [e("bot_command", 0, 6)]);
        assert_eq!(
            kinds("/start@tolmach_test_bot arg"),
            [e("bot_command", 0, 23)]
        );
        assert_eq!(kinds("hi /help"), [e("bot_command", 3, 5)]);
        assert_eq!(kinds("😀 @alice_w!"), [e("mention", 3, 8)]);
        assert_eq!(
            kinds("/cmd @someone and @bob and a@mail.com"),
            [e("bot_command", 0, 4), e("mention", 5, 8)]
        );
        assert!(kinds("path/to/file").is_empty());
        assert!(kinds("/usr/bin").is_empty());
        assert!(kinds("/ alone").is_empty());
        assert!(kinds("plain text").is_empty());
        assert!(kinds("").is_empty());
    }

    #[test]
    fn chats_and_users_serialize_like_the_bot_api() {
        let user = TgUser::new(5, "Bea")
            .with_username("@bea")
            .language("de")
            .bot();
        assert_eq!(
            user.to_json(),
            json!({
                "id": 5, "is_bot": true, "first_name": "Bea",
                "username": "bea", "language_code": "de",
            })
        );
        assert_eq!(
            TgChat::private_with(&user).to_json(),
            json!({"id": 5, "type": "private", "first_name": "Bea", "username": "bea"})
        );
        assert_eq!(
            TgChat::group(-1, "G").with_username("ignored").to_json(),
            json!({"id": -1, "type": "group", "title": "G"})
        );
        assert_eq!(
            TgChat::channel(-100, "C").to_json(),
            json!({"id": -100, "type": "channel", "title": "C"})
        );
        assert_eq!(ChatKind::Supergroup.as_str(), "supergroup");
    }
}
