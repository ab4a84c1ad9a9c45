//! A fake Discord: the REST API (v10) and the gateway, over plain HTTP and `ws://`.
//!
//! [`FakeDiscord`] runs two local servers: an HTTP/1 server for the REST API (routes under
//! `/api/v10`) and a WebSocket server for the gateway. The real serenity 0.12.5 client runs
//! against it unpatched:
//!
//! ```no_run
//! # use std::time::Duration;
//! # use tolmach_testkit::{DcUser, FakeDiscord};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use serenity::all::{ClientBuilder, GatewayIntents, HttpBuilder};
//!
//! let fake = FakeDiscord::start("TEST-TOKEN").await?;
//! fake.add_guild(1_100_000_000_000_000_000, "Test Guild");
//! fake.add_text_channel(1_100_000_000_000_000_000, 1_100_000_000_000_000_001, "general");
//! // `proxy` replaces `https://discord.com` in every route; serenity's own ratelimiter must
//! // be off, or it sends its requests to the real host.
//! let http = HttpBuilder::new("TEST-TOKEN")
//!     .proxy(fake.rest_url())
//!     .ratelimiter_disabled(true)
//!     .build();
//! let intents = GatewayIntents::non_privileged() | GatewayIntents::MESSAGE_CONTENT;
//! let mut client = ClientBuilder::new_with_http(http, intents) /* .event_handler(...) */ .await?;
//! tokio::spawn(async move { client.start().await });
//! assert!(fake.wait_for_identifies(1, Duration::from_secs(10)).await);
//! let alice = DcUser::new(42, "alice");
//! fake.user_message(1_100_000_000_000_000_001, &alice, "hola");
//! assert!(fake.wait_for_created(1, Duration::from_secs(10)).await);
//! println!("{}", fake.created_messages()[0].content);
//! # Ok(())
//! # }
//! ```
//!
//! The test plays both sides:
//!
//! * **the world**: guilds, text channels and DM channels ([`FakeDiscord::add_guild`],
//!   [`FakeDiscord::add_text_channel`], [`FakeDiscord::add_dm_channel`]);
//! * **the users**: [`FakeDiscord::user_message`], [`FakeDiscord::user_reply`] and
//!   [`FakeDiscord::push_message`] (a [`DcMessage`] with full control: bot or webhook
//!   authors, other message types, attachments, voice messages, or a message that only lands
//!   in the history) store a message in the channel's history *and* dispatch `MESSAGE_CREATE` to
//!   the gateway session of the right shard; [`FakeDiscord::slash_command`] and
//!   [`FakeDiscord::message_command`] dispatch `INTERACTION_CREATE`;
//! * **the CDN**: [`FakeDiscord::add_attachment`] serves a file under `/attachments/` on the
//!   REST address and returns its URL, for an attachment object;
//! * **the bot's side**: every REST request (CDN downloads included) is recorded ([`FakeDiscord::rest_calls`]), as
//!   are the accepted messages ([`FakeDiscord::created_messages`]), interaction responses
//!   ([`FakeDiscord::interaction_callbacks`], [`FakeDiscord::interaction_edits`],
//!   [`FakeDiscord::followups`]), registered commands ([`FakeDiscord::commands`]) and every
//!   gateway event ([`FakeDiscord::gateway_events`]); the `wait_for_*` helpers wake on
//!   changes (no polling, no sleeps);
//! * **faults**: REST failures consumed in order ([`FakeDiscord::fail_next`] with a
//!   [`RestFault`]: 429, 5xx, 403, a dropped connection, a delay) and gateway failures
//!   ([`FakeDiscord::drop_connections`], [`FakeDiscord::refuse_gateway`],
//!   [`FakeDiscord::invalidate_sessions`], [`FakeDiscord::set_zombie`],
//!   [`FakeDiscord::send_reconnect`]).
//!
//! Clients built on reqwest honour `HTTP(S)_PROXY` even for `127.0.0.1`: set
//! `NO_PROXY=127.0.0.1,localhost` or build the reqwest client with `.no_proxy()`.
//!
//! The servers stop (listeners closed, open connections dropped without a close frame)
//! when the last clone of the [`FakeDiscord`] handle is dropped.
//!
//! # REST routes
//!
//! All under `{rest_url}/api/v10`. `Authorization: Bot TOKEN` is required except where
//! noted; a missing or wrong one gets 401 `{"message":"401: Unauthorized","code":0}`.
//! Successful answers carry `X-RateLimit-Limit/Remaining/Reset/Reset-After/Bucket` headers
//! (informational: the fake does not rate-limit on its own; use [`RestFault::RateLimited`]).
//!
//! | route | answer |
//! |---|---|
//! | `GET /gateway` (no auth) | `{"url":"ws://127.0.0.1:PORT"}` (no query: serenity appends `?v=10`) |
//! | `GET /gateway/bot` | `{url, shards, session_start_limit{total:1000, remaining, reset_after, max_concurrency:1}}`; `shards` from [`FakeDiscord::with_shards`] |
//! | `GET /users/@me` | the bot user |
//! | `POST /users/@me/channels` `{recipient_id}` | the DM channel with that user (created if needed; unknown user: 400 50033) |
//! | `GET /oauth2/applications/@me`, `GET /applications/@me` | the application (id = [`FakeDiscord::application_id`]) |
//! | `PUT /applications/{app}/commands` | bulk overwrite of the global commands: validated, stored, answered with ids, `application_id`, `version`, `type`, ...; a command whose name and type already existed keeps its id |
//! | `GET /applications/{app}/commands` | the global commands |
//! | `POST /applications/{app}/commands` | create or replace one command (201 when new, 200 when replaced) |
//! | `PUT`/`GET`/`POST /applications/{app}/guilds/{guild}/commands` | the same for a guild's commands |
//! | `GET /channels/{id}` | the channel object |
//! | `POST /channels/{id}/messages` | create a message (JSON, or multipart with `payload_json` and files); see below |
//! | `GET /channels/{id}/messages` | the channel's history: `limit` (default 50, 1..=100), `around` / `before` / `after`, newest first |
//! | `GET /channels/{id}/messages/{msg}` | one message, or 404 `Unknown Message` (10008) |
//! | `POST /channels/{id}/typing` | 204 |
//! | `POST /interactions/{id}/{token}/callback` (no auth) | records the response; 204 |
//! | `GET`/`PATCH /webhooks/{app}/{token}/messages/@original` (no auth) | the original response / edit it |
//! | `POST /webhooks/{app}/{token}` (no auth) | a follow-up message |
//! | unknown path / method | 404 `{"message":"404: Not Found","code":0}` / 405 |
//!
//! Discord's checks, with Discord's codes:
//!
//! * create message: unknown channel 404 `Unknown Channel` (10003); body not JSON 400
//!   (50109); empty content (whitespace only) without embeds, stickers, components, a poll
//!   or files 400 `Cannot send an empty message` (50006); content over 2000 characters
//!   (Unicode scalar values) or more than 10 embeds 400 `Invalid Form Body` (50035, with
//!   `errors.content._errors[0].code` = `BASE_TYPE_MAX_LENGTH`); `allowed_mentions` with
//!   `parse: ["users"]` *and* a `users` list (or the same for roles) 400 (50035,
//!   `MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE`); a `message_reference` to a message the
//!   channel does not have 400 (50035, `REPLIES_UNKNOWN_MESSAGE`) unless
//!   `fail_if_not_exists` is `false` (then it is sent as a plain message). Accepted: 200
//!   with the full message object (id = increasing snowflake, `type` 19 for replies with
//!   `message_reference` and `referenced_message`, `mentions` from `<@id>` in the content).
//!   `nonce`: an integer or a string of at most 25 characters (longer 400, 50035,
//!   `BASE_TYPE_MAX_LENGTH`). With `enforce_nonce: true`, a nonce the bot already sent with
//!   `enforce_nonce` in the last 2 minutes creates nothing: the answer is the earlier
//!   message, as Discord does "for the past few minutes".
//! * history: unknown channel 404 (10003); `limit` outside 1..=100 or ids that are not
//!   snowflakes 400 (50035). `after=ID` gives the `limit` oldest messages with larger ids,
//!   `before=ID` the `limit` newest with smaller ids, `around=ID` up to `limit` centred on
//!   it; always sorted newest first, as Discord does. History holds the users' messages,
//!   the bot's messages and non-ephemeral interaction responses.
//! * message objects over REST (history, one message, a created message) lack the
//!   gateway-only `guild_id` and `member`, as on Discord: a client must know which guild a
//!   channel belongs to.
//! * interactions: the callback must come within the response window (3 s, like
//!   Discord; [`FakeDiscord::with_interaction_window`]), else 404 `Unknown interaction`
//!   (10062); a second callback 400 `Interaction has already been acknowledged.` (40060).
//!   Type 4 creates the original response with its content, type 5 ("defer") creates it
//!   empty with the LOADING flag (128); the first `PATCH @original` fills it. Webhook
//!   routes: wrong application or unknown token 404 `Unknown Webhook` (10015), a token
//!   older than 15 minutes 401 `Invalid Webhook Token` (50027), `@original` before any
//!   callback 404 `Unknown Message` (10008).
//! * commands: names 1..=32 characters, lowercase letters, digits, `-` and `_` for slash
//!   commands; descriptions 1..=100 characters for slash commands; names unique per type.
//!   Violations 400 (50035); a foreign application id 403 `Missing Access` (50001).
//!
//! Bot messages (created over REST or as interaction responses, unless ephemeral) are
//! also dispatched as `MESSAGE_CREATE`, as Discord does: code under test must ignore its
//! own messages. Edits are not dispatched (no `MESSAGE_UPDATE`).
//!
//! # Gateway
//!
//! Plain `ws://` text frames with JSON (no compression, whatever IDENTIFY asks for).
//!
//! * On connect: HELLO `{"op":10,"d":{"heartbeat_interval":N}}` (N from
//!   [`FakeDiscord::with_heartbeat_interval`], default 1000 ms; Discord's is ~41 250).
//! * IDENTIFY (op 2): a wrong token closes with 4004, a second IDENTIFY on the same
//!   connection with 4005, a bad `shard` with 4010, missing `intents` with 4013. Otherwise
//!   a new session (random `session_id`) dispatches READY (`s` 1: `v`, `user`, `guilds` as
//!   unavailable stubs for the guilds of the shard, `session_id`, `resume_gateway_url`
//!   (the gateway URL, no query), `shard`, `application{id,flags}`), then one GUILD_CREATE
//!   per guild of the shard (with its text channels and the bot as member). Every
//!   dispatch carries the session's next `s`.
//! * Heartbeat (op 1) → ACK (op 11), unless [`FakeDiscord::set_zombie`] is on.
//! * RESUME (op 6): for a session that exists and is still resumable, every dispatch with
//!   `s` greater than the given `seq` is replayed in order (also those produced while it
//!   was disconnected), then RESUMED; the session's previous connection, if still open,
//!   is dropped. Otherwise op 9 INVALID_SESSION `d: false`, and the socket stays open (the
//!   client then re-identifies). Wrong token: close 4004.
//! * A session stays resumable for the resume window after its connection is lost
//!   ([`FakeDiscord::with_resume_window`], default 60 s) and buffers the events meant for
//!   it meanwhile. A client close with code 1000 or 1001 ends the session (as on
//!   Discord); other codes and plain TCP drops keep it resumable. A new IDENTIFY makes a
//!   **new** session: events buffered in an older one are not delivered to it. That is
//!   the loss a client must recover from the REST history.
//! * Routing: a guild event goes to the sessions whose shard is
//!   `(guild_id >> 22) % shard_count`; DMs go to shard 0. An event produced while no
//!   session of that shard is connected or resumable is lost (it is still in the
//!   history).
//! * Intents are honoured: guild `MESSAGE_CREATE` needs `GUILD_MESSAGES` (1 << 9), DM
//!   ones `DIRECT_MESSAGES` (1 << 12), GUILD_CREATE / CHANNEL_CREATE need `GUILDS`
//!   (1 << 0); without `MESSAGE_CONTENT` (1 << 15), guild messages arrive with empty
//!   `content`, `embeds`, `attachments` and `components` unless they mention the bot or are
//!   the bot's own. `INTERACTION_CREATE` needs no intent.
//! * Other client ops (3 presence, 4 voice state, 8 request members, 31 soundboard) are
//!   accepted and ignored after IDENTIFY (before it: close 4003); unknown ops close with
//!   4001, undecodable payloads with 4002.
//!
//! # Faults
//!
//! * [`FakeDiscord::fail_next`]`(method, path_prefix, fault, times)` queues REST faults;
//!   each request (after the route and token checks) consumes the first queued fault whose
//!   method (`"*"` = any) and path prefix (e.g. `"/api/v10/channels/"`) match it. Faulted
//!   requests are in [`FakeDiscord::rest_calls`] but never in
//!   [`FakeDiscord::created_messages`] (except after [`RestFault::Delay`], which answers
//!   normally).
//! * [`FakeDiscord::drop_connections`]: every gateway socket is closed at once at the TCP
//!   level (no close frame); sessions stay resumable.
//! * [`FakeDiscord::refuse_gateway`]: new gateway connections are accepted and closed at
//!   once, before the WebSocket handshake ("gateway unreachable").
//! * [`FakeDiscord::invalidate_sessions`]: every session becomes non-resumable and the
//!   connected ones get op 9 `d: false` right away.
//! * [`FakeDiscord::set_zombie`]: heartbeats stop being ACKed (the connection stays up).
//! * [`FakeDiscord::send_reconnect`]: op 7 RECONNECT on every connection.
//! * [`FakeDiscord::request_heartbeats`]: op 1 on every connection (the client must
//!   heartbeat at once; not a fault, but part of the protocol).

mod gateway;
mod payload;
mod rest;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use state::{Shared, State};

pub use payload::DISCORD_EPOCH_MS;

/// Default bot user id (also the application id, as for every modern Discord bot).
pub const DEFAULT_BOT_USER_ID: u64 = 1_200_000_000_000_000_001;

/// Default bot username.
pub const DEFAULT_BOT_NAME: &str = "tolmach-test-bot";

/// Owner of the guilds the fake creates and of the application.
pub const DEFAULT_OWNER_ID: u64 = 1_200_000_000_000_000_002;

/// Longest accepted message content, in Unicode scalar values (`char`s).
pub const MAX_CONTENT_CHARS: usize = 2000;

/// How long an interaction token works for follow-ups and edits (15 minutes).
pub const INTERACTION_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Gateway intents the fake looks at.
pub mod intents {
    /// `GUILDS`: GUILD_CREATE, CHANNEL_CREATE.
    pub const GUILDS: u64 = 1 << 0;
    /// `GUILD_MESSAGES`: MESSAGE_CREATE in guilds.
    pub const GUILD_MESSAGES: u64 = 1 << 9;
    /// `DIRECT_MESSAGES`: MESSAGE_CREATE in DMs.
    pub const DIRECT_MESSAGES: u64 = 1 << 12;
    /// `MESSAGE_CONTENT` (privileged): content of guild messages.
    pub const MESSAGE_CONTENT: u64 = 1 << 15;
}

// ---------------------------------------------------------------------------------------
// Public value types
// ---------------------------------------------------------------------------------------

/// A Discord user (a person, or a bot with [`DcUser::bot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DcUser {
    /// User id (a snowflake; any non-zero number works).
    pub id: u64,
    /// Username.
    pub name: String,
    /// `true` for bots.
    pub bot: bool,
}

impl DcUser {
    /// A human user.
    pub fn new(id: u64, name: &str) -> DcUser {
        DcUser {
            id,
            name: name.to_owned(),
            bot: false,
        }
    }

    /// Marks the user as a bot.
    pub fn bot(mut self) -> DcUser {
        self.bot = true;
        self
    }

    /// The Discord user object.
    pub fn to_json(&self) -> Value {
        payload::user_json(self)
    }
}

/// A message for [`FakeDiscord::push_message`]: every field is public; the builder
/// methods cover the common cases.
#[derive(Clone, Debug)]
pub struct DcMessage {
    /// The id; `None` takes the next snowflake (ids only grow).
    pub id: Option<u64>,
    /// Channel (guild text channel or DM) it is posted in.
    pub channel_id: u64,
    /// Author (a user, another bot, the bot itself...).
    pub author: DcUser,
    /// Text content.
    pub content: String,
    /// Message type: 0 default, 19 reply (set automatically with `reply_to`), 7 member
    /// join, 20 chat-input command, ...
    pub kind: u8,
    /// Replies to this message of the same channel (`message_reference` and, when the
    /// fake knows it, `referenced_message`).
    pub reply_to: Option<u64>,
    /// Sent by this webhook (`webhook_id`; no `member` in guild events).
    pub webhook_id: Option<u64>,
    /// Attachment objects (see [`DcMessage::attachment`]).
    pub attachments: Vec<Value>,
    /// Embed objects, as given.
    pub embeds: Vec<Value>,
    /// Other fields of the message object, set last (they may override).
    pub extra: Map<String, Value>,
    /// Dispatch `MESSAGE_CREATE` (default). `false` only stores it in the history, like a
    /// message posted while the bot was away.
    pub dispatch: bool,
}

impl DcMessage {
    /// A text message from `author` in `channel_id`.
    pub fn new(channel_id: u64, author: &DcUser, content: &str) -> DcMessage {
        DcMessage {
            id: None,
            channel_id,
            author: author.clone(),
            content: content.to_owned(),
            kind: 0,
            reply_to: None,
            webhook_id: None,
            attachments: Vec::new(),
            embeds: Vec::new(),
            extra: Map::new(),
            dispatch: true,
        }
    }

    /// Uses this id.
    pub fn with_id(mut self, id: u64) -> DcMessage {
        self.id = Some(id);
        self
    }

    /// Sets the message type (e.g. 7 for "user joined").
    pub fn kind(mut self, kind: u8) -> DcMessage {
        self.kind = kind;
        self
    }

    /// Makes it a reply to `message_id` (type 19).
    pub fn reply_to(mut self, message_id: u64) -> DcMessage {
        self.reply_to = Some(message_id);
        self
    }

    /// Marks it as sent by webhook `webhook_id`.
    pub fn webhook(mut self, webhook_id: u64) -> DcMessage {
        self.webhook_id = Some(webhook_id);
        self
    }

    /// Adds an attachment (`url` points wherever the test serves the file).
    pub fn attachment(
        mut self,
        id: u64,
        filename: &str,
        content_type: &str,
        size: u64,
        url: &str,
    ) -> DcMessage {
        self.attachments.push(json!({
            "id": id.to_string(),
            "filename": filename,
            "size": size,
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }));
        self
    }

    /// Makes it a voice message (flag `IS_VOICE_MESSAGE`) of `duration_secs`, its audio at
    /// `url` (from [`FakeDiscord::add_attachment`]).
    pub fn voice(mut self, url: &str, duration_secs: f64, size: u64) -> DcMessage {
        self.attachments.push(json!({
            "id": "1400000000000000001",
            "filename": "voice-message.ogg",
            "size": size,
            "url": url,
            "proxy_url": url,
            "content_type": "audio/ogg",
            "duration_secs": duration_secs,
            "waveform": "AAAAAAAAAAAA",
        }));
        self.extra.insert("flags".into(), json!(1 << 13));
        self
    }

    /// Adds an embed object.
    pub fn embed(mut self, embed: Value) -> DcMessage {
        self.embeds.push(embed);
        self
    }

    /// Sets any other field of the message object.
    pub fn with_field(mut self, key: &str, value: Value) -> DcMessage {
        self.extra.insert(key.to_owned(), value);
        self
    }

    /// Stores the message in the history without dispatching it.
    pub fn history_only(mut self) -> DcMessage {
        self.dispatch = false;
        self
    }
}

/// An interaction the fake dispatched ([`FakeDiscord::slash_command`],
/// [`FakeDiscord::message_command`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interaction {
    /// Interaction id.
    pub id: u64,
    /// Interaction token (in the callback and webhook paths).
    pub token: String,
    /// Channel it was invoked in.
    pub channel_id: u64,
}

/// One `POST /channels/{id}/messages` the fake accepted.
#[derive(Clone, Debug)]
pub struct CreatedMessage {
    /// The id the fake gave it.
    pub id: u64,
    /// The channel.
    pub channel_id: u64,
    /// The content (empty when the message only had embeds or files).
    pub content: String,
    /// `message_reference.message_id`, when it was sent as a reply.
    pub message_reference: Option<u64>,
    /// `allowed_mentions` as sent (raw JSON).
    pub allowed_mentions: Option<Value>,
    /// File names of multipart uploads.
    pub files: Vec<String>,
    /// The whole JSON body (`payload_json` for multipart).
    pub body: Value,
    /// When it was accepted.
    pub at: Instant,
}

/// One interaction callback (`POST /interactions/{id}/{token}/callback`) the fake accepted.
#[derive(Clone, Debug)]
pub struct InteractionCallback {
    /// Interaction id.
    pub interaction_id: u64,
    /// Interaction token.
    pub token: String,
    /// Response type: 4 message, 5 deferred message, 6 deferred update, 7 update, 9 modal...
    pub kind: u8,
    /// `data` as sent (`Value::Null` when absent).
    pub data: Value,
    /// When it was accepted.
    pub at: Instant,
}

/// An accepted edit of an original interaction response (`PATCH .../@original`) or
/// follow-up (`POST /webhooks/{app}/{token}`).
#[derive(Clone, Debug)]
pub struct InteractionEdit {
    /// Interaction token.
    pub token: String,
    /// The message edited or created.
    pub message_id: u64,
    /// `content` of the body (empty when the body had none).
    pub content: String,
    /// The whole JSON body.
    pub body: Value,
    /// When it was accepted.
    pub at: Instant,
}

/// One REST request, whatever its outcome.
#[derive(Clone, Debug)]
pub struct RestCall {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The full path, e.g. `/api/v10/channels/5/messages` (interaction tokens included).
    pub path: String,
    /// The query string, if any (serenity writes `?&after=1&limit=50`).
    pub query: Option<String>,
    /// The `Authorization` header, if any (`"Bot TOKEN"` from serenity).
    pub authorization: Option<String>,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The JSON body (`payload_json` for multipart); `Value::Null` when empty or not JSON.
    pub body: Value,
    /// Status answered; 0 while still being answered or when the connection was dropped
    /// ([`RestFault::Drop`]).
    pub status: u16,
    /// When the request was received.
    pub at: Instant,
}

/// What happened on the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GatewayEventKind {
    /// A WebSocket connection was established (HELLO sent).
    Connected,
    /// A connection was refused ([`FakeDiscord::refuse_gateway`]).
    Refused,
    /// An IDENTIFY; `session_id` is the new session when accepted.
    Identify {
        /// `[shard_id, shard_count]`.
        shard: [u32; 2],
        /// The intents bit set.
        intents: u64,
        /// Whether a session was created.
        accepted: bool,
        /// The new session's id.
        session_id: Option<String>,
    },
    /// A RESUME.
    Resume {
        /// The session it asked for.
        session_id: String,
        /// Its last sequence number.
        seq: u64,
        /// Whether the session was resumed (otherwise op 9 was sent).
        accepted: bool,
        /// Dispatches replayed.
        replayed: usize,
    },
    /// A heartbeat (op 1) and whether it was ACKed.
    Heartbeat {
        /// Its `d`.
        seq: Option<u64>,
        /// `false` in zombie mode.
        acked: bool,
    },
    /// The fake sent op 9 INVALID_SESSION.
    InvalidSession,
    /// The fake sent op 7 RECONNECT.
    Reconnect,
    /// The fake sent op 1, asking for a heartbeat.
    HeartbeatRequest,
    /// The fake closed the connection with a close frame (4004, 4005, ...).
    ClosedByFake {
        /// Close code.
        code: u16,
    },
    /// The connection ended.
    Disconnected {
        /// The client's close code, if it sent a close frame.
        client_close_code: Option<u16>,
        /// Closed by [`FakeDiscord::drop_connections`] (or the fake shutting down).
        dropped_by_fake: bool,
    },
    /// Any other op from the client (3, 4, 8, 31).
    Other {
        /// The op code.
        op: u64,
    },
}

/// One gateway event, with the connection it happened on (connections are numbered from
/// 1 in order of arrival).
#[derive(Clone, Debug)]
pub struct GatewayEvent {
    /// When it happened.
    pub at: Instant,
    /// The connection.
    pub connection: u64,
    /// What happened.
    pub kind: GatewayEventKind,
}

/// A gateway session as the fake sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// Session id.
    pub id: String,
    /// `[shard_id, shard_count]`.
    pub shard: [u32; 2],
    /// Intents of its IDENTIFY.
    pub intents: u64,
    /// Last sequence number dispatched.
    pub seq: u64,
    /// Whether a connection is attached.
    pub connected: bool,
    /// Whether a RESUME would be accepted now.
    pub resumable: bool,
}

/// A failure injected with [`FakeDiscord::fail_next`].
#[derive(Clone, Debug, PartialEq)]
pub enum RestFault {
    /// 429 with `Retry-After` (whole seconds, rounded up), `X-RateLimit-Reset-After`
    /// (fractional seconds), `X-RateLimit-Scope` (`user` / `global`), `X-RateLimit-Global`
    /// when global, and the body
    /// `{"message":"You are being rate limited.","retry_after":SECS,"global":BOOL}`.
    RateLimited {
        /// How long the client must wait.
        retry_after: Duration,
        /// A global (all routes) limit.
        global: bool,
    },
    /// That status: 500 with `{"message":"500: Internal Server Error","code":0}`; 502,
    /// 503, 504 with an HTML page (like Cloudflare in front of Discord); other statuses
    /// with `{"message":"STATUS: REASON","code":0}`.
    Status(u16),
    /// 403 `{"message":"Missing Permissions","code":50013}`.
    MissingPermissions,
    /// 403 `{"message":"Missing Access","code":50001}`.
    MissingAccess,
    /// Close the connection without answering.
    Drop,
    /// Do what was asked (create the message...), then close the connection without
    /// answering: the client cannot tell whether it was done.
    AnswerLost,
    /// Answer normally after this delay.
    Delay(Duration),
}

// ---------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------

/// Stops the servers when the last [`FakeDiscord`] clone goes away.
struct ServerGuard {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // Connection tasks watch this flag and drop their connections.
        self.shared.shutdown.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Handle to a running fake Discord (REST and gateway). Cheap to clone; the servers stop
/// when the last clone is dropped. See the [module docs](self).
#[derive(Clone)]
pub struct FakeDiscord {
    shared: Arc<Shared>,
    rest_addr: SocketAddr,
    gateway_addr: SocketAddr,
    _guard: Arc<ServerGuard>,
}

impl fmt::Debug for FakeDiscord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("FakeDiscord")
            .field("rest_addr", &self.rest_addr)
            .field("gateway_addr", &self.gateway_addr)
            .field("sessions", &state.sessions.len())
            .field("rest_calls", &state.rest_calls.len())
            .field("created", &state.created.len())
            .finish_non_exhaustive()
    }
}

impl FakeDiscord {
    /// Starts a fake for bot `token` (with or without a `Bot ` prefix) with REST and
    /// gateway on ephemeral `127.0.0.1` ports. Must be called inside a Tokio runtime.
    pub async fn start(token: &str) -> std::io::Result<FakeDiscord> {
        let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self::start_on(any, any, token).await
    }

    /// Starts a fake with REST on `rest_addr` and the gateway on `gateway_addr` (port 0
    /// picks a free port).
    pub async fn start_on(
        rest_addr: SocketAddr,
        gateway_addr: SocketAddr,
        token: &str,
    ) -> std::io::Result<FakeDiscord> {
        let rest_listener = TcpListener::bind(rest_addr).await?;
        let gateway_listener = TcpListener::bind(gateway_addr).await?;
        let rest_addr = rest_listener.local_addr()?;
        let gateway_addr = gateway_listener.local_addr()?;
        let token = token.trim();
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        let state = State::new(token, format!("ws://{gateway_addr}"));
        let shared = Arc::new(Shared::new(state));
        let tasks = vec![
            tokio::spawn(rest::accept_loop(rest_listener, Arc::clone(&shared))),
            tokio::spawn(gateway::accept_loop(gateway_listener, Arc::clone(&shared))),
        ];
        let guard = Arc::new(ServerGuard {
            shared: Arc::clone(&shared),
            tasks,
        });
        Ok(FakeDiscord {
            shared,
            rest_addr,
            gateway_addr,
            _guard: guard,
        })
    }

    /// Sets the shard count `GET /gateway/bot` recommends (default 1). Routing always
    /// follows the shard count each client IDENTIFYs with.
    pub fn with_shards(self, n: u32) -> Self {
        self.shared.mutate(|s| s.shards = n.max(1));
        self
    }

    /// Sets the heartbeat interval sent in HELLO (default 1 s).
    pub fn with_heartbeat_interval(self, d: Duration) -> Self {
        self.shared.mutate(|s| s.heartbeat_interval = d);
        self
    }

    /// Sets how long a session stays resumable after its connection is lost (default
    /// 60 s).
    pub fn with_resume_window(self, d: Duration) -> Self {
        self.shared.mutate(|s| s.resume_window = d);
        self
    }

    /// Sets how long after an interaction its callback is accepted (default 3 s, like
    /// Discord).
    pub fn with_interaction_window(self, d: Duration) -> Self {
        self.shared.mutate(|s| s.interaction_window = d);
        self
    }

    /// Sets the bot user's id and name; the application id follows the user id.
    pub fn with_bot_user(self, id: u64, name: &str) -> Self {
        self.shared.mutate(|s| {
            s.bot = DcUser::new(id, name).bot();
            s.application_id = id;
        });
        self
    }

    /// The REST server's address.
    pub fn rest_addr(&self) -> SocketAddr {
        self.rest_addr
    }

    /// The gateway server's address.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash): what `HttpBuilder::proxy` or
    /// `DISCORD_API_URL` gets. Routes are under `/api/v10`.
    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest_addr)
    }

    /// Serves `bytes` on the fake's CDN as attachment `filename`; the URL to put in an
    /// attachment object ([`DcMessage::attachment`]).
    pub fn add_attachment(&self, filename: &str, bytes: Vec<u8>) -> String {
        let path = self.shared.mutate(|s| {
            let path = format!("/attachments/{}/{filename}", s.next_id());
            s.attachment_files.insert(path.clone(), bytes);
            path
        });
        format!("{}{path}", self.rest_url())
    }

    /// `ws://127.0.0.1:PORT`, the URL `GET /gateway` returns.
    pub fn gateway_url(&self) -> String {
        format!("ws://{}", self.gateway_addr)
    }

    /// The token the fake accepts (without `Bot `).
    pub fn token(&self) -> String {
        self.shared.lock().token.clone()
    }

    /// The bot's user id.
    pub fn bot_user_id(&self) -> u64 {
        self.shared.lock().bot.id
    }

    /// The bot as a [`DcUser`].
    pub fn bot_user(&self) -> DcUser {
        self.shared.lock().bot.clone()
    }

    /// The application id (= the bot's user id).
    pub fn application_id(&self) -> u64 {
        self.shared.lock().application_id
    }

    // -- the world ----------------------------------------------------------------------

    /// Adds a guild the bot is in (no channels yet). Sessions of its shard that are
    /// already running get a GUILD_CREATE (the bot "joined" it). Adding it again renames
    /// it.
    pub fn add_guild(&self, guild_id: u64, name: &str) {
        self.shared.mutate(|s| s.add_guild(guild_id, name));
    }

    /// Adds a text channel to a guild (the guild is created if needed). Running sessions
    /// of its shard get a CHANNEL_CREATE.
    pub fn add_text_channel(&self, guild_id: u64, channel_id: u64, name: &str) {
        self.shared
            .mutate(|s| s.add_text_channel(guild_id, channel_id, name));
    }

    /// Adds the DM channel between the bot and `user`.
    pub fn add_dm_channel(&self, channel_id: u64, user: &DcUser) {
        self.shared.mutate(|s| s.add_dm_channel(channel_id, user));
    }

    /// The channel's history, oldest first (message objects as the fake stores them).
    pub fn history(&self, channel_id: u64) -> Vec<Value> {
        self.shared.lock().history(channel_id)
    }

    // -- the users' side ----------------------------------------------------------------

    /// `author` posts `content` in `channel_id`: stored in the history and dispatched as
    /// MESSAGE_CREATE to the right shard's session. Returns the message id.
    pub fn user_message(&self, channel_id: u64, author: &DcUser, content: &str) -> u64 {
        self.push_message(DcMessage::new(channel_id, author, content))
    }

    /// Like [`user_message`](Self::user_message), as a reply to `to_message_id` (type 19
    /// with `message_reference` and `referenced_message`).
    pub fn user_reply(
        &self,
        channel_id: u64,
        author: &DcUser,
        content: &str,
        to_message_id: u64,
    ) -> u64 {
        self.push_message(DcMessage::new(channel_id, author, content).reply_to(to_message_id))
    }

    /// Posts `m` (see [`DcMessage`]); returns its id. A channel the fake does not know is
    /// created on the fly as a DM channel with the author.
    pub fn push_message(&self, m: DcMessage) -> u64 {
        self.shared.mutate(|s| s.push_message(m))
    }

    /// `user` runs the slash command `/name` with string options in `channel_id`:
    /// INTERACTION_CREATE (type 2, `data.type` 1). `locale` is the user's client locale
    /// (e.g. `"es-ES"`).
    pub fn slash_command(
        &self,
        channel_id: u64,
        user: &DcUser,
        name: &str,
        options: &[(&str, &str)],
        locale: &str,
    ) -> Interaction {
        self.shared
            .mutate(|s| s.slash_command(channel_id, user, name, options, locale))
    }

    /// `user` runs the message command `name` on `target_message_id`: INTERACTION_CREATE
    /// (type 2, `data.type` 3, `target_id`, `resolved.messages`). An unknown target is
    /// resolved as an empty message by `user`.
    pub fn message_command(
        &self,
        channel_id: u64,
        user: &DcUser,
        name: &str,
        target_message_id: u64,
        locale: &str,
    ) -> Interaction {
        self.shared
            .mutate(|s| s.message_command(channel_id, user, name, target_message_id, locale))
    }

    // -- the bot's side -----------------------------------------------------------------

    /// Every accepted `POST /channels/{id}/messages`, in order.
    pub fn created_messages(&self) -> Vec<CreatedMessage> {
        self.shared.lock().created.clone()
    }

    /// Every accepted interaction callback, in order.
    pub fn interaction_callbacks(&self) -> Vec<InteractionCallback> {
        self.shared.lock().callbacks.clone()
    }

    /// Every accepted `PATCH .../messages/@original`, in order.
    pub fn interaction_edits(&self) -> Vec<InteractionEdit> {
        self.shared.lock().edits.clone()
    }

    /// Every accepted follow-up message, in order.
    pub fn followups(&self) -> Vec<InteractionEdit> {
        self.shared.lock().followups.clone()
    }

    /// The registered global commands (a JSON array, as `GET` answers them).
    pub fn commands(&self) -> Value {
        Value::Array(self.shared.lock().global_commands.clone())
    }

    /// The registered commands of a guild (a JSON array).
    pub fn guild_commands(&self, guild_id: u64) -> Value {
        let state = self.shared.lock();
        Value::Array(
            state
                .guild_commands
                .get(&guild_id)
                .cloned()
                .unwrap_or_default(),
        )
    }

    /// Every REST request, in order of arrival.
    pub fn rest_calls(&self) -> Vec<RestCall> {
        self.shared.lock().rest_calls.clone()
    }

    /// Every gateway event, in order.
    pub fn gateway_events(&self) -> Vec<GatewayEvent> {
        self.shared.lock().gateway_events.clone()
    }

    /// The sessions that are connected or still resumable.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.lock().session_infos()
    }

    /// Number of open gateway connections.
    pub fn connection_count(&self) -> usize {
        self.shared.lock().conns.len()
    }

    /// Number of IDENTIFYs received (accepted or not).
    pub fn identify_count(&self) -> usize {
        self.shared.lock().identify_count()
    }

    /// Number of RESUMEs received (accepted or not; see [`resumed_count`](Self::resumed_count)).
    pub fn resume_count(&self) -> usize {
        self.shared.lock().resume_count(false)
    }

    /// Number of RESUMEs accepted.
    pub fn resumed_count(&self) -> usize {
        self.shared.lock().resume_count(true)
    }

    /// Number of messages accepted (`POST /channels/{id}/messages`), without copying them.
    pub fn created_count(&self) -> usize {
        self.shared.lock().created.len()
    }

    /// Waits until at least `n` messages were accepted; `false` on timeout.
    pub async fn wait_for_created(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.created.len() >= n)
            .await
    }

    /// Waits until at least `n` `@original` edits were accepted.
    pub async fn wait_for_edits(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.edits.len() >= n)
            .await
    }

    /// Waits until at least `n` follow-ups were accepted.
    pub async fn wait_for_followups(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.followups.len() >= n)
            .await
    }

    /// Waits until at least `n` interaction callbacks were accepted.
    pub async fn wait_for_callbacks(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.callbacks.len() >= n)
            .await
    }

    /// Waits until at least `n` IDENTIFYs were received.
    pub async fn wait_for_identifies(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.identify_count() >= n)
            .await
    }

    /// Waits until at least `n` RESUMEs were received (accepted or not).
    pub async fn wait_for_resumes(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.resume_count(false) >= n)
            .await
    }

    /// Waits until at least `n` RESUMEs were accepted.
    pub async fn wait_for_resumed(&self, n: usize, timeout: Duration) -> bool {
        self.shared
            .wait_until(timeout, |s| s.resume_count(true) >= n)
            .await
    }

    /// Waits until at least `n` REST requests with `method` (`"*"` = any) and a path
    /// starting with `path_prefix` were received.
    pub async fn wait_for_rest_calls(
        &self,
        method: &str,
        path_prefix: &str,
        n: usize,
        timeout: Duration,
    ) -> bool {
        self.shared
            .wait_until(timeout, |s| {
                s.rest_calls
                    .iter()
                    .filter(|c| state::method_matches(method, &c.method))
                    .filter(|c| c.path.starts_with(path_prefix))
                    .count()
                    >= n
            })
            .await
    }

    /// Waits until at least `n` gateway events match `pred`.
    pub async fn wait_for_gateway_events(
        &self,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&GatewayEventKind) -> bool,
    ) -> bool {
        self.shared
            .wait_until(timeout, |s| {
                s.gateway_events.iter().filter(|e| pred(&e.kind)).count() >= n
            })
            .await
    }

    // -- faults -------------------------------------------------------------------------

    /// Makes the next `times` REST requests with `method` (case-insensitive, `"*"` = any)
    /// and a path starting with `path_prefix` (e.g. `"/api/v10/channels/"`) fail with
    /// `fault`. Queued faults are consumed in order.
    pub fn fail_next(&self, method: &str, path_prefix: &str, fault: RestFault, times: usize) {
        self.shared.mutate(|s| {
            for _ in 0..times {
                s.faults.push_back(state::QueuedFault {
                    method: method.to_ascii_uppercase(),
                    path_prefix: path_prefix.to_owned(),
                    fault: fault.clone(),
                });
            }
        });
    }

    /// Number of queued REST faults not consumed yet.
    pub fn pending_faults(&self) -> usize {
        self.shared.lock().faults.len()
    }

    /// Drops every queued REST fault.
    pub fn clear_faults(&self) {
        self.shared.mutate(|s| s.faults.clear());
    }

    /// Closes every gateway connection at once at the TCP level (no close frame).
    /// Sessions stay resumable for the resume window.
    pub fn drop_connections(&self) {
        self.shared.mutate(State::drop_connections);
    }

    /// While `true`, new gateway connections are closed right after the TCP accept.
    pub fn refuse_gateway(&self, refuse: bool) {
        self.shared.mutate(|s| s.refuse = refuse);
    }

    /// Makes every session non-resumable; connected ones get op 9 (`d: false`) now.
    pub fn invalidate_sessions(&self) {
        self.shared.mutate(State::invalidate_sessions);
    }

    /// While `true`, heartbeats are not ACKed.
    pub fn set_zombie(&self, on: bool) {
        self.shared.mutate(|s| s.zombie = on);
    }

    /// Sends op 7 RECONNECT on every connection.
    pub fn send_reconnect(&self) {
        self.shared.mutate(State::send_reconnect);
    }

    /// Sends op 1 (a heartbeat request) on every connection; clients answer with a
    /// heartbeat at once.
    pub fn request_heartbeats(&self) {
        self.shared.mutate(State::request_heartbeats);
    }
}
