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
//! instead of being tried again. Asked by its session ([`ConversationMsg::IdleCheck`]) after
//! `idle_timeout` without work, the actor stops itself; the session starts a new one when the
//! chat speaks again. It keeps no timer of its own: see the session's module docs.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::time::Instant;
use tracing::Instrument;

use crate::actors::coordinator::CoordinatorMsg;
use crate::actors::rate_limiter::{Decision, RateLimiterMsg};
use crate::command::{self, Command, Limits};
use crate::config::{ConversationConfig, UsersConfig};
use crate::delivery::{Ledger, Resolution, Work};
use crate::domain::{ChatKey, ChatKind, Inbound, MessageKey, PlatformId, Voice};
use crate::platforms::Platform;
use crate::providers::transcription::Transcriber;
use crate::replies;
use crate::roma::aggregate::aggregate;
use crate::roma::{Input, Speech, SpeechError, TranslateRequest};
use crate::store::{Admission, Entry, Store};
use crate::supervision::{Slot, call, snapshot};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::ReplyOutcome;
use crate::telemetry::user_text;

/// How long a conversation waits for the rate limiter before answering anyway.
const RATE_LIMIT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What every conversation needs; shared by all of them.
pub struct ConversationDeps {
    pub ledger: Arc<Ledger>,
    /// Users' settings, history and quota counts.
    pub store: Arc<Store>,
    pub users: UsersConfig,
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
    /// For the admins' `/status` and `/breakers`.
    pub health: Arc<Health>,
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
    /// The session's idle sweep: stop if nothing is pending and nothing happened for
    /// `idle_timeout`.
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
                    return Ok(());
                };
                let span = tracing::info_span!(
                    "update",
                    corr = %work.inbound.key.corr(),
                    platform = work.inbound.key.chat.platform.as_str(),
                    attempt = work.attempt,
                );
                let resolution = if work.attempt > state.deps.config.max_attempts {
                    let _entered = span.enter();
                    tracing::error!(
                        key = %work.inbound.key,
                        attempts = work.attempt - 1,
                        "message crashed its conversation too often; answering with an apology"
                    );
                    let loc = replies::Locale::from_tag(work.inbound.user_language.as_deref());
                    Resolution::Reply {
                        text: replies::internal_error(loc),
                        outcome: ReplyOutcome::Error,
                    }
                } else {
                    // Boxed: the actor's task is allocated at the size of its largest state,
                    // and answering (commands, store, coordinator calls) is most of it. An idle
                    // conversation, which is most of them, then holds a pointer instead.
                    Box::pin(answer(&state.deps, &work)).instrument(span).await
                };
                state.deps.ledger.resolve(&work.inbound.key, resolution);
                // An idle check is handled between messages, so the end of one is the activity
                // that counts.
                state.last_activity = Instant::now();
                // One message per handler call, so a stop request is seen between messages.
                myself.cast(ConversationMsg::Work)?;
            }
            ConversationMsg::IdleCheck => {
                if state.deps.ledger.has_pending(&state.chat) {
                    myself.cast(ConversationMsg::Work)?;
                } else if state.last_activity.elapsed() >= state.deps.config.idle_timeout {
                    tracing::debug!(chat = %state.chat, "conversation idle; stopping");
                    myself.stop(Some("idle".into()));
                }
            }
        }
        Ok(())
    }
}

/// Fetches a voice message's audio from its platform and transcribes it: the first task of a
/// voice request's plan.
struct PlatformSpeech {
    platform: Arc<dyn Platform>,
    transcriber: Arc<dyn Transcriber>,
    voice: Voice,
    message: MessageKey,
}

#[async_trait::async_trait]
impl Speech for PlatformSpeech {
    async fn transcribe(&self, deadline: Instant) -> Result<String, SpeechError> {
        let audio =
            match tokio::time::timeout_at(deadline, self.platform.fetch_voice(&self.voice)).await {
                Ok(Ok(audio)) => audio,
                Ok(Err(e)) => {
                    tracing::warn!(key = %self.message, error = %e, "cannot fetch a voice message");
                    return Err(SpeechError::Fetch);
                }
                Err(_) => return Err(SpeechError::Timeout),
            };
        self.transcriber
            .transcribe(audio, self.voice.mime_type.as_deref(), deadline)
            .await
            .map_err(|e| {
                tracing::warn!(key = %self.message, error = %e, "transcription failed");
                SpeechError::Transcribe(e)
            })
    }
}

/// A voice message's request: its speech as the input, the caption's instructions (`/tr es,fr`,
/// `-> es`, or a bare language list) as the targets. Without instructions, no targets: the
/// answer is the transcription itself.
fn voice_request(
    deps: &ConversationDeps,
    inbound: &Inbound,
    voice: &Voice,
    limits: Limits,
    context: &command::Context<'_>,
) -> Result<(Input, command::Request), Resolution> {
    let reply = |text: String, outcome| Resolution::Reply { text, outcome };
    let loc = replies::Locale::from_tag(inbound.user_language.as_deref());
    let Some(v) = &deps.voice else {
        return Err(reply(replies::voice_disabled(loc), ReplyOutcome::Rejected));
    };
    if u64::from(voice.duration_secs) > v.max_duration.as_secs() {
        return Err(reply(
            replies::voice_too_long(loc, voice.duration_secs, v.max_duration),
            ReplyOutcome::Rejected,
        ));
    }
    let Some(platform) = deps.platforms.get(&inbound.key.chat.platform) else {
        return Err(reply(replies::voice_fetch_failed(loc), ReplyOutcome::Error));
    };
    let speech = Input::Voice(Arc::new(PlatformSpeech {
        platform: platform.clone(),
        transcriber: v.transcriber.clone(),
        voice: voice.clone(),
        message: inbound.key.clone(),
    }));
    // The caption's instructions, parsed around a stand-in for the text to come.
    let caption = inbound.text.trim();
    let stand_in = if caption.starts_with('/') {
        Some(format!("{caption} \u{2026}"))
    } else if caption.starts_with("->") {
        Some(format!("\u{2026} {caption}"))
    } else if !caption.is_empty() && command::is_language_list(caption) {
        Some(format!("\u{2026} -> {caption}"))
    } else if caption.is_empty() && context.private && !context.default_targets.is_empty() {
        // No caption in a private chat: the user's default languages.
        Some("\u{2026}".to_string())
    } else {
        None
    };
    let no_targets = command::Request {
        text: String::new(),
        source: None,
        targets: Vec::new(),
        verbose: false,
    };
    let Some(stand_in) = stand_in else {
        return Ok((speech, no_targets));
    };
    let context = command::Context {
        quoted: None,
        ..*context
    };
    match command::parse(&stand_in, None, limits, &context) {
        Ok(Command::Translate(request)) => Ok((speech, request)),
        Ok(_) => Ok((speech, no_targets)),
        Err(e) => Err(reply(replies::parse_error(loc, &e), ReplyOutcome::Rejected)),
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
    let loc = replies::Locale::from_tag(inbound.user_language.as_deref());
    let voice_budget = match (&inbound.voice, &deps.voice) {
        (Some(_), Some(v)) => v.timeout,
        _ => Duration::ZERO,
    };
    let deadline = work.accepted_at + deps.config.request_timeout + voice_budget;
    tracing::debug!(
        key = %inbound.key,
        attempt = work.attempt,
        text = %user_text(deps.log_user_text, &inbound.text),
        "handling message"
    );
    if Instant::now() >= deadline {
        return Resolution::Reply {
            text: replies::timed_out(loc),
            outcome: ReplyOutcome::Error,
        };
    }

    let exempt = deps.rate_limit_exempt.contains(&inbound.user.platform);
    let check_deadline = deadline.min(Instant::now() + RATE_LIMIT_CHECK_TIMEOUT);
    let decision =
        if exempt {
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
            tracing::warn!(key = %inbound.key, "rate limiter unavailable; allowing the message");
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
                text: replies::rate_limited(loc, retry_after),
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
    if inbound.unreadable {
        return reply(replies::unreadable(loc), ReplyOutcome::Rejected);
    }
    let defaults = deps.store.defaults(&inbound.user).unwrap_or_else(|e| {
        tracing::warn!(key = %inbound.key, error = %e, "cannot read the user's settings");
        Arc::from([])
    });
    let context = command::Context {
        quoted: inbound.quoted.as_deref(),
        default_targets: &defaults,
        private: inbound.chat_kind == ChatKind::Private,
    };
    if let Some(voice) = &inbound.voice {
        return match voice_request(deps, inbound, voice, limits, &context) {
            Ok((input, request)) => translate(deps, inbound, input, request, deadline).await,
            Err(resolution) => resolution,
        };
    }
    match command::parse(&inbound.text, inbound.truncated, limits, &context) {
        Ok(
            command @ (Command::SetDefaults(_)
            | Command::ShowDefaults
            | Command::ClearDefaults
            | Command::Favorites
            | Command::History
            | Command::Forget),
        ) => settings(deps, inbound, command, &defaults),
        Ok(command @ (Command::Status | Command::Breakers)) => {
            if !deps.users.admins.contains(&inbound.user) {
                let name = if command == Command::Status {
                    "status"
                } else {
                    "breakers"
                };
                let unknown = command::ParseError::UnknownCommand(name.to_string());
                return reply(replies::parse_error(loc, &unknown), ReplyOutcome::Rejected);
            }
            tracing::info!(target: "tolmach::audit", action = ?command, user = ?inbound.user, "admin chat command");
            reply(admin_reply(deps, command).await, ReplyOutcome::Info)
        }
        Ok(Command::Help) => reply(
            replies::help(loc, limits, deps.demo_only, deps.voice.is_some()),
            ReplyOutcome::Info,
        ),
        Ok(Command::Languages) => reply(replies::languages(loc), ReplyOutcome::Info),
        Ok(Command::Empty) => reply(replies::empty(loc), ReplyOutcome::Rejected),
        Ok(Command::NotACommand) => reply(replies::not_a_command(loc), ReplyOutcome::Rejected),
        Err(e) => reply(replies::parse_error(loc, &e), ReplyOutcome::Rejected),
        Ok(Command::Translate(request)) => {
            let input = Input::Text(request.text.as_str().into());
            translate(deps, inbound, input, request, deadline).await
        }
    }
}

/// `/status` or `/breakers` for an admin.
async fn admin_reply(deps: &ConversationDeps, command: Command) -> String {
    let health = &deps.health;
    if let Command::Breakers = command {
        let lines: Vec<_> = health
            .guards()
            .iter()
            .map(|g| replies::admin::BreakerLine {
                provider: g.name.to_string(),
                state: g.breaker.state(),
                fault: g.faults.active(),
            })
            .collect();
        return replies::admin::breakers(&lines);
    }
    let tree = snapshot(health.root(), Instant::now() + Duration::from_secs(2)).await;
    replies::admin::status(
        &health.ready(),
        &tree,
        deps.ledger.in_flight(None),
        health.uptime(),
    )
}

/// Entries `/history` shows.
const HISTORY_SHOWN: usize = 10;

/// Most-used languages `/favorites` shows.
const FAVORITES_SHOWN: usize = 8;

/// `/lang`, `/favorites`, `/history` and `/forget`: the user's own settings and data.
fn settings(
    deps: &ConversationDeps,
    inbound: &Inbound,
    command: Command,
    defaults: &[&'static crate::lang::Lang],
) -> Resolution {
    let loc = replies::Locale::from_tag(inbound.user_language.as_deref());
    let store = &deps.store;
    let user = &inbound.user;
    let result = match command {
        Command::SetDefaults(langs) => store
            .set_defaults(user, &langs, SystemTime::now())
            .map(|()| replies::defaults_set(loc, &langs)),
        Command::ClearDefaults => store
            .set_defaults(user, &[], SystemTime::now())
            .map(|()| replies::defaults_cleared(loc)),
        Command::ShowDefaults => Ok(replies::defaults_shown(loc, defaults)),
        Command::Favorites => store.favorites(user).map(|mut used| {
            used.truncate(FAVORITES_SHOWN);
            replies::favorites(loc, &used, defaults)
        }),
        Command::History if !deps.users.history => Ok(replies::history_disabled(loc)),
        Command::History
            if inbound.chat_kind == ChatKind::Group && !deps.users.history_in_groups =>
        {
            Ok(replies::history_off_in_groups(loc))
        }
        Command::History => store.history(user, HISTORY_SHOWN).map(|entries| {
            let lines: Vec<replies::HistoryLine> = entries
                .into_iter()
                .map(|e| replies::HistoryLine {
                    when: e.at,
                    source: e.source,
                    targets: e.targets,
                    text: e.text,
                })
                .collect();
            replies::history(loc, &lines)
        }),
        Command::Forget => store.forget(user).map(|removed| {
            tracing::info!(key = %inbound.key, records = removed, "forgot a user at their request");
            replies::forgotten(loc, removed)
        }),
        _ => Ok(replies::internal_error(loc)),
    };
    match result {
        Ok(text) => Resolution::Reply {
            text,
            outcome: ReplyOutcome::Info,
        },
        Err(e) => {
            tracing::warn!(key = %inbound.key, error = %e, "user settings store failed");
            Resolution::Reply {
                text: replies::store_unavailable(loc),
                outcome: ReplyOutcome::Error,
            }
        }
    }
}

/// Admits a translation request under the daily quota, then has it translated.
async fn translate(
    deps: &ConversationDeps,
    inbound: &Inbound,
    input: Input,
    request: command::Request,
    deadline: Instant,
) -> Resolution {
    let loc = replies::Locale::from_tag(inbound.user_language.as_deref());
    let history = deps.users.history
        && (inbound.chat_kind == ChatKind::Private || deps.users.history_in_groups)
        && matches!(input, Input::Text(_));
    let exempt = deps.users.admins.contains(&inbound.user)
        || deps.rate_limit_exempt.contains(&inbound.user.platform);
    let entry = Entry {
        source: request.source,
        targets: &request.targets,
        text: history.then_some(request.text.as_str()),
    };
    let receipt = match deps
        .store
        .admit(
            &inbound.user,
            &inbound.key,
            entry,
            if exempt {
                None
            } else {
                deps.users.daily_quota.map(NonZeroU32::get)
            },
            SystemTime::now(),
            deps.users.retention,
        )
        .await
    {
        Ok(Admission::Admitted(receipt)) => Some(receipt),
        Ok(Admission::QuotaReached { limit, resets_in }) => {
            return Resolution::Reply {
                text: replies::quota_reached(loc, limit, resets_in),
                outcome: ReplyOutcome::RateLimited,
            };
        }
        // Better to answer than to punish users for our own outage.
        Err(e) => {
            tracing::warn!(key = %inbound.key, error = %e, "cannot record a translation; going ahead");
            None
        }
    };
    let resolution = translated(deps, inbound, input, request, deadline, loc).await;
    // The request's row was written while it was translated; the reply waits for it, so that
    // a reply never goes out for a request not counted (and `/history` shows what was answered).
    if let Some(receipt) = receipt
        && let Err(e) = receipt.durable().await
    {
        tracing::warn!(key = %inbound.key, error = %e, "cannot record a translation; answering anyway");
    }
    resolution
}

/// Runs an admitted translation through the coordinator and turns its outcome into the reply.
async fn translated(
    deps: &ConversationDeps,
    inbound: &Inbound,
    input: Input,
    request: command::Request,
    deadline: Instant,
    loc: replies::Locale,
) -> Resolution {
    let verbose = request.verbose;
    let request = TranslateRequest {
        input,
        source: request.source,
        targets: request.targets,
        // The coordinator must finish a little earlier than we give up, so that a partial
        // result ("2/3 translated; German failed: provider timed out") still makes it.
        deadline: aggregation_deadline(deadline),
        requester: Some(format!("{}:{}", inbound.user.platform, inbound.user.user).into()),
    };
    match call(&deps.coordinator, deadline, |reply| {
        CoordinatorMsg::Translate {
            span: tracing::Span::current(),
            request: request.clone(),
            reply,
        }
    })
    .await
    {
        Ok(outcome) => {
            deps.ledger
                .waited_on_providers(&inbound.key, outcome.provider_time);
            let r = aggregate(&outcome, verbose, loc);
            Resolution::Reply {
                text: r.text,
                outcome: r.outcome,
            }
        }
        Err(_) => Resolution::Reply {
            text: replies::timed_out(loc),
            outcome: ReplyOutcome::Error,
        },
    }
}
