//! `agent`, `chat.send`, `chat.history`, `chat.abort`. Runs are tasks
//! (`gateway::runs`): these handlers validate, store the user's message, start the
//! run and answer at once.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::params::{self, parse, resolve_model, session_error};
use super::session_row::row;
use super::Ctx;
use crate::gateway::events::message_value;
use crate::gateway::limits::{HISTORY_DEFAULT, HISTORY_MAX, MAX_IDEMPOTENCY_KEY, MAX_RUN_TIMEOUT};
use crate::gateway::runs::{self, RunRequest, Started};
use crate::protocol::{now_ms, ErrorShape};
use crate::sessions::{canonical_key, Summary, AGENT_ID, MAIN_KEY};

/// An optional `agentId`: absent or empty means `main`.
fn check_agent(agent: Option<&str>) -> Result<(), ErrorShape> {
    match agent.map(str::trim) {
        None | Some("") => Ok(()),
        Some(a) => params::check_agent(a),
    }
}

fn run_id(key: Option<String>) -> Result<String, ErrorShape> {
    match key {
        Some(k) if k.trim().is_empty() || k.len() > MAX_IDEMPOTENCY_KEY => {
            Err(ErrorShape::invalid(format!(
                "idempotencyKey must be 1..={MAX_IDEMPOTENCY_KEY} characters"
            )))
        }
        Some(k) => Ok(k),
        None => Ok(uuid::Uuid::new_v4().to_string()),
    }
}

fn non_empty(method: &str, message: &str) -> Result<(), ErrorShape> {
    if message.trim().is_empty() {
        return Err(ErrorShape::invalid(format!(
            "invalid {method} params: message must not be empty"
        )));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendParams {
    session_key: String,
    message: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// A run's deadline: the request's `timeoutMs` (at most 600 s), else `--run-timeout-ms`.
fn timeout_from_ms(ctx: &Ctx<'_>, ms: Option<u64>) -> Duration {
    match ms {
        Some(ms) if ms > 0 => Duration::from_millis(ms).min(MAX_RUN_TIMEOUT),
        _ => ctx.gw.sessions.limits().run_timeout(),
    }
}

/// `chat.send`: `{"runId","status":"started"}` (or `"in_flight"` for a retried
/// idempotency key); the reply streams as `chat` events.
pub fn send(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: SendParams = parse("chat.send", ctx.params())?;
    check_agent(p.agent_id.as_deref())?;
    non_empty("chat.send", &p.message)?;
    let key = canonical_key(&p.session_key).map_err(session_error)?;
    let run_id = run_id(p.idempotency_key)?;
    let started = runs::start(
        ctx.gw,
        RunRequest {
            run_id: run_id.clone(),
            session_key: key,
            message: p.message,
            conn: ctx.conn.clone(),
            model: None,
            timeout: timeout_from_ms(ctx, p.timeout_ms),
            reply_to: None,
        },
    )?;
    let status = match started {
        Started::Started => "started",
        Started::InFlight => "in_flight",
    };
    Ok(json!({ "runId": run_id, "status": status }))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentParams {
    message: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    session_key: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    /// Seconds.
    #[serde(default)]
    timeout: Option<u64>,
}

/// `agent`: answers `{"runId","status":"accepted"}` now and the final result
/// (`status`, `result.payloads[].text`) on the same request id when the run ends.
pub fn agent(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: AgentParams = parse("agent", ctx.params())?;
    check_agent(p.agent_id.as_deref())?;
    non_empty("agent", &p.message)?;
    let key = match p.session_key.as_deref() {
        Some(k) if !k.trim().is_empty() => canonical_key(k).map_err(session_error)?,
        _ => MAIN_KEY.to_string(),
    };
    let model = match p.model.as_deref() {
        Some(m) => Some(resolve_model(ctx.gw, m)?),
        None => None,
    };
    let run_id = run_id(p.idempotency_key)?;
    let started = runs::start(
        ctx.gw,
        RunRequest {
            run_id: run_id.clone(),
            session_key: key.clone(),
            message: p.message,
            conn: ctx.conn.clone(),
            model,
            timeout: timeout_from_ms(ctx, p.timeout.map(|s| s.saturating_mul(1000))),
            reply_to: Some(ctx.req.id.clone()),
        },
    )?;
    Ok(match started {
        Started::Started => json!({
            "runId": run_id,
            "status": "accepted",
            "acceptedAt": now_ms(),
            "sessionKey": key,
            "agentId": AGENT_ID,
        }),
        Started::InFlight => json!({ "runId": run_id, "status": "in_flight" }),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryParams {
    session_key: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

/// `chat.history`: the transcript, oldest first (an unknown session has none).
pub fn history(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: HistoryParams = parse("chat.history", ctx.params())?;
    check_agent(p.agent_id.as_deref())?;
    let key = canonical_key(&p.session_key).map_err(session_error)?;
    let limit = p.limit.unwrap_or(HISTORY_DEFAULT).clamp(1, HISTORY_MAX);
    let session = ctx.gw.sessions.get(&key);
    let messages: Vec<Value> = session
        .as_ref()
        .map(|s| {
            let skip = s.messages.len().saturating_sub(limit);
            s.messages.iter().skip(skip).map(message_value).collect()
        })
        .unwrap_or_default();
    let mut out = json!({
        "sessionKey": key,
        "agentId": AGENT_ID,
        "messages": messages,
    });
    if let Some(s) = session {
        out["sessionId"] = json!(s.session_id);
        out["sessionInfo"] = row(ctx.gw, &Summary::of(&s));
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AbortParams {
    session_key: String,
    #[serde(default)]
    agent_id: Option<String>,
    #[serde(default)]
    run_id: Option<String>,
}

/// `chat.abort`: `{"ok":true,"aborted":bool,"runIds":[...]}`; aborting a finished
/// run is not an error, it aborts nothing.
pub fn abort(ctx: &Ctx<'_>) -> Result<Value, ErrorShape> {
    let p: AbortParams = parse("chat.abort", ctx.params())?;
    check_agent(p.agent_id.as_deref())?;
    let key = canonical_key(&p.session_key).map_err(session_error)?;
    let ids = ctx.gw.runs.abort_session(&key, p.run_id.as_deref());
    Ok(json!({ "ok": true, "aborted": !ids.is_empty(), "runIds": ids }))
}
