//! tolmach: a resilient, actor-model chat-bot runtime, and a translation bot built on it.
//!
//! # Layout
//!
//! - `main.rs`: the binary's edge: arguments, configuration, logging, signals.
//! - [`app`]: builds the supervision tree from the configuration and owns graceful shutdown.
//! - [`actors`]: one file per actor (its messages, state and `Actor` impl); the tree is drawn
//!   in its module docs.
//! - [`supervision`]: OTP-style supervisors on ractor (strategies, restart intensity, backoff,
//!   ordered shutdown) and restart-proof actor handles ([`supervision::Slot`]).
//! - [`delivery`]: the ledger that makes every accepted message get exactly one reply, and the
//!   outbox that delivers replies.
//! - [`platforms`]: one trait, one file per chat platform (console, in-memory, Telegram,
//!   Discord).
//! - [`providers`]: one trait, one file per translation provider (offline demo,
//!   OpenAI-compatible, Anthropic, DeepL, LibreTranslate); [`resilience`]: the policies around
//!   them (retry, circuit breaker, bulkhead, hedging, fallback, injected faults).
//! - [`roma`]: the coordinator's engine: atomize, plan, execute, aggregate.
//! - [`command`]: what users can say; [`replies`]: what the bot says back; [`lang`]: languages;
//!   [`detect`]: which language a text is in.
//! - [`alloc`]: the allocator the binary runs on (mimalloc).
//! - [`config`], [`telemetry`] (logs, metrics, health probes, redaction, Sentry), [`admin`]
//!   (the operator's HTTP API), [`domain`] (shared vocabulary), [`secret`].
//!
//! A message travels: platform → session actor (recorded in the ledger) → conversation actor
//! (rate limiter, coordinator → provider actors) → ledger (resolved exactly once) → outbox →
//! platform. See `docs/adr/` for why it is built this way.

#![deny(clippy::unwrap_used, clippy::expect_used)]

pub mod actors;
pub mod admin;
pub mod alloc;
pub mod app;
pub mod command;
pub mod config;
pub mod delivery;
pub mod detect;
pub mod domain;
pub mod lang;
pub mod platforms;
pub mod providers;
pub mod replies;
pub mod resilience;
pub mod roma;
pub mod secret;
pub mod store;
pub mod supervision;
pub mod task;
pub mod telemetry;

pub use app::{App, AppError};
pub use config::Config;
