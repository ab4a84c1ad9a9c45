//! A provider actor: one per configured provider, owning the provider's client and running its
//! calls through the provider's own policies (retry, circuit breaker, bulkhead, deadline: see
//! `src/resilience/pipeline.rs`).
//!
//! Each [`ProviderMsg::Translate`] runs as a task owned by the actor, so the mailbox keeps
//! flowing and calls run concurrently. A call ends in one of three ways: its answer goes back to
//! the caller; the caller loses interest (it dropped the watch sender behind `cancel`: a hedge
//! won, the request was dropped) and the call is abandoned at once, HTTP request included; or
//! the actor is killed, its state (and every call in flight) is dropped, and the callers ask its
//! replacement. The provider's guard (breaker, budgets, meters) belongs to the application and
//! survives.

use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::providers::{Provider, ProviderError, TranslateJob, Translation};
use crate::resilience::guard::ProviderGuard;
use crate::resilience::pipeline;

pub enum ProviderMsg {
    /// Translate one job (idempotent: safe to send again after the actor died).
    Translate {
        job: TranslateJob,
        /// No other provider could take the job: wait for a bulkhead slot until the deadline.
        last_resort: bool,
        reply: RpcReplyPort<Result<Translation, ProviderError>>,
        /// Resolves (with an error) when the caller drops its sender: abandon the call.
        cancel: watch::Receiver<()>,
        /// The caller's span (the update's correlation id), under which the call runs.
        span: tracing::Span,
    },
}

pub struct ProviderArgs {
    pub provider: Arc<dyn Provider>,
    pub guard: Arc<ProviderGuard>,
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
        let ProviderMsg::Translate {
            job,
            last_resort,
            reply,
            mut cancel,
            span,
        } = msg;
        let (provider, guard) = (state.args.provider.clone(), state.args.guard.clone());
        state.calls.spawn(
            async move {
                let result = tokio::select! {
                    result = pipeline::call(&guard, provider.as_ref(), &job, last_resort) => result,
                    _ = cancel.changed() => {
                        guard.metrics.provider_call(&guard.name, "cancelled", None);
                        return;
                    }
                };
                let _ = reply.send(result.map(|(answer, spent)| Translation {
                    text: answer.text,
                    provider: guard.name.clone(),
                    demo: provider.is_demo(),
                    dollars: spent.dollars,
                }));
            }
            .instrument(span),
        );
        Ok(())
    }
}
