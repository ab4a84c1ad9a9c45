//! OTP-style supervision on top of ractor.
//!
//! ractor links children to supervisors and reports their deaths, but restarts nothing by
//! itself. This module adds the rest (see `docs/adr/0002-supervision.md`):
//!
//! - [`Supervisor`]: an actor that starts [`ChildSpec`]s in order and restarts them by
//!   [`Strategy`] (one_for_one, rest_for_one) and [`Restart`] kind (permanent, transient,
//!   temporary), with restart [`Intensity`] (more than R restarts in T and it gives up, failing
//!   itself so its own supervisor decides) and [`Backoff`] between repeated restarts;
//! - ordered graceful shutdown: children stop in reverse start order, each within its own timeout
//!   and all within one deadline ([`SupervisorMsg::Shutdown`]);
//! - [`Slot`]s: typed handles owned by the supervisor, updated on every (re)start, so callers
//!   never keep a stale `ActorRef`; [`call`] retries an idempotent request on the restarted
//!   actor until its deadline;
//! - every restart is logged and counted by [`ActorKind`].

mod slot;
mod spec;
mod supervisor;
mod watch;

pub use slot::{Backlog, CallError, Slot, call};
pub use spec::{
    ChildSpec, NodeStatus, SHUTDOWN_REPORT_MARGIN, ShutdownReport, Started, Subtree, SubtreeMsg,
    TreeNode, started,
};
pub use supervisor::{Supervisor, SupervisorArgs, SupervisorMsg, SupervisorTemplate};
pub use watch::TreeWatch;

/// Whether an actor in this status is (or is about to be) handling messages: just after
/// `Actor::spawn` returns, ractor may still report `Starting`.
pub fn alive(status: ractor::ActorStatus) -> bool {
    !matches!(
        status,
        ractor::ActorStatus::Stopping | ractor::ActorStatus::Stopped
    )
}

/// The whole tree under the root supervisor in `root`, as it is now (children described by
/// `deadline`).
pub async fn snapshot(root: &Slot<SupervisorMsg>, deadline: Instant) -> TreeNode {
    let running = root.get().filter(|r| alive(r.get_status()));
    let children = match &running {
        Some(r) => Subtree::describe(r, deadline).await,
        None => Vec::new(),
    };
    TreeNode {
        id: "root".into(),
        kind: ActorKind::Root,
        status: if running.is_some() {
            NodeStatus::Running
        } else {
            NodeStatus::Stopped
        },
        restarts: 0,
        children,
        cell: running.map(|r| r.get_cell()),
    }
}

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// When a child that stopped is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Always restarted, whatever the reason it stopped.
    Permanent,
    /// Restarted only after an abnormal exit (panic, error, kill); a normal stop is final.
    Transient,
    /// Never restarted.
    Temporary,
}

impl Restart {
    pub fn applies_to(self, exit: &Exit) -> bool {
        match self {
            Self::Permanent => true,
            Self::Transient => exit.is_abnormal(),
            Self::Temporary => false,
        }
    }
}

/// Which children are restarted when one of them dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Only the child that died.
    OneForOne,
    /// The child that died and every child started after it (they depend on it).
    RestForOne,
}

/// How a child stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It stopped itself or was stopped with no reason or a reason of its own.
    Normal(Option<String>),
    /// It was killed (`Signal::Kill`) or its task was cancelled.
    Killed,
    /// It panicked or returned an error from a handler.
    Failed(String),
}

impl Exit {
    pub(crate) fn from_terminated(reason: Option<String>) -> Self {
        match reason.as_deref() {
            Some("killed") | Some("actor_task_cancelled") => Exit::Killed,
            _ => Exit::Normal(reason),
        }
    }

    pub fn is_abnormal(&self) -> bool {
        !matches!(self, Exit::Normal(_))
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Normal(None) => f.write_str("stopped"),
            Exit::Normal(Some(r)) => write!(f, "stopped ({r})"),
            Exit::Killed => f.write_str("killed"),
            Exit::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// At most `max_restarts` restarts within `within`; one more and the supervisor gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intensity {
    pub max_restarts: u32,
    pub within: Duration,
}

/// Delay before a restart: none for the first restart in the intensity window, then
/// `initial`, doubling up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before a restart when `recent` restarts of the same child already happened
    /// inside the intensity window.
    pub fn delay(&self, recent: usize) -> Duration {
        if recent == 0 {
            return Duration::ZERO;
        }
        let exp = u32::try_from(recent - 1).unwrap_or(u32::MAX).min(20);
        self.initial.saturating_mul(1 << exp).min(self.max)
    }
}

/// The intensity window was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("more than {max_restarts} restarts within {within:?}")]
pub struct IntensityExceeded {
    pub max_restarts: u32,
    pub within: Duration,
}

/// Restarts seen inside the sliding intensity window.
#[derive(Debug, Clone)]
pub struct RestartWindow {
    intensity: Intensity,
    history: VecDeque<Instant>,
}

impl RestartWindow {
    pub fn new(intensity: Intensity) -> Self {
        Self {
            intensity,
            history: VecDeque::new(),
        }
    }

    fn prune(&mut self, now: Instant) {
        while let Some(&t) = self.history.front() {
            if now.duration_since(t) >= self.intensity.within {
                self.history.pop_front();
            } else {
                break;
            }
        }
    }

    /// Restarts inside the window before now.
    pub fn recent(&mut self, now: Instant) -> usize {
        self.prune(now);
        self.history.len()
    }

    /// Records one restart at `now`; fails when that makes more than `max_restarts`.
    pub fn record(&mut self, now: Instant) -> Result<usize, IntensityExceeded> {
        self.prune(now);
        self.history.push_back(now);
        let count = self.history.len();
        if count > self.intensity.max_restarts as usize {
            Err(IntensityExceeded {
                max_restarts: self.intensity.max_restarts,
                within: self.intensity.within,
            })
        } else {
            Ok(count)
        }
    }
}

/// What an actor is, for logs, metric labels and chaos targeting. A closed set: bounded labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Root,
    MetricsReporter,
    RateLimiter,
    ProviderSupervisor,
    Provider,
    Coordinator,
    PlatformSupervisor,
    Session,
    Conversation,
    /// A platform's own supervisor (Discord's shards).
    ShardSupervisor,
    /// One gateway connection (a Discord shard).
    Shard,
    /// Actors of embedding applications and tests.
    Other,
}

impl ActorKind {
    pub const ALL: &'static [ActorKind] = &[
        ActorKind::Root,
        ActorKind::MetricsReporter,
        ActorKind::RateLimiter,
        ActorKind::ProviderSupervisor,
        ActorKind::Provider,
        ActorKind::Coordinator,
        ActorKind::PlatformSupervisor,
        ActorKind::Session,
        ActorKind::Conversation,
        ActorKind::ShardSupervisor,
        ActorKind::Shard,
        ActorKind::Other,
    ];

    /// Whether actors of this kind supervise others.
    pub fn is_supervisor(self) -> bool {
        matches!(
            self,
            Self::Root
                | Self::ProviderSupervisor
                | Self::PlatformSupervisor
                | Self::ShardSupervisor
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::MetricsReporter => "metrics_reporter",
            Self::RateLimiter => "rate_limiter",
            Self::ProviderSupervisor => "provider_supervisor",
            Self::Provider => "provider",
            Self::Coordinator => "coordinator",
            Self::PlatformSupervisor => "platform_supervisor",
            Self::Session => "session",
            Self::Conversation => "conversation",
            Self::ShardSupervisor => "shard_supervisor",
            Self::Shard => "shard",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for ActorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let b = Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        };
        assert_eq!(b.delay(0), Duration::ZERO);
        assert_eq!(b.delay(1), Duration::from_millis(10));
        assert_eq!(b.delay(2), Duration::from_millis(20));
        assert_eq!(b.delay(3), Duration::from_millis(40));
        assert_eq!(b.delay(4), Duration::from_millis(50));
        assert_eq!(b.delay(500), Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn window_forgets_old_restarts() {
        let mut w = RestartWindow::new(Intensity {
            max_restarts: 2,
            within: Duration::from_secs(10),
        });
        let t0 = Instant::now();
        assert_eq!(w.record(t0), Ok(1));
        assert_eq!(w.record(t0 + Duration::from_secs(1)), Ok(2));
        assert!(w.record(t0 + Duration::from_secs(2)).is_err());
        // Eleven seconds later the first two have left the window.
        let mut w2 = RestartWindow::new(Intensity {
            max_restarts: 2,
            within: Duration::from_secs(10),
        });
        assert_eq!(w2.record(t0), Ok(1));
        assert_eq!(w2.record(t0 + Duration::from_secs(1)), Ok(2));
        assert_eq!(w2.record(t0 + Duration::from_secs(12)), Ok(1));
    }

    #[test]
    fn exit_classification() {
        assert!(Exit::from_terminated(Some("killed".into())).is_abnormal());
        assert!(!Exit::from_terminated(None).is_abnormal());
        assert!(!Exit::from_terminated(Some("idle".into())).is_abnormal());
        assert!(Restart::Transient.applies_to(&Exit::Failed("x".into())));
        assert!(!Restart::Transient.applies_to(&Exit::Normal(None)));
        assert!(Restart::Permanent.applies_to(&Exit::Normal(None)));
        assert!(!Restart::Temporary.applies_to(&Exit::Killed));
    }
}
