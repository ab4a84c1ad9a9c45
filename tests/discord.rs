//! The Discord platform end to end: the real serenity client (gateway) and the runtime's REST
//! path against the test kit's fake Discord on 127.0.0.1, through the whole runtime.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tolmach::App;
use tolmach::platforms::Platform;
use tolmach::supervision::ActorKind;
use tolmach::telemetry::metrics::{Metric, Metrics};
use tolmach_testkit::{
    CreatedMessage, DcMessage, DcUser, FakeDiscord, FakeTelegram, GatewayEventKind, RestFault,
    TgChat, TgUser,
};

const TOKEN: &str = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.TEST.secret-token-do-not-log";
/// serenity waits about five seconds before it re-identifies; recoveries take longer than
/// plain replies.
const PATIENCE: Duration = Duration::from_secs(60);
const GUILD: u64 = 1_100_000_000_000_000_000;
const GENERAL: u64 = 1_100_000_000_000_000_001;
const RANDOM: u64 = 1_100_000_000_000_000_002;
const DM: u64 = 1_100_000_000_000_000_100;
const CHANNELS_PATH: &str = "/api/v10/channels/";

/// A data directory of its own for each runtime.
fn data_dir(name: &str) -> std::path::PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tolmach-dc-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn alice() -> DcUser {
    DcUser::new(1_300_000_000_000_000_001, "alice")
}

fn bob() -> DcUser {
    DcUser::new(1_300_000_000_000_000_002, "bob")
}

/// A fake with one guild (two text channels) and a DM channel with alice.
async fn world() -> FakeDiscord {
    world_with(|f| f).await
}

async fn world_with(tune: impl FnOnce(FakeDiscord) -> FakeDiscord) -> FakeDiscord {
    let fake = tune(FakeDiscord::start(TOKEN).await.expect("fake discord"));
    fake.add_guild(GUILD, "Test Guild");
    fake.add_text_channel(GUILD, GENERAL, "general");
    fake.add_text_channel(GUILD, RANDOM, "random");
    fake.add_dm_channel(DM, &alice());
    fake
}

/// The runtime on the fake Discord, with fast pacing unless `env` says otherwise. Returns once
/// the first gateway session is up.
async fn start_bot(fake: &FakeDiscord, dir: &std::path::Path, env: &[(&str, &str)]) -> App {
    start_bot_with(fake, dir, env, |p| p).await
}

/// [`start_bot`], with the platforms passed through `wrap` first.
async fn start_bot_with(
    fake: &FakeDiscord,
    dir: &std::path::Path,
    env: &[(&str, &str)],
    wrap: impl Fn(Arc<dyn Platform>) -> Arc<dyn Platform>,
) -> App {
    let api_url = fake.rest_url();
    let dir_s = dir.display().to_string();
    let mut vars: Vec<(&str, &str)> = vec![
        ("DISCORD_BOT_TOKEN", TOKEN),
        ("DISCORD_API_URL", &api_url),
        ("TOLMACH_RUNTIME_DATA_DIR", &dir_s),
        ("TOLMACH_PLATFORMS_DISCORD_CHANNEL_INTERVAL", "1ms"),
        ("TOLMACH_PLATFORMS_DISCORD_GLOBAL_INTERVAL", "1ms"),
        ("TOLMACH_RATE_LIMIT_BURST", "1000"),
    ];
    vars.extend_from_slice(env);
    let config = common::config(&vars);
    let metrics = Metrics::new();
    let store = tolmach::store::Store::open(&config.runtime.data_dir).expect("store");
    let platforms =
        tolmach::app::platforms_from_config(&config, &metrics, &store).expect("platforms");
    let platforms = platforms.into_iter().map(wrap).collect();
    let identifies = fake.identify_count();
    let app = App::start_with(config, metrics, store, platforms)
        .await
        .expect("runtime starts");
    assert!(
        fake.wait_for_identifies(identifies + 1, PATIENCE).await,
        "the shard identifies"
    );
    app
}

/// The bot's messages that quote `message_id`.
fn replies_to(created: &[CreatedMessage], message_id: u64) -> Vec<&CreatedMessage> {
    created
        .iter()
        .filter(|c| c.message_reference == Some(message_id))
        .collect()
}

/// Asserts that every id in `asked` got exactly one quoted reply and nothing else was quoted.
fn assert_exactly_once(fake: &FakeDiscord, asked: &[u64]) {
    let created = fake.created_messages();
    let mut counts: HashMap<u64, usize> = HashMap::new();
    for c in &created {
        if let Some(r) = c.message_reference {
            *counts.entry(r).or_default() += 1;
        }
    }
    for id in asked {
        assert_eq!(
            counts.get(id).copied(),
            Some(1),
            "message {id} must be answered exactly once; replies: {counts:?}"
        );
    }
    assert_eq!(counts.len(), asked.len(), "unexpected replies: {counts:?}");
}

#[tokio::test]
async fn guild_and_dm_messages_are_answered_with_a_quote_and_no_pings() {
    let fake = world().await;
    let dir = data_dir("happy");
    let app = start_bot(&fake, &dir, &[]).await;
    let bot = fake.bot_user_id();

    // Answered: a prefix command, a mention, a reply to the bot, a plain DM, a DM command,
    // and a command trying to make the bot ping everyone.
    let prefix = fake.user_message(GENERAL, &alice(), "!tr es,fr,de good morning");
    let mention = fake.user_message(
        RANDOM,
        &bob(),
        &format!("<@{bot}> translate thank you to German"),
    );
    let dm = fake.user_message(DM, &alice(), "translate good night to French");
    let dm_command = fake.user_message(DM, &alice(), "!tr it welcome");
    let ping = fake.user_message(GENERAL, &bob(), "!tr es @everyone <@&123> hello");
    assert!(fake.wait_for_created(5, PATIENCE).await);
    let created = fake.created_messages();
    let first = replies_to(&created, prefix);
    assert_eq!(first.len(), 1, "{created:#?}");
    assert_eq!(first[0].channel_id, GENERAL);
    assert!(
        first[0]
            .content
            .starts_with("🇪🇸 Spanish: Buenos días\n🇫🇷 French: Bonjour\n🇩🇪 German: Guten Morgen"),
        "{}",
        first[0].content
    );
    assert!(
        replies_to(&created, mention)[0]
            .content
            .starts_with("🇩🇪 German: Danke")
    );
    assert_eq!(replies_to(&created, mention)[0].channel_id, RANDOM);
    assert!(
        replies_to(&created, dm)[0]
            .content
            .starts_with("🇫🇷 French: Bonne nuit")
    );
    assert!(
        replies_to(&created, dm_command)[0]
            .content
            .starts_with("🇮🇹 Italian: Benvenuto")
    );
    assert_eq!(replies_to(&created, ping).len(), 1);
    for c in &created {
        assert_eq!(
            c.allowed_mentions,
            Some(serde_json::json!({ "parse": [] })),
            "replies never ping: {c:?}"
        );
    }

    // A reply to one of the bot's messages needs no prefix.
    let bot_id = bot.to_string();
    let bot_message = fake
        .history(GENERAL)
        .into_iter()
        .find(|m| m["author"]["id"] == bot_id.as_str())
        .and_then(|m| m["id"].as_str().and_then(|s| s.parse::<u64>().ok()))
        .expect("the bot's reply is in the history");
    let follow_up = fake.user_reply(
        GENERAL,
        &alice(),
        "translate thank you to Spanish",
        bot_message,
    );
    assert!(fake.wait_for_created(6, PATIENCE).await);
    assert!(
        replies_to(&fake.created_messages(), follow_up)[0]
            .content
            .starts_with("🇪🇸 Spanish: Gracias")
    );
    common::settle(&app).await;
    app.shutdown().await;
    assert_exactly_once(&fake, &[prefix, mention, dm, dm_command, ping, follow_up]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn replies_hand_the_runtime_the_referenced_text() {
    let fake = world().await;
    let dir = data_dir("quoted");
    let received = common::Received::new();
    let app = start_bot_with(&fake, &dir, &[], |p| received.tap(p)).await;
    let said = fake.user_message(GENERAL, &bob(), "Bis morgen,\nbleibt gesund!");
    let picture = fake.push_message(DcMessage::new(GENERAL, &bob(), "").attachment(
        1_300_000_000_000_000_777,
        "cat.png",
        "image/png",
        48_213,
        "http://127.0.0.1:9/cat.png",
    ));
    let asks = [
        fake.user_reply(GENERAL, &alice(), "!tr en", said),
        fake.user_reply(GENERAL, &alice(), "!tr fr", picture),
        fake.user_reply(
            DM,
            &alice(),
            "!tr en",
            fake.user_message(DM, &alice(), "Hallo!"),
        ),
    ];
    // Bob's messages (and the DM "Hallo!") are answered or ignored on their own; pick out the
    // replies by id.
    let got = received.wait_for(4).await;
    let quoted: Vec<Option<&str>> = asks
        .iter()
        .map(|id| {
            let inbound = got
                .iter()
                .find(|i| *i.key.id == *id.to_string())
                .unwrap_or_else(|| panic!("message {id} not received: {got:?}"));
            assert!(inbound.text.starts_with("/tr "), "{inbound:?}");
            inbound.quoted.as_deref()
        })
        .collect();
    assert_eq!(
        quoted,
        [Some("Bis morgen,\nbleibt gesund!"), None, Some("Hallo!")]
    );
    // Each is answered once. What the answer says is the parser's business; it does not read
    // `quoted` yet.
    assert!(fake.wait_for_created(4, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let hello = got
        .iter()
        .find(|i| i.quoted.is_none() && i.text == "Hallo!")
        .map(|i| i.key.id.parse::<u64>().expect("a message id"))
        .expect("the DM is received");
    let mut all = asks.to_vec();
    all.push(hello);
    assert_exactly_once(&fake, &all);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn what_is_not_for_the_bot_is_ignored_and_counted() {
    let fake = world().await;
    let dir = data_dir("ignored");
    let app = start_bot(&fake, &dir, &[]).await;
    let robot = DcUser::new(1_300_000_000_000_000_009, "robot").bot();
    fake.user_message(GENERAL, &alice(), "good morning everyone");
    fake.user_message(GENERAL, &robot, "!tr es hello");
    fake.push_message(DcMessage::new(GENERAL, &bob(), "!tr es hello").webhook(77));
    fake.push_message(DcMessage::new(GENERAL, &bob(), "").kind(7)); // a member joined
    let picture = |channel| {
        DcMessage::new(channel, &bob(), "").attachment(
            1,
            "cat.png",
            "image/png",
            10,
            "https://cdn.discordapp.com/attachments/1/2/cat.png",
        )
    };
    fake.push_message(picture(GENERAL)); // nothing to read, in a server: chatter
    // Nothing to read in a DM: answered with what the bot reads.
    let dm_picture = fake.push_message(picture(DM));
    fake.user_message(GENERAL, &bob(), "!nonsense es hello");
    // The last ones are answered; the bot's own replies come back over the gateway. Events
    // reach the platform in gateway order, so once the second reply is out, the first reply's
    // echo has been seen.
    let last = fake.user_message(GENERAL, &bob(), "!tr es thank you");
    assert!(fake.wait_for_created(1, PATIENCE).await);
    let marker = fake.user_message(GENERAL, &bob(), "!tr es hello");
    // The DM picture too: a DM channel first seen after a new session has its recent history
    // read before its message is answered (ADR 0009), so that reply can come last.
    assert!(fake.wait_for_created(3, PATIENCE).await);
    common::settle(&app).await;
    let m = app.metrics();
    let ignored = |reason: &str| {
        m.sample(
            Metric::UpdatesIgnored,
            &[("platform", "discord"), ("reason", reason)],
        )
    };
    assert_eq!(ignored("not_addressed"), Some(2.0));
    assert!(
        ignored("from_bot").is_some_and(|n| n >= 2.0),
        "robot and the bot itself: {:?}",
        ignored("from_bot")
    );
    assert_eq!(ignored("webhook"), Some(1.0));
    assert_eq!(ignored("system"), Some(1.0));
    assert_eq!(ignored("no_content"), Some(1.0));
    app.shutdown().await;
    assert_exactly_once(&fake, &[dm_picture, last, marker]);
    let hint = fake
        .created_messages()
        .into_iter()
        .find(|c| c.message_reference == Some(dm_picture))
        .map(|c| c.content)
        .unwrap_or_default();
    assert!(hint.contains("can't read that kind of message"), "{hint}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn voice_messages_in_dms_are_fetched_without_the_token_and_transcribed() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    provider.set_transcription(tolmach_testkit::TranscriptionBehavior::Text(
        "good morning".into(),
    ));
    let fake = world().await;
    let dir = data_dir("voice");
    let url = provider.base_url();
    let app = start_bot(
        &fake,
        &dir,
        &[
            ("TOLMACH_TRANSCRIPTION_KIND", "openai"),
            ("TOLMACH_TRANSCRIPTION_BASE_URL", &url),
            ("TOLMACH_TRANSCRIPTION_MODEL", "whisper-large-v3"),
        ],
    )
    .await;
    let audio = b"OggS-fake-opus-voice-message".to_vec();
    let audio_url = fake.add_attachment("voice-message.ogg", audio.clone());
    let gone_url = format!("{}/attachments/1/gone.ogg", fake.rest_url());
    // Bare: the transcription comes back. Then with default languages: translated.
    let bare = fake.push_message(DcMessage::new(DM, &alice(), "").voice(&audio_url, 2.4, 28));
    assert!(fake.wait_for_created(1, PATIENCE).await);
    let lang = fake.user_message(DM, &alice(), "!lang es fr");
    assert!(fake.wait_for_created(2, PATIENCE).await);
    let with_defaults =
        fake.push_message(DcMessage::new(DM, &alice(), "").voice(&audio_url, 2.4, 28));
    assert!(fake.wait_for_created(3, PATIENCE).await);
    let gone = fake.push_message(DcMessage::new(DM, &alice(), "").voice(&gone_url, 1.0, 10));
    assert!(fake.wait_for_created(4, PATIENCE).await);
    // In a server a voice message addresses nobody.
    fake.push_message(DcMessage::new(GENERAL, &bob(), "").voice(&audio_url, 2.4, 28));
    let marker = fake.user_message(GENERAL, &bob(), "!tr es hello");
    assert!(fake.wait_for_created(5, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;

    let reply = |id: u64| {
        replies_to(&fake.created_messages(), id)
            .first()
            .map(|c| c.content.clone())
            .unwrap_or_default()
    };
    let r = reply(bare);
    assert!(
        r.starts_with("You said: \u{201c}good morning\u{201d}"),
        "{r}"
    );
    assert!(reply(lang).contains("Spanish"), "{}", reply(lang));
    let r = reply(with_defaults);
    assert!(r.contains("Buenos días") && r.contains("Bonjour"), "{r}");
    let r = reply(gone);
    assert!(r.contains("couldn't download that voice message"), "{r}");
    assert_exactly_once(&fake, &[bare, lang, with_defaults, gone, marker]);

    let recorded = provider.transcriptions();
    assert_eq!(recorded.len(), 2, "the one not found was not sent");
    assert!(recorded.iter().all(|t| t.file == audio));
    let cdn: Vec<_> = fake
        .rest_calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/attachments/"))
        .collect();
    assert_eq!(cdn.len(), 3, "{cdn:?}");
    assert!(
        cdn.iter().all(|c| c.authorization.is_none()),
        "the token never goes to the CDN"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn slash_and_message_commands_are_registered_deferred_and_answered() {
    let fake = world().await;
    let dir = data_dir("interactions");
    let app = start_bot(&fake, &dir, &[]).await;
    assert!(
        fake.wait_for_rest_calls("PUT", "/api/v10/applications/", 1, PATIENCE)
            .await
    );
    let commands = fake.commands();
    let names: Vec<(String, u64)> = commands
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["type"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert!(names.contains(&("translate".into(), 1)), "{commands}");
    assert!(names.contains(&("Translate".into(), 3)), "{commands}");

    let slash = fake.slash_command(
        GENERAL,
        &alice(),
        "translate",
        &[("text", "good morning"), ("to", "es, fr")],
        "en-US",
    );
    let target = fake.user_message(GENERAL, &bob(), "thank you");
    let context = fake.message_command(GENERAL, &alice(), "Translate", target, "de");
    // Without `to`, the user's Discord language.
    let default_to = fake.slash_command(DM, &alice(), "translate", &[("text", "welcome")], "it");
    assert!(fake.wait_for_edits(3, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;

    let callbacks = fake.interaction_callbacks();
    let callback = |id: u64| {
        callbacks
            .iter()
            .find(|c| c.interaction_id == id)
            .unwrap_or_else(|| panic!("interaction {id} acknowledged: {callbacks:#?}"))
    };
    assert_eq!(callback(slash.id).kind, 5, "deferred");
    assert_eq!(callback(slash.id).data.get("flags"), None, "public");
    assert_eq!(callback(context.id).kind, 5);
    assert_eq!(callback(context.id).data["flags"], 64, "ephemeral");
    assert_eq!(callbacks.len(), 3);
    let edits = fake.interaction_edits();
    let edit = |token: &str| {
        edits
            .iter()
            .find(|e| e.token == token)
            .map(|e| e.content.clone())
            .unwrap_or_else(|| panic!("no edit for {token}: {edits:#?}"))
    };
    assert!(
        edit(&slash.token).starts_with("🇪🇸 Spanish: Buenos días\n🇫🇷 French: Bonjour"),
        "{}",
        edit(&slash.token)
    );
    assert!(edit(&context.token).starts_with("🇩🇪 German: Danke"));
    assert!(edit(&default_to.token).starts_with("🇮🇹 Italian: Benvenuto"));
    assert_eq!(edits.len(), 3, "each answered once");
    assert!(
        fake.created_messages().is_empty(),
        "interactions are answered through their own webhook"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn long_replies_are_split_within_discords_limit() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    let fake = world().await;
    let dir = data_dir("split");
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot(&fake, &dir, &common::env(&owned, &[])).await;
    let sentence = "Ça va très bien, merci 👍. ".repeat(20);
    let asked = fake.user_message(
        GENERAL,
        &alice(),
        &format!("!tr es,fr,de,it,pt,nl,ru,uk,pl,tr {sentence}"),
    );
    let slash = fake.slash_command(
        GENERAL,
        &bob(),
        "translate",
        &[("text", &sentence), ("to", "es,fr,de,it,pt,nl,ru,uk,pl,tr")],
        "en-US",
    );
    assert!(fake.wait_for_created(2, PATIENCE).await);
    assert!(fake.wait_for_followups(1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;

    let created = fake.created_messages();
    assert!(created.len() >= 2, "{}", created.len());
    assert!(created.iter().all(|c| c.content.chars().count() <= 2000));
    assert_eq!(
        created[0].message_reference,
        Some(asked),
        "the first part quotes"
    );
    let joined: String = created
        .iter()
        .map(|c| c.content.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        // The echo's brackets arrive escaped: Discord would read them as a link.
        joined.contains("🇹🇷 Turkish: \\[tr\\]"),
        "nothing lost in the split"
    );

    let edits = fake.interaction_edits();
    let followups = fake.followups();
    assert_eq!(edits.iter().filter(|e| e.token == slash.token).count(), 1);
    assert!(followups.iter().all(|f| f.token == slash.token));
    assert!(
        followups
            .iter()
            .any(|f| f.content.contains("🇹🇷 Turkish: \\[tr\\]")),
        "{followups:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// Several worker threads, as in production: serenity runs each event handler call in a task of
// its own, and on a multi-threaded runtime those tasks race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_in_a_channel_are_answered_in_the_order_sent() {
    let fake = world().await;
    let dir = data_dir("order");
    let app = start_bot(&fake, &dir, &[]).await;
    // Order holds once the session's collector is in place, a moment after the session is up
    // (ADR 0009); a first reply shows the session is past that moment.
    let warm_up = fake.user_message(RANDOM, &alice(), "!tr es hello");
    assert!(fake.wait_for_created(1, PATIENCE).await);
    let asked: Vec<u64> = (0..100)
        .map(|i| fake.user_message(GENERAL, &alice(), &format!("!tr es number {i}")))
        .collect();
    assert!(fake.wait_for_created(asked.len() + 1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let answered: Vec<u64> = fake
        .created_messages()
        .iter()
        .filter_map(|c| c.message_reference)
        .filter(|r| *r != warm_up)
        .collect();
    assert_eq!(answered.len(), asked.len());
    let first_swap = answered.iter().zip(&asked).position(|(a, b)| a != b);
    assert_eq!(first_swap, None, "replies out of order");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn dropped_connections_resume_and_nothing_is_lost_or_repeated() {
    let fake = world().await;
    let dir = data_dir("drops");
    let app = start_bot(&fake, &dir, &[]).await;
    let mut asked = Vec::new();
    for round in 0..4 {
        for i in 0..10 {
            let channel = if i % 2 == 0 { GENERAL } else { RANDOM };
            asked.push(fake.user_message(channel, &alice(), &format!("!tr es {round} {i}")));
        }
        // No close frame: serenity must notice, reconnect and RESUME; the gateway replays.
        fake.drop_connections();
        for i in 0..5 {
            asked.push(fake.user_message(DM, &alice(), &format!("!tr fr {round} {i}")));
        }
        assert!(
            fake.wait_for_resumed(round + 1, PATIENCE).await,
            "round {round}"
        );
    }
    assert!(fake.wait_for_created(asked.len(), PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    assert_exactly_once(&fake, &asked);
    assert_eq!(fake.identify_count(), 1, "every drop was resumed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_invalid_session_is_replaced_and_missed_messages_are_recovered_once() {
    let fake = world().await;
    let dir = data_dir("invalid");
    let app = start_bot(&fake, &dir, &[]).await;
    let mut asked = vec![
        fake.user_message(GENERAL, &alice(), "!tr es one"),
        fake.user_message(DM, &alice(), "!tr es two"),
    ];
    assert!(fake.wait_for_created(2, PATIENCE).await);
    // The gateway goes away and the session with it: what users write meanwhile reaches no
    // session. It is only in the channels' history.
    fake.refuse_gateway(true);
    fake.invalidate_sessions();
    assert!(
        fake.wait_for_gateway_events(1, PATIENCE, |e| matches!(
            e,
            GatewayEventKind::Disconnected { .. }
        ))
        .await
    );
    for i in 0..5 {
        asked.push(fake.user_message(GENERAL, &alice(), &format!("!tr de lost {i}")));
        asked.push(fake.user_message(DM, &alice(), &format!("!tr fr lost {i}")));
    }
    fake.user_message(
        RANDOM,
        &bob(),
        "chatter in a channel the bot was never asked in",
    );
    // Chatter in an active guild channel is recovered too, and still not answered: history does
    // not say which guild a message is in (`guild_id` is gateway-only); the bot must know.
    fake.user_message(GENERAL, &bob(), "good morning everyone");
    fake.refuse_gateway(false);
    assert!(fake.wait_for_identifies(2, PATIENCE).await, "re-identified");
    assert!(fake.wait_for_created(asked.len(), PATIENCE).await);
    common::settle(&app).await;
    // A later message still works, and nothing is answered a second time.
    asked.push(fake.user_message(GENERAL, &bob(), "!tr it after"));
    assert!(fake.wait_for_created(asked.len(), PATIENCE).await);
    common::settle(&app).await;
    assert!(
        app.metrics()
            .sample(Metric::RecoveredMessages, &[("platform", "discord")])
            .is_some_and(|n| n >= 10.0),
        "{}",
        app.metrics().render()
    );
    app.shutdown().await;
    assert_exactly_once(&fake, &asked);
    let history_reads = fake
        .rest_calls()
        .into_iter()
        .filter(|c| c.method == "GET" && c.path.ends_with("/messages"))
        .collect::<Vec<_>>();
    assert!(
        history_reads
            .iter()
            .all(|c| !c.path.contains(&RANDOM.to_string())),
        "only channels with activity are read"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_zombie_connection_is_replaced_and_nothing_is_lost() {
    let fake = world_with(|f| f.with_heartbeat_interval(Duration::from_millis(300))).await;
    let dir = data_dir("zombie");
    let app = start_bot(&fake, &dir, &[]).await;
    let mut asked = vec![fake.user_message(GENERAL, &alice(), "!tr es before")];
    assert!(fake.wait_for_created(1, PATIENCE).await);
    // Heartbeats go unanswered and the gateway cannot be reached again for a while.
    fake.refuse_gateway(true);
    fake.set_zombie(true);
    assert!(
        fake.wait_for_gateway_events(1, PATIENCE, |e| matches!(
            e,
            GatewayEventKind::Disconnected { .. }
        ))
        .await,
        "serenity gives up on the zombie connection"
    );
    fake.set_zombie(false);
    for i in 0..5 {
        asked.push(fake.user_message(GENERAL, &alice(), &format!("!tr de meanwhile {i}")));
    }
    fake.refuse_gateway(false);
    assert!(fake.wait_for_created(asked.len(), PATIENCE).await);
    asked.push(fake.user_message(GENERAL, &alice(), "!tr fr after"));
    assert!(fake.wait_for_created(asked.len(), PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    assert_exactly_once(&fake, &asked);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn rate_limits_are_waited_out_never_shortened() {
    let fake = world().await;
    let dir = data_dir("429");
    let app = start_bot(&fake, &dir, &[]).await;
    let wait = Duration::from_millis(1500);
    fake.fail_next(
        "POST",
        CHANNELS_PATH,
        RestFault::RateLimited {
            retry_after: wait,
            global: false,
        },
        1,
    );
    let asked = fake.user_message(GENERAL, &alice(), "!tr es hello");
    assert!(fake.wait_for_created(1, PATIENCE).await);
    common::settle(&app).await;
    let calls: Vec<_> = fake
        .rest_calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.starts_with(CHANNELS_PATH))
        .collect();
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls[0].status, 429);
    assert!(
        calls[1].at.duration_since(calls[0].at) >= wait,
        "resent after {:?}",
        calls[1].at.duration_since(calls[0].at)
    );
    assert_eq!(
        app.metrics()
            .sample(Metric::PlatformRetryAfter, &[("platform", "discord")]),
        Some(1.0)
    );
    app.shutdown().await;
    assert_exactly_once(&fake, &[asked]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn server_errors_and_dropped_requests_are_retried_without_duplicates() {
    let fake = world().await;
    let dir = data_dir("5xx");
    let app = start_bot(&fake, &dir, &[]).await;
    fake.fail_next("POST", CHANNELS_PATH, RestFault::Status(502), 1);
    fake.fail_next("POST", CHANNELS_PATH, RestFault::Status(500), 1);
    fake.fail_next("POST", CHANNELS_PATH, RestFault::Drop, 1);
    let asked = fake.user_message(GENERAL, &alice(), "!tr es hello");
    assert!(fake.wait_for_created(1, PATIENCE).await);
    common::settle(&app).await;
    assert_eq!(fake.pending_faults(), 0);
    app.shutdown().await;
    assert_exactly_once(&fake, &[asked]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reply Discord created but whose answer never arrived is sent again, and Discord (the
/// nonce) returns the message it already has: one reply, not two. Without `enforce_nonce`
/// this fails with two replies.
#[tokio::test]
async fn a_send_whose_answer_was_lost_is_not_posted_twice() {
    let fake = world().await;
    let dir = data_dir("answer-lost");
    let app = start_bot(&fake, &dir, &[]).await;
    fake.fail_next("POST", CHANNELS_PATH, RestFault::AnswerLost, 1);
    let asked = fake.user_message(GENERAL, &alice(), "!tr es hello");
    assert!(
        fake.wait_for_rest_calls("POST", CHANNELS_PATH, 2, PATIENCE)
            .await,
        "sent again after the lost answer"
    );
    common::settle(&app).await;
    app.shutdown().await;
    let posts: Vec<_> = fake
        .rest_calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.starts_with(CHANNELS_PATH))
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body["nonce"], posts[1].body["nonce"]);
    assert_eq!(posts[1].body["enforce_nonce"], true);
    assert_exactly_once(&fake, &[asked]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn missing_permissions_give_up_once_and_are_counted() {
    let fake = world().await;
    let dir = data_dir("403");
    let app = start_bot(&fake, &dir, &[]).await;
    fake.fail_next(
        "POST",
        &format!("{CHANNELS_PATH}{RANDOM}/"),
        RestFault::MissingPermissions,
        1,
    );
    let refused = fake.user_message(RANDOM, &alice(), "!tr es hello");
    assert!(
        fake.wait_for_rest_calls("POST", &format!("{CHANNELS_PATH}{RANDOM}/"), 1, PATIENCE)
            .await
    );
    let later = fake.user_message(GENERAL, &bob(), "!tr es hello");
    assert!(fake.wait_for_created(1, PATIENCE).await);
    common::settle(&app).await;
    assert_eq!(
        app.metrics().sample(
            Metric::Deliveries,
            &[("platform", "discord"), ("result", "failed")]
        ),
        Some(1.0)
    );
    app.shutdown().await;
    let posts = fake
        .rest_calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.starts_with(&format!("{CHANNELS_PATH}{RANDOM}/")))
        .count();
    assert_eq!(posts, 1, "not retried");
    assert_exactly_once(&fake, &[later]);
    assert!(replies_to(&fake.created_messages(), refused).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_killed_shard_comes_back_and_catches_up() {
    let fake = world().await;
    let dir = data_dir("shard-kill");
    let app = start_bot(&fake, &dir, &[]).await;
    // Both channels have activity before the first kill. (A DM channel the bot has never seen
    // cannot be recovered: Discord offers bots no list of their DM channels.)
    let mut asked = vec![
        fake.user_message(GENERAL, &alice(), "!tr es first"),
        fake.user_message(DM, &alice(), "!tr es first"),
    ];
    assert!(fake.wait_for_created(2, PATIENCE).await);
    for round in 0..3 {
        let tree = app.tree().await;
        let (path, _) = tree
            .walk()
            .into_iter()
            .find(|(_, n)| n.kind == ActorKind::Shard)
            .expect("a shard actor");
        // Messages keep coming while the shard dies and comes back.
        for i in 0..5 {
            asked.push(fake.user_message(GENERAL, &alice(), &format!("!tr de {round} {i}")));
        }
        common::kill_and_wait_restart(&app, &path).await;
        for i in 0..5 {
            asked.push(fake.user_message(DM, &alice(), &format!("!tr fr {round} {i}")));
        }
        assert!(
            fake.wait_for_created(asked.len(), PATIENCE).await,
            "round {round}: {} of {} answered; {:#?}",
            fake.created_messages().len(),
            asked.len(),
            fake.gateway_events()
        );
    }
    common::settle(&app).await;
    assert_eq!(
        app.metrics()
            .sample(Metric::ActorRestarts, &[("kind", "shard")]),
        Some(3.0)
    );
    app.shutdown().await;
    assert_exactly_once(&fake, &asked);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_restart_recovers_what_arrived_while_the_process_was_down() {
    let fake = world().await;
    let dir = data_dir("restart");
    let app = start_bot(&fake, &dir, &[]).await;
    let mut asked = vec![
        fake.user_message(GENERAL, &alice(), "!tr es before"),
        fake.user_message(DM, &alice(), "!tr es before"),
    ];
    assert!(fake.wait_for_created(2, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    // Down: these reach no session. The new process learns from Discord which channel is a
    // guild's (chatter there stays unanswered) and which a DM (where any text is a request).
    for i in 0..3 {
        asked.push(fake.user_message(GENERAL, &bob(), &format!("!tr de while down {i}")));
    }
    fake.user_message(GENERAL, &bob(), "just chatting, not for the bot");
    asked.push(fake.user_message(DM, &alice(), "translate thank you to German"));
    let app = start_bot(&fake, &dir, &[]).await;
    assert!(fake.wait_for_created(asked.len(), PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    assert_exactly_once(&fake, &asked);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A user's first DM to the bot, sent while the process was down, is in no channel the bot
/// knows, so no recovery would look for it. When the user writes again after the restart, the
/// new channel's recent history is read first: both messages are answered, in order.
#[tokio::test]
async fn a_first_dm_sent_while_down_is_answered_when_the_user_writes_again() {
    let fake = world().await;
    let dir = data_dir("first-dm");
    let app = start_bot(&fake, &dir, &[]).await;
    let before = fake.user_message(GENERAL, &alice(), "!tr es before");
    assert!(fake.wait_for_created(1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let missed = fake.user_message(DM, &bob(), "translate good night to Spanish");
    let app = start_bot(&fake, &dir, &[]).await;
    let again = fake.user_message(DM, &bob(), "hello? translate thank you to German");
    assert!(fake.wait_for_created(3, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    assert_exactly_once(&fake, &[before, missed, again]);
    let order: Vec<u64> = fake
        .created_messages()
        .iter()
        .filter(|c| c.channel_id == DM)
        .filter_map(|c| c.message_reference)
        .collect();
    assert_eq!(order, [missed, again], "answered in the order written");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn telegram_and_discord_are_served_by_one_process() {
    let discord = world().await;
    let telegram = FakeTelegram::start("7000000001:TEST-token")
        .await
        .expect("fake telegram");
    let dir = data_dir("both");
    let tg_url = telegram.api_url();
    let app = start_bot(
        &discord,
        &dir,
        &[
            ("TELEGRAM_BOT_TOKEN", "7000000001:TEST-token"),
            ("TELEGRAM_API_URL", &tg_url),
            ("TOLMACH_PLATFORMS_TELEGRAM_CHAT_INTERVAL", "1ms"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GROUP_INTERVAL", "1ms"),
            ("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_INTERVAL", "1ms"),
        ],
    )
    .await;
    let ann = TgUser::new(42, "Ann");
    telegram.send_text(&TgChat::private(42, "Ann"), &ann, "/tr es good morning");
    let asked = discord.user_message(GENERAL, &alice(), "!tr fr good morning");
    assert!(telegram.wait_for_sent(1, PATIENCE).await);
    assert!(discord.wait_for_created(1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    assert!(
        telegram.sent()[0]
            .text
            .starts_with("🇪🇸 Spanish: Buenos días")
    );
    assert!(
        discord.created_messages()[0]
            .content
            .starts_with("🇫🇷 French: Bonjour")
    );
    assert_exactly_once(&discord, &[asked]);
    assert_eq!(telegram.sent().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn mentions_in_translated_text_never_ping() {
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    let fake = world().await;
    let dir = data_dir("pings");
    let owned = common::fake_provider(&provider.base_url());
    let app = start_bot(&fake, &dir, &common::env(&owned, &[])).await;
    let asked = fake.user_message(
        GENERAL,
        &alice(),
        &format!("!tr es @everyone @here <@{}> <@&42> hello", bob().id),
    );
    assert!(fake.wait_for_created(1, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    let created = fake.created_messages();
    let reply = replies_to(&created, asked)[0];
    assert!(reply.content.contains("@everyone"), "{}", reply.content);
    assert!(reply.content.contains(&format!("<@{}>", bob().id)));
    assert_eq!(
        reply.allowed_mentions,
        Some(serde_json::json!({ "parse": [] }))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn shards_follow_discords_recommendation_and_a_range_splits_them() {
    let fake = world_with(|f| f.with_shards(2)).await;
    // A guild on each shard: Discord routes a guild to shard (guild_id >> 22) % shards.
    let other_guild = GUILD + (1 << 22);
    let other_channel = other_guild + 1;
    fake.add_guild(other_guild, "Other Guild");
    fake.add_text_channel(other_guild, other_channel, "general");
    let shard_of = |g: u64| (g >> 22) % 2;
    assert_ne!(shard_of(GUILD), shard_of(other_guild));

    let dir = data_dir("shards");
    let app = start_bot(&fake, &dir, &[]).await;
    assert!(fake.wait_for_identifies(2, PATIENCE).await);
    let tree = app.tree().await;
    let shards = tree
        .walk()
        .into_iter()
        .filter(|(_, n)| n.kind == ActorKind::Shard)
        .count();
    assert_eq!(shards, 2);
    let asked = vec![
        fake.user_message(GENERAL, &alice(), "!tr es one"),
        fake.user_message(other_channel, &alice(), "!tr es two"),
    ];
    assert!(fake.wait_for_created(2, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    assert_exactly_once(&fake, &asked);

    // A process running only the other guild's shard answers only there.
    let only = shard_of(other_guild).to_string();
    let identifies = fake.identify_count();
    let app = start_bot(
        &fake,
        &data_dir("shards-range"),
        &[("TOLMACH_PLATFORMS_DISCORD_SHARD_RANGE", &only)],
    )
    .await;
    let identify_shards: Vec<[u32; 2]> = fake
        .gateway_events()
        .into_iter()
        .filter_map(|e| match e.kind {
            GatewayEventKind::Identify { shard, .. } => Some(shard),
            _ => None,
        })
        .skip(identifies)
        .collect();
    let expected_shard = u32::try_from(shard_of(other_guild)).expect("small");
    assert_eq!(identify_shards, vec![[expected_shard, 2]]);
    let mine = fake.user_message(other_channel, &bob(), "!tr fr three");
    assert!(fake.wait_for_created(3, PATIENCE).await);
    common::settle(&app).await;
    app.shutdown().await;
    assert_eq!(
        replies_to(&fake.created_messages(), mine).len(),
        1,
        "answered by the shard that runs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_shards_sessions_and_conversations_while_messages_flow_loses_nothing() {
    let fake = world().await;
    let dir = data_dir("kills");
    let app = start_bot(&fake, &dir, &[]).await;
    // Every channel has activity before the first kill (see a_killed_shard_comes_back...).
    let mut asked = vec![
        fake.user_message(GENERAL, &alice(), "!tr es hello"),
        fake.user_message(RANDOM, &bob(), "!tr es hello"),
        fake.user_message(DM, &alice(), "!tr es hello"),
    ];
    assert!(fake.wait_for_created(asked.len(), PATIENCE).await);
    for round in 0..5 {
        for (i, channel) in [GENERAL, RANDOM, DM]
            .into_iter()
            .cycle()
            .take(12)
            .enumerate()
        {
            let user = if channel == RANDOM { bob() } else { alice() };
            asked.push(fake.user_message(channel, &user, &format!("!tr fr {round} {i}")));
        }
        let tree = app.tree().await;
        let victims: Vec<_> = tree
            .walk()
            .into_iter()
            .filter(|(_, n)| {
                matches!(
                    n.kind,
                    ActorKind::Session | ActorKind::Conversation | ActorKind::Shard
                )
            })
            .filter_map(|(_, n)| n.cell.clone())
            .collect();
        for v in victims {
            v.kill();
        }
    }
    assert!(
        fake.wait_for_created(asked.len(), PATIENCE).await,
        "{} of {} answered",
        fake.created_messages().len(),
        asked.len()
    );
    common::settle(&app).await;
    app.shutdown().await;
    assert_exactly_once(&fake, &asked);
    let _ = std::fs::remove_dir_all(&dir);
}
