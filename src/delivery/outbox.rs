//! The outbox: the one place where replies leave the process.
//!
//! One outbox per platform takes resolved replies from the ledger's channel in order, splits
//! replies longer than the platform allows, sends them through [`Platform::send`] with retries
//! (transient errors back off 1 s, 2 s, 4 s...; a platform's `retry after` is honoured, never
//! shortened; permanent errors are given up on and counted), then tells the ledger the message is
//! done.
//!
//! The outbox is a task owned by the application, not an actor: supervision never kills it, so a
//! send is never cut off halfway, which is what would make a reply ambiguous (sent or not?) and
//! force a choice between losing and doubling it. See `docs/adr/0003-delivery-guarantee.md`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::ledger::{Delivery, Ledger};
use super::split::split_reply;
use crate::domain::Outbound;
use crate::platforms::{Platform, SendError};
use crate::telemetry::metrics::Metrics;

/// How hard the outbox tries before giving up on a reply.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per part, including the first.
    pub max_attempts: u32,
    /// First backoff after a transient error; doubles each time.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest `retry after` the outbox will wait for before giving up.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// See the module docs.
pub struct Outbox {
    platform: Arc<dyn Platform>,
    ledger: Arc<Ledger>,
    rx: mpsc::UnboundedReceiver<Delivery>,
    metrics: Metrics,
    policy: RetryPolicy,
}

impl Outbox {
    /// An outbox for `platform`, registered with the ledger.
    pub fn new(
        platform: Arc<dyn Platform>,
        ledger: Arc<Ledger>,
        metrics: Metrics,
        policy: RetryPolicy,
    ) -> Self {
        let rx = ledger.register_outbox(platform.id());
        Self {
            platform,
            ledger,
            rx,
            metrics,
            policy,
        }
    }

    /// Delivers until the ledger closes the outbox channels and the queue is empty.
    pub async fn run(mut self) {
        while let Some(delivery) = self.rx.recv().await {
            let key = delivery.outbound.in_reply_to.clone();
            let sent = self.deliver(delivery.outbound).await;
            self.metrics.delivery(self.platform.id(), sent);
            self.ledger.delivered(&key);
        }
    }

    async fn deliver(&self, outbound: Outbound) -> bool {
        let parts = split_reply(&outbound.text, self.platform.max_reply_chars());
        for (i, text) in parts.into_iter().enumerate() {
            let part = Outbound {
                text,
                // Only the first part references the user's message.
                reply_to: if i == 0 {
                    outbound.reply_to.clone()
                } else {
                    None
                },
                ..outbound.clone()
            };
            if let Err(e) = self.send_with_retry(&part).await {
                tracing::warn!(
                    platform = %self.platform.id(),
                    message = %outbound.in_reply_to,
                    error = %e,
                    "giving up on a reply"
                );
                return false;
            }
        }
        true
    }

    async fn send_with_retry(&self, part: &Outbound) -> Result<(), SendError> {
        let mut backoff = self.policy.initial_backoff;
        let mut attempt = 1;
        loop {
            let err = match self.platform.send(part).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if attempt >= self.policy.max_attempts {
                return Err(err);
            }
            let wait = match &err {
                SendError::Permanent(_) => return Err(err),
                SendError::RetryAfter(d) if *d > self.policy.max_retry_after => return Err(err),
                SendError::RetryAfter(d) => *d,
                SendError::Transient(_) => {
                    let w = backoff;
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                    w
                }
            };
            tracing::debug!(platform = %self.platform.id(), error = %err, attempt, wait_ms = wait.as_millis() as u64, "retrying a send");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }
}
