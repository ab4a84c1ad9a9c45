//! A platform session actor: one per platform. It pulls messages from its platform, records
//! them in the ledger and routes them to conversation actors, which it supervises (one per chat,
//! started on the chat's first message, restarted after an abnormal exit, stopped when idle).
//!
//! Data flow: an input *pump* task (owned by the session) awaits [`Platform::recv`], offers each
//! message to the ledger ([`Ledger::accept`]: new messages are recorded, redeliveries dropped)
//! and nudges the session with [`SessionMsg::Accepted`]; the session nudges (or starts) the
//! chat's conversation, which takes the message from the ledger.
//!
//! Kill safety: the pump holds the platform's *ingress lock* for its whole life, and a new pump
//! first takes the lock, then scans the ledger for chats with pending messages. So every message
//! accepted by a dying incarnation's pump is seen by the next incarnation, and a message is
//! never taken from the platform by two pumps at once.
//!
//! Idle conversations: the session, not each conversation, keeps the clock. Every quarter of
//! `conversation.idle_timeout` one sweep asks the conversations it has not routed anything to
//! for that long to check themselves ([`ConversationMsg::IdleCheck`]); a conversation with
//! nothing pending and nothing done for `idle_timeout` stops. One timer per session instead of
//! one per conversation: a tokio task and a timer-wheel entry less for each live chat.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::sync::{Mutex, watch};
use tokio::time::Instant;

use crate::actors::conversation::{
    Conversation, ConversationArgs, ConversationDeps, ConversationMsg,
};
use crate::delivery::{Accept, Ledger};
use crate::domain::ChatKey;
use crate::platforms::Platform;
use crate::supervision::{
    ActorKind, Backoff, Exit, Intensity, NodeStatus, RestartWindow, ShutdownReport, SubtreeMsg,
    TreeNode, TreeWatch,
};
use crate::task::OwnedTask;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::user_text;

pub enum SessionMsg {
    /// The pump accepted a message for `chat`.
    Accepted { chat: ChatKey },
    /// The platform's input ended for good.
    IngressClosed,
    /// Start the conversation of `chat` after its restart backoff (if still due).
    StartConversation { chat: ChatKey, generation: u64 },
    /// Stop taking input, stop every conversation, then this session, by `deadline`.
    Shutdown {
        deadline: Instant,
        reply: RpcReplyPort<ShutdownReport>,
    },
    /// Ask the conversations not routed to for `idle_timeout` whether they are idle.
    IdleSweep,
    /// The conversations, as tree nodes.
    Describe {
        deadline: Instant,
        reply: RpcReplyPort<Vec<TreeNode>>,
    },
}

pub struct SessionArgs {
    pub platform: Arc<dyn Platform>,
    /// Held by the live pump; see the module docs.
    pub ingress: Arc<Mutex<()>>,
    /// Set once the platform's input has ended.
    pub exhausted: Arc<watch::Sender<bool>>,
    pub deps: Arc<ConversationDeps>,
    /// Conversation restarts tolerated before the session gives up.
    pub intensity: Intensity,
    pub backoff: Backoff,
    /// How long conversations get to stop when the session stops.
    pub stop_timeout: Duration,
    pub metrics: Metrics,
    /// Bumped when a conversation starts or stops.
    pub watch: TreeWatch,
}

struct Conv {
    actor: ActorRef<ConversationMsg>,
    started: u64,
    /// When the session last nudged it (or started it).
    last_routed: Instant,
}

#[derive(Default)]
struct ChatRestarts {
    count: u64,
    recent: Option<RestartWindow>,
    generation: u64,
    scheduled: bool,
}

pub struct SessionState {
    args: SessionArgs,
    conversations: HashMap<ChatKey, Conv>,
    by_id: HashMap<ActorId, ChatKey>,
    restarts: HashMap<ChatKey, ChatRestarts>,
    window: RestartWindow,
    starts: u64,
    pump: Option<OwnedTask>,
    /// Sends [`SessionMsg::IdleSweep`] periodically.
    sweeper: Option<OwnedTask>,
    shutting_down: bool,
}

/// See the module docs.
pub struct Session;

/// Why a session gave up.
#[derive(Debug, thiserror::Error)]
#[error("session {platform} gave up: {source}")]
pub struct SessionGaveUp {
    platform: String,
    source: crate::supervision::IntensityExceeded,
}

async fn pump(
    session: ActorRef<SessionMsg>,
    platform: Arc<dyn Platform>,
    ledger: Arc<Ledger>,
    ingress: Arc<Mutex<()>>,
    exhausted: Arc<watch::Sender<bool>>,
    log_user_text: bool,
) {
    let _ingress = ingress.lock_owned().await;
    for chat in ledger.pending_chats(platform.id()) {
        if session.cast(SessionMsg::Accepted { chat }).is_err() {
            return;
        }
    }
    loop {
        let Some(inbound) = platform.recv().await else {
            exhausted.send_replace(true);
            let _ = session.cast(SessionMsg::IngressClosed);
            return;
        };
        let chat = inbound.key.chat.clone();
        let key = inbound.key.clone();
        tracing::debug!(corr = %key.corr(), key = %key, text = %user_text(log_user_text, &inbound.text), "received");
        match ledger.accept(inbound) {
            Accept::Accepted => {
                tracing::debug!(corr = %key.corr(), key = %key, "accepted");
                if session.cast(SessionMsg::Accepted { chat }).is_err() {
                    return;
                }
            }
            Accept::Duplicate => {
                tracing::debug!(corr = %key.corr(), key = %key, "duplicate ignored")
            }
        }
    }
}

impl SessionState {
    fn platform(&self) -> &'static str {
        self.args.platform.id().as_str()
    }

    async fn route(&mut self, myself: &ActorRef<SessionMsg>, chat: ChatKey) {
        if let Some(conv) = self.conversations.get_mut(&chat) {
            if conv.actor.cast(ConversationMsg::Work).is_ok() {
                conv.last_routed = Instant::now();
                return;
            }
            // It is stopping (killed, failed or idle). Start a fresh one now; its termination
            // event will still arrive, and a kill or failure is counted as a restart then.
            self.conversations.remove(&chat);
        }
        if self.restarts.get(&chat).is_some_and(|r| r.scheduled) {
            return; // A restart is due after its backoff; it will pick the message up.
        }
        self.spawn(myself, chat).await;
    }

    async fn spawn(&mut self, myself: &ActorRef<SessionMsg>, chat: ChatKey) {
        let args = ConversationArgs {
            chat: chat.clone(),
            deps: self.args.deps.clone(),
        };
        match Actor::spawn_linked(None, Conversation, args, myself.get_cell()).await {
            Ok((actor, _)) => {
                self.starts += 1;
                self.by_id.insert(actor.get_id(), chat.clone());
                self.conversations.insert(
                    chat,
                    Conv {
                        actor,
                        started: self.starts,
                        last_routed: Instant::now(),
                    },
                );
                self.args.watch.bump();
            }
            Err(e) => {
                // Its messages stay pending; try again after a backoff.
                tracing::error!(platform = self.platform(), %chat, error = %e, "cannot start conversation");
                let r = self.restarts.entry(chat.clone()).or_default();
                r.generation += 1;
                r.scheduled = true;
                let generation = r.generation;
                myself.send_after(self.args.backoff.max, move || {
                    SessionMsg::StartConversation { chat, generation }
                });
            }
        }
    }

    async fn conversation_down(
        &mut self,
        myself: &ActorRef<SessionMsg>,
        id: ActorId,
        exit: Exit,
    ) -> Result<(), ActorProcessingErr> {
        let Some(chat) = self.by_id.remove(&id) else {
            return Ok(());
        };
        // A message for the chat found it stopping and started its replacement already.
        let replaced = match self.conversations.get(&chat) {
            Some(c) if c.actor.get_id() == id => {
                self.conversations.remove(&chat);
                false
            }
            Some(_) => true,
            None => false,
        };
        self.args.watch.bump();
        if self.shutting_down {
            return Ok(());
        }
        if !exit.is_abnormal() {
            if replaced {
                return Ok(());
            }
            self.restarts.remove(&chat);
            if self.args.deps.ledger.has_pending(&chat) && !self.conversations.contains_key(&chat) {
                self.spawn(myself, chat).await;
            }
            return Ok(());
        }
        if let Exit::Failed(reason) = &exit {
            tracing::error!(
                tags.actor_kind = ActorKind::Conversation.as_str(),
                tags.platform = self.platform(),
                %chat,
                error = %reason,
                "actor failed"
            );
        }
        let now = Instant::now();
        if let Err(source) = self.window.record(now) {
            tracing::error!(
                tags.actor_kind = ActorKind::Session.as_str(),
                tags.platform = self.platform(),
                platform = self.platform(),
                %chat,
                exit = %exit,
                "conversation restart intensity exceeded ({source}); the session gives up"
            );
            self.args.metrics.supervisor_escalation(ActorKind::Session);
            return Err(Box::new(SessionGaveUp {
                platform: self.platform().to_string(),
                source,
            }));
        }
        let within = self.args.intensity.within;
        let platform = self.platform();
        let r = self.restarts.entry(chat.clone()).or_default();
        let recent = r.recent.get_or_insert_with(|| {
            RestartWindow::new(Intensity {
                max_restarts: u32::MAX,
                within,
            })
        });
        let delay = self.args.backoff.delay(recent.recent(now));
        let _ = recent.record(now);
        r.count += 1;
        self.args.metrics.actor_restart(ActorKind::Conversation);
        tracing::warn!(
            platform,
            %chat,
            exit = %exit,
            restarts = r.count,
            delay_ms = delay.as_millis() as u64,
            "restarting conversation"
        );
        if replaced {
            return Ok(()); // The replacement is running.
        }
        if delay.is_zero() {
            if !self.conversations.contains_key(&chat) {
                self.spawn(myself, chat).await;
            }
        } else {
            r.generation += 1;
            r.scheduled = true;
            let generation = r.generation;
            myself.send_after(delay, move || SessionMsg::StartConversation {
                chat,
                generation,
            });
        }
        Ok(())
    }

    /// See the module docs. A conversation that is still busy, or was active more recently
    /// than the session knows, stays; the next sweep asks again.
    fn sweep_idle(&self) {
        let timeout = self.args.deps.config.idle_timeout;
        let now = Instant::now();
        for conv in self.conversations.values() {
            if now.saturating_duration_since(conv.last_routed) >= timeout {
                let _ = conv.actor.cast(ConversationMsg::IdleCheck);
            }
        }
    }

    fn describe(&self) -> Vec<TreeNode> {
        let mut convs: Vec<(&ChatKey, &Conv)> = self.conversations.iter().collect();
        convs.sort_by_key(|(_, c)| c.started);
        let mut nodes: Vec<TreeNode> = convs
            .into_iter()
            .map(|(chat, c)| TreeNode {
                id: chat.chat.to_string(),
                kind: ActorKind::Conversation,
                status: NodeStatus::Running,
                restarts: self.restarts.get(chat).map_or(0, |r| r.count),
                children: Vec::new(),
                cell: Some(c.actor.get_cell()),
            })
            .collect();
        for (chat, r) in &self.restarts {
            if r.scheduled && !self.conversations.contains_key(chat) {
                nodes.push(TreeNode {
                    id: chat.chat.to_string(),
                    kind: ActorKind::Conversation,
                    status: NodeStatus::Restarting,
                    restarts: r.count,
                    children: Vec::new(),
                    cell: None,
                });
            }
        }
        nodes
    }

    /// Stops input and every conversation (newest first, all at once), by `deadline`.
    async fn stop_all(&mut self, deadline: Instant) -> ShutdownReport {
        self.shutting_down = true;
        self.pump = None;
        self.sweeper = None;
        let mut convs: Vec<(ChatKey, Conv)> = self.conversations.drain().collect();
        self.by_id.clear();
        convs.sort_by_key(|(_, c)| std::cmp::Reverse(c.started));
        for (_, c) in &convs {
            c.actor.stop(Some("shutdown".into()));
        }
        let mut report = ShutdownReport::default();
        for (chat, c) in convs {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if c.actor.wait(Some(remaining)).await.is_err() {
                tracing::warn!(platform = self.platform(), %chat, "conversation did not stop in time; killing it");
                let _ = c.actor.kill_and_wait(Some(Duration::from_secs(1))).await;
                report.killed.push(chat.chat.to_string());
            }
            report.stopped.push(chat.chat.to_string());
        }
        report
    }
}

impl Actor for Session {
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = SessionArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SessionArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let pump = OwnedTask::spawn(pump(
            myself.clone(),
            args.platform.clone(),
            args.deps.ledger.clone(),
            args.ingress.clone(),
            args.exhausted.clone(),
            args.deps.log_user_text,
        ));
        let period = (args.deps.config.idle_timeout / 4).max(Duration::from_millis(1));
        let sweeper = OwnedTask::spawn({
            let session = myself.clone();
            async move {
                // `sleep`, not an interval: it takes any period (an interval's deadline
                // arithmetic would overflow on an absurdly long `idle_timeout`).
                loop {
                    tokio::time::sleep(period).await;
                    if session.cast(SessionMsg::IdleSweep).is_err() {
                        return;
                    }
                }
            }
        });
        tracing::debug!(platform = args.platform.id().as_str(), "session started");
        Ok(SessionState {
            window: RestartWindow::new(args.intensity),
            args,
            conversations: HashMap::new(),
            by_id: HashMap::new(),
            restarts: HashMap::new(),
            starts: 0,
            pump: Some(pump),
            sweeper: Some(sweeper),
            shutting_down: false,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !state.shutting_down {
            let deadline = Instant::now() + state.args.stop_timeout;
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
            SessionMsg::Accepted { chat } => {
                if !state.shutting_down {
                    state.route(&myself, chat).await;
                }
            }
            SessionMsg::IngressClosed => {
                tracing::info!(platform = state.platform(), "platform input closed");
            }
            SessionMsg::StartConversation { chat, generation } => {
                let due = state
                    .restarts
                    .get_mut(&chat)
                    .filter(|r| r.scheduled && r.generation == generation);
                if let Some(r) = due {
                    r.scheduled = false;
                    if !state.shutting_down && !state.conversations.contains_key(&chat) {
                        state.spawn(&myself, chat).await;
                    }
                }
            }
            SessionMsg::Shutdown { deadline, reply } => {
                let report = state.stop_all(deadline).await;
                let _ = reply.send(report);
                myself.stop(Some("shutdown".into()));
            }
            SessionMsg::IdleSweep => {
                if !state.shutting_down {
                    state.sweep_idle();
                }
            }
            SessionMsg::Describe { reply, .. } => {
                let _ = reply.send(state.describe());
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
        let (id, exit) = match event {
            SupervisionEvent::ActorTerminated(cell, boxed_state, reason) => {
                drop(boxed_state);
                (cell.get_id(), Exit::from_terminated(reason))
            }
            SupervisionEvent::ActorFailed(cell, err) => {
                (cell.get_id(), Exit::Failed(err.to_string()))
            }
            _ => return Ok(()),
        };
        state.conversation_down(&myself, id, exit).await
    }
}

impl SubtreeMsg for SessionMsg {
    fn describe(deadline: Instant, reply: RpcReplyPort<Vec<TreeNode>>) -> Self {
        Self::Describe { deadline, reply }
    }
    fn shutdown(deadline: Instant, reply: RpcReplyPort<ShutdownReport>) -> Self {
        Self::Shutdown { deadline, reply }
    }
}
