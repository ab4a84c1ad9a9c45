//! An in-process platform: messages pushed by code, replies recorded in memory.
//!
//! Used by the integration and chaos tests (it goes through exactly the same session,
//! conversation, ledger and outbox path as the console, Telegram and Discord) and by benchmarks
//! and embedding applications.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{Platform, SendError};
use crate::domain::{ChatKey, ChatKind, Inbound, MessageKey, Outbound, PlatformId, UserKey};

/// See the module docs.
pub struct MemoryPlatform {
    tx: Mutex<Option<mpsc::UnboundedSender<Inbound>>>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Inbound>>,
    sent: Mutex<Vec<Outbound>>,
    sent_count: watch::Sender<usize>,
    next_id: AtomicU64,
    /// Scripted send failures, consumed one per send before sends succeed again.
    failures: Mutex<Vec<SendError>>,
    max_reply_chars: usize,
}

impl Default for MemoryPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryPlatform {
    pub fn new() -> Self {
        Self::with_max_reply_chars(usize::MAX)
    }

    pub fn with_max_reply_chars(max_reply_chars: usize) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx: Mutex::new(Some(tx)),
            rx: tokio::sync::Mutex::new(rx),
            sent: Mutex::new(Vec::new()),
            sent_count: watch::Sender::new(0),
            next_id: AtomicU64::new(1),
            failures: Mutex::new(Vec::new()),
            max_reply_chars,
        }
    }

    /// A user writes `text` in `chat`. Returns the message's key (to match replies).
    pub fn push(&self, chat: &str, user: &str, text: &str) -> MessageKey {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let inbound = Inbound {
            key: MessageKey {
                chat: ChatKey::new(PlatformId::Memory, chat),
                id: id.as_str().into(),
            },
            user: UserKey::new(PlatformId::Memory, user),
            chat_kind: ChatKind::Private,
            reply_to: Some(id.as_str().into()),
            text: text.to_string(),
            truncated: None,
            quoted: None,
            user_language: None,
            voice: None,
            unreadable: false,
            received_at: tokio::time::Instant::now(),
        };
        let key = inbound.key.clone();
        self.push_inbound(inbound);
        key
    }

    /// Delivers an arbitrary inbound message (for example a redelivery of an old one).
    pub fn push_inbound(&self, inbound: Inbound) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(inbound);
        }
    }

    /// Every reply sent so far, in order.
    pub fn sent(&self) -> Vec<Outbound> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replies to one message.
    pub fn replies_to(&self, key: &MessageKey) -> Vec<Outbound> {
        self.sent()
            .into_iter()
            .filter(|o| &o.in_reply_to == key)
            .collect()
    }

    /// Waits until at least `n` replies were sent; false if `timeout` passed first.
    pub async fn wait_for_replies(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.sent_count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|&c| c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// The next sends fail with these errors, in order.
    pub fn fail_next_sends(&self, errors: impl IntoIterator<Item = SendError>) {
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let mut errors: Vec<SendError> = errors.into_iter().collect();
        errors.reverse();
        errors.append(&mut f);
        *f = errors;
    }
}

#[async_trait::async_trait]
impl Platform for MemoryPlatform {
    fn id(&self) -> PlatformId {
        PlatformId::Memory
    }

    async fn recv(&self) -> Option<Inbound> {
        // Both awaits are cancel safe: a message is only taken out of the channel in the poll
        // that returns it.
        self.rx.lock().await.recv().await
    }

    async fn send(&self, reply: &Outbound) -> Result<(), SendError> {
        if let Some(err) = self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
        {
            return Err(err);
        }
        let n = {
            let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            sent.push(reply.clone());
            sent.len()
        };
        self.sent_count.send_replace(n);
        Ok(())
    }

    fn close(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    fn max_reply_chars(&self) -> usize {
        self.max_reply_chars
    }
}
