//! Killing one actor at a bad moment: state that must survive survives, nothing in flight is
//! lost or answered twice.

mod common;

use std::time::Duration;

use common::{PATIENCE, kill_and_wait_restart, settle, start};
use tolmach::resilience::breaker::CircuitState;
use tolmach::telemetry::metrics::Metric;
use tolmach_testkit::{Behavior, FakeProvider};

#[tokio::test]
async fn a_cooldown_survives_killing_the_rate_limiter() {
    let (app, platform) = start(&[
        ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1"),
        ("TOLMACH_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    platform.push("c", "u", "/tr es hello");
    platform.push("c", "u", "/tr es hello");
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    assert!(platform.sent()[1].text.contains("Please wait"));

    kill_and_wait_restart(&app, "root/rate_limiter").await;

    // Still cooling down: skipped silently, no second notice, no answer.
    platform.push("c", "u", "/tr es hello");
    let other = platform.push("c2", "v", "/tr es hello");
    assert!(platform.wait_for_replies(3, PATIENCE).await);
    settle(&app).await;
    assert_eq!(platform.sent().len(), 3);
    assert_eq!(platform.replies_to(&other).len(), 1);
    assert_eq!(
        app.metrics().sample(
            Metric::Replies,
            &[("platform", "memory"), ("outcome", "ignored")]
        ),
        Some(1.0)
    );
    assert_eq!(
        app.metrics()
            .sample(Metric::ActorRestarts, &[("kind", "rate_limiter")]),
        Some(1.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_open_breaker_survives_killing_the_provider_actor() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::Status(500));
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(
        &owned,
        &[
            ("TOLMACH_RESILIENCE_BREAKER_MINIMUM_CALLS", "2"),
            ("TOLMACH_RESILIENCE_RETRY_MAX_ATTEMPTS", "1"),
            ("TOLMACH_RESILIENCE_BREAKER_WAIT_IN_OPEN", "1h"),
            ("TOLMACH_RATE_LIMIT_BURST", "100"),
        ],
    ))
    .await;
    // Distinct texts: identical ones would share one call (and then the cache).
    platform.push("c", "u", "/tr es hello");
    platform.push("c", "u", "/tr es good morning");
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    assert_eq!(fake.request_count(), 2);
    let breaker = app.breaker("fake").expect("breaker");
    assert_eq!(breaker.state(), CircuitState::Open);

    kill_and_wait_restart(&app, "root/providers/fake").await;

    let key = platform.push("c", "u", "/tr es good evening");
    assert!(platform.wait_for_replies(3, PATIENCE).await);
    settle(&app).await;
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "still open after the restart"
    );
    assert_eq!(
        fake.request_count(),
        2,
        "the open circuit kept calls away from the provider"
    );
    // The demo fallback answered meanwhile.
    assert!(
        platform.replies_to(&key)[0]
            .text
            .starts_with("🇪🇸 Spanish: Buenas noches")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn killing_the_coordinator_mid_request_loses_nothing() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.push_script([Behavior::Hang]);
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(&owned, &[])).await;
    let key = platform.push("c", "u", "/tr ja good evening");
    fake.wait_for_requests(1).await; // the request is in flight inside the coordinator
    kill_and_wait_restart(&app, "root/coordinator").await;
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    let replies = platform.replies_to(&key);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].text, "🇯🇵 Japanese: [ja] good evening");
    assert_eq!(fake.request_count(), 2, "asked again after the restart");
    app.shutdown().await;
}

#[tokio::test]
async fn killing_a_conversation_mid_request_loses_nothing() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.push_script([Behavior::Hang]);
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(&owned, &[])).await;
    let key = platform.push("chat-1", "u", "/tr ko thank you");
    let next = platform.push("chat-1", "u", "/tr ko hello");
    fake.wait_for_requests(1).await;
    kill_and_wait_restart(&app, "root/platforms/memory/chat-1").await;
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    assert_eq!(platform.replies_to(&key).len(), 1);
    assert_eq!(
        platform.replies_to(&key)[0].text,
        "🇰🇷 Korean: [ko] thank you"
    );
    let order: Vec<_> = platform.sent().into_iter().map(|o| o.in_reply_to).collect();
    assert_eq!(order, [key, next], "order kept across the restart");
    assert_eq!(
        app.metrics()
            .sample(Metric::ActorRestarts, &[("kind", "conversation")]),
        Some(1.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn killing_the_session_loses_nothing() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::delayed(Duration::from_millis(20), Behavior::Echo));
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(
        &owned,
        &[("TOLMACH_RATE_LIMIT_BURST", "1000")],
    ))
    .await;
    let keys: Vec<_> = (0..60)
        .map(|i| platform.push(&format!("c{}", i % 6), "u", &format!("/tr fr message {i}")))
        .collect();
    fake.wait_for_requests(3).await;
    kill_and_wait_restart(&app, "root/platforms/memory").await;
    assert!(platform.wait_for_replies(keys.len(), PATIENCE).await);
    settle(&app).await;
    for k in &keys {
        assert_eq!(platform.replies_to(k).len(), 1, "{k}");
    }
    assert_eq!(platform.sent().len(), keys.len());
    app.shutdown().await;
}

#[tokio::test]
async fn a_message_that_keeps_killing_its_conversation_gets_an_apology() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::Hang);
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(
        &owned,
        &[("TOLMACH_CONVERSATION_MAX_ATTEMPTS", "2")],
    ))
    .await;
    let key = platform.push("poison", "u", "/tr es boom");
    for attempt in 1..=2 {
        fake.wait_for_requests(attempt).await;
        kill_and_wait_restart(&app, "root/platforms/memory/poison").await;
    }
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    let replies = platform.replies_to(&key);
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].text.contains("something went wrong"),
        "{}",
        replies[0].text
    );
    assert_eq!(fake.request_count(), 2, "not tried a third time");
    app.shutdown().await;
}
