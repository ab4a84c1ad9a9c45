//! The Discord platform: the real serenity client, shards as actors, recovery of missed messages.
//!
//! Input: each gateway shard is an actor ([`shard`]) running a serenity client whose event
//! handler forwards messages, interactions and session events here. [`classify`] decides what is
//! answered. Every message and interaction is deduplicated by its id: in memory, and in SQLite
//! for the recent past, so nothing is answered twice after a replay, a recovery or a restart.
//!
//! Recovery: serenity RESUMEs a dropped session and the gateway replays what was missed. When a
//! session cannot be resumed (gateway unreachable too long, a zombie connection, an invalid
//! session) serenity starts a new one and the events of the old one are lost. So on every new
//! session the platform fetches the history of each channel active within `recovery_window`
//! (`GET /channels/{id}/messages?after=<position>`) and answers what it had not seen. A channel
//! first seen within the window after a new session has its history of the window read the same
//! way before it is answered (a first DM sent while the process was down). A channel's
//! position moves only with messages known to arrive in order (see [`shard`]). Positions are
//! saved, so the same happens after a process restart.
//!
//! Output: replies quote the user's message and ping nobody (`allowed_mentions: none`); their
//! Markdown characters are escaped ([`markdown`]) so a translation shows as typed;
//! interaction answers edit the deferred response, further parts are follow-ups; everything over
//! 2,000 characters is split. Requests are built by serenity and executed by [`rest`], which
//! reads Discord's 429s itself. See `docs/adr/0009-discord.md`.

mod classify;
pub mod markdown;
mod rest;
mod shard;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serenity::model::application::CommandInteraction;
use serenity::model::channel::Message;
use serenity::model::id::{ApplicationId, ChannelId, GuildId, MessageId};
use tokio::sync::{mpsc, watch};

use self::classify::{Classified, Identity, ReplyRoute};
use self::rest::{Rest, RestError};
use self::shard::{GatewayLink, ShardActor, ShardArgs};
use super::{Connection, MediaError, Platform, SendError};
use crate::config::DiscordConfig;
use crate::delivery::pacing::Pacing;
use crate::domain::{Inbound, MessageKey, Outbound, PlatformId, Voice};
use crate::store::Store;
use crate::supervision::{ActorKind, ChildSpec, Restart, Strategy, SupervisorTemplate};
use crate::telemetry::metrics::Metrics;

/// Discord's limit on one message, in characters.
pub const MAX_MESSAGE_LEN: usize = 2000;

const STORE_KEY: &str = "discord";

/// The largest voice message fetched. Discord's voice messages are Opus at about 32 kbit/s, so
/// this is well over an hour; `transcription.max_duration` refuses long ones before any fetch.
const MAX_VOICE_BYTES: u64 = 25 * 1024 * 1024;
/// Discord's epoch (2015-01-01), in Unix milliseconds, for snowflake arithmetic.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// History pages are fetched this large, and at most this many pages per channel per recovery.
const PAGE: u8 = 100;
const MAX_PAGES: u32 = 10;

/// What the shards report.
pub enum GatewayEvent {
    /// A message; `ordered` when it came through the shard's collector (in gateway order),
    /// not through a (racing) event-handler task.
    Message {
        message: Box<Message>,
        ordered: bool,
    },
    Command(Box<CommandInteraction>),
    /// A new session is up (IDENTIFY, not RESUME): the events of an earlier one may have been
    /// lost. Sent before any message of the new session comes through its collector.
    NewSession {
        shard: u32,
    },
    /// READY: who the bot is.
    Ready {
        bot: u64,
        application: u64,
    },
    Resumed {
        shard: u32,
    },
}

/// Why the platform could not be built.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot read saved state: {0}")]
    Store(#[from] crate::store::StoreError),
}

struct ChannelState {
    /// The newest message id seen in the channel.
    last_seen: u64,
    last_active: Instant,
    /// Messages of this channel being answered.
    in_flight: BTreeSet<u64>,
    /// Its position changed since it was last saved.
    dirty: bool,
    /// Its position was saved at least once (so a restart will look at this channel).
    saved: bool,
    /// Its guild (`Some(None)`: a DM), once known. Only gateway messages say; history does not.
    guild: Option<Option<u64>>,
}

impl ChannelState {
    /// Moves the position up to `id` (a message known to arrive in order).
    fn advance(&mut self, id: u64) {
        if id > self.last_seen {
            self.last_seen = id;
            self.dirty = true;
        }
    }
}

struct State {
    identity: Option<Identity>,
    buffer: VecDeque<Inbound>,
    /// Message and interaction ids being answered.
    in_flight: BTreeSet<u64>,
    /// Ids answered in the recent past.
    handled: BTreeSet<u64>,
    channels: HashMap<u64, ChannelState>,
    /// Channel histories to fetch: (channel, after this message id, pages fetched).
    recovery: VecDeque<(u64, u64, u32)>,
    /// Channel positions saved by an earlier process, until the first session queues them for
    /// recovery. A channel seen before that starts from its saved position, not from the first
    /// message this process sees in it.
    saved: HashMap<u64, u64>,
    /// The commands still have to be registered.
    register_commands: bool,
    /// Ids of the latest live messages, to drop the second copy of each (collector and handler).
    recent: VecDeque<u64>,
    /// When the latest session started with IDENTIFY (the first one after the process started
    /// included): until `recovery_window` after it, a channel this process has not seen yet
    /// may hold messages that arrived in the gap, unseen by anyone.
    new_session_at: Option<Instant>,
}

impl State {
    /// The state of `channel`, created on first sight starting after `after`, or after an
    /// earlier process's saved position there if that is older.
    fn channel(&mut self, channel: u64, after: u64) -> &mut ChannelState {
        let start = self.saved.get(&channel).map_or(after, |s| (*s).min(after));
        self.channels.entry(channel).or_insert(ChannelState {
            last_seen: start,
            last_active: Instant::now(),
            in_flight: BTreeSet::new(),
            dirty: true,
            saved: false,
            guild: None,
        })
    }
}

/// How many live message ids [`State::recent`] keeps.
const RECENT: usize = 4096;

/// See the module docs.
pub struct DiscordPlatform {
    config: DiscordConfig,
    rest: Arc<Rest>,
    link: Arc<GatewayLink>,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<GatewayEvent>>,
    state: Mutex<State>,
    store: Arc<Store>,
    closed: watch::Sender<bool>,
    metrics: Metrics,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The smallest snowflake created at or after `unix_ms`.
fn snowflake_at(unix_ms: u64) -> u64 {
    unix_ms.saturating_sub(DISCORD_EPOCH_MS) << 22
}

fn as_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

impl DiscordPlatform {
    pub fn new(
        config: DiscordConfig,
        store: Arc<Store>,
        metrics: Metrics,
    ) -> Result<Self, DiscordError> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10));
        if crate::providers::http::is_loopback(&config.api_url) {
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| DiscordError::Client(e.without_url().to_string()))?;
        let rest = Arc::new(Rest::new(&config.token, &config.api_url, client.clone()));
        let (tx, rx) = mpsc::unbounded_channel();
        let link = Arc::new(GatewayLink {
            token: config.token.clone(),
            api_url: config.api_url.as_str().trim_end_matches('/').to_string(),
            client,
            rest: rest.clone(),
            events: tx,
            shards: Default::default(),
        });
        let since = snowflake_at(now_ms().saturating_sub(window_ms(&config)));
        let handled = store
            .handled_since(STORE_KEY, as_i64(since))?
            .into_iter()
            .filter_map(|id| u64::try_from(id).ok())
            .collect();
        let since = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX)
            - i64::try_from(config.recovery_window.as_secs()).unwrap_or(0);
        let saved = store
            .recent_cursors(STORE_KEY, since)?
            .into_iter()
            .filter_map(|(channel, after)| {
                Some((channel.parse().ok()?, u64::try_from(after).ok()?))
            })
            .collect();
        Ok(Self {
            rest,
            link,
            events: tokio::sync::Mutex::new(rx),
            state: Mutex::new(State {
                identity: None,
                buffer: VecDeque::new(),
                in_flight: BTreeSet::new(),
                handled,
                channels: HashMap::new(),
                recovery: VecDeque::new(),
                saved,
                register_commands: config.register_commands,
                recent: VecDeque::with_capacity(RECENT),
                new_session_at: None,
            }),
            store,
            closed: watch::Sender::new(false),
            metrics,
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

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

    /// Handles one gateway event (no awaiting: cancellation cannot split it).
    fn on_event(&self, event: GatewayEvent) {
        match event {
            GatewayEvent::Message { message, ordered } => {
                let id = message.id.get();
                let first = {
                    let mut state = self.lock();
                    // An ordered copy: everything before it in its channel has reached us too.
                    if let Some(c) = state.channels.get_mut(&message.channel_id.get())
                        && ordered
                    {
                        c.advance(id);
                    }
                    let first = !state.recent.contains(&id);
                    if first {
                        if state.recent.len() == RECENT {
                            state.recent.pop_front();
                        }
                        state.recent.push_back(id);
                    }
                    first
                };
                if first {
                    self.observe(&message, ordered, false);
                }
            }
            GatewayEvent::Command(c) => {
                let id = c.id.get();
                let mut state = self.lock();
                if state.in_flight.contains(&id) || state.handled.contains(&id) {
                    return;
                }
                match classify::interaction(&c) {
                    Classified::Answer(inbound) => {
                        state.in_flight.insert(id);
                        state.buffer.push_back(*inbound);
                    }
                    Classified::Ignore(reason) => {
                        self.metrics.update_ignored(PlatformId::Discord, reason);
                    }
                }
            }
            GatewayEvent::Ready { bot, application } => {
                self.lock().identity = Some(Identity { bot, application });
            }
            GatewayEvent::NewSession { shard } => {
                let window = Duration::from_millis(window_ms(&self.config));
                let mut state = self.lock();
                state.new_session_at = Some(Instant::now());
                self.metrics
                    .gateway_session(PlatformId::Discord, "identify");
                // Channels quiet for longer than the window are forgotten (their saved position
                // stays in SQLite until it ages out).
                state
                    .channels
                    .retain(|_, c| c.last_active.elapsed() <= window || !c.in_flight.is_empty());
                let mut queued: Vec<u64> = Vec::new();
                let recent: Vec<(u64, u64)> = state
                    .channels
                    .iter()
                    .filter(|(_, c)| c.last_active.elapsed() <= window)
                    .map(|(id, c)| (*id, c.last_seen))
                    .collect();
                for (channel, after) in recent {
                    state.recovery.push_back((channel, after, 0));
                    queued.push(channel);
                }
                // The first session also recovers what an earlier process left (for channels
                // not seen yet; the others start from their saved position already).
                let saved: Vec<(u64, u64)> = state.saved.drain().collect();
                for (channel, after) in saved {
                    if !queued.contains(&channel) {
                        state.recovery.push_back((channel, after, 0));
                    }
                }
                if !state.recovery.is_empty() {
                    tracing::info!(
                        shard,
                        channels = state.recovery.len(),
                        "discord: recovering messages that a lost session may have missed"
                    );
                }
            }
            GatewayEvent::Resumed { .. } => {
                self.metrics.gateway_session(PlatformId::Discord, "resume");
            }
        }
    }

    /// A message seen live or in history: track the channel, answer it unless already done.
    /// `ordered`: everything before it in its channel has been seen (a collector's copy, or a
    /// page of history), so the channel's position may move up to it.
    fn observe(&self, m: &Message, ordered: bool, recovered: bool) {
        let (id, channel) = (m.id.get(), m.channel_id.get());
        let mut state = self.lock();
        let window = window_ms(&self.config);
        // A channel first seen soon after a new session (or a restart) may have messages from
        // the gap before this one that nobody saw: the first DM a user sent while the process
        // was down. Its history within the window is read first, this message included (it is
        // in the history), and answered in order. `recv` reads no further events until that
        // is done, so later messages of the channel come after it.
        let unseen = !recovered
            && !state.channels.contains_key(&channel)
            && !state.saved.contains_key(&channel);
        let after_gap = state
            .new_session_at
            .is_some_and(|at| at.elapsed() < Duration::from_millis(window));
        if unseen && after_gap {
            let after = snowflake_at(now_ms().saturating_sub(window)).min(id.saturating_sub(1));
            let c = state.channel(channel, after);
            c.guild = Some(m.guild_id.map(|g| g.get()));
            state.recovery.push_back((channel, after, 0));
            // Seen live: what is ignored is counted now (the history's copy is not).
            if let Some(me) = state.identity
                && let Classified::Ignore(reason) = classify::message(m, me, &self.config.prefix)
            {
                self.metrics.update_ignored(PlatformId::Discord, reason);
            }
            tracing::debug!(
                channel,
                "discord: a channel first seen after a new session; reading its recent history"
            );
            return;
        }
        // Otherwise what came before the bot's first sight of a channel is not its business,
        // unless an earlier process had a position there.
        let c = state.channel(channel, id.saturating_sub(1));
        c.last_active = Instant::now();
        if !recovered {
            c.guild = Some(m.guild_id.map(|g| g.get()));
        }
        if ordered {
            c.advance(id);
        }
        if state.in_flight.contains(&id) || state.handled.contains(&id) {
            return;
        }
        let Some(me) = state.identity else {
            self.metrics
                .update_ignored(PlatformId::Discord, "not_ready");
            return;
        };
        match classify::message(m, me, &self.config.prefix) {
            Classified::Answer(inbound) => {
                state.in_flight.insert(id);
                if let Some(c) = state.channels.get_mut(&channel) {
                    c.in_flight.insert(id);
                }
                state.buffer.push_back(*inbound);
                if recovered {
                    self.metrics.recovered_message(PlatformId::Discord);
                }
                // A channel new to the bot is saved at once (just before this message), so a
                // crash before its first reply still finds it after the restart.
                if state.channels.get(&channel).is_some_and(|c| !c.saved) {
                    self.save_positions(&mut state);
                }
            }
            Classified::Ignore(reason) => {
                if !recovered {
                    self.metrics.update_ignored(PlatformId::Discord, reason);
                }
            }
        }
    }

    /// The guild of `channel` (`None`: a DM): known from live messages, else asked of Discord.
    async fn channel_guild(&self, channel: u64, after: u64) -> Result<Option<u64>, RestError> {
        if let Some(known) = self.lock().channels.get(&channel).and_then(|c| c.guild) {
            return Ok(known);
        }
        let guild = self.rest.channel_guild(ChannelId::new(channel)).await?;
        self.lock().channel(channel, after).guild = Some(guild);
        Ok(guild)
    }

    /// Fetches one page of the first channel waiting for recovery.
    async fn recover_next(&self, channel: u64, after: u64, pages: u32) -> Result<(), RestError> {
        let guild = match self.channel_guild(channel, after).await {
            Ok(g) => g,
            Err(RestError::Permanent(why)) => {
                tracing::warn!(channel, error = %why, "discord: cannot look up a channel");
                self.lock().recovery.pop_front();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let messages = self
            .rest
            .messages_after(ChannelId::new(channel), MessageId::new(after.max(1)), PAGE)
            .await;
        let messages = match messages {
            Ok(m) => m,
            Err(RestError::Permanent(why)) => {
                tracing::warn!(channel, error = %why, "discord: cannot read a channel's history");
                self.lock().recovery.pop_front();
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let full = messages.len() == usize::from(PAGE);
        let last = messages.last().map(|m| m.id.get());
        // Never answer what is older than the window, whatever a saved position says.
        let too_old = snowflake_at(now_ms().saturating_sub(window_ms(&self.config)));
        for mut m in messages {
            // History leaves `guild_id` out; without it a guild message would pass for a DM.
            if m.guild_id.is_none() {
                m.guild_id = guild.map(GuildId::new);
            }
            if m.id.get() < too_old {
                if let Some(c) = self.lock().channels.get_mut(&channel) {
                    c.advance(m.id.get());
                }
                continue;
            }
            self.observe(&m, true, true);
        }
        let mut state = self.lock();
        if state.recovery.front().map(|r| r.0) == Some(channel) {
            match last {
                Some(last) if full && pages + 1 < MAX_PAGES => {
                    if let Some(front) = state.recovery.front_mut() {
                        *front = (channel, last, pages + 1);
                    }
                }
                _ => {
                    state.recovery.pop_front();
                }
            }
        }
        Ok(())
    }

    async fn register_commands(&self, application: u64) {
        let commands = classify::command_definitions();
        match self
            .rest
            .set_global_commands(ApplicationId::new(application), &commands)
            .await
        {
            Ok(()) => tracing::info!("discord: /translate and \"Translate\" commands registered"),
            Err(e) => tracing::warn!(error = %e, "discord: cannot register the commands"),
        }
    }

    /// Saves the positions of channels that moved. Called with the state lock held, so saves
    /// stay in order.
    fn save_positions(&self, state: &mut State) {
        let mut cursors = Vec::new();
        for (id, c) in state.channels.iter_mut().filter(|(_, c)| c.dirty) {
            // Never past a message still being answered: after a crash it must be fetched again.
            let position = c.in_flight.first().map_or(c.last_seen, |first| {
                c.last_seen.min(first.saturating_sub(1))
            });
            cursors.push((id.to_string(), as_i64(position)));
            c.dirty = false;
            c.saved = true;
        }
        if cursors.is_empty() {
            return;
        }
        let now = i64::try_from(now_ms() / 1000).unwrap_or(i64::MAX);
        if let Err(e) = self.store.save_cursors(STORE_KEY, &cursors, now) {
            tracing::error!(error = %e, "discord: cannot save channel positions");
        }
    }
}

/// The nonce of one part of a reply: the same every time that part is sent (a send repeated
/// after a crash, a retry after a lost answer), different for every other part of every other
/// reply. It is made of the answered message's snowflake (unique on Discord) and the part, in
/// hex: at most 22 characters of the 25 Discord takes. `None` for a key that is not a
/// snowflake; that reply is sent without one.
fn reply_nonce(reply: &Outbound) -> Option<String> {
    let id = &*reply.in_reply_to.id;
    let (kind, digits) = id.strip_prefix('i').map_or(("m", id), |rest| ("i", rest));
    let snowflake = digits.parse::<u64>().ok()?;
    Some(format!("{kind}{snowflake:x}.{:x}", reply.part))
}

/// Runs a start-up request up to five times with backoff; permanent errors end it at once.
async fn with_retries<T, F, Fut>(what: &str, mut call: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RestError>>,
{
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=5 {
        match call().await {
            Ok(v) => return Ok(v),
            Err(RestError::Permanent(e)) => return Err(format!("cannot get {what}: {e}")),
            Err(e) if attempt < 5 => {
                tracing::warn!(error = %e, "discord: cannot get {what}; retrying");
                tokio::time::sleep(match e {
                    RestError::RetryAfter(d) => d,
                    _ => wait,
                })
                .await;
                wait *= 2;
            }
            Err(e) => return Err(format!("cannot get {what}: {e}")),
        }
    }
    Err(format!("cannot get {what}"))
}

fn window_ms(config: &DiscordConfig) -> u64 {
    u64::try_from(config.recovery_window.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait::async_trait]
impl Platform for DiscordPlatform {
    fn id(&self) -> PlatformId {
        PlatformId::Discord
    }

    fn connection(&self) -> Connection {
        let shards = self.link.shards.lock().unwrap_or_else(|e| e.into_inner());
        let down: Vec<u32> = shards
            .iter()
            .filter(|(_, up)| !**up)
            .map(|(s, _)| *s)
            .collect();
        match (shards.len(), down.is_empty()) {
            (0, _) => Connection::down("no gateway shard started yet"),
            (n, true) => Connection::up(format!("{n} gateway shard(s) connected")),
            (n, false) => Connection::down(format!(
                "{} of {n} shard(s) not connected: {down:?}",
                down.len()
            )),
        }
    }

    async fn recv(&self) -> Option<Inbound> {
        let mut backoff = Duration::from_secs(1);
        loop {
            let (next, register, recover) = {
                let mut state = self.lock();
                let next = state.buffer.pop_front();
                let register = match (state.register_commands, state.identity) {
                    (true, Some(me)) => {
                        state.register_commands = false;
                        Some(me.application)
                    }
                    _ => None,
                };
                (next, register, state.recovery.front().copied())
            };
            if next.is_some() {
                return next;
            }
            if let Some(application) = register {
                self.until_closed(self.register_commands(application))
                    .await?;
                continue;
            }
            if let Some((channel, after, pages)) = recover {
                match self
                    .until_closed(self.recover_next(channel, after, pages))
                    .await?
                {
                    Ok(()) => backoff = Duration::from_secs(1),
                    Err(e) => {
                        let wait = match e {
                            RestError::RetryAfter(d) => d,
                            _ => backoff,
                        };
                        tracing::warn!(channel, error = %e, "discord: history fetch failed; retrying");
                        self.until_closed(tokio::time::sleep(wait)).await?;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                    }
                }
                continue;
            }
            let event = self
                .until_closed(async { self.events.lock().await.recv().await })
                .await??;
            self.on_event(event);
        }
    }

    async fn send(&self, reply: &Outbound) -> Result<(), SendError> {
        let channel = reply
            .chat
            .chat
            .parse::<u64>()
            .ok()
            .filter(|c| *c != 0)
            .map(ChannelId::new)
            .ok_or_else(|| SendError::Permanent("not a Discord channel id".into()))?;
        let route = reply.reply_to.as_deref().and_then(ReplyRoute::parse);
        let nonce = reply_nonce(reply);
        let result = match route {
            Some(ReplyRoute::Interaction {
                application,
                token,
                ephemeral,
            }) => {
                let application = ApplicationId::new(application.max(1));
                if reply.part == 0 {
                    self.rest
                        .edit_original(application, token, &reply.text)
                        .await
                } else {
                    self.rest
                        .followup(application, token, &reply.text, ephemeral)
                        .await
                }
            }
            Some(ReplyRoute::Message(id)) => {
                let quote = (reply.part == 0 && id != 0).then(|| MessageId::new(id));
                self.rest
                    .create_message(channel, &reply.text, quote, nonce.as_deref())
                    .await
            }
            None => {
                self.rest
                    .create_message(channel, &reply.text, None, nonce.as_deref())
                    .await
            }
        };
        result.map_err(SendError::from)
    }

    fn close(&self) {
        self.closed.send_replace(true);
    }

    fn max_reply_chars(&self) -> usize {
        MAX_MESSAGE_LEN
    }

    fn render(&self, text: &str) -> String {
        markdown::escape(text)
    }

    fn pacing(&self) -> Pacing {
        self.config.pacing
    }

    fn ack(&self, key: &MessageKey) {
        let Ok(id) = key.id.trim_start_matches('i').parse::<u64>() else {
            return;
        };
        let channel = key.chat.chat.parse::<u64>().ok();
        let forget_below = snowflake_at(now_ms().saturating_sub(window_ms(&self.config)));
        let mut state = self.lock();
        if !state.in_flight.remove(&id) {
            return;
        }
        state.handled.insert(id);
        state.handled = state.handled.split_off(&forget_below);
        if let Some(c) = channel.and_then(|c| state.channels.get_mut(&c)) {
            c.in_flight.remove(&id);
            c.dirty = true;
        }
        if let Err(e) = self
            .store
            .record_handled(STORE_KEY, &[as_i64(id)], as_i64(forget_below))
        {
            tracing::error!(error = %e, "discord: cannot save a handled message; a restart now could answer it twice");
        }
        self.save_positions(&mut state);
    }

    async fn actors(&self, template: &SupervisorTemplate) -> Result<Vec<ChildSpec>, String> {
        // Who the bot is, before any event arrives (mentions of it are addressed to it).
        let (bot, application) = with_retries("the bot's identity", || self.rest.identity())
            .await
            .map_err(|e| format!("{e}; check DISCORD_BOT_TOKEN and DISCORD_API_URL"))?;
        self.lock().identity = Some(Identity { bot, application });
        let total = match self.config.shards {
            Some(n) => n,
            None => with_retries("the shard count", || self.rest.recommended_shards())
                .await
                .map_err(|e| format!("{e}; or set platforms.discord.shards"))?,
        };
        let range = self.config.shard_range.clone().unwrap_or(0..total);
        if range.end > total {
            return Err(format!(
                "platforms.discord.shard_range {}-{} goes past the {total} shards Discord recommends; set platforms.discord.shards",
                range.start,
                range.end - 1
            ));
        }
        tracing::info!(total, from = range.start, to = range.end, "discord: shards");
        let shards: Vec<ChildSpec> = range
            .map(|shard| {
                let link = self.link.clone();
                ChildSpec::worker(
                    format!("shard-{shard}"),
                    ActorKind::Shard,
                    Restart::Permanent,
                    None,
                    move || {
                        (
                            ShardActor,
                            ShardArgs {
                                shard,
                                total,
                                link: link.clone(),
                            },
                        )
                    },
                )
            })
            .collect();
        let template = template.clone();
        Ok(vec![ChildSpec::supervisor(
            "discord-shards",
            ActorKind::ShardSupervisor,
            Restart::Permanent,
            None,
            move || {
                template.args(
                    "discord-shards",
                    ActorKind::ShardSupervisor,
                    Strategy::OneForOne,
                    shards.clone(),
                )
            },
        )])
    }

    async fn finish(&self, _deadline: tokio::time::Instant) {
        let mut state = self.lock();
        self.save_positions(&mut state);
    }

    /// A voice message's audio, from the attachment URL [`classify`] put in `file_id`.
    async fn fetch_voice(&self, voice: &Voice) -> Result<Vec<u8>, MediaError> {
        self.rest.download(&voice.file_id, MAX_VOICE_BYTES).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_follow_discords_epoch() {
        // 2015-01-01 is snowflake 0; one millisecond later is 1 << 22.
        assert_eq!(snowflake_at(DISCORD_EPOCH_MS), 0);
        assert_eq!(snowflake_at(DISCORD_EPOCH_MS + 1), 1 << 22);
        assert_eq!(snowflake_at(0), 0);
    }
}
