//! Updates per second through the real teloxide client against the fake Bot API, with the
//! offline demo provider (zero latency) and pacing switched off, so the figure is the runtime's
//! own cost: long polling, classification, ledger, actors, SQLite acknowledgements, sends.
//!
//! Run: `cargo bench --bench telegram` (figures in docs/benchmarks.md).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tolmach::App;
use tolmach::telemetry::metrics::Metrics;
use tolmach_testkit::{FakeTelegram, TgChat, TgUser};

const TOKEN: &str = "7000000001:BENCH";

async fn run(chats: i64, per_chat: i64) {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let data = std::env::temp_dir().join(format!("tolmach-bench-tg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let vars: HashMap<String, String> = [
        ("TELEGRAM_BOT_TOKEN", TOKEN.to_string()),
        ("TELEGRAM_API_URL", fake.api_url()),
        ("TOLMACH_RUNTIME_DATA_DIR", data.display().to_string()),
        ("TOLMACH_USERS_DAILY_QUOTA", "0".to_string()),
        ("TOLMACH_METRICS_ENABLED", "false".into()),
        ("TOLMACH_LOG", "warn".into()),
        ("TOLMACH_RATE_LIMIT_BURST", "1000000".into()),
        ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1000000".into()),
        ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_INTERVAL", "1ns".into()),
        ("TOLMACH_PLATFORMS_TELEGRAM_GROUP_INTERVAL", "1ns".into()),
        ("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_INTERVAL", "1ns".into()),
        ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_BURST", "1000".into()),
        ("TOLMACH_PLATFORMS_TELEGRAM_GROUP_BURST", "1000".into()),
        ("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_BURST", "1000".into()),
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
    // Warm up: connection, getMe, first poll.
    fake.send_text(
        &TgChat::private(1, "W"),
        &TgUser::new(1, "W"),
        "/tr es hello",
    );
    assert!(fake.wait_for_sent(1, Duration::from_secs(30)).await);

    let total = (chats * per_chat) as usize;
    let started = Instant::now();
    for i in 0..per_chat {
        for c in 0..chats {
            let id = 10_000 + c;
            fake.send_text(
                &TgChat::private(id, "U"),
                &TgUser::new(id, "U"),
                &format!("/tr es,fr,de good morning {i}"),
            );
        }
    }
    assert!(
        fake.wait_for_sent(total + 1, Duration::from_secs(600))
            .await
    );
    let took = started.elapsed();
    println!(
        "telegram: {total} updates from {chats} chats answered in {took:.2?}: {:.0} updates/s \
         (real teloxide client, fake Bot API, demo provider, pacing off)",
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
