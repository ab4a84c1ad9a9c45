//! Messages per second through the real serenity gateway client and the runtime's REST path
//! against the fake Discord, with the offline demo provider (zero latency) and pacing switched
//! off, so the figure is the runtime's own cost: gateway events, classification, ledger, actors,
//! SQLite acknowledgements, `POST /channels/{id}/messages`.
//!
//! Run: `cargo bench --bench discord` (figures in docs/benchmarks.md).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tolmach::App;
use tolmach::telemetry::metrics::Metrics;
use tolmach_testkit::{DcUser, FakeDiscord};

const TOKEN: &str = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.BENCH.token";
const GUILD: u64 = 1_100_000_000_000_000_000;

async fn run(channels: u64, per_channel: u64) {
    let fake = FakeDiscord::start(TOKEN).await.expect("fake");
    fake.add_guild(GUILD, "Bench");
    for c in 1..=channels {
        fake.add_text_channel(GUILD, GUILD + c, &format!("c{c}"));
    }
    let data = std::env::temp_dir().join(format!("tolmach-bench-dc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let vars: HashMap<String, String> = [
        ("DISCORD_BOT_TOKEN", TOKEN.to_string()),
        ("DISCORD_API_URL", fake.rest_url()),
        ("TOLMACH_RUNTIME_DATA_DIR", data.display().to_string()),
        ("TOLMACH_USERS_DAILY_QUOTA", "0".to_string()),
        ("TOLMACH_METRICS_ENABLED", "false".into()),
        ("TOLMACH_LOG", "warn".into()),
        ("TOLMACH_RATE_LIMIT_BURST", "1000000".into()),
        ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1000000".into()),
        ("TOLMACH_PLATFORMS_DISCORD_CHANNEL_INTERVAL", "1ns".into()),
        ("TOLMACH_PLATFORMS_DISCORD_GLOBAL_INTERVAL", "1ns".into()),
        ("TOLMACH_PLATFORMS_DISCORD_CHANNEL_BURST", "1000".into()),
        ("TOLMACH_PLATFORMS_DISCORD_GLOBAL_BURST", "1000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = tolmach::Config::load(None, &vars).expect("config");
    let metrics = Metrics::new();
    let store = tolmach::store::Store::open(&config.runtime.data_dir).expect("store");
    let platforms =
        tolmach::app::platforms_from_config(&config, &metrics, &store).expect("platforms");
    let app = App::start_with(config, metrics, store, platforms)
        .await
        .expect("app");
    // Warm up: identity, gateway session, first reply.
    let user = DcUser::new(1_300_000_000_000_000_001, "u");
    assert!(fake.wait_for_identifies(1, Duration::from_secs(30)).await);
    fake.user_message(GUILD + 1, &user, "!tr es hello");
    assert!(fake.wait_for_created(1, Duration::from_secs(30)).await);

    let total = usize::try_from(channels * per_channel).expect("small");
    let started = Instant::now();
    for i in 0..per_channel {
        for c in 1..=channels {
            fake.user_message(GUILD + c, &user, &format!("!tr es,fr,de good morning {i}"));
        }
    }
    assert!(
        fake.wait_for_created(total + 1, Duration::from_secs(600))
            .await
    );
    let took = started.elapsed();
    println!(
        "discord: {total} messages in {channels} channels answered in {took:.2?}: {:.0} messages/s \
         (real serenity gateway client, fake Discord, demo provider, pacing off)",
        total as f64 / took.as_secs_f64()
    );
    app.shutdown().await;
    let _ = std::fs::remove_dir_all(&data);
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        run(100, 20).await;
        run(1000, 5).await;
    });
}
