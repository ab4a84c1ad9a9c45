//! The outbox: the one place where replies leave the process.
//!
//! One outbox per platform takes resolved replies from the ledger's channel and keeps a queue
//! per chat: one send in flight per chat (so a chat's replies keep their order), any number of
//! chats at once (so one slow or rate-limited chat holds up nobody else). Before each send it
//! waits for the platform's [`Pacing`](super::pacing::Pacing) (per chat, per group, overall);
//! replies longer than the platform allows are split. Errors: the platform's `retry after` is
//! waited out exactly and the send repeated, never dropped, never sooner; transient errors back
//! off 1 s, 2 s, 4 s... up to `max_attempts`; permanent errors (bot blocked, chat gone) are given
//! up on at once. Either way the ledger is then told the message is done, which acknowledges it
//! to the platform. When a reply's first send starts, the outbox records the runtime's own time
//! for it from the [`Timing`] the ledger handed over (ADR 0022).
//!
//! The outbox is a task owned by the application, not an actor: supervision never kills it, so
//! a send is never cut off halfway by a restart, which is what would make a reply ambiguous
//! (sent or not?). See `docs/adr/0003-delivery-guarantee.md` and `0008-outbound-pacing.md`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::ledger::{Delivery, Ledger, Timing};
use super::pacing::Pacer;
use super::split::split_reply;
use crate::domain::{ChatKey, ChatKind, MessageKey, Outbound};
use crate::platforms::{Platform, SendError};
use crate::telemetry::metrics::Metrics;

/// How hard the outbox tries before giving up on a reply.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per part after transient errors, including the first. `retry after` answers
    /// do not count: they are always waited out and retried.
    pub max_attempts: u32,
    /// First backoff after a transient error; doubles each time.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// See the module docs.
pub struct Outbox {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Delivery>,
}

struct Shared {
    platform: Arc<dyn Platform>,
    ledger: Arc<Ledger>,
    metrics: Metrics,
    policy: RetryPolicy,
    pacer: Pacer,
}

impl Outbox {
    /// An outbox for `platform`, registered with the ledger.
    pub fn new(
        platform: Arc<dyn Platform>,
        ledger: Arc<Ledger>,
        metrics: Metrics,
        policy: RetryPolicy,
    ) -> Self {
        let rx = ledger.register_outbox(platform.clone());
        let pacer = Pacer::new(platform.pacing());
        Self {
            shared: Arc::new(Shared {
                platform,
                ledger,
                metrics,
                policy,
                pacer,
            }),
            rx,
        }
    }

    /// Delivers until the ledger closes the outbox channels and every queue is empty.
    pub async fn run(mut self) {
        let mut queues: HashMap<ChatKey, VecDeque<Delivery>> = HashMap::new();
        let mut sending: JoinSet<(ChatKey, MessageKey, bool)> = JoinSet::new();
        let mut sweep = tokio::time::interval(Duration::from_secs(60));
        let mut open = true;
        loop {
            tokio::select! {
                delivery = self.rx.recv(), if open => match delivery {
                    Some(d) => {
                        let chat = d.outbound.chat.clone();
                        let queue = queues.entry(chat.clone()).or_default();
                        queue.push_back(d);
                        if queue.len() == 1 {
                            self.start_send(&mut sending, &queues, &chat);
                        }
                    }
                    None => open = false,
                },
                Some(done) = sending.join_next() => {
                    let Ok((chat, key, sent)) = done else {
                        // A send task panicked: a bug; its message stays in flight.
                        tracing::error!("an outbox send task failed");
                        continue;
                    };
                    self.shared.metrics.delivery(self.shared.platform.id(), sent);
                    self.shared.ledger.delivered(&key);
                    if let Some(queue) = queues.get_mut(&chat) {
                        queue.pop_front();
                        if queue.is_empty() {
                            queues.remove(&chat);
                        } else {
                            self.start_send(&mut sending, &queues, &chat);
                        }
                    }
                },
                _ = sweep.tick() => self.shared.pacer.sweep(),
                else => break,
            }
            if !open && sending.is_empty() && queues.is_empty() {
                break;
            }
        }
    }

    /// Starts sending the head of `chat`'s queue.
    fn start_send(
        &self,
        sending: &mut JoinSet<(ChatKey, MessageKey, bool)>,
        queues: &HashMap<ChatKey, VecDeque<Delivery>>,
        chat: &ChatKey,
    ) {
        let Some(head) = queues.get(chat).and_then(|q| q.front()) else {
            return;
        };
        let outbound = head.outbound.clone();
        let timing = head.timing;
        let shared = self.shared.clone();
        let chat = chat.clone();
        sending.spawn(async move {
            let key = outbound.in_reply_to.clone();
            let sent = shared.deliver(outbound, timing).await;
            (chat, key, sent)
        });
    }
}

impl Shared {
    async fn deliver(&self, outbound: Outbound, timing: Timing) -> bool {
        let rendered = self.platform.render(&outbound.text);
        let parts = split_reply(&rendered, self.platform.max_reply_chars());
        for (i, text) in parts.into_iter().enumerate() {
            let part = Outbound {
                text,
                part: u16::try_from(i).unwrap_or(u16::MAX),
                ..outbound.clone()
            };
            let timing = (i == 0).then_some(timing);
            if let Err(e) = self.send_with_retry(&part, timing).await {
                tracing::warn!(
                    corr = %outbound.in_reply_to.corr(),
                    platform = %self.platform.id(),
                    key = %outbound.in_reply_to,
                    error = %e,
                    "giving up on a reply"
                );
                return false;
            }
        }
        true
    }

    /// Sends one part. `timing` (the first part's) is completed and recorded when its first
    /// send starts.
    async fn send_with_retry(
        &self,
        part: &Outbound,
        mut timing: Option<Timing>,
    ) -> Result<(), SendError> {
        let mut backoff = self.policy.initial_backoff;
        let mut attempts = 0;
        loop {
            let pacing = Instant::now();
            self.pacer
                .ready(&part.chat, part.chat_kind == ChatKind::Group)
                .await;
            if let Some(timing) = timing.take() {
                let now = Instant::now();
                let stages = timing.stages(now, now.saturating_duration_since(pacing));
                self.metrics.runtime_overhead(self.platform.id(), &stages);
            }
            let err = match self.platform.send(part).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let wait = match &err {
                SendError::Permanent(_) => return Err(err),
                SendError::RetryAfter(d) => {
                    self.metrics.platform_retry_after(self.platform.id());
                    *d
                }
                SendError::Transient(_) => {
                    attempts += 1;
                    if attempts >= self.policy.max_attempts {
                        return Err(err);
                    }
                    let w = backoff;
                    backoff = (backoff * 2).min(self.policy.max_backoff);
                    w
                }
            };
            tracing::debug!(corr = %part.in_reply_to.corr(), platform = %self.platform.id(), chat = %part.chat, error = %err, wait_ms = wait.as_millis() as u64, "send failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}
