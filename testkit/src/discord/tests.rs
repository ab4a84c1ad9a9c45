//! Tests: payloads against serenity's types, the raw protocols (HTTP and WebSocket) and
//! the real serenity 0.12.5 client (HTTP and gateway) against the fake.
//!
//! The tests run on the current-thread runtime of `#[tokio::test]`: serenity spawns one
//! task per handler call, and only a single thread keeps those tasks in dispatch order.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use serenity::all as sy;
use serenity::http::HttpError;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::state::Session;
use super::*;

const TOKEN: &str = "MTIwMDAwMDAwMDAwMDAwMDAwMQ.fake.token";
const WAIT: Duration = Duration::from_secs(10);
/// serenity's own reconnection timing (5 s shard restarts, 1 s retry) needs more.
const RECONNECT_WAIT: Duration = Duration::from_secs(30);

/// `(GUILD >> 22) % 2 == 0`: shard 0 of 2; `GUILD + (1 << 22)` is on shard 1.
const GUILD: u64 = 1_100_000_000_004_194_304;
const GENERAL: u64 = 1_100_000_000_000_000_001;
const RANDOM: u64 = 1_100_000_000_000_000_002;
const DM: u64 = 1_100_000_000_000_000_100;

fn alice() -> DcUser {
    DcUser::new(1_000_000_000_000_000_042, "alice")
}

fn bob() -> DcUser {
    DcUser::new(1_000_000_000_000_000_043, "bob")
}

async fn world() -> FakeDiscord {
    let fake = FakeDiscord::start(TOKEN).await.unwrap();
    fake.add_guild(GUILD, "Test Guild");
    fake.add_text_channel(GUILD, GENERAL, "general");
    fake.add_text_channel(GUILD, RANDOM, "random");
    fake.add_dm_channel(DM, &alice());
    fake
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// serenity's HTTP client pointed at the fake, the way the runtime builds it.
fn serenity_http(fake: &FakeDiscord) -> Arc<sy::Http> {
    Arc::new(
        sy::HttpBuilder::new(TOKEN)
            .client(reqwest_client())
            .proxy(fake.rest_url())
            .ratelimiter_disabled(true)
            .application_id(sy::ApplicationId::new(fake.application_id()))
            .build(),
    )
}

/// `(status, code)` of a serenity HTTP error.
fn discord_error(e: &sy::Error) -> (u16, isize) {
    match e {
        sy::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            (r.status_code.as_u16(), r.error.code)
        }
        other => panic!("not an unsuccessful request: {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// A serenity client with an event handler that forwards to a channel
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
enum Ev {
    Ready {
        session_id: String,
        shard: Option<(u32, u32)>,
        guilds: Vec<u64>,
        user_id: u64,
        application_id: u64,
    },
    Guild {
        shard: u32,
        id: u64,
        name: String,
        channels: Vec<(u64, String)>,
    },
    Message {
        shard: u32,
        message: Box<sy::Message>,
    },
    Interaction(Box<sy::Interaction>),
    Resumed,
}

struct Handler(mpsc::UnboundedSender<Ev>);

#[serenity::async_trait]
impl sy::EventHandler for Handler {
    async fn ready(&self, _ctx: sy::Context, ready: sy::Ready) {
        let _ = self.0.send(Ev::Ready {
            session_id: ready.session_id.clone(),
            shard: ready.shard.map(|s| (s.id.0, s.total)),
            guilds: ready.guilds.iter().map(|g| g.id.get()).collect(),
            user_id: ready.user.id.get(),
            application_id: ready.application.id.get(),
        });
    }

    async fn guild_create(&self, ctx: sy::Context, guild: sy::Guild, _is_new: Option<bool>) {
        let mut channels: Vec<(u64, String)> = guild
            .channels
            .values()
            .map(|c| (c.id.get(), c.name.clone()))
            .collect();
        channels.sort();
        let _ = self.0.send(Ev::Guild {
            shard: ctx.shard_id.0,
            id: guild.id.get(),
            name: guild.name.clone(),
            channels,
        });
    }

    async fn message(&self, ctx: sy::Context, message: sy::Message) {
        let _ = self.0.send(Ev::Message {
            shard: ctx.shard_id.0,
            message: Box::new(message),
        });
    }

    async fn interaction_create(&self, _ctx: sy::Context, interaction: sy::Interaction) {
        let _ = self.0.send(Ev::Interaction(Box::new(interaction)));
    }

    async fn resume(&self, _ctx: sy::Context, _event: sy::ResumedEvent) {
        let _ = self.0.send(Ev::Resumed);
    }
}

struct Running {
    rx: mpsc::UnboundedReceiver<Ev>,
    manager: Arc<sy::ShardManager>,
    task: tokio::task::JoinHandle<Result<(), sy::Error>>,
}

fn all_intents() -> sy::GatewayIntents {
    sy::GatewayIntents::non_privileged() | sy::GatewayIntents::MESSAGE_CONTENT
}

async fn run_client(fake: &FakeDiscord, intents: sy::GatewayIntents, autoshard: bool) -> Running {
    let http = sy::HttpBuilder::new(TOKEN)
        .client(reqwest_client())
        .proxy(fake.rest_url())
        .ratelimiter_disabled(true)
        .build();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut client = sy::ClientBuilder::new_with_http(http, intents)
        .event_handler(Handler(tx))
        .await
        .unwrap();
    let manager = Arc::clone(&client.shard_manager);
    let task = tokio::spawn(async move {
        if autoshard {
            client.start_autosharded().await
        } else {
            client.start().await
        }
    });
    Running { rx, manager, task }
}

impl Running {
    /// The next event matching `pred` (others are skipped); panics after `timeout`.
    async fn next<T>(&mut self, timeout: Duration, mut pred: impl FnMut(Ev) -> Option<T>) -> T {
        let wait = async {
            loop {
                let ev = self.rx.recv().await.expect("client gone");
                if let Some(found) = pred(ev) {
                    return found;
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .expect("timed out waiting for a serenity event")
    }

    async fn ready(&mut self, timeout: Duration) -> String {
        self.next(timeout, |ev| match ev {
            Ev::Ready { session_id, .. } => Some(session_id),
            _ => None,
        })
        .await
    }

    /// The next message not written by a bot.
    async fn user_message(&mut self, timeout: Duration) -> sy::Message {
        self.next(timeout, |ev| match ev {
            Ev::Message { message, .. } if !message.author.bot => Some(*message),
            _ => None,
        })
        .await
    }

    /// Every event already received (without waiting).
    fn drain(&mut self) -> Vec<Ev> {
        let mut out = Vec::new();
        while let Ok(ev) = self.rx.try_recv() {
            out.push(ev);
        }
        out
    }

    async fn stop(self) {
        self.manager.shutdown_all().await;
        let result = tokio::time::timeout(WAIT, self.task).await;
        assert!(result.is_ok(), "client did not stop");
    }
}

fn user_message_ids(events: &[Ev]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|ev| match ev {
            Ev::Message { message, .. } if !message.author.bot => Some(message.id.get()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Payloads against serenity's types (no network)
// ---------------------------------------------------------------------------------------

/// Adds a disconnected, resumable session that captures dispatches.
fn capture_session(fake: &FakeDiscord, shard: [u32; 2], intents: u64) -> String {
    let id = format!("capture-{}-{}", shard[0], intents);
    fake.shared.mutate(|s| {
        s.sessions.push(Session {
            id: id.clone(),
            shard,
            intents,
            seq: 0,
            frames: Vec::new(),
            conn: None,
            disconnected_at: Some(std::time::Instant::now()),
            invalidated: false,
        });
    });
    id
}

/// The captured frames, parsed as serenity parses gateway frames.
fn captured(fake: &FakeDiscord, id: &str) -> Vec<(Value, sy::GatewayEvent)> {
    let state = fake.shared.lock();
    let session = state.sessions.iter().find(|s| s.id == id).unwrap();
    session
        .frames
        .iter()
        .map(|(_, frame)| {
            let parsed = serde_json::from_str::<sy::GatewayEvent>(frame)
                .unwrap_or_else(|e| panic!("serenity cannot parse {frame}: {e}"));
            (serde_json::from_str(frame).unwrap(), parsed)
        })
        .collect()
}

#[tokio::test]
async fn every_dispatch_parses_as_serenity_events() {
    let fake = world().await;
    let everything = u64::MAX >> 1;
    let session = capture_session(&fake, [0, 1], everything);
    let no_content = capture_session(&fake, [0, 1], everything & !intents::MESSAGE_CONTENT);

    fake.add_guild(GUILD + (1 << 22), "Second Guild");
    fake.add_text_channel(GUILD, GUILD + 3, "new-channel");
    let first = fake.user_message(GENERAL, &alice(), "hola <@1200000000000000001>");
    fake.user_reply(GENERAL, &bob(), "re", first);
    fake.user_message(DM, &alice(), "in a DM");
    let far_id = fake.shared.lock().last_id + 10;
    fake.push_message(
        DcMessage::new(GENERAL, &bob(), "")
            .kind(7)
            .history_only()
            .with_id(far_id),
    );
    fake.push_message(
        DcMessage::new(GENERAL, &DcUser::new(77, "hook").bot(), "from a webhook")
            .webhook(77)
            .attachment(5, "a.png", "image/png", 1234, "http://127.0.0.1/a.png")
            .embed(json!({"title": "t", "description": "d"})),
    );
    fake.user_message(GENERAL, &alice(), "secret");
    fake.slash_command(GENERAL, &alice(), "translate", &[("text", "hola")], "es-ES");
    fake.slash_command(DM, &alice(), "help", &[], "en-US");
    fake.message_command(GENERAL, &bob(), "Translate", first, "de");
    fake.message_command(GENERAL, &bob(), "Translate", 999, "de");

    let frames = captured(&fake, &session);
    let kinds: Vec<&str> = frames
        .iter()
        .map(|(raw, _)| raw["t"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "GUILD_CREATE",
            "CHANNEL_CREATE",
            "MESSAGE_CREATE",
            "MESSAGE_CREATE",
            "MESSAGE_CREATE",
            "MESSAGE_CREATE",
            "MESSAGE_CREATE",
            "INTERACTION_CREATE",
            "INTERACTION_CREATE",
            "INTERACTION_CREATE",
            "INTERACTION_CREATE",
        ]
    );
    let seqs: Vec<u64> = frames
        .iter()
        .map(|(raw, _)| raw["s"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<_>>());
    let events: Vec<&sy::Event> = frames
        .iter()
        .map(|(_, ev)| match ev {
            sy::GatewayEvent::Dispatch(_, ev) => ev,
            other => panic!("{other:?}"),
        })
        .collect();
    match events[1] {
        sy::Event::ChannelCreate(c) => assert_eq!(c.channel.name, "new-channel"),
        other => panic!("{other:?}"),
    }
    let sy::Event::MessageCreate(m) = events[2] else {
        panic!()
    };
    assert_eq!(m.message.mentions[0].id.get(), fake.bot_user_id());
    assert_eq!(m.message.guild_id.map(|g| g.get()), Some(GUILD));
    assert!(m.message.member.is_some());
    let sy::Event::MessageCreate(reply) = events[3] else {
        panic!()
    };
    assert_eq!(reply.message.kind, sy::MessageType::InlineReply);
    assert_eq!(
        reply.message.referenced_message.as_ref().unwrap().id.get(),
        first
    );
    let sy::Event::MessageCreate(dm) = events[4] else {
        panic!()
    };
    assert_eq!(dm.message.guild_id, None);
    let sy::Event::MessageCreate(hook) = events[5] else {
        panic!()
    };
    assert_eq!(hook.message.webhook_id.map(|w| w.get()), Some(77));
    assert!(hook.message.member.is_none());
    assert_eq!(hook.message.attachments[0].filename, "a.png");
    assert_eq!(hook.message.embeds[0].title.as_deref(), Some("t"));
    match events[7] {
        sy::Event::InteractionCreate(i) => {
            let c = i.interaction.as_command().unwrap();
            assert_eq!(c.data.name, "translate");
            assert_eq!(c.locale, "es-ES");
            assert_eq!(c.user.id.get(), alice().id);
        }
        other => panic!("{other:?}"),
    }
    match events[10] {
        sy::Event::InteractionCreate(i) => {
            let c = i.interaction.as_command().unwrap();
            assert_eq!(c.data.target_id.map(|t| t.get()), Some(999));
        }
        other => panic!("{other:?}"),
    }

    // Without MESSAGE_CONTENT: guild content is blank unless the bot is mentioned; DMs
    // keep theirs.
    let contents: Vec<(String, String)> = captured(&fake, &no_content)
        .into_iter()
        .filter(|(raw, _)| raw["t"] == "MESSAGE_CREATE")
        .map(|(raw, _)| {
            (
                raw["d"]["content"].as_str().unwrap().to_owned(),
                raw["d"]["author"]["username"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let contents: Vec<&str> = contents.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        contents,
        ["hola <@1200000000000000001>", "", "in a DM", "", ""]
    );

    // History and REST shapes parse too.
    for m in fake.history(GENERAL) {
        serde_json::from_value::<sy::Message>(m.clone()).unwrap_or_else(|e| panic!("{m}: {e}"));
    }
    let state = fake.shared.lock();
    let guild = state.guild_create_json(GUILD);
    serde_json::from_value::<sy::Guild>(guild).unwrap();
    let channel = state.channel_json(GENERAL).unwrap();
    serde_json::from_value::<sy::GuildChannel>(channel).unwrap();
    let dm = state.channel_json(DM).unwrap();
    serde_json::from_value::<sy::PrivateChannel>(dm).unwrap();
}

// ---------------------------------------------------------------------------------------
// serenity's HTTP client
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn serenity_http_creates_messages_reads_history_and_registers_commands() {
    let fake = world().await;
    let http = serenity_http(&fake);

    let me = http.get_current_user().await.unwrap();
    assert_eq!(me.id.get(), fake.bot_user_id());
    assert!(me.bot);
    let app = http.get_current_application_info().await.unwrap();
    assert_eq!(app.id.get(), fake.application_id());
    let gateway = http.get_bot_gateway().await.unwrap();
    assert_eq!(gateway.url, fake.gateway_url());
    assert_eq!(gateway.shards, 1);
    assert_eq!(http.get_gateway().await.unwrap().url, fake.gateway_url());

    // A reply with explicit allowed mentions.
    let asked = fake.user_message(GENERAL, &alice(), "¿qué tal?");
    let channel = sy::ChannelId::new(GENERAL);
    let builder = sy::CreateMessage::new()
        .content("how are you?")
        .reference_message((channel, sy::MessageId::new(asked)))
        .allowed_mentions(
            sy::CreateAllowedMentions::new()
                .replied_user(false)
                .empty_users()
                .empty_roles(),
        );
    let sent = channel.send_message(&*http, builder).await.unwrap();
    assert_eq!(sent.content, "how are you?");
    assert_eq!(sent.kind, sy::MessageType::InlineReply);
    assert_eq!(sent.author.id.get(), fake.bot_user_id());
    assert_eq!(sent.referenced_message.as_ref().unwrap().id.get(), asked);
    // As on Discord, `guild_id` is gateway-only.
    assert_eq!(sent.guild_id, None);
    let said = channel.say(&*http, "plain").await.unwrap();
    assert!(said.id > sent.id);
    assert_eq!(said.kind, sy::MessageType::Regular);

    let created = fake.created_messages();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].id, sent.id.get());
    assert_eq!(created[0].message_reference, Some(asked));
    assert_eq!(
        created[0].allowed_mentions,
        Some(json!({"parse": [], "users": [], "roles": [], "replied_user": false}))
    );
    assert_eq!(created[1].content, "plain");
    assert!(fake.wait_for_created(2, Duration::ZERO).await);
    let call = fake
        .rest_calls()
        .into_iter()
        .find(|c| c.method == "POST")
        .unwrap();
    assert_eq!(
        call.authorization.as_deref(),
        Some(&*format!("Bot {TOKEN}"))
    );
    assert_eq!(call.path, format!("/api/v10/channels/{GENERAL}/messages"));
    assert_eq!(call.status, 200);

    // History: `after` gives the oldest messages after the id, newest first.
    let later = fake.user_message(GENERAL, &bob(), "later");
    let got = channel
        .messages(&*http, sy::GetMessages::new().after(asked).limit(2))
        .await
        .unwrap();
    let ids: Vec<u64> = got.iter().map(|m| m.id.get()).collect();
    assert_eq!(ids, [said.id.get(), sent.id.get()]);
    let got = channel
        .messages(&*http, sy::GetMessages::new().after(asked))
        .await
        .unwrap();
    let ids: Vec<u64> = got.iter().map(|m| m.id.get()).collect();
    assert_eq!(ids, [later, said.id.get(), sent.id.get()]);
    let all = channel
        .messages(&*http, sy::GetMessages::new())
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3].id.get(), asked);
    let before = channel
        .messages(&*http, sy::GetMessages::new().before(said.id).limit(1))
        .await
        .unwrap();
    assert_eq!(before[0].id, sent.id);
    let around = channel
        .messages(&*http, sy::GetMessages::new().around(sent.id).limit(3))
        .await
        .unwrap();
    let ids: Vec<u64> = around.iter().map(|m| m.id.get()).collect();
    assert_eq!(ids, [said.id.get(), sent.id.get(), asked]);
    let one = channel
        .message(&*http, sy::MessageId::new(asked))
        .await
        .unwrap();
    assert_eq!(one.content, "¿qué tal?");

    // Discord's errors, decoded by serenity.
    let err = sy::ChannelId::new(4242).say(&*http, "x").await.unwrap_err();
    assert_eq!(discord_error(&err), (404, 10003));
    let err = channel
        .send_message(&*http, sy::CreateMessage::new())
        .await
        .unwrap_err();
    assert_eq!(discord_error(&err), (400, 50006));
    let err = channel
        .send_message(
            &*http,
            sy::CreateMessage::new()
                .content("x")
                .reference_message((channel, sy::MessageId::new(12345))),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_error(&err), (400, 50035));
    assert_eq!(fake.created_messages().len(), 2);

    // DMs.
    let dm = sy::UserId::new(alice().id)
        .create_dm_channel(&*http)
        .await
        .unwrap();
    assert_eq!(dm.id.get(), DM);
    let dm_sent = dm.id.say(&*http, "hi in private").await.unwrap();
    assert_eq!(dm_sent.guild_id, None);
    channel.broadcast_typing(&*http).await.unwrap();

    // Commands: bulk overwrite, ids kept for unchanged names, versions change with content.
    let commands = vec![
        sy::CreateCommand::new("translate")
            .description("Translate a text")
            .add_option(
                sy::CreateCommandOption::new(sy::CommandOptionType::String, "text", "The text")
                    .required(true),
            ),
        sy::CreateCommand::new("Translate message").kind(sy::CommandType::Message),
    ];
    let registered = sy::Command::set_global_commands(&*http, commands)
        .await
        .unwrap();
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0].name, "translate");
    assert_eq!(registered[0].options[0].name, "text");
    assert_eq!(registered[1].kind, sy::CommandType::Message);
    assert_eq!(registered[1].application_id.get(), fake.application_id());
    let stored = fake.commands();
    assert_eq!(stored.as_array().unwrap().len(), 2);
    assert_eq!(stored[0]["name"], "translate");
    assert_eq!(
        stored[0]["application_id"],
        fake.application_id().to_string()
    );
    let again = sy::Command::set_global_commands(
        &*http,
        vec![sy::CreateCommand::new("translate").description("Changed")],
    )
    .await
    .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].id, registered[0].id);
    assert_ne!(again[0].version, registered[0].version);
    assert_eq!(http.get_global_commands().await.unwrap().len(), 1);
    let err = sy::Command::set_global_commands(
        &*http,
        vec![sy::CreateCommand::new("Bad Name").description("x")],
    )
    .await
    .unwrap_err();
    assert_eq!(discord_error(&err), (400, 50035));
    assert_eq!(fake.commands().as_array().unwrap().len(), 1);
    let guild_cmds = sy::GuildId::new(GUILD)
        .set_commands(
            &*http,
            vec![sy::CreateCommand::new("g").description("guild")],
        )
        .await
        .unwrap();
    assert_eq!(guild_cmds[0].guild_id.map(|g| g.get()), Some(GUILD));
    assert_eq!(fake.guild_commands(GUILD)[0]["name"], "g");

    // A wrong token.
    let bad = sy::HttpBuilder::new("wrong")
        .client(reqwest_client())
        .proxy(fake.rest_url())
        .ratelimiter_disabled(true)
        .build();
    let err = bad.get_current_user().await.unwrap_err();
    assert_eq!(discord_error(&err), (401, 0));
}

#[tokio::test]
async fn enforce_nonce_creates_a_message_once() {
    let fake = world().await;
    let http = serenity_http(&fake);
    let channel = sy::ChannelId::new(GENERAL);
    let with = |nonce: &str, enforce: bool| {
        sy::CreateMessage::new()
            .content(format!("reply {nonce}"))
            .nonce(sy::Nonce::String(nonce.into()))
            .enforce_nonce(enforce)
    };

    let first = channel
        .send_message(&*http, with("a.0", true))
        .await
        .unwrap();
    // The same nonce again: nothing new, the earlier message comes back.
    let again = channel
        .send_message(&*http, with("a.0", true))
        .await
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(again.content, "reply a.0");
    // Another nonce, or the same one without `enforce_nonce`, is a new message.
    let other = channel
        .send_message(&*http, with("a.1", true))
        .await
        .unwrap();
    assert_ne!(other.id, first.id);
    let loose = channel
        .send_message(&*http, with("a.0", false))
        .await
        .unwrap();
    assert_ne!(loose.id, first.id);
    let ids: Vec<u64> = fake.created_messages().iter().map(|m| m.id).collect();
    assert_eq!(ids, [first.id.get(), other.id.get(), loose.id.get()]);

    // Discord takes at most 25 characters.
    let long = "n".repeat(26);
    let e = channel
        .send_message(&*http, with(&long, true))
        .await
        .unwrap_err();
    assert_eq!(discord_error(&e), (400, 50035));
    assert!(
        channel
            .send_message(&*http, with(&long[1..], true))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn rest_faults_are_consumed_in_order() {
    let fake = world().await;
    let http = serenity_http(&fake);
    let channel = sy::ChannelId::new(GENERAL);
    let prefix = "/api/v10/channels/";

    // 429: serenity (ratelimiter off) does not retry and cannot decode the body.
    fake.fail_next(
        "POST",
        prefix,
        RestFault::RateLimited {
            retry_after: Duration::from_millis(1500),
            global: false,
        },
        1,
    );
    let err = channel.say(&*http, "hi").await.unwrap_err();
    let (status, code) = discord_error(&err);
    assert_eq!((status, code), (429, -1));
    assert!(fake.created_messages().is_empty());

    // The same through plain HTTP: headers and body like Discord's.
    fake.fail_next(
        "post",
        prefix,
        RestFault::RateLimited {
            retry_after: Duration::from_millis(1500),
            global: true,
        },
        1,
    );
    let client = reqwest_client();
    let url = format!("{}/api/v10/channels/{GENERAL}/messages", fake.rest_url());
    let send = || {
        client
            .post(&url)
            .header("Authorization", format!("Bot {TOKEN}"))
            .json(&json!({"content": "hi"}))
            .send()
    };
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 429);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("retry-after").as_deref(), Some("2"));
    assert_eq!(header("x-ratelimit-reset-after").as_deref(), Some("1.500"));
    assert_eq!(header("x-ratelimit-global").as_deref(), Some("true"));
    assert_eq!(header("x-ratelimit-scope").as_deref(), Some("global"));
    assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": true})
    );

    // Several faults queue up; other routes are not affected.
    fake.fail_next("POST", prefix, RestFault::Status(502), 1);
    fake.fail_next("POST", prefix, RestFault::MissingPermissions, 1);
    fake.fail_next("POST", prefix, RestFault::Status(500), 1);
    fake.fail_next("*", prefix, RestFault::Drop, 1);
    assert_eq!(fake.pending_faults(), 4);
    http.get_current_user().await.unwrap();
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.unwrap().contains("502 Bad Gateway"));
    let err = channel.say(&*http, "x").await.unwrap_err();
    assert_eq!(discord_error(&err), (403, 50013));
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"message": "500: Internal Server Error", "code": 0})
    );
    let err = send().await.unwrap_err();
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    assert_eq!(fake.pending_faults(), 0);
    assert!(fake.created_messages().is_empty());

    // A delay answers normally.
    fake.fail_next(
        "POST",
        prefix,
        RestFault::Delay(Duration::from_millis(100)),
        1,
    );
    let started = std::time::Instant::now();
    channel.say(&*http, "slow").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(fake.created_messages().len(), 1);
    fake.fail_next("GET", "/api/v10/users/@me", RestFault::MissingAccess, 3);
    let err = http.get_current_user().await.unwrap_err();
    assert_eq!(discord_error(&err), (403, 50001));
    fake.clear_faults();
    http.get_current_user().await.unwrap();

    let statuses: Vec<(String, u16)> = fake
        .rest_calls()
        .iter()
        .filter(|c| c.path.starts_with(prefix))
        .map(|c| (c.method.clone(), c.status))
        .collect();
    let expected = [429, 429, 502, 403, 500, 0, 200];
    assert_eq!(statuses, expected.map(|s| ("POST".to_owned(), s)).to_vec());
}

#[tokio::test]
async fn raw_http_answers_like_discord() {
    let fake = world().await;
    let client = reqwest_client();
    let base = format!("{}/api/v10", fake.rest_url());
    let auth = format!("Bot {TOKEN}");
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .header("Authorization", &auth)
            .json(&body)
            .send()
    };
    let json_of = |resp: reqwest::Response| async move {
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    let messages = format!("/channels/{GENERAL}/messages");

    // No token, wrong token, no token needed.
    let resp = client
        .get(format!("{base}/users/@me"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        (401, json!({"message": "401: Unauthorized", "code": 0}))
    );
    let resp = client
        .get(format!("{base}/users/@me"))
        .header("Authorization", "Bot nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client.get(format!("{base}/gateway")).send().await.unwrap();
    assert_eq!(
        json_of(resp).await,
        (200, json!({"url": fake.gateway_url()}))
    );
    let resp = client
        .get(format!("{base}/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await.0, 404);
    let resp = client
        .delete(format!("{base}/users/@me"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);

    // Create-message checks.
    let (status, v) = json_of(post(&messages, json!({"content": "  "})).await.unwrap()).await;
    assert_eq!((status, v["code"].as_u64()), (400, Some(50006)));
    assert_eq!(v["message"], "Cannot send an empty message");
    let long = "a".repeat(2001);
    let (status, v) = json_of(post(&messages, json!({"content": long})).await.unwrap()).await;
    assert_eq!((status, v["code"].as_u64()), (400, Some(50035)));
    assert_eq!(v["message"], "Invalid Form Body");
    assert_eq!(
        v["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    // 2000 characters of four bytes each are fine: Discord counts characters.
    let emoji = "😀".repeat(2000);
    let (status, v) = json_of(post(&messages, json!({"content": emoji})).await.unwrap()).await;
    assert_eq!(status, 200, "{v}");
    let resp = client
        .post(format!("{base}{messages}"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(resp).await.1["code"], 50109);
    let (status, v) = json_of(
        post(
            &messages,
            json!({"content": "x", "allowed_mentions": {"parse": ["users"], "users": ["1"]}}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["errors"]["allowed_mentions"]["_errors"][0]["code"],
        "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"
    );
    let (status, v) = json_of(
        post(
            &messages,
            json!({"content": "x", "message_reference": {"message_id": "1"}}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["errors"]["message_reference"]["_errors"][0]["code"],
        "REPLIES_UNKNOWN_MESSAGE"
    );
    let (status, v) = json_of(
        post(
            &messages,
            json!({"content": "x", "message_reference": {"message_id": "1", "fail_if_not_exists": false}}),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["type"], 0);
    assert!(v.get("message_reference").is_none());
    let resp = post(&messages, json!({"embeds": [{"title": "only an embed"}]}))
        .await
        .unwrap();
    assert!(resp.headers().contains_key("x-ratelimit-bucket"));
    assert!(resp.headers().contains_key("x-ratelimit-reset-after"));
    let (status, v) = json_of(resp).await;
    assert_eq!(status, 200);
    assert_eq!(v["embeds"][0]["type"], "rich");
    assert_eq!(fake.created_messages().len(), 3);

    // History checks.
    let get = |query: &str| {
        client
            .get(format!("{base}{messages}{query}"))
            .header("Authorization", &auth)
            .send()
    };
    let (status, v) = json_of(get("?limit=101").await.unwrap()).await;
    assert_eq!((status, v["code"].as_u64()), (400, Some(50035)));
    let (status, _) = json_of(get("?limit=0").await.unwrap()).await;
    assert_eq!(status, 400);
    let (status, _) = json_of(get("?after=abc").await.unwrap()).await;
    assert_eq!(status, 400);
    let (status, v) = json_of(get("?&limit=2").await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let resp = client
        .get(format!("{base}/channels/5/messages"))
        .header("Authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await,
        (404, json!({"message": "Unknown Channel", "code": 10003}))
    );

    // What the runtime does: serenity's request builder, executed by its own client.
    let request = sy::Request::new(
        sy::Route::ChannelMessages {
            channel_id: sy::ChannelId::new(GENERAL),
        },
        sy::LightMethod::Post,
    )
    .body(Some(br#"{"content":"built by hand"}"#.to_vec()));
    let built = request
        .build(&client, &auth, Some(&fake.rest_url()))
        .unwrap()
        .build()
        .unwrap();
    let resp = client.execute(built).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        fake.created_messages().last().unwrap().content,
        "built by hand"
    );
}

// ---------------------------------------------------------------------------------------
// The gateway protocol, with a raw WebSocket client
// ---------------------------------------------------------------------------------------

type Ws = WebSocketStream<TcpStream>;

async fn ws_connect(fake: &FakeDiscord) -> Ws {
    let stream = TcpStream::connect(fake.gateway_addr()).await.unwrap();
    let url = format!("{}/?v=10&encoding=json", fake.gateway_url());
    let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
    ws
}

async fn ws_send(ws: &mut Ws, v: Value) {
    ws.send(WsMessage::Text(v.to_string())).await.unwrap();
}

/// The next text frame as JSON; `Err(close code)` when the server closes.
async fn ws_recv(ws: &mut Ws) -> Result<Value, Option<u16>> {
    let wait = async {
        loop {
            match ws.next().await {
                Some(Ok(WsMessage::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
                Some(Ok(WsMessage::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return Err(None),
            }
        }
    };
    tokio::time::timeout(WAIT, wait).await.expect("no frame")
}

/// Skips text frames until the server closes; the close code.
async fn ws_closed(ws: &mut Ws) -> Option<u16> {
    loop {
        if let Err(code) = ws_recv(ws).await {
            return code;
        }
    }
}

fn identify(shard: [u32; 2], intents: u64) -> Value {
    json!({"op": 2, "d": {
        "token": format!("Bot {TOKEN}"), "intents": intents, "shard": shard,
        "properties": {"os": "linux", "browser": "test", "device": "test"}, "compress": true,
    }})
}

#[tokio::test]
async fn gateway_protocol_identify_heartbeat_resume_and_routing() {
    let fake = world()
        .await
        .with_heartbeat_interval(Duration::from_millis(45_000));
    let other_guild = GUILD + (1 << 22); // shard 1 of 2
    fake.add_guild(other_guild, "Other");
    fake.add_text_channel(other_guild, 77, "elsewhere");

    // HELLO, then a wrong token: 4004.
    let mut ws = ws_connect(&fake).await;
    let hello = ws_recv(&mut ws).await.unwrap();
    assert_eq!(hello["op"], 10);
    assert_eq!(hello["d"]["heartbeat_interval"], 45_000);
    ws_send(
        &mut ws,
        json!({"op": 2, "d": {"token": "nope", "intents": 1}}),
    )
    .await;
    assert_eq!(ws_recv(&mut ws).await, Err(Some(4004)));

    // Shard 0 of 2: READY with its guild, GUILD_CREATE, increasing `s`.
    let intents_all = intents::GUILDS
        | intents::GUILD_MESSAGES
        | intents::DIRECT_MESSAGES
        | intents::MESSAGE_CONTENT;
    let mut s0 = ws_connect(&fake).await;
    ws_recv(&mut s0).await.unwrap();
    ws_send(&mut s0, identify([0, 2], intents_all)).await;
    let ready = ws_recv(&mut s0).await.unwrap();
    assert_eq!(
        (
            ready["op"].as_u64(),
            ready["t"].as_str(),
            ready["s"].as_u64()
        ),
        (Some(0), Some("READY"), Some(1))
    );
    assert_eq!(
        ready["d"]["guilds"],
        json!([{"id": GUILD.to_string(), "unavailable": true}])
    );
    assert_eq!(ready["d"]["shard"], json!([0, 2]));
    assert_eq!(ready["d"]["resume_gateway_url"], fake.gateway_url());
    let session = ready["d"]["session_id"].as_str().unwrap().to_owned();
    let guild = ws_recv(&mut s0).await.unwrap();
    assert_eq!(
        (guild["t"].as_str(), guild["s"].as_u64()),
        (Some("GUILD_CREATE"), Some(2))
    );
    assert_eq!(guild["d"]["channels"].as_array().unwrap().len(), 2);

    // Shard 1 of 2 gets the other guild.
    let mut s1 = ws_connect(&fake).await;
    ws_recv(&mut s1).await.unwrap();
    ws_send(&mut s1, identify([1, 2], intents_all)).await;
    let ready1 = ws_recv(&mut s1).await.unwrap();
    assert_eq!(ready1["d"]["guilds"][0]["id"], other_guild.to_string());
    ws_recv(&mut s1).await.unwrap();

    // Heartbeats are ACKed; a second IDENTIFY is refused.
    ws_send(&mut s0, json!({"op": 1, "d": 2})).await;
    assert_eq!(ws_recv(&mut s0).await.unwrap()["op"], 11);

    // Routing: guild messages by shard, DMs to shard 0.
    fake.user_message(77, &alice(), "to shard one");
    fake.user_message(GENERAL, &alice(), "to shard zero");
    fake.user_message(DM, &alice(), "dm");
    let m1 = ws_recv(&mut s1).await.unwrap();
    assert_eq!(m1["d"]["content"], "to shard one");
    assert_eq!(m1["s"], 3);
    let m0 = ws_recv(&mut s0).await.unwrap();
    assert_eq!(
        (m0["d"]["content"].as_str(), m0["s"].as_u64()),
        (Some("to shard zero"), Some(3))
    );
    let dm = ws_recv(&mut s0).await.unwrap();
    assert_eq!(dm["d"]["content"], "dm");
    assert!(dm["d"].get("guild_id").is_none());

    // Drop shard 0's socket (no close frame); events wait in the session.
    drop(s0);
    assert!(
        fake.shared
            .wait_until(WAIT, |s| s
                .sessions
                .iter()
                .any(|x| x.id == session && x.conn.is_none()))
            .await
    );
    let missed = fake.user_message(GENERAL, &bob(), "while away");
    assert!(
        fake.sessions()
            .iter()
            .any(|s| s.id == session && !s.connected && s.resumable)
    );

    // RESUME from seq 3: the DM (4) and the missed message (5), then RESUMED (6).
    let mut again = ws_connect(&fake).await;
    ws_recv(&mut again).await.unwrap();
    ws_send(
        &mut again,
        json!({"op": 6, "d": {"token": format!("Bot {TOKEN}"), "session_id": session, "seq": 3}}),
    )
    .await;
    let replay: Vec<(u64, String)> = {
        let mut out = Vec::new();
        for _ in 0..3 {
            let f = ws_recv(&mut again).await.unwrap();
            out.push((
                f["s"].as_u64().unwrap(),
                f["t"].as_str().unwrap().to_owned(),
            ));
        }
        out
    };
    assert_eq!(
        replay,
        [
            (4, "MESSAGE_CREATE".to_owned()),
            (5, "MESSAGE_CREATE".to_owned()),
            (6, "RESUMED".to_owned())
        ]
    );
    assert_eq!(fake.resumed_count(), 1);
    let history_ids: Vec<String> = fake
        .history(GENERAL)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(history_ids.contains(&missed.to_string()));

    // An unknown session: op 9 false, and the socket stays open for an IDENTIFY.
    let mut stranger = ws_connect(&fake).await;
    ws_recv(&mut stranger).await.unwrap();
    ws_send(
        &mut stranger,
        json!({"op": 6, "d": {"token": TOKEN, "session_id": "nope", "seq": 1}}),
    )
    .await;
    assert_eq!(
        ws_recv(&mut stranger).await.unwrap(),
        json!({"op": 9, "d": false, "s": null, "t": null})
    );
    ws_send(&mut stranger, identify([0, 1], intents::GUILDS)).await;
    assert_eq!(ws_recv(&mut stranger).await.unwrap()["t"], "READY");
    ws_send(&mut stranger, identify([0, 1], intents::GUILDS)).await;
    let _guild_create = ws_recv(&mut stranger).await.unwrap();
    assert_eq!(ws_closed(&mut stranger).await, Some(4005));

    // invalidate_sessions: op 9 now, and the session cannot be resumed.
    fake.invalidate_sessions();
    assert_eq!(ws_recv(&mut again).await.unwrap()["op"], 9);
    assert!(fake.sessions().iter().all(|s| !s.resumable));
    fake.user_message(GENERAL, &alice(), "nobody hears this");
    drop(again);
    let mut late = ws_connect(&fake).await;
    ws_recv(&mut late).await.unwrap();
    ws_send(
        &mut late,
        json!({"op": 6, "d": {"token": TOKEN, "session_id": session, "seq": 6}}),
    )
    .await;
    assert_eq!(ws_recv(&mut late).await.unwrap()["op"], 9);

    // Zombie mode: heartbeats are not ACKed; op 7 asks every connection to reconnect.
    assert_eq!(ws_recv(&mut s1).await.unwrap()["op"], 9);
    fake.set_zombie(true);
    ws_send(&mut s1, json!({"op": 1, "d": 3})).await;
    fake.send_reconnect();
    assert_eq!(ws_recv(&mut s1).await.unwrap()["op"], 7);
    fake.set_zombie(false);

    // Bad payloads.
    ws_send(&mut late, json!({"op": 99})).await;
    assert_eq!(ws_closed(&mut late).await, Some(4001));
    let mut unauth = ws_connect(&fake).await;
    ws_recv(&mut unauth).await.unwrap();
    ws_send(&mut unauth, json!({"op": 3, "d": {}})).await;
    assert_eq!(ws_recv(&mut unauth).await, Err(Some(4003)));
    let mut garbage = ws_connect(&fake).await;
    ws_recv(&mut garbage).await.unwrap();
    garbage.send(WsMessage::Text("{nope".into())).await.unwrap();
    assert_eq!(ws_recv(&mut garbage).await, Err(Some(4002)));

    // A client close with 1000 ends the session.
    let mut polite = ws_connect(&fake).await;
    ws_recv(&mut polite).await.unwrap();
    ws_send(&mut polite, identify([0, 1], 0)).await;
    let polite_session = ws_recv(&mut polite).await.unwrap()["d"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let normal = tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
        reason: "".into(),
    };
    polite.close(Some(normal)).await.unwrap();
    assert!(
        fake.wait_for_gateway_events(1, WAIT, |e| matches!(
            e,
            GatewayEventKind::Disconnected {
                client_close_code: Some(1000),
                ..
            }
        ))
        .await,
        "{:?}",
        fake.gateway_events()
    );
    assert!(fake.sessions().iter().all(|s| s.id != polite_session));

    // refuse_gateway: the TCP connection is closed before the handshake.
    fake.refuse_gateway(true);
    let stream = TcpStream::connect(fake.gateway_addr()).await.unwrap();
    let url = format!("{}/?v=10", fake.gateway_url());
    assert!(tokio_tungstenite::client_async(url, stream).await.is_err());
    fake.refuse_gateway(false);
    assert!(
        fake.gateway_events()
            .iter()
            .any(|e| e.kind == GatewayEventKind::Refused)
    );

    let identifies = fake.identify_count();
    assert_eq!(identifies, 6);
    assert_eq!(fake.resume_count(), 3);
}

// ---------------------------------------------------------------------------------------
// The serenity client
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn serenity_client_receives_ready_guilds_messages_and_interactions() {
    let fake = world().await;
    let mut client = run_client(&fake, all_intents(), false).await;

    let ready = client
        .next(WAIT, |ev| match ev {
            Ev::Ready {
                session_id,
                shard,
                guilds,
                user_id,
                application_id,
            } => Some((session_id, shard, guilds, user_id, application_id)),
            _ => None,
        })
        .await;
    assert_eq!(ready.1, Some((0, 1)));
    assert_eq!(ready.2, [GUILD]);
    assert_eq!(ready.3, fake.bot_user_id());
    assert_eq!(ready.4, fake.application_id());
    assert_eq!(fake.sessions()[0].id, ready.0);
    let guild = client
        .next(WAIT, |ev| match ev {
            Ev::Guild {
                id, name, channels, ..
            } => Some((id, name, channels)),
            _ => None,
        })
        .await;
    assert_eq!(
        guild,
        (
            GUILD,
            "Test Guild".to_owned(),
            vec![
                (GENERAL, "general".to_owned()),
                (RANDOM, "random".to_owned())
            ]
        )
    );
    let identify = fake
        .gateway_events()
        .into_iter()
        .find_map(|e| match e.kind {
            GatewayEventKind::Identify { shard, intents, .. } => Some((shard, intents)),
            _ => None,
        })
        .unwrap();
    assert_eq!(identify, ([0, 1], all_intents().bits()));

    // Users' messages.
    let id = fake.user_message(GENERAL, &alice(), "hola a todos");
    let m = client.user_message(WAIT).await;
    assert_eq!(m.id.get(), id);
    assert_eq!(m.content, "hola a todos");
    assert_eq!(m.author.id.get(), alice().id);
    assert_eq!(m.author.name, "alice");
    assert_eq!(m.guild_id.map(|g| g.get()), Some(GUILD));
    assert_eq!(m.channel_id.get(), GENERAL);
    let reply = fake.user_reply(GENERAL, &bob(), "¡hola!", id);
    let m = client.user_message(WAIT).await;
    assert_eq!(m.id.get(), reply);
    assert_eq!(
        m.message_reference
            .as_ref()
            .and_then(|r| r.message_id)
            .map(|i| i.get()),
        Some(id)
    );
    assert_eq!(
        m.referenced_message.as_ref().unwrap().content,
        "hola a todos"
    );
    fake.user_message(DM, &alice(), "en privado");
    let m = client.user_message(WAIT).await;
    assert_eq!((m.guild_id, m.channel_id.get()), (None, DM));
    let joined = fake.push_message(DcMessage::new(GENERAL, &bob(), "").kind(7));
    let m = client.user_message(WAIT).await;
    assert_eq!((m.id.get(), m.kind), (joined, sy::MessageType::MemberJoin));

    // The bot's own messages come back over the gateway, as on Discord.
    let http = serenity_http(&fake);
    sy::ChannelId::new(GENERAL)
        .say(&*http, "echo")
        .await
        .unwrap();
    let own = client
        .next(WAIT, |ev| match ev {
            Ev::Message { message, .. } if message.author.bot => Some(message),
            _ => None,
        })
        .await;
    assert_eq!(own.author.id.get(), fake.bot_user_id());

    // A slash command: defer, then edit the original response.
    let slash = fake.slash_command(
        GENERAL,
        &alice(),
        "translate",
        &[("text", "hola"), ("to", "en")],
        "es-ES",
    );
    let command = client
        .next(WAIT, |ev| match ev {
            Ev::Interaction(i) => i.command(),
            _ => None,
        })
        .await;
    assert_eq!(command.id.get(), slash.id);
    assert_eq!(command.token, slash.token);
    assert_eq!(command.data.name, "translate");
    assert_eq!(command.data.kind, sy::CommandType::ChatInput);
    assert_eq!(command.locale, "es-ES");
    assert_eq!(command.guild_id.map(|g| g.get()), Some(GUILD));
    assert_eq!(command.user.id.get(), alice().id);
    let options: Vec<(String, Option<String>)> = command
        .data
        .options
        .iter()
        .map(|o| (o.name.clone(), o.value.as_str().map(str::to_owned)))
        .collect();
    assert_eq!(
        options,
        [
            ("text".to_owned(), Some("hola".to_owned())),
            ("to".to_owned(), Some("en".to_owned()))
        ]
    );
    command
        .create_response(
            &*http,
            sy::CreateInteractionResponse::Defer(sy::CreateInteractionResponseMessage::new()),
        )
        .await
        .unwrap();
    let edited = command
        .edit_response(&*http, sy::EditInteractionResponse::new().content("hello"))
        .await
        .unwrap();
    assert_eq!(edited.content, "hello");
    assert!(edited.interaction_metadata.is_some());
    assert_eq!(command.get_response(&*http).await.unwrap().content, "hello");
    let followup = command
        .create_followup(
            &*http,
            sy::CreateInteractionResponseFollowup::new().content("one more"),
        )
        .await
        .unwrap();
    assert_eq!(followup.content, "one more");
    let again = command
        .create_response(
            &*http,
            sy::CreateInteractionResponse::Defer(sy::CreateInteractionResponseMessage::new()),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_error(&again), (400, 40060));
    let callbacks = fake.interaction_callbacks();
    assert_eq!(callbacks.len(), 1);
    assert_eq!(
        (callbacks[0].interaction_id, callbacks[0].kind),
        (slash.id, 5)
    );
    let edits = fake.interaction_edits();
    assert_eq!(
        (edits[0].token.as_str(), edits[0].content.as_str()),
        (slash.token.as_str(), "hello")
    );
    assert_eq!(fake.followups()[0].content, "one more");
    assert!(fake.wait_for_edits(1, Duration::ZERO).await);
    assert!(fake.wait_for_followups(1, Duration::ZERO).await);
    // The deferred response is in the history, filled in by the edit.
    let original = fake
        .history(GENERAL)
        .into_iter()
        .find(|m| m["id"] == edited.id.to_string())
        .unwrap();
    assert_eq!(original["content"], "hello");
    assert_eq!(original["flags"], 0);

    // A message command with its resolved target, answered at once.
    let target = fake.user_message(GENERAL, &bob(), "Guten Tag");
    client.user_message(WAIT).await;
    let menu = fake.message_command(GENERAL, &alice(), "Translate message", target, "en-US");
    let command = client
        .next(WAIT, |ev| match ev {
            Ev::Interaction(i) => i.command(),
            _ => None,
        })
        .await;
    assert_eq!(command.id.get(), menu.id);
    assert_eq!(command.data.kind, sy::CommandType::Message);
    assert_eq!(command.data.target_id.map(|t| t.get()), Some(target));
    let resolved = &command.data.resolved.messages[&sy::MessageId::new(target)];
    assert_eq!(resolved.content, "Guten Tag");
    assert_eq!(resolved.author.id.get(), bob().id);
    command
        .create_response(
            &*http,
            sy::CreateInteractionResponse::Message(
                sy::CreateInteractionResponseMessage::new()
                    .content("Good day")
                    .ephemeral(true),
            ),
        )
        .await
        .unwrap();
    assert_eq!(fake.interaction_callbacks()[1].kind, 4);
    assert_eq!(fake.interaction_callbacks()[1].data["content"], "Good day");
    // Ephemeral: not in the history.
    assert!(
        !fake
            .history(GENERAL)
            .iter()
            .any(|m| m["content"] == "Good day")
    );

    // Too late: Discord wants the callback within 3 s.
    let fake_late = fake.clone().with_interaction_window(Duration::ZERO);
    let late = fake_late.slash_command(DM, &alice(), "help", &[], "en-US");
    let command = client
        .next(WAIT, |ev| match ev {
            Ev::Interaction(i) => i.command(),
            _ => None,
        })
        .await;
    assert_eq!(command.id.get(), late.id);
    assert_eq!(command.guild_id, None);
    let err = command
        .create_response(
            &*http,
            sy::CreateInteractionResponse::Defer(sy::CreateInteractionResponseMessage::new()),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_error(&err), (404, 10062));

    client.stop().await;
    // A clean stop (close code 1000) ends the session.
    assert!(
        fake.shared
            .wait_until(WAIT, |s| s.session_infos().is_empty())
            .await,
        "{:?}",
        fake.sessions()
    );
}

#[tokio::test]
async fn serenity_delivers_replayed_events_once_and_in_order() {
    let fake = world().await;
    let mut client = run_client(&fake, all_intents(), false).await;
    client.ready(WAIT).await;

    fake.drop_connections();
    let missed: Vec<u64> = (0..5)
        .map(|i| fake.user_message(GENERAL, &alice(), &format!("missed {i}")))
        .collect();
    let mut got = Vec::new();
    while got.len() < missed.len() {
        got.push(client.user_message(RECONNECT_WAIT).await.id.get());
    }
    assert_eq!(got, missed);
    client
        .next(WAIT, |ev| matches!(ev, Ev::Resumed).then_some(()))
        .await;
    let marker = fake.user_message(GENERAL, &alice(), "marker");
    assert_eq!(client.user_message(WAIT).await.id.get(), marker);
    assert!(user_message_ids(&client.drain()).is_empty());
    assert_eq!(fake.identify_count(), 1);
    assert_eq!(fake.resumed_count(), 1);
    let resume = fake
        .gateway_events()
        .into_iter()
        .find_map(|e| match e.kind {
            GatewayEventKind::Resume {
                seq,
                accepted,
                replayed,
                ..
            } => Some((seq, accepted, replayed)),
            _ => None,
        })
        .unwrap();
    // READY and GUILD_CREATE were handled; the five messages were replayed.
    assert_eq!(resume, (2, true, 5));
    client.stop().await;
}

#[tokio::test]
async fn invalidated_sessions_make_serenity_reidentify_and_lose_buffered_events() {
    let fake = world().await;
    let mut client = run_client(&fake, all_intents(), false).await;
    let first_session = client.ready(WAIT).await;

    // The connection drops, an event is buffered in the session, and the session is
    // invalidated before serenity comes back: its RESUME gets op 9.
    fake.drop_connections();
    let lost = fake.user_message(GENERAL, &alice(), "lost");
    fake.invalidate_sessions();
    assert!(
        fake.wait_for_identifies(2, RECONNECT_WAIT).await,
        "{}",
        timeline(&fake)
    );
    let second_session = client.ready(WAIT).await;
    assert_ne!(second_session, first_session);
    assert_eq!(fake.identify_count(), 2);
    assert!(fake.gateway_events().iter().any(|e| matches!(
        e.kind,
        GatewayEventKind::Resume {
            accepted: false,
            ..
        }
    )));
    let after = fake.user_message(GENERAL, &alice(), "after");
    let m = client.user_message(WAIT).await;
    assert_eq!(m.id.get(), after);
    assert!(!user_message_ids(&client.drain()).contains(&lost));
    // The lost message is in the history for recovery.
    let http = serenity_http(&fake);
    let history = sy::ChannelId::new(GENERAL)
        .messages(&*http, sy::GetMessages::new().limit(10))
        .await
        .unwrap();
    assert_eq!(history[1].id.get(), lost);

    // op 9 on a live connection: serenity re-identifies again.
    fake.invalidate_sessions();
    assert!(
        fake.wait_for_identifies(3, RECONNECT_WAIT).await,
        "{}",
        timeline(&fake)
    );
    let third_session = client.ready(WAIT).await;
    assert_ne!(third_session, second_session);
    assert_eq!(fake.identify_count(), 3);
    client.stop().await;
}

#[tokio::test]
async fn an_unreachable_gateway_makes_serenity_reidentify_and_lose_buffered_events() {
    let fake = world().await;
    let mut client = run_client(&fake, all_intents(), false).await;
    let first_session = client.ready(WAIT).await;

    fake.refuse_gateway(true);
    fake.drop_connections();
    let lost = fake.user_message(GENERAL, &alice(), "lost while unreachable");
    // serenity tries to RESUME twice in a row, then gives the session up.
    assert!(
        fake.wait_for_gateway_events(2, RECONNECT_WAIT, |e| *e == GatewayEventKind::Refused)
            .await
    );
    fake.refuse_gateway(false);
    assert!(
        fake.wait_for_identifies(2, RECONNECT_WAIT).await,
        "{}",
        timeline(&fake)
    );
    let second_session = client.ready(WAIT).await;
    assert_ne!(first_session, second_session);
    // The old session was still resumable, but serenity identified a new one.
    assert!(
        fake.sessions()
            .iter()
            .any(|s| s.id == first_session && !s.connected && s.resumable)
    );
    let after = fake.user_message(GENERAL, &alice(), "after");
    assert_eq!(client.user_message(WAIT).await.id.get(), after);
    assert!(!user_message_ids(&client.drain()).contains(&lost));
    client.stop().await;
}

#[tokio::test]
async fn zombie_connections_make_serenity_reconnect() {
    let fake = world().await;
    let mut client = run_client(&fake, all_intents(), false).await;
    client.ready(WAIT).await;
    fake.set_zombie(true);
    assert!(
        fake.wait_for_gateway_events(1, RECONNECT_WAIT, |e| matches!(
            e,
            GatewayEventKind::Disconnected { .. }
        ))
        .await
    );
    fake.set_zombie(false);
    assert!(
        fake.shared
            .wait_until(RECONNECT_WAIT, |s| s.identify_count() >= 2
                || s.resume_count(false) >= 1)
            .await
    );
    let unacked = fake
        .gateway_events()
        .iter()
        .filter(|e| matches!(e.kind, GatewayEventKind::Heartbeat { acked: false, .. }))
        .count();
    assert!(unacked >= 1);
    client.ready(RECONNECT_WAIT).await;
    let id = fake.user_message(GENERAL, &alice(), "back");
    assert_eq!(client.user_message(WAIT).await.id.get(), id);
    client.stop().await;
}

#[tokio::test]
async fn op1_and_op7_make_serenity_heartbeat_and_resume() {
    let fake = world()
        .await
        .with_heartbeat_interval(Duration::from_secs(45));
    let mut client = run_client(&fake, all_intents(), false).await;
    client.ready(WAIT).await;

    // op 1: serenity heartbeats at once (long before its 45 s interval).
    let heartbeats = |e: &GatewayEventKind| matches!(e, GatewayEventKind::Heartbeat { .. });
    assert!(
        !fake
            .wait_for_gateway_events(1, Duration::from_millis(200), heartbeats)
            .await
    );
    fake.request_heartbeats();
    assert!(fake.wait_for_gateway_events(1, WAIT, heartbeats).await);

    fake.send_reconnect();
    assert!(
        fake.wait_for_resumed(1, RECONNECT_WAIT).await,
        "{}",
        timeline(&fake)
    );
    let id = fake.user_message(GENERAL, &alice(), "still here");
    assert_eq!(client.user_message(WAIT).await.id.get(), id);
    assert_eq!(fake.identify_count(), 1);
    client.stop().await;
}

#[tokio::test]
async fn autosharded_serenity_gets_guild_events_on_the_right_shard() {
    let fake = world().await.with_shards(2);
    let other_guild = GUILD + (1 << 22);
    fake.add_guild(other_guild, "Other");
    fake.add_text_channel(other_guild, 77, "elsewhere");
    let mut client = run_client(&fake, all_intents(), true).await;
    // serenity boots shards 5 s apart.
    let mut guild_shards = Vec::new();
    while guild_shards.len() < 2 {
        let g = client
            .next(RECONNECT_WAIT, |ev| match ev {
                Ev::Guild { shard, id, .. } => Some((id, shard)),
                _ => None,
            })
            .await;
        guild_shards.push(g);
    }
    guild_shards.sort();
    assert_eq!(guild_shards, [(GUILD, 0), (other_guild, 1)]);
    fake.user_message(77, &alice(), "one");
    fake.user_message(GENERAL, &alice(), "zero");
    fake.user_message(DM, &alice(), "dm");
    let mut got = Vec::new();
    for _ in 0..3 {
        let (shard, content) = client
            .next(WAIT, |ev| match ev {
                Ev::Message { shard, message } if !message.author.bot => {
                    Some((shard, message.content.clone()))
                }
                _ => None,
            })
            .await;
        got.push((shard, content));
    }
    got.sort();
    assert_eq!(
        got,
        [
            (0, "dm".to_owned()),
            (0, "zero".to_owned()),
            (1, "one".to_owned())
        ]
    );
    assert!(
        fake.rest_calls()
            .iter()
            .any(|c| c.path == "/api/v10/gateway/bot")
    );
    client.stop().await;
}

// ---------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn waits_wake_on_changes_and_time_out() {
    let fake = world().await;
    let http = serenity_http(&fake);
    let waiter = tokio::spawn({
        let fake = fake.clone();
        async move { fake.wait_for_created(2, WAIT).await }
    });
    sy::ChannelId::new(GENERAL)
        .say(&*http, "one")
        .await
        .unwrap();
    assert!(!waiter.is_finished());
    sy::ChannelId::new(GENERAL)
        .say(&*http, "two")
        .await
        .unwrap();
    assert!(waiter.await.unwrap());
    assert!(!fake.wait_for_created(3, Duration::from_millis(50)).await);
    assert!(!fake.wait_for_identifies(1, Duration::from_millis(50)).await);
    assert!(!fake.wait_for_resumes(1, Duration::from_millis(50)).await);
    assert!(!fake.wait_for_callbacks(1, Duration::from_millis(50)).await);
    assert!(
        fake.wait_for_rest_calls("post", "/api/v10/channels/", 2, Duration::ZERO)
            .await
    );
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_servers() {
    let fake = world().await;
    let rest = fake.rest_addr();
    let mut ws = ws_connect(&fake).await;
    ws_recv(&mut ws).await.unwrap();
    let clone = fake.clone();
    drop(fake);
    // Still served while a clone is alive.
    reqwest_client()
        .get(format!("http://{rest}/api/v10/gateway"))
        .send()
        .await
        .unwrap();
    drop(clone);
    assert_eq!(ws_recv(&mut ws).await, Err(None));
    let err = reqwest_client()
        .get(format!("http://{rest}/api/v10/gateway"))
        .send()
        .await;
    assert!(err.is_err());
}

/// The gateway events (without ACKed heartbeats) with times relative to the first, for
/// assertion messages.
fn timeline(fake: &FakeDiscord) -> String {
    let events = fake.gateway_events();
    let t0 = events[0].at;
    events
        .iter()
        .filter(|e| !matches!(e.kind, GatewayEventKind::Heartbeat { acked: true, .. }))
        .map(|e| {
            format!(
                "{:>7.3}s #{} {:?}",
                (e.at - t0).as_secs_f64(),
                e.connection,
                e.kind
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
