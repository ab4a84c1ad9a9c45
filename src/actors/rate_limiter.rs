//! The per-user rate limiter actor (GCRA, via governor).
//!
//! Conversations ask it [`RateLimiterMsg::Check`] before answering a message. The answer is
//! memoised per message, so a conversation that dies and retries the same message gets the same
//! decision instead of being charged twice. A user over the limit gets one friendly reply per
//! cooldown (`notify: true`); further messages inside that cooldown are skipped silently.
//!
//! All of that state (buckets, memo, cooldowns) is in a [`RateLimitStore`] created by the
//! application and shared with every incarnation of this actor: killing the rate limiter resets
//! nobody's cooldown. The actor sweeps stale buckets periodically.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as Gcra};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

use crate::config::RateLimitConfig;
use crate::domain::{MessageKey, UserKey};
use crate::telemetry::metrics::Metrics;

/// How many recent decisions are remembered for idempotent retries.
const MEMO_CAPACITY: usize = 50_000;

/// The rate limiter's verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// Over the limit. `notify` is true for the first message of a cooldown (answer it with
    /// the cooldown text), false for the rest (skip them).
    Limited {
        retry_after: Duration,
        notify: bool,
    },
}

/// Rate-limit state that outlives any incarnation of the actor.
pub struct RateLimitStore {
    limiter: DefaultKeyedRateLimiter<UserKey>,
    clock: DefaultClock,
    inner: Mutex<StoreInner>,
}

#[derive(Default)]
struct StoreInner {
    memo: HashMap<MessageKey, Decision>,
    memo_order: VecDeque<MessageKey>,
    /// Users told to wait, and until when.
    cooldown_until: HashMap<UserKey, Instant>,
}

impl RateLimitStore {
    pub fn new(config: &RateLimitConfig) -> Arc<Self> {
        let quota = Quota::per_minute(config.per_minute).allow_burst(config.burst);
        Arc::new(Self {
            limiter: Gcra::keyed(quota),
            clock: DefaultClock::default(),
            inner: Mutex::new(StoreInner::default()),
        })
    }

    /// Decides on `message` from `user`; the same message always gets the same decision.
    pub fn check(&self, user: &UserKey, message: &MessageKey) -> Decision {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = inner.memo.get(message) {
            return *d;
        }
        let decision = match self.limiter.check_key(user) {
            Ok(()) => Decision::Allowed,
            Err(not_until) => {
                let retry_after = not_until.wait_time_from(self.clock.now());
                let now = Instant::now();
                let notify = inner
                    .cooldown_until
                    .get(user)
                    .is_none_or(|until| *until <= now);
                if notify {
                    inner.cooldown_until.insert(user.clone(), now + retry_after);
                }
                Decision::Limited {
                    retry_after,
                    notify,
                }
            }
        };
        inner.memo.insert(message.clone(), decision);
        inner.memo_order.push_back(message.clone());
        while inner.memo_order.len() > MEMO_CAPACITY {
            if let Some(old) = inner.memo_order.pop_front() {
                inner.memo.remove(&old);
            }
        }
        decision
    }

    /// Forgets buckets and cooldowns that no longer matter.
    pub fn sweep(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let now = Instant::now();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.cooldown_until.retain(|_, until| *until > now);
    }

    /// Users currently tracked (for tests and memory checks).
    pub fn tracked_users(&self) -> usize {
        self.limiter.len()
    }
}

/// Requests to the rate limiter.
pub enum RateLimiterMsg {
    /// May `user` get an answer to `message`?
    Check {
        user: UserKey,
        message: MessageKey,
        reply: RpcReplyPort<Decision>,
    },
    /// Periodic cleanup.
    Sweep,
}

pub struct RateLimiterArgs {
    pub store: Arc<RateLimitStore>,
    pub metrics: Metrics,
    pub sweep_every: Duration,
}

pub struct RateLimiterState {
    store: Arc<RateLimitStore>,
    metrics: Metrics,
}

/// See the module docs.
pub struct RateLimiter;

impl Actor for RateLimiter {
    type Msg = RateLimiterMsg;
    type State = RateLimiterState;
    type Arguments = RateLimiterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RateLimiterArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(args.sweep_every, || RateLimiterMsg::Sweep);
        Ok(RateLimiterState {
            store: args.store,
            metrics: args.metrics,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            RateLimiterMsg::Check {
                user,
                message,
                reply,
            } => {
                let decision = state.store.check(&user, &message);
                if let Decision::Limited { notify, .. } = decision {
                    state.metrics.rate_limited(notify);
                }
                let _ = reply.send(decision);
            }
            RateLimiterMsg::Sweep => state.store.sweep(),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatKey, PlatformId};
    use std::num::NonZeroU32;

    fn key(id: &str) -> MessageKey {
        MessageKey {
            chat: ChatKey::new(PlatformId::Memory, "c"),
            id: id.into(),
        }
    }

    #[test]
    fn burst_then_one_notice_then_silence_and_idempotent() {
        let store = RateLimitStore::new(&RateLimitConfig {
            per_minute: NonZeroU32::new(1).expect("1"),
            burst: NonZeroU32::new(2).expect("2"),
        });
        let u = UserKey::new(PlatformId::Memory, "u");
        assert_eq!(store.check(&u, &key("1")), Decision::Allowed);
        assert_eq!(store.check(&u, &key("2")), Decision::Allowed);
        let third = store.check(&u, &key("3"));
        assert!(
            matches!(third, Decision::Limited { notify: true, .. }),
            "{third:?}"
        );
        assert!(matches!(
            store.check(&u, &key("4")),
            Decision::Limited { notify: false, .. }
        ));
        // Asking again about the same message gives the same answer (no double charge).
        assert_eq!(store.check(&u, &key("3")), third);
        assert_eq!(store.check(&u, &key("1")), Decision::Allowed);
        // Another user is unaffected.
        let v = UserKey::new(PlatformId::Memory, "v");
        assert_eq!(store.check(&v, &key("5")), Decision::Allowed);
    }
}
