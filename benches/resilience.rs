//! Measurements of the provider layer: what the policy stack costs per call, how close a
//! ten-language fan-out comes to one provider round trip, and what hedging buys against a
//! provider that sometimes stalls.
//!
//! Run: `cargo bench --bench resilience` (figures and the machine: docs/benchmarks.md). These
//! are measurements, not pass/fail tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::Actor;
use tolmach::Config;
use tolmach::actors::provider::{ProviderActor, ProviderArgs};
use tolmach::lang::Lang;
use tolmach::platforms::memory::MemoryPlatform;
use tolmach::providers::{Answer, Provider, ProviderError, TranslateJob};
use tolmach::resilience::guard::ProviderGuard;
use tolmach::resilience::pipeline;
use tolmach::resilience::router::{CacheConfig, Route, Router};
use tolmach::supervision::Slot;
use tolmach::telemetry::metrics::{Metric, Metrics};
use tolmach_testkit::{Behavior, FakeProvider};

const TEN: &str = "es,fr,de,it,pt,nl,pl,ru,ja,zh";

/// Answers at once: what is left is the policies' own cost.
struct Instant0;

#[async_trait::async_trait]
impl Provider for Instant0 {
    async fn translate(&self, job: &TranslateJob) -> Result<Answer, ProviderError> {
        Ok(Answer::text(job.text.clone()))
    }
}

fn config(env: &[(String, String)]) -> Config {
    let mut vars: std::collections::HashMap<String, String> = [
        ("TOLMACH_METRICS_ADDR", "127.0.0.1:0"),
        ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1000000"),
        ("TOLMACH_RATE_LIMIT_BURST", "1000000"),
        ("TOLMACH_CONVERSATION_IDLE_TIMEOUT", "1h"),
        ("TOLMACH_USERS_DAILY_QUOTA", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let data = std::env::temp_dir().join(format!("tolmach-bench-res-{}", std::process::id()));
    vars.insert(
        "TOLMACH_RUNTIME_DATA_DIR".into(),
        data.display().to_string(),
    );
    vars.extend(env.iter().cloned());
    Config::load(None, &vars).expect("config")
}

fn provider_env(name: &str, fake: &FakeProvider, priority: usize) -> Vec<(String, String)> {
    let upper = name.to_ascii_uppercase();
    [
        ("KIND", "openai".to_string()),
        ("BASE_URL", fake.base_url()),
        ("MODEL", "m".to_string()),
        ("PRIORITY", priority.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (format!("TOLMACH_PROVIDERS_{upper}_{k}"), v))
    .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn job() -> TranslateJob {
    TranslateJob {
        text: "good morning".into(),
        source: None,
        target: Lang::from_code("es").expect("es"),
        deadline: tokio::time::Instant::now() + Duration::from_secs(3600),
    }
}

/// The policy stack around a zero-latency provider: the pipeline alone (retry, breaker,
/// bulkhead, deadline, meters, metrics), then the whole path a subtask takes (router, provider
/// actor message, call task, pipeline).
async fn overhead() {
    let policies = config(&[]).resilience.defaults.clone();
    let guard = ProviderGuard::new("zero", policies, Metrics::new());
    let provider = Instant0;
    let job = job();
    let n = 200_000;
    for _ in 0..10_000 {
        let _ = pipeline::call(&guard, &provider, &job, false).await;
    }
    let t = Instant::now();
    for _ in 0..n {
        let _ = pipeline::call(&guard, &provider, &job, false).await;
    }
    let per = t.elapsed() / n;
    println!("policy stack (pipeline) per call, zero-latency provider, {n} calls: {per:?}");

    let metrics = Metrics::new();
    let policies = config(&[]).resilience.defaults.clone();
    let guard = ProviderGuard::new("zero", policies, metrics.clone());
    let (actor, _) = Actor::spawn(
        None,
        ProviderActor,
        ProviderArgs {
            provider: Arc::new(Instant0),
            guard: guard.clone(),
        },
    )
    .await
    .expect("provider actor");
    let slot = Slot::new();
    slot.set(actor.clone());
    let resilience = config(&[]).resilience;
    let router = Router::new(
        vec![Route {
            name: "zero".into(),
            slot,
            guard,
            demo: false,
        }],
        &resilience,
        CacheConfig {
            max_bytes: 0,
            ttl: Duration::from_secs(1),
        },
        metrics,
    );
    let n = 50_000;
    for _ in 0..5_000 {
        let _ = router.translate(&job, None).await;
    }
    let t = Instant::now();
    for _ in 0..n {
        let _ = router.translate(&job, None).await;
    }
    let per = t.elapsed() / n;
    println!(
        "whole provider path per call (router, actor message, call task, pipeline), {n} calls: {per:?}"
    );
    actor.stop(None);
}

/// Ten targets, one provider with a fixed latency L: the reply's time over L. With `chunks`
/// above 1 the text has that many sentences of ~80 characters, each a chunk of its own
/// (`chunk_chars` 100), so a request makes `10 × chunks` calls, at most `max_parallel` at once.
async fn fan_out(latency: Duration, chunks: usize, max_parallel: usize) {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::delayed(latency, Behavior::Echo));
    let platform = Arc::new(MemoryPlatform::new());
    let mut env = provider_env("fake", &fake, 1);
    env.push(("TOLMACH_COORDINATOR_CHUNK_CHARS".into(), "100".into()));
    env.push((
        "TOLMACH_COORDINATOR_MAX_PARALLEL".into(),
        max_parallel.to_string(),
    ));
    let app = tolmach::App::start(config(&env), vec![platform.clone()])
        .await
        .expect("app");
    let (rounds, warm_up) = (100, 10);
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds + warm_up {
        let text = if chunks <= 1 {
            format!("hello {i}")
        } else {
            (0..chunks)
                .map(|s| {
                    format!(
                        "Sentence {s} of request {i:04}, long enough to need a chunk of its own here."
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        let t = Instant::now();
        platform.push("c", "u", &format!("/tr {TEN} {text}"));
        assert!(
            platform
                .wait_for_replies(i + 1, Duration::from_secs(60))
                .await
        );
        if i >= warm_up {
            samples.push(t.elapsed());
        }
    }
    samples.sort();
    let l = latency.as_secs_f64();
    let mean = samples.iter().map(Duration::as_secs_f64).sum::<f64>() / samples.len() as f64;
    println!(
        "fan-out to 10 targets x {chunks} chunk(s) ({} calls), max_parallel {max_parallel}, \
         provider latency L = {latency:?}, {rounds} requests: mean {:.3}×L, p50 {:.3}×L, p99 {:.3}×L",
        10 * chunks,
        mean / l,
        percentile(&samples, 0.5).as_secs_f64() / l,
        percentile(&samples, 0.99).as_secs_f64() / l,
    );
    app.shutdown().await;
}

/// Ten providers; the first (which gets every first call) stalls 1 s on 1% of calls.
async fn hedging(hedge: bool) {
    let latency = Duration::from_millis(20);
    let mut fakes = Vec::new();
    let mut env = Vec::new();
    for i in 0..10 {
        let fake = FakeProvider::start_with_seed(7 + i as u64)
            .await
            .expect("fake");
        let normal = Behavior::delayed(latency, Behavior::Echo);
        fake.set_behavior(if i == 0 {
            Behavior::chance(
                0.01,
                Behavior::delayed(Duration::from_secs(1), Behavior::Echo),
                normal,
            )
        } else {
            normal
        });
        env.extend(provider_env(&format!("p{i}"), &fake, i + 1));
        fakes.push(fake);
    }
    env.push(("TOLMACH_RESILIENCE_HEDGE_ENABLED".into(), hedge.to_string()));
    env.push((
        "TOLMACH_RESILIENCE_HEDGE_INITIAL_DELAY".into(),
        "100ms".into(),
    ));
    let platform = Arc::new(MemoryPlatform::new());
    let app = tolmach::App::start(config(&env), vec![platform.clone()])
        .await
        .expect("app");
    let rounds = 300;
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        platform.push("c", "u", &format!("/tr {TEN} hello {i}"));
        assert!(
            platform
                .wait_for_replies(i + 1, Duration::from_secs(60))
                .await
        );
        samples.push(t.elapsed());
    }
    samples.sort();
    let first_calls = rounds * 10;
    let all_calls: usize = fakes.iter().map(FakeProvider::request_count).sum();
    let m = app.metrics();
    let count = |outcome: &str| -> f64 {
        (1..10)
            .filter_map(|i| {
                m.sample(
                    Metric::Hedges,
                    &[("provider", &format!("p{i}")), ("outcome", outcome)],
                )
            })
            .sum()
    };
    let (sent, won) = (count("sent"), count("won"));
    let abandoned = fakes[0].abandoned();
    println!(
        "one of 10 providers stalls 1 s on 1% of calls, hedging {}: {rounds} ten-language \
         fan-outs, p50 {:?}, p99 {:?}, max {:?}; {all_calls} calls for {first_calls} subtasks \
         ({:+.1}% extra){}",
        if hedge { "on " } else { "off" },
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1],
        (all_calls as f64 / first_calls as f64 - 1.0) * 100.0,
        if hedge {
            format!("; {sent} hedges sent, {won} won, {abandoned} primary calls cancelled")
        } else {
            String::new()
        },
    );
    app.shutdown().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        overhead().await;
        fan_out(Duration::from_millis(50), 1, 30).await;
        fan_out(Duration::from_millis(200), 1, 30).await;
        fan_out(Duration::from_millis(200), 3, 10).await;
        fan_out(Duration::from_millis(200), 3, 30).await;
        hedging(false).await;
        hedging(true).await;
    });
}
