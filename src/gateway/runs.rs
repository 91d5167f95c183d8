//! Chat runs: one task per run, registered with a cancel handle so that `chat.abort`,
//! `sessions.reset`/`delete` and a client disconnect stop it. Stopping drops the
//! provider future, which cancels the upstream request.
//!
//! A run streams the provider's deltas as `chat` (`delta`, then `final`, `error` or
//! `aborted`) and `agent` (`lifecycle`, `assistant`) events to readers, appends the
//! reply to the session transcript (`session.message` to its subscribers,
//! `sessions.changed` to session subscribers) and, for `agent`, sends the final
//! response on the request's id. One run per session at a time; every buffer on the
//! way is bounded (the provider's delta channel, each connection's outbox).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn, Instrument};

use super::conns::{Audience, Conn};
use super::throttle::DeltaThrottle;
use super::Gateway;
use crate::protocol::{codes, now_ms, ErrorShape, ResponseFrame};
use crate::providers::{ChatMessage, ChatReply, ChatRequest, ProviderError};
use crate::sessions::{Message, SessionError, AGENT_ID};

/// Deltas buffered between the provider and the run task (the provider waits when full).
const DELTA_BUFFER: usize = 16;
/// Longest time a run may take (the default is `--run-timeout-ms`).
pub const MAX_RUN_TIMEOUT: Duration = Duration::from_secs(600);

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
    conn_id: String,
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
        self.map.lock().unwrap_or_else(|e| e.into_inner())
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
            .filter(|(_, e)| e.conn_id == conn_id)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            if let Some(e) = map.remove(id) {
                let _ = e.cancel.send(());
            }
        }
        ids.len()
    }

    fn finished(&self, run_id: &str) {
        self.lock().remove(run_id);
    }
}

fn session_error(e: SessionError) -> ErrorShape {
    match e {
        SessionError::Full(_) => {
            ErrorShape::new(codes::UNAVAILABLE, e.to_string()).retry_after(1000)
        }
        _ => ErrorShape::invalid(e.to_string()),
    }
}

/// A transcript message in the protocol's shape (`role`, `content` blocks, `timestamp`).
pub fn message_value(m: &Message) -> Value {
    let mut v = json!({
        "id": m.id,
        "role": m.role,
        "content": [{ "type": "text", "text": m.text }],
        "timestamp": m.timestamp,
    });
    if let Some(r) = &m.run_id {
        v["runId"] = json!(r);
    }
    if let Some(s) = &m.stop_reason {
        v["stopReason"] = json!(s);
    }
    v
}

/// Stores the user's message and starts the run as a task; returns at once.
pub fn start(gw: &Arc<Gateway>, req: RunRequest) -> Result<Started, ErrorShape> {
    // Held until the run is registered, so two requests with one id start one run.
    // (Lock order: runs, then sessions or connections; nothing takes them the other way.)
    let mut runs = gw.runs.lock();
    if runs.contains_key(&req.run_id) {
        return Ok(Started::InFlight);
    }
    let mine = runs.values().filter(|e| e.conn_id == req.conn.id).count();
    super::quota::check_runs(gw, runs.len(), mine)?;
    gw.sessions
        .check_message(&req.message)
        .map_err(session_error)?;
    let ensured = super::quota::ensure_session(gw, &req.conn, &req.session_key)
        .map_err(|e| e.into_shape(session_error))?;
    if let Some(evicted) = &ensured.evicted {
        super::methods::session_changed(gw, evicted, "evicted");
    }
    if !gw.sessions.set_busy(&req.session_key, true) {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            "a run is already in progress in this session (wait for it, or chat.abort it)",
        )
        .retry_after(1000));
    }
    let user = Message::new("user", req.message.clone(), Some(&req.run_id));
    let user = match gw.sessions.append(&req.session_key, user) {
        Ok(m) => m,
        Err(e) => {
            gw.sessions.set_busy(&req.session_key, false);
            return Err(session_error(e));
        }
    };
    let (cancel, cancelled) = oneshot::channel();
    runs.insert(
        req.run_id.clone(),
        Entry {
            session_key: req.session_key.clone(),
            conn_id: req.conn.id.clone(),
            cancel,
        },
    );
    drop(runs);
    message_added(gw, &req.session_key, &user);
    super::methods::session_changed(
        gw,
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
            execute(&gw, req, cancelled).await;
            if replies {
                conn.pending_replies.fetch_sub(1, Ordering::SeqCst);
            }
        }
        .instrument(span),
    );
    Ok(Started::Started)
}

fn message_added(gw: &Gateway, key: &str, m: &Message) {
    gw.clients.broadcast(
        Audience::MessageSubscribers(key),
        "session.message",
        json!({ "sessionKey": key, "agentId": AGENT_ID, "message": message_value(m) }),
    );
}

/// Emits the events of one run, numbering them.
struct Emitter<'a> {
    gw: &'a Gateway,
    run_id: &'a str,
    key: &'a str,
    chat_seq: u64,
    agent_seq: u64,
}

/// A `chat` event's payload: the run's fields, then the state's own (`extra`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChatEvent<'a, E> {
    run_id: &'a str,
    session_key: &'a str,
    agent_id: &'static str,
    seq: u64,
    state: &'static str,
    #[serde(flatten)]
    extra: E,
}

/// What a `chat` `delta` adds: the new text and the whole message so far.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeltaFields<'a> {
    delta_text: &'a str,
    message: AssistantText<'a>,
}

/// An assistant message of one text block (`{"role","content":[{"type","text"}],"timestamp"}`).
#[derive(Serialize)]
struct AssistantText<'a> {
    role: &'static str,
    content: [TextBlock<'a>; 1],
    timestamp: u64,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

fn assistant_text(text: &str, ts: u64) -> AssistantText<'_> {
    AssistantText {
        role: "assistant",
        content: [TextBlock { kind: "text", text }],
        timestamp: ts,
    }
}

/// An `agent` event's payload.
#[derive(Serialize)]
struct AgentEvent<'a, D> {
    #[serde(rename = "runId")]
    run_id: &'a str,
    seq: u64,
    stream: &'static str,
    ts: u64,
    data: D,
}

/// `agent` `assistant` data: the text so far and the new part.
#[derive(Serialize)]
struct AssistantDelta<'a> {
    text: &'a str,
    delta: &'a str,
}

impl Emitter<'_> {
    fn chat(&mut self, state: &'static str, extra: impl Serialize) {
        let payload = ChatEvent {
            run_id: self.run_id,
            session_key: self.key,
            agent_id: AGENT_ID,
            seq: self.chat_seq,
            state,
            extra,
        };
        self.chat_seq += 1;
        self.to_readers("chat", state == "delta", payload);
    }

    /// Sends an event of this run to every reader; a delta (`latest`) is coalesced per
    /// connection with the run's previous one of the same event.
    fn to_readers(&self, event: &'static str, latest: bool, payload: impl Serialize) {
        let clients = &self.gw.clients;
        if latest {
            let key = format!("{event}\0{}", self.run_id);
            clients.broadcast_latest(Audience::Readers, event, &key, payload);
        } else {
            clients.broadcast(Audience::Readers, event, payload);
        }
    }

    fn agent(&mut self, stream: &'static str, data: impl Serialize) {
        let payload = AgentEvent {
            run_id: self.run_id,
            seq: self.agent_seq,
            stream,
            ts: now_ms(),
            data,
        };
        self.agent_seq += 1;
        self.to_readers("agent", stream == "assistant", payload);
    }

    /// Sends the text so far as a delta if `throttle` lets it out now; false when it
    /// is held back.
    fn paced(&mut self, throttle: &mut DeltaThrottle, text: &str) -> bool {
        let now = tokio::time::Instant::now();
        if !throttle.due(text.len(), now) {
            return false;
        }
        let from = throttle.sent(text.len(), now);
        self.delta(text, &text[from..]);
        true
    }

    /// One provider delta: `chat` `delta` (the new text and the message so far), then
    /// `agent` `assistant`; serialized straight from `text` and `delta`.
    fn delta(&mut self, text: &str, delta: &str) {
        let now = now_ms();
        self.chat(
            "delta",
            DeltaFields {
                delta_text: delta,
                message: assistant_text(text, now),
            },
        );
        self.agent("assistant", AssistantDelta { text, delta });
    }
}

enum Outcome {
    Done(ChatReply),
    Failed(ProviderError),
    TimedOut,
    Aborted,
    /// The gateway began its shutdown drain: the run ends with `UNAVAILABLE`.
    ShuttingDown,
}

fn assistant_message(text: &str, ts: u64) -> Value {
    json!({ "role": "assistant", "content": [{ "type": "text", "text": text }], "timestamp": ts })
}

async fn execute(gw: &Arc<Gateway>, req: RunRequest, mut cancelled: oneshot::Receiver<()>) {
    let started = Instant::now();
    let started_at = now_ms();
    let session = gw.sessions.get(&req.session_key);
    let history: Vec<ChatMessage> = session
        .as_ref()
        .map(|s| {
            s.messages
                .iter()
                .filter(|m| m.role == "user" || m.role == "assistant")
                .filter(|m| !m.text.is_empty())
                .map(|m| ChatMessage {
                    role: m.role.clone(),
                    content: m.text.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let session_model = session.and_then(|s| s.model);
    let chat = ChatRequest {
        messages: history,
        model: req.model.clone().or(session_model),
        max_tokens: None,
    };
    // The provider that serves this run (metrics, error details, the agent's result).
    let (served_by, served_model) = gw.provider.served_by(chat.model.as_deref());
    let served_model = served_model.to_string();
    let mut emit = Emitter {
        gw,
        run_id: &req.run_id,
        key: &req.session_key,
        chat_seq: 0,
        agent_seq: 0,
    };
    emit.agent(
        "lifecycle",
        json!({ "phase": "start", "startedAt": started_at }),
    );
    info!(session = %req.session_key, "run started");

    let (tx, mut rx) = mpsc::channel::<String>(DELTA_BUFFER);
    let call = gw.provider.chat_stream(chat, tx);
    tokio::pin!(call);
    let deadline = tokio::time::sleep(req.timeout);
    tokio::pin!(deadline);
    let mut text = String::new();
    // Deltas go out at the throttle's pace (the first at once); one held back goes out
    // when `trailing` fires, or the terminal event carries its text.
    let mut throttle = DeltaThrottle::new(gw.sessions.limits().delta_interval());
    let trailing = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(trailing);
    let mut held = false;
    let mut shutdown = gw.shutdown.clone();
    let outcome = loop {
        tokio::select! {
            biased;
            _ = &mut cancelled => break Outcome::Aborted,
            _ = shutdown.wait_for(|s| *s) => break Outcome::ShuttingDown,
            _ = &mut deadline => break Outcome::TimedOut,
            _ = &mut trailing, if held => {
                // Not grown enough yet: the next delta decides.
                emit.paced(&mut throttle, &text);
                held = false;
            }
            Some(delta) = rx.recv() => {
                text.push_str(&delta);
                held = !emit.paced(&mut throttle, &text);
                if held {
                    trailing.as_mut().reset(throttle.next_at());
                }
            }
            result = &mut call => {
                // What the provider sent before it finished goes out at the same pace (a
                // reply that came whole before any delta went out still streams one).
                while let Ok(delta) = rx.try_recv() {
                    text.push_str(&delta);
                    emit.paced(&mut throttle, &text);
                }
                break match result {
                    Ok(reply) => Outcome::Done(reply),
                    Err(e) => Outcome::Failed(e),
                };
            }
        }
    };
    let elapsed = started.elapsed();
    if !matches!(
        outcome,
        Outcome::Failed(ProviderError::Invalid(_)) | Outcome::Aborted | Outcome::ShuttingDown
    ) {
        gw.metrics
            .provider_call(served_by, elapsed, matches!(outcome, Outcome::Done(_)));
    }
    let key = req.session_key.as_str();
    let mut retry_after_ms = None;
    let (final_text, status, error) = match outcome {
        Outcome::Done(reply) => {
            let full = if text.is_empty() {
                reply.text.clone()
            } else {
                text.clone()
            };
            let mut m = Message::new("assistant", full.clone(), Some(&req.run_id));
            m.stop_reason = Some("stop".into());
            store_reply(gw, key, m.clone());
            release(gw, &req.run_id, key);
            emit.chat(
                "final",
                json!({ "message": message_value(&m), "stopReason": "stop" }),
            );
            emit.agent(
                "lifecycle",
                json!({ "phase": "end", "startedAt": started_at, "endedAt": now_ms() }),
            );
            info!(ms = elapsed.as_millis() as u64, provider = %reply.provider, model = %crate::logging::escape(&reply.model), "run finished");
            (full, "ok", None)
        }
        Outcome::Aborted => {
            if !text.is_empty() {
                let mut m = Message::new("assistant", text.clone(), Some(&req.run_id));
                m.stop_reason = Some("aborted".into());
                store_reply(gw, key, m);
            }
            release(gw, &req.run_id, key);
            emit.chat(
                "aborted",
                json!({ "message": assistant_message(&text, now_ms()), "stopReason": "aborted" }),
            );
            emit.agent("lifecycle", json!({ "phase": "end", "aborted": true, "startedAt": started_at, "endedAt": now_ms() }));
            info!(
                ms = elapsed.as_millis() as u64,
                "run aborted; upstream request cancelled"
            );
            (text, "aborted", None)
        }
        Outcome::Failed(e) => {
            let msg = e.to_string();
            warn!(error = %crate::logging::escape(&msg), "run failed");
            release(gw, &req.run_id, key);
            emit.chat(
                "error",
                json!({
                    "errorMessage": msg,
                    "errorKind": e.reason().chat_error_kind(),
                    "errorDetail": e.detail(served_by, Some(&served_model)),
                }),
            );
            if let ProviderError::RateLimited {
                retry_after: Some(after),
                ..
            } = e
            {
                retry_after_ms = Some(after.as_millis() as u64);
            }
            emit.agent("lifecycle", json!({ "phase": "error", "error": msg, "startedAt": started_at, "endedAt": now_ms() }));
            (String::new(), "error", Some(msg))
        }
        Outcome::TimedOut => {
            let msg = format!("run timed out after {} s", req.timeout.as_secs());
            warn!("{msg}");
            release(gw, &req.run_id, key);
            emit.chat(
                "error",
                json!({ "errorMessage": msg, "errorKind": "timeout" }),
            );
            emit.agent("lifecycle", json!({ "phase": "error", "error": msg, "startedAt": started_at, "endedAt": now_ms() }));
            (String::new(), "timeout", Some(msg))
        }
        Outcome::ShuttingDown => {
            let msg = "shutting down".to_string();
            info!("run ended by the shutdown drain");
            release(gw, &req.run_id, key);
            // The protocol's chat error kinds have none for a shutdown.
            emit.chat(
                "error",
                json!({ "errorMessage": msg, "errorKind": "unknown" }),
            );
            emit.agent("lifecycle", json!({ "phase": "error", "error": msg, "startedAt": started_at, "endedAt": now_ms() }));
            (String::new(), "shutdown", Some(msg))
        }
    };
    let Some(id) = req.reply_to else { return };
    let frame = match error {
        Some(msg) if status == "error" => {
            let mut shape = ErrorShape::new(codes::UNAVAILABLE, msg);
            if let Some(ms) = retry_after_ms {
                shape = shape.retry_after(ms);
            }
            ResponseFrame::err(id, shape.with_details(json!({ "runId": req.run_id })))
        }
        Some(msg) if status == "shutdown" => ResponseFrame::err(
            id,
            ErrorShape::new(codes::UNAVAILABLE, msg)
                .retry_after(1000)
                .with_details(json!({ "runId": req.run_id })),
        ),
        _ => {
            let payloads = if final_text.is_empty() {
                json!([])
            } else {
                json!([{ "text": final_text }])
            };
            ResponseFrame::ok(
                id,
                json!({
                    "runId": req.run_id,
                    "status": status,
                    "summary": if status == "ok" { "completed" } else { status },
                    "result": {
                        "payloads": payloads,
                        "meta": {
                            "durationMs": elapsed.as_millis() as u64,
                            "agentMeta": { "sessionKey": key, "provider": served_by, "model": served_model },
                        }
                    }
                }),
            )
        }
    };
    if let Err(e) = req
        .conn
        .out
        .send_json(&frame, gw.limits.send_timeout())
        .await
    {
        debug!(
            ?e,
            "final agent response not delivered (client gone or too slow)"
        );
    }
}

/// Unregisters the run and frees its session before its terminal event goes out, so a
/// client that reacts to that event (`chat.abort`, the next `chat.send`) sees the run
/// finished. Every outcome calls it exactly once (a later call could free a newer run
/// of the same session or id).
fn release(gw: &Gateway, run_id: &str, key: &str) {
    gw.runs.finished(run_id);
    gw.sessions.set_busy(key, false);
}

fn store_reply(gw: &Gateway, key: &str, m: Message) {
    match gw.sessions.append(key, m) {
        Ok(m) => {
            message_added(gw, key, &m);
            super::methods::session_changed(gw, key, "message");
        }
        // The session was deleted meanwhile (its run was aborted first): nothing to keep.
        Err(e) => debug!(error = %e, "reply not stored"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_events_have_the_protocols_shape() {
        let chat = ChatEvent {
            run_id: "r1",
            session_key: "agent:main:main",
            agent_id: AGENT_ID,
            seq: 3,
            state: "delta",
            extra: DeltaFields {
                delta_text: "lo",
                message: assistant_text("Hello", 42),
            },
        };
        assert_eq!(
            serde_json::to_value(&chat).unwrap(),
            json!({
                "runId": "r1", "sessionKey": "agent:main:main", "agentId": "main", "seq": 3,
                "state": "delta", "deltaText": "lo",
                "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello"}],
                    "timestamp": 42}
            })
        );
        let agent = AgentEvent {
            run_id: "r1",
            seq: 1,
            stream: "assistant",
            ts: 7,
            data: AssistantDelta {
                text: "Hello",
                delta: "lo",
            },
        };
        assert_eq!(
            serde_json::to_value(&agent).unwrap(),
            json!({"runId": "r1", "seq": 1, "stream": "assistant", "ts": 7,
                "data": {"text": "Hello", "delta": "lo"}})
        );
        // Other states add their fields from a JSON object.
        let end = ChatEvent {
            run_id: "r1",
            session_key: "k",
            agent_id: AGENT_ID,
            seq: 4,
            state: "error",
            extra: json!({"errorMessage": "m", "errorKind": "rate_limit"}),
        };
        let v = serde_json::to_value(&end).unwrap();
        assert_eq!(v["errorKind"], "rate_limit");
        assert_eq!(v["state"], "error");
    }
}
