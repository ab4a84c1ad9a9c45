//! A gateway shard as an actor: one serenity client running one shard.
//!
//! The actor starts the client in a task it owns and fails when the client stops (a fatal
//! gateway error such as a rejected token), so its supervisor restarts it with backoff. serenity
//! itself heartbeats, reconnects and RESUMEs; a restarted shard opens a *new* session, and the
//! platform recovers what was missed meanwhile from channel history. Stopping the actor closes the
//! connection cleanly (code 1000); killing it closes it too, from the state's drop.
//!
//! The event handler forwards what the runtime needs (messages, interactions, READY, RESUMED) to
//! the platform's event channel; messages also go through a collector, which keeps their order
//! (see [`Handler::install_collector`]). Interactions are acknowledged (deferred) here at once, because
//! Discord allows only 3 s for that and the answer may take longer.
//!
//! (This actor lives with the Discord platform, not in `src/actors`, because it is made of
//! serenity types.)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use serenity::all::{
    ConnectionStage, Context, Event, EventHandler, GatewayIntents, Interaction, Message, Ready,
    ResumedEvent, ShardStageUpdateEvent,
};
use serenity::gateway::{CollectorCallback, ShardManager};
use serenity::http::HttpBuilder;
use tokio::sync::mpsc;

use super::GatewayEvent;
use super::rest::Rest;
use crate::secret::Secret;
use crate::task::OwnedTask;

/// What every shard of the process shares.
pub struct GatewayLink {
    pub token: Secret,
    pub api_url: String,
    pub client: reqwest::Client,
    pub rest: Arc<Rest>,
    pub events: mpsc::UnboundedSender<GatewayEvent>,
    /// Whether each shard of this process is connected (stage `Connected`).
    pub shards: std::sync::Mutex<std::collections::BTreeMap<u32, bool>>,
}

impl GatewayLink {
    pub fn shard_connected(&self, shard: u32, connected: bool) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.insert(shard, connected);
    }
}

pub struct ShardArgs {
    pub shard: u32,
    pub total: u32,
    pub link: Arc<GatewayLink>,
}

pub enum ShardMsg {
    /// The client stopped, with why.
    Ended(String),
}

/// Keeps the client running; shuts the shard down when dropped (kill, panic).
pub struct ShardState {
    manager: Arc<ShardManager>,
    _client: OwnedTask,
    shard: u32,
    link: Arc<GatewayLink>,
}

impl Drop for ShardState {
    fn drop(&mut self) {
        self.link.shard_connected(self.shard, false);
        let manager = self.manager.clone();
        // The shard runner is a task of serenity's; make sure it goes with this incarnation.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move { manager.shutdown_all().await });
        }
    }
}

/// See the module docs.
pub struct ShardActor;

struct Handler {
    shard: u32,
    link: Arc<GatewayLink>,
    /// Bumped whenever a connection is established; collectors of older ones retire.
    generation: Arc<AtomicU64>,
}

impl Handler {
    /// Installs a collector on the shard runner of this connection. serenity runs collectors
    /// inline, in gateway order, before it spawns a task per event handler call (which may run
    /// in any order), so messages reach the platform in the order users sent them. Until the
    /// collector is in place (the first moments of a connection) the handler's own copies are
    /// the only ones; the platform drops the duplicates by message id.
    fn install_collector(&self, ctx: &Context) {
        let generation = self.generation.clone();
        let mine = generation.fetch_add(1, Ordering::SeqCst) + 1;
        let events = self.link.events.clone();
        ctx.shard
            .add_collector(CollectorCallback(Box::new(move |event: &Event| {
                if generation.load(Ordering::SeqCst) != mine {
                    return false;
                }
                if let Event::MessageCreate(created) = event {
                    let _ = events.send(GatewayEvent::Message {
                        message: Box::new(created.message.clone()),
                        ordered: true,
                    });
                }
                !events.is_closed()
            })));
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn message(&self, _ctx: Context, message: Message) {
        let _ = self.link.events.send(GatewayEvent::Message {
            message: Box::new(message),
            ordered: false,
        });
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let Interaction::Command(command) = interaction else {
            return;
        };
        let ephemeral = command.data.kind == serenity::all::CommandType::Message;
        if let Err(e) = self
            .link
            .rest
            .defer(command.id, &command.token, ephemeral)
            .await
        {
            // Already acknowledged (a replay after RESUME), or too late: the platform decides.
            tracing::debug!(error = %e, "discord: cannot defer an interaction");
        }
        let _ = self
            .link
            .events
            .send(GatewayEvent::Command(Box::new(command)));
    }

    async fn shard_stage_update(&self, ctx: Context, event: ShardStageUpdateEvent) {
        self.link
            .shard_connected(self.shard, event.new == ConnectionStage::Connected);
        if event.new != ConnectionStage::Connected {
            return;
        }
        if event.old != ConnectionStage::Resuming {
            // A new session. Reported before the collector goes in, so the platform hears of
            // it before any of the session's messages arrive in order.
            tracing::info!(shard = self.shard, "discord: new gateway session");
            let _ = self
                .link
                .events
                .send(GatewayEvent::NewSession { shard: self.shard });
        }
        self.install_collector(&ctx);
    }

    async fn ready(&self, _ctx: Context, ready: Ready) {
        let _ = self.link.events.send(GatewayEvent::Ready {
            bot: ready.user.id.get(),
            application: ready.application.id.get(),
        });
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        tracing::info!(shard = self.shard, "discord: gateway session resumed");
        let _ = self
            .link
            .events
            .send(GatewayEvent::Resumed { shard: self.shard });
    }
}

impl Actor for ShardActor {
    type Msg = ShardMsg;
    type State = ShardState;
    type Arguments = ShardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: ShardArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let link = args.link;
        link.shard_connected(args.shard, false);
        let http = HttpBuilder::new(link.token.expose())
            .client(link.client.clone())
            .proxy(link.api_url.clone())
            .ratelimiter_disabled(true)
            .build();
        let intents = GatewayIntents::GUILD_MESSAGES
            | GatewayIntents::DIRECT_MESSAGES
            | GatewayIntents::MESSAGE_CONTENT
            | GatewayIntents::GUILDS;
        let handler = Handler {
            shard: args.shard,
            link: link.clone(),
            generation: Arc::new(AtomicU64::new(0)),
        };
        let mut client = serenity::client::ClientBuilder::new_with_http(http, intents)
            .event_handler(handler)
            .await
            .map_err(|e| format!("cannot build the Discord client: {}", describe(&e)))?;
        let manager = client.shard_manager.clone();
        let (shard, total) = (args.shard, args.total);
        let task = OwnedTask::spawn(async move {
            let reason = match client.start_shard(shard, total).await {
                Ok(()) => "stopped".to_string(),
                Err(e) => describe(&e),
            };
            let _ = myself.cast(ShardMsg::Ended(reason));
        });
        Ok(ShardState {
            manager,
            _client: task,
            shard,
            link,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.manager.shutdown_all().await;
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let ShardMsg::Ended(reason) = msg;
        Err(format!("discord shard {} ended: {reason}", state.shard).into())
    }
}

/// A serenity error, described without secrets.
fn describe(e: &serenity::Error) -> String {
    use serenity::Error;
    match e {
        Error::Gateway(g) => format!("gateway: {g}"),
        Error::Http(_) => "HTTP error".into(),
        Error::Json(_) => "unexpected JSON".into(),
        Error::Io(io) => format!("I/O error: {}", io.kind()),
        other => {
            let s = other.to_string();
            s.chars().take(200).collect()
        }
    }
}
