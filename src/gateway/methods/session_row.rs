//! One session as `sessions.list`, `sessions.describe`, `sessions.create`/`patch`/`reset`
//! and `chat.history` (`sessionInfo`) show it.

use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::sessions::{Summary, AGENT_ID};

/// One `sessions.list` row, from the store's summary of the session (no copy of its
/// transcript).
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
