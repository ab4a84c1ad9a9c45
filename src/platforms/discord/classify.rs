//! Which Discord messages and interactions the bot answers, and how they become [`Inbound`]s.
//!
//! Messages: in a DM, every message from a person; in a guild channel, only those addressed to
//! the bot: a prefix command (`!tr es,fr hello`, `!help`), a message mentioning the bot
//! (`<@id> translate hello to French`; the mention is removed), or a reply to one of the bot's
//! messages. A DM with nothing to read (a picture, a file, a sticker) is answered with what the
//! bot reads ([`Inbound::unreadable`]). Ignored on purpose, with a counted reason: messages from
//! bots (itself included), webhooks, system messages (joins, pins...), messages without text in a
//! server, chatter not addressed to the bot.
//!
//! A reply carries the text of the message it replies to in [`Inbound::quoted`].
//!
//! Interactions: `/translate text:... to:...` becomes `translate <text> to <to>`; the
//! "Translate" message command translates the target message into the user's Discord language
//! (the target's text is the request itself, so `quoted` stays empty).
//!
//! The reply route travels in [`Inbound::reply_to`]: `m:<message id>` for a message,
//! `ie:<application id>:<token>` / `ip:...` for an ephemeral / public interaction response.

use std::sync::Arc;

use serenity::model::application::{CommandDataOptionValue, CommandInteraction, CommandType};
use serenity::model::channel::{Message, MessageFlags, MessageType};

use crate::domain::{ChatKey, ChatKind, Inbound, MessageKey, PlatformId, UserKey, Voice};

/// The slash command's name.
pub const SLASH_COMMAND: &str = "translate";
/// The message context-menu command's name.
pub const MESSAGE_COMMAND: &str = "Translate";

/// Who the bot is, learned from READY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    pub bot: u64,
    pub application: u64,
}

/// What to do with one event.
#[derive(Debug)]
pub enum Classified {
    Answer(Box<Inbound>),
    Ignore(&'static str),
}

/// How a reply reaches the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyRoute<'a> {
    Message(u64),
    Interaction {
        application: u64,
        token: &'a str,
        ephemeral: bool,
    },
}

impl<'a> ReplyRoute<'a> {
    pub fn parse(s: &'a str) -> Option<Self> {
        if let Some(id) = s.strip_prefix("m:") {
            return id.parse().ok().map(ReplyRoute::Message);
        }
        let (ephemeral, rest) = match s.split_once(':')? {
            ("ie", rest) => (true, rest),
            ("ip", rest) => (false, rest),
            _ => return None,
        };
        let (application, token) = rest.split_once(':')?;
        Some(ReplyRoute::Interaction {
            application: application.parse().ok()?,
            token,
            ephemeral,
        })
    }
}

pub fn message(m: &Message, me: Identity, prefix: &str) -> Classified {
    if m.author.bot || m.author.id.get() == me.bot {
        return Classified::Ignore("from_bot");
    }
    if m.webhook_id.is_some() {
        return Classified::Ignore("webhook");
    }
    if !matches!(m.kind, MessageType::Regular | MessageType::InlineReply) {
        return Classified::Ignore("system");
    }
    // A message forwarded to the bot's DMs comes with empty content and the forwarded message
    // in its snapshot; it is read like that text sent to the bot (as on Telegram, where a
    // forward carries its text). In a server a forward cannot address the bot.
    let content = match m.guild_id {
        None if m.content.trim().is_empty() => forwarded(m).unwrap_or_default(),
        _ => m.content.as_str(),
    };
    // A voice message in the DMs is transcribed, then translated like text; in a server it
    // cannot address the bot.
    let voice = voice(m).filter(|_| m.guild_id.is_none());
    // Nothing to read (a picture, a file, a sticker, a poll): in the DMs the user is told what
    // the bot reads; in a server it is chatter.
    let unreadable = content.trim().is_empty() && voice.is_none();
    if unreadable && m.guild_id.is_some() {
        return Classified::Ignore("no_content");
    }
    let (chat_kind, text) = match m.guild_id {
        None => (
            ChatKind::Private,
            from_prefix(content, prefix).unwrap_or_else(|| content.to_string()),
        ),
        Some(_) => match addressed(m, me, prefix) {
            Some(text) => (ChatKind::Group, text),
            None => return Classified::Ignore("not_addressed"),
        },
    };
    Classified::Answer(Box::new(Inbound {
        key: MessageKey {
            chat: ChatKey::new(PlatformId::Discord, m.channel_id.get().to_string()),
            id: m.id.get().to_string().into(),
        },
        user: UserKey::new(PlatformId::Discord, m.author.id.get().to_string()),
        chat_kind,
        reply_to: Some(format!("m:{}", m.id.get()).into()),
        text,
        truncated: None,
        quoted: quoted(m),
        user_language: None,
        voice,
        unreadable,
        received_at: tokio::time::Instant::now(),
    }))
}

/// The voice message `m` is (flag `IS_VOICE_MESSAGE`: one audio attachment), with the
/// attachment's URL as the handle to fetch it by.
fn voice(m: &Message) -> Option<Voice> {
    if !m
        .flags
        .is_some_and(|f| f.contains(MessageFlags::IS_VOICE_MESSAGE))
    {
        return None;
    }
    let audio = m.attachments.first()?;
    Some(Voice {
        file_id: audio.url.as_str().into(),
        // Whole seconds, rounded up; a duration Discord did not give counts as none.
        duration_secs: audio
            .duration_secs
            .filter(|d| d.is_finite() && *d > 0.0)
            .map_or(0, |d| d.ceil().min(f64::from(u32::MAX)) as u32),
        mime_type: audio.content_type.as_deref().map(Arc::from),
    })
}

/// The text of the message `m` forwards, if it forwards one with text.
fn forwarded(m: &Message) -> Option<&str> {
    m.message_snapshots
        .iter()
        .map(|s| s.content.as_str())
        .find(|t| !t.trim().is_empty())
}

/// The text of the message `m` replies to (type 19, whose `referenced_message` Discord includes
/// unless that message was deleted), or of the message that one forwards. `None` when there is
/// no text: an attachment-only message, or content the bot may not read (without the
/// MESSAGE_CONTENT intent it arrives empty).
fn quoted(m: &Message) -> Option<String> {
    if m.kind != MessageType::InlineReply {
        return None;
    }
    let original = m.referenced_message.as_deref()?;
    Some(original.content.as_str())
        .filter(|t| !t.trim().is_empty())
        .or_else(|| forwarded(original))
        .map(str::to_string)
}

/// `!tr es hello` → `/tr es hello` (the parser's command form).
fn from_prefix(content: &str, prefix: &str) -> Option<String> {
    let rest = content.trim_start().strip_prefix(prefix)?;
    let word = rest.split_whitespace().next()?;
    crate::command::NAMES
        .iter()
        .any(|k| word.eq_ignore_ascii_case(k))
        .then(|| format!("/{rest}"))
}

fn addressed(m: &Message, me: Identity, prefix: &str) -> Option<String> {
    if let Some(command) = from_prefix(&m.content, prefix) {
        return Some(command);
    }
    let mentions = [format!("<@{}>", me.bot), format!("<@!{}>", me.bot)];
    if mentions.iter().any(|t| m.content.contains(t.as_str())) {
        let mut text = m.content.clone();
        for t in &mentions {
            text = text.replace(t.as_str(), " ");
        }
        let text = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .trim_matches(|c: char| c == ',' || c == ':' || c.is_whitespace())
            .to_string();
        return Some(from_prefix(&text, prefix).unwrap_or(text));
    }
    let replying_to_bot = m
        .referenced_message
        .as_ref()
        .is_some_and(|r| r.author.id.get() == me.bot);
    replying_to_bot.then(|| m.content.clone())
}

/// The user's Discord language (`es-ES`, `pt-BR`, `zh-CN`) as an ISO 639-1 code the bot knows.
fn locale_language(locale: &str) -> &'static str {
    crate::lang::Lang::lookup(locale).map_or("en", |l| l.code)
}

pub fn interaction(i: &CommandInteraction) -> Classified {
    let string_option = |name: &str| {
        i.data
            .options
            .iter()
            .find(|o| o.name == name)
            .and_then(|o| match &o.value {
                CommandDataOptionValue::String(s) => Some(s.trim().to_string()),
                _ => None,
            })
    };
    let (text, ephemeral) = match (i.data.kind, i.data.name.as_str()) {
        (CommandType::ChatInput, SLASH_COMMAND) => {
            let text = string_option("text").unwrap_or_default();
            let to = string_option("to").unwrap_or_else(|| locale_language(&i.locale).to_string());
            (format!("translate {text} to {to}"), false)
        }
        (CommandType::Message, MESSAGE_COMMAND) => {
            let target = i
                .data
                .target_id
                .and_then(|t| i.data.resolved.messages.get(&t.to_message_id()))
                .map(|m| m.content.trim().to_string())
                .unwrap_or_default();
            if target.is_empty() {
                // The parser answers an empty request with a clear message.
                (String::new(), true)
            } else {
                (
                    format!("translate {target} to {}", locale_language(&i.locale)),
                    true,
                )
            }
        }
        _ => return Classified::Ignore("unknown_command"),
    };
    let chat_kind = if i.guild_id.is_some() {
        ChatKind::Group
    } else {
        ChatKind::Private
    };
    let route = format!(
        "{}:{}:{}",
        if ephemeral { "ie" } else { "ip" },
        i.application_id.get(),
        i.token
    );
    Classified::Answer(Box::new(Inbound {
        key: MessageKey {
            chat: ChatKey::new(PlatformId::Discord, i.channel_id.get().to_string()),
            id: format!("i{}", i.id.get()).into(),
        },
        user: UserKey::new(PlatformId::Discord, i.user.id.get().to_string()),
        chat_kind,
        reply_to: Some(route.into()),
        text,
        truncated: None,
        quoted: None,
        user_language: Some(Arc::from(i.locale.as_str())),
        voice: None,
        unreadable: false,
        received_at: tokio::time::Instant::now(),
    }))
}

/// The slash and message commands the bot registers.
pub fn command_definitions() -> serde_json::Value {
    serde_json::json!([
        {
            "name": SLASH_COMMAND,
            "type": 1,
            "description": "Translate text into one or more languages at once",
            "options": [
                {
                    "type": 3, "name": "text", "required": true, "max_length": 4000,
                    "description": "What to translate"
                },
                {
                    "type": 3, "name": "to", "required": false, "max_length": 200,
                    "description": "Languages, e.g. es, fr, German (default: your Discord language)"
                }
            ]
        },
        { "name": MESSAGE_COMMAND, "type": 3 }
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_routes_round_trip() {
        assert_eq!(ReplyRoute::parse("m:42"), Some(ReplyRoute::Message(42)));
        assert_eq!(
            ReplyRoute::parse("ie:7:tok:en"),
            Some(ReplyRoute::Interaction {
                application: 7,
                token: "tok:en",
                ephemeral: true
            })
        );
        assert_eq!(ReplyRoute::parse("x:1"), None);
        assert_eq!(ReplyRoute::parse("m:abc"), None);
    }

    #[test]
    fn prefix_commands_become_slash_commands() {
        assert_eq!(from_prefix("!tr es hi", "!").as_deref(), Some("/tr es hi"));
        assert_eq!(from_prefix("  !HELP", "!").as_deref(), Some("/HELP"));
        assert_eq!(
            from_prefix("!lang es fr", "!").as_deref(),
            Some("/lang es fr")
        );
        assert_eq!(from_prefix("!history", "!").as_deref(), Some("/history"));
        assert_eq!(from_prefix("!wow", "!"), None);
        assert_eq!(from_prefix("hello", "!"), None);
        assert_eq!(locale_language("pt-BR"), "pt");
        assert_eq!(locale_language("en-US"), "en");
        assert_eq!(locale_language("zz"), "en");
    }

    const GUILD: &str = "1100000000000000000";
    const CHANNEL: &str = "1100000000000000001";
    const BOT: u64 = 1_200_000_000_000_000_001;

    fn me() -> Identity {
        Identity {
            bot: BOT,
            application: 1_200_000_000_000_000_009,
        }
    }

    fn user(id: &str, name: &str) -> serde_json::Value {
        serde_json::json!({"id": id, "username": name, "global_name": name, "discriminator": "0",
            "avatar": null, "public_flags": 0})
    }

    /// A message object as the gateway or REST sends it (no `guild_id`, `member`).
    fn message_json(id: &str, author: serde_json::Value, content: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "channel_id": CHANNEL, "author": author, "content": content,
            "timestamp": "2025-05-01T10:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "components": [], "pinned": false, "type": 0,
            "flags": 0
        })
    }

    /// Alice's `!tr en` in the guild replying to `original` (`null`: deleted), as
    /// MESSAGE_CREATE's `d` carries it.
    fn reply_to(original: serde_json::Value) -> Message {
        let mut m = message_json(
            "1300000000000000050",
            user("1300000000000000001", "alice"),
            "!tr en",
        );
        let reference = serde_json::json!({"type": 0, "channel_id": CHANNEL, "guild_id": GUILD,
            "message_id": original.get("id").cloned().unwrap_or("1300000000000000040".into())});
        if let Some(m) = m.as_object_mut() {
            m.insert("type".into(), 19.into());
            m.insert("guild_id".into(), GUILD.into());
            m.insert(
                "member".into(),
                serde_json::json!({"roles": [], "joined_at":
                "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0}),
            );
            m.insert("message_reference".into(), reference);
            m.insert("referenced_message".into(), original);
        }
        serde_json::from_value(m).expect("gateway message parses")
    }

    fn answered(m: &Message) -> Inbound {
        match message(m, me(), "!") {
            Classified::Answer(i) => *i,
            Classified::Ignore(r) => panic!("ignored: {r}"),
        }
    }

    #[test]
    fn a_reply_carries_the_referenced_messages_text() {
        let bob = user("1300000000000000002", "bob");
        let original = message_json(
            "1300000000000000040",
            bob.clone(),
            "Bis morgen,\nbleibt gesund!",
        );
        let i = answered(&reply_to(original));
        assert_eq!(i.text, "/tr en");
        assert_eq!(i.quoted.as_deref(), Some("Bis morgen,\nbleibt gesund!"));

        // A reply to the bot's own message (addressed without a command) quotes it too.
        let mut from_bot = message_json(
            "1300000000000000041",
            user(&BOT.to_string(), "tolmach"),
            "Spanish: Hola",
        );
        if let Some(m) = from_bot.as_object_mut() {
            m.insert("author".into(), serde_json::json!({"id": BOT.to_string(), "username": "tolmach", "discriminator": "0", "avatar": null, "bot": true}));
        }
        let mut reply = reply_to(from_bot);
        reply.content = "de".into();
        let i = answered(&reply);
        assert_eq!(i.text, "de");
        assert_eq!(i.quoted.as_deref(), Some("Spanish: Hola"));

        let plain: Message = serde_json::from_value(message_json(
            "1300000000000000051",
            user("1300000000000000001", "alice"),
            "!tr en hallo",
        ))
        .expect("parses");
        assert_eq!(answered(&plain).quoted, None, "not a reply");
    }

    #[test]
    fn a_reply_to_something_without_text_quotes_nothing() {
        let bob = user("1300000000000000002", "bob");
        let image = picture_json("1300000000000000040", bob.clone());
        assert_eq!(answered(&reply_to(image)).quoted, None);
        // Deleted before the reply arrived: Discord sends `referenced_message: null`.
        assert_eq!(answered(&reply_to(serde_json::Value::Null)).quoted, None);
    }

    /// A picture without text by `author`, as Discord sends it (in a DM).
    fn picture_json(id: &str, author: serde_json::Value) -> serde_json::Value {
        let mut m = message_json(id, author, "");
        if let Some(o) = m.as_object_mut() {
            o.insert(
                "attachments".into(),
                serde_json::json!([{
                    "id": "1300000000000000099", "filename": "cat.png", "size": 48213,
                    "url": "https://cdn.discordapp.com/attachments/1/2/cat.png",
                    "proxy_url": "https://media.discordapp.net/attachments/1/2/cat.png",
                    "content_type": "image/png", "width": 640, "height": 480
                }]),
            );
        }
        m
    }

    /// A forward of "Le train est annulé." by `author`, as Discord sends it.
    fn forward_json(id: &str, author: serde_json::Value) -> serde_json::Value {
        let mut forward = message_json(id, author, "");
        if let Some(m) = forward.as_object_mut() {
            m.insert(
                "message_reference".into(),
                serde_json::json!({"type": 1,
                "channel_id": "1100000000000000777", "message_id": "1300000000000000007"}),
            );
            m.insert("message_snapshots".into(), serde_json::json!([{"message": {
                "content": "Le train est annulé.", "timestamp": "2025-05-01T09:00:00.000000+00:00",
                "edited_timestamp": null, "mentions": [], "mention_roles": [], "attachments": [],
                "embeds": [], "type": 0, "flags": 0, "components": []
            }}]));
        }
        forward
    }

    #[test]
    fn a_message_forwarded_to_the_dms_is_read_as_its_text() {
        let alice = user("1300000000000000001", "alice");
        let dm: Message =
            serde_json::from_value(forward_json("1300000000000000041", alice.clone()))
                .expect("parses");
        let i = answered(&dm);
        assert_eq!(i.chat_kind, ChatKind::Private);
        assert_eq!(i.text, "Le train est annulé.");
        // In a server it addresses nobody.
        let mut in_guild = forward_json("1300000000000000042", alice);
        if let Some(m) = in_guild.as_object_mut() {
            m.insert("guild_id".into(), GUILD.into());
        }
        let in_guild: Message = serde_json::from_value(in_guild).expect("parses");
        assert!(matches!(
            message(&in_guild, me(), "!"),
            Classified::Ignore("no_content")
        ));
    }

    #[test]
    fn a_dm_with_nothing_to_read_is_answered_and_the_same_in_a_server_is_not() {
        let picture = |guild: bool| {
            let mut m = picture_json("1300000000000000050", user("1300000000000000001", "a"));
            if let Some(o) = m.as_object_mut().filter(|_| guild) {
                o.insert("guild_id".into(), GUILD.into());
            }
            serde_json::from_value::<Message>(m).expect("parses")
        };
        let dm = answered(&picture(false));
        assert!(dm.unreadable && dm.text.is_empty() && dm.voice.is_none());
        assert!(matches!(
            message(&picture(true), me(), "!"),
            Classified::Ignore("no_content")
        ));
        let text: Message = serde_json::from_value(message_json(
            "1300000000000000051",
            user("1300000000000000001", "a"),
            "!tr es hello",
        ))
        .expect("parses");
        assert!(!answered(&text).unreadable);
    }

    #[test]
    fn a_reply_to_a_forwarded_message_quotes_what_was_forwarded() {
        let forward = forward_json("1300000000000000040", user("1300000000000000002", "bob"));
        assert_eq!(
            answered(&reply_to(forward)).quoted.as_deref(),
            Some("Le train est annulé.")
        );
    }
}
