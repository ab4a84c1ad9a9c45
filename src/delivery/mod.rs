//! Exactly-once delivery: the [`ledger`] of owed replies and the [`outbox`] that delivers them.

pub mod ledger;
pub mod outbox;
pub mod pacing;
pub mod split;

pub use ledger::{Accept, Delivery, Ledger, Resolution, Work};
pub use outbox::{Outbox, RetryPolicy};
