//! The resilience policies composed, end to end: the real runtime and the real reqwest provider
//! code against the test kit's fake providers on 127.0.0.1. (Each policy alone, on paused time,
//! is unit-tested in `src/resilience`.)

mod common;

use std::time::Duration;

use common::{PATIENCE, providers, settle, start, with};
use tolmach::telemetry::metrics::Metric;
use tolmach_testkit::{Behavior, FakeProvider};

const CALM: &[(&str, &str)] = &[
    ("TOLMACH_RATE_LIMIT_BURST", "1000"),
    ("TOLMACH_RATE_LIMIT_PER_MINUTE", "100000"),
];

#[tokio::test]
async fn a_hedge_wins_when_the_primary_stalls_and_the_loser_is_cancelled() {
    let slow = FakeProvider::start().await.expect("fake");
    let fast = FakeProvider::start().await.expect("fake");
    slow.set_behavior(Behavior::Hang);
    fast.set_behavior(Behavior::reply("Hola"));
    let env = providers(&[("slow", &slow), ("fast", &fast)]);
    let (app, platform) = start(&with(
        &env,
        &[
            ("TOLMACH_PROVIDERS_SLOW_HEDGE_DELAY", "100ms"),
            ("TOLMACH_RESILIENCE_HEDGE_BUDGET", "1.0"),
            CALM[0],
            CALM[1],
        ],
    ))
    .await;
    let key = platform.push("c", "u", "/tr -v es hello");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    assert_eq!(
        platform.replies_to(&key)[0].text,
        "🇪🇸 Spanish: Hola (via fast)"
    );
    assert_eq!(slow.request_count(), 1);
    assert_eq!(fast.request_count(), 1);
    // The stalled call was abandoned: its connection closed, its outcome counted.
    slow.wait_for_abandoned(1).await;
    let m = app.metrics();
    assert_eq!(
        m.sample(Metric::Hedges, &[("provider", "fast"), ("outcome", "won")]),
        Some(1.0)
    );
    assert_eq!(
        m.sample(
            Metric::ProviderCalls,
            &[("provider", "slow"), ("outcome", "cancelled")]
        ),
        Some(1.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn hedges_stay_within_their_budget() {
    let slow = FakeProvider::start().await.expect("fake");
    let fast = FakeProvider::start().await.expect("fake");
    slow.set_behavior(Behavior::delayed(
        Duration::from_millis(300),
        Behavior::Echo,
    ));
    fast.set_behavior(Behavior::Echo);
    let env = providers(&[("slow", &slow), ("fast", &fast)]);
    let (app, platform) = start(&with(
        &env,
        &[
            ("TOLMACH_PROVIDERS_SLOW_HEDGE_DELAY", "20ms"),
            ("TOLMACH_RESILIENCE_HEDGE_BUDGET", "0.1"),
            // Room for all 40 calls at once: no fallback, only hedges reach `fast`.
            ("TOLMACH_RESILIENCE_BULKHEAD_MAX_CONCURRENT", "100"),
            CALM[0],
            CALM[1],
        ],
    ))
    .await;
    for i in 0..40 {
        platform.push(
            &format!("c{i}"),
            &format!("u{i}"),
            &format!("/tr es hello {i}"),
        );
    }
    assert!(platform.wait_for_replies(40, PATIENCE).await);
    settle(&app).await;
    let m = app.metrics();
    let sent = m
        .sample(Metric::Hedges, &[("provider", "fast"), ("outcome", "sent")])
        .unwrap_or(0.0);
    assert_eq!(sent, 4.0, "10% of 40 first calls");
    assert_eq!(fast.request_count(), 4);
    assert!(m.sum(Metric::HedgesSuppressed) >= 36.0 - 1.0);
    assert!(
        platform
            .sent()
            .iter()
            .all(|r| r.text.starts_with("🇪🇸 Spanish: [es] hello "))
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_full_bulkhead_sheds_to_the_next_provider() {
    let first = FakeProvider::start().await.expect("fake");
    let second = FakeProvider::start().await.expect("fake");
    first.push_script([Behavior::Hang]);
    second.set_behavior(Behavior::reply("Hola"));
    let env = providers(&[("first", &first), ("second", &second)]);
    let (app, platform) = start(&with(
        &env,
        &[
            ("TOLMACH_PROVIDERS_FIRST_BULKHEAD_MAX_CONCURRENT", "1"),
            ("TOLMACH_PROVIDERS_FIRST_BULKHEAD_MAX_WAIT", "20ms"),
            ("TOLMACH_RESILIENCE_HEDGE_ENABLED", "false"),
            ("TOLMACH_CONVERSATION_REQUEST_TIMEOUT", "5s"),
            CALM[0],
            CALM[1],
        ],
    ))
    .await;
    // The first request takes the only slot and hangs there.
    let hung = platform.push("a", "u1", "/tr es one");
    first.wait_for_requests(1).await;
    let shed = platform.push("b", "u2", "/tr -v es two");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    assert_eq!(
        platform.replies_to(&shed)[0].text,
        "🇪🇸 Spanish: Hola (via second)"
    );
    assert_eq!(
        first.request_count(),
        1,
        "the second request never reached it"
    );
    assert_eq!(
        app.metrics().sample(
            Metric::ProviderCalls,
            &[("provider", "first"), ("outcome", "bulkhead_full")]
        ),
        Some(1.0)
    );
    // The hung one still gets exactly one answer, by its deadline.
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    assert_eq!(platform.replies_to(&hung).len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn retry_after_sends_other_requests_elsewhere_until_it_passes() {
    let limited = FakeProvider::start().await.expect("fake");
    let other = FakeProvider::start().await.expect("fake");
    limited.push_script([Behavior::RateLimited {
        retry_after_secs: 3600,
    }]);
    other.set_behavior(Behavior::reply("Hola"));
    let env = providers(&[("limited", &limited), ("other", &other)]);
    let (app, platform) = start(&with(&env, CALM)).await;
    platform.push("c", "u", "/tr -v es hi");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    for i in 1..5 {
        platform.push(&format!("c{i}"), "u", &format!("/tr -v es hi {i}"));
    }
    assert!(platform.wait_for_replies(5, PATIENCE).await);
    settle(&app).await;
    assert_eq!(limited.request_count(), 1, "asked once, then left alone");
    assert!(
        platform
            .sent()
            .iter()
            .all(|r| r.text == "🇪🇸 Spanish: Hola (via other)")
    );
    assert_eq!(
        app.metrics().sample(
            Metric::ProviderSkipped,
            &[("provider", "limited"), ("reason", "rate_limited")]
        ),
        Some(4.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn three_of_four_providers_failing_differently_still_answers_everything_in_time() {
    let failing = FakeProvider::start().await.expect("fake");
    let stalling = FakeProvider::start().await.expect("fake");
    let garbage = FakeProvider::start().await.expect("fake");
    let good = FakeProvider::start().await.expect("fake");
    failing.set_behavior(Behavior::Status(503));
    stalling.set_behavior(Behavior::Hang);
    garbage.set_behavior(Behavior::Garbage);
    good.set_behavior(Behavior::delayed(Duration::from_millis(5), Behavior::Echo));
    let env = providers(&[
        ("failing", &failing),
        ("stalling", &stalling),
        ("garbage", &garbage),
        ("good", &good),
    ]);
    let (app, platform) = start(&with(
        &env,
        &[
            ("TOLMACH_CONVERSATION_REQUEST_TIMEOUT", "20s"),
            // A stalled call is cut after 2 s (then retried, then the next provider), and the
            // hedge budget covers only some of them: the rest rely on the timeout.
            ("TOLMACH_PROVIDERS_STALLING_TIMEOUT", "2s"),
            ("TOLMACH_RESILIENCE_RETRY_BACKOFF", "50ms"),
            ("TOLMACH_RESILIENCE_HEDGE_DELAY", "200ms"),
            ("TOLMACH_RESILIENCE_HEDGE_BUDGET", "1.0"),
            CALM[0],
            CALM[1],
        ],
    ))
    .await;
    let started = std::time::Instant::now();
    let mut keys = Vec::new();
    for i in 0..30 {
        keys.push((
            platform.push(
                &format!("c{i}"),
                &format!("u{i}"),
                &format!("/tr es,fr,de m{i}"),
            ),
            i,
        ));
    }
    assert!(platform.wait_for_replies(30, PATIENCE).await);
    let took = started.elapsed();
    settle(&app).await;
    for (key, i) in &keys {
        let replies = platform.replies_to(key);
        assert_eq!(replies.len(), 1);
        assert_eq!(
            replies[0].text,
            format!("🇪🇸 Spanish: [es] m{i}\n🇫🇷 French: [fr] m{i}\n🇩🇪 German: [de] m{i}")
        );
    }
    assert!(
        took < Duration::from_secs(20),
        "answered before the deadline: {took:?}"
    );
    // The failing providers were shut out by their breakers along the way.
    let failing_breaker = app.breaker("failing").expect("breaker");
    assert_ne!(
        failing_breaker.state(),
        tolmach::resilience::breaker::CircuitState::Closed
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_provider_past_its_daily_budget_is_skipped_and_users_past_theirs_get_free_ones() {
    let paid = FakeProvider::start().await.expect("fake");
    let free = FakeProvider::start().await.expect("fake");
    paid.set_behavior(Behavior::reply("Hola"));
    free.set_behavior(Behavior::reply("Hola"));
    let env = providers(&[("paid", &paid), ("free", &free)]);
    let (app, platform) = start(&with(
        &env,
        &[
            ("TOLMACH_PROVIDERS_PAID_COST_PER_MILLION_CHARS", "1000000"),
            ("TOLMACH_PROVIDERS_PAID_COST_DAILY_CHARS", "10"),
            CALM[0],
            CALM[1],
        ],
    ))
    .await;
    let first = platform.push("c", "u", "/tr -v es 0123456789");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    let second = platform.push("c", "u", "/tr -v es again");
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    assert_eq!(
        platform.replies_to(&first)[0].text,
        "🇪🇸 Spanish: Hola (via paid)"
    );
    assert_eq!(
        platform.replies_to(&second)[0].text,
        "🇪🇸 Spanish: Hola (via free)"
    );
    assert_eq!(
        app.metrics()
            .sample(Metric::ProviderCharacters, &[("provider", "paid")]),
        Some(10.0)
    );
    assert_eq!(
        app.metrics()
            .sample(Metric::ProviderSpendToday, &[("provider", "paid")]),
        Some(10.0),
        "10 chars at $1 each"
    );
    app.shutdown().await;

    // Per user: one dollar a day; the paid provider costs a dollar a character.
    let (app, platform) = start(&with(
        &env,
        &[
            ("TOLMACH_PROVIDERS_PAID_COST_PER_MILLION_CHARS", "1000000"),
            ("TOLMACH_RESILIENCE_USER_DAILY_BUDGET", "1"),
            CALM[0],
            CALM[1],
        ],
    ))
    .await;
    let spender = platform.push("c", "rich", "/tr -v es hi");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    let again = platform.push("c", "rich", "/tr -v es ho");
    let someone = platform.push("d", "other", "/tr -v es hu");
    assert!(platform.wait_for_replies(3, PATIENCE).await);
    settle(&app).await;
    assert_eq!(
        platform.replies_to(&spender)[0].text,
        "🇪🇸 Spanish: Hola (via paid)"
    );
    assert_eq!(
        platform.replies_to(&again)[0].text,
        "🇪🇸 Spanish: Hola (via free)"
    );
    assert_eq!(
        platform.replies_to(&someone)[0].text,
        "🇪🇸 Spanish: Hola (via paid)"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn identical_requests_share_one_call_and_later_ones_come_from_the_cache() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::delayed(
        Duration::from_millis(300),
        Behavior::Echo,
    ));
    let env = providers(&[("fake", &fake)]);
    let (app, platform) = start(&with(&env, CALM)).await;
    for i in 0..10 {
        platform.push(
            &format!("c{i}"),
            &format!("u{i}"),
            "/tr es,fr the announcement",
        );
    }
    fake.wait_for_requests(2).await;
    assert!(platform.wait_for_replies(10, PATIENCE).await);
    // A latecomer, after the answers: straight from the cache.
    platform.push("late", "u", "/tr es the announcement");
    assert!(platform.wait_for_replies(11, PATIENCE).await);
    settle(&app).await;
    assert_eq!(
        fake.request_count(),
        2,
        "one call per language for eleven requests"
    );
    let replies = platform.sent();
    assert!(
        replies[..10].iter().all(
            |r| r.text == "🇪🇸 Spanish: [es] the announcement\n🇫🇷 French: [fr] the announcement"
        )
    );
    assert_eq!(replies[10].text, "🇪🇸 Spanish: [es] the announcement");
    let m = app.metrics();
    assert_eq!(
        m.sample(Metric::TranslationCache, &[("result", "miss")]),
        Some(2.0)
    );
    assert_eq!(
        m.sample(Metric::TranslationCache, &[("result", "hit")]),
        Some(19.0)
    );
    // Failures are not cached: the next identical request asks again.
    fake.set_behavior(Behavior::Status(400));
    platform.push("x", "u", "/tr de failing text");
    assert!(platform.wait_for_replies(12, PATIENCE).await);
    fake.set_behavior(Behavior::Echo);
    platform.push("y", "u", "/tr de failing text");
    assert!(platform.wait_for_replies(13, PATIENCE).await);
    settle(&app).await;
    assert_eq!(platform.sent()[12].text, "🇩🇪 German: [de] failing text");
    app.shutdown().await;
}
