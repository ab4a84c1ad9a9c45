//! SIGKILL in the middle of a stream of Telegram updates: the real binary, the real teloxide
//! client, the fake Bot API. Checks against the fake's log the guarantee of
//! docs/adr/0007-telegram-delivery.md: every update is answered; an update is answered twice only
//! if its reply was in flight (received by Telegram, not yet committed) when the process died.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tolmach_testkit::{FakeTelegram, TgChat, TgUser};

const TOKEN: &str = "7000000001:TEST-crash-token";
const CHATS: i64 = 20;
const PER_CHAT: i64 = 10;
const PATIENCE: Duration = Duration::from_secs(120);

fn spawn_bot(fake: &FakeTelegram, data_dir: &std::path::Path, run: u32) -> Child {
    spawn_bot_with(fake, data_dir, run, &[])
}

/// [`spawn_bot`] with more environment.
fn spawn_bot_with(
    fake: &FakeTelegram,
    data_dir: &std::path::Path,
    run: u32,
    env: &[(&str, String)],
) -> Child {
    let log = std::fs::File::create(data_dir.join(format!("run-{run}.log"))).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_tolmach"))
        .env_clear()
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env("TELEGRAM_API_URL", fake.api_url())
        .env("TOLMACH_RUNTIME_DATA_DIR", data_dir)
        .env("TOLMACH_METRICS_ADDR", "127.0.0.1:0")
        .env("TOLMACH_PLATFORMS_TELEGRAM_CHAT_INTERVAL", "1ms")
        .env("TOLMACH_PLATFORMS_TELEGRAM_GROUP_INTERVAL", "1ms")
        .env("TOLMACH_PLATFORMS_TELEGRAM_GLOBAL_INTERVAL", "1ms")
        .env("TOLMACH_RATE_LIMIT_BURST", "1000")
        .env("TOLMACH_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tolmach")
}

async fn sigkill(mut child: Child) -> Instant {
    child.start_kill().expect("SIGKILL");
    let at = Instant::now();
    child.wait().await.expect("reaped");
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_repeats_only_in_flight_replies() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let data_dir = std::env::temp_dir().join(format!("tolmach-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).expect("data dir");

    // A stream of updates from 20 chats, interleaved, arriving while the bot runs and dies.
    let feeder = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(5));
            let mut updates = Vec::new();
            for i in 0..PER_CHAT {
                for c in 0..CHATS {
                    pace.tick().await;
                    let (chat, user) = (TgChat::private(3000 + c, "U"), TgUser::new(3000 + c, "U"));
                    let u = fake.send_text(&chat, &user, &format!("/tr es,fr good morning {i}"));
                    updates.push((3000 + c, u));
                }
            }
            updates
        })
    };

    let total = (CHATS * PER_CHAT) as usize;
    let mut kills = Vec::new();
    let mut bot = spawn_bot(&fake, &data_dir, 1);
    for (run, after) in [(2, total / 5), (3, total / 2)] {
        assert!(fake.wait_for_sent(after, PATIENCE).await, "the bot answers");
        kills.push(sigkill(bot).await);
        bot = spawn_bot(&fake, &data_dir, run);
    }
    let updates = feeder.await.expect("feeder");
    // Every update answered at least once...
    let answered = async {
        loop {
            let sent = fake.sent();
            let replied: std::collections::HashSet<(i64, Option<i64>)> = sent
                .iter()
                .map(|s| (s.chat_id, s.reply_to_message_id))
                .collect();
            if updates
                .iter()
                .all(|(chat, u)| replied.contains(&(*chat, fake.message_id_of(*u))))
            {
                return;
            }
            fake.wait_for_sent(sent.len() + 1, PATIENCE).await;
        }
    };
    tokio::time::timeout(PATIENCE, answered)
        .await
        .expect("every update answered");

    // ... then a graceful stop, which confirms the offset.
    let pid = bot.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill -TERM");
    let status = tokio::time::timeout(PATIENCE, bot.wait())
        .await
        .expect("stops")
        .expect("status");
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");

    // The restarted process's first call to the API: nothing before it can come from that
    // process, so a reply recorded before it (even a moment after the kill, still in the socket)
    // was sent by the process that died.
    let calls = fake.calls();
    let revived: Vec<Instant> = kills
        .iter()
        .map(|k| {
            calls
                .iter()
                .filter(|c| c.method == "getme" && c.at > *k)
                .map(|c| c.at)
                .min()
                .expect("the bot came back")
        })
        .collect();

    let sent = fake.sent();
    let mut replies: HashMap<(i64, Option<i64>), Vec<Instant>> = HashMap::new();
    for s in &sent {
        replies
            .entry((s.chat_id, s.reply_to_message_id))
            .or_default()
            .push(s.at);
    }
    let mut repeated = 0;
    for (chat, u) in &updates {
        let key = (*chat, fake.message_id_of(*u));
        let at = replies.get(&key).cloned().unwrap_or_default();
        repeated +=
            common::check_repeats(&format!("update {u} in chat {chat}"), &at, &kills, &revived);
    }
    assert!(
        repeated <= kills.len() * CHATS as usize,
        "at most one repeat per chat per crash, got {repeated}"
    );
    assert_eq!(
        fake.pending_updates(),
        0,
        "everything confirmed to Telegram"
    );
    println!(
        "{} updates, {} replies, {} kills, {repeated} repeated in-flight replies",
        updates.len(),
        sent.len(),
        kills.len()
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_telegram_has_forgotten_is_answered_after_a_sigkill() {
    let fake = FakeTelegram::start(TOKEN).await.expect("fake");
    let provider = tolmach_testkit::FakeProvider::start()
        .await
        .expect("fake provider");
    provider.set_behavior(tolmach_testkit::Behavior::delayed(
        Duration::from_secs(60),
        tolmach_testkit::Behavior::Echo,
    ));
    let data_dir = std::env::temp_dir().join(format!("tolmach-inbox-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let env = [
        ("TOLMACH_PROVIDERS_FAKE_KIND", "openai".to_string()),
        ("TOLMACH_PROVIDERS_FAKE_BASE_URL", provider.base_url()),
        ("TOLMACH_PROVIDERS_FAKE_MODEL", "m".to_string()),
        ("TOLMACH_PROVIDERS_FAKE_PRIORITY", "1".to_string()),
        ("TOLMACH_PROVIDERS_FAKE_TIMEOUT", "120s".to_string()),
        ("TOLMACH_PROVIDERS_DEMO_ENABLED", "false".to_string()),
        ("TOLMACH_CONVERSATION_REQUEST_TIMEOUT", "120s".to_string()),
    ];
    let spawn = |run: u32| spawn_bot_with(&fake, &data_dir, run, &env);
    let bot = spawn(1);
    let (chat, user) = (TgChat::private(77, "Ann"), TgUser::new(77, "Ann"));
    let update = fake.send_text(&chat, &user, "/tr es accepted, then the process dies");
    // The bot is translating it (the provider stalls), and a later poll has told Telegram to
    // forget it: from here on only the bot's own inbox knows about it.
    provider.wait_for_requests(1).await;
    while fake.pending_updates() > 0 {
        let polls = fake
            .calls()
            .iter()
            .filter(|c| c.method == "getupdates")
            .count();
        assert!(fake.wait_for_calls("getUpdates", polls + 1, PATIENCE).await);
    }
    sigkill(bot).await;
    provider.set_behavior(tolmach_testkit::Behavior::Echo);
    let mut bot = spawn(2);
    assert!(
        fake.wait_for_sent(1, PATIENCE).await,
        "answered from the inbox after the restart"
    );
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].reply_to_message_id, fake.message_id_of(update));
    assert!(sent[0].text.contains("[es]"), "{}", sent[0].text);
    bot.start_kill().expect("kill");
    let _ = bot.wait().await;
    let _ = std::fs::remove_dir_all(&data_dir);
}
