//! Fake servers for tolmach's tests, benchmarks and hand trials.
//!
//! This crate provides:
//!
//! * [`FakeProvider`], a local OpenAI-compatible chat-completions server whose answers
//!   are scripted per request ([`Behavior`]): echoes, fixed replies, HTTP errors, rate
//!   limits, delays, hangs and several kinds of malformed payload. Every request is
//!   recorded ([`RecordedRequest`]) so tests can assert on what the code under test
//!   actually sent.
//! * [`FakeTelegram`], a local Telegram Bot API server that the real teloxide client
//!   can long-poll: tests push users' messages ([`TgChat`], [`TgUser`],
//!   [`MessageBuilder`]), read what the bot sent ([`SentMessage`], [`ApiCall`]) and inject
//!   Telegram's failures ([`Fault`], [`Limits`]). See the [`telegram`] module.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let fake = tolmach_testkit::FakeProvider::start().await?;
//! println!("point the client at {}", fake.base_url());
//! # Ok(())
//! # }
//! ```
//!
//! The `fake-provider` binary runs the same server standalone for hand trials:
//! `cargo run -p tolmach-testkit --bin fake-provider -- --behavior echo`; the
//! `fake-telegram` binary does the same for Telegram and lets you chat with the bot from
//! the terminal: `cargo run -p tolmach-testkit --bin fake-telegram`.

pub mod provider;
pub mod telegram;

pub use provider::*;
pub use telegram::{
    ApiCall, ChatKind, FakeTelegram, Fault, Limits, MessageBuilder, SentMessage, TgChat, TgUser,
};
