//! End to end through the in-memory platform: the same session, conversation, rate limiter,
//! coordinator, provider, ledger and outbox path as every real platform.

mod common;

use std::time::Duration;

use common::{PATIENCE, settle, start};
use tolmach::domain::{ChatKey, ChatKind, Inbound, MessageKey, PlatformId, UserKey};
use tolmach::supervision::ActorKind;
use tolmach::telemetry::metrics::Metric;

#[tokio::test]
async fn three_languages_in_one_reply() {
    let (app, platform) = start(&[]).await;
    let key = platform.push(
        "c1",
        "u1",
        "translate good morning to Spanish, French and German",
    );
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    let replies = platform.replies_to(&key);
    assert_eq!(replies.len(), 1, "{replies:?}");
    let text = &replies[0].text;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "🇪🇸 Spanish: Buenos días",
            "🇫🇷 French: Bonjour",
            "🇩🇪 German: Guten Morgen"
        ],
        "{text}"
    );
    assert!(
        text.contains("offline demo"),
        "demo answers are labelled: {text}"
    );
    assert_eq!(replies[0].reply_to.as_deref(), Some(&*key.id));
    assert_eq!(
        app.metrics().sample(
            Metric::Replies,
            &[("platform", "memory"), ("outcome", "translated")]
        ),
        Some(1.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn every_kind_of_bad_input_gets_one_clear_reply() {
    let (app, platform) = start(&[("TOLMACH_RATE_LIMIT_BURST", "100")]).await;
    let huge = format!("translate {} to Spanish", "x".repeat(100_000));
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("   \t  ".into(), "empty"),
        (huge, "characters long; I translate up to 4000"),
        (
            "translate hi to Klingon".into(),
            "I don't know the language \"Klingon\"",
        ),
        ("translate hi to Spansh".into(), "Did you mean Spanish"),
        ("/tr es,fr".into(), "What should I translate"),
        ("translate good morning".into(), "Which language"),
        ("\u{0}\u{1}\u{7}\u{1b}".into(), "empty"),
        ("\u{1b}[2J\u{1b}[31mred".into(), "I translate text"),
        ("just chatting".into(), "I translate text"),
        (
            "/frobnicate now".into(),
            "I don't know the command /frobnicate",
        ),
        (
            "/tr es,fr,de,it,pt,nl,ru,uk,pl,tr,ja hi".into(),
            "at most 10",
        ),
        (
            "translate the quick brown fox to German".into(),
            "not in the offline demo phrasebook",
        ),
        (
            "t\u{0338}\u{0321}ranslate 👍🏽 to 日本語".into(),
            "I translate text",
        ),
        ("\u{202e}good morning -> es".into(), "Spanish"),
        ("/help".into(), "/tr es,fr,de good morning"),
        ("/languages".into(), "Spanish (es)"),
    ];
    let keys: Vec<(MessageKey, &str)> = cases
        .iter()
        .map(|(text, expect)| (platform.push("c", "u", text), *expect))
        .collect();
    assert!(platform.wait_for_replies(keys.len(), PATIENCE).await);
    settle(&app).await;
    for (key, expect) in &keys {
        let replies = platform.replies_to(key);
        assert_eq!(replies.len(), 1, "exactly one reply to {key}");
        assert!(
            replies[0].text.contains(expect),
            "reply to {key} should contain {expect:?}: {}",
            replies[0].text
        );
    }
    assert_eq!(platform.sent().len(), keys.len());
    app.shutdown().await;
}

#[tokio::test]
async fn a_redelivered_message_is_answered_once() {
    let (app, platform) = start(&[]).await;
    let inbound = Inbound {
        key: MessageKey {
            chat: ChatKey::new(PlatformId::Memory, "c"),
            id: "update-7".into(),
        },
        user: UserKey::new(PlatformId::Memory, "u"),
        chat_kind: ChatKind::Private,
        reply_to: Some("7".into()),
        text: "/tr es hello".into(),
        truncated: None,
        quoted: None,
        user_language: None,
        voice: None,
        unreadable: false,
        received_at: tokio::time::Instant::now(),
    };
    platform.push_inbound(inbound.clone());
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    platform.push_inbound(inbound.clone()); // redelivered after it was answered
    let marker = platform.push("c", "u", "/tr fr hello");
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    assert_eq!(platform.replies_to(&inbound.key).len(), 1);
    assert_eq!(platform.replies_to(&marker).len(), 1);
    assert_eq!(app.metrics().sum(Metric::MessagesDuplicate), 1.0);
    app.shutdown().await;
}

#[tokio::test]
async fn chats_keep_their_order() {
    let (app, platform) = start(&[("TOLMACH_RATE_LIMIT_BURST", "1000")]).await;
    let phrases = [
        "hello",
        "thank you",
        "goodbye",
        "good night",
        "yes",
        "no",
        "please",
    ];
    let mut sent = Vec::new();
    for chat in ["a", "b", "c"] {
        for p in phrases {
            sent.push(platform.push(chat, chat, &format!("/tr es {p}")));
        }
    }
    assert!(platform.wait_for_replies(sent.len(), PATIENCE).await);
    settle(&app).await;
    for chat in ["a", "b", "c"] {
        let got: Vec<String> = platform
            .sent()
            .into_iter()
            .filter(|o| &*o.chat.chat == chat)
            .map(|o| o.in_reply_to.id.to_string())
            .collect();
        let want: Vec<String> = sent
            .iter()
            .filter(|k| &*k.chat.chat == chat)
            .map(|k| k.id.to_string())
            .collect();
        assert_eq!(got, want, "replies in chat {chat} are in message order");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn rate_limited_users_get_one_notice_per_cooldown() {
    let (app, platform) = start(&[
        ("TOLMACH_RATE_LIMIT_PER_MINUTE", "1"),
        ("TOLMACH_RATE_LIMIT_BURST", "2"),
    ])
    .await;
    for _ in 0..6 {
        platform.push("c", "spammer", "/tr es hello");
    }
    let other = platform.push("c2", "someone-else", "/tr es hello");
    // Three replies to the spammer and one to the other user; the other three are skipped.
    assert!(platform.wait_for_replies(4, PATIENCE).await);
    settle(&app).await;
    let sent = platform.sent();
    let spammer: Vec<&str> = sent
        .iter()
        .filter(|o| &*o.chat.chat == "c")
        .map(|o| o.text.as_str())
        .collect();
    assert_eq!(spammer.len(), 3, "two answers and one notice: {spammer:?}");
    assert!(spammer[2].contains("Please wait"), "{spammer:?}");
    assert_eq!(platform.replies_to(&other).len(), 1);
    assert_eq!(
        app.metrics()
            .sample(Metric::RateLimited, &[("notified", "false")]),
        Some(3.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn shutdown_answers_everything_already_accepted() {
    let (app, platform) = start(&[("TOLMACH_RATE_LIMIT_BURST", "1000")]).await;
    let keys: Vec<MessageKey> = (0..200)
        .map(|i| platform.push(&format!("chat{}", i % 17), "u", "/tr es,fr,de good morning"))
        .collect();
    // Shut down at once: everything the session accepts must still be answered.
    let accepted_before = tokio::time::Instant::now();
    let report = app.shutdown().await;
    assert!(report.killed.is_empty(), "{report:?}");
    let answered = keys
        .iter()
        .filter(|k| platform.replies_to(k).len() == 1)
        .count();
    assert_eq!(answered, keys.len());
    assert!(accepted_before.elapsed() < Duration::from_secs(60));
}

#[tokio::test]
async fn metrics_are_served_over_http() {
    let (app, platform) = start(&[]).await;
    platform.push("c", "u", "/tr es hello");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    settle(&app).await;
    let addr = app.metrics_addr().expect("metrics enabled");
    let body = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics answer")
        .text()
        .await
        .expect("body");
    for needle in [
        "tolmach_messages_received_total{platform=\"memory\"} 1",
        "tolmach_replies_total{platform=\"memory\",outcome=\"translated\"} 1",
        "tolmach_provider_calls_total{provider=\"demo\",outcome=\"ok\"} 1",
        "tolmach_breaker_state{provider=\"demo\",state=\"closed\"} 1",
        "# TYPE tolmach_request_duration_seconds histogram",
        "tolmach_build_info{version=",
    ] {
        assert!(body.contains(needle), "missing {needle} in:\n{body}");
    }
    assert!(!body.contains("u\""), "no user ids as labels");
    app.shutdown().await;
}

/// A chat's conversation stops after `conversation.idle_timeout` without messages, which frees
/// its actor; the chat's next message starts a new one and is answered. An idle stop is not a
/// restart.
#[tokio::test]
async fn an_idle_conversation_stops_and_its_chat_is_answered_again() {
    let (app, platform) = start(&[("TOLMACH_CONVERSATION_IDLE_TIMEOUT", "100ms")]).await;
    let conversation_of = |tree: &tolmach::supervision::TreeNode, chat: &str| {
        tree.walk()
            .iter()
            .find(|(_, n)| n.kind == ActorKind::Conversation && n.id == chat)
            .and_then(|(_, n)| n.actor_id())
    };

    let first = platform.push("idle-chat", "u1", "/tr es good morning");
    assert!(platform.wait_for_replies(1, PATIENCE).await);
    let (_, stopped) = app
        .wait_for_tree(PATIENCE, |t| conversation_of(t, "idle-chat").is_none())
        .await;
    assert!(stopped, "the idle conversation was not stopped");

    let second = platform.push("idle-chat", "u1", "/tr fr good evening");
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    settle(&app).await;
    assert_eq!(platform.replies_to(&first).len(), 1);
    let replies = platform.replies_to(&second);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].text.contains("Bonsoir"), "{}", replies[0].text);
    assert_eq!(
        app.metrics()
            .sample(Metric::ActorRestarts, &[("kind", "conversation")])
            .unwrap_or(0.0),
        0.0,
        "an idle stop is not a restart"
    );
    app.shutdown().await;
}
