//! Liveness and readiness, as the operator's probes see them.
//!
//! - **live** (`/healthz`): the process answers and the root supervisor is running. A failing
//!   liveness probe means "restart the process".
//! - **ready** (`/readyz`): every enabled platform is connected (its last poll or gateway state,
//!   see [`Platform::connection`]), at least one provider's circuit is not open, and the runtime
//!   is not shutting down. A failing readiness probe means "this replica cannot serve users now".
//!
//! Both answer with a JSON [`Report`] that says which check failed and why. The metrics
//! reporter serves them next to `/metrics`; `/status` in chat shows the same checks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::platforms::Platform;
use crate::resilience::breaker::CircuitState;
use crate::resilience::guard::ProviderGuard;
use crate::supervision::{Slot, SupervisorMsg, alive};

/// One check's verdict.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub ok: bool,
    pub detail: String,
}

/// A probe's answer: `status` is `ok` when every check is.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub status: &'static str,
    pub checks: BTreeMap<String, Check>,
}

impl Report {
    fn new(checks: BTreeMap<String, Check>) -> Self {
        let ok = checks.values().all(|c| c.ok);
        Self {
            status: if ok { "ok" } else { "failing" },
            checks,
        }
    }

    pub fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// What the probes look at. See the module docs.
pub struct Health {
    root: Arc<Slot<SupervisorMsg>>,
    platforms: Vec<Arc<dyn Platform>>,
    guards: Vec<Arc<ProviderGuard>>,
    draining: AtomicBool,
    started: std::time::Instant,
}

impl Health {
    pub fn new(
        root: Arc<Slot<SupervisorMsg>>,
        platforms: Vec<Arc<dyn Platform>>,
        guards: Vec<Arc<ProviderGuard>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            root,
            platforms,
            guards,
            draining: AtomicBool::new(false),
            started: std::time::Instant::now(),
        })
    }

    /// The runtime is shutting down: not ready any more.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    pub fn platforms(&self) -> &[Arc<dyn Platform>] {
        &self.platforms
    }

    pub fn guards(&self) -> &[Arc<ProviderGuard>] {
        &self.guards
    }

    pub fn root(&self) -> &Arc<Slot<SupervisorMsg>> {
        &self.root
    }

    pub fn uptime(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    fn root_check(&self) -> Check {
        match self.root.get().map(|r| r.get_status()) {
            Some(status) if alive(status) => Check {
                ok: true,
                detail: "root supervisor running".into(),
            },
            Some(status) => Check {
                ok: false,
                detail: format!("root supervisor {status:?}").to_lowercase(),
            },
            None => Check {
                ok: false,
                detail: "root supervisor not started".into(),
            },
        }
    }

    /// `/healthz`: see the module docs.
    pub fn live(&self) -> Report {
        Report::new(BTreeMap::from([(
            "supervisor".to_string(),
            self.root_check(),
        )]))
    }

    /// `/readyz`: see the module docs.
    pub fn ready(&self) -> Report {
        let mut checks = BTreeMap::from([("supervisor".to_string(), self.root_check())]);
        if self.draining.load(Ordering::Relaxed) {
            checks.insert(
                "shutdown".into(),
                Check {
                    ok: false,
                    detail: "shutting down".into(),
                },
            );
        }
        for p in &self.platforms {
            let c = p.connection();
            checks.insert(
                format!("platform:{}", p.id()),
                Check {
                    ok: c.connected,
                    detail: c.detail,
                },
            );
        }
        let states: Vec<(String, CircuitState)> = self
            .guards
            .iter()
            .map(|g| (g.name.to_string(), g.breaker.state()))
            .collect();
        let usable: Vec<&str> = states
            .iter()
            .filter(|(_, s)| *s != CircuitState::Open)
            .map(|(n, _)| n.as_str())
            .collect();
        let providers = if usable.is_empty() {
            Check {
                ok: false,
                detail: if states.is_empty() {
                    "no provider configured".into()
                } else {
                    format!("every provider's circuit is open ({})", names(&states))
                },
            }
        } else {
            Check {
                ok: true,
                detail: format!("usable: {}", usable.join(", ")),
            }
        };
        checks.insert("providers".into(), providers);
        Report::new(checks)
    }
}

fn names(states: &[(String, CircuitState)]) -> String {
    states
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
