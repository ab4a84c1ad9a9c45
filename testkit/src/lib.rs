//! Fake servers for tolmach's tests, benchmarks and hand trials.
//!
//! This crate provides:
//!
//! * [`FakeProvider`], a local fault-injecting provider that speaks OpenAI-compatible chat
//!   completions (Azure routes included), Anthropic Messages, DeepL and LibreTranslate
//!   ([`Api`]) and whose answers are scripted per request ([`Behavior`]): echoes, fixed
//!   replies, HTTP errors, rate limits, fixed or random delays, error rates, hangs, slowly
//!   dripping bodies, connections reset mid-body and several kinds of malformed payload.
//!   Every request is recorded ([`RecordedRequest`]) so tests can assert on what the code
//!   under test actually sent, and counted by how it ended ([`ProviderStats`]: completed,
//!   abandoned by the client, reset). See the [`provider`] module.
//! * [`FakeTelegram`], a local Telegram Bot API server that the real teloxide client
//!   can long-poll: tests push users' messages ([`TgChat`], [`TgUser`],
//!   [`MessageBuilder`]), read what the bot sent ([`SentMessage`], [`ApiCall`]) and inject
//!   Telegram's failures ([`Fault`], [`Limits`]). See the [`telegram`] module.
//! * [`FakeDiscord`], a local Discord (REST API v10 and gateway over plain `ws://`) that
//!   the real serenity client connects to: tests build the world (guilds, channels),
//!   act as users ([`DcUser`], [`DcMessage`], slash and message commands), read what the
//!   bot did ([`CreatedMessage`], [`InteractionCallback`], [`RestCall`],
//!   [`GatewayEvent`]) and inject REST faults ([`RestFault`]) and gateway faults (dropped
//!   connections, invalid sessions, zombie connections). See the [`discord`] module.
//! * [`FakeSentry`], a local Sentry ingestion endpoint that keeps every envelope (raw and
//!   parsed), to check what reaches Sentry and that no secret does. See the [`sentry`] module.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fake = tolmach_testkit::FakeProvider::start().await?;
//! println!("point the client at {}", fake.base_url());
//! # Ok(())
//! # }
//! ```
//!
//! The `fake-provider` binary runs the same server standalone for hand trials, and its
//! behavior can be changed while it runs (`POST /_control/behavior`), to watch circuit
//! breakers work: `cargo run -p tolmach-testkit --bin fake-provider -- --behavior echo`; the
//! `fake-telegram` binary does the same for Telegram and lets you chat with the bot from
//! the terminal: `cargo run -p tolmach-testkit --bin fake-telegram`; `fake-discord` does
//! it for Discord: `cargo run -p tolmach-testkit --bin fake-discord`.

pub mod discord;
pub mod provider;
pub mod sentry;
pub mod telegram;

pub use discord::{
    CreatedMessage, DcMessage, DcUser, FakeDiscord, GatewayEvent, GatewayEventKind, Interaction,
    InteractionCallback, InteractionEdit, RestCall, RestFault, SessionInfo,
};

pub use provider::*;
pub use sentry::FakeSentry;
pub use telegram::{
    ApiCall, ChatKind, FakeTelegram, Fault, Limits, MessageBuilder, SentMessage, TgChat, TgUser,
};
