//! The metrics reporter actor: serves the Prometheus exposition and samples gauges.
//!
//! It serves `GET /metrics` on the listener the application bound at start (so the address is
//! known and held even while the reporter restarts: each incarnation serves a duplicate of the
//! same socket, and the server task dies with the incarnation's state). Every `sample_interval`
//! it counts live actors by kind from the supervision tree, records the ledger's in-flight count
//! and compacts histogram buffers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

use crate::delivery::Ledger;
use crate::supervision::{ActorKind, NodeStatus, Slot, Subtree, SupervisorMsg};
use crate::task::OwnedTask;
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

fn serve(listener: &std::net::TcpListener, metrics: Metrics) -> std::io::Result<OwnedTask> {
    let listener = tokio::net::TcpListener::from_std(listener.try_clone()?)?;
    let app = Router::new()
        .route("/metrics", get(render))
        .with_state(metrics);
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
            Some(l) => Some(serve(l, args.metrics.clone())?),
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
        args.metrics.ledger_in_flight(args.ledger.in_flight(None));
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
