//! `getUpdates` fetched as raw JSON and parsed here with teloxide's own types, so an update
//! teloxide parses badly can be parsed again (see [`parse`]).

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use teloxide::payloads::GetUpdates;
use teloxide::requests::Payload;
use teloxide::types::{MessageKind, Update, UpdateKind};

/// teloxide's [`GetUpdates`], answered as one raw JSON object per update.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct RawGetUpdates(pub GetUpdates);

impl Payload for RawGetUpdates {
    type Output = Vec<Value>;
    const NAME: &'static str = GetUpdates::NAME;

    fn timeout_hint(&self) -> Option<Duration> {
        self.0.timeout_hint()
    }
}

/// The fields of an update that hold a message.
const MESSAGE_FIELDS: [&str; 6] = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_message",
    "edited_business_message",
];

/// One update of a `getUpdates` answer, as teloxide parses it, except for one known bug.
/// `None` without a valid `update_id` (teloxide would reject the whole batch).
///
/// Workaround for teloxide#1420 (teloxide 0.17 / teloxide-core 0.13): `ExternalReplyInfo`, the
/// `external_reply` of a reply to a message in *another* chat, has no variant for a text
/// message, so such a reply parses as `MessageKind::Empty` and the user's own text and `quote`
/// are lost. A message left unparsed that has an `external_reply` is parsed again without it.
/// Lost with it: only the description of the other chat's message (origin, chat, media), which
/// the bot does not use; the `quote` (the only text of it Telegram sends) stays, and becomes
/// `Inbound::quoted`. An update still unparsed stays as teloxide left it (ignored, counted), with
/// its raw JSON in `UpdateKind::Error` as teloxide would give it.
///
/// `text` is `raw` serialized: the caller has it already (it is what the inbox keeps), so it is
/// not serialized again.
pub fn parse(raw: Value, text: &str) -> Option<Update> {
    let mut update: Update = serde_json::from_str(text).ok()?;
    if unparsed(&update)
        && let Some(retried) = without_external_reply(&raw)
            .and_then(|v| from_text(&v))
            .filter(|u| !unparsed(u))
    {
        tracing::debug!(
            update_id = retried.id.0,
            "telegram: update parsed without its external_reply (teloxide#1420)"
        );
        return Some(retried);
    }
    if let UpdateKind::Error(dest) = &mut update.kind {
        *dest = raw;
    }
    Some(update)
}

/// Parsed from text, as teloxide does: its `Update` does not parse reliably from a `Value`.
fn from_text(v: &Value) -> Option<Update> {
    serde_json::from_str(&v.to_string()).ok()
}

/// Whether teloxide failed to parse the update, or the message in it.
fn unparsed(u: &Update) -> bool {
    match &u.kind {
        UpdateKind::Message(m)
        | UpdateKind::EditedMessage(m)
        | UpdateKind::ChannelPost(m)
        | UpdateKind::EditedChannelPost(m)
        | UpdateKind::BusinessMessage(m)
        | UpdateKind::EditedBusinessMessage(m) => matches!(m.kind, MessageKind::Empty {}),
        UpdateKind::Error(_) => true,
        _ => false,
    }
}

/// `raw` without the `external_reply` of its message, if it had one.
fn without_external_reply(raw: &Value) -> Option<Value> {
    let mut v = raw.clone();
    let mut removed = false;
    for field in MESSAGE_FIELDS {
        if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
            removed |= m.remove("external_reply").is_some();
        }
    }
    removed.then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`parse`] of a JSON value.
    fn parse_value(raw: Value) -> Option<Update> {
        let text = raw.to_string();
        parse(raw, &text)
    }
    use serde_json::json;

    fn news() -> Value {
        json!({"id": -1_001_234_567_890_i64, "title": "Nachrichten", "type": "channel"})
    }

    /// A private `/tr en` replying to a channel post with `external_reply` `content` fields.
    fn cross_chat_reply(content: Value) -> Value {
        let mut external = json!({
            "origin": {"type": "channel", "chat": news(), "message_id": 77, "date": 1_700_000_000},
            "chat": news(), "message_id": 77
        });
        if let (Some(e), Some(c)) = (external.as_object_mut(), content.as_object()) {
            e.extend(c.clone());
        }
        json!({"update_id": 31, "message": {
            "message_id": 12, "date": 1_700_000_100,
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": 42, "type": "private", "first_name": "Ann"},
            "text": "/tr en", "entities": [{"offset": 0, "length": 3, "type": "bot_command"}],
            "external_reply": external,
            "quote": {"text": "Der Zug fällt aus.", "position": 0}
        }})
    }

    fn external_reply(m: &teloxide::types::Message) -> bool {
        matches!(&m.kind, MessageKind::Common(c) if c.external_reply.is_some())
    }

    fn message(u: &Update) -> &teloxide::types::Message {
        match &u.kind {
            UpdateKind::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    /// When this fails, teloxide parses such replies itself and [`parse`] can go back to plain
    /// teloxide parsing.
    #[test]
    fn teloxide_alone_still_loses_a_reply_to_a_text_in_another_chat() {
        let raw = cross_chat_reply(json!({}));
        let u: Update = serde_json::from_str(&raw.to_string()).expect("parses");
        assert!(matches!(message(&u).kind, MessageKind::Empty {}));
    }

    #[test]
    fn a_reply_to_a_text_in_another_chat_is_parsed_without_external_reply() {
        let u = parse_value(cross_chat_reply(json!({}))).expect("parses");
        assert_eq!(u.id.0, 31);
        let m = message(&u);
        assert_eq!(m.text(), Some("/tr en"));
        assert_eq!(
            m.quote().map(|q| q.text.as_str()),
            Some("Der Zug fällt aus.")
        );
        assert!(!external_reply(m));
    }

    #[test]
    fn what_teloxide_parses_is_left_alone() {
        let photo = json!({"photo": [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 68}]});
        let u = parse_value(cross_chat_reply(photo)).expect("parses");
        assert!(external_reply(message(&u)), "kept");
        assert_eq!(message(&u).text(), Some("/tr en"));
    }

    #[test]
    fn what_stays_unparsed_keeps_its_raw_json_and_a_missing_id_is_none() {
        let mut raw = cross_chat_reply(json!({}));
        raw["message"]["message_id"] = json!("twelve");
        let u = parse_value(raw.clone()).expect("has an id");
        assert_eq!(u.id.0, 31);
        match &u.kind {
            UpdateKind::Error(v) => assert_eq!(v, &raw),
            other => panic!("{other:?}"),
        }
        assert!(parse_value(json!({"message": raw["message"].clone()})).is_none());
        assert!(parse_value(json!("not an update")).is_none());
    }

    #[test]
    fn only_the_message_fields_are_touched() {
        let raw = json!({"update_id": 1, "message": {"external_reply": {}, "text": "x"},
            "other": {"external_reply": {}}});
        let stripped = without_external_reply(&raw).expect("removed");
        assert_eq!(
            stripped,
            json!({"update_id": 1, "message": {"text": "x"}, "other": {"external_reply": {}}})
        );
        assert_eq!(
            without_external_reply(&json!({"update_id": 1, "poll": {}})),
            None
        );
    }
}
