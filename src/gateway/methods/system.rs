//! Gateway-wide read methods: `health`, `status`, `system-presence`, `config.get`,
//! `channels.status`, `diagnostics.stability`, `agents.list`, `models.list`,
//! `commands.list`, in the shapes the openclaw CLI reads.

use serde_json::{json, Value};

use super::Ctx;
use crate::gateway::limits::RECENT_SESSIONS;
use crate::gateway::Gateway;
use crate::protocol::{now_ms, PresenceEntry, SUPPORTED_PROTOCOLS};
use crate::sessions::AGENT_ID;

/// Where the CLI expects a sessions store path; ours is memory.
const SESSIONS_PATH: &str = "memory";

/// The `recent` rows of the most recently updated sessions (from the store's index).
fn recent(gw: &Gateway, now: u64) -> Vec<Value> {
    gw.sessions
        .summaries(RECENT_SESSIONS, |_| true)
        .iter()
        .map(|s| {
            json!({
                "key": s.key,
                "sessionId": s.session_id,
                "updatedAt": s.updated_at,
                "age": now.saturating_sub(s.updated_at),
            })
        })
        .collect()
}

fn sessions_summary(gw: &Gateway) -> Value {
    json!({ "path": SESSIONS_PATH, "count": gw.sessions.len(), "recent": recent(gw, now_ms()) })
}

/// The `health` payload (also the snapshot's `health`).
pub fn health(gw: &Gateway, started: std::time::Instant) -> Value {
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
            "sessions": sessions_summary(gw)
        }],
        "sessions": sessions_summary(gw),
    })
}

pub fn self_presence(gw: &Gateway) -> PresenceEntry {
    PresenceEntry {
        host: gw.host.clone(),
        version: gw.version().to_string(),
        platform: std::env::consts::OS.to_string(),
        mode: "gateway".to_string(),
        reason: "self".to_string(),
        ts: now_ms(),
    }
}

pub fn presence_value(gw: &Gateway) -> Value {
    serde_json::to_value(self_presence(gw)).unwrap_or(Value::Null)
}

/// `status`: the summary `openclaw status --json` reads (`heartbeat`, `sessions`
/// with `byAgent`, `channelSummary`, `tasks`...) plus this gateway's own facts
/// (`version`, `mode`, `protocol`, connections).
pub fn status(ctx: &Ctx<'_>) -> Value {
    let gw = ctx.gw;
    let count = gw.sessions.len();
    let now = now_ms();
    let model = gw.provider.models().first().map(|m| m.id.clone());
    json!({
        "runtimeVersion": gw.version(),
        "version": gw.version(),
        "host": gw.host,
        "mode": gw.provider.mode(),
        "uptimeMs": gw.uptime_ms(),
        "protocol": ctx.protocol,
        "protocols": SUPPORTED_PROTOCOLS,
        "auth": gw.auth.label(),
        "connections": gw.conns.current(),
        "maxConnections": gw.limits.max_connections,
        "heartbeat": {
            "defaultAgentId": AGENT_ID,
            "agents": [{ "agentId": AGENT_ID, "enabled": false, "every": "disabled", "everyMs": null }]
        },
        "channelSummary": [],
        "queuedSystemEvents": [],
        "tasks": { "total": 0, "active": 0, "terminal": 0, "failures": 0, "byStatus": {}, "byRuntime": {} },
        "taskAudit": { "total": 0, "warnings": 0, "errors": 0, "byCode": {} },
        "sessions": {
            "paths": [],
            "count": count,
            "defaults": { "model": model, "contextTokens": null },
            "recent": recent(gw, now),
            "byAgent": [{
                "agentId": AGENT_ID,
                "path": SESSIONS_PATH,
                "count": count,
                "recent": recent(gw, now),
            }]
        }
    })
}

/// Replaces a configured secret in `config.get`, as OpenClaw gateways do.
pub const REDACTED: &str = "__OPENCLAW_REDACTED__";

/// The effective configuration (flags and environment; there is no config file),
/// shaped like OpenClaw's `config.get` snapshot. Secrets are replaced by [`REDACTED`]:
/// it says *whether* a secret is set, never any part of it.
pub fn config_get(gw: &Gateway) -> Value {
    let l = &gw.limits;
    let s = gw.sessions.limits();
    let auth = match gw.auth {
        crate::gateway::auth::AuthMode::Token(_) => json!({ "mode": "token", "token": REDACTED }),
        crate::gateway::auth::AuthMode::Disabled => json!({ "mode": "none" }),
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
            "sessions": {
                "maxSessions": s.max_sessions,
                "maxMessages": s.max_messages,
                "maxSessionBytes": s.max_session_bytes,
                "maxMessageBytes": s.max_message_bytes,
            },
            "provider": { "mode": gw.provider.mode() },
        }
    })
}

/// `channels.status`: this gateway has no channels.
pub fn channels_status() -> Value {
    json!({
        "ts": now_ms(),
        "channelOrder": [],
        "channelLabels": {},
        "channelDetailLabels": {},
        "channelSystemImages": {},
        "channelMeta": [],
        "channels": {},
        "channelAccounts": {},
        "channelDefaultAccountId": {},
    })
}

/// `diagnostics.stability`: cheap process facts.
pub fn stability(gw: &Gateway) -> Value {
    json!({
        "ok": true,
        "ts": now_ms(),
        "uptimeMs": gw.uptime_ms(),
        "connections": gw.conns.current(),
        "activeRuns": gw.runs.len(),
        "sessions": gw.sessions.len(),
        "rssBytes": rss_bytes(),
        "events": [],
    })
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `agents.list`: one agent, `main`.
pub fn agents_list(gw: &Gateway) -> Value {
    let model = gw.provider.models().first().map(|m| m.id.clone());
    let mut agent = json!({ "id": AGENT_ID, "name": "main" });
    if let Some(model) = model {
        agent["model"] = json!({ "primary": model });
    }
    json!({
        "defaultId": AGENT_ID,
        "ownership": "sole",
        "selectionRequired": false,
        "mainKey": "main",
        "scope": "per-sender",
        "agents": [agent],
    })
}

/// `models.list`: the configured provider's catalog.
pub fn models_list(gw: &Gateway) -> Value {
    let models: Vec<Value> = gw
        .provider
        .models()
        .into_iter()
        .map(|m| {
            let mut v = json!({
                "id": m.id,
                "name": m.name,
                "provider": m.provider,
                "available": true,
            });
            if let Some(cw) = m.context_window {
                v["contextWindow"] = json!(cw);
            }
            v
        })
        .collect();
    json!({ "models": models })
}

/// `commands.list`: no slash commands (plain text only).
pub fn commands_list() -> Value {
    json!({ "commands": [] })
}
