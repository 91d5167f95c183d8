//! `sessions.*`: list, subscribe/unsubscribe (`sessions.changed`), messages
//! subscribe/unsubscribe (`session.message`), resolve, describe, create, patch, reset,
//! delete, compact. Unknown keys are refused (`INVALID_REQUEST session not found`),
//! except `describe` which answers `{"session": null}` like the real gateway.

use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{parse, session_error};
use super::Ctx;
use crate::gateway::conns::Audience;
use crate::gateway::scopes::Scope;
use crate::gateway::Gateway;
use crate::protocol::{now_ms, ErrorShape};
use crate::providers::ProviderError;
use crate::sessions::{canonical_key, Summary, AGENT_ID};

/// Scope of the methods whose scope depends on params (like the real gateway: a
/// `sessions.patch` of anything beyond label and model needs `operator.admin`;
/// `agent` with `/new` or `/reset` needs admin). `None`: the table's scope.
pub fn required_scope(method: &str, params: Option<&Value>) -> Option<Scope> {
    let obj = params.and_then(Value::as_object);
    match method {
        "sessions.patch" => {
            const WRITE_FIELDS: &[&str] = &["key", "agentId", "label", "model"];
            let all_write =
                obj.is_none_or(|o| o.keys().all(|k| WRITE_FIELDS.contains(&k.as_str())));
            Some(if all_write {
                Scope::Write
            } else {
                Scope::Admin
            })
        }
        "agent" => {
            let msg = obj
                .and_then(|o| o.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let lower = msg.trim_start().to_ascii_lowercase();
            let reset = ["/new", "/reset"]
                .iter()
                .any(|c| lower == *c || lower.starts_with(&format!("{c} ")));
            Some(if reset { Scope::Admin } else { Scope::Write })
        }
        _ => None,
    }
}

/// One `sessions.list` row.
pub fn row(gw: &Gateway, s: &Summary) -> Value {
    let (provider, model) = gw.provider.served_by(s.model.as_deref());
    let mut v = json!({
        "key": s.key,
        "kind": "direct",
        "agentId": AGENT_ID,
        "sessionId": s.session_id,
        "createdAt": s.created_at,
        "updatedAt": s.updated_at,
        "messageCount": s.message_count,
        "modelProvider": provider,
        "model": model,
        "running": s.busy,
    });
    if let Some(label) = &s.label {
        v["label"] = json!(label);
        v["displayName"] = json!(label);
    }
    if let Some(preview) = &s.last_preview {
        v["lastMessagePreview"] = json!(preview);
    }
    v
}

/// Tells subscribers that a session changed (`sessions.changed`).
pub fn changed(gw: &Gateway, key: &str, reason: &str) {
    gw.clients.broadcast(
        Audience::SessionSubscribers,
        "sessions.changed",
        json!({ "sessionKey": key, "reason": reason, "ts": now_ms() }),
    );
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    search: Option<String>,
}

pub fn list(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: ListParams = parse("sessions.list", ctx.params())?;
    if let Some(agent) = p.agent_id.as_deref() {
        check_agent(agent)?;
    }
    let gw = ctx.gw;
    let search = p.search.map(|s| s.to_ascii_lowercase());
    let rows: Vec<Value> = gw
        .sessions
        .summaries(p.limit.unwrap_or(usize::MAX).max(1), |s| {
            search.as_ref().is_none_or(|q| {
                s.key.contains(q.as_str())
                    || s.label
                        .as_ref()
                        .is_some_and(|l| l.to_ascii_lowercase().contains(q.as_str()))
            })
        })
        .iter()
        .map(|s| row(gw, s))
        .collect();
    let model = gw.provider.models().first().map(|m| m.id.clone());
    Ok(json!({
        "ts": now_ms(),
        "path": "memory",
        "count": rows.len(),
        "defaults": {
            "modelProvider": gw.provider.name(),
            "model": model,
            "contextTokens": null,
        },
        "sessions": rows,
    }))
}

fn check_agent(agent: &str) -> Result<(), ErrorShape> {
    if agent.trim().eq_ignore_ascii_case(AGENT_ID) {
        return Ok(());
    }
    Err(ErrorShape::invalid(format!(
        "unknown agent id {:?} (this gateway has one agent: main)",
        crate::providers::truncate(agent, 64)
    ))
    .with_details(
        json!({ "code": "UNKNOWN_AGENT_ID", "agentId": crate::providers::truncate(agent, 64) }),
    ))
}

pub fn subscribe(ctx: &Ctx<'_>, on: bool) -> Value {
    let changed = ctx.conn.subscribe_sessions(on);
    json!({ "subscribed": on, "changed": changed })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyParams {
    key: String,
    #[serde(default)]
    agent_id: Option<String>,
}

fn key_of(method: &str, ctx: &Ctx<'_>) -> Result<String, ErrorShape> {
    let p: KeyParams = parse(method, ctx.params())?;
    if let Some(agent) = p.agent_id.as_deref() {
        check_agent(agent)?;
    }
    canonical_key(&p.key).map_err(session_error)
}

pub fn subscribe_messages(ctx: &Ctx<'_>, on: bool) -> Result<Value, ErrorShape> {
    let method = if on {
        "sessions.messages.subscribe"
    } else {
        "sessions.messages.unsubscribe"
    };
    let key = key_of(method, ctx)?;
    let changed = ctx.conn.subscribe_messages(&key, on).map_err(|max| {
        ErrorShape::invalid(format!(
            "too many message subscriptions on this connection (at most {max}); unsubscribe first"
        ))
    })?;
    Ok(json!({ "subscribed": on, "key": key, "changed": changed }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResolveParams {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
}

pub fn resolve(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: ResolveParams = parse("sessions.resolve", ctx.params())?;
    if let Some(agent) = p.agent_id.as_deref() {
        check_agent(agent)?;
    }
    let sessions = &ctx.gw.sessions;
    let found = if let Some(key) = p.key.as_deref() {
        let key = canonical_key(key).map_err(session_error)?;
        sessions.find(|s| s.key == key)
    } else if let Some(id) = p.session_id.as_deref() {
        sessions.find(|s| s.session_id == id)
    } else if let Some(label) = p.label.as_deref() {
        sessions.find(|s| s.label.as_deref() == Some(label))
    } else {
        return Err(ErrorShape::invalid(
            "invalid sessions.resolve params: one of key, sessionId or label is required",
        ));
    };
    Ok(match found {
        Some(s) => json!({ "ok": true, "key": s.key, "sessionId": s.session_id }),
        None => json!({ "ok": false }),
    })
}

pub fn describe(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let key = key_of("sessions.describe", ctx)?;
    Ok(match ctx.gw.sessions.get(&key) {
        Some(s) => json!({ "session": row(ctx.gw, &Summary::of(&s)) }),
        None => json!({ "session": null }),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateParams {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

const MAX_LABEL: usize = 100;

fn check_label(label: &str) -> Result<(), ErrorShape> {
    // Control characters (newline, ESC) would reach terminals through `sessions.list`.
    if label.trim().is_empty()
        || label.chars().count() > MAX_LABEL
        || label.chars().any(char::is_control)
    {
        return Err(ErrorShape::invalid(format!(
            "label must be 1..={MAX_LABEL} characters without control characters"
        )));
    }
    Ok(())
}

/// The canonical `provider/model` for a model a client names, or `INVALID_REQUEST`.
pub fn resolve_model(gw: &Gateway, model: &str) -> Result<String, ErrorShape> {
    gw.provider.resolve_model(model).map_err(|e| match e {
        ProviderError::Invalid(message) => ErrorShape::invalid(message),
        other => ErrorShape::invalid(other.to_string()),
    })
}

pub fn create(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: CreateParams = parse("sessions.create", ctx.params())?;
    if let Some(agent) = p.agent_id.as_deref() {
        check_agent(agent)?;
    }
    if let Some(label) = p.label.as_deref() {
        check_label(label)?;
    }
    let model = match p.model.as_deref() {
        Some(m) => Some(resolve_model(ctx.gw, m)?),
        None => None,
    };
    let key = match p.key.as_deref() {
        Some(k) => canonical_key(k).map_err(session_error)?,
        None => format!("agent:{AGENT_ID}:{}", uuid::Uuid::new_v4()),
    };
    let gw = ctx.gw;
    let ensured = crate::gateway::quota::ensure_session(gw, ctx.conn, &key)
        .map_err(|e| e.into_shape(session_error))?;
    let session = gw
        .sessions
        .update(&key, |s| {
            if p.label.is_some() {
                s.label = p.label.clone();
            }
            if model.is_some() {
                s.model = model.clone();
            }
            s.updated_at = now_ms();
            s.clone()
        })
        .map_err(session_error)?;
    if let Some(evicted) = &ensured.evicted {
        changed(gw, evicted, "evicted");
    }
    changed(
        gw,
        &key,
        if ensured.created {
            "created"
        } else {
            "patched"
        },
    );
    Ok(json!({
        "ok": true,
        "key": key,
        "sessionId": session.session_id,
        "created": ensured.created,
        "entry": row(gw, &Summary::of(&session)),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PatchParams {
    key: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    label: Option<Option<String>>,
    #[serde(default)]
    model: Option<Option<String>>,
}

pub fn patch(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: PatchParams = parse("sessions.patch", ctx.params())?;
    if let Some(agent) = p.agent_id.as_deref() {
        check_agent(agent)?;
    }
    if let Some(Some(label)) = &p.label {
        check_label(label)?;
    }
    let model = match p.model {
        Some(Some(m)) => Some(Some(resolve_model(ctx.gw, &m)?)),
        other => other,
    };
    let key = canonical_key(&p.key).map_err(session_error)?;
    let gw = ctx.gw;
    let session = gw
        .sessions
        .update(&key, |s| {
            if let Some(label) = p.label {
                s.label = label;
            }
            if let Some(model) = model {
                s.model = model;
            }
            s.updated_at = now_ms();
            s.clone()
        })
        .map_err(session_error)?;
    changed(gw, &key, "patched");
    Ok(json!({ "ok": true, "key": key, "entry": row(gw, &Summary::of(&session)) }))
}

pub fn reset(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let key = key_of_loose("sessions.reset", ctx)?;
    let gw = ctx.gw;
    gw.runs.abort_session(&key, None);
    let session = gw.sessions.reset(&key).map_err(session_error)?;
    changed(gw, &key, "reset");
    Ok(json!({ "ok": true, "key": key, "entry": row(gw, &Summary::of(&session)) }))
}

pub fn delete(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let key = key_of_loose("sessions.delete", ctx)?;
    let gw = ctx.gw;
    gw.runs.abort_session(&key, None);
    gw.sessions.delete(&key).map_err(session_error)?;
    changed(gw, &key, "deleted");
    Ok(json!({ "ok": true, "key": key, "deleted": true }))
}

/// Messages `sessions.compact` keeps by default.
const COMPACT_KEEP: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompactParams {
    key: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    max_lines: Option<usize>,
}

pub fn compact(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: CompactParams = parse("sessions.compact", ctx.params())?;
    if let Some(agent) = p.agent_id.as_deref() {
        check_agent(agent)?;
    }
    let key = canonical_key(&p.key).map_err(session_error)?;
    let keep = p.max_lines.unwrap_or(COMPACT_KEEP);
    let gw = ctx.gw;
    let removed = gw.sessions.compact(&key, keep).map_err(session_error)?;
    if removed > 0 {
        changed(gw, &key, "compacted");
    }
    Ok(
        json!({ "ok": true, "key": key, "compacted": removed > 0, "removed": removed, "kept": keep }),
    )
}

/// `{key, agentId?, ...}` where other keys (`reason`, `deleteTranscript`...) are
/// accepted and ignored.
fn key_of_loose(method: &str, ctx: &Ctx<'_>) -> Result<String, ErrorShape> {
    key_of(method, ctx)
}
