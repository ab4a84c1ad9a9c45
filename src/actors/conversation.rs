//! A conversation actor: one per chat, answering its messages one at a time, in order.
//!
//! Its mailbox carries only nudges ([`ConversationMsg::Work`]); the messages themselves wait in
//! the ledger. For each pending message, oldest first: parse it, ask the rate limiter, ask the
//! coordinator (for translations), then resolve it in the ledger with the reply, which queues the
//! reply for delivery in the same step. Killed at any point before that, the conversation leaves
//! the message pending and its replacement does it again; resolved already, the message is gone
//! from the ledger and cannot be answered twice.
//!
//! A message that has already crashed `max_attempts` conversations is answered with an apology
//! instead of being tried again. After `idle_timeout` without work the actor stops itself; the
//! session starts a new one when the chat speaks again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;

use crate::actors::coordinator::CoordinatorMsg;
use crate::actors::rate_limiter::{Decision, RateLimiterMsg};
use crate::command::{self, Command, Limits};
use crate::config::ConversationConfig;
use crate::delivery::{Ledger, Resolution, Work};
use crate::domain::{ChatKey, ChatKind, Inbound, PlatformId, Voice};
use crate::platforms::Platform;
use crate::providers::transcription::Transcriber;
use crate::replies;
use crate::roma::TranslateRequest;
use crate::roma::aggregate::aggregate;
use crate::supervision::{Slot, call};
use crate::telemetry::metrics::ReplyOutcome;
use crate::telemetry::user_text;

/// How long a conversation waits for the rate limiter before answering anyway.
const RATE_LIMIT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What every conversation needs; shared by all of them.
pub struct ConversationDeps {
    pub ledger: Arc<Ledger>,
    pub rate_limiter: Arc<Slot<RateLimiterMsg>>,
    pub coordinator: Arc<Slot<CoordinatorMsg>>,
    pub config: ConversationConfig,
    pub log_user_text: bool,
    /// Only the offline demo provider is configured (help says so).
    pub demo_only: bool,
    /// Platforms whose users are not rate limited (the console by default).
    pub rate_limit_exempt: Vec<PlatformId>,
    /// Speech to text, when configured.
    pub voice: Option<VoiceDeps>,
    /// The platforms, to fetch voice messages' audio.
    pub platforms: HashMap<PlatformId, Arc<dyn Platform>>,
}

/// What voice messages need.
pub struct VoiceDeps {
    pub transcriber: Arc<dyn Transcriber>,
    /// Budget for fetching and transcribing, on top of `request_timeout`.
    pub timeout: Duration,
    pub max_duration: Duration,
}

pub enum ConversationMsg {
    /// The chat has pending messages.
    Work,
    /// The idle timer fired: stop if nothing happened for `idle_timeout`.
    IdleCheck,
}

pub struct ConversationArgs {
    pub chat: ChatKey,
    pub deps: Arc<ConversationDeps>,
}

pub struct ConversationState {
    chat: ChatKey,
    deps: Arc<ConversationDeps>,
    last_activity: Instant,
    /// An idle check is scheduled (at most one at a time).
    idle_timer: bool,
}

/// See the module docs.
pub struct Conversation;

impl Actor for Conversation {
    type Msg = ConversationMsg;
    type State = ConversationState;
    type Arguments = ConversationArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ConversationArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Pick up whatever is pending, including work a previous incarnation left unfinished.
        myself.cast(ConversationMsg::Work)?;
        Ok(ConversationState {
            chat: args.chat,
            deps: args.deps,
            last_activity: Instant::now(),
            idle_timer: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConversationMsg::Work => {
                let Some(work) = state.deps.ledger.next(&state.chat) else {
                    if !state.idle_timer {
                        state.idle_timer = true;
                        myself.send_after(state.deps.config.idle_timeout, || {
                            ConversationMsg::IdleCheck
                        });
                    }
                    return Ok(());
                };
                state.last_activity = Instant::now();
                let resolution = if work.attempt > state.deps.config.max_attempts {
                    tracing::error!(
                        message = %work.inbound.key,
                        attempts = work.attempt - 1,
                        "message crashed its conversation too often; answering with an apology"
                    );
                    Resolution::Reply {
                        text: replies::internal_error(),
                        outcome: ReplyOutcome::Error,
                    }
                } else {
                    answer(&state.deps, &work).await
                };
                state.deps.ledger.resolve(&work.inbound.key, resolution);
                // One message per handler call, so a stop request is seen between messages.
                myself.cast(ConversationMsg::Work)?;
            }
            ConversationMsg::IdleCheck => {
                state.idle_timer = false;
                let idle = state.last_activity.elapsed();
                let timeout = state.deps.config.idle_timeout;
                if state.deps.ledger.has_pending(&state.chat) {
                    myself.cast(ConversationMsg::Work)?;
                } else if idle >= timeout {
                    tracing::debug!(chat = %state.chat, "conversation idle; stopping");
                    myself.stop(Some("idle".into()));
                } else {
                    state.idle_timer = true;
                    myself.send_after(timeout - idle, || ConversationMsg::IdleCheck);
                }
            }
        }
        Ok(())
    }
}

/// Turns a voice message into the text of a request: its transcription, combined with the
/// caption's instructions (`/tr es,fr`, `-> es`, or a bare language list). Without instructions
/// the answer is the transcription itself.
async fn voice_request(
    deps: &ConversationDeps,
    inbound: &Inbound,
    voice: &Voice,
    deadline: Instant,
) -> Result<String, Resolution> {
    let reply = |text: String, outcome| Resolution::Reply { text, outcome };
    let Some(v) = &deps.voice else {
        return Err(reply(replies::voice_disabled(), ReplyOutcome::Rejected));
    };
    if u64::from(voice.duration_secs) > v.max_duration.as_secs() {
        return Err(reply(
            replies::voice_too_long(voice.duration_secs, v.max_duration),
            ReplyOutcome::Rejected,
        ));
    }
    let Some(platform) = deps.platforms.get(&inbound.key.chat.platform) else {
        return Err(reply(replies::voice_fetch_failed(), ReplyOutcome::Error));
    };
    let audio = match tokio::time::timeout_at(deadline, platform.fetch_voice(voice)).await {
        Ok(Ok(audio)) => audio,
        Ok(Err(e)) => {
            tracing::warn!(message = %inbound.key, error = %e, "cannot fetch a voice message");
            return Err(reply(replies::voice_fetch_failed(), ReplyOutcome::Error));
        }
        Err(_) => return Err(reply(replies::timed_out(), ReplyOutcome::Error)),
    };
    let transcript = match v
        .transcriber
        .transcribe(audio, voice.mime_type.as_deref(), deadline)
        .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(message = %inbound.key, error = %e, "transcription failed");
            return Err(reply(
                replies::voice_not_transcribed(&e.user_reason()),
                ReplyOutcome::Failed,
            ));
        }
    };
    let caption = inbound.text.trim();
    if caption.starts_with('/') {
        Ok(format!("{caption} {transcript}"))
    } else if caption.starts_with("->") {
        Ok(format!("{transcript} {caption}"))
    } else if !caption.is_empty() && crate::command::is_language_list(caption) {
        Ok(format!("{transcript} -> {caption}"))
    } else {
        Err(reply(
            replies::transcript_only(&transcript),
            ReplyOutcome::Info,
        ))
    }
}

/// When the coordinator must be done for its answer to arrive before `deadline`: 10% of the
/// remaining time earlier, at most one second, at least 20 ms.
fn aggregation_deadline(deadline: Instant) -> Instant {
    let remaining = deadline.saturating_duration_since(Instant::now());
    let margin = (remaining / 10).clamp(Duration::from_millis(20), Duration::from_secs(1));
    deadline
        .checked_sub(margin)
        .unwrap_or(deadline)
        .max(Instant::now())
}

/// Works out the reply to one message.
async fn answer(deps: &ConversationDeps, work: &Work) -> Resolution {
    let inbound = &work.inbound;
    let voice_budget = match (&inbound.voice, &deps.voice) {
        (Some(_), Some(v)) => v.timeout,
        _ => Duration::ZERO,
    };
    let deadline = work.accepted_at + deps.config.request_timeout + voice_budget;
    tracing::debug!(
        message = %inbound.key,
        attempt = work.attempt,
        text = %user_text(deps.log_user_text, &inbound.text),
        "handling message"
    );
    if Instant::now() >= deadline {
        return Resolution::Reply {
            text: replies::timed_out(),
            outcome: ReplyOutcome::Error,
        };
    }

    let exempt = deps.rate_limit_exempt.contains(&inbound.user.platform);
    let check_deadline = deadline.min(Instant::now() + RATE_LIMIT_CHECK_TIMEOUT);
    let decision = if exempt {
        Decision::Allowed
    } else {
        call(&deps.rate_limiter, check_deadline, |reply| RateLimiterMsg::Check {
        user: inbound.user.clone(),
        message: inbound.key.clone(),
        reply,
    })
    .await
    .unwrap_or_else(|_| {
        // Better to answer than to punish users for our own outage.
            tracing::warn!(message = %inbound.key, "rate limiter unavailable; allowing the message");
            Decision::Allowed
        })
    };
    match decision {
        Decision::Allowed => {}
        Decision::Limited {
            retry_after,
            notify: true,
        } => {
            return Resolution::Reply {
                text: replies::rate_limited(retry_after),
                outcome: ReplyOutcome::RateLimited,
            };
        }
        Decision::Limited { notify: false, .. } => return Resolution::Ignore,
    }

    let limits = Limits {
        max_text_chars: deps.config.max_text_chars,
        max_targets: deps.config.max_targets,
    };
    let reply = |text: String, outcome| Resolution::Reply { text, outcome };
    let text = match &inbound.voice {
        None => inbound.text.clone(),
        Some(voice) => match voice_request(deps, inbound, voice, deadline).await {
            Ok(text) => text,
            Err(resolution) => return resolution,
        },
    };
    // The quoted message and the user's defaults are not wired yet.
    let context = command::Context {
        quoted: None,
        default_targets: &[],
        private: inbound.chat_kind == ChatKind::Private,
    };
    match command::parse(&text, inbound.truncated, limits, &context) {
        Ok(Command::Help) => reply(
            replies::help(
                limits,
                deps.demo_only,
                deps.voice.is_some(),
                inbound.user_language.as_deref(),
            ),
            ReplyOutcome::Info,
        ),
        Ok(Command::Languages) => reply(replies::languages(), ReplyOutcome::Info),
        Ok(Command::Empty) => reply(replies::empty(), ReplyOutcome::Rejected),
        Ok(Command::NotACommand) => reply(replies::not_a_command(), ReplyOutcome::Rejected),
        Ok(
            Command::SetDefaults(_)
            | Command::ShowDefaults
            | Command::ClearDefaults
            | Command::Favorites
            | Command::History
            | Command::Forget,
        ) => reply(
            "That command is not available yet. /help shows what I understand.".into(),
            ReplyOutcome::Info,
        ),
        Err(e) => reply(replies::parse_error(&e), ReplyOutcome::Rejected),
        Ok(Command::Translate(request)) => {
            // The coordinator must finish a little earlier than we give up, so that a partial
            // result ("2/3 translated; German failed: provider timed out") still makes it.
            let verbose = request.verbose;
            let request = TranslateRequest {
                text: request.text,
                source: request.source,
                targets: request.targets,
                deadline: aggregation_deadline(deadline),
                requester: Some(format!("{}:{}", inbound.user.platform, inbound.user.user).into()),
            };
            match call(&deps.coordinator, deadline, |reply| {
                CoordinatorMsg::Translate {
                    request: request.clone(),
                    reply,
                }
            })
            .await
            {
                Ok(outcome) => {
                    let r = aggregate(&outcome, verbose);
                    reply(r.text, r.outcome)
                }
                Err(_) => reply(replies::timed_out(), ReplyOutcome::Error),
            }
        }
    }
}
