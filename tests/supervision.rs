//! The supervisor on its own, with probe actors: strategies, restart kinds, intensity and
//! escalation, backoff, ordered shutdown with per-child timeouts, and restart-proof calls.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use tolmach::supervision::{
    ActorKind, Backoff, ChildSpec, Intensity, NodeStatus, Restart, Slot, Strategy, Subtree,
    Supervisor, SupervisorArgs, SupervisorMsg, TreeNode, TreeWatch, call,
};
use tolmach::telemetry::metrics::{Metric, Metrics};

const PATIENCE: Duration = Duration::from_secs(30);

type Log = Arc<Mutex<Vec<String>>>;

/// A probe actor: logs its lifecycle, can be told to stop, hang in `post_stop`, or hang on its
/// first incarnation's `Ask`.
struct Probe;

#[derive(Clone)]
struct ProbeArgs {
    name: &'static str,
    log: Log,
    /// How long `post_stop` takes.
    stop_delay: Duration,
    incarnations: Arc<AtomicU32>,
    /// Signalled whenever an `Ask` arrives.
    asked: Arc<tokio::sync::Notify>,
}

enum ProbeMsg {
    /// Answer with the incarnation number; the first incarnation never answers.
    Ask(RpcReplyPort<u32>),
    /// Stop normally.
    Finish,
}

impl Actor for Probe {
    type Msg = ProbeMsg;
    type State = (ProbeArgs, u32);
    type Arguments = ProbeArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<ProbeMsg>,
        args: ProbeArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let n = args.incarnations.fetch_add(1, Ordering::SeqCst) + 1;
        args.log
            .lock()
            .expect("log")
            .push(format!("start {}", args.name));
        Ok((args, n))
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ProbeMsg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        tokio::time::sleep(state.0.stop_delay).await;
        state
            .0
            .log
            .lock()
            .expect("log")
            .push(format!("stop {}", state.0.name));
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ProbeMsg>,
        msg: ProbeMsg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ProbeMsg::Ask(reply) => {
                state.0.asked.notify_one();
                if state.1 == 1 {
                    std::future::pending::<()>().await;
                }
                let _ = reply.send(state.1);
            }
            ProbeMsg::Finish => myself.stop(None),
        }
        Ok(())
    }
}

struct Fixture {
    log: Log,
    slots: Vec<Arc<Slot<ProbeMsg>>>,
    metrics: Metrics,
    watch: TreeWatch,
    asked: Arc<tokio::sync::Notify>,
}

impl Fixture {
    fn new(n: usize) -> Self {
        Self {
            log: Log::default(),
            slots: (0..n).map(|_| Slot::new()).collect(),
            metrics: Metrics::new(),
            watch: TreeWatch::default(),
            asked: Arc::new(tokio::sync::Notify::new()),
        }
    }

    fn spec(
        &self,
        i: usize,
        name: &'static str,
        restart: Restart,
        stop_delay: Duration,
    ) -> ChildSpec {
        let args = ProbeArgs {
            name,
            log: self.log.clone(),
            stop_delay,
            incarnations: Arc::new(AtomicU32::new(0)),
            asked: self.asked.clone(),
        };
        ChildSpec::worker(
            name,
            ActorKind::Other,
            restart,
            Some(self.slots[i].clone()),
            move || (Probe, args.clone()),
        )
    }

    fn args(
        &self,
        strategy: Strategy,
        max_restarts: u32,
        children: Vec<ChildSpec>,
    ) -> SupervisorArgs {
        SupervisorArgs {
            id: "test".into(),
            kind: ActorKind::Other,
            strategy,
            intensity: Intensity {
                max_restarts,
                within: Duration::from_secs(60),
            },
            backoff: Backoff {
                initial: Duration::from_millis(1),
                max: Duration::from_millis(5),
            },
            child_shutdown_timeout: Duration::from_secs(5),
            children,
            metrics: self.metrics.clone(),
            watch: self.watch.clone(),
        }
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }

    /// Waits until the supervisor's children satisfy `pred`.
    async fn wait(
        &self,
        sup: &ActorRef<SupervisorMsg>,
        mut pred: impl FnMut(&[TreeNode]) -> bool,
    ) -> Vec<TreeNode> {
        let deadline = Instant::now() + PATIENCE;
        let mut changes = self.watch.subscribe();
        loop {
            changes.mark_unchanged();
            let nodes = sup.describe(deadline).await;
            if pred(&nodes) {
                return nodes;
            }
            tokio::time::timeout_at(deadline, changes.changed())
                .await
                .expect("tree reached the expected state in time")
                .expect("watch open");
        }
    }
}

fn id_of(nodes: &[TreeNode], name: &str) -> Option<ractor::ActorId> {
    nodes
        .iter()
        .find(|n| n.id == name)
        .filter(|n| n.status == NodeStatus::Running)
        .and_then(TreeNode::actor_id)
}

#[tokio::test]
async fn one_for_one_restarts_only_the_dead_child_and_its_slot_follows() {
    let f = Fixture::new(3);
    let d = Duration::ZERO;
    let children = vec![
        f.spec(0, "a", Restart::Permanent, d),
        f.spec(1, "b", Restart::Permanent, d),
        f.spec(2, "c", Restart::Permanent, d),
    ];
    let (sup, _) = Actor::spawn(None, Supervisor, f.args(Strategy::OneForOne, 5, children))
        .await
        .expect("starts");
    let before = sup.describe(Instant::now() + PATIENCE).await;
    let old_b = id_of(&before, "b").expect("b running");
    f.slots[1].get().expect("slot filled").kill();
    let after = f
        .wait(&sup, |n| id_of(n, "b").is_some_and(|id| id != old_b))
        .await;
    assert_eq!(id_of(&after, "a"), id_of(&before, "a"));
    assert_eq!(id_of(&after, "c"), id_of(&before, "c"));
    assert_eq!(f.slots[1].get().map(|r| r.get_id()), id_of(&after, "b"));
    assert_eq!(
        after.iter().find(|n| n.id == "b").map(|n| n.restarts),
        Some(1)
    );
    assert_eq!(
        f.metrics
            .sample(Metric::ActorRestarts, &[("kind", "other")]),
        Some(1.0)
    );
    sup.shutdown(Instant::now() + PATIENCE).await;
}

#[tokio::test]
async fn rest_for_one_restarts_the_dead_child_and_those_started_after_it() {
    let f = Fixture::new(3);
    let d = Duration::ZERO;
    let children = vec![
        f.spec(0, "a", Restart::Permanent, d),
        f.spec(1, "b", Restart::Permanent, d),
        f.spec(2, "c", Restart::Permanent, d),
    ];
    let (sup, _) = Actor::spawn(None, Supervisor, f.args(Strategy::RestForOne, 5, children))
        .await
        .expect("starts");
    let before = sup.describe(Instant::now() + PATIENCE).await;
    let (old_b, old_c) = (id_of(&before, "b"), id_of(&before, "c"));
    f.slots[1].get().expect("b").kill();
    let after = f
        .wait(&sup, |n| {
            id_of(n, "b").is_some_and(|id| Some(id) != old_b)
                && id_of(n, "c").is_some_and(|id| Some(id) != old_c)
        })
        .await;
    assert_eq!(id_of(&after, "a"), id_of(&before, "a"), "a is left alone");
    // c was stopped gracefully (its post_stop ran), then b and c started again, in order.
    let log = f.log();
    let tail: Vec<&str> = log.iter().skip(3).map(String::as_str).collect();
    assert_eq!(tail, ["stop c", "start b", "start c"], "{log:?}");
    sup.shutdown(Instant::now() + PATIENCE).await;
}

#[tokio::test]
async fn exceeding_the_intensity_escalates_to_the_parent() {
    let f = Fixture::new(1);
    let inner_child = f.spec(0, "worker", Restart::Permanent, Duration::ZERO);
    let inner_args = {
        let (metrics, watch) = (f.metrics.clone(), f.watch.clone());
        move || SupervisorArgs {
            id: "inner".into(),
            kind: ActorKind::ProviderSupervisor,
            strategy: Strategy::OneForOne,
            intensity: Intensity {
                max_restarts: 2,
                within: Duration::from_secs(60),
            },
            backoff: Backoff {
                initial: Duration::ZERO,
                max: Duration::ZERO,
            },
            child_shutdown_timeout: Duration::from_secs(5),
            children: vec![inner_child.clone()],
            metrics: metrics.clone(),
            watch: watch.clone(),
        }
    };
    let inner = ChildSpec::supervisor(
        "inner",
        ActorKind::ProviderSupervisor,
        Restart::Permanent,
        None,
        inner_args,
    );
    let (outer, _) = Actor::spawn(
        None,
        Supervisor,
        f.args(Strategy::OneForOne, 5, vec![inner]),
    )
    .await
    .expect("starts");
    let first_inner = id_of(&outer.describe(Instant::now() + PATIENCE).await, "inner");
    // Three deaths within the window: two restarts are tolerated, the third escalates.
    for round in 1..=3 {
        let victim = f.slots[0].get().expect("worker running");
        let old = victim.get_id();
        victim.kill();
        f.wait(&outer, |n| {
            let worker = n
                .iter()
                .find(|c| c.id == "inner")
                .and_then(|i| id_of(&i.children, "worker"));
            worker.is_some_and(|id| id != old)
        })
        .await;
        let inner_now = id_of(&outer.describe(Instant::now() + PATIENCE).await, "inner");
        if round < 3 {
            assert_eq!(
                inner_now, first_inner,
                "round {round}: inner supervisor kept"
            );
        } else {
            assert_ne!(
                inner_now, first_inner,
                "inner supervisor replaced after escalating"
            );
        }
    }
    assert_eq!(
        f.metrics.sample(
            Metric::SupervisorEscalations,
            &[("kind", "provider_supervisor")]
        ),
        Some(1.0)
    );
    assert_eq!(
        f.metrics
            .sample(Metric::ActorRestarts, &[("kind", "provider_supervisor")]),
        Some(1.0)
    );
    outer.shutdown(Instant::now() + PATIENCE).await;
}

#[tokio::test]
async fn a_root_that_gives_up_stops() {
    let f = Fixture::new(1);
    let child = f.spec(0, "worker", Restart::Permanent, Duration::ZERO);
    let (sup, handle) = Actor::spawn(
        None,
        Supervisor,
        f.args(Strategy::OneForOne, 0, vec![child]),
    )
    .await
    .expect("starts");
    f.slots[0].get().expect("worker").kill();
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("root stops")
        .expect("joins");
    assert_eq!(sup.get_status(), ractor::ActorStatus::Stopped);
    assert!(
        f.slots[0].get().is_none(),
        "slot cleared with the dead supervisor"
    );
}

#[tokio::test]
async fn restart_kinds_are_respected() {
    let f = Fixture::new(3);
    let d = Duration::ZERO;
    let children = vec![
        f.spec(0, "permanent", Restart::Permanent, d),
        f.spec(1, "transient", Restart::Transient, d),
        f.spec(2, "temporary", Restart::Temporary, d),
    ];
    let (sup, _) = Actor::spawn(None, Supervisor, f.args(Strategy::OneForOne, 10, children))
        .await
        .expect("starts");
    let before = sup.describe(Instant::now() + PATIENCE).await;
    // A normal stop: the permanent child comes back, the transient one does not.
    f.slots[0]
        .get()
        .expect("p")
        .cast(ProbeMsg::Finish)
        .expect("cast");
    f.slots[1]
        .get()
        .expect("t")
        .cast(ProbeMsg::Finish)
        .expect("cast");
    // A kill: the temporary child does not come back.
    f.slots[2].get().expect("tmp").kill();
    let old_p = id_of(&before, "permanent");
    let after = f
        .wait(&sup, |n| {
            id_of(n, "permanent").is_some_and(|id| Some(id) != old_p)
                && n.iter().filter(|c| c.status == NodeStatus::Stopped).count() == 2
        })
        .await;
    assert!(f.slots[1].get().is_none() && f.slots[2].get().is_none());
    assert_eq!(after.iter().map(|n| n.restarts).sum::<u64>(), 1);
    sup.shutdown(Instant::now() + PATIENCE).await;
}

#[tokio::test]
async fn repeated_restarts_back_off() {
    let f = Fixture::new(1);
    let child = f.spec(0, "w", Restart::Permanent, Duration::ZERO);
    let mut args = f.args(Strategy::OneForOne, 10, vec![child]);
    args.backoff = Backoff {
        initial: Duration::from_secs(3600),
        max: Duration::from_secs(3600),
    };
    let (sup, _) = Actor::spawn(None, Supervisor, args).await.expect("starts");
    // First restart: immediate.
    let first = f.slots[0].get().expect("w").get_id();
    f.slots[0].get().expect("w").kill();
    let nodes = f
        .wait(&sup, |n| id_of(n, "w").is_some_and(|id| id != first))
        .await;
    let second = id_of(&nodes, "w").expect("running");
    // Second restart within the window: held back by the backoff.
    f.slots[0].get().expect("w").kill();
    let nodes = f
        .wait(&sup, |n| {
            n.iter()
                .any(|c| c.id == "w" && c.status == NodeStatus::Restarting)
        })
        .await;
    assert_ne!(id_of(&nodes, "w"), Some(second));
    assert!(
        f.slots[0].get().is_none(),
        "not reachable while backing off"
    );
    sup.shutdown(Instant::now() + PATIENCE).await;
}

#[tokio::test]
async fn shutdown_stops_children_in_reverse_order_and_kills_the_slow_one() {
    let f = Fixture::new(3);
    let children = vec![
        f.spec(0, "a", Restart::Permanent, Duration::ZERO),
        f.spec(1, "b", Restart::Permanent, Duration::from_secs(3600))
            .with_shutdown_timeout(Duration::from_millis(50)),
        f.spec(2, "c", Restart::Permanent, Duration::ZERO),
    ];
    let (sup, handle) = Actor::spawn(None, Supervisor, f.args(Strategy::OneForOne, 5, children))
        .await
        .expect("starts");
    let report = sup.shutdown(Instant::now() + PATIENCE).await;
    assert_eq!(report.stopped, ["c", "b", "a"]);
    assert_eq!(report.killed, ["b"]);
    let log = f.log();
    assert_eq!(
        log[3..],
        ["stop c", "stop a"],
        "b was killed before its post_stop finished: {log:?}"
    );
    tokio::time::timeout(PATIENCE, handle)
        .await
        .expect("supervisor stops")
        .expect("joins");
}

#[tokio::test]
async fn shutdown_respects_the_overall_deadline() {
    let f = Fixture::new(2);
    let children = vec![
        f.spec(0, "a", Restart::Permanent, Duration::from_secs(3600)),
        f.spec(1, "b", Restart::Permanent, Duration::from_secs(3600)),
    ];
    let (sup, _) = Actor::spawn(None, Supervisor, f.args(Strategy::OneForOne, 5, children))
        .await
        .expect("starts");
    // Each child may take 5 s, but the whole shutdown has 100 ms: both are killed.
    let report = sup
        .shutdown(Instant::now() + Duration::from_millis(100))
        .await;
    assert_eq!(report.killed, ["b", "a"]);
}

#[tokio::test]
async fn a_call_is_answered_by_the_replacement_of_an_actor_that_died_holding_it() {
    let f = Fixture::new(1);
    let child = f.spec(0, "w", Restart::Permanent, Duration::ZERO);
    let (sup, _) = Actor::spawn(
        None,
        Supervisor,
        f.args(Strategy::OneForOne, 5, vec![child]),
    )
    .await
    .expect("starts");
    let slot = f.slots[0].clone();
    let first = slot.get().expect("w");
    let asker = tokio::spawn({
        let slot = slot.clone();
        async move { call(&slot, Instant::now() + PATIENCE, ProbeMsg::Ask).await }
    });
    // The first incarnation holds the request forever; kill it while it does.
    tokio::time::timeout(PATIENCE, f.asked.notified())
        .await
        .expect("the first incarnation received the request");
    first.kill();
    let answer = asker
        .await
        .expect("joins")
        .expect("answered before the deadline");
    assert_eq!(answer, 2, "answered by the second incarnation");
    sup.shutdown(Instant::now() + PATIENCE).await;
}
