//! The admin HTTP API: the operator's hands on a running runtime.
//!
//! Served on its own listener (`admin.addr`, localhost by default), and only when a token is
//! configured (`TOLMACH_ADMIN_TOKEN`). Every request must carry `Authorization: Bearer <token>`;
//! anything else gets 401 and is logged. Every action is audited: one log line with target
//! `tolmach::audit` saying who (the peer address), what and on which target.
//!
//! | method and path | what it does |
//! |---|---|
//! | `GET /admin/tree` | the supervision tree: kinds, status, restart counts |
//! | `POST /admin/kill` `{"path": "root/providers/groq"}` | kills that actor; its supervisor restarts it |
//! | `GET /admin/breakers` | each provider's circuit and injected faults |
//! | `POST /admin/providers/{name}/faults` `{"latency": "500ms", "error_rate": 0.5, "for": "60s"}` | injects faults |
//! | `DELETE /admin/providers/{name}/faults` | ends them |
//! | `POST /admin/providers/{name}/breaker/reset` | closes the circuit with an empty window |
//!
//! The server is a task owned by the application, outside the supervision tree, so the
//! operator keeps control even when the tree is in trouble.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::resilience::breaker::CircuitState;
use crate::resilience::faults::{Fault, FaultView};
use crate::resilience::guard::ProviderGuard;
use crate::secret::Secret;
use crate::supervision::{Slot, SupervisorMsg, TreeNode, snapshot};
use crate::task::OwnedTask;
use crate::telemetry::metrics::Metrics;

/// The longest fault injection accepted.
const MAX_FAULT: Duration = Duration::from_secs(24 * 3600);

/// What the admin API works on.
#[derive(Clone)]
pub struct AdminState {
    pub token: Secret,
    pub root: Arc<Slot<SupervisorMsg>>,
    pub guards: Vec<Arc<ProviderGuard>>,
    pub metrics: Metrics,
}

/// Starts serving on `listener`; the server stops when the task is dropped.
pub fn serve(listener: std::net::TcpListener, state: AdminState) -> std::io::Result<OwnedTask> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let shared = Arc::new(state);
    let app = Router::new()
        .route("/admin/tree", get(tree))
        .route("/admin/kill", post(kill))
        .route("/admin/breakers", get(breakers))
        .route(
            "/admin/providers/{name}/faults",
            post(inject_faults).delete(clear_faults),
        )
        .route("/admin/providers/{name}/breaker/reset", post(reset_breaker))
        .layer(middleware::from_fn_with_state(shared.clone(), authorize))
        .with_state(shared);
    Ok(OwnedTask::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "admin listener failed");
        }
    }))
}

/// An error answer: a status and a JSON body saying why.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.1 }));
        let mut response = (self.0, body).into_response();
        if self.0 == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn authorize(
    State(state): State<Arc<AdminState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let ok = bearer(request.headers())
        .is_some_and(|t| same(t.as_bytes(), state.token.expose().as_bytes()));
    if !ok {
        tracing::warn!(
            target: "tolmach::audit",
            %peer,
            method = %request.method(),
            path = request.uri().path(),
            "admin request refused: missing or wrong token"
        );
        return Refusal(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token".into(),
        )
        .into_response();
    }
    next.run(request).await
}

async fn tree(State(state): State<Arc<AdminState>>) -> Json<TreeNode> {
    Json(snapshot(&state.root, Instant::now() + Duration::from_secs(5)).await)
}

#[derive(Deserialize)]
struct KillRequest {
    path: String,
}

#[derive(Serialize)]
struct Killed {
    killed: String,
    kind: &'static str,
}

async fn kill(
    State(state): State<Arc<AdminState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(req): Json<KillRequest>,
) -> Result<Json<Killed>, Refusal> {
    if req.path == "root" {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "killing the root would stop the process; send SIGTERM instead".into(),
        ));
    }
    let tree = snapshot(&state.root, Instant::now() + Duration::from_secs(5)).await;
    let Some(node) = tree.find(&req.path) else {
        return Err(Refusal(
            StatusCode::NOT_FOUND,
            format!(
                "no actor at {:?}; GET /admin/tree lists the paths",
                req.path
            ),
        ));
    };
    let Some(cell) = &node.cell else {
        return Err(Refusal(
            StatusCode::CONFLICT,
            format!("{} is not running now ({:?})", req.path, node.status),
        ));
    };
    tracing::info!(target: "tolmach::audit", %peer, action = "kill", path = %req.path, kind = %node.kind, "admin: killing actor");
    cell.kill();
    state.metrics.chaos_kill(node.kind);
    state.metrics.admin_action("kill");
    Ok(Json(Killed {
        killed: req.path,
        kind: node.kind.as_str(),
    }))
}

#[derive(Serialize)]
struct BreakerView {
    provider: String,
    state: CircuitState,
    faults: Option<FaultView>,
}

async fn breakers(State(state): State<Arc<AdminState>>) -> Json<Vec<BreakerView>> {
    Json(
        state
            .guards
            .iter()
            .map(|g| BreakerView {
                provider: g.name.to_string(),
                state: g.breaker.state(),
                faults: g.faults.active().map(|f| f.view()),
            })
            .collect(),
    )
}

fn guard(state: &AdminState, name: &str) -> Result<Arc<ProviderGuard>, Refusal> {
    state
        .guards
        .iter()
        .find(|g| &*g.name == name)
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = state.guards.iter().map(|g| &*g.name).collect();
            Refusal(
                StatusCode::NOT_FOUND,
                format!("no provider {name:?}; configured: {}", names.join(", ")),
            )
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultRequest {
    #[serde(default, with = "humantime_serde")]
    latency: Option<Duration>,
    #[serde(default)]
    error_rate: f64,
    #[serde(rename = "for", with = "humantime_serde")]
    duration: Duration,
}

async fn inject_faults(
    State(state): State<Arc<AdminState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
    Json(req): Json<FaultRequest>,
) -> Result<Json<FaultView>, Refusal> {
    let guard = guard(&state, &name)?;
    if !(0.0..=1.0).contains(&req.error_rate) {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "error_rate must be between 0.0 and 1.0".into(),
        ));
    }
    if req.duration.is_zero() || req.duration > MAX_FAULT {
        return Err(Refusal(
            StatusCode::BAD_REQUEST,
            "\"for\" must be longer than zero and at most 24h".into(),
        ));
    }
    let latency = req.latency.unwrap_or_default();
    let fault = Fault {
        latency,
        error_rate: req.error_rate,
        until: Instant::now() + req.duration,
    };
    tracing::info!(
        target: "tolmach::audit",
        %peer,
        action = "inject_faults",
        provider = %name,
        latency_ms = latency.as_millis() as u64,
        error_rate = req.error_rate,
        for_s = req.duration.as_secs_f64(),
        "admin: injecting provider faults"
    );
    guard.faults.inject(fault);
    state.metrics.faults_injected(&name, true);
    state.metrics.admin_action("inject_faults");
    Ok(Json(fault.view()))
}

async fn clear_faults(
    State(state): State<Arc<AdminState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, Refusal> {
    let guard = guard(&state, &name)?;
    let was_active = guard.faults.clear();
    tracing::info!(target: "tolmach::audit", %peer, action = "clear_faults", provider = %name, was_active, "admin: clearing provider faults");
    state.metrics.faults_injected(&name, false);
    state.metrics.admin_action("clear_faults");
    Ok(Json(
        serde_json::json!({ "provider": name, "cleared": was_active }),
    ))
}

async fn reset_breaker(
    State(state): State<Arc<AdminState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, Refusal> {
    let guard = guard(&state, &name)?;
    let before = guard.breaker.state();
    tracing::info!(target: "tolmach::audit", %peer, action = "reset_breaker", provider = %name, was = before.as_str(), "admin: resetting circuit breaker");
    guard.breaker.reset();
    state.metrics.admin_action("reset_breaker");
    Ok(Json(
        serde_json::json!({ "provider": name, "was": before, "now": guard.breaker.state() }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_compare_exactly() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer  tok ".parse().unwrap());
        assert_eq!(bearer(&h), Some("tok"));
        h.insert(header::AUTHORIZATION, "Basic tok".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
