//! Gateway methods (`health`, `status`, `system-presence`, `config.get`, `chat`) and
//! the `hello-ok` payload. Nothing here ever returns a secret.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::Gateway;
use crate::protocol::{
    codes, now_ms, ErrorShape, Features, HelloOk, Policy, PresenceEntry, RequestFrame, ServerInfo,
    Snapshot, StateVersion, SUPPORTED_PROTOCOLS,
};
use crate::providers::{ChatMessage, ChatRequest, ProviderError};

/// Methods advertised in `hello-ok.features.methods`.
pub const METHODS: &[&str] = &["health", "status", "system-presence", "config.get", "chat"];
/// Events advertised in `hello-ok.features.events`.
pub const EVENTS: &[&str] = &["connect.challenge", "tick", "shutdown"];
/// Longest a `chat` request may take before it fails with `UNAVAILABLE`.
const CHAT_TIMEOUT: Duration = Duration::from_secs(120);
/// The single agent this gateway exposes.
const AGENT_ID: &str = "main";

pub fn hello_ok(gw: &Gateway, protocol: u32, conn_id: &str) -> Value {
    let hello = HelloOk {
        kind: "hello-ok",
        protocol,
        server: ServerInfo {
            version: gw.version().to_string(),
            host: gw.host.clone(),
            conn_id: conn_id.to_string(),
        },
        features: Features {
            methods: METHODS.iter().map(|m| m.to_string()).collect(),
            events: EVENTS.iter().map(|e| e.to_string()).collect(),
        },
        snapshot: Snapshot {
            presence: vec![self_presence(gw)],
            health: health(std::time::Instant::now()),
            state_version: StateVersion {
                presence: 0,
                health: 0,
            },
            uptime_ms: gw.uptime_ms(),
        },
        policy: Policy {
            max_payload: gw.limits.max_payload as u64,
            max_buffered_bytes: gw.limits.max_buffered_bytes as u64,
            tick_interval_ms: gw.limits.tick_interval_ms,
        },
    };
    serde_json::to_value(hello).unwrap_or(Value::Null)
}

/// Runs one request (other than `connect`).
pub async fn dispatch(
    gw: &Gateway,
    protocol: u32,
    req: &RequestFrame,
) -> Result<Value, ErrorShape> {
    let started = std::time::Instant::now();
    match req.method.as_str() {
        "health" => Ok(health(started)),
        "status" => Ok(status(gw, protocol)),
        "system-presence" => Ok(json!([self_presence(gw)])),
        "config.get" => Ok(config_get(gw)),
        "chat" => chat(gw, req.params.as_ref()).await,
        "connect" => Err(ErrorShape::invalid("already connected")),
        other => Err(ErrorShape::invalid(format!("unknown method: {other}"))),
    }
}

fn sessions_summary() -> Value {
    json!({ "path": "", "count": 0, "recent": [] })
}

/// The `health` payload (also the snapshot's `health`).
fn health(started: std::time::Instant) -> Value {
    json!({
        "ok": true,
        "ts": now_ms(),
        "durationMs": started.elapsed().as_millis() as u64,
        "channels": {},
        "channelOrder": [],
        "channelLabels": {},
        "heartbeatSeconds": 0,
        "defaultAgentId": AGENT_ID,
        "agents": [{
            "agentId": AGENT_ID,
            "isDefault": true,
            "heartbeat": {
                "enabled": false,
                "every": "disabled",
                "everyMs": null,
                "prompt": "",
                "target": "none",
                "ackMaxChars": 0
            },
            "sessions": sessions_summary()
        }],
        "sessions": sessions_summary(),
    })
}

fn self_presence(gw: &Gateway) -> PresenceEntry {
    PresenceEntry {
        host: gw.host.clone(),
        version: gw.version().to_string(),
        platform: std::env::consts::OS.to_string(),
        mode: "gateway".to_string(),
        reason: "self".to_string(),
        ts: now_ms(),
    }
}

fn status(gw: &Gateway, protocol: u32) -> Value {
    json!({
        "version": gw.version(),
        "host": gw.host,
        "mode": gw.provider.mode(),
        "uptimeMs": gw.uptime_ms(),
        "protocol": protocol,
        "protocols": SUPPORTED_PROTOCOLS,
        "auth": gw.auth.label(),
        "connections": gw.conns.current(),
        "maxConnections": gw.limits.max_connections,
    })
}

/// Replaces a configured secret in `config.get`, as OpenClaw gateways do.
pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

/// The effective configuration (flags and environment; there is no config file),
/// shaped like OpenClaw's `config.get` snapshot. Secrets are replaced by [`REDACTED`]:
/// it says *whether* a secret is set, never any part of it.
fn config_get(gw: &Gateway) -> Value {
    let l = &gw.limits;
    let auth = match gw.auth {
        super::auth::AuthMode::Token(_) => json!({ "mode": "token", "token": REDACTED }),
        super::auth::AuthMode::Disabled => json!({ "mode": "none" }),
    };
    json!({
        "exists": false,
        "valid": true,
        "issues": [],
        "config": {
            "gateway": {
                "mode": "local",
                "bind": gw.bind.to_string(),
                "port": gw.port,
                "healthPort": gw.health_port,
                "auth": auth,
                "protocols": SUPPORTED_PROTOCOLS,
                "limits": {
                    "maxPayload": l.max_payload,
                    "maxPreauthPayload": l.max_preauth_payload,
                    "maxConnections": l.max_connections,
                    "rateLimit": l.rate_limit,
                    "rateBurst": l.rate_burst,
                    "authFailures": l.auth_failures,
                    "authFailureWindowSecs": l.auth_failure_window_secs,
                    "handshakeTimeoutMs": l.handshake_timeout_ms,
                    "idleTimeoutMs": l.idle_timeout_ms,
                    "tickIntervalMs": l.tick_interval_ms,
                    "sendQueue": l.send_queue,
                    "maxBufferedBytes": l.max_buffered_bytes,
                },
            },
            "provider": { "mode": gw.provider.mode() },
        }
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatParams {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    messages: Option<Vec<ChatMessage>>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_tokens: Option<u32>,
}

async fn chat(gw: &Gateway, params: Option<&Value>) -> Result<Value, ErrorShape> {
    let usage = "chat params: {\"message\": \"...\"} or {\"messages\": [{\"role\": \"user\", \"content\": \"...\"}]}";
    let params: ChatParams = params
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|_| ErrorShape::invalid(format!("invalid {usage}")))?
        .ok_or_else(|| ErrorShape::invalid(format!("missing {usage}")))?;
    let mut messages = params.messages.unwrap_or_default();
    if let Some(m) = params.message {
        messages.push(ChatMessage {
            role: "user".into(),
            content: m,
        });
    }
    if messages.is_empty() {
        return Err(ErrorShape::invalid(format!("empty {usage}")));
    }
    let req = ChatRequest {
        messages,
        model: params.model,
        max_tokens: params.max_tokens,
    };
    match tokio::time::timeout(CHAT_TIMEOUT, gw.provider.chat(req)).await {
        Ok(Ok(reply)) => Ok(serde_json::to_value(reply).unwrap_or(Value::Null)),
        Ok(Err(ProviderError::Invalid(msg))) => Err(ErrorShape::invalid(msg)),
        Ok(Err(e)) => Err(ErrorShape::new(codes::UNAVAILABLE, e.to_string())),
        Err(_) => Err(ErrorShape::new(codes::UNAVAILABLE, "chat timed out")),
    }
}
