//! Chaos under load: many users send messages in many chats while a chaos task kills actors of
//! every kind (conversation, rate limiter, provider, coordinator, platform session), one after
//! another, as fast as they come back. At the end every message has exactly one reply, with the
//! right content, in order within its chat; the restart counters match the kills; and the tree
//! is whole again.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::{PATIENCE, running_id, settle, start};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;
use tolmach::App;
use tolmach::domain::MessageKey;
use tolmach::supervision::{ActorKind, NodeStatus, TreeNode};
use tolmach::telemetry::metrics::Metric;
use tolmach_testkit::{Behavior, FakeProvider};

const CHATS: usize = 40;
const MESSAGES_PER_CHAT: usize = 25;

const TARGET_KINDS: [ActorKind; 5] = [
    ActorKind::Conversation,
    ActorKind::RateLimiter,
    ActorKind::Provider,
    ActorKind::Coordinator,
    ActorKind::Session,
];

/// Kills running actors of every kind, round-robin in a shuffled order, each kill followed by
/// waiting for the replacement, until told to stop. Returns the kills by kind.
async fn chaos(
    app: Arc<App>,
    mut stop: watch::Receiver<bool>,
    seed: u64,
) -> BTreeMap<ActorKind, u64> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kills: BTreeMap<ActorKind, u64> = BTreeMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    let mut order = TARGET_KINDS;
    'outer: loop {
        order.shuffle(&mut rng);
        for kind in order {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break 'outer,
            }
            let tree = app.tree().await;
            let candidates: Vec<(String, &TreeNode)> = tree
                .walk()
                .into_iter()
                .filter(|(_, n)| n.kind == kind && n.status == NodeStatus::Running)
                .collect();
            if candidates.is_empty() {
                continue;
            }
            let (path, node) = &candidates[rng.random_range(0..candidates.len())];
            let Some(cell) = node.cell.clone() else {
                continue;
            };
            if cell.get_status() != ractor::ActorStatus::Running {
                continue;
            }
            let old = cell.get_id();
            cell.kill();
            *kills.entry(kind).or_default() += 1;
            let (_, back) = app
                .wait_for_tree(PATIENCE, |t| {
                    running_id(t, path).is_some_and(|id| id != old)
                })
                .await;
            assert!(back, "{path} ({kind}) was not restarted");
        }
    }
    kills
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_actors_of_every_kind_under_load_loses_and_doubles_nothing() {
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("chaos seed: {seed} (rerun with CHAOS_SEED={seed})");

    let fake = FakeProvider::start().await.expect("fake provider");
    fake.set_behavior(Behavior::delayed(Duration::from_millis(3), Behavior::Echo));
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(
        &owned,
        &[
            ("TOLMACH_SUPERVISION_MAX_RESTARTS", "1000000"),
            ("TOLMACH_SUPERVISION_WITHIN", "1s"),
            ("TOLMACH_SUPERVISION_BACKOFF_MAX", "5ms"),
            ("TOLMACH_CONVERSATION_MAX_RESTARTS", "1000000"),
            ("TOLMACH_CONVERSATION_WITHIN", "1s"),
            ("TOLMACH_CONVERSATION_MAX_ATTEMPTS", "1000000"),
            ("TOLMACH_CONVERSATION_REQUEST_TIMEOUT", "10m"),
            ("TOLMACH_CONVERSATION_IDLE_TIMEOUT", "1h"),
            ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1000000"),
            ("TOLMACH_RATE_LIMIT_BURST", "1000000"),
            ("TOLMACH_RESILIENCE_BREAKER_MINIMUM_CALLS", "1000000"),
            ("TOLMACH_PROVIDERS_FAKE_BULKHEAD_MAX_CONCURRENT", "8"),
            ("TOLMACH_PROVIDERS_FAKE_BULKHEAD_MAX_WAIT", "10m"),
            ("TOLMACH_PROVIDERS_FAKE_BULKHEAD_MAX_WAITING", "1000"),
        ],
    ))
    .await;
    let app = Arc::new(app);

    let (stop_tx, stop_rx) = watch::channel(false);
    let chaos_task = tokio::spawn(chaos(app.clone(), stop_rx, seed));

    // Users: one per chat, sending at a steady pace without waiting for replies (open loop).
    let mut users = Vec::new();
    for c in 0..CHATS {
        let platform = platform.clone();
        users.push(tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(8));
            let mut sent = Vec::new();
            for i in 0..MESSAGES_PER_CHAT {
                pace.tick().await;
                let chat = format!("chat{c}");
                let key = platform.push(
                    &chat,
                    &format!("user{c}"),
                    &format!("/tr es,fr msg {c}.{i}"),
                );
                sent.push((key, format!("msg {c}.{i}")));
            }
            sent
        }));
    }
    let mut sent: Vec<(MessageKey, String)> = Vec::new();
    for u in users {
        sent.extend(u.await.expect("user task"));
    }
    let total = sent.len();
    let all_answered = platform
        .wait_for_replies(total, Duration::from_secs(120))
        .await;
    stop_tx.send_replace(true);
    let kills = chaos_task.await.expect("chaos task");
    assert!(
        all_answered,
        "only {} of {total} messages answered",
        platform.sent().len()
    );
    println!("kills by kind: {kills:?}");

    // Exactly one correct reply per message.
    let replies = platform.sent();
    let mut by_key: HashMap<&MessageKey, Vec<&str>> = HashMap::new();
    for r in &replies {
        by_key.entry(&r.in_reply_to).or_default().push(&r.text);
    }
    for (key, text) in &sent {
        let got = by_key.get(key).cloned().unwrap_or_default();
        assert_eq!(got.len(), 1, "{key} got {} replies: {got:?}", got.len());
        assert_eq!(
            got[0],
            format!("🇪🇸 Spanish: [es] {text}\n🇫🇷 French: [fr] {text}"),
            "{key}"
        );
    }
    assert_eq!(replies.len(), total, "no extra replies");
    // Killed calls gave their bulkhead slots back.
    settle(&app).await;
    let guard = app.guard("fake").expect("fake provider");
    assert_eq!(guard.bulkhead.in_use(), 0, "bulkhead slots leaked");

    // Order kept within each chat.
    for c in 0..CHATS {
        let chat = format!("chat{c}");
        let got: Vec<&MessageKey> = replies
            .iter()
            .filter(|r| *r.chat.chat == *chat)
            .map(|r| &r.in_reply_to)
            .collect();
        let want: Vec<&MessageKey> = sent
            .iter()
            .filter(|(k, _)| *k.chat.chat == *chat)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(got, want, "order in {chat}");
    }

    // Every kind was hit, and every kill shows up as exactly one restart of that kind.
    for kind in TARGET_KINDS {
        let killed = kills.get(&kind).copied().unwrap_or(0);
        assert!(killed > 0, "no {kind} was killed (seed {seed})");
        let restarts = app
            .metrics()
            .sample(Metric::ActorRestarts, &[("kind", kind.as_str())])
            .unwrap_or(0.0);
        assert_eq!(
            restarts, killed as f64,
            "{kind}: {killed} kills, {restarts} restarts"
        );
    }

    // The tree is whole again.
    let paths = [
        "root/metrics_reporter",
        "root/rate_limiter",
        "root/providers",
        "root/providers/demo",
        "root/providers/fake",
        "root/coordinator",
        "root/platforms",
        "root/platforms/memory",
    ];
    let (tree, whole) = app
        .wait_for_tree(PATIENCE, |t| {
            paths.iter().all(|p| running_id(t, p).is_some())
        })
        .await;
    assert!(whole, "tree not whole: {tree:#?}");

    // Nothing more arrives after a graceful shutdown.
    let app = Arc::try_unwrap(app).unwrap_or_else(|_| panic!("app still shared"));
    app.shutdown().await;
    assert_eq!(platform.sent().len(), total);
}
