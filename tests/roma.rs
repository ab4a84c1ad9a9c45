//! The ROMA coordinator and the translation product, end to end through the in-memory platform
//! and the real provider code against the test kit's fake provider: fan-out, chunking, source
//! languages, users' settings, history, `/forget` and the daily quota.

mod common;

use common::{PATIENCE, config, fake_provider, settle, start_with};
use tolmach::domain::{ChatKey, ChatKind, Inbound, MessageKey, PlatformId, UserKey};
use tolmach::store::Store;
use tolmach_testkit::FakeProvider;

/// The runtime with the fake provider first, plus `env`; also returns the data directory.
async fn start(
    fake: &FakeProvider,
    env: &[(&str, &str)],
) -> (
    tolmach::App,
    std::sync::Arc<tolmach::platforms::memory::MemoryPlatform>,
    std::path::PathBuf,
) {
    let provider = fake_provider(&fake.base_url());
    let mut vars: Vec<(&str, &str)> = provider.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.push(("TOLMACH_RATE_LIMIT_BURST", "1000"));
    vars.extend_from_slice(env);
    let config = config(&vars);
    let dir = config.runtime.data_dir.clone();
    let (app, platform) = start_with(config).await;
    (app, platform, dir)
}

/// Sends `text` and returns the one reply to it.
async fn ask(
    platform: &tolmach::platforms::memory::MemoryPlatform,
    user: &str,
    text: &str,
) -> String {
    let before = platform.sent().len();
    let key = platform.push("chat", user, text);
    assert!(platform.wait_for_replies(before + 1, PATIENCE).await);
    let replies = platform.replies_to(&key);
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies[0].text.clone()
}

#[tokio::test]
async fn ten_languages_fan_out_into_one_reply_in_the_users_order() {
    let fake = FakeProvider::start().await.expect("fake provider");
    let (app, platform, _) = start(&fake, &[]).await;
    let targets = ["ja", "es", "fr", "de", "it", "pt", "nl", "pl", "ko", "uk"];
    let reply = ask(
        &platform,
        "u1",
        &format!("/tr {} see you tomorrow", targets.join(",")),
    )
    .await;
    let lines: Vec<&str> = reply.lines().collect();
    assert_eq!(lines.len(), 10, "{reply}");
    for (line, code) in lines.iter().zip(targets) {
        assert!(
            line.ends_with(&format!(": [{code}] see you tomorrow")),
            "{code}: {line}"
        );
    }
    assert!(lines[0].starts_with("🇯🇵 Japanese"), "{reply}");
    assert_eq!(fake.request_count(), 10, "one provider call per language");
    settle(&app).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_long_text_is_chunked_translated_in_parallel_and_reassembled_in_order() {
    let fake = FakeProvider::start().await.expect("fake provider");
    let (app, platform, _) = start(&fake, &[("TOLMACH_COORDINATOR_CHUNK_CHARS", "60")]).await;
    let sentences: Vec<String> = (1..=12)
        .map(|i| format!("Sentence number {i:02} is here."))
        .collect();
    // Two paragraphs: the break must survive the round trip.
    let text = format!(
        "{}\n\n{}",
        sentences[..6].join(" "),
        sentences[6..].join(" ")
    );
    let reply = ask(&platform, "u1", &format!("/tr es,de {text}")).await;

    let chunks = fake.request_count() / 2;
    assert!(chunks >= 6, "{chunks} chunks for {} chars", text.len());
    for code in ["es", "de"] {
        let start = reply
            .find(&format!("[{code}] Sentence number 01"))
            .unwrap_or_else(|| panic!("{code} missing: {reply}"));
        let section = &reply[start..];
        let section = section.split("\n🇩🇪").next().unwrap_or(section);
        // Every sentence once, in order, each chunk translated into this language.
        let mut at = 0;
        for s in &sentences {
            let found = section[at..]
                .find(s.as_str())
                .unwrap_or_else(|| panic!("{code}: {s:?} missing or out of order in {section}"));
            at += found + s.len();
        }
        assert_eq!(
            section.matches(&format!("[{code}]")).count(),
            chunks,
            "{section}"
        );
        assert!(
            section.contains("is here.\n\n["),
            "the paragraph break survives: {section}"
        );
    }
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.user_text.as_deref().unwrap_or_default().chars().count() < 200),
        "no request carries the whole text"
    );
    settle(&app).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_source_language_is_shown_named_or_detected() {
    let fake = FakeProvider::start().await.expect("fake provider");
    let (app, platform, _) = start(&fake, &[]).await;
    let named = ask(
        &platform,
        "u1",
        "translate ciao a tutti from Italian to German",
    )
    .await;
    assert!(named.starts_with("🇮🇹 from Italian\n"), "{named}");
    let detected = ask(
        &platform,
        "u1",
        "/tr en Ich möchte heute Abend einen Tisch für vier Personen in diesem Restaurant reservieren, \
         wenn das noch möglich ist.",
    )
    .await;
    assert!(
        detected.starts_with("🇩🇪 from German (detected)\n"),
        "{detected}"
    );
    // The source language asked as a target costs no provider call.
    let before = fake.request_count();
    let kept = ask(
        &platform,
        "u1",
        "translate ciao a tutti from Italian to Italian, English",
    )
    .await;
    assert!(kept.contains("Italian: ciao a tutti\n"), "{kept}");
    assert_eq!(fake.request_count(), before + 1, "only English was sent");
    settle(&app).await;
    app.shutdown().await;
}

#[tokio::test]
async fn default_languages_apply_where_none_is_named() {
    let fake = FakeProvider::start().await.expect("fake provider");
    let (app, platform, _) = start(&fake, &[]).await;
    let asked = ask(&platform, "u1", "/tr good night").await;
    assert!(
        asked.contains("/lang"),
        "which language, and how to set defaults: {asked}"
    );

    let set = ask(&platform, "u1", "/lang es fr").await;
    assert!(set.contains("Spanish") && set.contains("French"), "{set}");
    let shown = ask(&platform, "u1", "/lang").await;
    assert!(
        shown.contains("Spanish") && shown.contains("French"),
        "{shown}"
    );
    // Plain text in a private chat now translates into the defaults.
    let plain = ask(&platform, "u1", "good night").await;
    assert!(
        plain.contains(": [es] good night") && plain.contains(": [fr] good night"),
        "{plain}"
    );
    // Another user has no defaults.
    let other = ask(&platform, "u2", "good night").await;
    assert!(!other.contains("[es]"), "{other}");
    let cleared = ask(&platform, "u1", "/lang off").await;
    assert!(!cleared.is_empty());
    let after = ask(&platform, "u1", "good night").await;
    assert!(!after.contains("[es]"), "{after}");
    settle(&app).await;
    app.shutdown().await;
}

#[tokio::test]
async fn history_favorites_and_forget_really_deletes() {
    let fake = FakeProvider::start().await.expect("fake provider");
    let (app, platform, dir) = start(&fake, &[]).await;
    ask(&platform, "u1", "/lang ja").await;
    ask(&platform, "u1", "/tr es,fr first secret text").await;
    ask(&platform, "u1", "translate second secret text to French").await;
    ask(&platform, "u2", "/tr de someone else's text").await;

    let history = ask(&platform, "u1", "/history").await;
    let first = history.find("second secret text").expect("newest listed");
    let second = history.find("first secret text").expect("older listed");
    assert!(first < second, "newest first: {history}");
    assert!(!history.contains("someone else"), "{history}");
    let favorites = ask(&platform, "u1", "/favorites").await;
    let fr = favorites.find("French").expect("French is a favorite");
    let es = favorites.find("Spanish").expect("Spanish is a favorite");
    assert!(fr < es, "most used first: {favorites}");

    // What the store holds, read beside the running bot.
    let store = Store::open(&dir).expect("store");
    let u1 = UserKey::new(PlatformId::Memory, "u1");
    let u2 = UserKey::new(PlatformId::Memory, "u2");
    assert_eq!(
        store.records_about(&u1).expect("count"),
        3,
        "settings and 2 translations"
    );

    let forgotten = ask(&platform, "u1", "/forget").await;
    assert!(forgotten.contains('3'), "says what went: {forgotten}");
    assert_eq!(store.records_about(&u1).expect("count"), 0);
    assert!(store.history(&u1, 10).expect("history").is_empty());
    assert!(store.defaults(&u1).expect("defaults").is_empty());
    assert_eq!(
        store.records_about(&u2).expect("count"),
        1,
        "others are kept"
    );
    let history = ask(&platform, "u1", "/history").await;
    assert!(!history.contains("secret"), "{history}");
    settle(&app).await;
    app.shutdown().await;
}

#[tokio::test]
async fn history_is_not_kept_in_groups_by_default() {
    let fake = FakeProvider::start().await.expect("fake provider");
    let (app, platform, dir) = start(&fake, &[]).await;
    let group = |id: &str, text: &str| Inbound {
        key: MessageKey {
            chat: ChatKey::new(PlatformId::Memory, "group"),
            id: id.into(),
        },
        user: UserKey::new(PlatformId::Memory, "u1"),
        chat_kind: ChatKind::Group,
        reply_to: Some(id.into()),
        text: text.into(),
        truncated: None,
        user_language: None,
        quoted: None,
        voice: None,
        unreadable: false,
        received_at: tokio::time::Instant::now(),
    };
    platform.push_inbound(group("g1", "/tr es group text"));
    platform.push_inbound(group("g2", "/history"));
    assert!(platform.wait_for_replies(2, PATIENCE).await);
    let sent = platform.sent();
    let history = &sent
        .iter()
        .find(|o| &*o.in_reply_to.id == "g2")
        .expect("history reply")
        .text;
    assert!(history.contains("private"), "{history}");
    let store = Store::open(&dir).expect("store");
    let u1 = UserKey::new(PlatformId::Memory, "u1");
    assert_eq!(
        store.records_about(&u1).expect("count"),
        1,
        "counted for the quota"
    );
    assert!(
        store.history(&u1, 10).expect("history").is_empty(),
        "but no text kept"
    );
    settle(&app).await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_daily_quota_answers_kindly_and_admins_are_exempt() {
    let fake = FakeProvider::start().await.expect("fake provider");
    let (app, platform, _) = start(
        &fake,
        &[
            ("TOLMACH_USERS_DAILY_QUOTA", "2"),
            ("TOLMACH_USERS_ADMINS", "memory:boss"),
        ],
    )
    .await;
    for i in 0..2 {
        let r = ask(&platform, "u1", &format!("/tr es text {i}")).await;
        assert!(r.contains("[es]"), "{r}");
    }
    let before = fake.request_count();
    let refused = ask(&platform, "u1", "/tr es one too many").await;
    assert!(
        refused.contains("2 translations") && refused.contains("UTC"),
        "{refused}"
    );
    assert_eq!(
        fake.request_count(),
        before,
        "no provider call past the quota"
    );
    // Settings and help still work past the quota.
    assert!(
        !ask(&platform, "u1", "/lang es")
            .await
            .contains("translations for today")
    );
    for i in 0..4 {
        let r = ask(&platform, "boss", &format!("/tr es admin text {i}")).await;
        assert!(r.contains("[es]"), "{r}");
    }
    settle(&app).await;
    app.shutdown().await;
}
