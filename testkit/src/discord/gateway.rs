//! The gateway server: WebSocket connections, IDENTIFY / RESUME / heartbeats, sessions.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::GatewayEventKind;
use super::payload::{current_user_json, random_hex, sf};
use super::state::{Conn, Outbound, Session, Shared, State};

/// How long the WebSocket handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for the client's close frame after sending ours.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutting_down() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let refused = shared.mutate(|s| {
                    if s.refuse {
                        s.next_conn += 1;
                        let id = s.next_conn;
                        s.record_gateway(id, GatewayEventKind::Refused);
                    }
                    s.refuse
                });
                if refused {
                    // Dropping the stream closes the TCP connection before the handshake.
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// How a connection ended, for the record.
struct Ending {
    client_close_code: Option<u16>,
    dropped_by_fake: bool,
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let handshake =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::accept_async(stream));
    let Ok(Ok(mut ws)) = handshake.await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let conn_id = shared.mutate(|s| {
        s.next_conn += 1;
        let id = s.next_conn;
        s.conns.insert(
            id,
            Conn {
                tx: tx.clone(),
                session: None,
                killed: false,
            },
        );
        s.record_gateway(id, GatewayEventKind::Connected);
        let interval = u64::try_from(s.heartbeat_interval.as_millis()).unwrap_or(u64::MAX);
        let hello = json!({"op": 10, "d": {"heartbeat_interval": interval}, "s": null, "t": null});
        let _ = tx.send(Outbound::Frame(hello.to_string()));
        id
    });
    drop(tx);

    let mut ending = Ending {
        client_close_code: None,
        dropped_by_fake: false,
    };
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let close_deadline = closing.unwrap_or_else(|| tokio::time::Instant::now() + CLOSE_TIMEOUT);
        tokio::select! {
            biased;
            () = shared.shutting_down() => {
                ending.dropped_by_fake = true;
                break;
            }
            out = rx.recv() => match out {
                Some(Outbound::Frame(text)) => {
                    if closing.is_none() && ws.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Outbound::Close(code, reason)) => {
                    if closing.is_none() {
                        let frame = CloseFrame { code: CloseCode::from(code), reason: Cow::Owned(reason) };
                        if ws.close(Some(frame)).await.is_err() {
                            break;
                        }
                        closing = Some(tokio::time::Instant::now() + CLOSE_TIMEOUT);
                    }
                }
                Some(Outbound::Kill) | None => {
                    ending.dropped_by_fake = true;
                    break;
                }
            },
            incoming = ws.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if closing.is_none() {
                        shared.mutate(|s| s.gateway_op(conn_id, &text));
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    shared.mutate(|s| s.close(conn_id, 4002, "Error while decoding payload."));
                }
                Some(Ok(Message::Close(frame))) => {
                    // tungstenite answers the close frame on the next read; keep reading
                    // until the stream ends.
                    ending.client_close_code = frame.map(|f| u16::from(f.code));
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => break,
            },
            () = tokio::time::sleep_until(close_deadline), if closing.is_some() => break,
        }
    }
    // Dropping `ws` closes the TCP connection (no close frame if none was exchanged).
    drop(ws);
    shared.mutate(|s| s.connection_ended(conn_id, &ending));
}

fn token_matches(given: Option<&str>, token: &str) -> bool {
    given
        .map(|t| t.trim())
        .map(|t| t.strip_prefix("Bot ").unwrap_or(t))
        .is_some_and(|t| t == token)
}

impl State {
    fn send(&self, conn_id: u64, frame: Value) {
        if let Some(conn) = self.conns.get(&conn_id) {
            let _ = conn.tx.send(Outbound::Frame(frame.to_string()));
        }
    }

    fn close(&mut self, conn_id: u64, code: u16, reason: &str) {
        if let Some(conn) = self.conns.get(&conn_id) {
            let _ = conn.tx.send(Outbound::Close(code, reason.to_owned()));
        }
        self.record_gateway(conn_id, GatewayEventKind::ClosedByFake { code });
    }

    fn connection_ended(&mut self, conn_id: u64, ending: &Ending) {
        let Some(conn) = self.conns.remove(&conn_id) else {
            return;
        };
        let now = Instant::now();
        if let Some(session) = conn
            .session
            .and_then(|id| self.sessions.iter_mut().find(|s| s.id == id))
        {
            if session.conn == Some(conn_id) {
                session.conn = None;
                session.disconnected_at = Some(now);
            }
            // A client closing with 1000 / 1001 ends its session, as on Discord.
            if matches!(ending.client_close_code, Some(1000 | 1001)) {
                session.invalidated = true;
            }
        }
        self.record_gateway(
            conn_id,
            GatewayEventKind::Disconnected {
                client_close_code: ending.client_close_code,
                dropped_by_fake: ending.dropped_by_fake || conn.killed,
            },
        );
    }

    /// Handles one text frame from the client.
    pub(crate) fn gateway_op(&mut self, conn_id: u64, text: &str) {
        if self.conns.get(&conn_id).is_none_or(|c| c.killed) {
            return;
        }
        let Ok(payload) = serde_json::from_str::<Value>(text) else {
            self.close(conn_id, 4002, "Error while decoding payload.");
            return;
        };
        let d = payload.get("d").cloned().unwrap_or(Value::Null);
        let identified = self
            .conns
            .get(&conn_id)
            .is_some_and(|c| c.session.is_some());
        match payload.get("op").and_then(Value::as_u64) {
            Some(1) => {
                let acked = !self.zombie;
                if acked {
                    self.send(conn_id, json!({"op": 11, "d": null, "s": null, "t": null}));
                }
                let seq = d.as_u64();
                self.record_gateway(conn_id, GatewayEventKind::Heartbeat { seq, acked });
            }
            Some(2) => self.identify(conn_id, &d, identified),
            Some(6) => self.resume(conn_id, &d),
            Some(op @ (3 | 4 | 8 | 31)) => {
                if identified {
                    self.record_gateway(conn_id, GatewayEventKind::Other { op });
                } else {
                    self.close(conn_id, 4003, "Not authenticated.");
                }
            }
            _ => self.close(conn_id, 4001, "Unknown opcode."),
        }
    }

    fn identify(&mut self, conn_id: u64, d: &Value, identified: bool) {
        let shard = match d.get("shard") {
            None | Some(Value::Null) => Some([0, 1]),
            Some(v) => v.as_array().and_then(|a| match a.as_slice() {
                [id, count] => Some([
                    u32::try_from(id.as_u64()?).ok()?,
                    u32::try_from(count.as_u64()?).ok()?,
                ]),
                _ => None,
            }),
        };
        let intents = d.get("intents").and_then(Value::as_u64);
        let record = |s: &mut State, accepted: bool, session_id: Option<String>| {
            s.record_gateway(
                conn_id,
                GatewayEventKind::Identify {
                    shard: shard.unwrap_or([0, 0]),
                    intents: intents.unwrap_or(0),
                    accepted,
                    session_id,
                },
            );
        };
        if identified {
            record(self, false, None);
            return self.close(conn_id, 4005, "Already authenticated.");
        }
        if !token_matches(d.get("token").and_then(Value::as_str), &self.token) {
            record(self, false, None);
            return self.close(conn_id, 4004, "Authentication failed.");
        }
        let Some(shard @ [shard_id, count]) = shard.filter(|[id, count]| *count > 0 && id < count)
        else {
            record(self, false, None);
            return self.close(conn_id, 4010, "Invalid shard.");
        };
        let Some(intents) = intents else {
            record(self, false, None);
            return self.close(conn_id, 4013, "Invalid intent(s).");
        };

        let session_id = random_hex();
        self.session_starts += 1;
        self.sessions.push(Session {
            id: session_id.clone(),
            shard,
            intents,
            seq: 0,
            frames: Vec::new(),
            conn: Some(conn_id),
            disconnected_at: None,
            invalidated: false,
        });
        if let Some(conn) = self.conns.get_mut(&conn_id) {
            conn.session = Some(session_id.clone());
        }
        record(self, true, Some(session_id.clone()));

        let index = self.sessions.len() - 1;
        let guilds: Vec<u64> = self
            .guilds
            .keys()
            .copied()
            .filter(|g| (g >> 22) % u64::from(count) == u64::from(shard_id))
            .collect();
        let ready = json!({
            "v": 10,
            "user": current_user_json(&self.bot),
            "guilds": guilds.iter().map(|g| json!({"id": sf(*g), "unavailable": true})).collect::<Vec<_>>(),
            "session_id": session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": [shard_id, count],
            "application": {"id": sf(self.application_id), "flags": 0},
            "private_channels": [],
            "presences": [],
            "relationships": [],
            "guild_join_requests": [],
            "user_settings": {},
            "auth": {},
            "geo_ordered_rtc_regions": ["fake"],
            "_trace": ["[\"fake-discord-gateway\",{\"micros\":0}]"],
        });
        self.push_to_session(index, "READY", ready);
        if intents & super::intents::GUILDS != 0 {
            for guild_id in guilds {
                let guild = self.guild_create_json(guild_id);
                self.push_to_session(index, "GUILD_CREATE", guild);
            }
        }
    }

    fn resume(&mut self, conn_id: u64, d: &Value) {
        let session_id = d
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
        if !token_matches(d.get("token").and_then(Value::as_str), &self.token) {
            self.record_gateway(
                conn_id,
                GatewayEventKind::Resume {
                    session_id,
                    seq,
                    accepted: false,
                    replayed: 0,
                },
            );
            return self.close(conn_id, 4004, "Authentication failed.");
        }
        let now = Instant::now();
        let window = self.resume_window;
        let index = self
            .sessions
            .iter()
            .position(|s| s.id == session_id && s.resumable(now, window));
        let Some(index) = index else {
            self.send(conn_id, json!({"op": 9, "d": false, "s": null, "t": null}));
            self.record_gateway(
                conn_id,
                GatewayEventKind::Resume {
                    session_id,
                    seq,
                    accepted: false,
                    replayed: 0,
                },
            );
            self.record_gateway(conn_id, GatewayEventKind::InvalidSession);
            return;
        };
        // The session moves to this connection; an old one still attached is dropped.
        let previous = self.sessions[index].conn.replace(conn_id);
        self.sessions[index].disconnected_at = None;
        if let Some(old) = previous.filter(|old| *old != conn_id)
            && let Some(conn) = self.conns.get_mut(&old)
        {
            conn.killed = true;
            conn.session = None;
            let _ = conn.tx.send(Outbound::Kill);
        }
        if let Some(conn) = self.conns.get_mut(&conn_id) {
            conn.session = Some(session_id.clone());
        }
        let replay: Vec<String> = self.sessions[index]
            .frames
            .iter()
            .filter(|(s, _)| *s > seq)
            .map(|(_, frame)| frame.clone())
            .collect();
        let replayed = replay.len();
        if let Some(conn) = self.conns.get(&conn_id) {
            for frame in replay {
                let _ = conn.tx.send(Outbound::Frame(frame));
            }
        }
        self.push_to_session(
            index,
            "RESUMED",
            json!({"_trace": ["fake-discord-gateway"]}),
        );
        self.record_gateway(
            conn_id,
            GatewayEventKind::Resume {
                session_id,
                seq,
                accepted: true,
                replayed,
            },
        );
    }
}
