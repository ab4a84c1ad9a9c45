//! The ledger: who owes whom a reply. The single source of truth for exactly-once handling.
//!
//! Every accepted message is recorded here before any actor sees it, and leaves only when its
//! reply has been handed to the platform (or it was deliberately ignored). Actors hold no
//! request state that matters: the mailbox message a conversation receives is only a nudge
//! ("your chat has work"), and the conversation takes the work from here. So an actor killed at
//! any await point loses nothing: its replacement finds the same pending entry and does it
//! again. Duplicates are impossible because [`Ledger::resolve`] is a compare-and-set: the first
//! resolution of an entry hands the reply to the outbox; any later one is refused.
//!
//! Every method is synchronous and takes one short lock (never held across an `.await`), so
//! cancellation (an actor being killed) can never leave an entry half-updated, and "resolve"
//! and "enqueue the reply for delivery" happen as one step.
//!
//! Flow: platform session `accept`s → conversation `next` → ... → conversation `resolve` →
//! outbox delivers → outbox `delivered`. See `docs/adr/0003-delivery-guarantee.md`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::domain::{ChatKey, Inbound, MessageKey, Outbound, PlatformId};
use crate::platforms::Platform;
use crate::telemetry::metrics::{Metrics, ReplyOutcome};

/// How many handled message keys are remembered to recognise redeliveries (at most; at least
/// half as many, the newest).
pub const DEFAULT_DEDUP_CAPACITY: usize = 100_000;

/// Result of offering a message to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// New: it is now owed exactly one reply.
    Accepted,
    /// Already accepted (pending or handled): ignore it.
    Duplicate,
}

/// One pending message, as handed to the conversation that processes it.
#[derive(Debug, Clone)]
pub struct Work {
    pub inbound: Arc<Inbound>,
    /// 1 on the first try; more when earlier tries died with their conversation.
    pub attempt: u32,
    pub accepted_at: Instant,
}

/// How a pending message was settled.
#[derive(Debug, Clone)]
pub enum Resolution {
    /// Send this reply.
    Reply { text: String, outcome: ReplyOutcome },
    /// Deliberately no reply (for example a repeat message during a rate-limit cooldown).
    Ignore,
}

/// A reply on its way to the platform.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub outbound: Outbound,
    pub timing: Timing,
}

/// Where a message's time went on its way through the runtime, for
/// `tolmach_runtime_overhead_seconds` and `tolmach_runtime_stage_seconds`. The outbox completes
/// it when the reply's send starts ([`Timing::stages`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// The platform adapter read the message.
    pub received: Instant,
    /// The ledger accepted it.
    pub accepted: Instant,
    /// A conversation first took it up.
    pub picked: Instant,
    /// It was resolved (its reply ready).
    pub resolved: Instant,
    /// Time spent waiting on translation providers, over every attempt.
    pub provider: Duration,
}

/// The runtime's own time for one reply, by stage; see [`Timing::stages`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stages {
    /// Read → accepted: decoding, the durable inbox, the hand-over to the session.
    pub intake: Duration,
    /// Accepted → taken up by its conversation: routing, actor start, mailboxes, and waiting
    /// behind the chat's earlier messages.
    pub queue: Duration,
    /// Taken up → reply ready, less provider time: rate limit, parsing, detection, planning,
    /// aggregation, the store.
    pub handling: Duration,
    /// Reply ready → its send starts, less the wait for the platform's send limits: the outbox,
    /// and waiting behind the chat's earlier replies.
    pub dispatch: Duration,
}

impl Stages {
    /// The sum: the runtime's own share of the reply's latency.
    pub fn total(&self) -> Duration {
        self.intake + self.queue + self.handling + self.dispatch
    }
}

impl Timing {
    /// The stages of a reply whose send started at `sent`, after waiting `paced` for the
    /// platform's send limits.
    pub fn stages(&self, sent: Instant, paced: Duration) -> Stages {
        let span = |from: Instant, to: Instant| to.saturating_duration_since(from);
        Stages {
            intake: span(self.received, self.accepted),
            queue: span(self.accepted, self.picked),
            handling: span(self.picked, self.resolved).saturating_sub(self.provider),
            dispatch: span(self.resolved, sent).saturating_sub(paced),
        }
    }
}

#[derive(Debug)]
enum State {
    Pending,
    /// Resolved with a reply that the outbox has not confirmed yet.
    Delivering,
}

#[derive(Debug)]
struct Entry {
    inbound: Arc<Inbound>,
    accepted_at: Instant,
    /// When a conversation first took it up.
    picked_at: Option<Instant>,
    /// Time spent waiting on providers so far ([`Ledger::waited_on_providers`]).
    provider_time: Duration,
    attempts: u32,
    state: State,
}

struct Inner {
    entries: HashMap<MessageKey, Entry>,
    /// Pending (unresolved) messages per chat, oldest first.
    queues: HashMap<ChatKey, VecDeque<MessageKey>>,
    done: Recent,
    outboxes: HashMap<PlatformId, mpsc::UnboundedSender<Delivery>>,
    /// Told when one of their messages is finished ([`Platform::ack`]).
    platforms: HashMap<PlatformId, Arc<dyn Platform>>,
    in_flight: HashMap<PlatformId, usize>,
}

/// See the module docs.
pub struct Ledger {
    inner: Mutex<Inner>,
    /// Bumped on every change of the in-flight counts, for [`Ledger::wait_idle`].
    changes: watch::Sender<u64>,
    metrics: Metrics,
}

impl Ledger {
    pub fn new(metrics: Metrics, dedup_capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                queues: HashMap::new(),
                done: Recent::new(dedup_capacity),
                outboxes: HashMap::new(),
                platforms: HashMap::new(),
                in_flight: HashMap::new(),
            }),
            changes: watch::Sender::new(0),
            metrics,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock would be a bug in this file; the data is still
        // consistent at every await-free step, so keep serving rather than poisoning everyone.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the outbox of `platform`; replies resolved from now on are queued to it, and
    /// the platform is told when each of its messages is finished.
    pub fn register_outbox(
        &self,
        platform: Arc<dyn Platform>,
    ) -> mpsc::UnboundedReceiver<Delivery> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = self.lock();
        inner.outboxes.insert(platform.id(), tx);
        inner.platforms.insert(platform.id(), platform);
        rx
    }

    /// Tells the platform that `key` is finished. Called without the lock held.
    fn ack(&self, key: &MessageKey) {
        let platform = self.lock().platforms.get(&key.chat.platform).cloned();
        if let Some(p) = platform {
            p.ack(key);
        }
    }

    /// Closes every outbox channel: outboxes finish what is queued, then end.
    pub fn close_outboxes(&self) {
        self.lock().outboxes.clear();
    }

    /// Records a new message. Returns [`Accept::Duplicate`] if it was seen before.
    pub fn accept(&self, inbound: Inbound) -> Accept {
        let platform = inbound.key.chat.platform;
        {
            let mut inner = self.lock();
            let key = inbound.key.clone();
            if inner.entries.contains_key(&key) || inner.done.contains(&key) {
                drop(inner);
                self.metrics.message_duplicate(platform);
                return Accept::Duplicate;
            }
            inner
                .queues
                .entry(key.chat.clone())
                .or_default()
                .push_back(key.clone());
            inner.entries.insert(
                key,
                Entry {
                    inbound: Arc::new(inbound),
                    accepted_at: Instant::now(),
                    picked_at: None,
                    provider_time: Duration::ZERO,
                    attempts: 0,
                    state: State::Pending,
                },
            );
            *inner.in_flight.entry(platform).or_default() += 1;
        }
        self.metrics.message_received(platform);
        self.changed();
        Accept::Accepted
    }

    /// The oldest pending message of `chat`, counting one more attempt at it.
    pub fn next(&self, chat: &ChatKey) -> Option<Work> {
        let mut inner = self.lock();
        let key = inner.queues.get(chat)?.front()?.clone();
        let entry = inner.entries.get_mut(&key)?;
        entry.attempts += 1;
        entry.picked_at.get_or_insert_with(Instant::now);
        Some(Work {
            inbound: entry.inbound.clone(),
            attempt: entry.attempts,
            accepted_at: entry.accepted_at,
        })
    }

    /// Counts `waited` as time the message spent waiting on translation providers (not the
    /// runtime's own time; see [`Timing`]).
    pub fn waited_on_providers(&self, key: &MessageKey, waited: Duration) {
        if let Some(entry) = self.lock().entries.get_mut(key) {
            entry.provider_time += waited;
        }
    }

    /// Whether `chat` has messages waiting for a reply.
    pub fn has_pending(&self, chat: &ChatKey) -> bool {
        self.lock().queues.get(chat).is_some_and(|q| !q.is_empty())
    }

    /// The most messages waiting in one chat's queue (a conversation's backlog), for the
    /// mailbox-depth gauge. Says nothing about which chat.
    pub fn busiest_queue(&self) -> usize {
        self.lock()
            .queues
            .values()
            .map(VecDeque::len)
            .max()
            .unwrap_or(0)
    }

    /// Chats of `platform` with pending messages.
    pub fn pending_chats(&self, platform: PlatformId) -> Vec<ChatKey> {
        let mut chats: Vec<ChatKey> = self
            .lock()
            .queues
            .iter()
            .filter(|(c, q)| c.platform == platform && !q.is_empty())
            .map(|(c, _)| c.clone())
            .collect();
        chats.sort();
        chats
    }

    /// Settles a pending message. Only the first resolution of a message counts: it returns
    /// `true` and (for a reply) queues the reply for delivery in the same step. Any later call
    /// for the same message returns `false` and does nothing.
    pub fn resolve(&self, key: &MessageKey, resolution: Resolution) -> bool {
        let platform = key.chat.platform;
        let (took, outcome, finished, _retired) = {
            let mut inner = self.lock();
            let Some(entry) = inner.entries.get_mut(key) else {
                return false;
            };
            if !matches!(entry.state, State::Pending) {
                return false;
            }
            let resolved = Instant::now();
            let took = resolved.saturating_duration_since(entry.accepted_at);
            let inbound = entry.inbound.clone();
            let timing = Timing {
                received: inbound.received_at.min(entry.accepted_at),
                accepted: entry.accepted_at,
                picked: entry.picked_at.unwrap_or(resolved),
                resolved,
                provider: entry.provider_time,
            };
            if let Some(q) = inner.queues.get_mut(&key.chat) {
                if let Some(pos) = q.iter().position(|k| k == key) {
                    q.remove(pos);
                }
                if q.is_empty() {
                    inner.queues.remove(&key.chat);
                }
            }
            match resolution {
                Resolution::Ignore => {
                    let retired = inner.finish(key);
                    (took, ReplyOutcome::Ignored, true, retired)
                }
                Resolution::Reply { text, outcome } => {
                    let delivery = Delivery {
                        outbound: Outbound {
                            chat: key.chat.clone(),
                            chat_kind: inbound.chat_kind,
                            in_reply_to: key.clone(),
                            reply_to: inbound.reply_to.clone(),
                            part: 0,
                            text,
                        },
                        timing,
                    };
                    let queued = inner
                        .outboxes
                        .get(&platform)
                        .is_some_and(|tx| tx.send(delivery).is_ok());
                    let mut retired = None;
                    if queued {
                        if let Some(entry) = inner.entries.get_mut(key) {
                            entry.state = State::Delivering;
                        }
                    } else {
                        tracing::error!(key = %key, "no outbox for this platform; reply dropped");
                        retired = inner.finish(key);
                    }
                    (took, outcome, !queued, retired)
                }
            }
        };
        if finished {
            self.ack(key);
        }
        self.metrics.reply(platform, outcome, took);
        self.changed();
        true
    }

    /// The outbox is done with the reply to `key` (sent, or given up on).
    pub fn delivered(&self, key: &MessageKey) {
        // A retired generation of remembered keys is freed after the lock is released.
        let (finished, _retired) = {
            let mut inner = self.lock();
            let delivering = inner
                .entries
                .get(key)
                .is_some_and(|e| matches!(e.state, State::Delivering));
            let retired = if delivering { inner.finish(key) } else { None };
            (delivering, retired)
        };
        if finished {
            self.ack(key);
            self.changed();
        }
    }

    /// Messages of `platform` (or of all platforms) accepted and not yet answered and delivered.
    pub fn in_flight(&self, platform: Option<PlatformId>) -> usize {
        let inner = self.lock();
        match platform {
            Some(p) => inner.in_flight.get(&p).copied().unwrap_or(0),
            None => inner.in_flight.values().sum(),
        }
    }

    /// Waits until nothing of `platform` (or of any platform) is in flight, or `deadline`.
    /// Returns whether it became idle.
    pub async fn wait_idle(&self, platform: Option<PlatformId>, deadline: Instant) -> bool {
        let mut rx = self.changes.subscribe();
        loop {
            if self.in_flight(platform) == 0 {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => continue,
                _ => return self.in_flight(platform) == 0,
            }
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl Inner {
    /// Moves `key` from the entries to the remembered set. Returns a generation of remembered
    /// keys that was retired, for the caller to free once it released the lock.
    fn finish(&mut self, key: &MessageKey) -> Option<HashSet<MessageKey>> {
        self.entries.remove(key)?;
        if let Some(n) = self.in_flight.get_mut(&key.chat.platform) {
            *n = n.saturating_sub(1);
        }
        self.done.insert(key.clone())
    }
}

/// Handled message keys, remembered to recognise redeliveries: the last `capacity / 2` to
/// `capacity` of them, in two generations. Each generation is allocated once at its full size
/// and never deleted from, so no insert ever rehashes (a growing or churning hash set rehashes
/// every key at once, under the lock every message waits for: a 50 ms stall at 57,000 keys).
struct Recent {
    current: HashSet<MessageKey>,
    previous: HashSet<MessageKey>,
    generation: usize,
}

impl Recent {
    fn new(capacity: usize) -> Self {
        let generation = (capacity / 2).max(1);
        Recent {
            current: HashSet::with_capacity(generation),
            previous: HashSet::new(),
            generation,
        }
    }

    fn contains(&self, key: &MessageKey) -> bool {
        self.current.contains(key) || self.previous.contains(key)
    }

    /// Remembers `key`; returns the generation that had to make room, if one did.
    fn insert(&mut self, key: MessageKey) -> Option<HashSet<MessageKey>> {
        if self.contains(&key) {
            return None;
        }
        let mut retired = None;
        if self.current.len() >= self.generation {
            let fresh = HashSet::with_capacity(self.generation);
            let full = std::mem::replace(&mut self.current, fresh);
            retired = Some(std::mem::replace(&mut self.previous, full));
        }
        self.current.insert(key);
        retired
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatKind, UserKey};

    fn inbound(chat: &str, id: &str) -> Inbound {
        Inbound {
            key: MessageKey {
                chat: ChatKey::new(PlatformId::Memory, chat),
                id: id.into(),
            },
            user: UserKey::new(PlatformId::Memory, "u"),
            chat_kind: ChatKind::Private,
            reply_to: Some(id.into()),
            text: "hi".into(),
            truncated: None,
            quoted: None,
            user_language: None,
            voice: None,
            unreadable: false,
            received_at: Instant::now(),
        }
    }

    fn reply(text: &str) -> Resolution {
        Resolution::Reply {
            text: text.into(),
            outcome: ReplyOutcome::Info,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_delivery_carries_where_its_time_went() {
        let ledger = Ledger::new(Metrics::new(), 10);
        let mut outbox =
            ledger.register_outbox(Arc::new(crate::platforms::memory::MemoryPlatform::new()));
        let m = inbound("c", "1");
        let key = m.key.clone();
        let read = m.received_at;
        tokio::time::advance(Duration::from_millis(1)).await;
        ledger.accept(m);
        tokio::time::advance(Duration::from_millis(2)).await;
        ledger.next(&key.chat).expect("pending");
        tokio::time::advance(Duration::from_millis(4)).await;
        // A second attempt (its first conversation died) does not move the pick-up time.
        ledger.next(&key.chat).expect("still pending");
        ledger.waited_on_providers(&key, Duration::from_millis(3));
        ledger.waited_on_providers(&key, Duration::from_millis(2));
        tokio::time::advance(Duration::from_millis(8)).await;
        assert!(ledger.resolve(&key, reply("a")));
        let timing = outbox.recv().await.expect("one delivery").timing;
        assert_eq!(timing.received, read);
        assert_eq!(timing.provider, Duration::from_millis(5));
        let sent = timing.resolved + Duration::from_millis(16);
        let stages = timing.stages(sent, Duration::from_millis(10));
        assert_eq!(
            stages,
            Stages {
                intake: Duration::from_millis(1),
                queue: Duration::from_millis(2),
                handling: Duration::from_millis(7),
                dispatch: Duration::from_millis(6),
            }
        );
        assert_eq!(stages.total(), Duration::from_millis(16));
        // Waits longer than the span they are taken from leave nothing, never a negative.
        let stages = timing.stages(timing.resolved, Duration::from_secs(1));
        assert_eq!(stages.dispatch, Duration::ZERO);
    }

    #[tokio::test]
    async fn resolves_once_and_queues_the_reply_once() {
        let ledger = Ledger::new(Metrics::new(), 10);
        let mut outbox =
            ledger.register_outbox(Arc::new(crate::platforms::memory::MemoryPlatform::new()));
        let m = inbound("c", "1");
        let key = m.key.clone();
        assert_eq!(ledger.accept(m.clone()), Accept::Accepted);
        assert_eq!(ledger.accept(m), Accept::Duplicate);
        let work = ledger.next(&key.chat).expect("pending");
        assert_eq!(work.attempt, 1);
        assert_eq!(ledger.next(&key.chat).expect("still pending").attempt, 2);
        assert!(ledger.resolve(&key, reply("a")));
        assert!(!ledger.resolve(&key, reply("b")));
        let d = outbox.recv().await.expect("one delivery");
        assert_eq!(d.outbound.text, "a");
        assert!(outbox.try_recv().is_err());
        assert_eq!(ledger.in_flight(None), 1);
        ledger.delivered(&key);
        assert_eq!(ledger.in_flight(None), 0);
        // Redelivered after it was handled: still a duplicate.
        assert_eq!(ledger.accept(inbound("c", "1")), Accept::Duplicate);
    }

    #[test]
    fn keeps_chat_order_and_separates_chats() {
        let ledger = Ledger::new(Metrics::new(), 10);
        let _outbox =
            ledger.register_outbox(Arc::new(crate::platforms::memory::MemoryPlatform::new()));
        for id in ["1", "2", "3"] {
            ledger.accept(inbound("a", id));
        }
        ledger.accept(inbound("b", "9"));
        let chat_a = ChatKey::new(PlatformId::Memory, "a");
        let first = ledger.next(&chat_a).expect("work");
        assert_eq!(&*first.inbound.key.id, "1");
        assert!(ledger.resolve(&first.inbound.key, Resolution::Ignore));
        assert_eq!(&*ledger.next(&chat_a).expect("work").inbound.key.id, "2");
        assert_eq!(ledger.pending_chats(PlatformId::Memory).len(), 2);
    }

    #[test]
    fn forgets_old_keys_beyond_capacity() {
        let ledger = Ledger::new(Metrics::new(), 2);
        for id in ["1", "2", "3"] {
            let m = inbound("a", id);
            let key = m.key.clone();
            ledger.accept(m);
            ledger.resolve(&key, Resolution::Ignore);
        }
        assert_eq!(ledger.accept(inbound("a", "3")), Accept::Duplicate);
        assert_eq!(ledger.accept(inbound("a", "1")), Accept::Accepted);
    }

    #[test]
    fn remembered_keys_never_rehash_and_stay_within_capacity() {
        let ledger = Ledger::new(Metrics::new(), 1000);
        let capacity = |l: &Ledger| l.lock().done.current.capacity();
        let allocated = capacity(&ledger);
        for i in 0..3000 {
            let m = inbound("a", &i.to_string());
            let key = m.key.clone();
            ledger.accept(m);
            ledger.resolve(&key, Resolution::Ignore);
            // Never grown, never shrunk by tombstones: no insert rehashes.
            assert_eq!(capacity(&ledger), allocated, "after {i}");
            let remembered = ledger.lock().done.len();
            assert!(
                (500..=1000).contains(&remembered) || i < 500,
                "{remembered}"
            );
        }
        // The newest are remembered; the oldest forgotten.
        assert_eq!(ledger.accept(inbound("a", "2999")), Accept::Duplicate);
        assert_eq!(ledger.accept(inbound("a", "2500")), Accept::Duplicate);
        assert_eq!(ledger.accept(inbound("a", "1")), Accept::Accepted);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_idle_wakes_on_delivery() {
        let ledger = Ledger::new(Metrics::new(), 10);
        let _outbox =
            ledger.register_outbox(Arc::new(crate::platforms::memory::MemoryPlatform::new()));
        let m = inbound("a", "1");
        let key = m.key.clone();
        ledger.accept(m);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        assert!(!ledger.wait_idle(None, Instant::now()).await);
        let l2 = ledger.clone();
        let waiter = tokio::spawn(async move { l2.wait_idle(None, deadline).await });
        ledger.resolve(&key, reply("x"));
        ledger.delivered(&key);
        assert!(waiter.await.expect("join"));
    }
}
