//! `sendMessage` as teloxide builds, sends and reports errors for it, with the answer's result
//! read only as far as "it was sent".
//!
//! teloxide's own request parses the whole sent [`Message`](teloxide::types::Message), which
//! quotes the user's message in full, and the bot uses none of it: ~2.5% of the CPU at
//! saturation (docs/benchmarks.md, fifth round). Worse, a result teloxide cannot parse (a Bot API
//! newer than it, a message it has a bug with) would turn a reply Telegram *accepted* into an
//! error the outbox retries: the same reply posted again. Errors (`ok: false`, flood control,
//! migrated groups) are parsed by teloxide exactly as before.

use std::time::Duration;

use serde::Serialize;
use serde::de::IgnoredAny;
use teloxide::payloads::SendMessage;
use teloxide::requests::Payload;

/// teloxide's [`SendMessage`], answered with nothing the bot has to parse.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct SendReply(pub SendMessage);

impl Payload for SendReply {
    type Output = IgnoredAny;
    const NAME: &'static str = SendMessage::NAME;

    fn timeout_hint(&self) -> Option<Duration> {
        self.0.timeout_hint()
    }
}
