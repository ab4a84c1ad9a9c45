//! Outbound pacing: how fast replies may leave, per chat, per group and overall.
//!
//! Platforms publish their limits as a [`Pacing`] (Telegram: about 1 message a second per chat
//! with short bursts, 20 a minute per group, 30 a second overall). The outbox asks the [`Pacer`]
//! before every send and waits until all three limits allow it. Each limit is a GCRA (governor)
//! running on tokio's clock, so tests can check the schedule with paused time.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::domain::ChatKey;

/// `burst` sends at once, then one every `every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub every: Duration,
    pub burst: NonZeroU32,
}

impl Rate {
    pub fn new(every: Duration, burst: u32) -> Self {
        Self {
            every: every.max(Duration::from_nanos(1)),
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        }
    }

    fn quota(self) -> Option<Quota> {
        Quota::with_period(self.every).map(|q| q.allow_burst(self.burst))
    }
}

/// A platform's outbound limits; `None` means unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pacing {
    pub per_chat: Option<Rate>,
    /// Applies to group chats, on top of `per_chat`.
    pub per_group: Option<Rate>,
    pub global: Option<Rate>,
}

/// tokio's clock, as governor sees it: time since the pacer was made.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
}

type Keyed = RateLimiter<ChatKey, DashMapStateStore<ChatKey>, TokioClock, NoOpMiddleware<Duration>>;
type Direct = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// See the module docs.
pub struct Pacer {
    clock: TokioClock,
    chat: Option<Keyed>,
    group: Option<Keyed>,
    global: Option<Direct>,
}

impl Pacer {
    pub fn new(pacing: Pacing) -> Self {
        let clock = TokioClock::new();
        let keyed = |r: Option<Rate>| {
            r.and_then(Rate::quota)
                .map(|q| RateLimiter::dashmap_with_clock(q, clock))
        };
        Self {
            chat: keyed(pacing.per_chat),
            group: keyed(pacing.per_group),
            global: pacing
                .global
                .and_then(Rate::quota)
                .map(|q| RateLimiter::direct_with_clock(q, clock)),
            clock,
        }
    }

    /// Waits until one more message may go to `chat` (a group chat if `group`); the caller
    /// sends at once.
    ///
    /// The global permit is taken first and the chat's last: a chat's slot is taken only when
    /// the message really goes out. Taking the chat's slot first and then queueing for the
    /// global rate would let a message wait (for other chats) after its chat's slot was
    /// counted, so two sends to one chat could reach the platform closer together than its
    /// interval. When the chat (or group) is not ready, the global permit is given up (left
    /// unused) and the wait starts over.
    pub async fn ready(&self, chat: &ChatKey, group: bool) {
        loop {
            if let Some(l) = &self.global {
                while let Err(not_until) = l.check() {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                }
            }
            if group
                && let Some(l) = &self.group
                && let Err(not_until) = l.check_key(chat)
            {
                tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                continue;
            }
            if let Some(l) = &self.chat
                && let Err(not_until) = l.check_key(chat)
            {
                tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                continue;
            }
            return;
        }
    }

    /// Forgets chats whose limits have fully recovered.
    pub fn sweep(&self) {
        for l in [&self.chat, &self.group].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PlatformId;
    use tokio::time::Instant;

    fn chat(id: &str) -> ChatKey {
        ChatKey::new(PlatformId::Telegram, id)
    }

    #[tokio::test(start_paused = true)]
    async fn a_chat_gets_its_burst_then_one_per_period() {
        let pacer = Pacer::new(Pacing {
            per_chat: Some(Rate::new(Duration::from_secs(1), 2)),
            ..Pacing::default()
        });
        let t0 = Instant::now();
        let mut at = Vec::new();
        for _ in 0..5 {
            pacer.ready(&chat("a"), false).await;
            at.push(t0.elapsed().as_millis());
        }
        assert_eq!(at, [0, 0, 1000, 2000, 3000]);
        // Another chat is not held back by the first.
        let t1 = Instant::now();
        pacer.ready(&chat("b"), false).await;
        assert_eq!(t1.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn groups_and_the_global_limit_apply_on_top() {
        let pacer = Pacer::new(Pacing {
            per_chat: Some(Rate::new(Duration::from_secs(1), 10)),
            per_group: Some(Rate::new(Duration::from_secs(3), 1)),
            global: Some(Rate::new(Duration::from_millis(100), 1)),
        });
        let t0 = Instant::now();
        pacer.ready(&chat("g"), true).await;
        pacer.ready(&chat("g"), true).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(3), "group: one per 3 s");
        // The group's second message used the global allowance at t1: each of these waits 100 ms.
        let t1 = Instant::now();
        for i in 0..5 {
            pacer.ready(&chat(&format!("p{i}")), false).await;
        }
        assert_eq!(
            t1.elapsed(),
            Duration::from_millis(500),
            "global: one per 100 ms"
        );
    }

    /// A message that queued for the global rate still counts its chat's interval from when it
    /// went out, not from when it started waiting.
    #[tokio::test(start_paused = true)]
    async fn a_chat_interval_holds_at_send_time_behind_the_global_rate() {
        let pacer = Pacer::new(Pacing {
            per_chat: Some(Rate::new(Duration::from_millis(1000), 1)),
            global: Some(Rate::new(Duration::from_millis(100), 1)),
            ..Pacing::default()
        });
        let t0 = Instant::now();
        pacer.ready(&chat("other"), false).await; // the global allowance is used until 100 ms
        pacer.ready(&chat("a"), false).await;
        let first = t0.elapsed();
        pacer.ready(&chat("a"), false).await;
        let second = t0.elapsed();
        assert_eq!(first, Duration::from_millis(100));
        assert!(
            second - first >= Duration::from_millis(1000),
            "{first:?} {second:?}"
        );
    }
}
