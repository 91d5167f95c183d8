//! One session as `sessions.list`, `sessions.describe`, `sessions.create`/`patch`/`reset`
//! and `chat.history` (`sessionInfo`) show it.

use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::sessions::{Session, AGENT_ID};

/// One `sessions.list` row.
pub fn row(gw: &Gateway, s: &Session) -> Value {
    let (provider, model) = gw.provider.served_by(s.model.as_deref());
    let mut v = json!({
        "key": s.key,
        "kind": "direct",
        "agentId": AGENT_ID,
        "sessionId": s.session_id,
        "createdAt": s.created_at,
        "updatedAt": s.updated_at,
        "messageCount": s.messages.len(),
        "modelProvider": provider,
        "model": model,
        "running": s.busy,
    });
    if let Some(label) = &s.label {
        v["label"] = json!(label);
        v["displayName"] = json!(label);
    }
    if let Some(last) = s.messages.back() {
        v["lastMessagePreview"] = json!(crate::providers::truncate(&last.text, 120));
    }
    v
}
