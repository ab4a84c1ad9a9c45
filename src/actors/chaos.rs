//! The chaos actor: kills a random running actor at a set rate, for soak runs (`[chaos]`, off
//! by default).
//!
//! Every `kill_every` it takes a snapshot of the supervision tree, picks one running actor of
//! the configured kinds at random (never a supervisor, never itself) and kills it. The victim's
//! supervisor restarts it; the ledger makes sure no message is lost or answered twice. Each
//! kill is logged (target `tolmach::audit`) and counted in `tolmach_chaos_kills_total`.

use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

use crate::supervision::{ActorKind, Slot, SupervisorMsg, snapshot};
use crate::telemetry::metrics::Metrics;

pub enum ChaosMsg {
    /// Kill one actor now.
    Strike,
}

pub struct ChaosArgs {
    pub root: Arc<Slot<SupervisorMsg>>,
    pub every: Duration,
    pub kinds: Vec<ActorKind>,
    pub metrics: Metrics,
}

/// See the module docs.
pub struct Chaos;

impl Actor for Chaos {
    type Msg = ChaosMsg;
    type State = ChaosArgs;
    type Arguments = ChaosArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ChaosArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        tracing::warn!(
            every_ms = args.every.as_millis() as u64,
            kinds = ?args.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
            "chaos mode is on: actors will be killed at random"
        );
        myself.send_interval(args.every, || ChaosMsg::Strike);
        Ok(args)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let ChaosMsg::Strike = msg;
        let tree = snapshot(&state.root, Instant::now() + Duration::from_secs(2)).await;
        let me = myself.get_id();
        let candidates: Vec<_> = tree
            .walk()
            .into_iter()
            .filter(|(_, n)| state.kinds.contains(&n.kind) && !n.kind.is_supervisor())
            .filter_map(|(path, n)| {
                let cell = n.cell.clone()?;
                (cell.get_id() != me).then_some((path, n.kind, cell))
            })
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let (path, kind, cell) = &candidates[fastrand::usize(..candidates.len())];
        tracing::info!(target: "tolmach::audit", action = "chaos_kill", %path, %kind, "chaos: killing actor");
        cell.kill();
        state.metrics.chaos_kill(*kind);
        Ok(())
    }
}
