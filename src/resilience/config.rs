//! The policies' configuration: `[resilience.*]` holds the defaults for every provider, and a
//! provider may override any key in its own `[providers.<name>.<section>]` table.
//!
//! Both layers arrive from figment as plain TOML tables; a provider's section is laid over the
//! default section key by key and only then deserialized strictly (`deny_unknown_fields`), so a
//! typo in either place is reported with its full key path.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use serde::Deserialize;

/// The sections a provider may override, in the order they are documented.
pub const SECTIONS: &[&str] = &["retry", "breaker", "bulkhead", "hedge", "cost"];

/// Every policy of one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
    pub bulkhead: BulkheadConfig,
    pub hedge: HedgeConfig,
    pub cost: CostConfig,
}

/// Policies that span providers.
#[derive(Debug, Clone, PartialEq)]
pub struct ResilienceConfig {
    /// Hedged calls allowed, as a fraction of first calls (0.1: at most 10% extra calls).
    pub hedge_budget: f64,
    /// Estimated spend allowed per user per UTC day, in dollars; `None`: unlimited.
    pub user_daily_budget: Option<f64>,
    /// Past this fraction of a daily budget, cheaper providers are tried first.
    pub prefer_cheaper_at: f64,
    /// Defaults for every provider.
    pub defaults: Policies,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Attempts per provider call, the first included.
    pub max_attempts: NonZeroU32,
    /// Wait before the second attempt; multiplied by `multiplier` for each further one.
    pub backoff: Duration,
    pub multiplier: f64,
    pub backoff_max: Duration,
    /// Each wait is drawn uniformly from `wait * (1 ± jitter)`.
    pub jitter: f64,
    /// Retries allowed over the last 10 s: `budget_min + budget_ratio * first attempts`.
    pub budget_ratio: f64,
    pub budget_min: u32,
}

/// Whether the breaker's sliding window counts calls or seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    Count,
    Time,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    pub window: WindowKind,
    /// The last `window_size` calls, or the calls of the last `window_size` seconds.
    pub window_size: NonZeroU32,
    /// Calls the window must hold before rates are judged.
    pub minimum_calls: NonZeroU32,
    /// Percent of failed calls in the window that opens the circuit.
    pub failure_rate: f64,
    /// A call slower than this is slow (successful or not).
    pub slow_call_duration: Duration,
    /// Percent of slow calls in the window that opens the circuit.
    pub slow_call_rate: f64,
    /// How long an open circuit refuses calls before it lets trial calls through.
    pub wait_in_open: Duration,
    /// Trial calls in the half-open state; all must succeed (one bad probe re-opens).
    pub half_open_calls: NonZeroU32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BulkheadConfig {
    /// Calls in flight to the provider at most.
    pub max_concurrent: NonZeroUsize,
    /// How long a call may wait for a free slot before the next provider is tried.
    pub max_wait: Duration,
    /// Calls that may wait at once; beyond that, the next provider at once.
    pub max_waiting: usize,
}

/// When a hedge is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HedgeDelay {
    /// After a fixed time.
    Fixed(Duration),
    /// After the provider's recent 95th-percentile latency.
    P95,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HedgeConfig {
    pub enabled: bool,
    pub delay: HedgeDelay,
    /// The delay while too few latencies are known for a percentile.
    pub initial_delay: Duration,
    /// The shortest delay a percentile may give.
    pub min_delay: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CostConfig {
    /// Dollars per million characters sent (machine translation pricing).
    pub per_million_chars: f64,
    /// Dollars per million tokens (LLM pricing); tokens the provider does not report are
    /// estimated at four characters each.
    pub per_million_input_tokens: f64,
    pub per_million_output_tokens: f64,
    /// Estimated dollars per UTC day; `None`: unlimited.
    pub daily_budget: Option<f64>,
    /// Characters per UTC day; `None`: unlimited.
    pub daily_chars: Option<u64>,
}

impl CostConfig {
    /// Dollars for a call of `chars` characters with the given token counts.
    pub fn price(&self, chars: u64, input_tokens: u64, output_tokens: u64) -> f64 {
        (chars as f64 * self.per_million_chars
            + input_tokens as f64 * self.per_million_input_tokens
            + output_tokens as f64 * self.per_million_output_tokens)
            / 1e6
    }

    /// A comparable price of one typical character, for "prefer cheaper providers".
    pub fn unit_price(&self) -> f64 {
        self.per_million_chars
            + (self.per_million_input_tokens + self.per_million_output_tokens) / 4.0
    }

    pub fn is_free(&self) -> bool {
        self.unit_price() <= 0.0
    }
}

// ---------------------------------------------------------------------------------------------
// Raw sections
// ---------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetry {
    max_attempts: u32,
    #[serde(with = "humantime_serde")]
    backoff: Duration,
    #[serde(deserialize_with = "number")]
    multiplier: f64,
    #[serde(with = "humantime_serde")]
    backoff_max: Duration,
    #[serde(deserialize_with = "number")]
    jitter: f64,
    #[serde(deserialize_with = "number")]
    budget_ratio: f64,
    budget_min: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBreaker {
    window: WindowKind,
    window_size: u32,
    minimum_calls: u32,
    #[serde(deserialize_with = "number")]
    failure_rate: f64,
    #[serde(with = "humantime_serde")]
    slow_call_duration: Duration,
    #[serde(deserialize_with = "number")]
    slow_call_rate: f64,
    #[serde(with = "humantime_serde")]
    wait_in_open: Duration,
    half_open_calls: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBulkhead {
    max_concurrent: usize,
    #[serde(with = "humantime_serde")]
    max_wait: Duration,
    max_waiting: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHedge {
    enabled: bool,
    delay: String,
    #[serde(with = "humantime_serde")]
    initial_delay: Duration,
    #[serde(with = "humantime_serde")]
    min_delay: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCost {
    #[serde(deserialize_with = "number")]
    per_million_chars: f64,
    #[serde(deserialize_with = "number")]
    per_million_input_tokens: f64,
    #[serde(deserialize_with = "number")]
    per_million_output_tokens: f64,
    #[serde(deserialize_with = "number")]
    daily_budget: f64,
    daily_chars: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGlobal {
    #[serde(deserialize_with = "number")]
    hedge_budget: f64,
    #[serde(deserialize_with = "number")]
    user_daily_budget: f64,
    #[serde(deserialize_with = "number")]
    prefer_cheaper_at: f64,
}

/// A number written either way (`60` or `60.0`).
fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Number {
        Int(i64),
        Float(f64),
    }
    Ok(match Number::deserialize(d)? {
        Number::Int(i) => i as f64,
        Number::Float(f) => f,
    })
}

/// Validates `[resilience]` (its sections are the defaults of every provider).
pub fn resilience(table: &toml::Table, problems: &mut Vec<String>) -> Option<ResilienceConfig> {
    let mut globals = table.clone();
    globals.retain(|k, _| !SECTIONS.contains(&k));
    let global: Option<RawGlobal> = strict(globals, "resilience", problems);
    let defaults = policies(table, &toml::Table::new(), "resilience", problems);
    let global = global?;
    let fraction = |key: &str, v: f64, problems: &mut Vec<String>| {
        if !(0.0..=1.0).contains(&v) {
            problems.push(format!("resilience.{key} must be between 0 and 1"));
        }
    };
    fraction("hedge_budget", global.hedge_budget, problems);
    fraction("prefer_cheaper_at", global.prefer_cheaper_at, problems);
    non_negative(
        "resilience.user_daily_budget",
        global.user_daily_budget,
        problems,
    );
    Some(ResilienceConfig {
        hedge_budget: global.hedge_budget,
        user_daily_budget: (global.user_daily_budget > 0.0).then_some(global.user_daily_budget),
        prefer_cheaper_at: global.prefer_cheaper_at,
        defaults: defaults?,
    })
}

/// The policies of one provider: `defaults` (the `[resilience]` table) with `overrides` (the
/// provider's own table, of which only the policy sections are read) laid over them.
pub fn policies(
    defaults: &toml::Table,
    overrides: &toml::Table,
    prefix: &str,
    problems: &mut Vec<String>,
) -> Option<Policies> {
    let section = |name: &str, problems: &mut Vec<String>| -> toml::Table {
        let mut merged = match defaults.get(name) {
            Some(toml::Value::Table(t)) => t.clone(),
            _ => toml::Table::new(),
        };
        match overrides.get(name) {
            Some(toml::Value::Table(t)) => {
                merged.extend(t.iter().map(|(k, v)| (k.clone(), v.clone())))
            }
            Some(_) => problems.push(format!("{prefix}.{name} must be a table")),
            None => {}
        }
        merged
    };
    let key = |name: &str| format!("{prefix}.{name}");
    let retry: Option<RawRetry> = strict(section("retry", problems), &key("retry"), problems);
    let breaker: Option<RawBreaker> =
        strict(section("breaker", problems), &key("breaker"), problems);
    let bulkhead: Option<RawBulkhead> =
        strict(section("bulkhead", problems), &key("bulkhead"), problems);
    let hedge: Option<RawHedge> = strict(section("hedge", problems), &key("hedge"), problems);
    let cost: Option<RawCost> = strict(section("cost", problems), &key("cost"), problems);
    Some(Policies {
        retry: retry_config(retry?, &key("retry"), problems)?,
        breaker: breaker_config(breaker?, &key("breaker"), problems)?,
        bulkhead: bulkhead_config(bulkhead?, &key("bulkhead"), problems)?,
        hedge: hedge_config(hedge?, &key("hedge"), problems)?,
        cost: cost_config(cost?, &key("cost"), problems),
    })
}

fn strict<T: for<'de> Deserialize<'de>>(
    table: toml::Table,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<T> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| problems.push(format!("{key}: {}", e.message())))
        .ok()
}

fn non_negative(key: &str, v: f64, problems: &mut Vec<String>) {
    if !(v.is_finite() && v >= 0.0) {
        problems.push(format!("{key} must be a number of at least 0"));
    }
}

fn percent(key: &str, v: f64, problems: &mut Vec<String>) {
    if !(v > 0.0 && v <= 100.0) {
        problems.push(format!(
            "{key} must be a percentage above 0 and at most 100"
        ));
    }
}

fn non_zero_u32(key: &str, v: u32, problems: &mut Vec<String>) -> Option<NonZeroU32> {
    let n = NonZeroU32::new(v);
    if n.is_none() {
        problems.push(format!("{key} must be at least 1"));
    }
    n
}

fn retry_config(r: RawRetry, key: &str, problems: &mut Vec<String>) -> Option<RetryConfig> {
    let max_attempts = non_zero_u32(&format!("{key}.max_attempts"), r.max_attempts, problems);
    if !(r.multiplier.is_finite() && r.multiplier >= 1.0) {
        problems.push(format!("{key}.multiplier must be at least 1"));
    }
    if r.backoff > r.backoff_max {
        problems.push(format!("{key}.backoff must not exceed {key}.backoff_max"));
    }
    if !(0.0..1.0).contains(&r.jitter) {
        problems.push(format!("{key}.jitter must be at least 0 and below 1"));
    }
    non_negative(&format!("{key}.budget_ratio"), r.budget_ratio, problems);
    Some(RetryConfig {
        max_attempts: max_attempts?,
        backoff: r.backoff,
        multiplier: r.multiplier,
        backoff_max: r.backoff_max,
        jitter: r.jitter,
        budget_ratio: r.budget_ratio,
        budget_min: r.budget_min,
    })
}

fn breaker_config(b: RawBreaker, key: &str, problems: &mut Vec<String>) -> Option<BreakerConfig> {
    let window_size = non_zero_u32(&format!("{key}.window_size"), b.window_size, problems);
    let minimum_calls = non_zero_u32(&format!("{key}.minimum_calls"), b.minimum_calls, problems);
    let half_open_calls = non_zero_u32(
        &format!("{key}.half_open_calls"),
        b.half_open_calls,
        problems,
    );
    percent(&format!("{key}.failure_rate"), b.failure_rate, problems);
    percent(&format!("{key}.slow_call_rate"), b.slow_call_rate, problems);
    if b.wait_in_open.is_zero() {
        problems.push(format!("{key}.wait_in_open must be longer than zero"));
    }
    if b.slow_call_duration.is_zero() {
        problems.push(format!("{key}.slow_call_duration must be longer than zero"));
    }
    if b.window == WindowKind::Time && b.window_size > 3600 {
        problems.push(format!(
            "{key}.window_size is in seconds for a time window: at most 3600"
        ));
    }
    if b.window == WindowKind::Count && b.window_size > 10_000 {
        problems.push(format!("{key}.window_size must be at most 10000 calls"));
    }
    Some(BreakerConfig {
        window: b.window,
        window_size: window_size?,
        minimum_calls: minimum_calls?,
        failure_rate: b.failure_rate,
        slow_call_duration: b.slow_call_duration,
        slow_call_rate: b.slow_call_rate,
        wait_in_open: b.wait_in_open,
        half_open_calls: half_open_calls?,
    })
}

fn bulkhead_config(
    b: RawBulkhead,
    key: &str,
    problems: &mut Vec<String>,
) -> Option<BulkheadConfig> {
    let max_concurrent = NonZeroUsize::new(b.max_concurrent);
    if max_concurrent.is_none() {
        problems.push(format!("{key}.max_concurrent must be at least 1"));
    }
    Some(BulkheadConfig {
        max_concurrent: max_concurrent?,
        max_wait: b.max_wait,
        max_waiting: b.max_waiting,
    })
}

fn hedge_config(h: RawHedge, key: &str, problems: &mut Vec<String>) -> Option<HedgeConfig> {
    let delay = match h.delay.trim() {
        "p95" => HedgeDelay::P95,
        other => match humantime::parse_duration(other) {
            Ok(d) if !d.is_zero() => HedgeDelay::Fixed(d),
            _ => {
                problems.push(format!(
                    "{key}.delay must be \"p95\" or a duration such as \"1500ms\""
                ));
                return None;
            }
        },
    };
    Some(HedgeConfig {
        enabled: h.enabled,
        delay,
        initial_delay: h.initial_delay,
        min_delay: h.min_delay,
    })
}

fn cost_config(c: RawCost, key: &str, problems: &mut Vec<String>) -> CostConfig {
    for (name, v) in [
        ("per_million_chars", c.per_million_chars),
        ("per_million_input_tokens", c.per_million_input_tokens),
        ("per_million_output_tokens", c.per_million_output_tokens),
        ("daily_budget", c.daily_budget),
    ] {
        non_negative(&format!("{key}.{name}"), v, problems);
    }
    CostConfig {
        per_million_chars: c.per_million_chars,
        per_million_input_tokens: c.per_million_input_tokens,
        per_million_output_tokens: c.per_million_output_tokens,
        daily_budget: (c.daily_budget > 0.0).then_some(c.daily_budget),
        daily_chars: (c.daily_chars > 0).then_some(c.daily_chars),
    }
}
