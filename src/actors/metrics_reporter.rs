//! The metrics reporter actor: owns the exposition and the probes, and samples gauges.
//!
//! It serves `GET /metrics` (Prometheus text), `GET /healthz` and `GET /readyz` (JSON, see
//! [`crate::telemetry::health`]) on the listener the application bound at start (so the address
//! is known and held even while the reporter restarts: each incarnation serves a duplicate of
//! the same socket, and the server task dies with the incarnation's state). Every
//! `sample_interval` it counts live actors by kind from the supervision tree, samples the
//! backlog of the busiest actor of each kind (mailbox depth), each platform's connection, the
//! ledger's in-flight count and the process's own figures (RSS, CPU, fds, uptime), and compacts
//! histogram buffers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

use crate::delivery::Ledger;
use crate::supervision::{ActorKind, Backlog, NodeStatus, Slot, Subtree, SupervisorMsg};
use crate::task::OwnedTask;
use crate::telemetry::health::{Health, Report};
use crate::telemetry::metrics::Metrics;

pub enum MetricsReporterMsg {
    /// Sample gauges now.
    Sample,
}

pub struct MetricsReporterArgs {
    pub metrics: Metrics,
    /// Where to serve `/metrics`; `None` when exposition is disabled.
    pub listener: Option<Arc<std::net::TcpListener>>,
    pub root: Arc<Slot<SupervisorMsg>>,
    pub ledger: Arc<Ledger>,
    pub health: Arc<Health>,
    /// Actors whose backlog is sampled as mailbox depth (the busiest of each kind counts).
    pub backlogs: Vec<(ActorKind, Arc<dyn Backlog>)>,
    pub sample_interval: Duration,
}

pub struct MetricsReporterState {
    args: MetricsReporterArgs,
    _server: Option<OwnedTask>,
}

/// See the module docs.
pub struct MetricsReporter;

async fn render(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

fn probe(report: Report) -> impl IntoResponse {
    let status = if report.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(report))
}

async fn healthz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    probe(health.live())
}

async fn readyz(State(health): State<Arc<Health>>) -> impl IntoResponse {
    probe(health.ready())
}

fn serve(
    listener: &std::net::TcpListener,
    metrics: Metrics,
    health: Arc<Health>,
) -> std::io::Result<OwnedTask> {
    let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    let probes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(health);
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(metrics)
        .merge(probes);
    Ok(OwnedTask::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener failed");
        }
    }))
}

impl Actor for MetricsReporter {
    type Msg = MetricsReporterMsg;
    type State = MetricsReporterState;
    type Arguments = MetricsReporterArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: MetricsReporterArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let server = match &args.listener {
            Some(l) => Some(serve(l, args.metrics.clone(), args.health.clone())?),
            None => None,
        };
        myself.send_interval(args.sample_interval, || MetricsReporterMsg::Sample);
        Ok(MetricsReporterState {
            args,
            _server: server,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let MetricsReporterMsg::Sample = msg;
        let args = &state.args;
        args.metrics.run_upkeep();
        args.metrics.sample_process();
        args.metrics.ledger_in_flight(args.ledger.in_flight(None));
        for p in args.health.platforms() {
            args.metrics
                .platform_connected(p.id(), p.connection().connected);
        }
        for g in args.health.guards() {
            args.metrics
                .faults_injected(&g.name, g.faults.active().is_some());
        }
        let mut depth: BTreeMap<ActorKind, usize> = BTreeMap::new();
        depth.insert(ActorKind::Conversation, args.ledger.busiest_queue());
        for (kind, backlog) in &args.backlogs {
            let d = depth.entry(*kind).or_default();
            *d = (*d).max(backlog.backlog());
        }
        for (kind, d) in depth {
            args.metrics.mailbox_depth(kind, d);
        }
        if let Some(root) = args.root.get() {
            let deadline = Instant::now() + Duration::from_secs(2);
            let children = root.describe(deadline).await;
            let mut alive: BTreeMap<ActorKind, usize> =
                ActorKind::ALL.iter().map(|k| (*k, 0)).collect();
            *alive.entry(ActorKind::Root).or_default() += 1;
            let mut stack: Vec<_> = children.iter().collect();
            while let Some(node) = stack.pop() {
                if node.status == NodeStatus::Running {
                    *alive.entry(node.kind).or_default() += 1;
                }
                stack.extend(node.children.iter());
            }
            for (kind, count) in alive {
                args.metrics.actors_alive(kind, count);
            }
        }
        Ok(())
    }
}
