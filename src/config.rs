//! Configuration: `config/default.toml` (compiled in), then `--config FILE`, then the environment.
//!
//! Loading happens in two steps (after vector's config): figment merges the layers and
//! deserializes a `Raw*` tree that mirrors the TOML exactly (`deny_unknown_fields`, so a typo is
//! an error, not a silently ignored key); [`Raw::validate`] then turns it into the typed
//! [`Config`] (durations, socket addresses, URLs, non-zero numbers, secrets read from the
//! environment or a file), reporting every problem at once.
//!
//! Environment names are derived from the key paths: `TOLMACH_` + the path joined with `_`, upper
//! case (`metrics.addr` -> `TOLMACH_METRICS_ADDR`). Providers can be declared from the
//! environment alone: `TOLMACH_PROVIDERS_<NAME>_<FIELD>`. The environment is read through an
//! injected [`EnvSource`] so tests never touch the process environment.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

use crate::delivery::pacing::{Pacing, Rate};
use crate::domain::{PlatformId, UserKey};
use crate::resilience::config::{self as policy, Policies, ResilienceConfig};
use crate::roma::plan::PlanLimits;
use crate::secret::Secret;
use crate::supervision::{ActorKind, Backoff, Intensity};

/// The built-in defaults, also shipped as `config/default.toml`.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

const ENV_PREFIX: &str = "TOLMACH_";

/// Environment names that do not follow the `TOLMACH_<PATH>` rule: the names platforms' own
/// documentation uses, and a short one for the log filter.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("TOLMACH_LOG", "log.level"),
    ("TOLMACH_DATA_DIR", "runtime.data_dir"),
    ("TELEGRAM_BOT_TOKEN", "platforms.telegram.token"),
    ("TELEGRAM_API_URL", "platforms.telegram.api_url"),
    ("DISCORD_BOT_TOKEN", "platforms.discord.token"),
    ("DISCORD_API_URL", "platforms.discord.api_url"),
];

/// Where environment variables come from: the process, or a map in tests.
pub trait EnvSource {
    fn get(&self, name: &str) -> Option<String>;
    fn vars(&self) -> Vec<(String, String)>;
}

/// The real process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn vars(&self) -> Vec<(String, String)> {
        std::env::vars().collect()
    }
}

impl EnvSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
    fn vars(&self) -> Vec<(String, String)> {
        self.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

/// Everything that can be wrong with a configuration, all at once.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl ConfigError {
    fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Typed configuration
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Config {
    pub runtime: RuntimeConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub admin: AdminConfig,
    pub sentry: SentryConfig,
    pub chaos: ChaosConfig,
    pub supervision: SupervisionConfig,
    pub conversation: ConversationConfig,
    pub rate_limit: RateLimitConfig,
    pub coordinator: CoordinatorConfig,
    pub users: UsersConfig,
    /// Defaults of the provider policies, and the policies that span providers.
    pub resilience: ResilienceConfig,
    pub platforms: PlatformsConfig,
    /// Enabled providers, in the order they are tried.
    pub providers: Vec<ProviderConfig>,
    /// Voice transcription, when configured.
    pub transcription: Option<TranscriptionConfig>,
}

#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub data_dir: PathBuf,
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    pub level: String,
    pub format: LogFormat,
    pub user_text: bool,
}

#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub enabled: bool,
    pub addr: SocketAddr,
    pub sample_interval: Duration,
}

/// The admin HTTP API; enabled when a token is set.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub addr: SocketAddr,
    pub token: Option<Secret>,
}

/// Error reporting to Sentry; enabled when a DSN is set.
#[derive(Debug, Clone)]
pub struct SentryConfig {
    pub dsn: Option<Secret>,
    pub environment: String,
    pub sample_rate: f32,
}

/// Chaos mode: random actor kills, for soak tests.
#[derive(Debug, Clone)]
pub struct ChaosConfig {
    pub enabled: bool,
    pub kill_every: Duration,
    pub kinds: Vec<ActorKind>,
}

#[derive(Debug, Clone)]
pub struct SupervisionConfig {
    pub intensity: Intensity,
    pub backoff: Backoff,
    pub child_shutdown_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ConversationConfig {
    pub idle_timeout: Duration,
    pub intensity: Intensity,
    pub request_timeout: Duration,
    pub max_attempts: u32,
    pub max_text_chars: usize,
    pub max_targets: usize,
}

#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    pub per_minute: NonZeroU32,
    pub burst: NonZeroU32,
}

/// What the bot keeps about its users and how much it does for each.
#[derive(Debug, Clone)]
pub struct UsersConfig {
    /// Translations per user per UTC day; `None` is no limit.
    pub daily_quota: Option<NonZeroU32>,
    /// Exempt from the daily quota.
    pub admins: Vec<UserKey>,
    /// Keep users' texts for `/history` (private chats).
    pub history: bool,
    /// Also in group chats.
    pub history_in_groups: bool,
    /// How long anything about a user's translations is kept.
    pub retention: Duration,
}

#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub max_parallel: NonZeroUsize,
    /// Recent translations kept, by the bytes of their texts; 0 turns the cache (and the
    /// coalescing of identical concurrent requests) off.
    pub cache_max_bytes: u64,
    /// How long a cached translation is served.
    pub cache_ttl: Duration,
    /// How requests are planned: chunk size and recursion depth.
    pub plan: PlanLimits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone)]
pub struct PlatformsConfig {
    pub console: ConsoleConfig,
    /// Set when the Telegram platform is enabled.
    pub telegram: Option<TelegramConfig>,
    /// Set when the Discord platform is enabled.
    pub discord: Option<DiscordConfig>,
}

#[derive(Debug, Clone)]
pub struct DiscordConfig {
    pub token: Secret,
    pub api_url: url::Url,
    /// `None`: ask Discord.
    pub shards: Option<u32>,
    /// Shards this process runs; `None`: all.
    pub shard_range: Option<std::ops::Range<u32>>,
    pub prefix: String,
    pub register_commands: bool,
    pub recovery_window: Duration,
    pub pacing: Pacing,
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    pub token: Secret,
    pub api_url: url::Url,
    pub poll_timeout: Duration,
    pub max_file_bytes: u64,
    pub pacing: Pacing,
}

#[derive(Debug, Clone)]
pub struct TranscriptionConfig {
    pub base_url: url::Url,
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    pub max_duration: Duration,
}

#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    pub enabled: Toggle,
    pub max_line_bytes: usize,
    pub rate_limited: bool,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The table name, e.g. `groq`. Used in logs and as a metric label (bounded by config).
    pub name: String,
    pub priority: i64,
    pub kind: ProviderKind,
    /// Retry, breaker, bulkhead, hedge and cost: `[resilience.*]` with this provider's own
    /// `[providers.<name>.*]` tables laid over.
    pub policies: Policies,
}

/// Which vendor a provider is, with what that vendor needs.
#[derive(Debug, Clone)]
pub enum ProviderKind {
    Demo,
    OpenAi(OpenAiConfig),
    Anthropic(AnthropicConfig),
    DeepL(DeepLConfig),
    LibreTranslate(LibreTranslateConfig),
}

/// `kind = "openai"`: an OpenAI-compatible chat-completions API, or Azure OpenAI.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    pub base_url: url::Url,
    /// The model, or with `azure_api_version` the Azure deployment name.
    pub model: String,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
    /// Set for Azure OpenAI: the deployment route with this `api-version`, and an `api-key` header.
    pub azure_api_version: Option<String>,
}

/// `kind = "anthropic"`: Anthropic's Messages API.
#[derive(Debug, Clone)]
pub struct AnthropicConfig {
    pub base_url: url::Url,
    pub model: String,
    pub api_key: Secret,
    pub timeout: Duration,
    /// Cap on the answer's tokens (the provider's default when unset).
    pub max_tokens: Option<NonZeroU32>,
}

/// `kind = "deepl"`: DeepL API Free or Pro.
#[derive(Debug, Clone)]
pub struct DeepLConfig {
    /// `None`: chosen from the key (Free for keys ending in `:fx`, else Pro).
    pub base_url: Option<url::Url>,
    pub api_key: Secret,
    pub timeout: Duration,
}

/// `kind = "libretranslate"`: a LibreTranslate server.
#[derive(Debug, Clone)]
pub struct LibreTranslateConfig {
    pub base_url: url::Url,
    pub api_key: Option<Secret>,
    pub timeout: Duration,
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

impl Config {
    /// Every secret value in the configuration (tokens, keys, the Sentry DSN), for the
    /// redaction of logs and error reports.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut out = Vec::new();
        let p = &self.platforms;
        out.extend(p.telegram.as_ref().map(|t| t.token.clone()));
        out.extend(p.discord.as_ref().map(|d| d.token.clone()));
        out.extend(self.admin.token.clone());
        out.extend(self.sentry.dsn.clone());
        out.extend(self.transcription.as_ref().and_then(|t| t.api_key.clone()));
        for provider in &self.providers {
            out.extend(match &provider.kind {
                ProviderKind::Demo => None,
                ProviderKind::OpenAi(c) => c.api_key.clone(),
                ProviderKind::Anthropic(c) => Some(c.api_key.clone()),
                ProviderKind::DeepL(c) => Some(c.api_key.clone()),
                ProviderKind::LibreTranslate(c) => c.api_key.clone(),
            });
        }
        out
    }

    /// Defaults, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>, env: &dyn EnvSource) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_TOML));
        let mut tables = vec![parse_table(DEFAULT_TOML, "built-in defaults")?];
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::one(format!("cannot read config file {}: {e}", path.display()))
            })?;
            tables.push(parse_table(&text, &path.display().to_string())?);
            figment = figment.merge(Toml::string(&text));
        }
        figment = figment.merge(EnvOverrides::collect(&tables, env));
        let raw: Raw = figment.extract().map_err(|e| ConfigError {
            problems: e.into_iter().map(|e| e.to_string()).collect(),
        })?;
        raw.validate(env)
    }

    /// The built-in defaults alone (no file, empty environment).
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::load(None, &HashMap::new())
    }
}

fn parse_table(text: &str, origin: &str) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::one(format!("{origin}: {e}")))
}

/// The environment layer: one variable per known key, plus providers declared by name.
struct EnvOverrides {
    values: Vec<(String, String, Value)>, // (env name, key path, value)
}

/// Fields a provider table may have, for `TOLMACH_PROVIDERS_<NAME>_<FIELD>`; longest first so
/// `API_KEY_ENV` is matched before a shorter suffix could be.
const PROVIDER_FIELDS: &[&str] = &[
    "azure_api_version",
    "api_key_file",
    "api_key_env",
    "max_tokens",
    "base_url",
    "priority",
    "enabled",
    "timeout",
    "model",
    "kind",
];

/// The [`PROVIDER_FIELDS`] whose values are not text (numbers, booleans).
const PROVIDER_NON_TEXT_FIELDS: &[&str] = &["enabled", "priority", "max_tokens"];

impl EnvOverrides {
    fn collect(tables: &[toml::Table], env: &dyn EnvSource) -> Self {
        // Known keys and their value types, from every layer read so far.
        let mut known: BTreeMap<String, Option<&toml::Value>> = BTreeMap::new();
        for table in tables {
            flatten(table, String::new(), &mut |path, v| {
                known.insert(path, Some(v));
            });
        }
        known.insert("log.level".into(), None);
        for (_, path) in ENV_ALIASES {
            known.entry((*path).to_string()).or_insert(None);
        }
        let text_like = toml::Value::String(String::new());
        let mut values = Vec::new();
        let mut vars = env.vars();
        vars.sort();
        for (name, raw) in vars {
            let rest = match name.strip_prefix(ENV_PREFIX) {
                Some(rest) => rest,
                None if ENV_ALIASES.iter().any(|(n, _)| *n == name) => "",
                None => continue,
            };
            let path = if let Some((_, path)) = ENV_ALIASES.iter().find(|(n, _)| *n == name) {
                Some((*path).to_string())
            } else if let Some(provider) = rest.strip_prefix("PROVIDERS_") {
                provider_path(provider, &known)
            } else {
                known
                    .keys()
                    .filter(|p| !p.starts_with("providers."))
                    .find(|p| env_name(p) == name)
                    .cloned()
            };
            let Some(path) = path else { continue };
            // A provider's policy key takes the type of its `[resilience.*]` default.
            let policy_default = path
                .strip_prefix("providers.")
                .and_then(|rest| rest.split_once('.'))
                .map(|(_, key)| format!("resilience.{key}"))
                .and_then(|key| known.get(&key).copied().flatten());
            let like = known
                .get(&path)
                .copied()
                .flatten()
                .or(policy_default)
                .or_else(|| {
                    // A provider declared only in the environment: its text fields stay text
                    // (`2024-10-21` is an API version, not a TOML date).
                    let field = path.rsplit('.').next().unwrap_or_default();
                    (path.starts_with("providers.") && !PROVIDER_NON_TEXT_FIELDS.contains(&field))
                        .then_some(&text_like)
                });
            values.push((name, path, env_value(&raw, like)));
        }
        Self { values }
    }
}

/// `GROQ_MODEL` -> `providers.groq.model`; `GROQ_RETRY_MAX_ATTEMPTS` ->
/// `providers.groq.retry.max_attempts` (any key of a `[resilience.<section>]` table).
fn provider_path(rest: &str, known: &BTreeMap<String, Option<&toml::Value>>) -> Option<String> {
    let lower = rest.to_ascii_lowercase();
    let mut policy_keys: Vec<(String, &str)> = known
        .keys()
        .filter_map(|k| {
            let sub = k.strip_prefix("resilience.")?;
            let (section, _) = sub.split_once('.')?;
            policy::SECTIONS
                .contains(&section)
                .then(|| (sub.replace('.', "_"), sub))
        })
        .collect();
    policy_keys.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
    policy_keys
        .iter()
        .find_map(|(suffix, path)| {
            let name = lower.strip_suffix(suffix.as_str())?.strip_suffix('_')?;
            (!name.is_empty()).then(|| format!("providers.{name}.{path}"))
        })
        .or_else(|| {
            PROVIDER_FIELDS.iter().find_map(|field| {
                let name = lower.strip_suffix(field)?.strip_suffix('_')?;
                (!name.is_empty()).then(|| format!("providers.{name}.{field}"))
            })
        })
}

fn env_name(path: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.replace('.', "_").to_ascii_uppercase()
    )
}

/// An environment string as a config value: a string where the key holds a string, otherwise
/// a TOML scalar if it parses as one (`20`, `true`), otherwise the string.
fn env_value(raw: &str, like: Option<&toml::Value>) -> Value {
    if !matches!(like, Some(toml::Value::String(_)))
        && let Ok(t) = format!("v = {raw}").parse::<toml::Table>()
        && let Some(v) = t
            .get("v")
            .filter(|v| !v.is_table() && !v.is_array() && !v.is_datetime())
        && let Ok(value) = Value::serialize(v)
    {
        return value;
    }
    Value::from(raw.to_string())
}

fn flatten<'a>(
    table: &'a toml::Table,
    prefix: String,
    f: &mut impl FnMut(String, &'a toml::Value),
) {
    for (k, v) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(t, path, f),
            other => f(path, other),
        }
    }
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
            .interpolater(|_: &Profile, keys: &[&str]| env_name(&keys.join(".")))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut figment = Figment::new();
        for (_, path, value) in &self.values {
            figment = figment.merge((path.as_str(), value.clone()));
        }
        figment.data()
    }
}

// ---------------------------------------------------------------------------------------------
// Raw configuration: mirrors the TOML, validated into `Config`
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    runtime: RawRuntime,
    log: RawLog,
    metrics: RawMetrics,
    admin: RawAdmin,
    sentry: RawSentry,
    chaos: RawChaos,
    supervision: RawSupervision,
    conversation: RawConversation,
    rate_limit: RawRateLimit,
    coordinator: RawCoordinator,
    users: RawUsers,
    resilience: toml::Table,
    platforms: RawPlatforms,
    transcription: RawTranscription,
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    data_dir: PathBuf,
    #[serde(with = "humantime_serde")]
    shutdown_grace: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLog {
    level: String,
    format: LogFormat,
    user_text: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: bool,
    addr: String,
    #[serde(with = "humantime_serde")]
    sample_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdmin {
    addr: String,
    token: String,
    token_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSentry {
    dsn: String,
    environment: String,
    sample_rate: f32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChaos {
    enabled: bool,
    #[serde(with = "humantime_serde")]
    kill_every: Duration,
    kinds: TextList,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSupervision {
    max_restarts: u32,
    #[serde(with = "humantime_serde")]
    within: Duration,
    #[serde(with = "humantime_serde")]
    backoff_initial: Duration,
    #[serde(with = "humantime_serde")]
    backoff_max: Duration,
    #[serde(with = "humantime_serde")]
    child_shutdown_timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConversation {
    #[serde(with = "humantime_serde")]
    idle_timeout: Duration,
    max_restarts: u32,
    #[serde(with = "humantime_serde")]
    within: Duration,
    #[serde(with = "humantime_serde")]
    request_timeout: Duration,
    max_attempts: u32,
    max_text_chars: usize,
    max_targets: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    per_minute: u32,
    burst: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCoordinator {
    max_parallel: usize,
    cache_max_bytes: u64,
    #[serde(with = "humantime_serde")]
    cache_ttl: Duration,
    chunk_chars: usize,
    max_depth: u8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUsers {
    daily_quota: u32,
    admins: TextList,
    history: bool,
    history_in_groups: bool,
    #[serde(with = "humantime_serde")]
    retention: Duration,
}

/// A list in TOML, or comma-separated text (from the environment).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TextList {
    List(Vec<String>),
    Text(String),
}

impl TextList {
    fn items(self) -> Vec<String> {
        match self {
            Self::List(items) => items,
            Self::Text(text) => text
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlatforms {
    console: RawConsole,
    telegram: RawTelegram,
    discord: RawDiscord,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscord {
    enabled: Toggle,
    token: String,
    token_file: PathBuf,
    api_url: String,
    shards: figment::value::Value,
    shard_range: String,
    prefix: String,
    register_commands: bool,
    #[serde(with = "humantime_serde")]
    recovery_window: Duration,
    channel_burst: u32,
    #[serde(with = "humantime_serde")]
    channel_interval: Duration,
    global_burst: u32,
    #[serde(with = "humantime_serde")]
    global_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    enabled: Toggle,
    token: String,
    token_file: PathBuf,
    api_url: String,
    #[serde(with = "humantime_serde")]
    poll_timeout: Duration,
    max_file_bytes: u64,
    chat_burst: u32,
    #[serde(with = "humantime_serde")]
    chat_interval: Duration,
    group_burst: u32,
    #[serde(with = "humantime_serde")]
    group_interval: Duration,
    global_burst: u32,
    #[serde(with = "humantime_serde")]
    global_interval: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTranscription {
    kind: String,
    base_url: String,
    model: String,
    api_key_env: String,
    api_key_file: PathBuf,
    #[serde(with = "humantime_serde")]
    timeout: Duration,
    #[serde(with = "humantime_serde")]
    max_duration: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    enabled: Toggle,
    max_line_bytes: usize,
    rate_limited: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    priority: i64,
    base_url: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    // Vendor-specific (see `KINDS` for which kind takes which).
    azure_api_version: Option<String>,
    max_tokens: Option<u32>,
    // Policy overrides, validated over `[resilience.*]` by `resilience::config`.
    retry: Option<toml::Table>,
    breaker: Option<toml::Table>,
    bulkhead: Option<toml::Table>,
    hedge: Option<toml::Table>,
    cost: Option<toml::Table>,
}

fn yes() -> bool {
    true
}

/// Collects validation problems so all are reported together.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn non_zero_u32(&mut self, key: &str, v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap_or_else(|| {
            self.0.push(format!("{key} must be at least 1"));
            NonZeroU32::MIN
        })
    }
    fn non_zero_duration(&mut self, key: &str, v: Duration) -> Duration {
        if v.is_zero() {
            self.0.push(format!("{key} must be longer than zero"));
        }
        v
    }
}

impl Raw {
    fn validate(self, env: &dyn EnvSource) -> Result<Config, ConfigError> {
        let mut p = Problems::default();

        let addr = self.metrics.addr.parse::<SocketAddr>().unwrap_or_else(|e| {
            p.0.push(format!(
                "metrics.addr: {:?} is not a socket address like 127.0.0.1:9464 ({e})",
                self.metrics.addr
            ));
            SocketAddr::from(([127, 0, 0, 1], 9464))
        });
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            p.0.push(format!(
                "log.level: {:?} is not a valid filter (e.g. \"info\" or \"warn,tolmach=debug\")",
                self.log.level
            ));
        }
        let sup = &self.supervision;
        if sup.backoff_initial > sup.backoff_max {
            p.0.push("supervision.backoff_initial must not exceed supervision.backoff_max".into());
        }
        let conv = &self.conversation;
        if conv.max_text_chars == 0 {
            p.0.push("conversation.max_text_chars must be at least 1".into());
        }
        if conv.max_targets == 0 {
            p.0.push("conversation.max_targets must be at least 1".into());
        }
        if conv.max_attempts == 0 {
            p.0.push("conversation.max_attempts must be at least 1".into());
        }
        if self.platforms.console.max_line_bytes < 16 {
            p.0.push("platforms.console.max_line_bytes must be at least 16".into());
        }

        let resilience = policy::resilience(&self.resilience, &mut p.0);
        let mut providers = Vec::new();
        for (name, raw) in self.providers {
            if !raw.enabled {
                continue;
            }
            if let Some(provider) = validate_provider(&name, raw, &self.resilience, env, &mut p) {
                providers.push(provider);
            }
        }
        providers.sort_by(|a, b| a.priority.cmp(&b.priority).then(a.name.cmp(&b.name)));
        if providers.is_empty() {
            p.0.push("no provider is enabled: enable at least one under [providers]".into());
        }

        let telegram = validate_telegram(&self.platforms.telegram, &mut p);
        let discord = validate_discord(&self.platforms.discord, &mut p);
        let transcription = validate_transcription(&self.transcription, env, &mut p);

        let Some(resilience) = resilience else {
            return Err(ConfigError { problems: p.0 });
        };
        let admin = validate_admin(&self.admin, &mut p);
        let sentry = validate_sentry(&self.sentry, &mut p);
        let chaos = validate_chaos(self.chaos, &mut p);
        let config = Config {
            admin,
            sentry,
            chaos,
            runtime: RuntimeConfig {
                data_dir: self.runtime.data_dir,
                shutdown_grace: p
                    .non_zero_duration("runtime.shutdown_grace", self.runtime.shutdown_grace),
            },
            log: LogConfig {
                level: self.log.level,
                format: self.log.format,
                user_text: self.log.user_text,
            },
            metrics: MetricsConfig {
                enabled: self.metrics.enabled,
                addr,
                sample_interval: p
                    .non_zero_duration("metrics.sample_interval", self.metrics.sample_interval),
            },
            supervision: SupervisionConfig {
                intensity: Intensity {
                    max_restarts: sup.max_restarts,
                    within: p.non_zero_duration("supervision.within", sup.within),
                },
                backoff: Backoff {
                    initial: sup.backoff_initial,
                    max: sup.backoff_max,
                },
                child_shutdown_timeout: p.non_zero_duration(
                    "supervision.child_shutdown_timeout",
                    sup.child_shutdown_timeout,
                ),
            },
            conversation: ConversationConfig {
                idle_timeout: p.non_zero_duration("conversation.idle_timeout", conv.idle_timeout),
                intensity: Intensity {
                    max_restarts: conv.max_restarts,
                    within: p.non_zero_duration("conversation.within", conv.within),
                },
                request_timeout: p
                    .non_zero_duration("conversation.request_timeout", conv.request_timeout),
                max_attempts: conv.max_attempts,
                max_text_chars: conv.max_text_chars,
                max_targets: conv.max_targets,
            },
            users: {
                let admins = self
                    .users
                    .admins
                    .items()
                    .into_iter()
                    .filter_map(|a| {
                        let parsed = a.split_once(':').and_then(|(platform, id)| {
                            let platform = [
                                PlatformId::Telegram,
                                PlatformId::Discord,
                                PlatformId::Console,
                                PlatformId::Memory,
                            ]
                            .into_iter()
                            .find(|p| p.as_str() == platform.trim())?;
                            let id = id.trim();
                            (!id.is_empty()).then(|| UserKey::new(platform, id))
                        });
                        if parsed.is_none() {
                            p.0.push(format!(
                                "users.admins: \"{a}\" is not <platform>:<user id> \
                                 (e.g. telegram:123456789)"
                            ));
                        }
                        parsed
                    })
                    .collect();
                if self.users.retention < Duration::from_secs(86_400) {
                    p.0.push(
                        "users.retention must be at least 1 day (the daily quota counts on it)"
                            .into(),
                    );
                }
                UsersConfig {
                    daily_quota: NonZeroU32::new(self.users.daily_quota),
                    admins,
                    history: self.users.history,
                    history_in_groups: self.users.history_in_groups,
                    retention: self.users.retention,
                }
            },
            rate_limit: RateLimitConfig {
                per_minute: p.non_zero_u32("rate_limit.per_minute", self.rate_limit.per_minute),
                burst: p.non_zero_u32("rate_limit.burst", self.rate_limit.burst),
            },
            coordinator: CoordinatorConfig {
                max_parallel: NonZeroUsize::new(self.coordinator.max_parallel).unwrap_or_else(
                    || {
                        p.0.push("coordinator.max_parallel must be at least 1".into());
                        NonZeroUsize::MIN
                    },
                ),
                cache_max_bytes: self.coordinator.cache_max_bytes,
                cache_ttl: p.non_zero_duration("coordinator.cache_ttl", self.coordinator.cache_ttl),
                plan: PlanLimits {
                    chunk_chars: if self.coordinator.chunk_chars >= 50 {
                        self.coordinator.chunk_chars
                    } else {
                        p.0.push("coordinator.chunk_chars must be at least 50".into());
                        50
                    },
                    max_depth: self.coordinator.max_depth,
                },
            },
            resilience,
            platforms: PlatformsConfig {
                console: ConsoleConfig {
                    enabled: self.platforms.console.enabled,
                    max_line_bytes: self.platforms.console.max_line_bytes,
                    rate_limited: self.platforms.console.rate_limited,
                },
                telegram,
                discord,
            },
            providers,
            transcription,
        };
        if p.0.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems: p.0 })
        }
    }
}

/// The provider kinds: name, required keys, optional keys, an example `base_url`. Keys a kind
/// does not list (other than `kind`, `enabled`, `priority`) are errors for it.
const KINDS: &[ProviderKindSpec] = &[
    ProviderKindSpec {
        name: "demo",
        tag: KindTag::Demo,
        required: &[],
        optional: &[],
        example_url: "",
    },
    ProviderKindSpec {
        name: "openai",
        tag: KindTag::OpenAi,
        required: &["base_url", "model"],
        optional: &["api_key", "timeout", "azure_api_version"],
        example_url: "https://api.openai.com/v1",
    },
    ProviderKindSpec {
        name: "anthropic",
        tag: KindTag::Anthropic,
        required: &["model", "api_key"],
        optional: &["base_url", "timeout", "max_tokens"],
        example_url: crate::providers::anthropic::DEFAULT_BASE_URL,
    },
    ProviderKindSpec {
        name: "deepl",
        tag: KindTag::DeepL,
        required: &["api_key"],
        optional: &["base_url", "timeout"],
        example_url: crate::providers::deepl::FREE_BASE_URL,
    },
    ProviderKindSpec {
        name: "libretranslate",
        tag: KindTag::LibreTranslate,
        required: &["base_url"],
        optional: &["api_key", "timeout"],
        example_url: "http://127.0.0.1:5000",
    },
];

struct ProviderKindSpec {
    name: &'static str,
    tag: KindTag,
    /// `api_key` stands for `api_key_env` or `api_key_file`.
    required: &'static [&'static str],
    optional: &'static [&'static str],
    example_url: &'static str,
}

impl ProviderKindSpec {
    fn takes(&self, field: &str) -> bool {
        let field = if field.starts_with("api_key_") {
            "api_key"
        } else {
            field
        };
        self.required.contains(&field) || self.optional.contains(&field)
    }

    /// "kind = \"deepl\" needs api_key_env or api_key_file; takes base_url, timeout".
    fn describe(&self) -> String {
        let names = |fields: &[&str]| {
            fields
                .iter()
                .map(|f| match *f {
                    "api_key" => "api_key_env or api_key_file",
                    f => f,
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut text = format!("kind = {:?}", self.name);
        if !self.required.is_empty() {
            text += &format!(" needs {}", names(self.required));
        }
        if !self.optional.is_empty() {
            text += &format!(
                "{} takes {}",
                if self.required.is_empty() { "" } else { ";" },
                names(self.optional)
            );
        }
        text
    }
}

#[derive(Clone, Copy)]
enum KindTag {
    Demo,
    OpenAi,
    Anthropic,
    DeepL,
    LibreTranslate,
}

/// Default per-call timeout of a provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(20);

fn validate_provider(
    name: &str,
    raw: RawProvider,
    defaults: &toml::Table,
    env: &dyn EnvSource,
    p: &mut Problems,
) -> Option<ProviderConfig> {
    let key = |field: &str| format!("providers.{name}.{field}");
    let overrides: toml::Table = [
        ("retry", &raw.retry),
        ("breaker", &raw.breaker),
        ("bulkhead", &raw.bulkhead),
        ("hedge", &raw.hedge),
        ("cost", &raw.cost),
    ]
    .into_iter()
    .filter_map(|(k, t)| Some((k.to_string(), toml::Value::Table(t.clone()?))))
    .collect();
    let policies = policy::policies(defaults, &overrides, &format!("providers.{name}"), &mut p.0);
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        p.0.push(format!(
            "providers.{name}: provider names use lowercase letters, digits, '-' and '_'"
        ));
        return None;
    }
    let Some(spec) = KINDS.iter().find(|k| k.name == raw.kind) else {
        let known: Vec<String> = KINDS.iter().map(|k| format!("{:?}", k.name)).collect();
        p.0.push(format!(
            "{}: unknown kind {:?} (known: {})",
            key("kind"),
            raw.kind,
            known.join(", ")
        ));
        return None;
    };

    // Keys this kind does not take are mistakes (a key meant for another kind, or a typo'd kind).
    let given = [
        ("base_url", raw.base_url.is_some()),
        ("model", raw.model.is_some()),
        ("api_key_env", raw.api_key_env.is_some()),
        ("api_key_file", raw.api_key_file.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("azure_api_version", raw.azure_api_version.is_some()),
        ("max_tokens", raw.max_tokens.is_some()),
    ];
    for (field, _) in given.iter().filter(|(f, set)| *set && !spec.takes(f)) {
        p.0.push(format!(
            "{} does not apply to kind = {:?} ({})",
            key(field),
            spec.name,
            spec.describe()
        ));
    }

    let required = |field: &str| spec.required.contains(&field);
    let base_url = match raw.base_url.as_deref().map(url::Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => Some(u),
        Some(Ok(_)) | Some(Err(_)) => {
            p.0.push(format!("{}: not an http(s) URL", key("base_url")));
            None
        }
        None if required("base_url") => {
            p.0.push(format!(
                "{} is required for kind = {:?} (e.g. {})",
                key("base_url"),
                spec.name,
                spec.example_url
            ));
            None
        }
        None => None,
    };
    let model = raw.model.filter(|m| !m.trim().is_empty());
    if model.is_none() && required("model") {
        p.0.push(format!(
            "{} is required for kind = {:?}",
            key("model"),
            spec.name
        ));
    }
    let api_key = read_key(
        &format!("providers.{name}"),
        raw.api_key_env.as_deref(),
        raw.api_key_file.as_deref(),
        env,
        p,
    );
    // read_key reports a variable that is not set or a file it cannot read; this is for no
    // key named at all.
    let key_named =
        raw.api_key_env.as_deref().is_some_and(|v| !v.is_empty()) || raw.api_key_file.is_some();
    if !key_named && required("api_key") {
        p.0.push(format!(
            "{} or {} is required for kind = {:?}",
            key("api_key_env"),
            key("api_key_file"),
            spec.name
        ));
    }
    let timeout = raw.timeout.unwrap_or(PROVIDER_TIMEOUT);
    if timeout.is_zero() {
        p.0.push(format!("{} must be longer than zero", key("timeout")));
    }
    let azure_api_version = raw
        .azure_api_version
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    if azure_api_version.is_some()
        && model
            .as_deref()
            .is_some_and(|m| !crate::providers::openai::is_deployment_name(m))
    {
        p.0.push(format!(
            "{}: with azure_api_version this is the deployment name: letters, digits, '-', '_' and '.'",
            key("model")
        ));
    }
    let max_tokens = raw.max_tokens.and_then(|n| {
        NonZeroU32::new(n).or_else(|| {
            p.0.push(format!("{} must be at least 1", key("max_tokens")));
            None
        })
    });

    let kind = match spec.tag {
        KindTag::Demo => ProviderKind::Demo,
        KindTag::OpenAi => ProviderKind::OpenAi(OpenAiConfig {
            base_url: base_url?,
            model: model?,
            api_key,
            timeout,
            azure_api_version,
        }),
        KindTag::Anthropic => ProviderKind::Anthropic(AnthropicConfig {
            base_url: match base_url {
                Some(u) => u,
                None => url::Url::parse(crate::providers::anthropic::DEFAULT_BASE_URL).ok()?,
            },
            model: model?,
            api_key: api_key?,
            timeout,
            max_tokens,
        }),
        KindTag::DeepL => ProviderKind::DeepL(DeepLConfig {
            base_url,
            api_key: api_key?,
            timeout,
        }),
        KindTag::LibreTranslate => ProviderKind::LibreTranslate(LibreTranslateConfig {
            base_url: base_url?,
            api_key,
            timeout,
        }),
    };
    Some(ProviderConfig {
        name: name.to_string(),
        priority: raw.priority,
        kind,
        policies: policies?,
    })
}

fn validate_telegram(raw: &RawTelegram, p: &mut Problems) -> Option<TelegramConfig> {
    let from_file = (!raw.token_file.as_os_str().is_empty()).then(|| {
        std::fs::read_to_string(&raw.token_file).map_err(|e| {
            format!(
                "platforms.telegram.token_file {}: {e}",
                raw.token_file.display()
            )
        })
    });
    let token = match from_file {
        Some(Ok(t)) => t.trim().to_string(),
        Some(Err(e)) => {
            p.0.push(e);
            return None;
        }
        None => raw.token.trim().to_string(),
    };
    let wanted = match raw.enabled {
        Toggle::Off => false,
        Toggle::On => true,
        Toggle::Auto => !token.is_empty(),
    };
    if !wanted {
        return None;
    }
    if token.is_empty() {
        p.0.push(
            "platforms.telegram is on but has no token: set TELEGRAM_BOT_TOKEN (from @BotFather)"
                .into(),
        );
        return None;
    }
    if token.chars().any(|c| c.is_whitespace() || c == '/') {
        p.0.push("platforms.telegram.token does not look like a bot token".into());
        return None;
    }
    let api_url = match url::Url::parse(&raw.api_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => {
            p.0.push(format!(
                "platforms.telegram.api_url: {:?} is not an http(s) URL",
                raw.api_url
            ));
            return None;
        }
    };
    if raw.poll_timeout > Duration::from_secs(50) {
        p.0.push("platforms.telegram.poll_timeout must be at most 50s".into());
    }
    Some(TelegramConfig {
        token: Secret::new(token),
        api_url,
        poll_timeout: raw.poll_timeout,
        max_file_bytes: raw.max_file_bytes,
        pacing: Pacing {
            per_chat: Some(Rate::new(raw.chat_interval, raw.chat_burst)),
            per_group: Some(Rate::new(raw.group_interval, raw.group_burst)),
            global: Some(Rate::new(raw.global_interval, raw.global_burst)),
        },
    })
}

/// A token from the config value or from `file`, trimmed; `Err` with a message on a read error.
fn token_from(value: &str, file: &Path, key: &str) -> Result<String, String> {
    if file.as_os_str().is_empty() {
        return Ok(value.trim().to_string());
    }
    std::fs::read_to_string(file)
        .map(|t| t.trim().to_string())
        .map_err(|e| format!("{key}_file {}: {e}", file.display()))
}

fn validate_discord(raw: &RawDiscord, p: &mut Problems) -> Option<DiscordConfig> {
    let token = match token_from(&raw.token, &raw.token_file, "platforms.discord.token") {
        Ok(t) => t,
        Err(e) => {
            p.0.push(e);
            return None;
        }
    };
    let token = token
        .strip_prefix("Bot ")
        .unwrap_or(&token)
        .trim()
        .to_string();
    let wanted = match raw.enabled {
        Toggle::Off => false,
        Toggle::On => true,
        Toggle::Auto => !token.is_empty(),
    };
    if !wanted {
        return None;
    }
    if token.is_empty() {
        p.0.push(
            "platforms.discord is on but has no token: set DISCORD_BOT_TOKEN (Developer Portal > Bot)"
                .into(),
        );
        return None;
    }
    if token.chars().any(char::is_whitespace) {
        p.0.push("platforms.discord.token does not look like a bot token".into());
        return None;
    }
    let api_url = match url::Url::parse(&raw.api_url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => u,
        _ => {
            p.0.push(format!(
                "platforms.discord.api_url: {:?} is not an http(s) URL",
                raw.api_url
            ));
            return None;
        }
    };
    let shards = match &raw.shards {
        figment::value::Value::String(_, s) if s.trim() == "auto" => None,
        v => match v
            .to_u128()
            .and_then(|n| u32::try_from(n).ok())
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| *n > 0)
        {
            Some(n) => Some(n),
            None => {
                p.0.push("platforms.discord.shards must be \"auto\" or a number of shards".into());
                None
            }
        },
    };
    let shard_range = if raw.shard_range.trim().is_empty() {
        None
    } else {
        let text = raw.shard_range.trim();
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let parsed = match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
            (Ok(a), Ok(b)) if a <= b && b < u32::MAX => Some(a..b + 1),
            _ => None,
        };
        if parsed.is_none() {
            p.0.push(format!(
                "platforms.discord.shard_range: {:?} is not a range like \"0-3\" (or one shard, \"2\")",
                raw.shard_range
            ));
        }
        if let (Some(r), Some(n)) = (&parsed, shards)
            && r.end > n
        {
            p.0.push(format!(
                "platforms.discord.shard_range {:?} goes past the {n} shards",
                raw.shard_range
            ));
        }
        parsed
    };
    if raw.prefix.trim().is_empty() || raw.prefix.chars().any(char::is_whitespace) {
        p.0.push("platforms.discord.prefix must be a non-empty word, like \"!\"".into());
    }
    Some(DiscordConfig {
        token: Secret::new(token),
        api_url,
        shards,
        shard_range,
        prefix: raw.prefix.clone(),
        register_commands: raw.register_commands,
        recovery_window: raw.recovery_window,
        pacing: Pacing {
            per_chat: Some(Rate::new(raw.channel_interval, raw.channel_burst)),
            per_group: None,
            global: Some(Rate::new(raw.global_interval, raw.global_burst)),
        },
    })
}

fn validate_transcription(
    raw: &RawTranscription,
    env: &dyn EnvSource,
    p: &mut Problems,
) -> Option<TranscriptionConfig> {
    match raw.kind.as_str() {
        "none" => None,
        "openai" => {
            let base_url = match url::Url::parse(&raw.base_url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Some(u),
                _ => {
                    p.0.push(format!(
                        "transcription.base_url: {:?} is not an http(s) URL",
                        raw.base_url
                    ));
                    None
                }
            };
            if raw.model.trim().is_empty() {
                p.0.push("transcription.model is required (e.g. whisper-large-v3)".into());
            }
            let file =
                (!raw.api_key_file.as_os_str().is_empty()).then_some(raw.api_key_file.as_path());
            let var = (!raw.api_key_env.is_empty()).then_some(raw.api_key_env.as_str());
            let api_key = read_key("transcription", var, file, env, p);
            Some(TranscriptionConfig {
                base_url: base_url?,
                model: raw.model.trim().to_string(),
                api_key,
                timeout: p.non_zero_duration("transcription.timeout", raw.timeout),
                max_duration: raw.max_duration,
            })
        }
        other => {
            p.0.push(format!(
                "transcription.kind: unknown kind {other:?} (known: \"none\", \"openai\")"
            ));
            None
        }
    }
}

fn validate_admin(raw: &RawAdmin, p: &mut Problems) -> AdminConfig {
    let addr = raw.addr.parse::<SocketAddr>().unwrap_or_else(|e| {
        p.0.push(format!(
            "admin.addr: {:?} is not a socket address like 127.0.0.1:9465 ({e})",
            raw.addr
        ));
        SocketAddr::from(([127, 0, 0, 1], 9465))
    });
    let token = if !raw.token.trim().is_empty() {
        Some(Secret::new(raw.token.trim()))
    } else if !raw.token_file.is_empty() {
        match std::fs::read_to_string(&raw.token_file) {
            Ok(t) if !t.trim().is_empty() => Some(Secret::new(t.trim())),
            Ok(_) => {
                p.0.push(format!("admin.token_file {} is empty", raw.token_file));
                None
            }
            Err(e) => {
                p.0.push(format!(
                    "admin.token_file {} cannot be read: {}",
                    raw.token_file,
                    e.kind()
                ));
                None
            }
        }
    } else {
        None
    };
    if let Some(t) = &token
        && t.expose().len() < 16
    {
        p.0.push("admin.token must be at least 16 characters".into());
    }
    AdminConfig { addr, token }
}

fn validate_sentry(raw: &RawSentry, p: &mut Problems) -> SentryConfig {
    let dsn = raw.dsn.trim();
    if !dsn.is_empty() && dsn.parse::<url::Url>().is_err() {
        // The DSN holds a key: say what is wrong, not what it is.
        p.0.push("sentry.dsn is not a URL like https://<key>@<host>/<project>".into());
    }
    if !(0.0..=1.0).contains(&raw.sample_rate) {
        p.0.push(format!(
            "sentry.sample_rate must be between 0.0 and 1.0, not {}",
            raw.sample_rate
        ));
    }
    SentryConfig {
        dsn: (!dsn.is_empty()).then(|| Secret::new(dsn)),
        environment: raw.environment.clone(),
        sample_rate: raw.sample_rate,
    }
}

fn validate_chaos(raw: RawChaos, p: &mut Problems) -> ChaosConfig {
    let mut kinds = Vec::new();
    for name in raw.kinds.items() {
        match ActorKind::ALL.iter().find(|k| k.as_str() == name) {
            Some(k) if k.is_supervisor() => p.0.push(format!(
                "chaos.kinds: {name} is a supervisor; chaos kills only workers"
            )),
            Some(k) => kinds.push(*k),
            None => {
                p.0.push(format!("chaos.kinds: no actor kind is called {name:?}"))
            }
        }
    }
    if raw.enabled && kinds.is_empty() {
        p.0.push("chaos.kinds is empty: name the kinds of actor chaos may kill".into());
    }
    ChaosConfig {
        enabled: raw.enabled,
        kill_every: p.non_zero_duration("chaos.kill_every", raw.kill_every),
        kinds,
    }
}

/// An API key from the environment variable named by `api_key_env`, or from a secrets file.
/// Errors name the variable or the file, never the value.
fn read_key(
    section: &str,
    var: Option<&str>,
    file: Option<&Path>,
    env: &dyn EnvSource,
    p: &mut Problems,
) -> Option<Secret> {
    if let Some(var) = var.filter(|v| !v.is_empty()) {
        return match env.get(var).map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Some(Secret::new(v)),
            _ => {
                p.0.push(format!(
                    "{section}.api_key_env names {var}, which is not set"
                ));
                None
            }
        };
    }
    if let Some(path) = file {
        return match std::fs::read_to_string(path) {
            Ok(v) if !v.trim().is_empty() => Some(Secret::new(v.trim())),
            Ok(_) => {
                p.0.push(format!(
                    "{section}.api_key_file {} is empty",
                    path.display()
                ));
                None
            }
            Err(e) => {
                p.0.push(format!("{section}.api_key_file {}: {e}", path.display()));
                None
            }
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_with_demo_provider() {
        let c = Config::defaults().expect("defaults are valid");
        assert_eq!(c.metrics.addr.port(), 9464);
        assert_eq!(c.providers.len(), 1);
        assert!(matches!(c.providers[0].kind, ProviderKind::Demo));
        assert_eq!(c.platforms.console.enabled, Toggle::Auto);
    }

    #[test]
    fn environment_overrides_known_keys() {
        let e = env(&[
            ("TOLMACH_METRICS_ADDR", "0.0.0.0:9999"),
            ("TOLMACH_RATE_LIMIT_BURST", "9"),
            ("TOLMACH_LOG", "debug"),
            ("TOLMACH_RUNTIME_SHUTDOWN_GRACE", "3s"),
            ("UNRELATED", "x"),
        ]);
        let c = Config::load(None, &e).expect("valid");
        assert_eq!(c.metrics.addr.to_string(), "0.0.0.0:9999");
        assert_eq!(c.rate_limit.burst.get(), 9);
        assert_eq!(c.log.level, "debug");
        assert_eq!(c.runtime.shutdown_grace, Duration::from_secs(3));
    }

    #[test]
    fn providers_can_be_declared_from_the_environment() {
        let e = env(&[
            ("TOLMACH_PROVIDERS_GROQ_KIND", "openai"),
            ("TOLMACH_PROVIDERS_GROQ_BASE_URL", "http://127.0.0.1:1/v1"),
            ("TOLMACH_PROVIDERS_GROQ_MODEL", "llama"),
            ("TOLMACH_PROVIDERS_GROQ_API_KEY_ENV", "GROQ_API_KEY"),
            ("TOLMACH_PROVIDERS_GROQ_PRIORITY", "1"),
            ("GROQ_API_KEY", "sk-secret-value"),
        ]);
        let c = Config::load(None, &e).expect("valid");
        assert_eq!(c.providers[0].name, "groq");
        let ProviderKind::OpenAi(o) = &c.providers[0].kind else {
            panic!("groq should be openai")
        };
        assert_eq!(
            o.api_key.as_ref().map(Secret::expose),
            Some("sk-secret-value")
        );
        assert!(!format!("{c:?}").contains("sk-secret-value"));
        assert_eq!(c.providers[1].name, "demo");
    }

    #[test]
    fn provider_policies_override_the_defaults_from_a_file_and_the_environment() {
        let dir = std::env::temp_dir().join(format!("tolmach-policy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[resilience.breaker]\nfailure_rate = 60\n\n\
             [providers.demo.retry]\nmax_attempts = 5\n\n\
             [providers.demo.cost]\nper_million_chars = 20\ndaily_budget = 1.5\n",
        )
        .expect("write");
        let e = env(&[
            ("TOLMACH_PROVIDERS_DEMO_RETRY_BACKOFF", "250ms"),
            ("TOLMACH_PROVIDERS_DEMO_HEDGE_DELAY", "1500ms"),
            ("TOLMACH_PROVIDERS_DEMO_BREAKER_WINDOW", "time"),
            ("TOLMACH_RESILIENCE_HEDGE_BUDGET", "0.25"),
        ]);
        let c = Config::load(Some(&file), &e).expect("valid");
        let p = &c.providers[0].policies;
        assert_eq!(p.retry.max_attempts.get(), 5, "file override");
        assert_eq!(p.retry.backoff, Duration::from_millis(250), "env override");
        assert_eq!(p.retry.backoff_max, Duration::from_secs(4), "default kept");
        assert_eq!(
            p.breaker.failure_rate, 60.0,
            "integer accepted; default layer"
        );
        assert_eq!(
            p.breaker.window,
            crate::resilience::config::WindowKind::Time
        );
        assert_eq!(
            p.hedge.delay,
            crate::resilience::config::HedgeDelay::Fixed(Duration::from_millis(1500))
        );
        assert_eq!(p.cost.daily_budget, Some(1.5));
        assert_eq!(p.cost.per_million_chars, 20.0);
        assert_eq!(c.resilience.hedge_budget, 0.25);
        assert_eq!(c.resilience.defaults.retry.max_attempts.get(), 3);

        let bad = env(&[
            ("TOLMACH_PROVIDERS_DEMO_RETRY_MAX_ATEMPTS", "5"),
            ("TOLMACH_PROVIDERS_DEMO_BREAKER_FAILURE_RATE", "150"),
            ("TOLMACH_PROVIDERS_DEMO_HEDGE_DELAY", "soon"),
        ]);
        let problems = Config::load(None, &bad).expect_err("invalid").problems;
        let all = problems.join("\n");
        assert!(all.contains("providers.demo.breaker.failure_rate"), "{all}");
        assert!(all.contains("providers.demo.hedge.delay"), "{all}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn every_problem_is_reported_and_no_secret_leaks() {
        let e = env(&[
            ("TOLMACH_RATE_LIMIT_BURST", "0"),
            ("TOLMACH_METRICS_ADDR", "not-an-address"),
            ("TOLMACH_PROVIDERS_X_KIND", "openai"),
            ("TOLMACH_PROVIDERS_X_API_KEY_ENV", "MISSING_KEY"),
        ]);
        let err = Config::load(None, &e).expect_err("invalid");
        let text = err.to_string();
        assert!(text.contains("rate_limit.burst"), "{text}");
        assert!(text.contains("metrics.addr"), "{text}");
        assert!(text.contains("providers.x.base_url"), "{text}");
        assert!(text.contains("MISSING_KEY"), "{text}");
        assert!(err.problems.len() >= 5, "{text}");
    }

    #[test]
    fn every_provider_kind_can_be_declared_from_the_environment() {
        let e = env(&[
            ("TOLMACH_PROVIDERS_CLAUDE_KIND", "anthropic"),
            ("TOLMACH_PROVIDERS_CLAUDE_MODEL", "claude-3-5-haiku-latest"),
            ("TOLMACH_PROVIDERS_CLAUDE_API_KEY_ENV", "ANTHROPIC_API_KEY"),
            ("TOLMACH_PROVIDERS_CLAUDE_MAX_TOKENS", "2048"),
            ("TOLMACH_PROVIDERS_CLAUDE_PRIORITY", "1"),
            ("ANTHROPIC_API_KEY", "sk-ant-secret"),
            ("TOLMACH_PROVIDERS_DEEPL_KIND", "deepl"),
            ("TOLMACH_PROVIDERS_DEEPL_API_KEY_ENV", "DEEPL_AUTH_KEY"),
            ("TOLMACH_PROVIDERS_DEEPL_TIMEOUT", "5s"),
            ("TOLMACH_PROVIDERS_DEEPL_PRIORITY", "2"),
            ("DEEPL_AUTH_KEY", "deepl-secret:fx"),
            ("TOLMACH_PROVIDERS_LIBRE_KIND", "libretranslate"),
            ("TOLMACH_PROVIDERS_LIBRE_BASE_URL", "http://127.0.0.1:5000"),
            ("TOLMACH_PROVIDERS_LIBRE_PRIORITY", "3"),
            ("TOLMACH_PROVIDERS_AZURE_KIND", "openai"),
            (
                "TOLMACH_PROVIDERS_AZURE_BASE_URL",
                "https://acme.openai.azure.com",
            ),
            ("TOLMACH_PROVIDERS_AZURE_MODEL", "gpt-4o-mini"),
            ("TOLMACH_PROVIDERS_AZURE_AZURE_API_VERSION", "2024-10-21"),
            (
                "TOLMACH_PROVIDERS_AZURE_API_KEY_ENV",
                "AZURE_OPENAI_API_KEY",
            ),
            ("TOLMACH_PROVIDERS_AZURE_PRIORITY", "4"),
            ("AZURE_OPENAI_API_KEY", "azure-secret"),
        ]);
        let c = Config::load(None, &e).expect("valid");
        let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["claude", "deepl", "libre", "azure", "demo"]);
        let ProviderKind::Anthropic(a) = &c.providers[0].kind else {
            panic!("claude should be anthropic")
        };
        assert_eq!(a.base_url.as_str(), "https://api.anthropic.com/");
        assert_eq!(a.max_tokens.map(NonZeroU32::get), Some(2048));
        assert_eq!(a.api_key.expose(), "sk-ant-secret");
        let ProviderKind::DeepL(d) = &c.providers[1].kind else {
            panic!("deepl should be deepl")
        };
        assert!(d.base_url.is_none());
        assert_eq!(d.timeout, Duration::from_secs(5));
        let ProviderKind::LibreTranslate(l) = &c.providers[2].kind else {
            panic!("libre should be libretranslate")
        };
        assert!(l.api_key.is_none());
        let ProviderKind::OpenAi(o) = &c.providers[3].kind else {
            panic!("azure should be openai")
        };
        assert_eq!(o.azure_api_version.as_deref(), Some("2024-10-21"));
        let printed = format!("{c:?}");
        for secret in ["sk-ant-secret", "deepl-secret", "azure-secret"] {
            assert!(!printed.contains(secret), "{secret} printed");
        }
        for p in &c.providers {
            assert!(crate::providers::build(p).is_ok(), "{} builds", p.name);
        }
    }

    #[test]
    fn provider_mistakes_name_the_kinds_and_the_keys_they_need() {
        let e = env(&[
            ("TOLMACH_PROVIDERS_A_KIND", "google"),
            ("TOLMACH_PROVIDERS_B_KIND", "deepl"),
            ("TOLMACH_PROVIDERS_B_API_KEY_ENV", ""),
            ("TOLMACH_PROVIDERS_C_KIND", "anthropic"),
            ("TOLMACH_PROVIDERS_C_API_KEY_ENV", "C_KEY"),
            ("TOLMACH_PROVIDERS_C_MAX_TOKENS", "0"),
            ("C_KEY", "k"),
            ("TOLMACH_PROVIDERS_D_KIND", "libretranslate"),
            ("TOLMACH_PROVIDERS_D_BASE_URL", "http://127.0.0.1:5000"),
            ("TOLMACH_PROVIDERS_D_MODEL", "argos"),
            ("TOLMACH_PROVIDERS_D_AZURE_API_VERSION", "2024-10-21"),
            ("TOLMACH_PROVIDERS_E_KIND", "openai"),
            (
                "TOLMACH_PROVIDERS_E_BASE_URL",
                "https://acme.openai.azure.com",
            ),
            ("TOLMACH_PROVIDERS_E_MODEL", "my deployment"),
            ("TOLMACH_PROVIDERS_E_AZURE_API_VERSION", "2024-10-21"),
        ]);
        let err = Config::load(None, &e).expect_err("invalid");
        let text = err.to_string();
        for expected in [
            "providers.a.kind: unknown kind \"google\" (known: \"demo\", \"openai\", \"anthropic\", \"deepl\", \"libretranslate\")",
            "providers.b.api_key_env or providers.b.api_key_file is required for kind = \"deepl\"",
            "providers.c.model is required for kind = \"anthropic\"",
            "providers.c.max_tokens must be at least 1",
            "providers.d.model does not apply to kind = \"libretranslate\" (kind = \"libretranslate\" needs base_url; takes api_key_env or api_key_file, timeout)",
            "providers.d.azure_api_version does not apply to kind = \"libretranslate\"",
            "providers.e.model: with azure_api_version this is the deployment name",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
        }
        assert_eq!(err.problems.len(), 7, "{text}");
    }

    #[test]
    fn the_commented_provider_examples_are_valid() {
        // Uncomment every `# [providers.x]` table of the defaults and its `# key = value` lines.
        let mut examples = String::new();
        let mut inside = false;
        for line in DEFAULT_TOML.lines() {
            let Some(code) = line.strip_prefix("# ") else {
                inside = false;
                continue;
            };
            if code.starts_with("[providers.") {
                inside = true;
            }
            if inside {
                examples.push_str(code);
                examples.push('\n');
            }
        }
        assert_eq!(examples.matches("[providers.").count(), 5, "{examples}");
        let dir = std::env::temp_dir().join(format!("tolmach-examples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("examples.toml");
        std::fs::write(&path, &examples).expect("write");
        let keys = env(&[
            ("GROQ_API_KEY", "g"),
            ("ANTHROPIC_API_KEY", "a"),
            ("DEEPL_AUTH_KEY", "d:fx"),
            ("AZURE_OPENAI_API_KEY", "z"),
        ]);
        let c = Config::load(Some(&path), &keys).unwrap_or_else(|e| panic!("{e}\n{examples}"));
        let names: Vec<&str> = c.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["deepl", "groq", "azure", "claude", "libre", "demo"]);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = std::env::temp_dir().join(format!("tolmach-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("typo.toml");
        std::fs::write(&path, "[metrics]\nadr = \"127.0.0.1:1\"\n").expect("write");
        let err = Config::load(Some(&path), &HashMap::new()).expect_err("typo must fail");
        assert!(err.to_string().contains("adr"), "{err}");
    }

    #[test]
    fn telegram_is_enabled_by_its_token_and_never_prints_it() {
        assert!(
            Config::defaults()
                .expect("valid")
                .platforms
                .telegram
                .is_none()
        );
        let e = env(&[
            ("TELEGRAM_BOT_TOKEN", "123456:ABC-secret"),
            ("TELEGRAM_API_URL", "http://127.0.0.1:8081"),
        ]);
        let c = Config::load(None, &e).expect("valid");
        let t = c.platforms.telegram.as_ref().expect("enabled");
        assert_eq!(t.token.expose(), "123456:ABC-secret");
        assert_eq!(t.api_url.as_str(), "http://127.0.0.1:8081/");
        assert!(!format!("{c:?}").contains("ABC-secret"));
        let off = env(&[
            ("TELEGRAM_BOT_TOKEN", "123456:ABC"),
            ("TOLMACH_PLATFORMS_TELEGRAM_ENABLED", "off"),
        ]);
        assert!(
            Config::load(None, &off)
                .expect("valid")
                .platforms
                .telegram
                .is_none()
        );
        let missing = env(&[("TOLMACH_PLATFORMS_TELEGRAM_ENABLED", "on")]);
        let err = Config::load(None, &missing).expect_err("no token");
        assert!(err.to_string().contains("TELEGRAM_BOT_TOKEN"), "{err}");
    }

    #[test]
    fn discord_is_enabled_by_its_token() {
        let e = env(&[
            ("DISCORD_BOT_TOKEN", "Bot abc.def.ghi"),
            ("DISCORD_API_URL", "http://127.0.0.1:9"),
            ("TOLMACH_PLATFORMS_DISCORD_SHARDS", "4"),
            ("TOLMACH_PLATFORMS_DISCORD_SHARD_RANGE", "2-3"),
        ]);
        let c = Config::load(None, &e).expect("valid");
        let d = c.platforms.discord.as_ref().expect("enabled");
        assert_eq!(d.token.expose(), "abc.def.ghi");
        assert_eq!(d.shards, Some(4));
        assert_eq!(d.shard_range, Some(2..4));
        assert!(!format!("{c:?}").contains("abc.def"));
        let bad = env(&[
            ("DISCORD_BOT_TOKEN", "x"),
            ("TOLMACH_PLATFORMS_DISCORD_SHARDS", "2"),
            ("TOLMACH_PLATFORMS_DISCORD_SHARD_RANGE", "1-5"),
        ]);
        let err = Config::load(None, &bad).expect_err("range past shards");
        assert!(err.to_string().contains("goes past"), "{err}");
        let one = env(&[
            ("DISCORD_BOT_TOKEN", "x"),
            ("TOLMACH_PLATFORMS_DISCORD_SHARD_RANGE", " 3 "),
        ]);
        let c = Config::load(None, &one).expect("one shard");
        assert_eq!(c.platforms.discord.expect("on").shard_range, Some(3..4));
        for nonsense in ["3-1", "a-b", "-", "1-2-3"] {
            let e = env(&[
                ("DISCORD_BOT_TOKEN", "x"),
                ("TOLMACH_PLATFORMS_DISCORD_SHARD_RANGE", nonsense),
            ]);
            assert!(Config::load(None, &e).is_err(), "{nonsense}");
        }
        assert!(
            Config::defaults()
                .expect("valid")
                .platforms
                .discord
                .is_none()
        );
    }

    #[test]
    fn env_values_keep_string_keys_as_strings() {
        let e = env(&[("TOLMACH_LOG_LEVEL", "warn")]);
        assert_eq!(Config::load(None, &e).expect("valid").log.level, "warn");
        assert_eq!(
            provider_path("GROQ_API_KEY_ENV", &BTreeMap::new()).as_deref(),
            Some("providers.groq.api_key_env")
        );
        assert_eq!(
            provider_path("MY_LLM_BASE_URL", &BTreeMap::new()).as_deref(),
            Some("providers.my_llm.base_url")
        );
        assert_eq!(
            provider_path("AZURE_AZURE_API_VERSION", &BTreeMap::new()).as_deref(),
            Some("providers.azure.azure_api_version")
        );
        assert_eq!(
            provider_path("CLAUDE_MAX_TOKENS", &BTreeMap::new()).as_deref(),
            Some("providers.claude.max_tokens")
        );
        assert_eq!(provider_path("KIND", &BTreeMap::new()), None);
    }
}
