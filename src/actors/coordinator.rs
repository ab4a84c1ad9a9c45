//! The ROMA coordinator actor: receives translation requests and runs each through the ROMA
//! engine (`src/roma`): atomize, plan, execute in parallel, aggregate.
//!
//! Each request runs as its own task owned by the actor, so one slow request never holds up the
//! others. Requests are pure (same input, same answer), so when the coordinator is killed its
//! tasks die with it and the conversations that asked simply ask its replacement: nothing is
//! lost, and nothing is answered twice because only the conversation, through the ledger,
//! answers the user.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::resilience::router::Router;
use crate::roma::execute::execute;
use crate::roma::plan::{Atomicity, PlanLimits, atomize, plan};
use crate::roma::{RomaOutcome, TranslateRequest};
use crate::telemetry::metrics::Metrics;

pub enum CoordinatorMsg {
    /// Translate a request into all its targets (idempotent).
    Translate {
        request: TranslateRequest,
        reply: RpcReplyPort<RomaOutcome>,
        /// The update's span (its correlation id), under which the request runs.
        span: tracing::Span,
    },
}

pub struct CoordinatorArgs {
    /// The providers, with fallback and hedging.
    pub router: Arc<Router>,
    pub max_parallel: usize,
    pub limits: PlanLimits,
    pub metrics: Metrics,
}

pub struct CoordinatorState {
    args: CoordinatorArgs,
    requests: JoinSet<()>,
}

/// See the module docs.
pub struct Coordinator;

impl Actor for Coordinator {
    type Msg = CoordinatorMsg;
    type State = CoordinatorState;
    type Arguments = CoordinatorArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: CoordinatorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(CoordinatorState {
            args,
            requests: JoinSet::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        while state.requests.try_join_next().is_some() {}
        let CoordinatorMsg::Translate {
            request,
            reply,
            span,
        } = msg;
        let router = state.args.router.clone();
        let (max_parallel, limits) = (state.args.max_parallel, state.args.limits);
        let metrics = state.args.metrics.clone();
        state.requests.spawn(async move {
            let atomicity = atomize(&request, limits);
            let plan = plan(&request, limits);
            tracing::debug!(?atomicity, input = ?request.input, plan = %plan.summary(), "planned");
            let parallel = match atomicity {
                Atomicity::Atomic => 1,
                Atomicity::Composite => max_parallel,
            };
            let outcome = execute(&request, plan, &router, parallel, &metrics).await;
            let _ = reply.send(outcome);
        }.instrument(span));
        Ok(())
    }
}
