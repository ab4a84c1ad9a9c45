//! Typed handles to supervised actors that survive restarts.
//!
//! A [`Slot`] is owned by the supervisor that starts the actor: it is filled on every (re)start
//! and cleared when the actor stops. Callers hold the slot, never an `ActorRef`, so a restarted
//! actor is reachable at once. [`call`] sends an idempotent request and, if the actor dies before
//! answering, waits for its replacement and asks again, until the caller's deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ractor::{ActorId, ActorRef, Message, RpcReplyPort, rpc::CallResult};
use tokio::sync::watch;
use tokio::time::Instant;

/// The current incarnation of one supervised actor, if it is running.
pub struct Slot<M: Message> {
    tx: watch::Sender<Option<ActorRef<M>>>,
    /// [`call`]s sent and not answered yet: the actor's backlog, whichever incarnation.
    outstanding: AtomicUsize,
}

/// Something whose backlog can be read: the metrics reporter samples it as mailbox depth.
pub trait Backlog: Send + Sync {
    fn backlog(&self) -> usize;
}

impl<M: Message> Backlog for Slot<M> {
    fn backlog(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }
}

/// Counts one outstanding call for as long as it lives.
struct Outstanding<'a>(&'a AtomicUsize);

impl<'a> Outstanding<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Self(n)
    }
}

impl Drop for Outstanding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<M: Message> Slot<M> {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            tx: watch::Sender::new(None),
            outstanding: AtomicUsize::new(0),
        })
    }

    /// Publishes a newly started incarnation.
    pub fn set(&self, actor: ActorRef<M>) {
        self.tx.send_replace(Some(actor));
    }

    /// Clears the slot if it still holds the actor `id` (a newer incarnation is left alone).
    pub fn clear_if(&self, id: ActorId) {
        self.tx.send_if_modified(|cur| {
            if cur.as_ref().map(|a| a.get_id()) == Some(id) {
                *cur = None;
                true
            } else {
                false
            }
        });
    }

    /// The current incarnation, if any.
    pub fn get(&self) -> Option<ActorRef<M>> {
        self.tx.borrow().clone()
    }

    /// Waits until the slot holds an incarnation other than `not` (the one just seen to die),
    /// or `deadline` passes.
    pub async fn live(&self, not: Option<ActorId>, deadline: Instant) -> Option<ActorRef<M>> {
        let mut rx = self.tx.subscribe();
        let wait = rx.wait_for(|cur| match cur {
            Some(a) => Some(a.get_id()) != not,
            None => false,
        });
        match tokio::time::timeout_at(deadline, wait).await {
            Ok(Ok(actor)) => actor.clone(),
            _ => None,
        }
    }
}

/// Why a [`call`] got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The deadline passed before an answer (or before the actor was back).
    #[error("no answer before the deadline")]
    Timeout,
}

/// Asks the actor in `slot` and waits for its answer until `deadline`. If the actor dies while
/// handling the request (or before receiving it), the request is sent again to its replacement:
/// use only for idempotent requests.
pub async fn call<M, R>(
    slot: &Slot<M>,
    deadline: Instant,
    build: impl Fn(RpcReplyPort<R>) -> M,
) -> Result<R, CallError>
where
    M: Message,
    R: Send + 'static,
{
    let _outstanding = Outstanding::new(&slot.outstanding);
    let mut dead: Option<ActorId> = None;
    loop {
        let actor = slot.live(dead, deadline).await.ok_or(CallError::Timeout)?;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(CallError::Timeout);
        }
        match actor.call(&build, Some(remaining)).await {
            Ok(CallResult::Success(reply)) => return Ok(reply),
            Ok(CallResult::Timeout) => return Err(CallError::Timeout),
            // The actor stopped before answering (killed, panicked) or was already gone.
            Ok(CallResult::SenderError) | Err(_) => {
                tracing::debug!(actor = %actor.get_id(), "call target died; retrying on its replacement");
                dead = Some(actor.get_id());
            }
        }
    }
}
