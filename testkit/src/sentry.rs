//! A fake Sentry ingestion endpoint: receives envelopes the way sentry.io does, so tests can
//! read every event the runtime reported, byte for byte.
//!
//! Point a DSN at it ([`FakeSentry::dsn`]); it answers `POST /api/<project>/envelope/` with 200
//! and keeps each envelope's raw body (to search for things that must never be sent) and its
//! parsed items (to check events, tags, release and environment).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;
use tokio::sync::Notify;

/// One envelope as received.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub project: String,
    /// The `X-Sentry-Auth` header.
    pub auth: String,
    pub raw: String,
    pub header: Value,
    /// `(item type, payload)` for every item.
    pub items: Vec<(String, Value)>,
}

#[derive(Default)]
struct Shared {
    envelopes: Mutex<Vec<Envelope>>,
    arrived: Notify,
}

/// See the module docs.
pub struct FakeSentry {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeSentry {
    pub async fn start() -> std::io::Result<FakeSentry> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/api/{project}/envelope/", post(receive))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeSentry {
            addr,
            shared,
            _server: server,
        })
    }

    /// A DSN for project 42 with public key `key`.
    pub fn dsn(&self, key: &str) -> String {
        format!("http://{key}@{}/42", self.addr)
    }

    pub fn envelopes(&self) -> Vec<Envelope> {
        self.shared
            .envelopes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every `event` item received so far.
    pub fn events(&self) -> Vec<Value> {
        self.envelopes()
            .into_iter()
            .flat_map(|e| e.items)
            .filter(|(ty, _)| ty == "event")
            .map(|(_, v)| v)
            .collect()
    }

    /// Waits until an event satisfies `predicate`, or `timeout`; returns it.
    pub async fn wait_for_event(
        &self,
        timeout: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            if let Some(e) = self.events().into_iter().find(|e| predicate(e)) {
                return Some(e);
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(project): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let raw = String::from_utf8_lossy(&body).into_owned();
    let Some((header, items)) = parse(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let auth = headers
        .get("x-sentry-auth")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    shared
        .envelopes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Envelope {
            project,
            auth,
            raw,
            header,
            items,
        });
    shared.arrived.notify_waiters();
    StatusCode::OK
}

/// Parses an envelope: a header line, then for each item a header line and a payload (of
/// `length` bytes when given, else up to the next newline).
pub fn parse(body: &[u8]) -> Option<(Value, Vec<(String, Value)>)> {
    let mut rest = body;
    let line = |rest: &mut &[u8]| -> Option<Vec<u8>> {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
        let l = rest[..end].to_vec();
        *rest = &rest[(end + 1).min(rest.len())..];
        Some(l)
    };
    let header: Value = serde_json::from_slice(&line(&mut rest)?).ok()?;
    let mut items = Vec::new();
    while let Some(h) = line(&mut rest) {
        if h.is_empty() {
            continue;
        }
        let h: Value = serde_json::from_slice(&h).ok()?;
        let ty = h["type"].as_str().unwrap_or_default().to_string();
        let payload = match h["length"].as_u64() {
            Some(n) => {
                let n = usize::try_from(n).ok()?.min(rest.len());
                let p = rest[..n].to_vec();
                rest = &rest[n..];
                if rest.first() == Some(&b'\n') {
                    rest = &rest[1..];
                }
                p
            }
            None => line(&mut rest).unwrap_or_default(),
        };
        let value = serde_json::from_slice(&payload)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into_owned()));
        items.push((ty, value));
    }
    Some((header, items))
}
