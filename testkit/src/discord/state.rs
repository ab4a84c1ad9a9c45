//! The fake's state: the world (guilds, channels, history), what the bot did, gateway
//! sessions and connections, and the routing of dispatches to sessions.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, watch};

use super::payload::{
    self, interaction_channel_json, member_json, random_hex, rfc3339, sf, text_channel_json,
    unix_ms, user_json,
};
use super::{
    CreatedMessage, DEFAULT_BOT_NAME, DEFAULT_BOT_USER_ID, DEFAULT_OWNER_ID, DcMessage, DcUser,
    GatewayEvent, GatewayEventKind, Interaction, InteractionCallback, InteractionEdit, RestCall,
    RestFault, SessionInfo, intents,
};

/// Shared between the handle, the REST server and the gateway.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Bumped after every change; the `wait_for_*` helpers wake on it.
    changes: watch::Sender<u64>,
    /// Becomes `true` when the last handle is dropped.
    pub(crate) shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(state: State) -> Shared {
        Shared {
            state: Mutex::new(state),
            changes: watch::channel(0).0,
            shutdown: watch::channel(false).0,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state inconsistent in a way that
        // matters for a test double, so poisoning is ignored.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the state, then wakes the waiters (after releasing the lock).
    pub(crate) fn mutate<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut self.lock());
        self.changes.send_modify(|v| *v = v.wrapping_add(1));
        result
    }

    /// Waits until `pred` holds; `false` on timeout.
    pub(crate) async fn wait_until(
        &self,
        timeout: Duration,
        pred: impl Fn(&State) -> bool,
    ) -> bool {
        let mut rx = self.changes.subscribe();
        let wait = async {
            loop {
                // Mark the current value seen before looking, so that a change in between
                // wakes us. (The borrow is dropped at once: `mutate` holds the state lock
                // while it has none of the watch.)
                let _ = rx.borrow_and_update();
                if pred(&self.lock()) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return pred(&self.lock());
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.unwrap_or(false)
    }

    pub(crate) async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone, which also means shutdown.
        let _ = rx.wait_for(|down| *down).await;
    }
}

/// `method` as given to `fail_next` / `wait_for_rest_calls` against a request's method.
pub(crate) fn method_matches(pattern: &str, method: &str) -> bool {
    pattern == "*" || pattern.eq_ignore_ascii_case(method)
}

pub(crate) struct QueuedFault {
    pub(crate) method: String,
    pub(crate) path_prefix: String,
    pub(crate) fault: RestFault,
}

pub(crate) struct Guild {
    pub(crate) name: String,
    pub(crate) joined_at: String,
    /// Text channels, in order of creation.
    pub(crate) channels: Vec<u64>,
}

pub(crate) struct Channel {
    pub(crate) guild_id: Option<u64>,
    pub(crate) name: String,
    /// The other party of a DM channel.
    pub(crate) recipient: Option<DcUser>,
    /// Message objects by id.
    pub(crate) messages: BTreeMap<u64, Value>,
}

pub(crate) struct InteractionState {
    pub(crate) id: u64,
    pub(crate) channel_id: u64,
    pub(crate) guild_id: Option<u64>,
    pub(crate) user: DcUser,
    pub(crate) name: String,
    /// `data.type`: 1 chat input, 2 user, 3 message.
    pub(crate) command_type: u8,
    pub(crate) target_id: Option<u64>,
    pub(crate) created: Instant,
    /// The callback type, once answered.
    pub(crate) responded: Option<u8>,
    /// The original response message, once created.
    pub(crate) original: Option<Value>,
}

/// The command part of an interaction.
struct Invocation<'a> {
    name: &'a str,
    /// `data.type`: 1 chat input, 3 message.
    command_type: u8,
    target_id: Option<u64>,
    /// Extra fields of `data` (options, target, resolved).
    data: Map<String, Value>,
}

/// What a connection task writes next.
#[derive(Debug)]
pub(crate) enum Outbound {
    /// A text frame.
    Frame(String),
    /// A close frame with this code and reason, then wait for the client's close.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Kill,
}

pub(crate) struct Conn {
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
    /// The session attached to this connection (after IDENTIFY / RESUME).
    pub(crate) session: Option<String>,
    /// Set by `drop_connections`: the task is going away.
    pub(crate) killed: bool,
}

pub(crate) struct Session {
    pub(crate) id: String,
    pub(crate) shard: [u32; 2],
    pub(crate) intents: u64,
    pub(crate) seq: u64,
    /// Every dispatch of the session, `(seq, frame)`, for RESUME.
    pub(crate) frames: Vec<(u64, String)>,
    pub(crate) conn: Option<u64>,
    pub(crate) disconnected_at: Option<Instant>,
    pub(crate) invalidated: bool,
}

impl Session {
    pub(crate) fn resumable(&self, now: Instant, window: Duration) -> bool {
        !self.invalidated
            && (self.conn.is_some()
                || self
                    .disconnected_at
                    .is_some_and(|t| now.saturating_duration_since(t) < window))
    }

    fn covers(&self, audience: Audience) -> bool {
        let [id, count] = self.shard;
        match audience {
            Audience::Guild(guild_id) => {
                (guild_id >> 22) % u64::from(count.max(1)) == u64::from(id)
            }
            Audience::Direct => id == 0,
        }
    }
}

/// Who an event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    Guild(u64),
    Direct,
}

pub(crate) struct State {
    pub(crate) token: String,
    pub(crate) bot: DcUser,
    pub(crate) application_id: u64,
    pub(crate) shards: u32,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) resume_window: Duration,
    pub(crate) interaction_window: Duration,
    pub(crate) gateway_url: String,

    pub(crate) guilds: BTreeMap<u64, Guild>,
    pub(crate) channels: BTreeMap<u64, Channel>,
    pub(crate) users: HashMap<u64, DcUser>,
    pub(crate) last_id: u64,

    pub(crate) created: Vec<CreatedMessage>,
    /// The bot's messages sent with `enforce_nonce`, by nonce: (message id, channel, when).
    pub(crate) nonces: HashMap<String, (u64, u64, Instant)>,
    pub(crate) callbacks: Vec<InteractionCallback>,
    pub(crate) edits: Vec<InteractionEdit>,
    pub(crate) followups: Vec<InteractionEdit>,
    pub(crate) global_commands: Vec<Value>,
    pub(crate) guild_commands: BTreeMap<u64, Vec<Value>>,
    /// By token.
    pub(crate) interactions: HashMap<String, InteractionState>,
    pub(crate) rest_calls: Vec<RestCall>,
    pub(crate) faults: VecDeque<QueuedFault>,
    /// Files the CDN serves, by path (`/attachments/…`).
    pub(crate) attachment_files: HashMap<String, Vec<u8>>,

    pub(crate) sessions: Vec<Session>,
    pub(crate) conns: HashMap<u64, Conn>,
    pub(crate) next_conn: u64,
    pub(crate) gateway_events: Vec<GatewayEvent>,
    pub(crate) session_starts: u64,
    pub(crate) zombie: bool,
    pub(crate) refuse: bool,
}

impl State {
    pub(crate) fn new(token: &str, gateway_url: String) -> State {
        State {
            token: token.to_owned(),
            bot: DcUser::new(DEFAULT_BOT_USER_ID, DEFAULT_BOT_NAME).bot(),
            application_id: DEFAULT_BOT_USER_ID,
            shards: 1,
            heartbeat_interval: Duration::from_secs(1),
            resume_window: Duration::from_secs(60),
            interaction_window: Duration::from_secs(3),
            gateway_url,
            guilds: BTreeMap::new(),
            channels: BTreeMap::new(),
            users: HashMap::new(),
            last_id: 0,
            created: Vec::new(),
            nonces: HashMap::new(),
            callbacks: Vec::new(),
            edits: Vec::new(),
            followups: Vec::new(),
            global_commands: Vec::new(),
            guild_commands: BTreeMap::new(),
            interactions: HashMap::new(),
            rest_calls: Vec::new(),
            faults: VecDeque::new(),
            attachment_files: HashMap::new(),
            sessions: Vec::new(),
            conns: HashMap::new(),
            next_conn: 0,
            gateway_events: Vec::new(),
            session_starts: 0,
            zombie: false,
            refuse: false,
        }
    }

    /// The next snowflake: time-based, strictly increasing.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.last_id = payload::snowflake_now().max(self.last_id + 1);
        self.last_id
    }

    pub(crate) fn owner(&self) -> DcUser {
        self.users
            .get(&DEFAULT_OWNER_ID)
            .cloned()
            .unwrap_or_else(|| DcUser::new(DEFAULT_OWNER_ID, "owner"))
    }

    pub(crate) fn record_gateway(&mut self, connection: u64, kind: GatewayEventKind) {
        self.gateway_events.push(GatewayEvent {
            at: Instant::now(),
            connection,
            kind,
        });
    }

    pub(crate) fn identify_count(&self) -> usize {
        self.gateway_events
            .iter()
            .filter(|e| matches!(e.kind, GatewayEventKind::Identify { .. }))
            .count()
    }

    pub(crate) fn resume_count(&self, accepted_only: bool) -> usize {
        self.gateway_events
            .iter()
            .filter(|e| match e.kind {
                GatewayEventKind::Resume { accepted, .. } => accepted || !accepted_only,
                _ => false,
            })
            .count()
    }

    pub(crate) fn session_infos(&self) -> Vec<SessionInfo> {
        let now = Instant::now();
        self.sessions
            .iter()
            .filter(|s| s.conn.is_some() || s.resumable(now, self.resume_window))
            .map(|s| SessionInfo {
                id: s.id.clone(),
                shard: s.shard,
                intents: s.intents,
                seq: s.seq,
                connected: s.conn.is_some(),
                resumable: s.resumable(now, self.resume_window),
            })
            .collect()
    }

    // -- the world ------------------------------------------------------------------------

    pub(crate) fn add_guild(&mut self, guild_id: u64, name: &str) {
        if let Some(guild) = self.guilds.get_mut(&guild_id) {
            guild.name = name.to_owned();
            return;
        }
        self.guilds.insert(
            guild_id,
            Guild {
                name: name.to_owned(),
                joined_at: rfc3339(unix_ms()),
                channels: Vec::new(),
            },
        );
        let guild = self.guild_create_json(guild_id);
        self.dispatch(
            Audience::Guild(guild_id),
            "GUILD_CREATE",
            &guild,
            intents::GUILDS,
            false,
        );
    }

    pub(crate) fn add_text_channel(&mut self, guild_id: u64, channel_id: u64, name: &str) {
        if !self.guilds.contains_key(&guild_id) {
            self.add_guild(guild_id, &format!("Guild {guild_id}"));
        }
        if let Some(channel) = self.channels.get_mut(&channel_id) {
            channel.name = name.to_owned();
            return;
        }
        let position = match self.guilds.get_mut(&guild_id) {
            Some(guild) => {
                guild.channels.push(channel_id);
                guild.channels.len() - 1
            }
            None => 0,
        };
        self.channels.insert(
            channel_id,
            Channel {
                guild_id: Some(guild_id),
                name: name.to_owned(),
                recipient: None,
                messages: BTreeMap::new(),
            },
        );
        let channel = text_channel_json(channel_id, Some(guild_id), name, position, None);
        self.dispatch(
            Audience::Guild(guild_id),
            "CHANNEL_CREATE",
            &channel,
            intents::GUILDS,
            false,
        );
    }

    pub(crate) fn add_dm_channel(&mut self, channel_id: u64, user: &DcUser) {
        self.users.insert(user.id, user.clone());
        let channel = self.channels.entry(channel_id).or_insert_with(|| Channel {
            guild_id: None,
            name: String::new(),
            recipient: None,
            messages: BTreeMap::new(),
        });
        channel.recipient = Some(user.clone());
    }

    pub(crate) fn history(&self, channel_id: u64) -> Vec<Value> {
        self.channels
            .get(&channel_id)
            .map(|c| c.messages.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn channel_json(&self, channel_id: u64) -> Option<Value> {
        let channel = self.channels.get(&channel_id)?;
        let last = channel.messages.keys().next_back().copied();
        Some(match (channel.guild_id, &channel.recipient) {
            (Some(guild_id), _) => {
                let position = self
                    .guilds
                    .get(&guild_id)
                    .and_then(|g| g.channels.iter().position(|c| *c == channel_id))
                    .unwrap_or(0);
                text_channel_json(channel_id, Some(guild_id), &channel.name, position, last)
            }
            (None, Some(recipient)) => payload::dm_channel_json(channel_id, recipient, last),
            (None, None) => payload::dm_channel_json(channel_id, &self.owner(), last),
        })
    }

    pub(crate) fn guild_create_json(&self, guild_id: u64) -> Value {
        let Some(guild) = self.guilds.get(&guild_id) else {
            return Value::Null;
        };
        let channels = guild
            .channels
            .iter()
            .enumerate()
            .filter_map(|(position, id)| {
                let channel = self.channels.get(id)?;
                let last = channel.messages.keys().next_back().copied();
                Some(text_channel_json(*id, None, &channel.name, position, last))
            })
            .collect();
        payload::guild_create_json(
            guild_id,
            &guild.name,
            DEFAULT_OWNER_ID,
            &guild.joined_at,
            &self.bot,
            channels,
        )
    }

    // -- messages -----------------------------------------------------------------------

    /// A message object with every field serenity needs; callers add the rest.
    pub(crate) fn base_message(
        &self,
        id: u64,
        channel_id: u64,
        author: &DcUser,
        content: &str,
        kind: u8,
    ) -> Map<String, Value> {
        let mentions: Vec<Value> = payload::mentioned_user_ids(content)
            .into_iter()
            .filter_map(|uid| {
                if uid == self.bot.id {
                    Some(user_json(&self.bot))
                } else {
                    self.users.get(&uid).map(user_json)
                }
            })
            .collect();
        let everyone = content.contains("@everyone") || content.contains("@here");
        let mut m = Map::new();
        m.insert("id".into(), sf(id));
        m.insert("channel_id".into(), sf(channel_id));
        if let Some(guild_id) = self.channels.get(&channel_id).and_then(|c| c.guild_id) {
            m.insert("guild_id".into(), sf(guild_id));
        }
        m.insert("author".into(), user_json(author));
        m.insert("content".into(), content.into());
        m.insert("timestamp".into(), rfc3339(unix_ms()).into());
        m.insert("edited_timestamp".into(), Value::Null);
        m.insert("tts".into(), false.into());
        m.insert("mention_everyone".into(), everyone.into());
        m.insert("mentions".into(), mentions.into());
        m.insert("mention_roles".into(), json!([]));
        m.insert("attachments".into(), json!([]));
        m.insert("embeds".into(), json!([]));
        m.insert("components".into(), json!([]));
        m.insert("pinned".into(), false.into());
        m.insert("type".into(), kind.into());
        m.insert("flags".into(), 0.into());
        m
    }

    /// The stored message `message_id` of `channel_id`, as a `referenced_message` (without
    /// its own `referenced_message`, as Discord sends it).
    pub(crate) fn referenced(&self, channel_id: u64, message_id: u64) -> Option<Value> {
        let mut original = self
            .channels
            .get(&channel_id)?
            .messages
            .get(&message_id)?
            .clone();
        if let Some(m) = original.as_object_mut() {
            m.remove("referenced_message");
        }
        Some(original)
    }

    /// Makes `m` a reply to `to` in `channel_id` (type 19).
    pub(crate) fn make_reply(&self, m: &mut Map<String, Value>, channel_id: u64, to: u64) {
        let guild_id = self.channels.get(&channel_id).and_then(|c| c.guild_id);
        let mut reference = Map::new();
        reference.insert("type".into(), 0.into());
        reference.insert("channel_id".into(), sf(channel_id));
        reference.insert("message_id".into(), sf(to));
        if let Some(guild_id) = guild_id {
            reference.insert("guild_id".into(), sf(guild_id));
        }
        m.insert("type".into(), 19.into());
        m.insert("message_reference".into(), Value::Object(reference));
        m.insert(
            "referenced_message".into(),
            self.referenced(channel_id, to).unwrap_or(Value::Null),
        );
    }

    /// Stores `message` in its channel's history.
    pub(crate) fn store(&mut self, channel_id: u64, id: u64, message: Value) {
        if let Some(channel) = self.channels.get_mut(&channel_id) {
            channel.messages.insert(id, message);
        }
    }

    /// Dispatches MESSAGE_CREATE for a stored message.
    pub(crate) fn dispatch_message(&mut self, channel_id: u64, message: &Value) {
        let guild_id = self.channels.get(&channel_id).and_then(|c| c.guild_id);
        let mut event = message.clone();
        let (audience, intent) = match guild_id {
            Some(guild_id) => {
                let is_webhook = message.get("webhook_id").is_some_and(|w| !w.is_null());
                if let (false, Some(m), Some(guild)) = (
                    is_webhook,
                    event.as_object_mut(),
                    self.guilds.get(&guild_id),
                ) {
                    m.insert("member".into(), member_json(None, &guild.joined_at, false));
                }
                (Audience::Guild(guild_id), intents::GUILD_MESSAGES)
            }
            None => (Audience::Direct, intents::DIRECT_MESSAGES),
        };
        self.dispatch(audience, "MESSAGE_CREATE", &event, intent, true);
    }

    pub(crate) fn push_message(&mut self, m: DcMessage) -> u64 {
        if !self.channels.contains_key(&m.channel_id) {
            self.add_dm_channel(m.channel_id, &m.author);
        }
        if m.author.id != self.bot.id {
            self.users.insert(m.author.id, m.author.clone());
        }
        let id = match m.id {
            Some(id) => {
                self.last_id = self.last_id.max(id);
                id
            }
            None => self.next_id(),
        };
        let mut message = self.base_message(id, m.channel_id, &m.author, &m.content, m.kind);
        if let Some(to) = m.reply_to {
            self.make_reply(&mut message, m.channel_id, to);
        }
        if let Some(webhook_id) = m.webhook_id {
            message.insert("webhook_id".into(), sf(webhook_id));
        }
        message.insert("attachments".into(), Value::Array(m.attachments));
        message.insert("embeds".into(), Value::Array(m.embeds));
        message.extend(m.extra);
        let message = Value::Object(message);
        self.store(m.channel_id, id, message.clone());
        if m.dispatch {
            self.dispatch_message(m.channel_id, &message);
        }
        id
    }

    // -- interactions ---------------------------------------------------------------------

    fn command_id(&mut self, guild_id: Option<u64>, name: &str, kind: u8) -> u64 {
        let find = |list: &[Value]| {
            list.iter()
                .find(|c| c["name"] == name && c["type"] == kind)
                .and_then(|c| payload::parse_sf(c.get("id")))
        };
        let guild = guild_id.and_then(|g| self.guild_commands.get(&g).and_then(|l| find(l)));
        match guild.or_else(|| find(&self.global_commands)) {
            Some(id) => id,
            None => self.next_id(),
        }
    }

    fn interaction(
        &mut self,
        channel_id: u64,
        user: &DcUser,
        invocation: Invocation<'_>,
        locale: &str,
    ) -> Interaction {
        let Invocation {
            name,
            command_type,
            target_id,
            data,
        } = invocation;
        if !self.channels.contains_key(&channel_id) {
            self.add_dm_channel(channel_id, user);
        }
        self.users.insert(user.id, user.clone());
        let id = self.next_id();
        let token = format!("fake-interaction-{id}-{}", random_hex());
        let guild_id = self.channels.get(&channel_id).and_then(|c| c.guild_id);
        let command_id = self.command_id(guild_id, name, command_type);

        let mut d = Map::new();
        d.insert("id".into(), sf(command_id));
        d.insert("name".into(), name.into());
        d.insert("type".into(), command_type.into());
        if let Some(guild_id) = guild_id {
            d.insert("guild_id".into(), sf(guild_id));
        }
        d.extend(data);

        let mut i = Map::new();
        i.insert("id".into(), sf(id));
        i.insert("application_id".into(), sf(self.application_id));
        i.insert("type".into(), 2.into());
        i.insert("data".into(), Value::Object(d));
        let channel_name = self.channels.get(&channel_id).map(|c| c.name.clone());
        match guild_id {
            Some(guild_id) => {
                let joined = self
                    .guilds
                    .get(&guild_id)
                    .map(|g| g.joined_at.clone())
                    .unwrap_or_else(|| rfc3339(unix_ms()));
                i.insert("guild_id".into(), sf(guild_id));
                i.insert(
                    "guild".into(),
                    json!({"id": sf(guild_id), "locale": "en-US", "features": []}),
                );
                i.insert("guild_locale".into(), "en-US".into());
                i.insert("member".into(), member_json(Some(user), &joined, true));
                i.insert(
                    "channel".into(),
                    interaction_channel_json(
                        channel_id,
                        Some((guild_id, channel_name.as_deref().unwrap_or(""))),
                    ),
                );
                i.insert(
                    "authorizing_integration_owners".into(),
                    json!({"0": sf(guild_id)}),
                );
                i.insert("context".into(), 0.into());
            }
            None => {
                i.insert("user".into(), user_json(user));
                i.insert("channel".into(), interaction_channel_json(channel_id, None));
                i.insert("authorizing_integration_owners".into(), json!({"0": "0"}));
                i.insert("context".into(), 1.into());
            }
        }
        i.insert("channel_id".into(), sf(channel_id));
        i.insert("token".into(), token.as_str().into());
        i.insert("version".into(), 1.into());
        i.insert("app_permissions".into(), payload::MEMBER_PERMISSIONS.into());
        i.insert("locale".into(), locale.into());
        i.insert("entitlements".into(), json!([]));
        i.insert("entitlement_sku_ids".into(), json!([]));
        i.insert(
            "attachment_size_limit".into(),
            payload::ATTACHMENT_SIZE_LIMIT.into(),
        );

        self.interactions.insert(
            token.clone(),
            InteractionState {
                id,
                channel_id,
                guild_id,
                user: user.clone(),
                name: name.to_owned(),
                command_type,
                target_id,
                created: Instant::now(),
                responded: None,
                original: None,
            },
        );
        let audience = guild_id.map_or(Audience::Direct, Audience::Guild);
        self.dispatch(audience, "INTERACTION_CREATE", &Value::Object(i), 0, false);
        Interaction {
            id,
            token,
            channel_id,
        }
    }

    pub(crate) fn slash_command(
        &mut self,
        channel_id: u64,
        user: &DcUser,
        name: &str,
        options: &[(&str, &str)],
        locale: &str,
    ) -> Interaction {
        let options: Vec<Value> = options
            .iter()
            .map(|(name, value)| json!({"name": name, "type": 3, "value": value}))
            .collect();
        let mut data = Map::new();
        if !options.is_empty() {
            data.insert("options".into(), Value::Array(options));
        }
        let invocation = Invocation {
            name,
            command_type: 1,
            target_id: None,
            data,
        };
        self.interaction(channel_id, user, invocation, locale)
    }

    pub(crate) fn message_command(
        &mut self,
        channel_id: u64,
        user: &DcUser,
        name: &str,
        target: u64,
        locale: &str,
    ) -> Interaction {
        let message = self
            .referenced(channel_id, target)
            .unwrap_or_else(|| Value::Object(self.base_message(target, channel_id, user, "", 0)));
        let mut messages = Map::new();
        messages.insert(target.to_string(), message);
        let mut data = Map::new();
        data.insert("target_id".into(), sf(target));
        data.insert("resolved".into(), json!({ "messages": messages }));
        let invocation = Invocation {
            name,
            command_type: 3,
            target_id: Some(target),
            data,
        };
        self.interaction(channel_id, user, invocation, locale)
    }

    // -- dispatch -------------------------------------------------------------------------

    /// Sends the dispatch `t` to every live session covering `audience` whose intents
    /// include `intent` (0 = none needed). `content_gated`: a message, whose content is
    /// blanked for guild sessions without MESSAGE_CONTENT (unless it is the bot's own or
    /// mentions the bot). Returns the number of sessions reached.
    pub(crate) fn dispatch(
        &mut self,
        audience: Audience,
        t: &str,
        d: &Value,
        intent: u64,
        content_gated: bool,
    ) -> usize {
        self.prune_sessions();
        let now = Instant::now();
        let window = self.resume_window;
        let bot_id = self.bot.id.to_string();
        let exempt = !content_gated
            || audience == Audience::Direct
            || d["author"]["id"] == bot_id.as_str()
            || d["mentions"]
                .as_array()
                .is_some_and(|m| m.iter().any(|u| u["id"] == bot_id.as_str()));
        let mut redacted = None;
        let mut reached = 0;
        for i in 0..self.sessions.len() {
            let session = &self.sessions[i];
            if !session.resumable(now, window)
                || !session.covers(audience)
                || session.intents & intent != intent
            {
                continue;
            }
            let payload = if exempt || session.intents & intents::MESSAGE_CONTENT != 0 {
                d
            } else {
                redacted.get_or_insert_with(|| redact_content(d))
            };
            let payload = payload.clone();
            self.push_to_session(i, t, payload);
            reached += 1;
        }
        reached
    }

    /// Appends a dispatch to session `index` and sends it if connected.
    pub(crate) fn push_to_session(&mut self, index: usize, t: &str, d: Value) {
        let Some(session) = self.sessions.get_mut(index) else {
            return;
        };
        session.seq += 1;
        let frame = json!({"op": 0, "t": t, "s": session.seq, "d": d}).to_string();
        session.frames.push((session.seq, frame.clone()));
        if let Some(conn) = session.conn.and_then(|c| self.conns.get(&c)) {
            // A closed channel means the connection task is gone; the frame stays in the
            // session for a RESUME.
            let _ = conn.tx.send(Outbound::Frame(frame));
        }
    }

    /// Forgets sessions that can no longer be resumed and have no connection.
    fn prune_sessions(&mut self) {
        let now = Instant::now();
        let window = self.resume_window;
        self.sessions
            .retain(|s| s.conn.is_some() || s.resumable(now, window));
    }

    // -- gateway faults -------------------------------------------------------------------

    pub(crate) fn drop_connections(&mut self) {
        let now = Instant::now();
        for conn in self.conns.values_mut() {
            conn.killed = true;
            let _ = conn.tx.send(Outbound::Kill);
        }
        for session in &mut self.sessions {
            if session.conn.take().is_some() {
                session.disconnected_at = Some(now);
            }
        }
    }

    pub(crate) fn invalidate_sessions(&mut self) {
        let mut notified = Vec::new();
        for session in &mut self.sessions {
            session.invalidated = true;
            if let Some(conn) = session.conn {
                notified.push(conn);
            }
        }
        for conn_id in notified {
            if let Some(conn) = self.conns.get(&conn_id) {
                let _ = conn
                    .tx
                    .send(Outbound::Frame(json!({"op": 9, "d": false}).to_string()));
                self.record_gateway(conn_id, GatewayEventKind::InvalidSession);
            }
        }
    }

    pub(crate) fn send_reconnect(&mut self) {
        self.broadcast(&json!({"op": 7, "d": null}), GatewayEventKind::Reconnect);
    }

    pub(crate) fn request_heartbeats(&mut self) {
        self.broadcast(
            &json!({"op": 1, "d": null}),
            GatewayEventKind::HeartbeatRequest,
        );
    }

    /// Sends `frame` on every live connection and records `kind` for each.
    fn broadcast(&mut self, frame: &Value, kind: GatewayEventKind) {
        let mut ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.killed)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for conn_id in ids {
            if let Some(conn) = self.conns.get(&conn_id) {
                let _ = conn.tx.send(Outbound::Frame(frame.to_string()));
            }
            self.record_gateway(conn_id, kind.clone());
        }
    }
}

/// The message as a session without MESSAGE_CONTENT sees it.
fn redact_content(d: &Value) -> Value {
    let mut d = d.clone();
    if let Some(m) = d.as_object_mut() {
        m.insert("content".into(), "".into());
        m.insert("embeds".into(), json!([]));
        m.insert("attachments".into(), json!([]));
        m.insert("components".into(), json!([]));
        m.remove("poll");
    }
    d
}
