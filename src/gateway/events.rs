//! Every event the gateway publishes, in its wire shape, and who receives it: the role
//! of mini-redis's `Db::publish`. Callers say what happened (`session_changed`,
//! `message_added`, a run's [`RunEvents`]); this module builds the payload and hands it
//! to the fan-out ([`Conns::broadcast`]) once, serialized straight from borrowed data;
//! a run's streaming deltas go to [`Conns::broadcast_latest`], coalesced per connection.
//!
//! `tick` and `connect.challenge` are the protocol's own frames
//! ([`crate::protocol::EventFrame`]); the `shutdown` event is built here.

use serde::Serialize;
use serde_json::{json, Value};

use super::conns::{Audience, Conns};
use crate::protocol::{now_ms, EventFrame};
use crate::sessions::{Message, AGENT_ID};

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

/// `sessions.changed` to session subscribers: a session was created, changed or removed.
pub fn session_changed(clients: &Conns, key: &str, reason: &str) {
    clients.broadcast(
        Audience::SessionSubscribers,
        "sessions.changed",
        json!({ "sessionKey": key, "reason": reason, "ts": now_ms() }),
    );
}

/// `session.message` to the subscribers of this session's messages.
pub fn message_added(clients: &Conns, key: &str, m: &Message) {
    clients.broadcast(
        Audience::MessageSubscribers(key),
        "session.message",
        json!({ "sessionKey": key, "agentId": AGENT_ID, "message": message_value(m) }),
    );
}

/// The `shutdown` event each connection receives before its 1001 close.
pub fn shutdown() -> EventFrame {
    EventFrame::new("shutdown", json!({ "reason": "gateway stopping" }))
}

/// The `chat` and `agent` events of one run, numbered per stream.
pub struct RunEvents<'a> {
    clients: &'a Conns,
    run_id: &'a str,
    key: &'a str,
    /// When the run started (ms since the epoch), repeated in its lifecycle events.
    started_at: u64,
    chat_seq: u64,
    agent_seq: u64,
}

/// How an event of a run is delivered (see [`RunEvents::to_readers`]).
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Streamed text: coalesced, droppable.
    Delta,
    /// The end of the run: delivered, or the reader is closed with a reason.
    End,
    Other,
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

impl<'a> RunEvents<'a> {
    pub fn new(clients: &'a Conns, run_id: &'a str, key: &'a str, started_at: u64) -> Self {
        RunEvents {
            clients,
            run_id,
            key,
            started_at,
            chat_seq: 0,
            agent_seq: 0,
        }
    }

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
        let kind = match state {
            "delta" => Kind::Delta,
            _ => Kind::End,
        };
        self.to_readers("chat", kind, payload);
    }

    /// Sends an event of this run to every reader: a delta is coalesced per connection
    /// with the run's previous one of the same event; the end of the run reaches every
    /// reader or closes it with a reason.
    fn to_readers(&self, event: &'static str, kind: Kind, payload: impl Serialize) {
        match kind {
            Kind::Delta => {
                let key = format!("{event}\0{}", self.run_id);
                self.clients
                    .broadcast_latest(Audience::Readers, event, &key, payload);
            }
            Kind::Other => {
                self.clients.broadcast(Audience::Readers, event, payload);
            }
            Kind::End => {
                self.clients
                    .broadcast_or_close(Audience::Readers, event, payload);
            }
        }
    }

    fn agent(&mut self, stream: &'static str, kind: Kind, data: impl Serialize) {
        let payload = AgentEvent {
            run_id: self.run_id,
            seq: self.agent_seq,
            stream,
            ts: now_ms(),
            data,
        };
        self.agent_seq += 1;
        self.to_readers("agent", kind, payload);
    }

    /// `agent` `lifecycle` `start`.
    pub fn started(&mut self) {
        let started_at = self.started_at;
        self.agent(
            "lifecycle",
            Kind::Other,
            json!({ "phase": "start", "startedAt": started_at }),
        );
    }

    /// One provider delta: `chat` `delta` (the new text and the message so far), then
    /// `agent` `assistant`; serialized straight from `text` and `delta`.
    pub fn delta(&mut self, text: &str, delta: &str) {
        let now = now_ms();
        self.chat(
            "delta",
            DeltaFields {
                delta_text: delta,
                message: assistant_text(text, now),
            },
        );
        self.agent("assistant", Kind::Delta, AssistantDelta { text, delta });
    }

    /// `chat` `final` with the stored reply, then `agent` `lifecycle` `end`.
    pub fn finished(&mut self, reply: &Message) {
        self.chat(
            "final",
            json!({ "message": message_value(reply), "stopReason": "stop" }),
        );
        let started_at = self.started_at;
        self.agent(
            "lifecycle",
            Kind::End,
            json!({ "phase": "end", "startedAt": started_at, "endedAt": now_ms() }),
        );
    }

    /// `chat` `aborted` with the text so far, then `agent` `lifecycle` `end` (aborted).
    pub fn aborted(&mut self, text: &str) {
        self.chat(
            "aborted",
            json!({ "message": assistant_message(text, now_ms()), "stopReason": "aborted" }),
        );
        let started_at = self.started_at;
        self.agent("lifecycle", Kind::End, json!({ "phase": "end", "aborted": true, "startedAt": started_at, "endedAt": now_ms() }));
    }

    /// `chat` `error` (`errorKind`, and `errorDetail` when known), then `agent`
    /// `lifecycle` `error`.
    pub fn failed(&mut self, message: &str, kind: &str, detail: Option<Value>) {
        let mut extra = json!({ "errorMessage": message, "errorKind": kind });
        if let Some(detail) = detail {
            extra["errorDetail"] = detail;
        }
        self.chat("error", extra);
        let started_at = self.started_at;
        self.agent("lifecycle", Kind::End, json!({ "phase": "error", "error": message, "startedAt": started_at, "endedAt": now_ms() }));
    }
}

fn assistant_message(text: &str, ts: u64) -> Value {
    json!({ "role": "assistant", "content": [{ "type": "text", "text": text }], "timestamp": ts })
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
