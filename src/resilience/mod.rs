//! Resilience: how provider calls survive slow, failing, overloaded and expensive providers.
//!
//! The policies compose in one documented order, outermost first:
//!
//! 1. **Deadline**: every user request carries one (`conversation.request_timeout`, 30 s, plus
//!    `transcription.timeout` for voice); everything below gets the remaining budget, and
//!    nothing is retried or hedged that could not finish before it.
//! 2. **Fallback** ([`router`]): providers in priority order, skipping open circuits, spent
//!    budgets and `Retry-After` cooldowns; near a budget, cheaper providers first.
//! 3. **Hedging** ([`hedge`], in the router): after a provider's hedge delay, the same call to
//!    the next fit provider; first good answer wins, the other is cancelled; capped by a budget.
//! 4. **Retry** ([`retry`], in [`pipeline`], per provider): transient failures only, jittered
//!    exponential backoff or `Retry-After`, under a retry budget.
//! 5. **Circuit breaker** ([`breaker`]): per attempt; sliding window of failures and slow calls.
//! 6. **Bulkhead** ([`bulkhead`]): per attempt; a bounded wait for one of a capped number of
//!    slots.
//! 7. **Timeout**: the attempt is cut at the deadline (and at the provider's own HTTP timeout).
//!
//! Around every call, [`quota`] meters characters, tokens and estimated cost per provider and per
//! user. All state lives in a [`guard::ProviderGuard`] per provider (and the router), owned by
//! the application, so it survives provider-actor restarts. The provider actor runs (4)–(7) in
//! its call tasks; the coordinator's executor asks the [`router::Router`], which does (2)–(3).

pub mod breaker;
pub mod bulkhead;
pub mod config;
pub mod faults;
pub mod guard;
pub mod hedge;
pub mod latency;
pub mod pipeline;
pub mod quota;
pub mod retry;
pub mod router;
