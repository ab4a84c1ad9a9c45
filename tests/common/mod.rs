//! Shared helpers for the integration tests: a configuration for tests, a runtime on the
//! in-memory platform, tree navigation, and a record of what a platform hands the runtime ([`Received`]).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorId;
use tokio::sync::watch;
use tolmach::delivery::pacing::Pacing;
use tolmach::domain::{Inbound, MessageKey, Outbound, PlatformId, Voice};
use tolmach::platforms::memory::MemoryPlatform;
use tolmach::platforms::{MediaError, Platform, SendError};
use tolmach::supervision::{ChildSpec, NodeStatus, SupervisorTemplate, TreeNode};
use tolmach::{App, Config};

/// Long enough for a slow CI machine; a healthy run takes milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A fresh directory for one test's durable state.
pub fn fresh_data_dir(tag: &str) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tolmach-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The built-in defaults, with the metrics listener on a free port, a fresh data directory and
/// no daily quota, overridden by `env`.
pub fn config(env: &[(&str, &str)]) -> Config {
    let mut vars: HashMap<String, String> = HashMap::from([
        (
            "TOLMACH_RUNTIME_DATA_DIR".into(),
            fresh_data_dir("test").display().to_string(),
        ),
        ("TOLMACH_USERS_DAILY_QUOTA".into(), "0".into()),
        ("TOLMACH_METRICS_ADDR".into(), "127.0.0.1:0".into()),
        ("TOLMACH_METRICS_SAMPLE_INTERVAL".into(), "50ms".into()),
        ("TOLMACH_RUNTIME_SHUTDOWN_GRACE".into(), "10s".into()),
        ("TOLMACH_SUPERVISION_BACKOFF_INITIAL".into(), "1ms".into()),
        ("TOLMACH_SUPERVISION_BACKOFF_MAX".into(), "10ms".into()),
    ]);
    for (k, v) in env {
        vars.insert((*k).into(), (*v).into());
    }
    Config::load(None, &vars).expect("test configuration is valid")
}

/// A runtime on one in-memory platform.
pub async fn start(env: &[(&str, &str)]) -> (App, Arc<MemoryPlatform>) {
    start_with(config(env)).await
}

pub async fn start_with(config: Config) -> (App, Arc<MemoryPlatform>) {
    let platform = Arc::new(MemoryPlatform::new());
    let app = App::start(config, vec![platform.clone()])
        .await
        .expect("runtime starts");
    (app, platform)
}

/// The actor id at `path`, if it is running.
pub fn running_id(tree: &TreeNode, path: &str) -> Option<ActorId> {
    tree.find(path)
        .filter(|n| n.status == NodeStatus::Running)
        .and_then(TreeNode::actor_id)
}

/// Kills the actor at `path` and waits until its supervisor has a new incarnation running.
/// Returns the new actor id.
pub async fn kill_and_wait_restart(app: &App, path: &str) -> ActorId {
    let tree = app.tree().await;
    let node = tree.find(path).unwrap_or_else(|| panic!("no node {path}"));
    let cell = node
        .cell
        .clone()
        .unwrap_or_else(|| panic!("{path} is not running"));
    let old = cell.get_id();
    cell.kill();
    let (tree, ok) = app
        .wait_for_tree(PATIENCE, |t| {
            running_id(t, path).is_some_and(|id| id != old)
        })
        .await;
    assert!(ok, "{path} was not restarted");
    running_id(&tree, path).expect("running")
}

/// Waits until the runtime has nothing in flight.
pub async fn settle(app: &App) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    assert!(
        app.ledger().wait_idle(None, deadline).await,
        "messages still in flight"
    );
}

/// Environment that adds the test kit's fake OpenAI-compatible server at `url` as provider
/// `fake`, tried before the demo.
pub fn fake_provider(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("TOLMACH_PROVIDERS_FAKE_KIND", "openai".into()),
        ("TOLMACH_PROVIDERS_FAKE_BASE_URL", url.into()),
        ("TOLMACH_PROVIDERS_FAKE_MODEL", "m".into()),
        ("TOLMACH_PROVIDERS_FAKE_PRIORITY", "1".into()),
    ]
}

/// Environment for the fake OpenAI-compatible providers `fakes` (name, server), tried in that
/// order, each with a 20 s call timeout.
pub fn providers(fakes: &[(&str, &tolmach_testkit::FakeProvider)]) -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (i, (name, fake)) in fakes.iter().enumerate() {
        let upper = name.to_ascii_uppercase();
        for (field, value) in [
            ("KIND", "openai".to_string()),
            ("BASE_URL", fake.base_url()),
            ("MODEL", "m".to_string()),
            ("PRIORITY", (i + 1).to_string()),
            ("TIMEOUT", "20s".to_string()),
        ] {
            env.push((format!("TOLMACH_PROVIDERS_{upper}_{field}"), value));
        }
    }
    env
}

/// `owned` (from [`providers`]) and `more` as one list of borrowed pairs, for [`config`].
pub fn with<'a>(
    owned: &'a [(String, String)],
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

/// `owned` and `more` as one list of borrowed pairs, for [`config`].
pub fn env<'a>(
    owned: &'a [(&'static str, String)],
    more: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    owned
        .iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(more.iter().copied())
        .collect()
}

/// Checks the SIGKILL guarantee for one message's replies (`at`, in order): each repeat is
/// explained by a kill, i.e. the earlier reply was sent within moments before a kill (before the
/// dying process could record it) and the later one after the successor came back (`revived`,
/// one per kill). Returns the number of repeats.
pub fn check_repeats(
    what: &str,
    at: &[std::time::Instant],
    kills: &[std::time::Instant],
    revived: &[std::time::Instant],
) -> usize {
    let since = |list: &[std::time::Instant]| {
        list.iter()
            .map(|a| a.saturating_duration_since(kills[0]))
            .collect::<Vec<_>>()
    };
    let timeline = || {
        format!(
            "replies at {:?}, kills at {:?}, back at {:?} (from the first kill)",
            since(at),
            since(kills),
            since(revived)
        )
    };
    assert!(!at.is_empty(), "{what} was never answered");
    assert!(
        at.len() <= kills.len() + 1,
        "{what} answered {} times: {}",
        at.len(),
        timeline()
    );
    for pair in at.windows(2) {
        let in_flight = kills.iter().zip(revived).any(|(k, r)| {
            pair[0] < *r
                && pair[1] >= *r
                && k.saturating_duration_since(pair[0]) < Duration::from_secs(2)
        });
        assert!(
            in_flight,
            "{what} repeated although its earlier reply was not in flight at a kill: {}",
            timeline()
        );
    }
    at.len() - 1
}

/// What the runtime received from the platforms tapped with [`Received::tap`], in order: the
/// adapter's output, observable without relying on a reply that depends on it.
#[derive(Clone)]
pub struct Received(Arc<watch::Sender<Vec<Inbound>>>);

impl Default for Received {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(Vec::new())))
    }
}

impl Received {
    pub fn new() -> Self {
        Self::default()
    }

    /// `inner`, handing the runtime what it receives and keeping a copy here.
    pub fn tap(&self, inner: Arc<dyn Platform>) -> Arc<dyn Platform> {
        Arc::new(Tap {
            inner,
            seen: self.clone(),
        })
    }

    pub fn all(&self) -> Vec<Inbound> {
        self.0.borrow().clone()
    }

    /// Waits until `n` messages were received (panics after [`PATIENCE`]); returns all so far.
    pub async fn wait_for(&self, n: usize) -> Vec<Inbound> {
        let mut seen = self.0.subscribe();
        match tokio::time::timeout(PATIENCE, seen.wait_for(|v| v.len() >= n)).await {
            Ok(Ok(v)) => v.clone(),
            _ => panic!("received {:?}, not {n} messages", self.all()),
        }
    }
}

/// See [`Received::tap`].
struct Tap {
    inner: Arc<dyn Platform>,
    seen: Received,
}

#[async_trait::async_trait]
impl Platform for Tap {
    fn id(&self) -> PlatformId {
        self.inner.id()
    }

    async fn recv(&self) -> Option<Inbound> {
        // Cancel safe like the inner `recv`: the copy is taken without awaiting.
        let inbound = self.inner.recv().await;
        if let Some(m) = &inbound {
            self.seen.0.send_modify(|v| v.push(m.clone()));
        }
        inbound
    }

    async fn send(&self, reply: &Outbound) -> Result<(), SendError> {
        self.inner.send(reply).await
    }

    fn close(&self) {
        self.inner.close();
    }

    fn max_reply_chars(&self) -> usize {
        self.inner.max_reply_chars()
    }

    fn pacing(&self) -> Pacing {
        self.inner.pacing()
    }

    fn ack(&self, key: &MessageKey) {
        self.inner.ack(key);
    }

    async fn actors(&self, template: &SupervisorTemplate) -> Result<Vec<ChildSpec>, String> {
        self.inner.actors(template).await
    }

    async fn finish(&self, deadline: tokio::time::Instant) {
        self.inner.finish(deadline).await;
    }

    async fn fetch_voice(&self, voice: &Voice) -> Result<Vec<u8>, MediaError> {
        self.inner.fetch_voice(voice).await
    }
}
