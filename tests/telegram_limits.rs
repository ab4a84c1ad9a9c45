//! Telegram's real send limits against the shipped pacing defaults. In a test binary of its own:
//! the fake measures when requests arrive, the bot paces when it sends them, so other tests
//! loading the machine at the same time could push two sends closer together in flight than
//! the bot spaced them.

mod common;

use std::time::Duration;

use tolmach_testkit::{FakeTelegram, TgChat, TgUser};

const TOKEN: &str = "7000000001:TEST-secret-token-do-not-log";
const PATIENCE: Duration = Duration::from_secs(60);

fn ann() -> TgUser {
    TgUser::new(42, "Ann")
}

async fn start_bot(fake: &FakeTelegram, _name: &str, env: &[(&str, &str)]) -> tolmach::App {
    let api_url = fake.api_url();
    let mut vars: Vec<(&str, &str)> = vec![
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", &api_url),
        ("TOLMACH_RATE_LIMIT_BURST", "1000"),
    ];
    vars.extend_from_slice(env);
    let config = common::config(&vars);
    let metrics = tolmach::telemetry::metrics::Metrics::new();
    let store = tolmach::store::Store::open(&config.runtime.data_dir).expect("store");
    let platforms =
        tolmach::app::platforms_from_config(&config, &metrics, &store).expect("platforms");
    tolmach::App::start_with(config, metrics, store, platforms)
        .await
        .expect("runtime starts")
}

#[tokio::test]
async fn default_pacing_provokes_no_flood_control_from_telegrams_limits() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.set_limits(Some(tolmach_testkit::Limits::telegram()));
    // The shipped defaults, not the fast pacing of the other tests.
    let app = start_bot(
        &fake,
        "limits",
        &[
            ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_INTERVAL", "1100ms"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GROUP_INTERVAL", "3300ms"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_INTERVAL", "37ms"),
        ],
    )
    .await;
    for i in 0..3 {
        fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr es yes");
        fake.send_text(&TgChat::group(-9, "G"), &ann(), "/tr es no");
        for c in 0..10 {
            let user = TgUser::new(100 + c, "U");
            fake.send_text(
                &TgChat::private(100 + c, "U"),
                &user,
                &format!("/tr es thanks {i}"),
            );
        }
    }
    assert!(fake.wait_for_sent(36, PATIENCE).await);
    app.shutdown().await;
    let refused = fake.calls().into_iter().filter(|c| c.status == 429).count();
    assert_eq!(refused, 0, "no 429 provoked");
}
