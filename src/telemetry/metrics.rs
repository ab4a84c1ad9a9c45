//! Every metric the runtime exports, defined in one place.
//!
//! [`Metric`] names them (Prometheus conventions: `tolmach_` prefix, `_total` for counters,
//! `_seconds` for durations, base units); [`Metrics`] is a cheap, clonable handle with one typed
//! method per event, so call sites never spell a metric name or a label key. Label values come
//! from closed sets (platform, outcome, actor kind) or from configuration (provider names):
//! never a user or chat id.
//!
//! Each [`Metrics`] owns its own Prometheus recorder instead of installing a global one, so
//! several runtimes (tests) can live in one process and each renders only its own numbers. The
//! metrics reporter actor serves [`Metrics::render`] over HTTP.

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::delivery::ledger::Stages;
use crate::domain::PlatformId;
use crate::supervision::ActorKind;

/// How a metric is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Declares [`Metric`]: one line per metric with its kind, name, unit and help text. This table
/// is the only place a metric name is spelled.
macro_rules! metrics_table {
    ($( $variant:ident : $kind:ident $name:literal $(in $unit:ident)? => $help:literal, )*) => {
        /// Every metric the runtime exports. See the module docs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Metric { $($variant,)* }

        impl Metric {
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// The exposed name.
            pub fn name(self) -> &'static str {
                match self { $(Self::$variant => $name,)* }
            }

            /// The `# HELP` text.
            pub fn help(self) -> &'static str {
                match self { $(Self::$variant => $help,)* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Self::$variant => Kind::$kind,)* }
            }

            fn unit(self) -> Option<Unit> {
                match self { $(Self::$variant => None $(.or(Some(Unit::$unit)))?,)* }
            }
        }
    };
}

metrics_table! {
    MessagesReceived: Counter "tolmach_messages_received_total"
        => "User messages accepted for handling, by platform.",
    MessagesDuplicate: Counter "tolmach_messages_duplicate_total"
        => "Messages seen again after they were already accepted (redelivery), by platform.",
    Replies: Counter "tolmach_replies_total"
        => "Replies produced, by platform and outcome.",
    Deliveries: Counter "tolmach_deliveries_total"
        => "Replies handed to the platform, by platform and result.",
    PlatformRetryAfter: Counter "tolmach_platform_retry_after_total"
        => "Sends the platform refused with 'retry after' (HTTP 429), by platform.",
    UpdatesIgnored: Counter "tolmach_updates_ignored_total"
        => "Platform updates deliberately not answered, by platform and reason.",
    GatewaySessions: Counter "tolmach_gateway_sessions_total"
        => "Gateway sessions started (identify) or resumed (resume), by platform.",
    RecoveredMessages: Counter "tolmach_recovered_messages_total"
        => "Messages a lost gateway session missed, recovered from channel history, by platform.",
    PlatformConnected: Gauge "tolmach_platform_connected"
        => "Whether the platform is connected (1) or not (0): last poll or gateway state (sampled).",
    RequestDuration: Histogram "tolmach_request_duration_seconds" in Seconds
        => "Time from accepting a message to its reply being ready.",
    RuntimeOverhead: Histogram "tolmach_runtime_overhead_seconds" in Seconds
        => "The runtime's own share of each reply's latency: from reading the message off the platform to the reply's send starting, less the time spent waiting on translation providers and on the platform's send limits.",
    RuntimeStage: Histogram "tolmach_runtime_stage_seconds" in Seconds
        => "tolmach_runtime_overhead_seconds by stage: intake (read to accepted), queue (to its conversation taking it up), handling (to the reply being ready, less provider time), dispatch (to the send starting, less send-limit waits).",
    RateLimited: Counter "tolmach_rate_limited_total"
        => "Messages refused by the per-user rate limiter; notified=true when the user was told.",
    ProviderCalls: Counter "tolmach_provider_calls_total"
        => "Calls to translation providers, by provider and outcome.",
    ProviderCallDuration: Histogram "tolmach_provider_call_duration_seconds" in Seconds
        => "Duration of translation provider calls, by provider.",
    BreakerState: Gauge "tolmach_breaker_state"
        => "Circuit breaker state per provider: 1 for the current state, 0 for the others.",
    BreakerTransitions: Counter "tolmach_breaker_transitions_total"
        => "Circuit breaker state changes, by provider and new state.",
    ProviderRetries: Counter "tolmach_provider_retries_total"
        => "Provider calls attempted again after a transient failure, by provider and reason.",
    ProviderRetriesSkipped: Counter "tolmach_provider_retries_skipped_total"
        => "Retries not made because the deadline or the retry budget did not allow, by provider.",
    ProviderSkipped: Counter "tolmach_provider_skipped_total"
        => "Providers passed over by routing (open circuit, spent budget, cooldown), by reason.",
    ProviderFallbacks: Counter "tolmach_provider_fallbacks_total"
        => "Jobs sent on to another provider after this provider failed them, by provider.",
    Hedges: Counter "tolmach_hedges_total"
        => "Hedged calls: sent to a second provider, and whether the hedge won or lost.",
    HedgesSuppressed: Counter "tolmach_hedges_suppressed_total"
        => "Hedges not sent because the hedge budget was spent.",
    ProviderCharacters: Counter "tolmach_provider_characters_total"
        => "Characters sent to providers in successful calls.",
    ProviderTokens: Counter "tolmach_provider_tokens_total"
        => "Tokens used by providers (reported, or estimated at 4 characters), by direction.",
    ProviderSpendToday: Gauge "tolmach_provider_spend_today_dollars"
        => "Estimated spend at each provider since UTC midnight, in dollars (from [cost]).",
    ProviderFaultsInjected: Gauge "tolmach_provider_faults_injected"
        => "1 while faults injected through the admin API are active on a provider.",
    TranslationCache: Counter "tolmach_translation_cache_total"
        => "Translation jobs by cache result: hit (cached, or joined one in flight) or miss.",
    ActorRestarts: Counter "tolmach_actor_restarts_total"
        => "Actors restarted by their supervisor, by actor kind.",
    ActorsAlive: Gauge "tolmach_actors_alive"
        => "Actors running, by kind (sampled by the metrics reporter).",
    ActorMailboxDepth: Gauge "tolmach_actor_mailbox_depth"
        => "Work waiting at the busiest actor of each kind: queued messages of one chat for conversations, outstanding requests for the others (sampled).",
    SupervisorEscalations: Counter "tolmach_supervisor_escalations_total"
        => "Supervisors that exceeded their restart intensity and gave up, by kind.",
    RomaSubtasks: Counter "tolmach_roma_subtasks_total"
        => "Coordinator subtasks (one per target language and chunk), by outcome.",
    RomaRequests: Counter "tolmach_roma_requests_total"
        => "Coordinator requests by result: complete, partial (some targets failed) or failed.",
    RomaFanoutWidth: Histogram "tolmach_roma_fanout_width"
        => "Provider subtasks one coordinator request fanned out to.",
    LedgerInFlight: Gauge "tolmach_ledger_in_flight"
        => "Accepted messages not yet answered and delivered.",
    ChaosKills: Counter "tolmach_chaos_kills_total"
        => "Actors killed on purpose by chaos mode or the admin API, by actor kind.",
    AdminActions: Counter "tolmach_admin_actions_total"
        => "Admin API requests carried out, by action.",
    BuildInfo: Gauge "tolmach_build_info"
        => "Build information; the value is always 1.",
    Uptime: Gauge "tolmach_uptime_seconds" in Seconds
        => "Time since the runtime started (sampled).",
}

/// What became of one user message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyOutcome {
    /// Every requested translation succeeded.
    Translated,
    /// Some translations succeeded, some failed.
    Partial,
    /// No translation succeeded.
    Failed,
    /// Help, language list and similar informational replies.
    Info,
    /// The request could not be understood or was out of bounds (unknown language, too long).
    Rejected,
    /// The user was told to slow down.
    RateLimited,
    /// Deliberately not answered (repeat message during a cooldown).
    Ignored,
    /// An internal error or the deadline passed; the user got an apology.
    Error,
}

impl ReplyOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Translated => "translated",
            Self::Partial => "partial",
            Self::Failed => "failed",
            Self::Info => "info",
            Self::Rejected => "rejected",
            Self::RateLimited => "rate_limited",
            Self::Ignored => "ignored",
            Self::Error => "error",
        }
    }

    /// Its place in the per-outcome handle arrays.
    fn index(self) -> usize {
        match self {
            Self::Translated => 0,
            Self::Partial => 1,
            Self::Failed => 2,
            Self::Info => 3,
            Self::Rejected => 4,
            Self::RateLimited => 5,
            Self::Ignored => 6,
            Self::Error => 7,
        }
    }
}

/// Cheap, clonable handle to this runtime's metrics.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The standard `process_*` metrics (RSS, CPU, open fds, start time, threads).
    process: metrics_process::Collector,
    started: std::time::Instant,
    hot: Hot,
}

/// The platforms, in [`platform_index`]'s order.
const PLATFORMS: usize = 4;
/// The reply outcomes, in [`ReplyOutcome::index`]'s order.
const OUTCOMES: usize = 8;
/// The stages of `tolmach_runtime_stage_seconds`, in the order of their handles.
const STAGES: [&str; 4] = ["intake", "queue", "handling", "dispatch"];
/// The label values with a cached handle, in the order of their handles; other values are
/// still counted, through the recorder.
const SUBTASK_OUTCOMES: [&str; 2] = ["ok", "failed"];
const REQUEST_RESULTS: [&str; 3] = ["complete", "partial", "failed"];
const CACHE_RESULTS: [&str; 2] = ["hit", "miss"];

/// Handles of the series every message updates, each registered on first use. Looking a
/// series up in the recorder (building its key, hashing its name and labels, searching the
/// registry) cost several times the update itself; a handle is an `Arc` to the series.
/// Series are still created only when first used, so the exposition is the same; the recorder
/// has no idle timeout, so a series lives as long as its handle.
#[derive(Default)]
struct Hot {
    received: [OnceLock<Counter>; PLATFORMS],
    replies: [[OnceLock<Counter>; OUTCOMES]; PLATFORMS],
    request_duration: [OnceLock<Histogram>; PLATFORMS],
    overhead: [OnceLock<Histogram>; PLATFORMS],
    stages: [[OnceLock<Histogram>; STAGES.len()]; PLATFORMS],
    /// Sent, failed.
    deliveries: [[OnceLock<Counter>; 2]; PLATFORMS],
    subtasks: [OnceLock<Counter>; SUBTASK_OUTCOMES.len()],
    requests: [OnceLock<Counter>; REQUEST_RESULTS.len()],
    fanout: OnceLock<Histogram>,
    cache: [OnceLock<Counter>; CACHE_RESULTS.len()],
    in_flight: OnceLock<Gauge>,
    /// Per provider (a handful, from the configuration): a successful call's series.
    providers: RwLock<Vec<(Arc<str>, Arc<ProviderSeries>)>>,
}

/// What every successful call to one provider updates.
#[derive(Default)]
struct ProviderSeries {
    ok: OnceLock<Counter>,
    duration: OnceLock<Histogram>,
    chars: OnceLock<Counter>,
    /// Input, output.
    tokens: [OnceLock<Counter>; 2],
    spend: OnceLock<Gauge>,
}

impl Hot {
    /// `provider`'s series, added the first time it is named.
    fn provider(&self, provider: &str) -> Arc<ProviderSeries> {
        let find = |all: &[(Arc<str>, Arc<ProviderSeries>)]| {
            all.iter()
                .find(|(name, _)| &**name == provider)
                .map(|(_, series)| Arc::clone(series))
        };
        let known = find(&self.providers.read().unwrap_or_else(|e| e.into_inner()));
        known.unwrap_or_else(|| {
            let mut all = self.providers.write().unwrap_or_else(|e| e.into_inner());
            find(&all).unwrap_or_else(|| {
                let series = Arc::new(ProviderSeries::default());
                all.push((provider.into(), Arc::clone(&series)));
                series
            })
        })
    }
}

/// `slot`'s handle, registering it with `register` the first time.
fn cached<H: Clone>(slot: &OnceLock<H>, register: impl FnOnce() -> H) -> H {
    slot.get_or_init(register).clone()
}

/// The handle for label `value`: from its slot when it is one of `known` (one slot each, in
/// order), registered with `register` the first time; otherwise from `register` every time.
fn cached_for<H: Clone, const N: usize>(
    slots: &[OnceLock<H>; N],
    known: [&str; N],
    value: &str,
    register: impl FnOnce() -> H,
) -> H {
    match known.iter().position(|k| *k == value) {
        Some(i) => cached(&slots[i], register),
        None => register(),
    }
}

const META: metrics::Metadata<'static> =
    metrics::Metadata::new("tolmach", metrics::Level::INFO, Some("tolmach"));

/// Histogram buckets for the fan-out width of one request (subtasks).
const WIDTH_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0];

/// Histogram buckets for the runtime's own time per reply (`tolmach_runtime_*`), in seconds:
/// finer below a few milliseconds, where it normally lies.
const OVERHEAD_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.000_75, 0.001, 0.001_5, 0.002, 0.002_5, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram buckets for request and call durations, in seconds.
const DURATION_BUCKETS: &[f64] = &[
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(Metric::RomaFanoutWidth.name().into()),
                    WIDTH_BUCKETS,
                )
            })
            // Prefix matchers take precedence over the `_seconds` suffix.
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Prefix("tolmach_runtime_".into()),
                    OVERHEAD_BUCKETS,
                )
            })
            .map(|b| b.build_recorder())
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        for m in Metric::ALL {
            let name = KeyName::from_const_str(m.name());
            let help = SharedString::const_str(m.help());
            match m.kind() {
                Kind::Histogram => recorder.describe_histogram(name, m.unit(), help),
                Kind::Gauge => recorder.describe_gauge(name, m.unit(), help),
                Kind::Counter => recorder.describe_counter(name, m.unit(), help),
            }
        }
        let process = metrics_process::Collector::default();
        metrics::with_local_recorder(&recorder, || process.describe());
        let metrics = Self {
            inner: Arc::new(Inner {
                recorder,
                handle,
                process,
                started: std::time::Instant::now(),
                hot: Hot::default(),
            }),
        };
        metrics.sample_process();
        metrics
            .gauge(
                Metric::BuildInfo,
                vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
            )
            .set(1.0);
        metrics
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        self.inner.handle.render()
    }

    /// Compacts histogram buffers; the metrics reporter calls this periodically.
    pub fn run_upkeep(&self) {
        self.inner.handle.run_upkeep();
    }

    /// Reads the process's own figures (`/proc/self` on Linux) and the uptime; the metrics
    /// reporter calls this periodically.
    pub fn sample_process(&self) {
        metrics::with_local_recorder(&self.inner.recorder, || self.inner.process.collect());
        self.gauge(Metric::Uptime, vec![])
            .set(self.inner.started.elapsed().as_secs_f64());
    }

    fn counter(&self, m: Metric, labels: Vec<Label>) -> Counter {
        self.inner
            .recorder
            .register_counter(&Key::from_parts(m.name(), labels), &META)
    }

    fn gauge(&self, m: Metric, labels: Vec<Label>) -> Gauge {
        self.inner
            .recorder
            .register_gauge(&Key::from_parts(m.name(), labels), &META)
    }

    fn histogram(&self, m: Metric, labels: Vec<Label>) -> Histogram {
        self.inner
            .recorder
            .register_histogram(&Key::from_parts(m.name(), labels), &META)
    }

    pub fn message_received(&self, platform: PlatformId) {
        cached(&self.inner.hot.received[platform_index(platform)], || {
            self.counter(Metric::MessagesReceived, vec![platform_label(platform)])
        })
        .increment(1);
    }

    pub fn message_duplicate(&self, platform: PlatformId) {
        self.counter(Metric::MessagesDuplicate, vec![platform_label(platform)])
            .increment(1);
    }

    pub fn reply(&self, platform: PlatformId, outcome: ReplyOutcome, took: Duration) {
        let hot = &self.inner.hot;
        let p = platform_index(platform);
        cached(&hot.replies[p][outcome.index()], || {
            self.counter(
                Metric::Replies,
                vec![
                    platform_label(platform),
                    Label::new("outcome", outcome.as_str()),
                ],
            )
        })
        .increment(1);
        if outcome != ReplyOutcome::Ignored {
            cached(&hot.request_duration[p], || {
                self.histogram(Metric::RequestDuration, vec![platform_label(platform)])
            })
            .record(took.as_secs_f64());
        }
    }

    /// The runtime's own time for one reply, in total and by stage.
    pub fn runtime_overhead(&self, platform: PlatformId, stages: &Stages) {
        let hot = &self.inner.hot;
        let p = platform_index(platform);
        cached(&hot.overhead[p], || {
            self.histogram(Metric::RuntimeOverhead, vec![platform_label(platform)])
        })
        .record(stages.total().as_secs_f64());
        let took = [
            stages.intake,
            stages.queue,
            stages.handling,
            stages.dispatch,
        ];
        for ((slot, stage), took) in hot.stages[p].iter().zip(STAGES).zip(took) {
            cached(slot, || {
                self.histogram(
                    Metric::RuntimeStage,
                    vec![platform_label(platform), Label::new("stage", stage)],
                )
            })
            .record(took.as_secs_f64());
        }
    }

    pub fn delivery(&self, platform: PlatformId, sent: bool) {
        let (index, result) = if sent { (0, "sent") } else { (1, "failed") };
        cached(
            &self.inner.hot.deliveries[platform_index(platform)][index],
            || {
                self.counter(
                    Metric::Deliveries,
                    vec![platform_label(platform), Label::new("result", result)],
                )
            },
        )
        .increment(1);
    }

    pub fn platform_retry_after(&self, platform: PlatformId) {
        self.counter(Metric::PlatformRetryAfter, vec![platform_label(platform)])
            .increment(1);
    }

    /// An update the platform skipped on purpose; `reason` is a fixed label (e.g. `sticker`).
    pub fn update_ignored(&self, platform: PlatformId, reason: &'static str) {
        self.counter(
            Metric::UpdatesIgnored,
            vec![platform_label(platform), Label::new("reason", reason)],
        )
        .increment(1);
    }

    /// A gateway session was identified (new) or resumed.
    pub fn gateway_session(&self, platform: PlatformId, kind: &'static str) {
        self.counter(
            Metric::GatewaySessions,
            vec![platform_label(platform), Label::new("kind", kind)],
        )
        .increment(1);
    }

    pub fn recovered_message(&self, platform: PlatformId) {
        self.counter(Metric::RecoveredMessages, vec![platform_label(platform)])
            .increment(1);
    }

    pub fn rate_limited(&self, notified: bool) {
        let notified = if notified { "true" } else { "false" };
        self.counter(Metric::RateLimited, vec![Label::new("notified", notified)])
            .increment(1);
    }

    pub fn provider_call(&self, provider: &str, outcome: &'static str, took: Option<Duration>) {
        let series = self.inner.hot.provider(provider);
        let name = || Label::new("provider", provider.to_string());
        cached_for(std::array::from_ref(&series.ok), ["ok"], outcome, || {
            self.counter(
                Metric::ProviderCalls,
                vec![name(), Label::new("outcome", outcome)],
            )
        })
        .increment(1);
        if let Some(took) = took {
            cached(&series.duration, || {
                self.histogram(Metric::ProviderCallDuration, vec![name()])
            })
            .record(took.as_secs_f64());
        }
    }

    /// Sets the breaker state gauges of `provider` so exactly `state` reads 1.
    pub fn breaker_state(&self, provider: &str, state: &'static str) {
        for s in ["closed", "open", "half_open"] {
            self.gauge(
                Metric::BreakerState,
                vec![
                    Label::new("provider", provider.to_string()),
                    Label::new("state", s),
                ],
            )
            .set(if s == state { 1.0 } else { 0.0 });
        }
    }

    pub fn breaker_transition(&self, provider: &str, to: &'static str) {
        self.counter(
            Metric::BreakerTransitions,
            vec![
                Label::new("provider", provider.to_string()),
                Label::new("to", to),
            ],
        )
        .increment(1);
        self.breaker_state(provider, to);
    }

    pub fn retry(&self, provider: &str, reason: &'static str) {
        self.counter(
            Metric::ProviderRetries,
            vec![
                Label::new("provider", provider.to_string()),
                Label::new("reason", reason),
            ],
        )
        .increment(1);
    }

    pub fn retry_skipped(&self, provider: &str, why: &'static str) {
        self.counter(
            Metric::ProviderRetriesSkipped,
            vec![
                Label::new("provider", provider.to_string()),
                Label::new("why", why),
            ],
        )
        .increment(1);
    }

    pub fn provider_skipped(&self, provider: &str, reason: &'static str) {
        self.counter(
            Metric::ProviderSkipped,
            vec![
                Label::new("provider", provider.to_string()),
                Label::new("reason", reason),
            ],
        )
        .increment(1);
    }

    /// `outcome`: `sent`, `won` or `lost`.
    pub fn hedge(&self, provider: &str, outcome: &'static str) {
        self.counter(
            Metric::Hedges,
            vec![
                Label::new("provider", provider.to_string()),
                Label::new("outcome", outcome),
            ],
        )
        .increment(1);
    }

    /// `result`: `hit` or `miss`.
    pub fn translation_cache(&self, result: &'static str) {
        cached_for(&self.inner.hot.cache, CACHE_RESULTS, result, || {
            self.counter(Metric::TranslationCache, vec![Label::new("result", result)])
        })
        .increment(1);
    }

    pub fn hedge_suppressed(&self) {
        self.counter(Metric::HedgesSuppressed, vec![]).increment(1);
    }

    /// One successful call's usage, and the provider's spend today so far.
    pub fn provider_spent(
        &self,
        provider: &str,
        spent: &crate::resilience::quota::Spent,
        today_dollars: f64,
    ) {
        let series = self.inner.hot.provider(provider);
        let name = || Label::new("provider", provider.to_string());
        cached(&series.chars, || {
            self.counter(Metric::ProviderCharacters, vec![name()])
        })
        .increment(spent.chars);
        for ((slot, direction), n) in series
            .tokens
            .iter()
            .zip(["input", "output"])
            .zip([spent.input_tokens, spent.output_tokens])
        {
            if n > 0 {
                cached(slot, || {
                    self.counter(
                        Metric::ProviderTokens,
                        vec![name(), Label::new("direction", direction)],
                    )
                })
                .increment(n);
            }
        }
        cached(&series.spend, || {
            self.gauge(Metric::ProviderSpendToday, vec![name()])
        })
        .set(today_dollars);
    }

    /// `provider` failed a job and routing sent it on to the next provider.
    pub fn provider_fallback(&self, provider: &str) {
        self.counter(
            Metric::ProviderFallbacks,
            vec![Label::new("provider", provider.to_string())],
        )
        .increment(1);
    }

    pub fn faults_injected(&self, provider: &str, active: bool) {
        self.gauge(
            Metric::ProviderFaultsInjected,
            vec![Label::new("provider", provider.to_string())],
        )
        .set(if active { 1.0 } else { 0.0 });
    }

    pub fn platform_connected(&self, platform: PlatformId, connected: bool) {
        self.gauge(Metric::PlatformConnected, vec![platform_label(platform)])
            .set(if connected { 1.0 } else { 0.0 });
    }

    pub fn mailbox_depth(&self, kind: ActorKind, depth: usize) {
        self.gauge(
            Metric::ActorMailboxDepth,
            vec![Label::new("kind", kind.as_str())],
        )
        .set(depth as f64);
    }

    /// One coordinator request finished: how wide it fanned out and how it ended.
    pub fn roma_request(&self, width: usize, result: &'static str) {
        let hot = &self.inner.hot;
        cached(&hot.fanout, || {
            self.histogram(Metric::RomaFanoutWidth, vec![])
        })
        .record(width as f64);
        cached_for(&hot.requests, REQUEST_RESULTS, result, || {
            self.counter(Metric::RomaRequests, vec![Label::new("result", result)])
        })
        .increment(1);
    }

    /// An actor killed on purpose (chaos mode, admin API).
    pub fn chaos_kill(&self, kind: ActorKind) {
        self.counter(Metric::ChaosKills, vec![Label::new("kind", kind.as_str())])
            .increment(1);
    }

    /// `action` is a fixed label (`kill`, `faults`, `breaker_reset`, ...).
    pub fn admin_action(&self, action: &'static str) {
        self.counter(Metric::AdminActions, vec![Label::new("action", action)])
            .increment(1);
    }

    pub fn actor_restart(&self, kind: ActorKind) {
        self.counter(
            Metric::ActorRestarts,
            vec![Label::new("kind", kind.as_str())],
        )
        .increment(1);
    }

    pub fn actors_alive(&self, kind: ActorKind, count: usize) {
        self.gauge(Metric::ActorsAlive, vec![Label::new("kind", kind.as_str())])
            .set(count as f64);
    }

    pub fn supervisor_escalation(&self, kind: ActorKind) {
        self.counter(
            Metric::SupervisorEscalations,
            vec![Label::new("kind", kind.as_str())],
        )
        .increment(1);
    }

    pub fn roma_subtask(&self, outcome: &'static str) {
        cached_for(&self.inner.hot.subtasks, SUBTASK_OUTCOMES, outcome, || {
            self.counter(Metric::RomaSubtasks, vec![Label::new("outcome", outcome)])
        })
        .increment(1);
    }

    pub fn ledger_in_flight(&self, count: usize) {
        cached(&self.inner.hot.in_flight, || {
            self.gauge(Metric::LedgerInFlight, vec![])
        })
        .set(count as f64);
    }

    /// The current value of one sample, parsed from the exposition (`labels` must list every
    /// label of the series). Meant for tests and admin views, not for hot paths.
    pub fn sample(&self, metric: Metric, labels: &[(&str, &str)]) -> Option<f64> {
        sample(&self.render(), metric.name(), labels)
    }

    /// Sum of every series of a counter or gauge, whatever its labels.
    pub fn sum(&self, metric: Metric) -> f64 {
        let text = self.render();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (series, value) = l.rsplit_once(' ')?;
                let name = series.split('{').next()?;
                (name == metric.name()).then(|| value.parse::<f64>().ok())?
            })
            .sum()
    }
}

fn platform_label(p: PlatformId) -> Label {
    Label::new("platform", p.as_str())
}

/// `p`'s place in [`Hot`]'s per-platform arrays.
fn platform_index(p: PlatformId) -> usize {
    match p {
        PlatformId::Console => 0,
        PlatformId::Memory => 1,
        PlatformId::Telegram => 2,
        PlatformId::Discord => 3,
    }
}

/// Finds `name{labels}` in a Prometheus text exposition.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if series_name != name {
            continue;
        }
        let mut found: Vec<(&str, &str)> = series_labels
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k, v.trim_matches('"')))
            })
            .collect();
        let mut wanted = labels.to_vec();
        found.sort_unstable();
        wanted.sort_unstable();
        if found == wanted {
            return value.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_help_and_labels() {
        let m = Metrics::new();
        m.message_received(PlatformId::Console);
        m.message_received(PlatformId::Console);
        m.actor_restart(ActorKind::Provider);
        let text = m.render();
        assert!(
            text.contains("# HELP tolmach_messages_received_total"),
            "{text}"
        );
        assert_eq!(
            m.sample(Metric::MessagesReceived, &[("platform", "console")]),
            Some(2.0)
        );
        assert_eq!(
            m.sample(Metric::ActorRestarts, &[("kind", "provider")]),
            Some(1.0)
        );
        assert_eq!(
            m.sample(Metric::ActorRestarts, &[("kind", "rate_limiter")]),
            None
        );
    }

    #[test]
    fn cached_handles_count_each_series_apart_and_create_none_unused() {
        let m = Metrics::new();
        for _ in 0..3 {
            m.reply(
                PlatformId::Telegram,
                ReplyOutcome::Translated,
                Duration::from_millis(1),
            );
        }
        m.reply(
            PlatformId::Discord,
            ReplyOutcome::Error,
            Duration::from_millis(1),
        );
        m.delivery(PlatformId::Telegram, true);
        m.delivery(PlatformId::Telegram, false);
        m.delivery(PlatformId::Telegram, false);
        m.roma_subtask("ok");
        m.roma_subtask("failed");
        m.roma_subtask("failed");
        m.translation_cache("hit");
        m.roma_request(2, "partial");
        m.roma_request(1, "someday");
        let replies =
            |p: &str, o: &str| m.sample(Metric::Replies, &[("platform", p), ("outcome", o)]);
        assert_eq!(replies("telegram", "translated"), Some(3.0));
        assert_eq!(replies("discord", "error"), Some(1.0));
        assert_eq!(
            replies("discord", "translated"),
            None,
            "never used, never created"
        );
        let deliveries = |r: &str| {
            m.sample(
                Metric::Deliveries,
                &[("platform", "telegram"), ("result", r)],
            )
        };
        assert_eq!(
            (deliveries("sent"), deliveries("failed")),
            (Some(1.0), Some(2.0))
        );
        assert_eq!(
            m.sample(Metric::RomaSubtasks, &[("outcome", "failed")]),
            Some(2.0)
        );
        assert_eq!(
            m.sample(Metric::TranslationCache, &[("result", "hit")]),
            Some(1.0)
        );
        assert_eq!(
            m.sample(Metric::TranslationCache, &[("result", "miss")]),
            None
        );
        assert_eq!(
            m.sample(Metric::RomaRequests, &[("result", "partial")]),
            Some(1.0)
        );
        assert_eq!(
            m.sample(Metric::RomaRequests, &[("result", "someday")]),
            Some(1.0),
            "a label outside the cached set still counts"
        );
        m.provider_call("groq", "ok", Some(Duration::from_millis(3)));
        m.provider_call("groq", "ok", None);
        m.provider_call("deepl", "ok", None);
        m.provider_call("groq", "timeout", Some(Duration::from_millis(9)));
        let calls =
            |p: &str, o: &str| m.sample(Metric::ProviderCalls, &[("provider", p), ("outcome", o)]);
        assert_eq!(calls("groq", "ok"), Some(2.0));
        assert_eq!(calls("deepl", "ok"), Some(1.0));
        assert_eq!(calls("groq", "timeout"), Some(1.0));
        let spent = crate::resilience::quota::Spent {
            chars: 10,
            input_tokens: 4,
            ..Default::default()
        };
        m.provider_spent("groq", &spent, 0.5);
        m.provider_spent("deepl", &spent, 0.25);
        m.provider_spent("groq", &spent, 0.75);
        let chars = |p: &str| m.sample(Metric::ProviderCharacters, &[("provider", p)]);
        assert_eq!((chars("groq"), chars("deepl")), (Some(20.0), Some(10.0)));
        assert_eq!(
            m.sample(Metric::ProviderSpendToday, &[("provider", "groq")]),
            Some(0.75)
        );
        assert_eq!(
            m.sample(
                Metric::ProviderTokens,
                &[("provider", "groq"), ("direction", "output")]
            ),
            None
        );
        m.ledger_in_flight(5);
        m.ledger_in_flight(2);
        assert_eq!(m.sample(Metric::LedgerInFlight, &[]), Some(2.0));
    }

    #[test]
    fn runtimes_do_not_share_numbers() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.rate_limited(true);
        assert_eq!(a.sum(Metric::RateLimited), 1.0);
        assert_eq!(b.sum(Metric::RateLimited), 0.0);
    }

    #[test]
    fn the_runtime_overhead_has_sub_millisecond_buckets_and_stages() {
        let m = Metrics::new();
        let ms = Duration::from_micros;
        m.runtime_overhead(
            PlatformId::Telegram,
            &Stages {
                intake: ms(100),
                queue: ms(200),
                handling: ms(300),
                dispatch: ms(100),
            },
        );
        let text = m.render();
        for line in [
            "tolmach_runtime_overhead_seconds_bucket{platform=\"telegram\",le=\"0.0005\"} 0",
            "tolmach_runtime_overhead_seconds_bucket{platform=\"telegram\",le=\"0.00075\"} 1",
            "tolmach_runtime_stage_seconds_bucket{platform=\"telegram\",stage=\"handling\",le=\"0.00025\"} 0",
            "tolmach_runtime_stage_seconds_bucket{platform=\"telegram\",stage=\"handling\",le=\"0.0005\"} 1",
            "tolmach_runtime_stage_seconds_count{platform=\"telegram\",stage=\"intake\"} 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }

    #[test]
    fn durations_are_histograms_in_seconds() {
        let m = Metrics::new();
        m.reply(
            PlatformId::Memory,
            ReplyOutcome::Translated,
            Duration::from_millis(3),
        );
        let text = m.render();
        assert!(
            text.contains(
                "tolmach_request_duration_seconds_bucket{platform=\"memory\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
    }
}
