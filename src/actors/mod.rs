//! The actors of the runtime, one file each: its messages (an enum), its arguments and state,
//! its `Actor` impl.
//!
//! ```text
//! root (one_for_one)
//! ├── metrics_reporter      serves /metrics, /healthz, /readyz; samples gauges
//! ├── rate_limiter          per-user GCRA; state in a shared store
//! ├── providers (one_for_one)
//! │   └── <provider>        one per configured provider, owns its client; breaker shared
//! ├── coordinator           ROMA: atomize → plan → execute → aggregate
//! ├── platforms (one_for_one)
//! │   └── <platform> session    pulls input, records it in the ledger, routes by chat
//! │       └── <chat> conversation   one per chat, started on demand, stopped when idle
//! └── chaos                 only with [chaos] enabled: kills random actors (soak runs)
//! ```
//!
//! Outside the tree: the admin HTTP API (`src/admin.rs`), so the operator keeps control when
//! the tree is in trouble.
//!
//! A message's path: platform → session (ledger `accept`) → conversation (ledger `next`) →
//! rate limiter → coordinator → provider actors → conversation (ledger `resolve`) → outbox →
//! platform. Supervisors are in `src/supervision`; the tree is assembled in `src/app.rs`.

pub mod chaos;
pub mod conversation;
pub mod coordinator;
pub mod metrics_reporter;
pub mod provider;
pub mod rate_limiter;
pub mod session;
