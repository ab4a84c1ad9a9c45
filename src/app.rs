//! Assembling and running the runtime: builds the supervision tree from the configuration,
//! starts one outbox per platform, and owns the graceful shutdown.
//!
//! Shutdown (SIGINT/SIGTERM, or every platform's input ended), all within
//! `runtime.shutdown_grace`:
//! 1. platforms stop taking new messages;
//! 2. everything already accepted is answered and delivered (the tree is still running);
//! 3. the tree stops in reverse start order: platforms, coordinator, providers, rate limiter,
//!    metrics reporter; each child within its own timeout;
//! 4. the outboxes deliver what is queued and end.
//!
//! Whatever could not finish by the deadline is logged (how many messages were left unanswered,
//! which actors had to be killed).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorRef, ActorStatus};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::actors::chaos::{Chaos, ChaosArgs};
use crate::actors::conversation::{ConversationDeps, VoiceDeps};
use crate::actors::coordinator::{Coordinator, CoordinatorArgs, CoordinatorMsg};
use crate::actors::metrics_reporter::{MetricsReporter, MetricsReporterArgs};
use crate::actors::provider::{ProviderActor, ProviderArgs};
use crate::actors::rate_limiter::{RateLimitStore, RateLimiter, RateLimiterArgs, RateLimiterMsg};
use crate::actors::session::{Session, SessionArgs};
use crate::admin::AdminState;
use crate::config::{Config, Toggle};
use crate::delivery::ledger::DEFAULT_DEDUP_CAPACITY;
use crate::delivery::{Ledger, Outbox, RetryPolicy};
use crate::domain::PlatformId;
use crate::platforms::Platform;
use crate::platforms::console::ConsolePlatform;
use crate::platforms::discord::DiscordPlatform;
use crate::platforms::telegram::TelegramPlatform;
use crate::providers::transcription::OpenAiTranscriber;
use crate::resilience::breaker::Breaker;
use crate::resilience::guard::ProviderGuard;
use crate::resilience::router::{CacheConfig, Route, Router};
use crate::store::Store;
use crate::supervision::{
    ActorKind, ChildSpec, Restart, ShutdownReport, Slot, Strategy, Subtree, Supervisor,
    SupervisorMsg, SupervisorTemplate, TreeNode, TreeWatch, started,
};
use crate::supervision::{Backlog, snapshot};
use crate::task::OwnedTask;
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// Why the runtime could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("cannot listen for metrics on {addr} (set metrics.addr / TOLMACH_METRICS_ADDR)")]
    MetricsListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen for the admin API on {addr} (set admin.addr / TOLMACH_ADMIN_ADDR)")]
    AdminListen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Provider(#[from] crate::providers::BuildError),
    #[error("cannot start the console platform: {0}")]
    Console(std::io::Error),
    #[error("no platform is enabled")]
    NoPlatform,
    #[error("cannot open the data store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("cannot set up Telegram: {0}")]
    Telegram(#[from] crate::platforms::telegram::TelegramError),
    #[error("cannot set up Discord: {0}")]
    Discord(#[from] crate::platforms::discord::DiscordError),
    #[error("the supervision tree failed to start: {0}")]
    Start(String),
    #[error("the root supervisor gave up (restart intensity exceeded); see the log for the cause")]
    RootFailed,
}

struct PlatformEntry {
    platform: Arc<dyn Platform>,
    exhausted: watch::Receiver<bool>,
}

/// A running runtime. See the module docs.
pub struct App {
    config: Config,
    metrics: Metrics,
    ledger: Arc<Ledger>,
    /// Flushed at the end of a shutdown: see [`Store::flush`].
    store: Arc<Store>,
    root: ActorRef<SupervisorMsg>,
    /// The root supervisor, as [`snapshot`] reads it.
    root_slot: Arc<Slot<SupervisorMsg>>,
    root_task: JoinHandle<()>,
    platforms: Vec<PlatformEntry>,
    outboxes: Vec<JoinHandle<()>>,
    metrics_addr: Option<SocketAddr>,
    rate_limits: Arc<RateLimitStore>,
    guards: Vec<Arc<ProviderGuard>>,
    tree_watch: TreeWatch,
    health: Arc<Health>,
    admin_addr: Option<SocketAddr>,
    /// The admin API server; stops when the app is dropped.
    _admin: Option<OwnedTask>,
}

/// The platforms the configuration enables: Telegram when it has a token; the console when
/// asked for, or when nothing else is enabled.
///
/// They keep their delivery state in `store`, which must be the one the [`App`] gets: one
/// connection for the whole process, so writers queue on its lock instead of SQLite's
/// sleeping busy handler (two connections writing at once measured ~1,100 messages a second
/// at most, with "database is locked" after 5 s).
pub fn platforms_from_config(
    config: &Config,
    metrics: &Metrics,
    store: &Arc<Store>,
) -> Result<Vec<Arc<dyn Platform>>, AppError> {
    let mut platforms: Vec<Arc<dyn Platform>> = Vec::new();
    if let Some(telegram) = &config.platforms.telegram {
        platforms.push(Arc::new(TelegramPlatform::new(
            telegram.clone(),
            store.clone(),
            metrics.clone(),
        )?));
    }
    if let Some(discord) = &config.platforms.discord {
        platforms.push(Arc::new(DiscordPlatform::new(
            discord.clone(),
            store.clone(),
            metrics.clone(),
        )?));
    }
    let others = !platforms.is_empty();
    let console = match config.platforms.console.enabled {
        Toggle::On => true,
        Toggle::Off => false,
        Toggle::Auto => !others,
    };
    if console {
        let p = ConsolePlatform::stdio(config.platforms.console.max_line_bytes)
            .map_err(AppError::Console)?;
        platforms.push(Arc::new(p));
    }
    if platforms.is_empty() {
        return Err(AppError::NoPlatform);
    }
    Ok(platforms)
}

/// A non-blocking listener on `addr`, bound now so the address is known (and held) at start.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let l = std::net::TcpListener::bind(addr)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

impl App {
    /// Builds and starts the whole tree on `platforms`, with metrics of its own.
    pub async fn start(config: Config, platforms: Vec<Arc<dyn Platform>>) -> Result<App, AppError> {
        let store = Store::open(&config.runtime.data_dir)?;
        Self::start_with(config, Metrics::new(), store, platforms).await
    }

    /// Builds and starts the whole tree on `platforms`, recording into `metrics` and keeping
    /// durable state in `store` (both of which the platforms may share; see
    /// [`platforms_from_config`]).
    pub async fn start_with(
        config: Config,
        metrics: Metrics,
        store: Arc<Store>,
        platforms: Vec<Arc<dyn Platform>>,
    ) -> Result<App, AppError> {
        if platforms.is_empty() {
            return Err(AppError::NoPlatform);
        }
        let ledger = Ledger::new(metrics.clone(), DEFAULT_DEDUP_CAPACITY);

        let listener = if config.metrics.enabled {
            let addr = config.metrics.addr;
            let l = listen(addr).map_err(|source| AppError::MetricsListen { addr, source })?;
            Some(Arc::new(l))
        } else {
            None
        };
        let metrics_addr = listener.as_ref().and_then(|l| l.local_addr().ok());

        // Providers, each with a guard (breaker, budgets, meters) that outlives its actor.
        let mut routes = Vec::new();
        let mut provider_specs = Vec::new();
        let mut guards = Vec::new();
        for pc in &config.providers {
            let provider = crate::providers::build(pc)?;
            let name: Arc<str> = pc.name.as_str().into();
            let guard = ProviderGuard::new(name.clone(), pc.policies.clone(), metrics.clone());
            let slot = Slot::new();
            routes.push(Route {
                name: name.clone(),
                slot: slot.clone(),
                guard: guard.clone(),
                demo: provider.is_demo(),
            });
            guards.push(guard.clone());
            provider_specs.push(ChildSpec::worker(
                pc.name.clone(),
                ActorKind::Provider,
                Restart::Permanent,
                Some(slot),
                move || {
                    (
                        ProviderActor,
                        ProviderArgs {
                            provider: provider.clone(),
                            guard: guard.clone(),
                        },
                    )
                },
            ));
        }
        let router = Arc::new(Router::new(
            routes,
            &config.resilience,
            CacheConfig {
                max_bytes: config.coordinator.cache_max_bytes,
                ttl: config.coordinator.cache_ttl,
            },
            metrics.clone(),
        ));
        let demo_only = router.demo_only();

        let voice = match &config.transcription {
            Some(t) => Some(VoiceDeps {
                transcriber: Arc::new(OpenAiTranscriber::new(t.clone()).map_err(|reason| {
                    AppError::Provider(crate::providers::BuildError {
                        name: "transcription".into(),
                        reason,
                    })
                })?),
                timeout: t.timeout,
                max_duration: t.max_duration,
            }),
            None => None,
        };
        let tree_watch = TreeWatch::default();
        let rate_limits = RateLimitStore::new(&config.rate_limit);
        let rate_slot: Arc<Slot<RateLimiterMsg>> = Slot::new();
        let coordinator_slot: Arc<Slot<CoordinatorMsg>> = Slot::new();
        let root_slot: Arc<Slot<SupervisorMsg>> = Slot::new();
        let health = Health::new(root_slot.clone(), platforms.clone(), guards.clone());
        let mut backlogs: Vec<(ActorKind, Arc<dyn Backlog>)> = vec![
            (ActorKind::RateLimiter, rate_slot.clone()),
            (ActorKind::Coordinator, coordinator_slot.clone()),
        ];
        for route in router.routes() {
            backlogs.push((ActorKind::Provider, route.slot.clone()));
        }

        let deps = Arc::new(ConversationDeps {
            ledger: ledger.clone(),
            store: store.clone(),
            users: config.users.clone(),
            rate_limiter: rate_slot.clone(),
            coordinator: coordinator_slot.clone(),
            config: config.conversation.clone(),
            log_user_text: config.log.user_text,
            demo_only,
            rate_limit_exempt: if config.platforms.console.rate_limited {
                Vec::new()
            } else {
                vec![PlatformId::Console]
            },
            voice,
            platforms: platforms.iter().map(|p| (p.id(), p.clone())).collect(),
            health: health.clone(),
        });

        let template = SupervisorTemplate {
            intensity: config.supervision.intensity,
            backoff: config.supervision.backoff,
            child_shutdown_timeout: config.supervision.child_shutdown_timeout,
            metrics: metrics.clone(),
            watch: tree_watch.clone(),
        };

        // Platforms: their own actors (if any), then an outbox and a session each.
        let mut outboxes = Vec::new();
        let mut entries = Vec::new();
        let mut session_specs = Vec::new();
        for platform in platforms {
            session_specs.extend(
                platform
                    .actors(&template)
                    .await
                    .map_err(|e| AppError::Start(format!("{}: {e}", platform.id())))?,
            );
            let outbox = Outbox::new(
                platform.clone(),
                ledger.clone(),
                metrics.clone(),
                RetryPolicy::default(),
            );
            outboxes.push(tokio::spawn(outbox.run()));
            let (exhausted_tx, exhausted_rx) = watch::channel(false);
            let exhausted = Arc::new(exhausted_tx);
            let ingress = Arc::new(Mutex::new(()));
            entries.push(PlatformEntry {
                platform: platform.clone(),
                exhausted: exhausted_rx,
            });
            let (deps, m, conv) = (deps.clone(), metrics.clone(), config.conversation.clone());
            let watch = tree_watch.clone();
            let (backoff, stop_timeout) = (
                config.supervision.backoff,
                config.supervision.child_shutdown_timeout,
            );
            session_specs.push(ChildSpec::new(
                platform.id().as_str(),
                ActorKind::Session,
                Restart::Permanent,
                move |supervisor| {
                    let args = SessionArgs {
                        platform: platform.clone(),
                        ingress: ingress.clone(),
                        exhausted: exhausted.clone(),
                        deps: deps.clone(),
                        intensity: conv.intensity,
                        backoff,
                        stop_timeout,
                        metrics: m.clone(),
                        watch: watch.clone(),
                    };
                    Box::pin(async move {
                        let (actor, _) =
                            Actor::spawn_linked(None, Session, args, supervisor).await?;
                        let subtree: Arc<dyn Subtree> = Arc::new(actor.clone());
                        Ok(started(actor, None, Some(subtree)))
                    })
                },
            ));
        }

        let supervisor_args = {
            let template = template.clone();
            move |id: &str, kind: ActorKind, children: Vec<ChildSpec>| {
                template.args(id, kind, Strategy::OneForOne, children)
            }
        };

        let reporter = {
            let (m, ledger, root, interval, health) = (
                metrics.clone(),
                ledger.clone(),
                root_slot.clone(),
                config.metrics.sample_interval,
                health.clone(),
            );
            ChildSpec::worker(
                "metrics_reporter",
                ActorKind::MetricsReporter,
                Restart::Permanent,
                None,
                move || {
                    (
                        MetricsReporter,
                        MetricsReporterArgs {
                            metrics: m.clone(),
                            listener: listener.clone(),
                            root: root.clone(),
                            ledger: ledger.clone(),
                            health: health.clone(),
                            backlogs: backlogs.clone(),
                            sample_interval: interval,
                        },
                    )
                },
            )
        };
        let rate_limiter = {
            let (store, m) = (rate_limits.clone(), metrics.clone());
            ChildSpec::worker(
                "rate_limiter",
                ActorKind::RateLimiter,
                Restart::Permanent,
                Some(rate_slot),
                move || {
                    (
                        RateLimiter,
                        RateLimiterArgs {
                            store: store.clone(),
                            metrics: m.clone(),
                            sweep_every: Duration::from_secs(60),
                        },
                    )
                },
            )
        };
        let providers = {
            let args = supervisor_args.clone();
            ChildSpec::supervisor(
                "providers",
                ActorKind::ProviderSupervisor,
                Restart::Permanent,
                None,
                move || {
                    args(
                        "providers",
                        ActorKind::ProviderSupervisor,
                        provider_specs.clone(),
                    )
                },
            )
        };
        let coordinator = {
            let (m, max_parallel) = (metrics.clone(), config.coordinator.max_parallel.get());
            let limits = config.coordinator.plan;
            ChildSpec::worker(
                "coordinator",
                ActorKind::Coordinator,
                Restart::Permanent,
                Some(coordinator_slot),
                move || {
                    (
                        Coordinator,
                        CoordinatorArgs {
                            router: router.clone(),
                            max_parallel,
                            limits,
                            metrics: m.clone(),
                        },
                    )
                },
            )
        };
        let platforms_sup = {
            let args = supervisor_args.clone();
            ChildSpec::supervisor(
                "platforms",
                ActorKind::PlatformSupervisor,
                Restart::Permanent,
                None,
                move || {
                    args(
                        "platforms",
                        ActorKind::PlatformSupervisor,
                        session_specs.clone(),
                    )
                },
            )
        };
        let mut root_children = vec![
            reporter,
            rate_limiter,
            providers,
            coordinator,
            platforms_sup,
        ];
        if config.chaos.enabled {
            let (root, m, chaos) = (root_slot.clone(), metrics.clone(), config.chaos.clone());
            root_children.push(ChildSpec::worker(
                "chaos",
                ActorKind::Other,
                Restart::Permanent,
                None,
                move || {
                    (
                        Chaos,
                        ChaosArgs {
                            root: root.clone(),
                            every: chaos.kill_every,
                            kinds: chaos.kinds.clone(),
                            metrics: m.clone(),
                        },
                    )
                },
            ));
        }
        let root_args = supervisor_args("root", ActorKind::Root, root_children);
        let (root, root_task) = Actor::spawn(None, Supervisor, root_args)
            .await
            .map_err(|e| AppError::Start(e.to_string()))?;
        root_slot.set(root.clone());
        let (admin, admin_addr) = match &config.admin.token {
            Some(token) => {
                let addr = config.admin.addr;
                let listener =
                    listen(addr).map_err(|source| AppError::AdminListen { addr, source })?;
                let bound = listener.local_addr().ok();
                let state = AdminState {
                    token: token.clone(),
                    root: root_slot.clone(),
                    guards: guards.clone(),
                    metrics: metrics.clone(),
                };
                let task = crate::admin::serve(listener, state)
                    .map_err(|source| AppError::AdminListen { addr, source })?;
                (Some(task), bound)
            }
            None => (None, None),
        };
        tracing::info!(
            metrics = %metrics_addr.map_or("disabled".to_string(), |a| format!("http://{a}/metrics")),
            admin = %admin_addr.map_or("disabled".to_string(), |a| format!("http://{a}/admin")),
            providers = ?config.providers.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            platforms = ?entries.iter().map(|e| e.platform.id().as_str()).collect::<Vec<_>>(),
            "tolmach started"
        );
        Ok(App {
            store,
            config,
            metrics,
            ledger,
            root,
            root_slot,
            root_task,
            platforms: entries,
            outboxes,
            metrics_addr,
            rate_limits,
            guards,
            tree_watch,
            health,
            admin_addr,
            _admin: admin,
        })
    }

    /// What `/healthz` and `/readyz` report.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Where the admin API is served, if enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }

    /// Where `/metrics` is served, if enabled (the real port when configured with port 0).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The circuit breaker of a provider, by its configured name.
    pub fn breaker(&self, provider: &str) -> Option<Arc<Breaker>> {
        self.guard(provider).map(|g| g.breaker.clone())
    }

    /// Everything guarding a provider (breaker, budgets, meters), by its configured name.
    pub fn guard(&self, provider: &str) -> Option<Arc<ProviderGuard>> {
        self.guards.iter().find(|g| &*g.name == provider).cloned()
    }

    /// The rate limiter's shared state.
    pub fn rate_limits(&self) -> &Arc<RateLimitStore> {
        &self.rate_limits
    }

    /// The supervision tree as it is now.
    pub async fn tree(&self) -> TreeNode {
        snapshot(&self.root_slot, Instant::now() + Duration::from_secs(5)).await
    }

    /// Waits until the tree satisfies `predicate` (checked now and after every change), or
    /// `timeout`. Returns the last tree seen and whether it satisfied the predicate.
    pub async fn wait_for_tree(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&TreeNode) -> bool,
    ) -> (TreeNode, bool) {
        let deadline = Instant::now() + timeout;
        let mut changes = self.tree_watch.subscribe();
        loop {
            changes.mark_unchanged();
            let tree = self.tree().await;
            if predicate(&tree) {
                return (tree, true);
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return (tree, false);
            }
        }
    }

    /// Resolves once every platform's input has ended and every accepted message is answered
    /// and delivered.
    pub fn inputs_done(&self) -> impl std::future::Future<Output = ()> + use<> {
        let exhausted: Vec<_> = self.platforms.iter().map(|p| p.exhausted.clone()).collect();
        let ledger = self.ledger.clone();
        async move {
            for mut rx in exhausted {
                let _ = rx.wait_for(|done| *done).await;
            }
            let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
            ledger.wait_idle(None, far).await;
        }
    }

    /// Runs until `shutdown` resolves (a signal) or every input ends, then shuts down
    /// gracefully. Fails if the root supervisor gave up.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<ShutdownReport, AppError> {
        let inputs_done = self.inputs_done();
        let reason = tokio::select! {
            biased;
            _ = &mut self.root_task => return Err(self.root_failed().await),
            _ = shutdown => "signal",
            _ = inputs_done => "all input handled",
        };
        // A dying tree ends its platforms' input too, sometimes before the root's task is
        // done: that is the root failing, not the input running out.
        if self.root.get_status() != ActorStatus::Running {
            return Err(self.root_failed().await);
        }
        tracing::info!(reason, "shutting down");
        Ok(self.shutdown().await)
    }

    /// The root supervisor gave up: the tree is gone. Delivers what was already answered
    /// (within the shutdown grace) and reports the failure.
    async fn root_failed(&mut self) -> AppError {
        tracing::error!("the root supervisor failed; stopping");
        self.ledger.close_outboxes();
        let deadline = Instant::now() + self.config.runtime.shutdown_grace;
        for h in self.outboxes.drain(..) {
            let _ = tokio::time::timeout_at(deadline, h).await;
        }
        AppError::RootFailed
    }

    /// Graceful shutdown; see the module docs.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let grace = self.config.runtime.shutdown_grace;
        let deadline = Instant::now() + grace;
        self.health.set_draining();
        for p in &self.platforms {
            p.platform.close();
        }
        let reserve = (grace / 4).min(Duration::from_secs(2));
        // Let each session take in what its platform had already received ...
        for p in &self.platforms {
            let mut rx = p.exhausted.clone();
            if tokio::time::timeout_at(deadline - reserve, rx.wait_for(|done| *done))
                .await
                .is_err()
            {
                tracing::warn!(platform = %p.platform.id(), "shutdown: input did not end in time");
            }
        }
        // ... and answer all of it.
        if !self.ledger.wait_idle(None, deadline - reserve).await {
            tracing::warn!(
                unanswered = self.ledger.in_flight(None),
                "shutdown: some accepted messages could not be answered in time"
            );
        }
        let report = self.root.shutdown(deadline).await;
        if tokio::time::timeout_at(deadline, &mut self.root_task)
            .await
            .is_err()
        {
            tracing::warn!("shutdown: the root supervisor did not stop in time; killing the tree");
            self.root.kill();
        }
        self.ledger.close_outboxes();
        let outbox_deadline = deadline.max(Instant::now() + Duration::from_millis(100));
        for h in self.outboxes.drain(..) {
            let abort = h.abort_handle();
            if tokio::time::timeout_at(outbox_deadline, h).await.is_err() {
                tracing::warn!("shutdown: an outbox did not finish in time");
                abort.abort();
            }
        }
        for p in &self.platforms {
            p.platform.finish(outbox_deadline).await;
        }
        // What the platforms queued last (answered updates leaving the inbox) is committed.
        self.store.flush().await;
        if !report.killed.is_empty() {
            tracing::warn!(killed = ?report.killed, "shutdown: actors killed after their timeout");
        }
        tracing::info!("stopped");
        report
    }
}
