//! SIGKILL in the middle of a stream of Discord messages: the real binary, the real serenity
//! client, the fake Discord. Messages keep arriving while the process is dead; they reach no
//! gateway session and exist only in the channels' history. Checks the guarantee of
//! docs/adr/0009-discord.md against the fake's log: every message is answered exactly once. A
//! reply in flight when the process died (accepted by Discord, not yet recorded) is sent again
//! with the same nonce, and Discord, like the fake, does not post it twice.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tolmach_testkit::{DcUser, FakeDiscord};

const TOKEN: &str = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.CRASH.test-token";
const GUILD: u64 = 1_100_000_000_000_000_000;
const CHANNELS: u64 = 10;
const DMS: u64 = 5;
const PER_CHANNEL: u64 = 12;
const PATIENCE: Duration = Duration::from_secs(60);

fn spawn_bot(fake: &FakeDiscord, data_dir: &std::path::Path, run: u32) -> Child {
    let log = std::fs::File::create(data_dir.join(format!("run-{run}.log"))).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_tolmach"))
        .env_clear()
        .env("DISCORD_BOT_TOKEN", TOKEN)
        .env("DISCORD_API_URL", fake.rest_url())
        .env("TOLMACH_RUNTIME_DATA_DIR", data_dir)
        .env("TOLMACH_METRICS_ADDR", "127.0.0.1:0")
        .env("TOLMACH_PLATFORMS_DISCORD_CHANNEL_INTERVAL", "1ms")
        .env("TOLMACH_PLATFORMS_DISCORD_GLOBAL_INTERVAL", "1ms")
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
async fn sigkill_mid_stream_recovers_from_history_and_answers_each_message_once() {
    let fake = FakeDiscord::start(TOKEN).await.expect("fake");
    fake.add_guild(GUILD, "Guild");
    let mut channels: Vec<u64> = (1..=CHANNELS).map(|i| GUILD + i).collect();
    for &c in &channels {
        fake.add_text_channel(GUILD, c, &format!("c{c}"));
    }
    let mut users: HashMap<u64, DcUser> = HashMap::new();
    for i in 0..DMS {
        let (channel, user) = (
            GUILD + 100 + i,
            DcUser::new(1_300_000_000_000_000_000 + i, "u"),
        );
        fake.add_dm_channel(channel, &user);
        users.insert(channel, user);
        channels.push(channel);
    }
    let someone = DcUser::new(1_300_000_000_000_000_100, "someone");
    let data_dir = std::env::temp_dir().join(format!("tolmach-dc-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).expect("data dir");

    let mut bot = spawn_bot(&fake, &data_dir, 1);
    assert!(fake.wait_for_identifies(1, PATIENCE).await);

    // A stream of messages in 15 channels, interleaved, arriving while the bot runs and dies.
    let feeder = {
        let (fake, channels) = (fake.clone(), channels.clone());
        tokio::spawn(async move {
            let mut pace = tokio::time::interval(Duration::from_millis(5));
            let mut asked = Vec::new();
            for i in 0..PER_CHANNEL {
                for &c in &channels {
                    pace.tick().await;
                    let user = users.get(&c).unwrap_or(&someone);
                    asked.push(fake.user_message(c, user, &format!("!tr es,fr good morning {i}")));
                }
            }
            asked
        })
    };

    let total = usize::try_from((CHANNELS + DMS) * PER_CHANNEL).expect("small");
    let mut kills = Vec::new();
    for (run, after) in [(2, total / 5), (3, total / 2)] {
        assert!(
            fake.wait_for_created(after, PATIENCE).await,
            "the bot answers"
        );
        kills.push(sigkill(bot).await);
        // Dead for a moment: what users write now reaches no session.
        tokio::time::sleep(Duration::from_millis(300)).await;
        bot = spawn_bot(&fake, &data_dir, run);
    }
    let asked = feeder.await.expect("feeder");
    // Every message answered at least once...
    let answered = async {
        loop {
            let created = fake.created_messages();
            let replied: std::collections::HashSet<u64> =
                created.iter().filter_map(|c| c.message_reference).collect();
            if asked.iter().all(|m| replied.contains(m)) {
                return;
            }
            fake.wait_for_created(created.len() + 1, PATIENCE).await;
        }
    };
    if tokio::time::timeout(PATIENCE, answered).await.is_err() {
        let replied: std::collections::HashSet<u64> = fake
            .created_messages()
            .iter()
            .filter_map(|c| c.message_reference)
            .collect();
        let missing: Vec<(usize, u64)> = asked
            .iter()
            .enumerate()
            .filter(|(_, m)| !replied.contains(m))
            .map(|(i, m)| (i, *m))
            .collect();
        panic!(
            "not answered (index in the stream, id): {missing:?}; kills at {:?} of {}; logs in {}",
            kills.len(),
            asked.len(),
            data_dir.display()
        );
    }

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

    // The restarted process's first REST call: a reply recorded before it was sent by the
    // process that died.
    let calls = fake.rest_calls();
    let revived: Vec<Instant> = kills
        .iter()
        .map(|k| {
            calls
                .iter()
                .filter(|c| c.at > *k && c.path.ends_with("/users/@me"))
                .map(|c| c.at)
                .min()
                .expect("the bot came back")
        })
        .collect();
    let created = fake.created_messages();
    let mut replies: HashMap<u64, Vec<Instant>> = HashMap::new();
    for c in &created {
        if let Some(r) = c.message_reference {
            replies.entry(r).or_default().push(c.at);
        }
    }
    // ...and exactly once: a reply in flight at a kill (created by Discord, not yet recorded)
    // is sent again by the next process with the same nonce, and Discord creates nothing.
    for m in &asked {
        let at = replies.get(m).map_or(0, Vec::len);
        assert_eq!(
            at,
            1,
            "message {m} answered {at} times; kills at {:?}, back at {:?}; logs in {}",
            kills,
            revived,
            data_dir.display()
        );
    }
    assert_eq!(replies.len(), asked.len(), "nothing else was quoted");
    // How many sends Discord deduplicated (for the record; how many depends on timing).
    let mut nonces: HashMap<String, usize> = HashMap::new();
    for call in calls
        .iter()
        .filter(|c| c.method == "POST" && c.status == 200)
    {
        if let Some(n) = call.body.get("nonce").and_then(serde_json::Value::as_str) {
            *nonces.entry(n.to_owned()).or_default() += 1;
        }
    }
    let resent: usize = nonces.values().map(|n| n - 1).sum();
    println!(
        "{} messages, {} replies, {} kills, {resent} replies sent again and not posted twice",
        asked.len(),
        created.len(),
        kills.len()
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
