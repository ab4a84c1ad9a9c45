//! The Telegram platform end to end: the real teloxide client against the test kit's fake Bot
//! API on 127.0.0.1, through the whole runtime.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tolmach::App;
use tolmach::platforms::Platform;
use tolmach::supervision::ActorKind;
use tolmach::telemetry::metrics::{Metric, Metrics};
use tolmach_testkit::{FakeTelegram, Fault, MessageBuilder, TgChat, TgUser};

const TOKEN: &str = "7000000001:TEST-secret-token-do-not-log";
const PATIENCE: Duration = Duration::from_secs(60);

/// A data directory of its own for each runtime.
fn data_dir(name: &str) -> std::path::PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tolmach-tg-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The runtime on the fake Telegram. Pacing is fast unless `env` says otherwise.
async fn start_bot(fake: &FakeTelegram, name: &str, env: &[(&str, &str)]) -> App {
    start_bot_with(fake, name, env, |p| p).await
}

/// [`start_bot`], with the platforms passed through `wrap` first.
async fn start_bot_with(
    fake: &FakeTelegram,
    name: &str,
    env: &[(&str, &str)],
    wrap: impl Fn(Arc<dyn Platform>) -> Arc<dyn Platform>,
) -> App {
    let dir = data_dir(name);
    let api_url = fake.api_url();
    let dir_s = dir.display().to_string();
    let mut vars: Vec<(&str, &str)> = vec![
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", &api_url),
        ("TOLMACH_RUNTIME_DATA_DIR", &dir_s),
        ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_INTERVAL", "1ms"),
        ("TOLMACH_PLATFORMS_TELEGRAM_GROUP_INTERVAL", "1ms"),
        ("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_INTERVAL", "1ms"),
        ("TOLMACH_RATE_LIMIT_BURST", "1000"),
    ];
    vars.extend_from_slice(env);
    let config = common::config(&vars);
    let metrics = Metrics::new();
    let store = tolmach::store::Store::open(&config.runtime.data_dir).expect("store");
    let mut platforms =
        tolmach::app::platforms_from_config(&config, &metrics, &store).expect("platforms");
    assert_eq!(platforms.len(), 1, "telegram only");
    platforms = platforms.into_iter().map(wrap).collect();
    App::start_with(config, metrics, store, platforms)
        .await
        .expect("runtime starts")
}

fn ann() -> TgUser {
    TgUser::new(42, "Ann")
}

#[tokio::test]
async fn ten_languages_fan_out_into_one_telegram_reply() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot(&fake, "ten", &common::env(&owned, &[])).await;
    let targets = ["es", "fr", "de", "it", "pt", "nl", "pl", "ja", "ko", "zh"];
    let update = fake.send_text(
        &TgChat::private(42, "Ann"),
        &ann(),
        &format!("/tr {} the meeting moved to Friday", targets.join(",")),
    );
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "one reply for ten languages");
    assert_eq!(sent[0].reply_to_message_id, fake.message_id_of(update));
    let lines: Vec<&str> = sent[0].text.lines().collect();
    assert_eq!(lines.len(), 10, "{}", sent[0].text);
    for (line, code) in lines.iter().zip(targets) {
        assert!(
            line.ends_with(&format!(": [{code}] the meeting moved to Friday")),
            "{code} out of order or missing: {}",
            sent[0].text
        );
    }
    assert_eq!(provider.request_count(), 10);
}

#[tokio::test]
async fn private_chat_happy_path_replies_to_the_message() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(&fake, "happy", &[]).await;
    let chat = TgChat::private(42, "Ann");
    let update = fake.send_text(
        &chat,
        &ann(),
        "translate good morning to Spanish, French and German",
    );
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    let sent = fake.sent();
    assert_eq!(sent[0].chat_id, 42);
    assert!(
        sent[0]
            .text
            .starts_with("🇪🇸 Spanish: Buenos días\n🇫🇷 French: Bonjour\n🇩🇪 German: Guten Morgen"),
        "{}",
        sent[0].text
    );
    assert_eq!(sent[0].reply_to_message_id, fake.message_id_of(update));
    assert_eq!(
        sent[0].params["parse_mode"],
        serde_json::Value::Null,
        "plain text"
    );
    app.shutdown().await;
    assert_eq!(fake.sent().len(), 1);
    assert!(
        fake.confirmed_offset() > update,
        "the update was confirmed to Telegram"
    );
}

#[tokio::test]
async fn start_and_help_speak_the_users_language() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(&fake, "help", &[]).await;
    let es = TgUser::new(43, "Eva").language("es");
    fake.send_text(&TgChat::private(43, "Eva"), &es, "/start");
    let ja = TgUser::new(44, "Aki").language("ja");
    fake.send_text(&TgChat::private(44, "Aki"), &ja, "/help");
    assert!(fake.wait_for_sent(2, PATIENCE).await);
    let by_chat: HashMap<i64, String> = fake
        .sent()
        .into_iter()
        .map(|s| (s.chat_id, s.text))
        .collect();
    assert!(
        by_chat[&43].starts_with("Traduzco textos"),
        "{}",
        by_chat[&43]
    );
    assert!(
        by_chat[&44].starts_with("テキストを一度に"),
        "{}",
        by_chat[&44]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn group_chats_answer_only_what_is_addressed_to_the_bot() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(&fake, "groups", &[]).await;
    let group = TgChat::supergroup(-1001, "Friends");
    let bob = TgUser::new(50, "Bob");
    let bot = fake.bot_username();
    // Ignored: chatter, another bot's command, messages from bots, stickers, service messages,
    // edits, channel posts.
    fake.send_text(&group, &bob, "good morning everyone");
    fake.send_text(&group, &bob, "/tr@some_other_bot es hello");
    fake.send_text(&group, &TgUser::new(60, "Robo").bot(), "/tr es hello");
    fake.push_message(MessageBuilder::sticker(&group, &bob));
    fake.push_message(MessageBuilder::service_new_members(&group, &bob));
    fake.push_message(MessageBuilder::text(&group, &bob, "/tr es thank you").edited());
    fake.push_message(
        MessageBuilder::text(&TgChat::channel(-1009, "News"), &bob, "/tr es hello").channel_post(),
    );
    // Answered: a command, a command for this bot by name, a mention, a reply to the bot, a caption.
    let u1 = fake.send_text(&group, &bob, "/tr es good night");
    let u2 = fake.send_text(&group, &bob, &format!("/tr@{bot} fr good night"));
    let u3 = fake.send_text(
        &group,
        &bob,
        &format!("@{bot} translate thank you to German"),
    );
    assert!(fake.wait_for_sent(3, PATIENCE).await);
    let bot_message = fake.sent()[0].message_id;
    let u4 = fake
        .push_message(MessageBuilder::text(&group, &bob, "goodbye -> it").reply_to(bot_message));
    let u5 = fake.push_message(MessageBuilder::photo_with_caption(
        &group,
        &bob,
        "/tr pt welcome",
    ));
    assert!(fake.wait_for_sent(5, PATIENCE).await);
    common::settle(&app).await;
    for (reason, n) in [
        ("not_addressed", 2.0),
        ("from_bot", 1.0),
        ("media_without_text", 1.0),
        ("service", 1.0),
        ("edited", 1.0),
        ("channel_post", 1.0),
    ] {
        assert_eq!(
            app.metrics().sample(
                Metric::UpdatesIgnored,
                &[("platform", "telegram"), ("reason", reason)]
            ),
            Some(n),
            "{reason}"
        );
    }
    app.shutdown().await;

    let sent = fake.sent();
    let text_for = |u: i64| {
        let mid = fake.message_id_of(u);
        sent.iter()
            .filter(|s| s.reply_to_message_id == mid)
            .map(|s| s.text.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(sent.len(), 5, "{sent:#?}");
    assert!(text_for(u1)[0].starts_with("🇪🇸 Spanish: Buenas noches"));
    assert!(text_for(u2)[0].starts_with("🇫🇷 French: Bonne nuit"));
    assert!(text_for(u3)[0].starts_with("🇩🇪 German: Danke"));
    assert!(text_for(u4)[0].starts_with("🇮🇹 Italian: Arrivederci"));
    assert!(text_for(u5)[0].starts_with("🇵🇹 Portuguese: Bem-vindo"));
}

#[tokio::test]
async fn replies_hand_the_runtime_the_quoted_text() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let received = common::Received::new();
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot_with(&fake, "quoted", &common::env(&owned, &[]), |p| {
        received.tap(p)
    })
    .await;
    let group = TgChat::supergroup(-1001, "Freunde");
    let bob = TgUser::new(50, "Bob");
    let said = fake.send_text(&group, &bob, "Guten Morgen zusammen! Wie geht's euch?");
    let said = fake.message_id_of(said).expect("a message");
    let sticker = fake.push_message(MessageBuilder::sticker(&group, &bob));
    let sticker = fake.message_id_of(sticker).expect("a message");
    let asks = [
        fake.push_message(
            MessageBuilder::text(&group, &ann(), "/tr en")
                .reply_to(said)
                .quote("Wie geht's euch?"),
        ),
        fake.push_message(MessageBuilder::text(&group, &ann(), "/tr fr").reply_to(said)),
        fake.push_message(MessageBuilder::text(&group, &ann(), "/tr en").reply_to(sticker)),
    ];
    // Bob's chatter and sticker are not addressed to the bot: only Ann's replies come through.
    let got = received.wait_for(3).await;
    let quoted: Vec<Option<&str>> = got.iter().map(|i| i.quoted.as_deref()).collect();
    assert_eq!(
        quoted,
        [
            Some("Wie geht's euch?"),
            Some("Guten Morgen zusammen! Wie geht's euch?"),
            None
        ]
    );
    assert!(got.iter().all(|i| i.text.starts_with("/tr ")));
    // Each is answered once: the quoted part, the whole message replied to, and a question for
    // the sticker (nothing to translate).
    assert!(fake.wait_for_sent(3, PATIENCE).await);
    let answer = |u: i64| {
        let mid = fake.message_id_of(u);
        fake.sent()
            .into_iter()
            .find(|s| s.reply_to_message_id == mid)
            .map(|s| s.text)
            .unwrap_or_default()
    };
    assert!(
        answer(asks[0]).ends_with("🇬🇧 English: [en] Wie geht's euch?"),
        "{}",
        answer(asks[0])
    );
    assert!(
        answer(asks[1]).ends_with("🇫🇷 French: [fr] Guten Morgen zusammen! Wie geht's euch?"),
        "{}",
        answer(asks[1])
    );
    assert!(
        answer(asks[2]).contains("What should I translate"),
        "{}",
        answer(asks[2])
    );
    let mut answered: Vec<Option<i64>> =
        fake.sent().iter().map(|s| s.reply_to_message_id).collect();
    answered.sort_unstable();
    let mut asked: Vec<Option<i64>> = asks.iter().map(|u| fake.message_id_of(*u)).collect();
    asked.sort_unstable();
    assert_eq!(answered, asked);
    app.shutdown().await;
    assert_eq!(received.all().len(), 3, "nothing else came through");
}

/// teloxide 0.17 alone parses a reply to a *text* in another chat as an empty message
/// (teloxide#1420); the platform parses it again without `external_reply`.
#[tokio::test]
async fn a_reply_to_a_text_in_another_chat_is_answered_once() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let received = common::Received::new();
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot_with(&fake, "cross-chat", &common::env(&owned, &[]), |p| {
        received.tap(p)
    })
    .await;
    // A text post of a channel, replied to from Ann's private chat with the bot.
    let news = serde_json::json!({"id": -1_001_234_567_890_i64, "title": "Nachrichten",
        "username": "nachrichten", "type": "channel"});
    let external = serde_json::json!({
        "origin": {"type": "channel", "chat": news, "message_id": 77, "date": 1_700_000_000},
        "chat": news, "message_id": 77
    });
    let chat = TgChat::private(42, "Ann");
    let asks = [
        fake.push_message(
            MessageBuilder::text(&chat, &ann(), "/tr en")
                .with_field("external_reply", external.clone())
                .with_field(
                    "quote",
                    serde_json::json!({"text": "Der Zug fällt aus.", "position": 0, "is_manual": true}),
                ),
        ),
        fake.push_message(
            MessageBuilder::text(&chat, &ann(), "/tr fr").with_field("external_reply", external),
        ),
    ];
    let got = received.wait_for(2).await;
    let texts: Vec<(&str, Option<&str>)> = got
        .iter()
        .map(|i| (i.text.as_str(), i.quoted.as_deref()))
        .collect();
    assert_eq!(
        texts,
        [("/tr en", Some("Der Zug fällt aus.")), ("/tr fr", None)]
    );
    assert!(fake.wait_for_sent(2, PATIENCE).await);
    common::settle(&app).await;
    assert_eq!(
        app.metrics().sample(
            Metric::UpdatesIgnored,
            &[("platform", "telegram"), ("reason", "service")]
        ),
        None,
        "nothing ignored"
    );
    app.shutdown().await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let answer = |u: i64| {
        let mid = fake.message_id_of(u);
        let answers: Vec<&str> = sent
            .iter()
            .filter(|s| s.reply_to_message_id == mid)
            .map(|s| s.text.as_str())
            .collect();
        assert_eq!(answers.len(), 1, "answered once: {answers:?}");
        answers[0].to_string()
    };
    let quoted = answer(asks[0]);
    assert!(
        quoted.ends_with("🇬🇧 English: [en] Der Zug fällt aus."),
        "{quoted}"
    );
    // Without a quote Telegram sends no text of the other chat's message: the bot asks.
    let unquoted = answer(asks[1]);
    assert!(unquoted.contains("What should I translate"), "{unquoted}");
    assert!(fake.confirmed_offset() > asks[1], "both confirmed");
    assert_eq!(received.all().len(), 2, "nothing else came through");
}

#[tokio::test]
async fn ignored_updates_are_counted_and_confirmed() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(&fake, "ignored", &[]).await;
    let group = TgChat::group(-77, "G");
    let bob = TgUser::new(50, "Bob");
    fake.send_text(&group, &bob, "not for the bot");
    fake.push_message(MessageBuilder::sticker(&group, &bob));
    // A sticker in a private chat is answered: with what the bot can read.
    let sticker = fake.push_message(MessageBuilder::sticker(&TgChat::private(50, "Bob"), &bob));
    let last = fake.send_text(&TgChat::private(50, "Bob"), &bob, "/tr es yes");
    assert!(fake.wait_for_sent(2, PATIENCE).await);
    common::settle(&app).await;
    let mid = fake.message_id_of(sticker);
    let hints: Vec<String> = fake
        .sent()
        .into_iter()
        .filter(|s| s.reply_to_message_id == mid)
        .map(|s| s.text)
        .collect();
    assert_eq!(hints.len(), 1, "{hints:?}");
    assert!(
        hints[0].contains("can't read that kind of message"),
        "{hints:?}"
    );
    let m = app.metrics();
    assert_eq!(
        m.sample(
            Metric::UpdatesIgnored,
            &[("platform", "telegram"), ("reason", "not_addressed")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.sample(
            Metric::UpdatesIgnored,
            &[("platform", "telegram"), ("reason", "media_without_text")]
        ),
        Some(1.0)
    );
    app.shutdown().await;
    assert!(fake.confirmed_offset() > last);
    assert_eq!(fake.pending_updates(), 0);
}

#[tokio::test]
async fn flood_control_is_waited_out_never_shortened() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.fail_next("sendMessage", Fault::RetryAfter(1), 1);
    let app = start_bot(&fake, "retry-after", &[]).await;
    fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr es hello");
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    app.shutdown().await;
    let sends: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "sendmessage")
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].status, 429);
    assert!(
        sends[1].at.duration_since(sends[0].at) >= Duration::from_secs(1),
        "resent after {:?}",
        sends[1].at.duration_since(sends[0].at)
    );
    assert_eq!(fake.sent().len(), 1);
}

/// Telegram replies counted by the outbox with this `result` (`sent`, `failed`).
fn deliveries(app: &App, result: &str) -> Option<f64> {
    app.metrics().sample(
        Metric::Deliveries,
        &[("platform", "telegram"), ("result", result)],
    )
}

/// `sendMessage` calls the fake received, faulted or not.
fn send_message_calls(fake: &FakeTelegram) -> usize {
    fake.calls()
        .into_iter()
        .filter(|c| c.method == "sendmessage")
        .count()
}

#[tokio::test]
async fn server_errors_and_broken_json_are_retried_without_duplicates() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.fail_next("getUpdates", Fault::ServerError(503), 1);
    fake.fail_next("getUpdates", Fault::MalformedJson, 2);
    fake.fail_next("sendMessage", Fault::ServerError(502), 1);
    fake.fail_next("sendMessage", Fault::MalformedJson, 1);
    let app = start_bot(&fake, "5xx", &[]).await;
    let update = fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr es please");
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].reply_to_message_id, fake.message_id_of(update));
    assert!(sent[0].text.starts_with("🇪🇸 Spanish: Por favor"));
}

/// Telegram accepted the reply, but its result is a message teloxide cannot parse (here: no
/// `chat`, no `date`, as from a Bot API newer than the client). The reply was sent: sending it
/// again would post it twice. (With teloxide's own `sendMessage` request this fails: the
/// result is an `InvalidJson` error and the reply is retried.)
#[tokio::test]
async fn a_sent_reply_whose_result_cannot_be_parsed_is_not_sent_again() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.fail_next(
        "sendMessage",
        Fault::OddResult(serde_json::json!({"message_id": 7, "paid_star_count": {"new": true}})),
        1,
    );
    let app = start_bot(&fake, "odd-result", &[]).await;
    fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr es please");
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    common::settle(&app).await;
    assert_eq!(fake.pending_faults(), 0);
    assert_eq!(deliveries(&app, "sent"), Some(1.0));
    app.shutdown().await;
    let sends = send_message_calls(&fake);
    assert_eq!(sends, 1, "not sent again");
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn the_bot_keeps_trying_when_the_api_is_down_at_start() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.fail_next("getMe", Fault::Drop, 2);
    let app = start_bot(&fake, "getme", &[]).await;
    fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr fr thank you");
    assert!(
        fake.wait_for_sent(1, PATIENCE).await,
        "served once the API came back"
    );
    let get_me: Vec<Instant> = fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "getme")
        .map(|c| c.at)
        .collect();
    assert!(get_me.len() >= 3);
    assert!(
        get_me[1].duration_since(get_me[0]) >= Duration::from_secs(1),
        "backoff 1 s"
    );
    assert!(
        get_me[2].duration_since(get_me[1]) >= Duration::from_secs(2),
        "backoff 2 s"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_long_poll() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(
        &fake,
        "long-poll",
        &[("TOLMACH_PLATFORMS_TELEGRAM_POLL_TIMEOUT", "50s")],
    )
    .await;
    assert!(fake.wait_for_calls("getUpdates", 1, PATIENCE).await);
    let started = Instant::now();
    app.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_slow_long_poll_still_delivers() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.fail_next("getUpdates", Fault::Delay(Duration::from_secs(2)), 1);
    let app = start_bot(&fake, "slow-poll", &[]).await;
    fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr de yes");
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    app.shutdown().await;
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn permanent_errors_give_up_once_and_move_on() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.fail_next("sendMessage", Fault::bot_blocked(), 1);
    let app = start_bot(&fake, "blocked", &[]).await;
    let blocked = fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr es hello");
    assert!(fake.wait_for_calls("sendMessage", 1, PATIENCE).await);
    let later = fake.send_text(
        &TgChat::private(43, "Eva"),
        &TgUser::new(43, "Eva"),
        "/tr es hello",
    );
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    common::settle(&app).await;
    assert_eq!(deliveries(&app, "failed"), Some(1.0));
    app.shutdown().await;
    let sends = send_message_calls(&fake);
    assert_eq!(sends, 2, "no retry after 403");
    assert!(
        fake.confirmed_offset() > later.max(blocked),
        "the blocked update counts as handled"
    );
}

#[tokio::test]
async fn a_migrated_group_gets_its_reply_in_the_supergroup() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    fake.fail_next("sendMessage", Fault::MigrateTo(-100_555), 1);
    let app = start_bot(&fake, "migrate", &[]).await;
    fake.send_text(&TgChat::group(-555, "Old"), &ann(), "/tr es hello");
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    app.shutdown().await;
    assert_eq!(fake.sent()[0].chat_id, -100_555);
}

#[tokio::test]
async fn long_replies_are_split_within_telegrams_limit() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot(&fake, "split", &common::env(&owned, &[])).await;
    let sentence = "Ça va très bien, merci 👍. ".repeat(20);
    let update = fake.send_text(
        &TgChat::private(42, "Ann"),
        &ann(),
        &format!("/tr es,fr,de,it,pt,nl,ru,uk,pl,tr {sentence}"),
    );
    assert!(fake.wait_for_sent(2, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let sent = fake.sent();
    assert!(sent.len() >= 2);
    assert!(sent.iter().all(|s| s.text.encode_utf16().count() <= 4096));
    assert_eq!(sent[0].reply_to_message_id, fake.message_id_of(update));
    let joined: String = sent
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        joined.contains("🇹🇷 Turkish: [tr]"),
        "nothing lost in the split"
    );
}

#[tokio::test]
async fn every_part_of_a_long_reply_lands_in_the_users_forum_topic() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot(&fake, "topic", &common::env(&owned, &[])).await;
    let forum = TgChat::supergroup(-100_777, "Reisen");
    let sentence = "Ça va très bien, merci 👍. ".repeat(20);
    let long = format!("/tr es,fr,de,it,pt,nl,ru,uk,pl,tr {sentence}");
    // In a topic, and in an ordinary group's reply thread (where Telegram refuses a topic id).
    fake.push_message(
        MessageBuilder::text(&forum, &ann(), &long)
            .with_field("message_thread_id", 4.into())
            .with_field("is_topic_message", true.into()),
    );
    assert!(fake.wait_for_sent(2, PATIENCE).await);
    common::settle(&app).await;
    let in_topic = fake.sent();
    fake.push_message(
        MessageBuilder::text(
            &TgChat::supergroup(-100_778, "Plain"),
            &ann(),
            "/tr es hello",
        )
        .with_field("message_thread_id", 3.into()),
    );
    assert!(fake.wait_for_sent(in_topic.len() + 1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;

    assert!(in_topic.len() >= 2, "the reply is split");
    for part in &in_topic {
        assert_eq!(part.params["message_thread_id"], 4, "{:?}", part.params);
    }
    let plain = fake.sent().pop().expect("the plain group's reply");
    assert_eq!(plain.chat_id, -100_778);
    assert!(plain.params.get("message_thread_id").is_none());
}

#[tokio::test]
async fn replies_are_paced_per_chat() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(
        &fake,
        "pacing",
        &[
            ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_INTERVAL", "500ms"),
            ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_BURST", "2"),
        ],
    )
    .await;
    let chat = TgChat::private(42, "Ann");
    // The pacer cannot have started before this instant.
    let t0 = Instant::now();
    for _ in 0..5 {
        fake.send_text(&chat, &ann(), "/tr es yes");
    }
    let other = fake.send_text(
        &TgChat::private(43, "Eva"),
        &TgUser::new(43, "Eva"),
        "/tr es no",
    );
    assert!(fake.wait_for_sent(6, PATIENCE).await);
    app.shutdown().await;
    let sent = fake.sent();
    let ann_at: Vec<Instant> = sent
        .iter()
        .filter(|s| s.chat_id == 42)
        .map(|s| s.at)
        .collect();
    assert_eq!(ann_at.len(), 5);
    // Two at once, then one every 500 ms: message k goes no earlier than (k - 1) × 500 ms.
    for (k, at) in ann_at.iter().enumerate().skip(2) {
        let earliest = Duration::from_millis(500) * (k as u32 - 1);
        assert!(at.duration_since(t0) >= earliest, "message {k} too early");
    }
    // Eva's chat is not queued behind Ann's.
    let eva = sent
        .iter()
        .find(|s| s.reply_to_message_id == fake.message_id_of(other))
        .expect("eva");
    assert!(eva.at < ann_at[4]);
}

#[tokio::test]
async fn two_hundred_updates_from_twenty_chats_all_answered_once_in_order() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(&fake, "interleaved", &[]).await;
    let mut updates: Vec<(i64, i64)> = Vec::new();
    for i in 0..10 {
        for c in 0..20 {
            let user = TgUser::new(1000 + c, "U");
            let chat = TgChat::private(1000 + c, "U");
            let u = fake.send_text(&chat, &user, &format!("/tr es,fr message {i}"));
            updates.push((1000 + c, u));
        }
    }
    assert!(fake.wait_for_sent(200, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let sent = fake.sent();
    assert_eq!(sent.len(), 200);
    for c in 0..20 {
        let chat = 1000 + c;
        let want: Vec<Option<i64>> = updates
            .iter()
            .filter(|(ch, _)| *ch == chat)
            .map(|(_, u)| fake.message_id_of(*u))
            .collect();
        let got: Vec<Option<i64>> = sent
            .iter()
            .filter(|s| s.chat_id == chat)
            .map(|s| s.reply_to_message_id)
            .collect();
        assert_eq!(got, want, "chat {chat}: every update once, in order");
    }
}

#[tokio::test]
async fn killing_the_session_and_conversations_while_updates_flow_loses_nothing() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(&fake, "kills", &[]).await;
    let mut expected = 0;
    for round in 0..5 {
        for c in 0..10 {
            let user = TgUser::new(2000 + c, "U");
            fake.send_text(
                &TgChat::private(2000 + c, "U"),
                &user,
                &format!("/tr es round {round}"),
            );
            expected += 1;
        }
        let tree = app.tree().await;
        let victims: Vec<_> = tree
            .walk()
            .into_iter()
            .filter(|(_, n)| matches!(n.kind, ActorKind::Session | ActorKind::Conversation))
            .filter_map(|(_, n)| n.cell.clone())
            .take(3)
            .collect();
        for v in victims {
            v.kill();
        }
    }
    assert!(fake.wait_for_sent(expected, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let sent = fake.sent();
    assert_eq!(sent.len(), expected);
    let mut seen = std::collections::HashSet::new();
    for s in &sent {
        assert!(
            seen.insert((s.chat_id, s.reply_to_message_id)),
            "answered twice: {s:?}"
        );
    }
}

#[tokio::test]
async fn voice_without_a_transcription_provider_says_so() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let app = start_bot(&fake, "voice-off", &[]).await;
    fake.push_message(MessageBuilder::voice(
        &TgChat::private(42, "Ann"),
        &ann(),
        "voice-1",
        3,
        Some("/tr es"),
    ));
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    app.shutdown().await;
    assert!(
        fake.sent()[0]
            .text
            .contains("Voice messages are not enabled"),
        "{}",
        fake.sent()[0].text
    );
}

#[tokio::test]
async fn voice_messages_are_transcribed_then_translated() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    provider.set_transcription(tolmach_testkit::TranscriptionBehavior::Text(
        "good morning".into(),
    ));
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let audio = b"OggS-fake-opus-voice-note".to_vec();
    fake.add_file("voice-1", "voice/file_1.oga", audio.clone());
    fake.add_file("voice-2", "voice/file_2.oga", audio.clone());
    let url = provider.base_url();
    let app = start_bot(
        &fake,
        "voice",
        &[
            ("TOLMACH_TRANSCRIPTION_KIND", "openai"),
            ("TOLMACH_TRANSCRIPTION_BASE_URL", &url),
            ("TOLMACH_TRANSCRIPTION_MODEL", "whisper-large-v3"),
        ],
    )
    .await;
    let chat = TgChat::private(42, "Ann");
    let with_caption = fake.push_message(MessageBuilder::voice(
        &chat,
        &ann(),
        "voice-1",
        3,
        Some("/tr es,fr"),
    ));
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    let bare = fake.push_message(MessageBuilder::voice(&chat, &ann(), "voice-2", 2, None));
    assert!(fake.wait_for_sent(2, PATIENCE).await);
    let too_long = fake.push_message(MessageBuilder::voice(
        &chat,
        &ann(),
        "voice-3",
        3600,
        Some("/tr es"),
    ));
    assert!(fake.wait_for_sent(3, PATIENCE).await);
    app.shutdown().await;

    let reply = |u: i64| {
        let mid = fake.message_id_of(u);
        fake.sent()
            .into_iter()
            .find(|s| s.reply_to_message_id == mid)
            .map(|s| s.text)
            .unwrap_or_default()
    };
    assert!(
        reply(with_caption).starts_with(
            "\u{1f3a4} \u{201c}good morning\u{201d}\n🇪🇸 Spanish: Buenos días\n🇫🇷 French: Bonjour"
        ),
        "{}",
        reply(with_caption)
    );
    assert!(
        reply(bare).starts_with("You said: \u{201c}good morning\u{201d}"),
        "{}",
        reply(bare)
    );
    assert!(
        reply(too_long).contains("up to 600 seconds"),
        "{}",
        reply(too_long)
    );
    let recorded = provider.transcriptions();
    assert_eq!(
        recorded.len(),
        2,
        "the over-long one was not sent to the provider"
    );
    assert_eq!(recorded[0].file, audio);
    assert_eq!(recorded[0].model.as_deref(), Some("whisper-large-v3"));
}

#[tokio::test]
async fn errors_are_described_without_urls_tokens_or_user_text() {
    // Nothing listens on this port: the call fails with a network error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let bot = teloxide::Bot::new(TOKEN).set_api_url(url.parse().expect("url"));
    let err = teloxide::requests::Requester::get_me(&bot)
        .await
        .expect_err("nothing listens");
    let ours = tolmach::platforms::telegram::describe(&err);
    assert!(
        !ours.contains("TEST-secret") && !ours.contains(&url),
        "{ours}"
    );
    assert_eq!(ours, "cannot connect");

    // A broken answer carries the raw body, which can hold users' messages.
    let raw = r#"{"ok":true,"result":[{"message":{"text":"my private message"#;
    let source = serde_json::from_str::<serde_json::Value>(raw).expect_err("broken");
    let err = teloxide::RequestError::InvalidJson {
        source: std::sync::Arc::new(source),
        raw: raw.into(),
    };
    assert!(
        err.to_string().contains("my private message"),
        "teloxide's message shows it"
    );
    let ours = tolmach::platforms::telegram::describe(&err);
    assert!(!ours.contains("my private message"), "{ours}");
}

#[tokio::test]
async fn a_slow_answer_does_not_make_the_bot_hammer_get_updates() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    provider.set_behavior(tolmach_testkit::Behavior::delayed(
        Duration::from_secs(3),
        tolmach_testkit::Behavior::Echo,
    ));
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot(&fake, "no-hammer", &common::env(&owned, &[])).await;
    fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr es slow one");
    provider.wait_for_requests(1).await;
    let polls_before = fake
        .calls()
        .iter()
        .filter(|c| c.method == "getupdates")
        .count();
    // While the answer takes 3 s the bot has nothing new to fetch: its long polls wait at
    // Telegram (the accepted update is in the inbox, not held at Telegram), no spinning.
    assert!(fake.wait_for_sent(1, PATIENCE).await);
    let polls = fake
        .calls()
        .iter()
        .filter(|c| c.method == "getupdates")
        .count()
        - polls_before;
    assert!(polls <= 10, "{polls} getUpdates calls during a 3 s answer");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_update_does_not_hold_back_the_ones_after_it() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    // The first translation takes 5 s; every later one is immediate.
    provider.push_script([tolmach_testkit::Behavior::delayed(
        Duration::from_secs(5),
        tolmach_testkit::Behavior::Echo,
    )]);
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot(&fake, "slow-head", &common::env(&owned, &[])).await;
    fake.send_text(&TgChat::private(42, "Ann"), &ann(), "/tr es the slow one");
    provider.wait_for_requests(1).await;
    // More updates behind it than one getUpdates returns (100).
    for i in 0..150 {
        let id = 5_000 + i;
        fake.send_text(
            &TgChat::private(id, "U"),
            &TgUser::new(id, "U"),
            &format!("/tr fr quick {i}"),
        );
    }
    assert!(
        fake.wait_for_sent(150, Duration::from_secs(4)).await,
        "the 150 quick updates are answered while the slow one is still being answered"
    );
    assert!(
        fake.sent().iter().all(|m| m.chat_id != 42),
        "the slow one is not answered yet"
    );
    // Accepted updates are confirmed to Telegram by the next poll, the slow one included.
    let polls = fake
        .calls()
        .iter()
        .filter(|c| c.method == "getupdates")
        .count();
    for n in polls + 1..polls + 5 {
        if fake.pending_updates() == 0 {
            break;
        }
        fake.wait_for_calls("getUpdates", n, PATIENCE).await;
    }
    assert_eq!(fake.pending_updates(), 0, "Telegram holds nothing back");
    assert!(fake.wait_for_sent(151, PATIENCE).await);
    assert_eq!(fake.sent().iter().filter(|m| m.chat_id == 42).count(), 1);
    app.shutdown().await;
}
