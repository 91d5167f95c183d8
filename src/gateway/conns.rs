//! Authenticated connections and event fan-out: who is connected with which scopes
//! and who subscribed to what.
//!
//! Events go through each connection's bounded outbox ([`OutboxSender`]) and never
//! wait: a reader too slow for its queue misses events, it never grows a queue. The
//! end of a run is never missed silently ([`Conns::broadcast_or_close`]): a reader
//! whose queue has no room for it is closed with a reason after what it holds (it
//! reconnects and reads `chat.history`). An event is one shared frame for all its
//! readers, charged once to the outbound budget; streaming deltas are coalesced per
//! connection and run ([`Conns::broadcast_latest`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::lock::lock;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::limits::MAX_MESSAGE_SUBSCRIPTIONS;
use super::scopes::Grant;
use super::transport::outbox::{OutboxSender, SendError};
use crate::protocol::close;

/// The close reason of a reader whose queue had no room for the end of a run.
pub const MISSED_RUN_END: &str =
    "send queue full: the end of a run could not be queued; reconnect and read chat.history";

/// How a fan-out queues its frame.
#[derive(Debug, Clone, Copy)]
enum Mode<'a> {
    /// If there is room (a slow reader misses it).
    Plain,
    /// Coalesced under a key, droppable (a streaming delta).
    Latest(&'a str),
    /// If there is room, else the reader is closed with [`MISSED_RUN_END`].
    OrClose,
}

/// An event frame (`{"type":"event","event","payload"}`, as
/// [`crate::protocol::EventFrame`]) over any serializable payload.
#[derive(Serialize)]
struct EventOf<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    event: &'static str,
    payload: P,
}

/// Who receives an event.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// Every connection whose grant satisfies `operator.read` (`chat`, `agent`).
    Readers,
    /// Connections that called `sessions.subscribe` (`sessions.changed`).
    SessionSubscribers,
    /// Connections subscribed to this session's messages (`session.message`).
    MessageSubscribers(&'a str),
}

/// The client identity a connection declared in `connect`, with what every connection
/// that declared it holds together (`gateway::quota` counts and checks it).
#[derive(Debug)]
pub struct ClientShare {
    /// The identity (`device:<id>` or `instance:<id>`, cut to a bound).
    pub key: String,
    /// Sessions created by its connections while any of them was open.
    pub sessions_created: AtomicUsize,
}

/// One authenticated connection as seen from outside its loop.
pub struct Conn {
    /// The connection's id (one allocation shared with the registry and its runs).
    pub id: Arc<str>,
    pub grant: Grant,
    pub out: OutboxSender,
    /// The client identity it declared, shared with its other connections; `None`
    /// when it declared none (then only the per-connection quotas apply).
    pub client: Option<Arc<ClientShare>>,
    /// `agent` runs of this connection whose final response is not queued yet.
    pub pending_replies: AtomicUsize,
    /// Sessions this connection created (`gateway::quota`).
    pub sessions_created: AtomicUsize,
    sessions_subscribed: AtomicBool,
    /// The sessions whose messages it subscribed to (at most
    /// [`MAX_MESSAGE_SUBSCRIPTIONS`], searched in order; empty on most connections).
    message_keys: Mutex<Vec<Box<str>>>,
}

impl Conn {
    pub fn new(
        id: Arc<str>,
        grant: Grant,
        out: OutboxSender,
        client: Option<Arc<ClientShare>>,
    ) -> Conn {
        Conn {
            id,
            grant,
            out,
            client,
            pending_replies: AtomicUsize::new(0),
            sessions_created: AtomicUsize::new(0),
            sessions_subscribed: AtomicBool::new(false),
            message_keys: Mutex::new(Vec::new()),
        }
    }

    /// Subscribes to `sessions.changed`; returns false when it already was.
    pub fn subscribe_sessions(&self, on: bool) -> bool {
        self.sessions_subscribed.swap(on, Ordering::AcqRel) != on
    }

    pub fn sessions_subscribed(&self) -> bool {
        self.sessions_subscribed.load(Ordering::Acquire)
    }

    /// Subscribes to one session's messages. `Err` when the bound is reached.
    pub fn subscribe_messages(&self, key: &str, on: bool) -> Result<bool, usize> {
        let mut keys = lock(&self.message_keys);
        let at = keys.iter().position(|k| &**k == key);
        match (at, on) {
            (Some(at), false) => {
                keys.swap_remove(at);
                if keys.is_empty() {
                    *keys = Vec::new();
                }
                Ok(true)
            }
            (None, false) | (Some(_), true) => Ok(false),
            (None, true) if keys.len() >= MAX_MESSAGE_SUBSCRIPTIONS => {
                Err(MAX_MESSAGE_SUBSCRIPTIONS)
            }
            (None, true) => {
                keys.push(key.into());
                Ok(true)
            }
        }
    }

    fn wants_messages(&self, key: &str) -> bool {
        lock(&self.message_keys).iter().any(|k| &**k == key)
    }
}

/// The registry of authenticated connections.
#[derive(Default)]
pub struct Conns {
    map: Mutex<HashMap<Arc<str>, Arc<Conn>>>,
}

impl std::fmt::Debug for Conns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conns")
            .field("len", &lock(&self.map).len())
            .finish()
    }
}

impl Conns {
    pub fn insert(&self, conn: Arc<Conn>) {
        lock(&self.map).insert(conn.id.clone(), conn);
    }

    /// Tells every connection that the gateway is shutting down (see
    /// [`OutboxSender::stop`]).
    pub fn stop_all(&self) {
        for conn in lock(&self.map).values() {
            conn.out.stop();
        }
    }

    /// Removes a connection (it receives no more events).
    pub fn remove(&self, id: &str) {
        lock(&self.map).remove(id);
    }

    /// Sends an event to its audience; returns how many connections queued it. The
    /// payload is serialized once (only when someone listens), straight from `payload`,
    /// into one frame shared by every queue and charged once to the outbound budget.
    pub fn broadcast(
        &self,
        audience: Audience<'_>,
        event: &'static str,
        payload: impl Serialize,
    ) -> usize {
        self.fan_out(audience, event, Mode::Plain, payload)
    }

    /// Like [`Conns::broadcast`], for the end of a run: a connection whose queue has
    /// no room for it is closed (after what it holds) with a code and a reason.
    pub fn broadcast_or_close(
        &self,
        audience: Audience<'_>,
        event: &'static str,
        payload: impl Serialize,
    ) -> usize {
        self.fan_out(audience, event, Mode::OrClose, payload)
    }

    /// Like [`Conns::broadcast`], for a streaming delta of one run: coalesced per
    /// connection under `key` (a queued delta of the same key is replaced by this one,
    /// which carries the whole text so far), and dropped rather than charged when the
    /// outbound budget is used up.
    pub fn broadcast_latest(
        &self,
        audience: Audience<'_>,
        event: &'static str,
        key: &str,
        payload: impl Serialize,
    ) -> usize {
        self.fan_out(audience, event, Mode::Latest(key), payload)
    }

    fn fan_out(
        &self,
        audience: Audience<'_>,
        event: &'static str,
        mode: Mode<'_>,
        payload: impl Serialize,
    ) -> usize {
        let targets: Vec<Arc<Conn>> = lock(&self.map)
            .values()
            .filter(|c| match audience {
                Audience::Readers => c.grant.can_read(),
                Audience::SessionSubscribers => c.grant.can_read() && c.sessions_subscribed(),
                Audience::MessageSubscribers(key) => c.grant.can_read() && c.wants_messages(key),
            })
            .cloned()
            .collect();
        let Some(first) = targets.first() else {
            return 0;
        };
        let frame = EventOf {
            kind: "event",
            event,
            payload,
        };
        let Ok(text) = serde_json::to_string(&frame) else {
            return 0;
        };
        // Serialized once; every target's queue shares the one buffer.
        let droppable = matches!(mode, Mode::Latest(_));
        let Some(shared) = first.out.share(Utf8Bytes::from(text), droppable) else {
            return 0;
        };
        targets
            .iter()
            .filter(|c| match mode {
                Mode::Latest(key) => c.out.try_send_latest(key, &shared).is_ok(),
                Mode::Plain => c.out.try_send_shared(&shared).is_ok(),
                Mode::OrClose => match c.out.try_send_shared(&shared) {
                    Ok(()) => true,
                    Err(SendError::SlowConsumer) => {
                        c.out
                            .close_after(None, close::TRY_AGAIN_LATER, MISSED_RUN_END);
                        false
                    }
                    Err(SendError::Closed) => false,
                },
            })
            .count()
    }
}
