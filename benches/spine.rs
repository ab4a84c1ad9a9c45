//! Measurements of the spine: restart latency, memory per idle conversation, end-to-end
//! throughput with the offline demo provider.
//!
//! Run: `cargo bench --bench spine` (figures and the machine they came from: docs/benchmarks.md).
//! These are measurements, not pass/fail tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::sync::{Mutex, mpsc, watch};
use tolmach::domain::{ChatKey, ChatKind, Inbound, MessageKey, Outbound, PlatformId, UserKey};
use tolmach::platforms::{Platform, SendError};
use tolmach::supervision::{
    ActorKind, Backoff, ChildSpec, Intensity, Restart, Slot, Strategy, Supervisor, SupervisorArgs,
    TreeWatch,
};
use tolmach::telemetry::metrics::Metrics;
use tolmach::{App, Config};

/// A platform fed from a channel that only counts replies (so it holds no memory of its own).
struct CountingPlatform {
    rx: Mutex<mpsc::UnboundedReceiver<Inbound>>,
    tx: std::sync::Mutex<Option<mpsc::UnboundedSender<Inbound>>>,
    sent: AtomicUsize,
    sent_watch: watch::Sender<usize>,
}

impl CountingPlatform {
    fn new() -> Arc<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Self {
            rx: Mutex::new(rx),
            tx: std::sync::Mutex::new(Some(tx)),
            sent: AtomicUsize::new(0),
            sent_watch: watch::Sender::new(0),
        })
    }

    fn push(&self, chat: usize, id: usize, text: &str) {
        let inbound = Inbound {
            key: MessageKey {
                chat: ChatKey::new(PlatformId::Memory, chat.to_string()),
                id: id.to_string().into(),
            },
            user: UserKey::new(PlatformId::Memory, chat.to_string()),
            chat_kind: ChatKind::Private,
            reply_to: None,
            text: text.into(),
            truncated: None,
            quoted: None,
            user_language: None,
            voice: None,
            unreadable: false,
            received_at: tokio::time::Instant::now(),
        };
        if let Some(tx) = self.tx.lock().expect("lock").as_ref() {
            let _ = tx.send(inbound);
        }
    }

    async fn wait_sent(&self, n: usize) {
        let mut rx = self.sent_watch.subscribe();
        let _ = rx.wait_for(|&c| c >= n).await;
    }
}

#[async_trait::async_trait]
impl Platform for CountingPlatform {
    fn id(&self) -> PlatformId {
        PlatformId::Memory
    }
    async fn recv(&self) -> Option<Inbound> {
        self.rx.lock().await.recv().await
    }
    async fn send(&self, _reply: &Outbound) -> Result<(), SendError> {
        let n = self.sent.fetch_add(1, Ordering::Relaxed) + 1;
        self.sent_watch.send_replace(n);
        Ok(())
    }
    fn close(&self) {
        self.tx.lock().expect("lock").take();
    }
}

fn config(env: &[(&str, &str)]) -> Config {
    let mut vars: std::collections::HashMap<String, String> = [
        ("TOLMACH_METRICS_ENABLED", "false"),
        ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("TOLMACH_RATE_LIMIT_BURST", "1000000"),
        ("TOLMACH_CONVERSATION_IDLE_TIMEOUT", "1h"),
        ("TOLMACH_USERS_DAILY_QUOTA", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let data = std::env::temp_dir().join(format!("tolmach-bench-spine-{}", std::process::id()));
    vars.insert(
        "TOLMACH_RUNTIME_DATA_DIR".into(),
        data.display().to_string(),
    );
    for (k, v) in env {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::load(None, &vars).expect("config")
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Idle;
impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

async fn restart_latency() {
    let slot: Arc<Slot<()>> = Slot::new();
    let spec = ChildSpec::worker(
        "w",
        ActorKind::Other,
        Restart::Permanent,
        Some(slot.clone()),
        || (Idle, ()),
    );
    let args = SupervisorArgs {
        id: "bench".into(),
        kind: ActorKind::Other,
        strategy: Strategy::OneForOne,
        intensity: Intensity {
            max_restarts: u32::MAX,
            within: Duration::from_secs(1),
        },
        backoff: Backoff {
            initial: Duration::ZERO,
            max: Duration::ZERO,
        },
        child_shutdown_timeout: Duration::from_secs(1),
        children: vec![spec],
        metrics: Metrics::new(),
        watch: TreeWatch::default(),
    };
    let (sup, _) = Actor::spawn(None, Supervisor, args)
        .await
        .expect("supervisor");
    let mut samples = Vec::new();
    for _ in 0..2000 {
        let actor = slot.get().expect("running");
        let old = actor.get_id();
        let t = Instant::now();
        actor.kill();
        slot.live(
            Some(old),
            tokio::time::Instant::now() + Duration::from_secs(10),
        )
        .await
        .expect("restarted");
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "restart latency (kill -> replacement reachable), 2000 kills: p50 {:?}, p99 {:?}, max {:?}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    );
    sup.stop(None);
}

/// Baseline: what one bare ractor actor (no state, no messages) costs.
async fn memory_per_bare_actor(n: usize) {
    let before = rss_bytes();
    let mut actors = Vec::with_capacity(n);
    for _ in 0..n {
        actors.push(Actor::spawn(None, Idle, ()).await.expect("spawn").0);
    }
    let after = rss_bytes();
    println!(
        "memory: {n} bare ractor actors, {:.0} bytes each (the floor under a conversation)",
        (after.saturating_sub(before)) as f64 / n as f64
    );
    for a in actors {
        a.stop(None);
    }
}

async fn memory_per_conversation(n: usize) {
    let platform = CountingPlatform::new();
    let app = App::start(config(&[]), vec![platform.clone()])
        .await
        .expect("app");
    // Warm up allocator and code paths with one chat.
    platform.push(usize::MAX, 0, "/tr es hello");
    platform.wait_sent(1).await;
    let before = rss_bytes();
    for chat in 0..n {
        platform.push(chat, 1, "/tr es hello");
    }
    platform.wait_sent(n + 1).await;
    app.ledger()
        .wait_idle(None, tokio::time::Instant::now() + Duration::from_secs(60))
        .await;
    let after = rss_bytes();
    let tree = app.tree().await;
    let conversations = tree
        .walk()
        .iter()
        .filter(|(_, node)| node.kind == ActorKind::Conversation)
        .count();
    println!(
        "memory: {conversations} idle conversations, RSS +{:.1} MiB, {:.0} bytes per conversation \
         (actor, mailbox, timers, ledger dedup entry, rate-limit bucket)",
        (after.saturating_sub(before)) as f64 / (1024.0 * 1024.0),
        (after.saturating_sub(before)) as f64 / n as f64
    );
    app.shutdown().await;
}

async fn throughput(chats: usize, per_chat: usize) {
    let platform = CountingPlatform::new();
    let app = App::start(config(&[]), vec![platform.clone()])
        .await
        .expect("app");
    let total = chats * per_chat;
    let t = Instant::now();
    for i in 0..per_chat {
        for chat in 0..chats {
            platform.push(
                chat,
                i,
                "translate good morning to Spanish, French and German",
            );
        }
    }
    platform.wait_sent(total).await;
    let took = t.elapsed();
    println!(
        "throughput: {total} three-language requests over {chats} chats in {:.2?}: {:.0} requests/s \
         (offline demo provider)",
        took,
        total as f64 / took.as_secs_f64()
    );
    app.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        restart_latency().await;
        memory_per_bare_actor(10_000).await;
        memory_per_conversation(10_000).await;
        throughput(1000, 20).await;
    });
}
