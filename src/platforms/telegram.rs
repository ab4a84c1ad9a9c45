//! The Telegram platform: the real teloxide client, long polling, a durable cursor.
//!
//! Input: `getUpdates` long polling, fetched as raw JSON and parsed by [`updates::parse`] (with
//! teloxide's types, working around teloxide#1420). Each update is either answered (see
//! [`classify`]) or ignored on purpose (counted). An update to answer is *accepted* by writing it
//! to the inbox in SQLite ([`Store::accept`]), in the same transaction that moves the cursor (the
//! `offset` Telegram is asked to resume from) past the whole batch: from then on Telegram may
//! forget it, and the next poll already asks for newer updates, however long this one takes to
//! answer. Its answer deletes it from the inbox. After a crash the updates left in the inbox are
//! answered again, before anything new. `docs/adr/0007-telegram-delivery.md` states the
//! guarantee precisely.
//!
//! Output: `sendMessage` ([`send`]: its result is not parsed, only its errors) as plain text
//! (no parse mode, so no user text can break a send), replying to the user's message (`allow_sending_without_reply`, so a deleted original does not
//! lose the answer), paced within Telegram's limits by the outbox. A group migrated to a
//! supergroup gets the reply in the supergroup.
//!
//! The token is a [`Secret`]; errors are described without the request URL (which contains the
//! token) and without response bodies (which contain user text).
//!
//! The transport state (the bot client, the buffer of fetched updates, the cursor) lives here, in
//! the platform object, not in the session actor: a killed session loses nothing.

mod classify;
mod send;
mod updates;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use teloxide::net::Download;
use teloxide::payloads::{GetUpdates, SendMessage};
use teloxide::prelude::*;
use teloxide::requests::JsonRequest;
use teloxide::types::{AllowedUpdate, FileId, Me, MessageId, ReplyParameters, ThreadId};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Notify, OnceCell, watch};

use self::classify::{Classified, classify};
use self::send::SendReply;
use self::updates::RawGetUpdates;
use super::{Connection, ConnectionCell, MediaError, Platform, SendError};
use crate::config::TelegramConfig;
use crate::delivery::pacing::Pacing;
use crate::domain::{Inbound, MessageKey, Outbound, PlatformId, Voice};
use crate::secret::Secret;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

/// Telegram's limit on one message, in UTF-16 code units.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// Most updates accepted and not answered yet: past it, polling waits for answers (the bot
/// is overloaded; updates wait at Telegram rather than in memory).
const MAX_IN_FLIGHT: usize = 10_000;

const STORE_KEY: &str = "telegram";

/// Why the platform could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot read the saved position: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Polling state: what was accepted, what is in flight, where to resume.
struct Poll {
    /// Accepted updates not yet handed to the session.
    buffer: VecDeque<Inbound>,
    /// Update ids accepted and not yet answered (buffered or being answered): the inbox.
    in_flight: BTreeSet<i64>,
    /// Update ids at or after the cursor handled under the previous scheme (a database written
    /// by a version that held the cursor back): skipped if Telegram delivers them again.
    handled: BTreeSet<i64>,
    /// The position to resume from: every update before it is accepted or ignored.
    cursor: i64,
    /// Inbox rows found at start, answered first once the bot's identity is known.
    recovered: Vec<(i64, String)>,
}

impl Poll {
    /// Whether a delivered update is already known (accepted, answered or ignored).
    fn known(&self, id: i64) -> bool {
        id < self.cursor || self.handled.contains(&id) || self.in_flight.contains(&id)
    }
}

/// See the module docs.
pub struct TelegramPlatform {
    bot: Bot,
    config: TelegramConfig,
    me: OnceCell<Me>,
    poll: Mutex<Poll>,
    store: Arc<Store>,
    closed: watch::Sender<bool>,
    /// Signalled on every acknowledgement: the offset may have moved.
    progress: Notify,
    metrics: Metrics,
    connection: ConnectionCell,
}

impl TelegramPlatform {
    pub fn new(
        config: TelegramConfig,
        store: Arc<Store>,
        metrics: Metrics,
    ) -> Result<Self, TelegramError> {
        let mut client = teloxide::net::default_reqwest_settings()
            // Longer than the long poll, so a poll is never cut short by the client.
            .timeout(config.poll_timeout + Duration::from_secs(15));
        if is_loopback(&config.api_url) {
            client = client.no_proxy();
        }
        let client = client
            .build()
            .map_err(|e| TelegramError::Client(e.without_url().to_string()))?;
        let bot =
            Bot::with_client(config.token.expose(), client).set_api_url(config.api_url.clone());
        let cursor = store.cursor(STORE_KEY)?.unwrap_or(0);
        let handled = store.handled_since(STORE_KEY, cursor)?;
        let recovered = store.inbox(STORE_KEY)?;
        tracing::info!(cursor, unanswered = recovered.len(), "telegram: resuming");
        Ok(Self {
            bot,
            me: OnceCell::new(),
            poll: Mutex::new(Poll {
                buffer: VecDeque::new(),
                in_flight: BTreeSet::new(),
                handled,
                cursor,
                recovered,
            }),
            store,
            closed: watch::Sender::new(false),
            progress: Notify::new(),
            connection: ConnectionCell::new(
                PlatformId::Telegram,
                Connection::down("not connected yet"),
            ),
            metrics,
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Poll> {
        self.poll.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bot's identity, asking Telegram (with backoff) until it answers. `None` once closed.
    async fn me(&self) -> Option<Me> {
        if let Some(me) = self.me.get() {
            return Some(me.clone());
        }
        let mut backoff = Duration::from_secs(1);
        loop {
            let result = self.until_closed(self.bot.get_me().send()).await?;
            match result {
                Ok(me) if me.user.username.is_some() => {
                    tracing::info!(
                        bot = me.user.username.as_deref().unwrap_or_default(),
                        "telegram: connected"
                    );
                    self.drop_webhook().await;
                    self.connection.set(Connection::up("getMe answered"));
                    let _ = self.me.set(me.clone());
                    return Some(me);
                }
                Ok(_) => tracing::error!("telegram: getMe returned a bot without a username"),
                Err(e) => {
                    let error = describe(&e);
                    tracing::warn!(
                        error = %error,
                        retry_in_s = backoff.as_secs(),
                        "telegram: cannot reach the Bot API (getMe)"
                    );
                    self.connection
                        .set(Connection::down(format!("getMe failed: {error}")));
                }
            }
            self.until_closed(tokio::time::sleep(backoff)).await?;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }

    /// Long polling and a webhook exclude each other: this process polls, so drop a webhook
    /// left over from another deployment (updates stay queued at Telegram).
    async fn drop_webhook(&self) {
        if let Ok(info) = self.bot.get_webhook_info().send().await
            && info.url.is_some()
        {
            tracing::warn!("telegram: a webhook is set for this bot; removing it to poll instead");
            if let Err(e) = self.bot.delete_webhook().send().await {
                tracing::warn!(error = %describe(&e), "telegram: cannot remove the webhook");
            }
        }
    }

    /// Runs `fut` unless the platform is closed first (`None`).
    async fn until_closed<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        let mut closed = self.closed.subscribe();
        if *closed.borrow_and_update() {
            return None;
        }
        tokio::select! {
            out = fut => Some(out),
            _ = closed.wait_for(|c| *c) => None,
        }
    }

    /// Accepts a batch: the updates to answer go to the inbox and the buffer, the rest are
    /// counted as ignored, and the cursor moves past all of them, in one transaction. If that
    /// transaction fails nothing is accepted: Telegram keeps the batch and delivers it again.
    fn absorb(&self, raw: Vec<serde_json::Value>, me: &Me) -> Result<(), crate::store::StoreError> {
        // The whole batch was read at once: its messages' time in the runtime starts here.
        let read_at = tokio::time::Instant::now();
        let fetched = raw.len();
        let mut poll = self.lock();
        let mut cursor = poll.cursor;
        let mut accepted = Vec::new();
        let mut ignored = Vec::new();
        let mut unreadable = 0;
        for value in raw {
            // The id comes from the JSON itself, so even an update teloxide cannot read moves
            // the cursor (it would otherwise come back forever).
            let Some(id) = value.get("update_id").and_then(serde_json::Value::as_i64) else {
                unreadable += 1;
                continue;
            };
            cursor = cursor.max(id + 1);
            if poll.known(id) {
                continue; // redelivered: accepted or handled before
            }
            let text = value.to_string();
            let Some(update) = updates::parse(value, &text) else {
                unreadable += 1;
                continue;
            };
            match classify(&update, me) {
                Classified::Answer(inbound) => accepted.push((
                    id,
                    text,
                    Inbound {
                        received_at: read_at,
                        ..*inbound
                    },
                )),
                Classified::Ignore(reason) => ignored.push(reason),
            }
        }
        if unreadable > 0 {
            tracing::warn!(
                skipped = unreadable,
                fetched,
                "telegram: getUpdates returned objects that are not updates"
            );
        }
        if cursor > poll.cursor || !accepted.is_empty() {
            let rows: Vec<(i64, String)> = accepted
                .iter()
                .map(|(id, text, _)| (*id, text.clone()))
                .collect();
            self.store.accept(STORE_KEY, &rows, cursor)?;
            poll.cursor = cursor;
            poll.handled = poll.handled.split_off(&cursor);
        }
        for reason in ignored {
            self.metrics.update_ignored(PlatformId::Telegram, reason);
        }
        for (id, _, inbound) in accepted {
            poll.in_flight.insert(id);
            poll.buffer.push_back(inbound);
        }
        Ok(())
    }

    /// Puts the updates found in the inbox at start back in the buffer (they are answered
    /// before anything new); an inbox row that no longer reads as an update is dropped.
    fn recover(&self, me: &Me) {
        let mut poll = self.lock();
        let rows = std::mem::take(&mut poll.recovered);
        if rows.is_empty() {
            return;
        }
        let count = rows.len();
        for (id, text) in rows {
            let inbound = serde_json::from_str(&text)
                .ok()
                .and_then(|raw| updates::parse(raw, &text))
                .map(|u| classify(&u, me));
            match inbound {
                Some(Classified::Answer(inbound)) => {
                    poll.in_flight.insert(id);
                    poll.buffer.push_back(*inbound);
                }
                _ => {
                    tracing::warn!(
                        update = id,
                        "telegram: an unanswered update in the inbox no longer reads as one; dropped"
                    );
                    self.store.answered(STORE_KEY, id);
                }
            }
        }
        tracing::info!(
            count,
            "telegram: answering the updates left unanswered by the last run"
        );
    }

    /// `getUpdates` answered as raw JSON, for [`updates::parse`].
    fn get_updates(&self, payload: GetUpdates) -> JsonRequest<RawGetUpdates> {
        JsonRequest::new(self.bot.clone(), RawGetUpdates(payload))
    }

    async fn send_once(&self, chat: ChatId, reply: &Outbound) -> Result<(), RequestError> {
        let mut payload = SendMessage::new(chat, &reply.text);
        let route = reply.reply_to.as_deref().and_then(classify::parse_route);
        if let Some((id, thread)) = route {
            // Only the first part of a split reply quotes the user's message; every part goes
            // to the user's forum topic (a message that quotes nothing lands in "General").
            if reply.part == 0 {
                payload.reply_parameters =
                    Some(ReplyParameters::new(MessageId(id)).allow_sending_without_reply());
            }
            payload.message_thread_id = thread.map(|t| ThreadId(MessageId(t)));
        }
        JsonRequest::new(self.bot.clone(), SendReply(payload))
            .send()
            .await
            .map(|_| ())
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A description of a teloxide error that is safe to log: never the request URL (it holds the
/// token) nor a response body (it may hold user text).
pub fn describe(e: &RequestError) -> String {
    match e {
        RequestError::Api(api) => format!("Bot API error: {api}"),
        RequestError::MigrateToChatId(_) => "the group was migrated to a supergroup".into(),
        RequestError::RetryAfter(s) => format!("flood control: retry after {}s", s.seconds()),
        RequestError::Network(n) => {
            let what = if n.is_timeout() {
                "timed out"
            } else if n.is_connect() {
                "cannot connect"
            } else {
                "network error"
            };
            match n.status() {
                Some(status) => format!("{what} (HTTP {status})"),
                None => what.to_string(),
            }
        }
        RequestError::InvalidJson { .. } => {
            "the Bot API answered something that is not valid JSON".into()
        }
        RequestError::Io(io) => format!("I/O error: {}", io.kind()),
    }
}

/// How the outbox should treat a failed send.
fn send_error(e: &RequestError) -> SendError {
    match e {
        RequestError::RetryAfter(s) => SendError::RetryAfter(s.duration()),
        RequestError::Api(ApiError::Unknown(text))
            if !(text.starts_with("Bad Request") || text.starts_with("Forbidden")) =>
        {
            SendError::Transient(describe(e))
        }
        RequestError::Api(_) | RequestError::MigrateToChatId(_) => {
            SendError::Permanent(describe(e))
        }
        RequestError::Network(_) | RequestError::InvalidJson { .. } | RequestError::Io(_) => {
            SendError::Transient(describe(e))
        }
    }
}

#[async_trait::async_trait]
impl Platform for TelegramPlatform {
    fn id(&self) -> PlatformId {
        PlatformId::Telegram
    }

    fn connection(&self) -> Connection {
        self.connection.get()
    }

    async fn recv(&self) -> Option<Inbound> {
        let mut backoff = Duration::from_secs(1);
        loop {
            if let Some(inbound) = self.lock().buffer.pop_front() {
                return Some(inbound);
            }
            let me = self.me().await?;
            self.recover(&me);
            if !self.lock().buffer.is_empty() {
                continue;
            }
            // Overloaded: let answers catch up before accepting more.
            loop {
                let progress = self.progress.notified();
                if self.lock().in_flight.len() < MAX_IN_FLIGHT {
                    break;
                }
                self.until_closed(progress).await?;
            }
            let offset = self.lock().cursor;
            let request = self.get_updates(GetUpdates {
                offset: Some(i32::try_from(offset).unwrap_or(i32::MAX)),
                limit: None,
                timeout: Some(u32::try_from(self.config.poll_timeout.as_secs()).unwrap_or(25)),
                allowed_updates: Some(vec![
                    AllowedUpdate::Message,
                    AllowedUpdate::EditedMessage,
                    AllowedUpdate::ChannelPost,
                    AllowedUpdate::EditedChannelPost,
                ]),
            });
            let failure = match self.until_closed(request.send()).await? {
                Ok(raw) => {
                    self.connection.set(Connection::up("polling"));
                    match self.absorb(raw, &me) {
                        Ok(()) => {
                            backoff = Duration::from_secs(1);
                            continue;
                        }
                        Err(e) => {
                            tracing::error!(
                                error = %e,
                                retry_in_s = backoff.as_secs(),
                                "telegram: cannot store the updates received; Telegram keeps them"
                            );
                            None
                        }
                    }
                }
                Err(e) => Some(e),
            };
            if let Some(e) = failure {
                let hint = match &e {
                    RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => {
                        " (another process is polling with the same token)"
                    }
                    RequestError::Api(ApiError::InvalidToken) => " (the bot token was rejected)",
                    _ => "",
                };
                let error = describe(&e);
                tracing::warn!(
                    error = %error,
                    retry_in_s = backoff.as_secs(),
                    "telegram: getUpdates failed{hint}"
                );
                self.connection.set(Connection::down(format!(
                    "getUpdates failed: {error}{hint}"
                )));
            }
            self.until_closed(tokio::time::sleep(backoff)).await?;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    async fn send(&self, reply: &Outbound) -> Result<(), SendError> {
        let chat = reply
            .chat
            .chat
            .parse::<i64>()
            .map(ChatId)
            .map_err(|_| SendError::Permanent("not a Telegram chat id".into()))?;
        match self.send_once(chat, reply).await {
            Ok(()) => Ok(()),
            Err(RequestError::MigrateToChatId(new_chat)) => {
                tracing::info!("telegram: group migrated to a supergroup; replying there");
                let moved = Outbound {
                    reply_to: None,
                    ..reply.clone()
                };
                self.send_once(new_chat, &moved)
                    .await
                    .map_err(|e| send_error(&e))
            }
            Err(e) => Err(send_error(&e)),
        }
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }

    async fn finish(&self, deadline: tokio::time::Instant) {
        // Telegram forgets updates only when a later getUpdates names a higher offset; confirm
        // what was handled so a restart does not fetch it again (it would be skipped anyway).
        if self.me.get().is_none() {
            return;
        }
        let offset = self.lock().cursor;
        let confirm = self
            .get_updates(GetUpdates {
                offset: Some(i32::try_from(offset).unwrap_or(i32::MAX)),
                limit: Some(1),
                timeout: Some(0),
                allowed_updates: None,
            })
            .send();
        match tokio::time::timeout_at(deadline, confirm).await {
            Ok(Ok(_)) => tracing::debug!(offset, "telegram: offset confirmed"),
            Ok(Err(e)) => {
                tracing::warn!(error = %describe(&e), "telegram: cannot confirm the offset")
            }
            Err(_) => tracing::warn!("telegram: no time left to confirm the offset"),
        }
    }

    fn max_reply_chars(&self) -> usize {
        MAX_MESSAGE_LEN
    }

    fn pacing(&self) -> Pacing {
        self.config.pacing
    }

    fn ack(&self, key: &MessageKey) {
        let Ok(id) = key.id.parse::<i64>() else {
            return;
        };
        let removed = self.lock().in_flight.remove(&id);
        if removed {
            // Queued: a failure is logged by the store (a restart would answer it again).
            self.store.answered(STORE_KEY, id);
        }
        self.progress.notify_waiters();
    }

    async fn fetch_voice(&self, voice: &Voice) -> Result<Vec<u8>, MediaError> {
        let file = self
            .bot
            .get_file(FileId(voice.file_id.to_string()))
            .send()
            .await
            .map_err(|e| MediaError::Fetch(describe(&e)))?;
        let size = u64::from(file.meta.size);
        if size > self.config.max_file_bytes {
            return Err(MediaError::TooLarge(size));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        self.bot
            .download_file(&file.path, &mut bytes)
            .await
            .map_err(|e| match e {
                teloxide::DownloadError::Network(n) => {
                    MediaError::Fetch(describe(&RequestError::Network(n)))
                }
                teloxide::DownloadError::Io(io) => {
                    MediaError::Fetch(format!("I/O error: {}", io.kind()))
                }
            })?;
        if bytes.len() as u64 > self.config.max_file_bytes {
            return Err(MediaError::TooLarge(bytes.len() as u64));
        }
        Ok(bytes)
    }
}

impl std::fmt::Debug for TelegramPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramPlatform")
            .field("api_url", &self.config.api_url.as_str())
            .field("token", &Secret::new(""))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_is_known_once_accepted_answered_or_before_the_cursor() {
        let mut p = Poll {
            buffer: VecDeque::new(),
            in_flight: BTreeSet::from([12]),
            handled: BTreeSet::from([14]),
            cursor: 10,
            recovered: Vec::new(),
        };
        assert!(p.known(9), "before the cursor");
        assert!(!p.known(10));
        assert!(p.known(12), "accepted, being answered");
        assert!(p.known(14), "handled under the old scheme");
        assert!(!p.known(15));
        p.cursor = 16;
        assert!(p.known(15));
    }
}
