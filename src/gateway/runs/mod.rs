//! Chat runs: one task per run, registered with a cancel handle so that `chat.abort`,
//! `sessions.reset`/`delete` and a client disconnect stop it. Stopping drops the
//! provider future, which cancels the upstream request.
//!
//! A run streams the provider's deltas as `chat` (`delta`, then `final`, `error` or
//! `aborted`) and `agent` (`lifecycle`, `assistant`) events to readers (built by
//! `gateway::events`), appends the reply to the session transcript (`session.message`
//! to its subscribers, `sessions.changed` to session subscribers) and, for `agent`,
//! sends the final response on the request's id. One run per session at a time; every
//! buffer on the way is bounded (the provider's delta channel, each connection's
//! outbox).
//!
//! This file is the registry of runs and how one starts (within the `quota` of runs
//! and sessions); `execute` is the run itself, its deltas paced by `throttle`.
//! The engine uses the events, the sessions store and the providers, never the
//! request handlers above it.

mod execute;
pub mod throttle;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;
use tracing::{debug, Instrument};

use super::conns::{ClientShare, Conn};
use super::events;
pub use super::limits::MAX_RUN_TIMEOUT;
use super::limits::RETRY_LATER_MS;
use super::quota;
use super::store_error::session_error;
use super::Gateway;
use crate::protocol::{codes, ErrorShape};
use crate::sessions::Message;

/// What to run.
pub struct RunRequest {
    pub run_id: String,
    pub session_key: String,
    pub message: String,
    pub conn: Arc<Conn>,
    pub model: Option<String>,
    pub timeout: Duration,
    /// For `agent`: the request id the final result is sent on.
    pub reply_to: Option<Value>,
}

struct Entry {
    session_key: String,
    conn_id: Arc<str>,
    /// The client identity of the connection that started it (per-client quota).
    client: Option<Arc<ClientShare>>,
    cancel: oneshot::Sender<()>,
}

/// The registry of runs in progress.
#[derive(Default)]
pub struct Runs {
    map: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs").field("len", &self.len()).finish()
    }
}

/// How [`start`] answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    Started,
    /// A run with this id is already in progress (idempotent retry).
    InFlight,
}

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        crate::lock::lock(&self.map)
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops the runs of a session (all, or the one named); returns their ids.
    pub fn abort_session(&self, key: &str, run_id: Option<&str>) -> Vec<String> {
        let mut map = self.lock();
        let ids: Vec<String> = map
            .iter()
            .filter(|(id, e)| e.session_key == key && run_id.is_none_or(|r| r == id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            if let Some(e) = map.remove(id) {
                let _ = e.cancel.send(());
            }
        }
        ids
    }

    /// Stops every run a connection started (it went away); returns how many.
    pub fn cancel_conn(&self, conn_id: &str) -> usize {
        let mut map = self.lock();
        let ids: Vec<String> = map
            .iter()
            .filter(|(_, e)| &*e.conn_id == conn_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            if let Some(e) = map.remove(id) {
                let _ = e.cancel.send(());
            }
        }
        ids.len()
    }
}

/// Stores the user's message and starts the run as a task; returns at once.
pub fn start(gw: &Arc<Gateway>, req: RunRequest) -> Result<Started, ErrorShape> {
    // Held until the run is registered, so two requests with one id start one run.
    // (Lock order: runs, then sessions or connections; nothing takes them the other way.)
    let mut runs = gw.runs.lock();
    if runs.contains_key(&req.run_id) {
        return Ok(Started::InFlight);
    }
    let client = req.conn.client.as_ref();
    let mut running = quota::Running {
        all: runs.len(),
        ..Default::default()
    };
    for e in runs.values() {
        running.conn += usize::from(e.conn_id == req.conn.id);
        let same = e.client.as_ref().zip(client);
        running.client += usize::from(same.is_some_and(|(a, b)| Arc::ptr_eq(a, b)));
    }
    quota::check_runs(gw, running)?;
    gw.sessions
        .check_message(&req.message)
        .map_err(session_error)?;
    let ensured = quota::ensure_session(gw, &req.conn, &req.session_key)
        .map_err(|e| e.into_shape(session_error))?;
    if let Some(evicted) = &ensured.evicted {
        events::session_changed(&gw.clients, evicted, "evicted");
    }
    if !gw.sessions.set_busy(&req.session_key, true) {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            "a run is already in progress in this session (wait for it, or chat.abort it)",
        )
        .retry_after(RETRY_LATER_MS));
    }
    let user = Message::new("user", req.message.clone(), Some(&req.run_id));
    let user = match gw.sessions.append(&req.session_key, user) {
        Ok(m) => m,
        Err(e) => {
            gw.sessions.set_busy(&req.session_key, false);
            return Err(session_error(e));
        }
    };
    // The session instance this run belongs to: its end acts on it, not on the key
    // (which a `sessions.delete` or `reset` may give to a newer instance meanwhile).
    let instance = ensured.session.session_id;
    let (cancel, cancelled) = oneshot::channel();
    runs.insert(
        req.run_id.clone(),
        Entry {
            session_key: req.session_key.clone(),
            conn_id: req.conn.id.clone(),
            client: req.conn.client.clone(),
            cancel,
        },
    );
    drop(runs);
    events::message_added(&gw.clients, &req.session_key, &user);
    events::session_changed(
        &gw.clients,
        &req.session_key,
        if ensured.created {
            "created"
        } else {
            "message"
        },
    );
    let span = tracing::info_span!("run", run_id = %crate::logging::escape_clip(&req.run_id));
    let gw = gw.clone();
    tokio::spawn(
        async move {
            // `execute` releases the run and its session before the final events, so a
            // client may send its next message as soon as it sees them. An `agent`
            // request's final response is counted on its connection until it is queued:
            // the shutdown drain waits for it before the `shutdown` event.
            let conn = req.conn.clone();
            let replies = req.reply_to.is_some();
            if replies {
                conn.pending_replies.fetch_add(1, Ordering::SeqCst);
            }
            execute::execute(&gw, req, &instance, cancelled).await;
            if replies {
                conn.pending_replies.fetch_sub(1, Ordering::SeqCst);
            }
        }
        .instrument(span),
    );
    Ok(Started::Started)
}

/// Unregisters the run and frees its session before its terminal event goes out, so a
/// client that reacts to that event (`chat.abort`, the next `chat.send`) sees the run
/// finished. Every outcome calls it exactly once (a later call could free a newer run
/// of the same session or id). A session deleted or reset since the run started is
/// left alone: its key may hold a newer instance running a newer run.
fn release(gw: &Gateway, run_id: &str, key: &str, instance: &str) {
    // Held so that no run starts in between (`start` takes it first, then sessions).
    let mut runs = gw.runs.lock();
    runs.remove(run_id);
    if gw.sessions.is_instance(key, instance) {
        gw.sessions.set_busy(key, false);
    }
}

/// Appends the run's reply to the session instance it started in, if it still exists.
fn store_reply(gw: &Gateway, key: &str, instance: &str, m: Message) {
    let runs = gw.runs.lock();
    let stored = if gw.sessions.is_instance(key, instance) {
        gw.sessions.append(key, m)
    } else {
        Err(crate::sessions::SessionError::NotFound(key.to_string()))
    };
    drop(runs);
    match stored {
        Ok(m) => {
            events::message_added(&gw.clients, key, &m);
            events::session_changed(&gw.clients, key, "message");
        }
        // The session was deleted or reset meanwhile (its run was aborted first):
        // nothing to keep.
        Err(e) => debug!(error = %e, "reply not stored"),
    }
}
