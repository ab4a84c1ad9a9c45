//! Faults while the load runs: actor kills through the admin API, SIGKILL and restart of
//! the whole process, provider outages and stalls, dropped platform connections.
//!
//! Each fault is a timed task; every one it carries out is logged as an [`Event`], which
//! the report lists and the plot marks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tolmach_testkit::{Behavior, FakeProvider};

use crate::platform::Fake;
use crate::scenario::Chaos;
use crate::target::Target;

/// Something the harness did to the system under test.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Seconds since the start of the load.
    pub t: f64,
    /// `kill`, `sigkill`, `restart`, `provider-fail`, `provider-stall`, `provider-ok`,
    /// `drop-platform`.
    pub kind: String,
    /// The actor killed (its kind), the restart's pid...
    pub detail: String,
    #[serde(skip)]
    pub at: Instant,
}

impl Event {
    /// When the events of `kind` happened, in log order.
    pub fn times(events: &[Event], kind: &str) -> Vec<Instant> {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.at)
            .collect()
    }
}

/// The event log, shared by the fault tasks.
#[derive(Clone)]
pub struct Log {
    start: Instant,
    events: Arc<Mutex<Vec<Event>>>,
}

impl Log {
    pub fn new(start: Instant) -> Log {
        Log {
            start,
            events: Arc::default(),
        }
    }

    pub fn record(&self, at: Instant, kind: &str, detail: impl Into<String>) {
        let event = Event {
            t: at.saturating_duration_since(self.start).as_secs_f64(),
            kind: kind.to_owned(),
            detail: detail.into(),
            at,
        };
        self.events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event);
    }

    pub fn events(&self) -> Vec<Event> {
        let mut v = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        v.sort_by_key(|e| e.at);
        v
    }
}

/// What the chaos could not do, for the report (a kill that found its actor gone is not an
/// error: actors come and go).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ChaosStats {
    pub kills: u64,
    pub kills_missed: u64,
    pub admin_errors: u64,
    pub sigkills: u64,
    pub restart_errors: Vec<String>,
}

/// What the chaos acts on.
pub struct Rig {
    /// The start of the load: fault times count from here.
    pub start: Instant,
    pub target: Arc<Target>,
    pub fake: Fake,
    pub provider: FakeProvider,
    /// The provider's behavior between faults.
    pub calm: Behavior,
    pub log: Log,
    /// Seeds the choice of actors to kill.
    pub seed: u64,
}

/// Runs every fault of `chaos` until `stop` fires.
pub async fn run(
    chaos: Chaos,
    rig: Rig,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> ChaosStats {
    let Rig {
        start,
        target,
        fake,
        provider,
        calm,
        log,
        seed,
    } = rig;
    let stats = Arc::new(Mutex::new(ChaosStats::default()));
    let mut tasks = tokio::task::JoinSet::new();

    if let Some(every) = chaos.kill_every {
        let (target, log, stats) = (target.clone(), log.clone(), stats.clone());
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
            let mut tick = tokio::time::interval_at(start.into(), every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut victims: Vec<(String, String)> = Vec::new();
            let mut refreshed = Instant::now() - Duration::from_secs(60);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.changed() => return,
                }
                let Some(admin) = target.admin() else { return };
                // The tree is read at most twice a second: a snapshot walks every actor.
                if victims.is_empty() || refreshed.elapsed() > Duration::from_millis(500) {
                    match admin.killable().await {
                        Ok(v) => victims = v,
                        Err(_) => {
                            lock(&stats).admin_errors += 1;
                            continue;
                        }
                    }
                    refreshed = Instant::now();
                }
                if victims.is_empty() {
                    continue;
                }
                let (path, kind) = victims.swap_remove(rng.usize(0..victims.len()));
                match admin.kill(&path).await {
                    Ok(true) => {
                        lock(&stats).kills += 1;
                        log.record(Instant::now(), "kill", kind);
                    }
                    Ok(false) => lock(&stats).kills_missed += 1,
                    Err(_) => lock(&stats).admin_errors += 1,
                }
            }
        });
    }

    // A crash, once begun, always ends with the bot started again: these tasks are awaited,
    // not aborted, and give up only if the load ends before their time.
    let mut crashes = tokio::task::JoinSet::new();
    for at in chaos.sigkill_at.clone() {
        let (target, log, stats) = (target.clone(), log.clone(), stats.clone());
        let mut stop = stop.clone();
        crashes.spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until((start + at).into()) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match target.sigkill().await {
                Ok(killed) => {
                    lock(&stats).sigkills += 1;
                    log.record(killed, "sigkill", "");
                }
                Err(e) => lock(&stats).restart_errors.push(e.to_string()),
            }
            match target.spawn().await {
                Ok(started) => log.record(started, "restart", ""),
                Err(e) => lock(&stats).restart_errors.push(e.to_string()),
            }
        });
    }

    let faults = chaos
        .provider_fail_at
        .iter()
        .map(|at| (*at, "provider-fail", Behavior::Status(503)))
        .chain(chaos.provider_stall_at.iter().map(|at| {
            (
                *at,
                "provider-stall",
                Behavior::delayed(Duration::from_secs(30), Behavior::Echo),
            )
        }));
    for (at, kind, behavior) in faults {
        let (provider, log, calm) = (provider.clone(), log.clone(), calm.clone());
        let lasts = chaos.provider_fault_for;
        tasks.spawn(async move {
            tokio::time::sleep_until((start + at).into()).await;
            provider.set_behavior(behavior);
            log.record(Instant::now(), kind, "");
            tokio::time::sleep(lasts).await;
            provider.set_behavior(calm);
            log.record(Instant::now(), "provider-ok", "");
        });
    }

    for at in chaos.drop_platform_at.clone() {
        let (fake, log) = (fake.clone(), log.clone());
        tasks.spawn(async move {
            tokio::time::sleep_until((start + at).into()).await;
            fake.drop_connection();
            log.record(Instant::now(), "drop-platform", "");
        });
    }

    // Timed faults past the end of the load are not carried out.
    let _ = stop.wait_for(|s| *s).await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    while crashes.join_next().await.is_some() {}
    lock(&stats).clone()
}

fn lock(stats: &Mutex<ChaosStats>) -> std::sync::MutexGuard<'_, ChaosStats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}
