//! The supervisor actor: starts its children in order, restarts them by strategy, restart kind,
//! intensity and backoff, and stops them in reverse order on shutdown.
//!
//! Data flow: ractor delivers a child's death as a supervision event ([`Actor::handle_supervisor_evt`]);
//! the supervisor matches it to the child's current incarnation (events from incarnations it
//! already replaced or stopped itself are ignored), decides whether to restart, records the
//! restart against its intensity window and either restarts at once or schedules a
//! [`SupervisorMsg::StartChild`] after the backoff delay. Exceeding the intensity makes the
//! handler fail, which makes ractor kill every child and report the supervisor itself as failed
//! to *its* supervisor: escalation.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::time::Instant;

use super::slot::Slot;
use super::spec::{
    ChildSpec, NodeStatus, ShutdownReport, Started, Subtree, SubtreeMsg, TreeNode, started,
};
use super::{ActorKind, Backoff, Exit, Intensity, Restart, RestartWindow, Strategy, TreeWatch};
use crate::telemetry::metrics::Metrics;

/// The generic supervisor actor.
pub struct Supervisor;

/// How a supervisor behaves and what it supervises.
pub struct SupervisorArgs {
    /// Name used in logs, e.g. `providers`.
    pub id: String,
    /// What this supervisor is, for escalation metrics.
    pub kind: ActorKind,
    pub strategy: Strategy,
    pub intensity: Intensity,
    pub backoff: Backoff,
    /// Default per-child graceful stop timeout.
    pub child_shutdown_timeout: Duration,
    /// Children, in start order.
    pub children: Vec<ChildSpec>,
    pub metrics: Metrics,
    /// Bumped on every child start and stop.
    pub watch: TreeWatch,
}

/// The settings every supervisor of one runtime shares; [`SupervisorTemplate::args`] makes the
/// arguments of one supervisor from them.
#[derive(Clone)]
pub struct SupervisorTemplate {
    pub intensity: Intensity,
    pub backoff: Backoff,
    pub child_shutdown_timeout: Duration,
    pub metrics: Metrics,
    pub watch: TreeWatch,
}

impl SupervisorTemplate {
    pub fn args(
        &self,
        id: &str,
        kind: ActorKind,
        strategy: Strategy,
        children: Vec<ChildSpec>,
    ) -> SupervisorArgs {
        SupervisorArgs {
            id: id.to_string(),
            kind,
            strategy,
            intensity: self.intensity,
            backoff: self.backoff,
            child_shutdown_timeout: self.child_shutdown_timeout,
            children,
            metrics: self.metrics.clone(),
            watch: self.watch.clone(),
        }
    }
}

pub enum SupervisorMsg {
    /// Start children `index..=through` that are not running, if `index` is still at
    /// `generation` (a later stop or restart makes the message stale).
    StartChild {
        index: usize,
        through: usize,
        generation: u64,
    },
    /// Stop every child in reverse start order, then this supervisor, by `deadline`.
    Shutdown {
        deadline: Instant,
        reply: RpcReplyPort<ShutdownReport>,
    },
    /// Describe the children (recursively).
    Describe {
        deadline: Instant,
        reply: RpcReplyPort<Vec<TreeNode>>,
    },
}

pub struct SupervisorState {
    id: String,
    kind: ActorKind,
    strategy: Strategy,
    backoff: Backoff,
    default_timeout: Duration,
    metrics: Metrics,
    watch: TreeWatch,
    window: RestartWindow,
    children: Vec<Child>,
    shutting_down: bool,
}

struct Child {
    spec: ChildSpec,
    running: Option<Running>,
    generation: u64,
    restarts: u64,
    /// This child's own recent restarts, for its backoff.
    recent: RestartWindow,
    status: NodeStatus,
}

/// A running incarnation. Dropping it runs its exit hook (clears its slot).
struct Running {
    cell: ActorCell,
    subtree: Option<Arc<dyn Subtree>>,
    on_exit: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl From<Started> for Running {
    fn from(s: Started) -> Self {
        Self {
            cell: s.cell,
            subtree: s.subtree,
            on_exit: s.on_exit,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(f) = self.on_exit.take() {
            f();
        }
    }
}

/// Why a supervisor gave up.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("child {child} failed to start: {reason}")]
    StartFailed { child: String, reason: String },
    #[error("supervisor {supervisor} gave up: {source}")]
    IntensityExceeded {
        supervisor: String,
        source: super::IntensityExceeded,
    },
}

impl ChildSpec {
    /// A nested [`Supervisor`]. It gets the whole remaining shutdown budget by default, since
    /// it stops its own children with their own timeouts.
    pub fn supervisor<F>(
        id: impl Into<String>,
        kind: ActorKind,
        restart: Restart,
        slot: Option<Arc<Slot<SupervisorMsg>>>,
        make: F,
    ) -> Self
    where
        F: Fn() -> SupervisorArgs + Send + Sync + 'static,
    {
        Self::new(id, kind, restart, move |parent| {
            let args = make();
            let slot = slot.clone();
            Box::pin(async move {
                let (actor, _) = Actor::spawn_linked(None, Supervisor, args, parent).await?;
                let subtree: Arc<dyn Subtree> = Arc::new(actor.clone());
                Ok(started(actor, slot, Some(subtree)))
            })
        })
        .with_shutdown_timeout(Duration::MAX)
    }
}

impl SubtreeMsg for SupervisorMsg {
    fn describe(deadline: Instant, reply: RpcReplyPort<Vec<TreeNode>>) -> Self {
        Self::Describe { deadline, reply }
    }
    fn shutdown(deadline: Instant, reply: RpcReplyPort<ShutdownReport>) -> Self {
        Self::Shutdown { deadline, reply }
    }
}

/// `now + d`, saturating at `cap`.
fn deadline_within(d: Duration, cap: Instant) -> Instant {
    Instant::now().checked_add(d).map_or(cap, |t| t.min(cap))
}

/// Stops one child gracefully by `deadline`, killing it if it does not make it. Returns whether
/// it had to be killed.
pub(crate) async fn stop_child(
    cell: &ActorCell,
    subtree: Option<&Arc<dyn Subtree>>,
    deadline: Instant,
    report: &mut ShutdownReport,
    path: &str,
) -> bool {
    if let Some(subtree) = subtree {
        let inner = subtree.shutdown(deadline).await;
        report.merge(path, inner);
    } else {
        cell.stop(Some("shutdown".into()));
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let stopped = cell.wait(Some(remaining)).await.is_ok();
    if !stopped {
        tracing::warn!(child = %path, "did not stop in time; killing it");
        let _ = cell.kill_and_wait(Some(Duration::from_secs(1))).await;
        report.killed.push(path.to_string());
    }
    report.stopped.push(path.to_string());
    !stopped
}

impl SupervisorState {
    fn index_of(&self, cell: &ActorCell) -> Option<usize> {
        let id = cell.get_id();
        self.children
            .iter()
            .position(|c| c.running.as_ref().is_some_and(|r| r.cell.get_id() == id))
    }

    /// Starts children `from..=through` that are not running. A child that fails to start is
    /// handled like one that died.
    async fn start_range(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        from: usize,
        through: usize,
    ) -> Result<(), ActorProcessingErr> {
        for j in from..=through.min(self.children.len().saturating_sub(1)) {
            if self.children[j].running.is_some() {
                continue;
            }
            match self.children[j].spec.start(myself.get_cell()).await {
                Ok(started) => {
                    let child = &mut self.children[j];
                    child.running = Some(started.into());
                    child.status = NodeStatus::Running;
                    self.watch.bump();
                }
                Err(e) => {
                    tracing::error!(
                        supervisor = %self.id,
                        child = %self.children[j].spec.id,
                        error = %e,
                        "child failed to start"
                    );
                    self.child_down(myself, j, Exit::Failed(format!("start failed: {e}")))
                        .await?;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Decides what to do about child `index`, which just stopped with `exit`: nothing, a
    /// restart (scheduled after its backoff; at once when none is due), or escalation.
    async fn child_down(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        index: usize,
        exit: Exit,
    ) -> Result<(), ActorProcessingErr> {
        let child = &mut self.children[index];
        drop(child.running.take());
        self.watch.bump();
        if self.shutting_down {
            child.status = NodeStatus::Stopped;
            return Ok(());
        }
        let (id, kind) = (child.spec.id.clone(), child.spec.kind);
        if let Exit::Failed(reason) = &exit {
            // A Sentry event (ERROR), tagged with the kind of actor that failed.
            tracing::error!(
                tags.actor_kind = kind.as_str(),
                supervisor = %self.id,
                child = %id,
                error = %reason,
                "actor failed"
            );
        }
        if !child.spec.restart.applies_to(&exit) {
            tracing::info!(supervisor = %self.id, child = %id, kind = %kind, exit = %exit, "child stopped; not restarting it");
            child.status = NodeStatus::Stopped;
            return Ok(());
        }
        let now = Instant::now();
        if let Err(source) = self.window.record(now) {
            tracing::error!(
                tags.actor_kind = self.kind.as_str(),
                supervisor = %self.id,
                child = %id,
                kind = %kind,
                exit = %exit,
                "restart intensity exceeded ({source}); stopping all children and escalating"
            );
            self.metrics.supervisor_escalation(self.kind);
            return Err(Box::new(SupervisorError::IntensityExceeded {
                supervisor: self.id.clone(),
                source,
            }));
        }
        let recent = child.recent.recent(now);
        let _ = child.recent.record(now);
        let delay = self.backoff.delay(recent);

        let through = match self.strategy {
            Strategy::OneForOne => index,
            Strategy::RestForOne => {
                let last = self.children.len() - 1;
                let deadline = Instant::now() + self.default_timeout;
                for j in (index + 1..=last).rev() {
                    let sibling = &mut self.children[j];
                    if let Some(running) = sibling.running.take() {
                        sibling.generation += 1;
                        let mut report = ShutdownReport::default();
                        let path = sibling.spec.id.clone();
                        let timeout = sibling
                            .spec
                            .shutdown_timeout
                            .unwrap_or(self.default_timeout);
                        stop_child(
                            &running.cell,
                            running.subtree.as_ref(),
                            deadline_within(timeout, deadline),
                            &mut report,
                            &path,
                        )
                        .await;
                    }
                }
                last
            }
        };
        for j in index..=through {
            let c = &mut self.children[j];
            c.restarts += 1;
            c.generation += 1;
            c.status = NodeStatus::Restarting;
            self.metrics.actor_restart(c.spec.kind);
            tracing::warn!(
                supervisor = %self.id,
                child = %c.spec.id,
                kind = %c.spec.kind,
                exit = %exit,
                restarts = c.restarts,
                delay_ms = delay.as_millis() as u64,
                "restarting child"
            );
        }
        let generation = self.children[index].generation;
        let start = SupervisorMsg::StartChild {
            index,
            through,
            generation,
        };
        if delay.is_zero() {
            myself.cast(start)?;
        } else {
            myself.send_after(delay, move || start);
        }
        Ok(())
    }

    async fn describe(&self, deadline: Instant) -> Vec<TreeNode> {
        let mut out = Vec::with_capacity(self.children.len());
        for c in &self.children {
            let children = match c.running.as_ref().and_then(|r| r.subtree.as_ref()) {
                Some(subtree) => subtree.describe(deadline).await,
                None => Vec::new(),
            };
            out.push(TreeNode {
                id: c.spec.id.clone(),
                kind: c.spec.kind,
                status: c.status,
                restarts: c.restarts,
                children,
                cell: c.running.as_ref().map(|r| r.cell.clone()),
            });
        }
        out
    }

    /// Stops all children in reverse start order by `deadline`.
    async fn stop_all(&mut self, deadline: Instant) -> ShutdownReport {
        self.shutting_down = true;
        let mut report = ShutdownReport::default();
        for c in self.children.iter_mut().rev() {
            c.generation += 1;
            c.status = NodeStatus::Stopped;
            let Some(running) = c.running.take() else {
                continue;
            };
            let timeout = c.spec.shutdown_timeout.unwrap_or(self.default_timeout);
            let killed = stop_child(
                &running.cell,
                running.subtree.as_ref(),
                deadline_within(timeout, deadline),
                &mut report,
                &c.spec.id,
            )
            .await;
            tracing::debug!(supervisor = %self.id, child = %c.spec.id, killed, "child stopped");
        }
        self.watch.bump();
        report
    }
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            window: RestartWindow::new(args.intensity),
            id: args.id,
            kind: args.kind,
            strategy: args.strategy,
            backoff: args.backoff,
            default_timeout: args.child_shutdown_timeout,
            metrics: args.metrics,
            watch: args.watch,
            children: args
                .children
                .into_iter()
                .map(|spec| Child {
                    spec,
                    running: None,
                    generation: 0,
                    restarts: 0,
                    recent: RestartWindow::new(Intensity {
                        max_restarts: u32::MAX,
                        within: args.intensity.within,
                    }),
                    status: NodeStatus::Restarting,
                })
                .collect(),
            shutting_down: false,
        };
        for j in 0..state.children.len() {
            match state.children[j].spec.start(myself.get_cell()).await {
                Ok(started) => {
                    state.children[j].running = Some(started.into());
                    state.children[j].status = NodeStatus::Running;
                }
                Err(e) => {
                    // Stop what already started, newest first, then fail the start.
                    let deadline = Instant::now() + state.default_timeout;
                    state.stop_all(deadline).await;
                    return Err(Box::new(SupervisorError::StartFailed {
                        child: state.children[j].spec.id.clone(),
                        reason: e.to_string(),
                    }));
                }
            }
        }
        state.watch.bump();
        tracing::debug!(supervisor = %state.id, children = state.children.len(), "supervisor started");
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A plain `stop` (not `Shutdown`) still stops children in order.
        if !state.shutting_down {
            let budget = state
                .default_timeout
                .saturating_mul(u32::try_from(state.children.len()).unwrap_or(u32::MAX));
            let deadline = deadline_within(budget, Instant::now() + Duration::from_secs(3600));
            state.stop_all(deadline).await;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::StartChild {
                index,
                through,
                generation,
            } => {
                let current = state.children.get(index).map(|c| c.generation);
                if !state.shutting_down && current == Some(generation) {
                    state.start_range(&myself, index, through).await?;
                }
            }
            SupervisorMsg::Shutdown { deadline, reply } => {
                let report = state.stop_all(deadline).await;
                if !report.killed.is_empty() {
                    tracing::warn!(supervisor = %state.id, killed = ?report.killed, "shutdown had to kill children");
                }
                let _ = reply.send(report);
                myself.stop(Some("shutdown".into()));
            }
            SupervisorMsg::Describe { deadline, reply } => {
                let _ = reply.send(state.describe(deadline).await);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, exit) = match event {
            SupervisionEvent::ActorTerminated(cell, boxed_state, reason) => {
                // Drop the dead incarnation's state now: its guards (tasks, listeners) go first.
                drop(boxed_state);
                (cell, Exit::from_terminated(reason))
            }
            SupervisionEvent::ActorFailed(cell, err) => (cell, Exit::Failed(err.to_string())),
            _ => return Ok(()),
        };
        let Some(index) = state.index_of(&cell) else {
            // An incarnation we already replaced or stopped ourselves.
            return Ok(());
        };
        state.child_down(&myself, index, exit).await
    }
}
