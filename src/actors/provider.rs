//! A provider actor: one per configured provider, owning the provider's client and guarding it
//! with its circuit breaker.
//!
//! Each [`ProviderMsg::Translate`] is checked against the breaker; if admitted, the call runs as
//! a task owned by the actor (so the mailbox keeps flowing and calls run concurrently), bounded
//! by the job's deadline. The outcome feeds the breaker and the metrics, then goes back to the
//! caller. If the actor is killed, its state (and with it every call in flight) is dropped: the
//! callers see the actor die and retry on its replacement; the abandoned breaker permits give
//! back their trial slots. The breaker itself belongs to the application and survives.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::providers::breaker::Breaker;
use crate::providers::{Provider, ProviderError, TranslateJob, Translation};
use crate::telemetry::metrics::Metrics;

pub enum ProviderMsg {
    /// Translate one job (idempotent: safe to send again after the actor died).
    Translate {
        job: TranslateJob,
        reply: RpcReplyPort<Result<Translation, ProviderError>>,
    },
}

pub struct ProviderArgs {
    pub name: Arc<str>,
    pub provider: Arc<dyn Provider>,
    pub breaker: Arc<Breaker>,
    pub metrics: Metrics,
}

pub struct ProviderState {
    args: ProviderArgs,
    /// Calls in flight; aborted when the state is dropped.
    calls: JoinSet<()>,
}

/// See the module docs.
pub struct ProviderActor;

impl Actor for ProviderActor {
    type Msg = ProviderMsg;
    type State = ProviderState;
    type Arguments = ProviderArgs;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: ProviderArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ProviderState {
            args,
            calls: JoinSet::new(),
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        while state.calls.try_join_next().is_some() {}
        let ProviderMsg::Translate { job, reply } = msg;
        let args = &state.args;
        let permit = match args.breaker.try_acquire() {
            Ok(p) => p,
            Err(retry_in) => {
                args.metrics.provider_call(&args.name, "circuit_open", None);
                let _ = reply.send(Err(ProviderError::CircuitOpen { retry_in }));
                return Ok(());
            }
        };
        let (name, provider, metrics) = (
            args.name.clone(),
            args.provider.clone(),
            args.metrics.clone(),
        );
        state.calls.spawn(async move {
            let started = Instant::now();
            let result = tokio::time::timeout_at(job.deadline, provider.translate(&job))
                .await
                .unwrap_or(Err(ProviderError::Timeout));
            match &result {
                Ok(_) => permit.success(),
                Err(e) if e.is_provider_fault() => permit.failure(),
                Err(_) => permit.neutral(),
            }
            let outcome = result
                .as_ref()
                .map_or_else(ProviderError::outcome, |_| "ok");
            metrics.provider_call(&name, outcome, Some(started.elapsed()));
            let _ = reply.send(result.map(|answer| Translation {
                text: answer.text,
                provider: name.clone(),
                demo: provider.is_demo(),
            }));
        });
        Ok(())
    }
}
