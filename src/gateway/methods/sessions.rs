//! `sessions.*`: list, subscribe/unsubscribe (`sessions.changed`), messages
//! subscribe/unsubscribe (`session.message`), resolve, describe, create, patch, reset,
//! delete, compact. Unknown keys are refused (`INVALID_REQUEST session not found`),
//! except `describe` which answers `{"session": null}` like the real gateway.

use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{check_agent, parse, resolve_model, session_error};
use super::session_row::row;
use super::Ctx;
use crate::gateway::events::session_changed;
use crate::gateway::limits::{COMPACT_KEEP, MAX_LABEL};
use crate::protocol::{now_ms, ErrorShape};
use crate::sessions::{canonical_key, Summary, AGENT_ID};

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
        session_changed(&gw.clients, evicted, "evicted");
    }
    session_changed(
        &gw.clients,
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
    session_changed(&gw.clients, &key, "patched");
    Ok(json!({ "ok": true, "key": key, "entry": row(gw, &Summary::of(&session)) }))
}

pub fn reset(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let key = key_of_loose("sessions.reset", ctx)?;
    let gw = ctx.gw;
    gw.runs.abort_session(&key, None);
    let session = gw.sessions.reset(&key).map_err(session_error)?;
    session_changed(&gw.clients, &key, "reset");
    Ok(json!({ "ok": true, "key": key, "entry": row(gw, &Summary::of(&session)) }))
}

pub fn delete(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let key = key_of_loose("sessions.delete", ctx)?;
    let gw = ctx.gw;
    gw.runs.abort_session(&key, None);
    gw.sessions.delete(&key).map_err(session_error)?;
    session_changed(&gw.clients, &key, "deleted");
    Ok(json!({ "ok": true, "key": key, "deleted": true }))
}

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
        session_changed(&gw.clients, &key, "compacted");
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
