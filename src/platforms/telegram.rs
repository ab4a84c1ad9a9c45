//! The Telegram platform: the real teloxide client, long polling, a durable cursor.
//!
//! Input: `getUpdates` long polling, fetched as raw JSON and parsed by [`updates::parse`] (with
//! teloxide's types, working around teloxide#1420). Each update is either answered (see
//! [`classify`]) or ignored on purpose (counted). The position Telegram is asked to resume from
//! (the `offset`) only moves past an update once it is *handled*: its reply was accepted by
//! Telegram (or given up on for good, such as a bot blocked by the user), or it was deliberately
//! ignored. That position and the ids handled beyond it are written to SQLite ([`Store`]) at
//! every step, so after a crash Telegram redelivers exactly the updates not handled yet, and the
//! ones already answered are recognised by `update_id` and skipped.
//! `docs/adr/0007-telegram-delivery.md` states the guarantee precisely.
//!
//! Output: `sendMessage` as plain text (no parse mode, so no user text can break a send),
//! replying to the user's message (`allow_sending_without_reply`, so a deleted original does not
//! lose the answer), paced within Telegram's limits by the outbox. A group migrated to a
//! supergroup gets the reply in the supergroup.
//!
//! The token is a [`Secret`]; errors are described without the request URL (which contains the
//! token) and without response bodies (which contain user text).
//!
//! The transport state (the bot client, the buffer of fetched updates, the cursor) lives here, in
//! the platform object, not in the session actor: a killed session loses nothing.

mod classify;
mod updates;

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use teloxide::net::Download;
use teloxide::payloads::GetUpdates;
use teloxide::prelude::*;
use teloxide::requests::JsonRequest;
use teloxide::types::{AllowedUpdate, FileId, Me, MessageId, ReplyParameters};
use teloxide::{ApiError, RequestError};
use tokio::sync::{Notify, OnceCell, watch};

use self::classify::{Classified, classify};
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

/// How long to wait before polling again when a poll brought only updates already being
/// answered (Telegram returns them at once while they hold the offset back): an answer
/// (acknowledgement) ends the wait sooner.
const REDELIVERY_PAUSE: Duration = Duration::from_millis(500);

const STORE_KEY: &str = "telegram";

/// Why the platform could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot read the saved position: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Polling state: what was fetched, what is in flight, what is handled.
struct Poll {
    /// Fetched updates not yet handed to the session.
    buffer: VecDeque<Inbound>,
    /// Update ids fetched and not yet handled (buffered or being answered).
    in_flight: BTreeSet<i64>,
    /// Update ids at or after the cursor already handled.
    handled: BTreeSet<i64>,
    /// The position to resume from: no update before it is unhandled.
    cursor: i64,
    /// The highest update id seen.
    max_seen: Option<i64>,
}

impl Poll {
    /// The lowest update id not handled yet, as far as we know.
    fn next_offset(&self) -> i64 {
        let after_seen = self
            .max_seen
            .map_or(self.cursor, |m| (m + 1).max(self.cursor));
        self.in_flight
            .first()
            .copied()
            .map_or(after_seen, |id| id.min(after_seen))
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
        tracing::info!(cursor, remembered = handled.len(), "telegram: resuming");
        Ok(Self {
            bot,
            me: OnceCell::new(),
            poll: Mutex::new(Poll {
                buffer: VecDeque::new(),
                in_flight: BTreeSet::new(),
                handled,
                cursor,
                max_seen: None,
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

    /// Sorts a batch of updates into the buffer (answered) and the handled set (ignored).
    /// Returns how many were new.
    fn absorb(&self, updates: Vec<Update>, me: &Me) -> usize {
        let mut new = 0;
        let mut ignored = Vec::new();
        let mut poll = self.lock();
        for update in updates {
            let id = i64::from(update.id.0);
            poll.max_seen = Some(poll.max_seen.map_or(id, |m| m.max(id)));
            if id < poll.cursor || poll.handled.contains(&id) || poll.in_flight.contains(&id) {
                continue; // redelivered: already handled or being answered
            }
            new += 1;
            match classify(&update, me) {
                Classified::Answer(inbound) => {
                    poll.in_flight.insert(id);
                    poll.buffer.push_back(*inbound);
                }
                Classified::Ignore(reason) => {
                    self.metrics.update_ignored(PlatformId::Telegram, reason);
                    poll.handled.insert(id);
                    ignored.push(id);
                }
            }
        }
        self.persist(&mut poll, &ignored);
        new
    }

    /// Writes handled ids and the cursor; called with the poll lock held so writes stay in
    /// order (the cursor never moves back).
    fn persist(&self, poll: &mut Poll, handled: &[i64]) {
        let cursor = poll.next_offset();
        if handled.is_empty() && cursor == poll.cursor {
            return;
        }
        match self.store.record(STORE_KEY, handled, cursor) {
            Ok(()) => {
                poll.cursor = cursor;
                poll.handled = poll.handled.split_off(&cursor);
            }
            Err(e) => {
                tracing::error!(error = %e, "telegram: cannot save the position; a crash now could answer some updates twice")
            }
        }
    }

    /// `getUpdates` answered as raw JSON, for [`updates::parse`].
    fn get_updates(&self, payload: GetUpdates) -> JsonRequest<RawGetUpdates> {
        JsonRequest::new(self.bot.clone(), RawGetUpdates(payload))
    }

    async fn send_once(&self, chat: ChatId, reply: &Outbound) -> Result<(), RequestError> {
        let mut request = self.bot.send_message(chat, &reply.text);
        // Only the first part of a split reply quotes the user's message.
        let quote = reply.reply_to.as_deref().filter(|_| reply.part == 0);
        if let Some(id) = quote.and_then(|r| r.parse::<i32>().ok()) {
            request = request.reply_parameters(
                ReplyParameters::new(MessageId(id)).allow_sending_without_reply(),
            );
        }
        request.send().await.map(|_| ())
    }
}

/// A `getUpdates` answer as teloxide updates (see [`updates::parse`]). An object without a valid
/// `update_id` cannot be tracked or confirmed, so it is skipped (teloxide would refuse the batch).
fn parse_all(raw: Vec<serde_json::Value>) -> Vec<Update> {
    let fetched = raw.len();
    let updates: Vec<Update> = raw.into_iter().filter_map(updates::parse).collect();
    if updates.len() < fetched {
        tracing::warn!(
            skipped = fetched - updates.len(),
            "telegram: getUpdates returned objects without a valid update_id"
        );
    }
    updates
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
            let offset = self.lock().next_offset();
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
            match self.until_closed(request.send()).await? {
                Ok(raw) => {
                    backoff = Duration::from_secs(1);
                    self.connection.set(Connection::up("polling"));
                    let fetched = raw.len();
                    let updates = parse_all(raw);
                    let progress = self.progress.notified();
                    if self.absorb(updates, &me) == 0 && fetched > 0 {
                        // Only updates still being answered: wait for an answer, or a moment
                        // for something new behind them, instead of spinning.
                        // Either outcome (an answer, or the pause ran out) means: poll again.
                        let _ = self
                            .until_closed(tokio::time::timeout(REDELIVERY_PAUSE, progress))
                            .await?;
                    }
                }
                Err(e) => {
                    let hint = match &e {
                        RequestError::Api(ApiError::TerminatedByOtherGetUpdates) => {
                            " (another process is polling with the same token)"
                        }
                        RequestError::Api(ApiError::InvalidToken) => {
                            " (the bot token was rejected)"
                        }
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
                    self.until_closed(tokio::time::sleep(backoff)).await?;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
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
        let offset = self.lock().next_offset();
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
        let mut poll = self.lock();
        if poll.in_flight.remove(&id) {
            poll.handled.insert(id);
            self.persist(&mut poll, &[id]);
        }
        drop(poll);
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
    fn the_offset_never_skips_an_unhandled_update() {
        let mut p = Poll {
            buffer: VecDeque::new(),
            in_flight: BTreeSet::new(),
            handled: BTreeSet::new(),
            cursor: 10,
            max_seen: None,
        };
        assert_eq!(p.next_offset(), 10);
        p.max_seen = Some(14);
        p.in_flight.extend([12, 14]);
        assert_eq!(p.next_offset(), 12);
        p.in_flight.remove(&12);
        assert_eq!(p.next_offset(), 14);
        p.in_flight.clear();
        assert_eq!(p.next_offset(), 15);
    }
}
