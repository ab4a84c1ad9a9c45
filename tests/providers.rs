//! The real Anthropic, DeepL, LibreTranslate and Azure OpenAI providers (reqwest) against the
//! test kit's fake server on 127.0.0.1: what goes over the wire, what comes back, HTTP errors,
//! garbage, hangs, an unreachable server, and the runtime falling through providers.

mod common;

use std::num::NonZeroU32;
use std::time::Duration;

use common::{PATIENCE, settle, start};
use tokio::time::Instant;
use tolmach::config::{AnthropicConfig, DeepLConfig, LibreTranslateConfig, OpenAiConfig};
use tolmach::lang::Lang;
use tolmach::providers::anthropic::AnthropicProvider;
use tolmach::providers::deepl::DeepLProvider;
use tolmach::providers::libretranslate::LibreTranslateProvider;
use tolmach::providers::openai::OpenAiProvider;
use tolmach::providers::{Provider, ProviderError, TranslateJob};
use tolmach::secret::Secret;
use tolmach_testkit::{Behavior, FakeProvider};

const KEY: &str = "test-key-do-not-log-me:fx";

/// `http://127.0.0.1:PORT`: where the vendors that add their own path (`/v1/messages`,
/// `/v2/translate`, `/translate`, `/openai/deployments/...`) are pointed.
fn root(fake: &FakeProvider) -> String {
    format!("http://{}", fake.addr())
}

fn anthropic(fake: &FakeProvider, timeout: Duration) -> AnthropicProvider {
    anthropic_at(&root(fake), timeout)
}

fn anthropic_at(base: &str, timeout: Duration) -> AnthropicProvider {
    AnthropicProvider::new(AnthropicConfig {
        base_url: base.parse().expect("url"),
        model: "claude-test".into(),
        api_key: Secret::new(KEY),
        timeout,
        max_tokens: NonZeroU32::new(1000),
    })
    .expect("anthropic builds")
}

fn deepl(fake: &FakeProvider, timeout: Duration) -> DeepLProvider {
    deepl_at(&root(fake), timeout)
}

fn deepl_at(base: &str, timeout: Duration) -> DeepLProvider {
    DeepLProvider::new(DeepLConfig {
        base_url: Some(base.parse().expect("url")),
        api_key: Secret::new(KEY),
        timeout,
    })
    .expect("deepl builds")
}

fn libretranslate(
    fake: &FakeProvider,
    key: Option<&str>,
    timeout: Duration,
) -> LibreTranslateProvider {
    libretranslate_at(&root(fake), key, timeout)
}

fn libretranslate_at(base: &str, key: Option<&str>, timeout: Duration) -> LibreTranslateProvider {
    LibreTranslateProvider::new(LibreTranslateConfig {
        base_url: base.parse().expect("url"),
        api_key: key.map(Secret::new),
        timeout,
    })
    .expect("libretranslate builds")
}

fn azure(fake: &FakeProvider, timeout: Duration) -> OpenAiProvider {
    azure_at(&root(fake), timeout)
}

fn azure_at(base: &str, timeout: Duration) -> OpenAiProvider {
    OpenAiProvider::new(OpenAiConfig {
        base_url: base.parse().expect("url"),
        model: "my-deployment".into(),
        api_key: Some(Secret::new(KEY)),
        timeout,
        azure_api_version: Some("2024-10-21".into()),
    })
    .expect("azure builds")
}

/// Every vendor this file covers, pointed at `fake`.
fn all(fake: &FakeProvider, timeout: Duration) -> Vec<(&'static str, Box<dyn Provider>)> {
    all_at(&root(fake), timeout)
}

/// Every vendor this file covers, pointed at the server at `base` (`http://127.0.0.1:PORT`).
fn all_at(base: &str, timeout: Duration) -> Vec<(&'static str, Box<dyn Provider>)> {
    vec![
        ("anthropic", Box::new(anthropic_at(base, timeout))),
        ("deepl", Box::new(deepl_at(base, timeout))),
        (
            "libretranslate",
            Box::new(libretranslate_at(base, None, timeout)),
        ),
        ("azure", Box::new(azure_at(base, timeout))),
    ]
}

fn job(text: &str, source: Option<&str>, target: &str) -> TranslateJob {
    TranslateJob {
        text: text.into(),
        source: source.map(|s| Lang::from_code(s).expect("language")),
        target: Lang::from_code(target).expect("language"),
        deadline: Instant::now() + PATIENCE,
    }
}

// ---------------------------------------------------------------------------------------------
// Without a vendor route: these run against any test kit.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_for_every_vendor() {
    let fake = FakeProvider::start().await.expect("fake");
    let providers = all(&fake, Duration::from_secs(5));
    drop(fake); // nothing listens there any more
    for (name, p) in providers {
        let e = p
            .translate(&job("hi", None, "de"))
            .await
            .expect_err("unreachable");
        assert!(matches!(e, ProviderError::Transport(_)), "{name}: {e:?}");
        assert!(!e.to_string().contains(KEY), "{name}: {e}");
    }
}

#[tokio::test]
async fn an_answer_cut_off_mid_body_is_a_transport_error_for_every_vendor() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that promises 1000 bytes, sends 20 and closes the connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = vec![0u8; 64 * 1024];
            let _ = socket.read(&mut request).await;
            let _ = socket
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                      content-length: 1000\r\n\r\n{\"translations\": [",
                )
                .await;
            let _ = socket.shutdown().await;
        }
    });
    for (name, p) in all_at(&format!("http://{addr}"), Duration::from_secs(5)) {
        let e = p
            .translate(&job("hi", None, "de"))
            .await
            .expect_err("cut off");
        assert!(
            matches!(&e, ProviderError::Transport(m) if m.starts_with("answer cut off")),
            "{name}: {e:?}"
        );
    }
    server.abort();
}

#[tokio::test]
async fn a_deadline_already_passed_returns_at_once_for_every_vendor() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::Hang);
    for (name, p) in all(&fake, Duration::from_secs(3600)) {
        let mut j = job("hi", None, "de");
        j.deadline = Instant::now();
        let started = Instant::now();
        assert_eq!(p.translate(&j).await, Err(ProviderError::Timeout), "{name}");
        assert!(started.elapsed() < Duration::from_secs(1), "{name}");
    }
}

#[tokio::test]
async fn deepl_refuses_a_language_it_does_not_offer_without_a_call() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = deepl(&fake, Duration::from_secs(5));
    assert_eq!(
        p.translate(&job("good morning", None, "sw")).await,
        Err(ProviderError::Unsupported(
            "DeepL does not offer Swahili".into()
        ))
    );
    assert_eq!(
        p.translate(&job("namaste", Some("hi"), "de")).await,
        Err(ProviderError::Unsupported(
            "DeepL does not offer Hindi".into()
        ))
    );
    assert!(
        fake.requests().iter().all(|r| r.path != "/v2/translate"),
        "DeepL was called"
    );
}

#[tokio::test]
async fn the_runtime_passes_languages_deepl_lacks_to_the_next_provider() {
    let deepl_fake = FakeProvider::start().await.expect("fake");
    let llm_fake = FakeProvider::start().await.expect("fake");
    let deepl_url = root(&deepl_fake);
    let llm_url = llm_fake.base_url();
    let (app, platform) = start(&[
        ("TOLMACH_PROVIDERS_DEMO_ENABLED", "false"),
        ("TOLMACH_PROVIDERS_DEEPL_KIND", "deepl"),
        ("TOLMACH_PROVIDERS_DEEPL_BASE_URL", deepl_url.as_str()),
        ("TOLMACH_PROVIDERS_DEEPL_API_KEY_ENV", "DEEPL_TEST_KEY"),
        ("TOLMACH_PROVIDERS_DEEPL_PRIORITY", "1"),
        ("DEEPL_TEST_KEY", KEY),
        ("TOLMACH_PROVIDERS_LLM_KIND", "openai"),
        ("TOLMACH_PROVIDERS_LLM_BASE_URL", llm_url.as_str()),
        ("TOLMACH_PROVIDERS_LLM_MODEL", "m"),
        ("TOLMACH_PROVIDERS_LLM_PRIORITY", "2"),
    ])
    .await;
    let key = platform.push("c", "u", "translate good morning to Swahili and Hindi");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    assert_eq!(
        platform.replies_to(&key)[0].text,
        "🇰🇪 Swahili: [sw] good morning\n🇮🇳 Hindi: [hi] good morning"
    );
    assert!(
        deepl_fake
            .requests()
            .iter()
            .all(|r| r.path != "/v2/translate")
    );
    assert_eq!(llm_fake.requests().len(), 2);
    app.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Against the fake's vendor routes.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn anthropic_sends_a_messages_request_and_reads_the_answer() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = anthropic(&fake, Duration::from_secs(10));
    let answer = p
        .translate(&job("good morning", Some("en"), "ja"))
        .await
        .expect("translated");
    assert_eq!(answer.text, "[ja] good morning");
    assert!(answer.usage.input_tokens.is_some_and(|n| n > 0));
    assert!(answer.usage.output_tokens.is_some_and(|n| n > 0));
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/v1/messages");
    assert_eq!(req.authorization, None, "the key goes in x-api-key");
    assert_eq!(req.body["model"], "claude-test");
    assert_eq!(req.body["temperature"], 0);
    assert_eq!(req.body["max_tokens"], 12 * 4 + 256);
    assert_eq!(req.user_text.as_deref(), Some("good morning"));
    let system = req.body["system"].as_str().unwrap_or_default();
    assert!(
        system.contains("from English into Japanese (language code: ja)")
            && system.contains("translation only"),
        "{system}"
    );
}

#[tokio::test]
async fn anthropic_cleans_what_the_model_adds() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::reply(
        "Sure! Here's the translation:\n\n**Buenos días**\n\n(Note: a morning greeting.)",
    ));
    let p = anthropic(&fake, Duration::from_secs(10));
    assert_eq!(
        p.translate(&job("good morning", None, "es"))
            .await
            .map(|a| a.text),
        Ok("Buenos días".into())
    );
}

#[tokio::test]
async fn deepl_sends_deepl_codes_and_reads_the_translation() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = deepl(&fake, Duration::from_secs(10));
    let answer = p
        .translate(&job("bom dia", Some("pt"), "en"))
        .await
        .expect("translated");
    assert_eq!(answer.text, "[en-us] bom dia");
    let answer = p
        .translate(&job("good morning", None, "zh"))
        .await
        .expect("translated");
    assert_eq!(answer.text, "[zh-hans] good morning");
    let requests = fake.requests();
    let req = &requests[0];
    assert_eq!(req.path, "/v2/translate");
    assert_eq!(
        req.authorization.as_deref(),
        Some(&*format!("DeepL-Auth-Key {KEY}"))
    );
    assert_eq!(req.body["text"], serde_json::json!(["bom dia"]));
    assert_eq!(req.body["source_lang"], "PT");
    assert_eq!(req.body["target_lang"], "EN-US");
    assert!(requests[1].body.get("source_lang").is_none());
}

#[tokio::test]
async fn libretranslate_detects_the_source_and_sends_a_key_only_when_configured() {
    let fake = FakeProvider::start().await.expect("fake");
    let keyless = libretranslate(&fake, None, Duration::from_secs(10));
    assert_eq!(
        keyless
            .translate(&job("good morning", None, "no"))
            .await
            .map(|a| a.text),
        Ok("[nb] good morning".into())
    );
    let keyed = libretranslate(&fake, Some("lt-key"), Duration::from_secs(10));
    assert_eq!(
        keyed
            .translate(&job("good morning", Some("en"), "es"))
            .await
            .map(|a| a.text),
        Ok("[es] good morning".into())
    );
    let requests = fake.requests();
    assert_eq!(requests[0].path, "/translate");
    assert_eq!(requests[0].body["q"], "good morning");
    assert_eq!(requests[0].body["source"], "auto");
    assert_eq!(requests[0].body["target"], "nb");
    assert_eq!(requests[0].body["format"], "text");
    assert!(requests[0].body.get("api_key").is_none());
    assert_eq!(requests[1].body["source"], "en");
    assert_eq!(requests[1].body["api_key"], "lt-key");
}

#[tokio::test]
async fn azure_posts_to_the_deployment_without_a_bearer_token() {
    let fake = FakeProvider::start().await.expect("fake");
    let p = azure(&fake, Duration::from_secs(10));
    assert_eq!(
        p.translate(&job("hello", None, "fr")).await.map(|a| a.text),
        Ok("[fr] hello".into())
    );
    let req = &fake.requests()[0];
    assert_eq!(
        req.path,
        "/openai/deployments/my-deployment/chat/completions"
    );
    assert_eq!(req.authorization, None, "the key goes in api-key");
    assert!(req.body.get("model").is_none());
    assert_eq!(req.user_text.as_deref(), Some("hello"));
}

#[tokio::test]
async fn http_errors_are_typed_for_every_vendor() {
    let fake = FakeProvider::start().await.expect("fake");
    for (name, p) in all(&fake, Duration::from_secs(10)) {
        fake.push_script([
            Behavior::Status(503),
            Behavior::RateLimited {
                retry_after_secs: 7,
            },
            Behavior::Status(401),
        ]);
        assert_eq!(
            p.translate(&job("hi", None, "fr")).await,
            Err(ProviderError::Status {
                status: 503,
                retry_after: None
            }),
            "{name}"
        );
        assert_eq!(
            p.translate(&job("hi", None, "fr")).await,
            Err(ProviderError::Status {
                status: 429,
                retry_after: Some(Duration::from_secs(7))
            }),
            "{name}"
        );
        let e401 = p.translate(&job("hi", None, "fr")).await.expect_err("401");
        assert!(e401.is_provider_fault(), "{name}");
        assert!(!format!("{e401} {e401:?}").contains(KEY), "{name}");
    }
    let p = anthropic(&fake, Duration::from_secs(10));
    fake.push_script([Behavior::Status(529)]);
    let overloaded = p.translate(&job("hi", None, "fr")).await.expect_err("529");
    assert!(overloaded.is_provider_fault());
    let p = deepl(&fake, Duration::from_secs(10));
    fake.push_script([Behavior::Status(456)]);
    assert_eq!(
        p.translate(&job("hi", None, "fr")).await,
        Err(ProviderError::Status {
            status: 456,
            retry_after: None
        })
    );
}

#[tokio::test]
async fn garbage_is_rejected_not_passed_on_for_every_vendor() {
    let fake = FakeProvider::start().await.expect("fake");
    for (name, p) in all(&fake, Duration::from_secs(10)) {
        for behavior in [
            Behavior::Garbage,
            Behavior::InvalidUtf8,
            Behavior::EmptyChoices,
            Behavior::WrongShape,
        ] {
            fake.set_behavior(behavior.clone());
            let result = p.translate(&job("hello", None, "it")).await;
            assert!(
                matches!(result, Err(ProviderError::InvalidResponse(_))),
                "{name}: {behavior:?} gave {result:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_vendor_that_does_not_answer_times_out_by_the_deadline() {
    let fake = FakeProvider::start().await.expect("fake");
    fake.set_behavior(Behavior::Hang);
    for (name, p) in all(&fake, Duration::from_millis(200)) {
        assert_eq!(
            p.translate(&job("hi", None, "de")).await,
            Err(ProviderError::Timeout),
            "{name}: own timeout"
        );
    }
    for (name, p) in all(&fake, Duration::from_secs(3600)) {
        let mut j = job("hi", None, "de");
        j.deadline = Instant::now() + Duration::from_millis(200);
        let started = Instant::now();
        assert_eq!(p.translate(&j).await, Err(ProviderError::Timeout), "{name}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn the_runtime_falls_back_from_a_failing_deepl_to_claude() {
    let deepl_fake = FakeProvider::start().await.expect("fake");
    deepl_fake.set_behavior(Behavior::Status(503));
    let claude_fake = FakeProvider::start().await.expect("fake");
    let (deepl_url, claude_url) = (root(&deepl_fake), root(&claude_fake));
    let (app, platform) = start(&[
        ("TOLMACH_PROVIDERS_DEMO_ENABLED", "false"),
        ("TOLMACH_RESILIENCE_BREAKER_MINIMUM_CALLS", "100"),
        ("TOLMACH_PROVIDERS_DEEPL_KIND", "deepl"),
        ("TOLMACH_PROVIDERS_DEEPL_BASE_URL", deepl_url.as_str()),
        ("TOLMACH_PROVIDERS_DEEPL_API_KEY_ENV", "DEEPL_TEST_KEY"),
        ("TOLMACH_PROVIDERS_DEEPL_PRIORITY", "1"),
        ("DEEPL_TEST_KEY", KEY),
        ("TOLMACH_PROVIDERS_CLAUDE_KIND", "anthropic"),
        ("TOLMACH_PROVIDERS_CLAUDE_BASE_URL", claude_url.as_str()),
        ("TOLMACH_PROVIDERS_CLAUDE_MODEL", "claude-test"),
        ("TOLMACH_PROVIDERS_CLAUDE_API_KEY_ENV", "CLAUDE_TEST_KEY"),
        ("TOLMACH_PROVIDERS_CLAUDE_PRIORITY", "2"),
        ("CLAUDE_TEST_KEY", "sk-ant-test"),
    ])
    .await;
    let key = platform.push("c", "u", "/tr de,fr good morning");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    assert_eq!(
        platform.replies_to(&key)[0].text,
        "🇩🇪 German: [de] good morning\n🇫🇷 French: [fr] good morning"
    );
    assert!(
        deepl_fake
            .requests()
            .iter()
            .any(|r| r.path == "/v2/translate")
    );
    assert!(
        claude_fake
            .requests()
            .iter()
            .all(|r| r.path == "/v1/messages")
    );
    app.shutdown().await;
}
