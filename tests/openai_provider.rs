//! The real OpenAI-compatible provider (reqwest) against the test kit's fake server on
//! 127.0.0.1: success, HTTP errors, timeouts, garbage, and the whole runtime on top of it.

mod common;

use std::time::Duration;

use common::{PATIENCE, settle, start};
use tokio::time::Instant;
use tolmach::config::OpenAiConfig;
use tolmach::lang::Lang;
use tolmach::providers::openai::OpenAiProvider;
use tolmach::providers::{Provider, ProviderError, TranslateJob};
use tolmach::secret::Secret;
use tolmach_testkit::{Behavior, FakeProvider};

const KEY: &str = "sk-test-do-not-log-me";

fn provider(fake: &FakeProvider, timeout: Duration) -> OpenAiProvider {
    OpenAiProvider::new(OpenAiConfig {
        base_url: fake.base_url().parse().expect("url"),
        model: "test-model".into(),
        api_key: Some(Secret::new(KEY)),
        timeout,
        azure_api_version: None,
    })
    .expect("provider builds")
}

fn job(text: &str, target: &str) -> TranslateJob {
    TranslateJob {
        text: text.into(),
        source: None,
        target: Lang::from_code(target).expect("language"),
        deadline: Instant::now() + PATIENCE,
    }
}

#[tokio::test]
async fn translates_and_sends_what_an_openai_server_expects() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = provider(&fake, Duration::from_secs(10));
    let answer = p
        .translate(&job("good morning", "es"))
        .await
        .expect("translated");
    assert_eq!(answer.text, "[es] good morning");
    assert!(answer.usage.input_tokens.is_some_and(|n| n > 0));
    assert!(answer.usage.output_tokens.is_some_and(|n| n > 0));
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    assert_eq!(req.model.as_deref(), Some("test-model"));
    assert_eq!(req.user_text.as_deref(), Some("good morning"));
    let system = req.system_text.as_deref().unwrap_or_default();
    assert!(
        system.contains("Spanish") && system.contains("translation only"),
        "{system}"
    );
    assert_eq!(req.body["temperature"], 0);
}

#[tokio::test]
async fn strips_what_chatty_models_add() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::reply("Here is the translation:\n\"Buenos días\""));
    let p = provider(&fake, Duration::from_secs(10));
    assert_eq!(
        p.translate(&job("good morning", "es"))
            .await
            .map(|a| a.text),
        Ok("Buenos días".into())
    );
}

#[tokio::test]
async fn http_errors_are_typed() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = provider(&fake, Duration::from_secs(10));
    fake.push_script([
        Behavior::Status(500),
        Behavior::RateLimited {
            retry_after_secs: 7,
        },
        Behavior::Status(401),
    ]);
    let e500 = p.translate(&job("hi", "fr")).await.expect_err("500");
    assert_eq!(
        e500,
        ProviderError::Status {
            status: 500,
            retry_after: None
        }
    );
    assert!(e500.is_provider_fault());
    assert_eq!(
        p.translate(&job("hi", "fr")).await,
        Err(ProviderError::Status {
            status: 429,
            retry_after: Some(Duration::from_secs(7))
        })
    );
    let e401 = p.translate(&job("hi", "fr")).await.expect_err("401");
    assert!(!e401.to_string().contains(KEY));
}

#[tokio::test]
async fn a_provider_that_does_not_answer_times_out() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::Hang);
    let p = provider(&fake, Duration::from_millis(200));
    assert_eq!(
        p.translate(&job("hi", "de")).await,
        Err(ProviderError::Timeout)
    );
    // The request deadline bounds the call too, even with a long provider timeout.
    let p = provider(&fake, Duration::from_secs(3600));
    let mut j = job("hi", "de");
    j.deadline = Instant::now() + Duration::from_millis(200);
    assert_eq!(p.translate(&j).await, Err(ProviderError::Timeout));
}

#[tokio::test]
async fn garbage_bodies_are_rejected_not_passed_on() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = provider(&fake, Duration::from_secs(10));
    for behavior in [
        Behavior::Garbage,
        Behavior::InvalidUtf8,
        Behavior::EmptyChoices,
        Behavior::WrongShape,
        Behavior::reply("   "),
    ] {
        fake.set_behavior(behavior.clone());
        let result = p.translate(&job("hello", "it")).await;
        assert!(
            matches!(result, Err(ProviderError::InvalidResponse(_))),
            "{behavior:?} gave {result:?}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transport_error() {
    let fake = FakeProvider::start().await.expect("fake");
    let url = fake.base_url();
    drop(fake); // nothing listens there any more
    let p = OpenAiProvider::new(OpenAiConfig {
        base_url: url.parse().expect("url"),
        model: "m".into(),
        api_key: None,
        timeout: Duration::from_secs(5),
        azure_api_version: None,
    })
    .expect("builds");
    let e = p
        .translate(&job("hi", "es"))
        .await
        .expect_err("unreachable");
    assert!(matches!(e, ProviderError::Transport(_)), "{e:?}");
}

#[tokio::test]
async fn the_runtime_fans_out_to_the_provider_and_falls_back_to_the_demo() {
    let fake = FakeProvider::start().await.expect("fake");
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(
        &owned,
        &[("TOLMACH_RESILIENCE_BREAKER_MINIMUM_CALLS", "100")],
    ))
    .await;
    let all = platform.push(
        "c",
        "u",
        "translate good morning to Spanish, French and German",
    );
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    let text = &platform.replies_to(&all)[0].text;
    assert_eq!(
        text,
        "🇪🇸 Spanish: [es] good morning\n🇫🇷 French: [fr] good morning\n🇩🇪 German: [de] good morning"
    );
    // The provider fails: Spanish falls back to the demo phrasebook, Finnish has nowhere to go.
    // (A new phrase: "good morning" in Spanish would now come from the cache.)
    fake.set_behavior(Behavior::Status(503));
    let partial = platform.push("c", "u", "translate good night to Spanish and Finnish");
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    let text = &platform.replies_to(&partial)[0].text;
    assert!(
        text.starts_with(
            "1/2 translated; Finnish failed: provider error (HTTP 503)\n🇪🇸 Spanish: Buenas noches"
        ),
        "{text}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_provider_that_hangs_for_one_language_gives_an_explicit_partial_result() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.push_script([Behavior::Hang]);
    let owned = common::fake_provider(&fake.base_url());
    let (app, platform) = start(&common::env(
        &owned,
        &[
            ("TOLMACH_PROVIDERS_DEMO_ENABLED", "false"),
            ("TOLMACH_CONVERSATION_REQUEST_TIMEOUT", "1s"),
        ],
    ))
    .await;
    let key = platform.push("c", "u", "/tr es,fr,de hello");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    let replies = platform.replies_to(&key);
    assert_eq!(replies.len(), 1);
    let text = &replies[0].text;
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("2/3 translated; ") && first.ends_with(" failed: provider timed out"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
    app.shutdown().await;
}

#[tokio::test]
async fn broken_bodies_are_told_apart_from_nonsense() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = provider(&fake, Duration::from_secs(10));
    // Cut off mid-answer by the network: transient, worth a retry.
    fake.set_behavior(Behavior::ResetMidBody);
    let e = p
        .translate(&job("hello", "es"))
        .await
        .expect_err("reset mid-body");
    assert!(matches!(e, ProviderError::Transport(_)), "{e:?}");
    // A complete answer that is not a whole JSON document: nonsense, not retried.
    fake.set_behavior(Behavior::Truncated);
    let e = p
        .translate(&job("hello", "es"))
        .await
        .expect_err("truncated JSON");
    assert!(matches!(e, ProviderError::InvalidResponse(_)), "{e:?}");
}

#[tokio::test]
async fn a_dripping_answer_is_read_to_the_end_but_never_past_the_deadline() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = provider(&fake, Duration::from_secs(10));
    fake.set_behavior(Behavior::drip(Duration::from_millis(5), Behavior::Echo));
    assert_eq!(
        p.translate(&job("hello", "es")).await.map(|a| a.text),
        Ok("[es] hello".to_string())
    );
    fake.set_behavior(Behavior::drip(Duration::from_secs(1), Behavior::Echo));
    let mut slow = job("hello", "es");
    slow.deadline = Instant::now() + Duration::from_millis(300);
    let started = Instant::now();
    assert_eq!(
        p.translate(&slow).await.map(|a| a.text),
        Err(ProviderError::Timeout)
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "stopped at the deadline"
    );
    fake.wait_for_abandoned(1).await;
}
