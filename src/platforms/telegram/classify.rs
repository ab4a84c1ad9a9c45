//! Which Telegram updates the bot answers, and how they become [`Inbound`] messages.
//!
//! Answered: messages (text, or a caption of a photo or other media, or a voice message) from a
//! human, in a private chat; and in groups and supergroups only those addressed to the bot: a
//! command (`/tr ...`, `/tr@ThisBot ...`; a command for another bot is not ours), a message
//! mentioning `@ThisBot` (the mention is removed from the text), or a reply to one of the bot's
//! messages. A message sent on behalf of a chat (an anonymous admin, someone writing as their
//! channel) is a person's, and that chat is its user. A sticker or other media without a caption
//! in a private chat is answered too, with what the bot can read ([`Inbound::unreadable`]).
//! Everything else is *ignored on purpose* with a reason that is counted: edits, channel posts
//! (and their automatic copies in a discussion group), messages from bots, media without a
//! caption in groups, service messages, group chatter not addressed to the bot, updates teloxide
//! cannot parse, and every other update kind.
//!
//! A reply carries what it replies to in [`Inbound::quoted`]: the part the user quoted, else the
//! replied-to message's text or caption.

use std::sync::Arc;

use teloxide::types::{Me, MediaKind, Message, MessageKind, Update, UpdateKind};

use crate::domain::{ChatKey, ChatKind, Inbound, MessageKey, PlatformId, UserKey, Voice};

/// What to do with one update.
#[derive(Debug)]
pub enum Classified {
    Answer(Box<Inbound>),
    /// Not for the bot; the reason is a metric label.
    Ignore(&'static str),
}

pub fn classify(update: &Update, me: &Me) -> Classified {
    match &update.kind {
        UpdateKind::Message(m) => message(update.id.0, m, me),
        UpdateKind::EditedMessage(_) | UpdateKind::EditedBusinessMessage(_) => {
            Classified::Ignore("edited")
        }
        UpdateKind::ChannelPost(_) | UpdateKind::EditedChannelPost(_) => {
            Classified::Ignore("channel_post")
        }
        UpdateKind::Error(_) => Classified::Ignore("unparsed"),
        _ => Classified::Ignore("other_kind"),
    }
}

fn message(update_id: u32, m: &Message, me: &Me) -> Classified {
    let Some(from) = &m.from else {
        return Classified::Ignore("no_sender");
    };
    // A channel's post copied into its discussion group (from "Telegram", 777000) is the
    // channel's, not a person's.
    if m.is_automatic_forward() {
        return Classified::Ignore("channel_post");
    }
    // A message sent on behalf of a chat has a placeholder bot as `from`: @GroupAnonymousBot for
    // an anonymous group admin, @Channel_Bot for someone writing as their channel. A person
    // wrote it, so it is answered like anyone else, and the chat it was sent as is the user
    // (for rate limits and quotas: the placeholder is shared by everyone, everywhere).
    let on_behalf_of = m.sender_chat.as_ref().map(|c| c.id.0);
    if from.is_bot && on_behalf_of.is_none() {
        return Classified::Ignore("from_bot");
    }
    let MessageKind::Common(common) = &m.kind else {
        return Classified::Ignore("service");
    };
    let (text, voice, unreadable) = match &common.media_kind {
        MediaKind::Text(t) => (t.text.as_str(), None, false),
        MediaKind::Voice(v) => (
            v.caption.as_deref().unwrap_or(""),
            Some(Voice {
                file_id: v.voice.file.id.0.as_str().into(),
                duration_secs: v.voice.duration.seconds(),
                mime_type: v.voice.mime_type.as_ref().map(|m| m.to_string().into()),
            }),
            false,
        ),
        _ => match m.caption() {
            Some(caption) => (caption, None, false),
            // A sticker, a photo without a caption, a location...: in a private chat the user
            // is told what the bot reads; in a group it is chatter.
            None if m.chat.is_private() => ("", None, true),
            None => return Classified::Ignore("media_without_text"),
        },
    };
    let chat_kind = if m.chat.is_private() {
        ChatKind::Private
    } else if m.chat.is_group() || m.chat.is_supergroup() {
        ChatKind::Group
    } else {
        return Classified::Ignore("channel_post");
    };
    let text = match chat_kind {
        // In a private chat everything is for us (even `/tr@OtherBot`: only we can see it).
        ChatKind::Private => text.to_string(),
        ChatKind::Group => match addressed(m, text, me) {
            Some(t) => t,
            None => return Classified::Ignore("not_addressed"),
        },
    };
    let id = update_id.to_string();
    Classified::Answer(Box::new(Inbound {
        key: MessageKey {
            chat: ChatKey::new(PlatformId::Telegram, m.chat.id.0.to_string()),
            id: id.into(),
        },
        user: UserKey::new(
            PlatformId::Telegram,
            on_behalf_of.map_or_else(|| from.id.0.to_string(), |chat| chat.to_string()),
        ),
        chat_kind,
        reply_to: Some(route(m).into()),
        text,
        truncated: None,
        quoted: quoted(m),
        user_language: from.language_code.as_deref().map(Arc::from),
        voice,
        unreadable,
        received_at: tokio::time::Instant::now(),
    }))
}

/// Where the reply to `m` goes, for [`Inbound::reply_to`]: the message id, and in a forum topic
/// also the topic (`"9:4"`), so that every part of a split reply lands in the user's topic and
/// not only the first (which quotes the message). The topic is named only for a topic message:
/// `message_thread_id` also appears in a reply thread of an ordinary group, where Telegram
/// refuses it. [`parse_route`] reads it back.
fn route(m: &Message) -> String {
    match m.thread_id.filter(|_| m.is_topic_message) {
        Some(thread) => format!("{}:{}", m.id.0, thread.0.0),
        None => m.id.0.to_string(),
    }
}

/// The message id and forum topic in a [`route`]; `None` for what no route looks like.
pub fn parse_route(route: &str) -> Option<(i32, Option<i32>)> {
    match route.split_once(':') {
        Some((id, thread)) => Some((id.parse().ok()?, Some(thread.parse().ok()?))),
        None => Some((route.parse().ok()?, None)),
    }
}

/// What `m` replies to: the part the user quoted (Telegram's `quote`, which is also the only text
/// of a reply to a message in another chat: `external_reply` carries none), else the replied-to
/// message's text or caption. `None` for a reply to a message without text (a sticker, a photo
/// without caption, the service message that opens a forum topic, which every message of the
/// topic "replies" to).
fn quoted(m: &Message) -> Option<String> {
    let quote = m.quote().map(|q| q.text.as_str());
    let original = m.reply_to_message().and_then(|r| r.text().or(r.caption()));
    [quote, original]
        .into_iter()
        .flatten()
        .find(|t| !t.trim().is_empty())
        .map(str::to_string)
}

/// The text of a group message addressed to the bot (mentions of the bot removed), or `None`.
fn addressed(m: &Message, text: &str, me: &Me) -> Option<String> {
    let username = me.user.username.as_deref().unwrap_or_default();
    match command_target(text) {
        Some(Some(target)) => {
            return target
                .eq_ignore_ascii_case(username)
                .then(|| text.to_string());
        }
        Some(None) => return Some(text.to_string()),
        None => {}
    }
    if let Some(stripped) = strip_mention(text, username) {
        return Some(stripped);
    }
    let replying_to_bot = m
        .reply_to_message()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id == me.user.id);
    replying_to_bot.then(|| text.to_string())
}

/// For a command (`/cmd` or `/cmd@name`): `Some(None)` or `Some(Some(name))`. `None` otherwise.
fn command_target(text: &str) -> Option<Option<&str>> {
    let head = text.trim_start().strip_prefix('/')?;
    let word = head.split(char::is_whitespace).next().unwrap_or("");
    if word.is_empty() {
        return None;
    }
    Some(word.split_once('@').map(|(_, name)| name))
}

/// `text` without `@username` (case-insensitive, as a whole word), if it was mentioned.
fn strip_mention(text: &str, username: &str) -> Option<String> {
    if username.is_empty() {
        return None;
    }
    let needle = format!("@{}", username.to_ascii_lowercase());
    let lower = text.to_ascii_lowercase();
    let mut found = false;
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&needle) {
        let start = i + pos;
        let end = start + needle.len();
        let boundary = lower[end..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        out.push_str(&text[i..start]);
        if boundary {
            found = true;
        } else {
            out.push_str(&text[start..end]);
        }
        i = end;
    }
    out.push_str(&text[i..]);
    found.then(|| {
        out.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .trim_matches(|c: char| c == ',' || c == ':' || c.is_whitespace())
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn me() -> Me {
        serde_json::from_value(json!({
            "id": 999, "is_bot": true, "first_name": "Tolmach", "username": "tolmach_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        }))
        .expect("me parses")
    }

    /// Parsed as the platform parses `getUpdates` answers.
    fn parse(v: serde_json::Value) -> Update {
        let text = v.to_string();
        super::super::updates::parse(v, &text).expect("update parses")
    }

    fn update(kind: &str, message: serde_json::Value) -> Update {
        parse(json!({ "update_id": 7, kind: message }))
    }

    fn msg(chat: serde_json::Value, text: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut m = json!({
            "message_id": 5, "date": 1_700_000_000, "chat": chat,
            "from": {"id": 42, "is_bot": false, "first_name": "Ann", "language_code": "es"},
            "text": text
        });
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        m
    }

    fn private() -> serde_json::Value {
        json!({"id": 42, "type": "private", "first_name": "Ann"})
    }

    fn group() -> serde_json::Value {
        json!({"id": -100, "type": "supergroup", "title": "G"})
    }

    fn answered(u: &Update) -> Inbound {
        match classify(u, &me()) {
            Classified::Answer(i) => *i,
            Classified::Ignore(r) => panic!("ignored: {r}"),
        }
    }

    fn ignored(u: &Update) -> &'static str {
        match classify(u, &me()) {
            Classified::Answer(i) => panic!("answered: {i:?}"),
            Classified::Ignore(r) => r,
        }
    }

    #[test]
    fn private_messages_are_answered_with_their_ids_and_language() {
        let i = answered(&update("message", msg(private(), "hello", json!({}))));
        assert_eq!(i.text, "hello");
        assert_eq!(&*i.key.id, "7");
        assert_eq!(&*i.key.chat.chat, "42");
        assert_eq!(i.reply_to.as_deref(), Some("5"));
        assert_eq!(i.user_language.as_deref(), Some("es"));
        assert_eq!(i.chat_kind, ChatKind::Private);
    }

    #[test]
    fn group_messages_only_when_addressed() {
        assert_eq!(
            ignored(&update("message", msg(group(), "just chatting", json!({})))),
            "not_addressed"
        );
        assert_eq!(
            answered(&update("message", msg(group(), "/tr es hi", json!({})))).text,
            "/tr es hi"
        );
        assert_eq!(
            answered(&update(
                "message",
                msg(group(), "/tr@Tolmach_Bot es hi", json!({}))
            ))
            .text,
            "/tr@Tolmach_Bot es hi"
        );
        assert_eq!(
            ignored(&update(
                "message",
                msg(group(), "/tr@other_bot es hi", json!({}))
            )),
            "not_addressed"
        );
        assert_eq!(
            answered(&update(
                "message",
                msg(group(), "@tolmach_bot, translate hi to French", json!({}))
            ))
            .text,
            "translate hi to French"
        );
        assert_eq!(
            ignored(&update(
                "message",
                msg(group(), "mail @tolmach_botany", json!({}))
            )),
            "not_addressed"
        );
        let reply = json!({"reply_to_message": {
            "message_id": 4, "date": 1_700_000_000, "chat": group(),
            "from": {"id": 999, "is_bot": true, "first_name": "Tolmach", "username": "tolmach_bot"},
            "text": "Spanish: Hola"
        }});
        assert_eq!(
            answered(&update("message", msg(group(), "good night -> fr", reply))).text,
            "good night -> fr"
        );
    }

    #[test]
    fn captions_and_voice() {
        let photo = json!({"message_id": 5, "date": 1_700_000_000, "chat": private(),
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "photo": [{"file_id": "p", "file_unique_id": "pu", "width": 1, "height": 1}],
            "caption": "/tr de good morning"});
        assert_eq!(
            answered(&update("message", photo)).text,
            "/tr de good morning"
        );
        let voice = json!({"message_id": 5, "date": 1_700_000_000, "chat": private(),
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "voice": {"file_id": "v1", "file_unique_id": "vu", "duration": 3, "mime_type": "audio/ogg"}});
        let i = answered(&update("message", voice));
        assert_eq!(i.voice.as_ref().map(|v| &*v.file_id), Some("v1"));
        assert_eq!(i.text, "");
    }

    #[test]
    fn everything_else_is_ignored_with_a_reason() {
        assert_eq!(
            ignored(&update(
                "edited_message",
                msg(private(), "x", json!({"edit_date": 1_700_000_001}))
            )),
            "edited"
        );
        let post = json!({"message_id": 1, "date": 1_700_000_000,
            "chat": {"id": -5, "type": "channel", "title": "C"}, "text": "news"});
        assert_eq!(ignored(&update("channel_post", post)), "channel_post");
        let anonymous_admin = msg(
            group(),
            "/tr es hi",
            json!({
                "from": {"id": 1_087_968_824_u64, "is_bot": true, "first_name": "Group",
                         "username": "GroupAnonymousBot"},
                "sender_chat": group()
            }),
        );
        let i = answered(&update("message", anonymous_admin));
        assert_eq!(i.text, "/tr es hi");
        assert_eq!(
            &*i.user.user, "-100",
            "the group is the user, not the placeholder"
        );
        let as_channel = msg(
            group(),
            "/tr es hi",
            json!({
                "from": {"id": 136_817_688_u64, "is_bot": true, "first_name": "Channel",
                         "username": "Channel_Bot"},
                "sender_chat": {"id": -1_009_876, "type": "channel", "title": "Ann's channel"}
            }),
        );
        assert_eq!(
            &*answered(&update("message", as_channel)).user.user,
            "-1009876"
        );
        let auto_forward = msg(
            group(),
            "/tr es news @ThisBot",
            json!({
                "from": {"id": 777_000, "is_bot": false, "first_name": "Telegram"},
                "sender_chat": {"id": -1_009_876, "type": "channel", "title": "Ann's channel"},
                "is_automatic_forward": true
            }),
        );
        assert_eq!(ignored(&update("message", auto_forward)), "channel_post");
        let from_bot = msg(
            private(),
            "hi",
            json!({"from": {"id": 7, "is_bot": true, "first_name": "B"}}),
        );
        assert_eq!(ignored(&update("message", from_bot)), "from_bot");
        let sticker = |chat| {
            json!({"message_id": 5, "date": 1_700_000_000, "chat": chat,
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "sticker": {"file_id": "s", "file_unique_id": "su", "type": "regular", "width": 1,
                        "height": 1, "is_animated": false, "is_video": false}})
        };
        assert_eq!(
            ignored(&update("message", sticker(group()))),
            "media_without_text"
        );
        // In a private chat the user is told what the bot reads.
        let hint = answered(&update("message", sticker(private())));
        assert!(hint.unreadable && hint.text.is_empty() && hint.voice.is_none());
        let location = json!({"message_id": 6, "date": 1_700_000_000, "chat": private(),
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "location": {"latitude": 52.5, "longitude": 13.4}});
        assert!(answered(&update("message", location)).unreadable);
        let photo_with_caption = json!({"message_id": 7, "date": 1_700_000_000,
            "chat": private(), "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "photo": [{"file_id": "p", "file_unique_id": "pu", "width": 1, "height": 1}],
            "caption": "/tr es hello"});
        let captioned = answered(&update("message", photo_with_caption));
        assert!(!captioned.unreadable && captioned.text == "/tr es hello");
        let joined = json!({"message_id": 5, "date": 1_700_000_000, "chat": group(),
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "new_chat_members": [{"id": 43, "is_bot": false, "first_name": "Bo"}]});
        assert_eq!(ignored(&update("message", joined)), "service");
        let weird = parse(json!({"update_id": 8, "brand_new_kind": {"x": 1}}));
        assert!(matches!(classify(&weird, &me()), Classified::Ignore(_)));
    }

    /// A supergroup with topics, as the Bot API describes it in messages.
    fn forum() -> serde_json::Value {
        json!({"id": -1_001_847_508_954_i64, "title": "Reisen", "is_forum": true, "type": "supergroup"})
    }

    fn bob() -> serde_json::Value {
        json!({"id": 50, "is_bot": false, "first_name": "Bob", "username": "bob_b", "language_code": "de"})
    }

    fn ann() -> serde_json::Value {
        json!({"id": 42, "is_bot": false, "first_name": "Ann", "username": "ann_a", "language_code": "en"})
    }

    /// Ann's `/tr en` in `chat` as the Bot API delivers it, with `extra` fields (the reply).
    fn tr_en(chat: serde_json::Value, extra: serde_json::Value) -> Update {
        parse(tr_en_json(chat, extra))
    }

    /// [`tr_en`], unparsed.
    fn tr_en_json(chat: serde_json::Value, extra: serde_json::Value) -> serde_json::Value {
        let mut m = json!({
            "message_id": 12, "from": ann(), "chat": chat, "date": 1_700_000_100,
            "text": "/tr en", "entities": [{"offset": 0, "length": 3, "type": "bot_command"}]
        });
        if let (Some(m), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        json!({"update_id": 900_001, "message": m})
    }

    #[test]
    fn a_reply_carries_the_users_quote_over_the_whole_message() {
        let original = json!({
            "message_id": 11, "from": bob(), "chat": group(), "date": 1_700_000_000,
            "text": "Guten Morgen zusammen! Wie geht's euch heute?"
        });
        let quote = json!({"text": "Wie geht's euch heute?", "position": 23, "is_manual": true});
        let i = answered(&tr_en(
            group(),
            json!({"reply_to_message": original.clone(), "quote": quote}),
        ));
        assert_eq!(i.text, "/tr en");
        assert_eq!(i.quoted.as_deref(), Some("Wie geht's euch heute?"));

        let i = answered(&tr_en(group(), json!({"reply_to_message": original})));
        assert_eq!(
            i.quoted.as_deref(),
            Some("Guten Morgen zusammen! Wie geht's euch heute?")
        );
        let i = answered(&update("message", msg(private(), "/tr en hi", json!({}))));
        assert_eq!(i.quoted, None, "not a reply");
    }

    #[test]
    fn a_reply_to_media_carries_its_caption_or_nothing() {
        let photo = json!({
            "message_id": 11, "from": bob(), "chat": group(), "date": 1_700_000_000,
            "media_group_id": "13579",
            "photo": [
                {"file_id": "AgACAgIAAxk-s", "file_unique_id": "AQADs", "file_size": 1254, "width": 90, "height": 68},
                {"file_id": "AgACAgIAAxk-b", "file_unique_id": "AQADb", "file_size": 48213, "width": 1280, "height": 960}
            ],
            "caption": "Blick vom Balkon\nheute früh",
            "caption_entities": [{"offset": 0, "length": 5, "type": "bold"}]
        });
        let i = answered(&tr_en(group(), json!({"reply_to_message": photo})));
        assert_eq!(i.quoted.as_deref(), Some("Blick vom Balkon\nheute früh"));

        let sticker = json!({
            "message_id": 11, "from": bob(), "chat": group(), "date": 1_700_000_000,
            "sticker": {"file_id": "CAACAgIAAxk", "file_unique_id": "AgADs", "type": "regular",
                        "width": 512, "height": 512, "is_animated": false, "is_video": false,
                        "emoji": "👍", "set_name": "HotCherry", "file_size": 23456}
        });
        let i = answered(&tr_en(group(), json!({"reply_to_message": sticker})));
        assert_eq!(i.quoted, None);

        let bare_photo = json!({
            "message_id": 11, "from": bob(), "chat": group(), "date": 1_700_000_000,
            "photo": [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 68}]
        });
        let i = answered(&tr_en(group(), json!({"reply_to_message": bare_photo})));
        assert_eq!(i.quoted, None, "a photo without caption");
    }

    #[test]
    fn in_a_forum_topic_only_a_real_reply_quotes() {
        // Every message of a topic "replies" to the service message that created the topic.
        let topic_root = json!({
            "message_id": 4, "message_thread_id": 4, "is_topic_message": true,
            "from": bob(), "chat": forum(), "date": 1_675_229_139,
            "forum_topic_created": {"name": "Berlin", "icon_color": 9_367_192}
        });
        let i = answered(&tr_en(
            forum(),
            json!({"message_thread_id": 4, "is_topic_message": true, "reply_to_message": topic_root}),
        ));
        assert_eq!(i.quoted, None);

        let in_topic = json!({
            "message_id": 9, "message_thread_id": 4, "is_topic_message": true,
            "from": bob(), "chat": forum(), "date": 1_675_229_200,
            "text": "Treffen wir uns am Bahnhof?"
        });
        let i = answered(&tr_en(
            forum(),
            json!({"message_thread_id": 4, "is_topic_message": true, "reply_to_message": in_topic}),
        ));
        assert_eq!(i.quoted.as_deref(), Some("Treffen wir uns am Bahnhof?"));
    }

    #[test]
    fn a_topic_message_is_answered_in_its_topic() {
        let i = answered(&tr_en(
            forum(),
            json!({"message_id": 9, "message_thread_id": 4, "is_topic_message": true}),
        ));
        assert_eq!(i.reply_to.as_deref(), Some("9:4"));
        assert_eq!(parse_route("9:4"), Some((9, Some(4))));
        // A reply thread in a group that is not a forum names no topic.
        let i = answered(&tr_en(
            group(),
            json!({"message_id": 9, "message_thread_id": 4}),
        ));
        assert_eq!(i.reply_to.as_deref(), Some("9"));
        assert_eq!(parse_route("9"), Some((9, None)));
        assert_eq!(parse_route("9:x"), None);
        assert_eq!(parse_route(""), None);
    }

    #[test]
    fn a_reply_to_another_chat_carries_only_its_quote() {
        let news = json!({"id": -1_001_234_567_890_i64, "title": "Nachrichten", "username": "nachrichten", "type": "channel"});
        let external = json!({
            "origin": {"type": "channel", "chat": news, "message_id": 77, "date": 1_700_000_000},
            "chat": news, "message_id": 77,
            "photo": [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 68}]
        });
        let quote = json!({"text": "Der Zug fällt aus.", "position": 0});
        let i = answered(&tr_en(
            private(),
            json!({"external_reply": external.clone(), "quote": quote}),
        ));
        assert_eq!(i.quoted.as_deref(), Some("Der Zug fällt aus."));
        // Without a quote Telegram sends no text of the other chat's message.
        let i = answered(&tr_en(private(), json!({"external_reply": external})));
        assert_eq!(i.quoted, None);
    }

    /// A channel post, as the `external_reply` of a reply to it from another chat describes it
    /// (a text: no media field, the case teloxide#1420 cannot parse).
    fn channel_text_elsewhere() -> serde_json::Value {
        let news = json!({"id": -1_001_234_567_890_i64, "title": "Nachrichten", "username": "nachrichten", "type": "channel"});
        json!({
            "origin": {"type": "channel", "chat": news, "message_id": 77, "date": 1_700_000_000,
                       "author_signature": "Redaktion"},
            "chat": news, "message_id": 77,
            "link_preview_options": {"is_disabled": true}
        })
    }

    #[test]
    fn a_reply_to_a_text_in_another_chat_keeps_the_users_text_and_quote() {
        // teloxide#1420: parsed by teloxide alone, the user's message would be empty.
        let quote = json!({"text": "Der Zug fällt aus.", "position": 0, "is_manual": true});
        let i = answered(&tr_en(
            private(),
            json!({"external_reply": channel_text_elsewhere(), "quote": quote}),
        ));
        assert_eq!(i.text, "/tr en");
        assert_eq!(i.quoted.as_deref(), Some("Der Zug fällt aus."));
        assert_eq!(&*i.key.id, "900001");
        assert_eq!(i.reply_to.as_deref(), Some("12"));

        // A text by a person in a supergroup, replied to from a group without a quote: Telegram
        // sends none of its text, so there is nothing quoted.
        let elsewhere =
            json!({"id": -1_009_876_543_210_i64, "title": "Pendler", "type": "supergroup"});
        let external = json!({
            "origin": {"type": "user", "sender_user": bob(), "date": 1_700_000_000},
            "chat": elsewhere, "message_id": 3051
        });
        let i = answered(&tr_en(group(), json!({"external_reply": external})));
        assert_eq!(i.text, "/tr en");
        assert_eq!(i.quoted, None);
    }

    #[test]
    fn an_update_broken_for_another_reason_is_still_ignored() {
        // A cross-chat reply whose own content teloxide does not know (a newer Bot API): without
        // `external_reply` it is still empty, so it is ignored as before.
        let mut raw = tr_en_json(
            private(),
            json!({"external_reply": channel_text_elsewhere()}),
        );
        if let Some(m) = raw["message"].as_object_mut() {
            m.remove("text");
            m.remove("entities");
            m.insert("future_content".into(), json!({"title": "?"}));
        }
        assert_eq!(ignored(&parse(raw)), "service");
        // A malformed message teloxide cannot parse at all.
        let mut raw = tr_en_json(
            private(),
            json!({"external_reply": channel_text_elsewhere()}),
        );
        raw["message"]["message_id"] = json!("twelve");
        assert_eq!(ignored(&parse(raw)), "unparsed");
    }

    #[test]
    fn quoted_text_passes_through_like_text() {
        // Control characters are the parser's business, for `text` and `quoted` alike.
        let original = json!({
            "message_id": 11, "from": bob(), "chat": group(), "date": 1_700_000_000,
            "text": "a\u{7}b\tc\u{200b}d"
        });
        let i = answered(&tr_en(group(), json!({"reply_to_message": original})));
        assert_eq!(i.quoted.as_deref(), Some("a\u{7}b\tc\u{200b}d"));
        let long = "ä".repeat(4096);
        let original = json!({
            "message_id": 11, "from": bob(), "chat": group(), "date": 1_700_000_000, "text": long
        });
        let i = answered(&tr_en(group(), json!({"reply_to_message": original})));
        assert_eq!(i.quoted.as_deref(), Some(long.as_str()));
        assert_eq!(i.truncated, None);
    }
}
