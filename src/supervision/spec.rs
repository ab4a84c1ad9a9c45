//! How a supervisor starts a child ([`ChildSpec`]) and what it learns back ([`Started`]), plus
//! the read-only view of a running tree ([`TreeNode`]) and of a shutdown ([`ShutdownReport`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorCell, ActorId, ActorRef, Message, RpcReplyPort, SpawnErr};
use serde::Serialize;
use tokio::time::Instant;

use super::slot::Slot;
use super::{ActorKind, Restart};

type StartFn = dyn Fn(ActorCell) -> BoxFuture<'static, Result<Started, SpawnErr>> + Send + Sync;

/// Everything a supervisor needs to start, restart and stop one child.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among siblings; the child's segment in tree paths (`root/providers/demo`).
    pub id: String,
    pub kind: ActorKind,
    pub restart: Restart,
    /// How long the child may take to stop gracefully before it is killed; `None` uses the
    /// supervisor's default.
    pub shutdown_timeout: Option<Duration>,
    start: Arc<StartFn>,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("restart", &self.restart)
            .finish()
    }
}

/// A started child, as its spec reports it to the supervisor.
pub struct Started {
    pub cell: ActorCell,
    /// Set for children that supervise others, to describe and shut down their subtree.
    pub subtree: Option<Arc<dyn Subtree>>,
    /// Runs when this incarnation stops (or its supervisor forgets it): clears its slot.
    pub on_exit: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl ChildSpec {
    /// A child started by an arbitrary function of its supervisor's cell.
    pub fn new<F>(id: impl Into<String>, kind: ActorKind, restart: Restart, start: F) -> Self
    where
        F: Fn(ActorCell) -> BoxFuture<'static, Result<Started, SpawnErr>> + Send + Sync + 'static,
    {
        Self {
            id: id.into(),
            kind,
            restart,
            shutdown_timeout: None,
            start: Arc::new(start),
        }
    }

    /// A plain actor: `make` builds a fresh actor value and its arguments for each start, and
    /// `slot` (if any) is kept pointing at the running incarnation.
    pub fn worker<A, F>(
        id: impl Into<String>,
        kind: ActorKind,
        restart: Restart,
        slot: Option<Arc<Slot<A::Msg>>>,
        make: F,
    ) -> Self
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        Self::new(id, kind, restart, move |supervisor| {
            let (actor, args) = make();
            let slot = slot.clone();
            Box::pin(async move {
                let (actor_ref, _) = Actor::spawn_linked(None, actor, args, supervisor).await?;
                Ok(started(actor_ref, slot, None))
            })
        })
    }

    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = Some(timeout);
        self
    }

    pub(crate) async fn start(&self, supervisor: ActorCell) -> Result<Started, SpawnErr> {
        (self.start)(supervisor).await
    }
}

/// Builds a [`Started`] for a typed actor, publishing it in `slot` and clearing the slot again
/// when the incarnation ends.
pub fn started<M: Message>(
    actor: ActorRef<M>,
    slot: Option<Arc<Slot<M>>>,
    subtree: Option<Arc<dyn Subtree>>,
) -> Started {
    let id = actor.get_id();
    if let Some(slot) = &slot {
        slot.set(actor.clone());
    }
    Started {
        cell: actor.get_cell(),
        subtree,
        on_exit: slot
            .map(|slot| Box::new(move || slot.clear_if(id)) as Box<dyn FnOnce() + Send + Sync>),
    }
}

/// Messages of an actor that supervises children of its own: it can be asked to describe
/// and to shut down its subtree. Implementing this makes its `ActorRef` a [`Subtree`].
pub trait SubtreeMsg: Message + Sized {
    fn describe(deadline: Instant, reply: RpcReplyPort<Vec<TreeNode>>) -> Self;
    fn shutdown(deadline: Instant, reply: RpcReplyPort<ShutdownReport>) -> Self;
}

/// Extra time, past a shutdown deadline, to wait for a subtree's report: the actor enforces the
/// deadline itself; the margin is for killing stragglers and sending back the report.
pub const SHUTDOWN_REPORT_MARGIN: Duration = Duration::from_secs(3);

#[async_trait::async_trait]
impl<M: SubtreeMsg> Subtree for ActorRef<M> {
    async fn describe(&self, deadline: Instant) -> Vec<TreeNode> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match self
            .call(|reply| M::describe(deadline, reply), Some(remaining))
            .await
        {
            Ok(CallResult::Success(nodes)) => nodes,
            _ => Vec::new(),
        }
    }

    async fn shutdown(&self, deadline: Instant) -> ShutdownReport {
        let remaining = deadline.saturating_duration_since(Instant::now()) + SHUTDOWN_REPORT_MARGIN;
        match self
            .call(|reply| M::shutdown(deadline, reply), Some(remaining))
            .await
        {
            Ok(CallResult::Success(report)) => report,
            _ => ShutdownReport::default(),
        }
    }
}

/// A child that supervises children of its own.
#[async_trait::async_trait]
pub trait Subtree: Send + Sync {
    /// Describes the children (not the node itself), answering by `deadline`.
    async fn describe(&self, deadline: Instant) -> Vec<TreeNode>;
    /// Stops the children in reverse start order, then the node itself, all by `deadline`.
    async fn shutdown(&self, deadline: Instant) -> ShutdownReport;
}

/// Whether a node in the tree is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Running,
    /// Waiting for a restart (backoff) or being restarted.
    Restarting,
    /// Stopped for good (a temporary child, a transient child that stopped normally).
    Stopped,
}

/// One node of the supervision tree, as seen at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct TreeNode {
    pub id: String,
    pub kind: ActorKind,
    pub status: NodeStatus,
    /// Restarts of this child by its supervisor since the supervisor started.
    pub restarts: u64,
    pub children: Vec<TreeNode>,
    #[serde(skip)]
    pub cell: Option<ActorCell>,
}

impl TreeNode {
    /// Every node under (and including) this one, with its path from here.
    pub fn walk(&self) -> Vec<(String, &TreeNode)> {
        let mut out = Vec::new();
        fn go<'a>(prefix: &str, n: &'a TreeNode, out: &mut Vec<(String, &'a TreeNode)>) {
            let path = if prefix.is_empty() {
                n.id.clone()
            } else {
                format!("{prefix}/{}", n.id)
            };
            for c in &n.children {
                go(&path, c, out);
            }
            out.push((path, n));
        }
        go("", self, &mut out);
        out
    }

    /// The node at `path` (`root/providers/demo`), if any.
    pub fn find(&self, path: &str) -> Option<&TreeNode> {
        self.walk()
            .into_iter()
            .find(|(p, _)| p == path)
            .map(|(_, n)| n)
    }

    /// The actor id of a running node.
    pub fn actor_id(&self) -> Option<ActorId> {
        self.cell.as_ref().map(|c| c.get_id())
    }
}

/// What happened during a shutdown: who had to be killed, who was still running at the deadline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShutdownReport {
    /// Children (by path) that did not stop within their timeout and were killed.
    pub killed: Vec<String>,
    /// Stop order, by path, for the record (and for tests of the order).
    pub stopped: Vec<String>,
}

impl ShutdownReport {
    pub fn merge(&mut self, prefix: &str, other: ShutdownReport) {
        self.killed
            .extend(other.killed.into_iter().map(|p| format!("{prefix}/{p}")));
        self.stopped
            .extend(other.stopped.into_iter().map(|p| format!("{prefix}/{p}")));
    }
}
