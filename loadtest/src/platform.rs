//! The fake platform the load runs on, seen from the users' side.
//!
//! [`Fake`] wraps the test kit's fake Telegram or Discord: it posts users' messages, and at
//! the end of a run reads back what the bot sent ([`Reply`]) and when each message was
//! first offered to the bot, which is where a message's latency starts.

use std::collections::HashMap;
use std::time::Instant;

use tolmach_testkit::{FakeDiscord, FakeTelegram, Fault, Limits, TgChat, TgUser};

use crate::mix::{Arrival, ChatRef};
use crate::scenario::PlatformKind;

pub const TELEGRAM_TOKEN: &str = "7000000001:LOADTEST-token-not-a-secret";
pub const DISCORD_TOKEN: &str = "bG9hZHRlc3Q.not-a-secret.discord-token-for-the-fake";
const GUILD: u64 = 900_000_001;

/// A message the bot sent, as the fake received it.
#[derive(Clone, Debug)]
pub struct Reply {
    pub chat: i64,
    /// The user's message it quotes (the first part of a split reply quotes; the rest not).
    pub reply_to: Option<i64>,
    pub text_len: usize,
    pub at: Instant,
}

/// A fake platform with the users' handles.
#[derive(Clone)]
pub enum Fake {
    Telegram(FakeTelegram),
    Discord(FakeDiscord),
}

impl Fake {
    pub async fn start(kind: PlatformKind) -> std::io::Result<Fake> {
        Ok(match kind {
            PlatformKind::Telegram => Fake::Telegram(FakeTelegram::start(TELEGRAM_TOKEN).await?),
            PlatformKind::Discord => Fake::Discord(FakeDiscord::start(DISCORD_TOKEN).await?),
        })
    }

    pub fn kind(&self) -> PlatformKind {
        match self {
            Fake::Telegram(_) => PlatformKind::Telegram,
            Fake::Discord(_) => PlatformKind::Discord,
        }
    }

    /// The bot's username, as commands in groups address it.
    pub fn bot_username(&self) -> String {
        match self {
            Fake::Telegram(t) => t.bot_username(),
            Fake::Discord(d) => d.bot_user().name.clone(),
        }
    }

    /// Environment pointing a bot at this fake.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Fake::Telegram(t) => vec![
                ("TELEGRAM_BOT_TOKEN", TELEGRAM_TOKEN.to_owned()),
                ("TELEGRAM_API_URL", t.api_url()),
            ],
            Fake::Discord(d) => vec![
                ("DISCORD_BOT_TOKEN", DISCORD_TOKEN.to_owned()),
                ("DISCORD_API_URL", d.rest_url()),
            ],
        }
    }

    /// Creates the chats the fake must know before anyone writes in them (Discord's guild
    /// channels; Telegram makes chats up as messages arrive).
    pub fn prepare(&self, chats: impl Iterator<Item = ChatRef>) {
        if let Fake::Discord(d) = self {
            d.add_guild(GUILD, "loadtest");
            for chat in chats.filter(|c| c.group) {
                let id = chat.platform_id(PlatformKind::Discord) as u64;
                d.add_text_channel(GUILD, id, &format!("room-{}", chat.index));
            }
        }
    }

    /// Turns Telegram's flood limits on (Discord's fake enforces none).
    pub fn enforce_real_limits(&self) {
        if let Fake::Telegram(t) = self {
            t.set_limits(Some(Limits::telegram()));
        }
    }

    /// Posts a user's message; returns the platform's message id.
    pub fn post(&self, a: &Arrival) -> i64 {
        match self {
            Fake::Telegram(t) => {
                let id = a.chat.platform_id(PlatformKind::Telegram);
                let user = TgUser::new(a.user, "User").language("en");
                let chat = if a.chat.group {
                    TgChat::supergroup(id, "Load test room")
                } else {
                    TgChat::private_with(&user)
                };
                let update = t.send_text(&chat, &user, &a.text);
                t.message_id_of(update).unwrap_or(-1)
            }
            Fake::Discord(d) => {
                let channel = a.chat.platform_id(PlatformKind::Discord) as u64;
                let user = tolmach_testkit::DcUser::new(a.user as u64, "user");
                d.user_message(channel, &user, &a.text) as i64
            }
        }
    }

    /// Drops the bot's connection: Discord's gateway; for Telegram, the next three
    /// `getUpdates` fail with a 502, as from a proxy in front of the Bot API.
    pub fn drop_connection(&self) {
        match self {
            Fake::Telegram(t) => t.fail_next("getUpdates", Fault::ServerError(502), 3),
            Fake::Discord(d) => d.drop_connections(),
        }
    }

    /// Every message the bot sent, in the order the fake received them.
    pub fn replies(&self) -> Vec<Reply> {
        match self {
            Fake::Telegram(t) => t
                .sent()
                .into_iter()
                .map(|s| Reply {
                    chat: s.chat_id,
                    reply_to: s.reply_to_message_id,
                    text_len: s.text.chars().count(),
                    at: s.at,
                })
                .collect(),
            Fake::Discord(d) => d
                .created_messages()
                .into_iter()
                .map(|m| Reply {
                    chat: m.channel_id as i64,
                    reply_to: m.message_reference.map(|r| r as i64),
                    text_len: m.content.chars().count(),
                    at: m.at,
                })
                .collect(),
        }
    }

    /// Number of messages the bot sent so far.
    pub fn reply_count(&self) -> usize {
        match self {
            Fake::Telegram(t) => t.sent_count(),
            Fake::Discord(d) => d.created_count(),
        }
    }

    /// When each message (chat, message id) was first offered to the bot. Telegram: the
    /// first `getUpdates` that returned it. Discord: none (the gateway pushes a message the
    /// moment it is posted, so the post time stands).
    pub fn offers(&self) -> HashMap<(i64, i64), Instant> {
        match self {
            Fake::Telegram(t) => t
                .offers()
                .into_values()
                .filter_map(|(at, msg)| msg.map(|m| (m, at)))
                .collect(),
            Fake::Discord(_) => HashMap::new(),
        }
    }

    /// Sends the fake refused with 429 (Telegram's flood limits).
    pub fn flood_refusals(&self) -> usize {
        match self {
            Fake::Telegram(t) => t
                .calls()
                .iter()
                .filter(|c| c.method == "sendmessage" && c.status == 429)
                .count(),
            Fake::Discord(d) => d.rest_calls().iter().filter(|c| c.status == 429).count(),
        }
    }

    /// Times the bot polled or (re)connected, in order: Telegram `getUpdates` calls, Discord
    /// gateway IDENTIFYs and RESUMEs.
    pub fn connects(&self) -> Vec<Instant> {
        let mut at: Vec<Instant> = match self {
            Fake::Telegram(t) => t
                .calls()
                .iter()
                .filter(|c| c.method == "getupdates")
                .map(|c| c.at)
                .collect(),
            Fake::Discord(d) => d
                .gateway_events()
                .iter()
                .filter(|e| {
                    matches!(
                        e.kind,
                        tolmach_testkit::GatewayEventKind::Identify { .. }
                            | tolmach_testkit::GatewayEventKind::Resume { .. }
                    )
                })
                .map(|e| e.at)
                .collect(),
        };
        at.sort();
        at
    }
}
