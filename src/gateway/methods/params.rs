//! Reading request params: a typed struct from the params object, with the protocol's
//! error (`INVALID_REQUEST`, `invalid <method> params: ...`) when they do not fit.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::gateway::Gateway;
use crate::protocol::ErrorShape;
use crate::providers::ProviderError;
use crate::sessions::AGENT_ID;

/// Params as `T` (absent params read as `{}`).
pub fn parse<T: DeserializeOwned>(method: &str, params: Option<&Value>) -> Result<T, ErrorShape> {
    let v = params
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if !v.is_object() {
        return Err(ErrorShape::invalid(format!(
            "invalid {method} params: expected an object"
        )));
    }
    serde_json::from_value(v).map_err(|e| {
        // serde's message names the field; it never echoes the value.
        ErrorShape::invalid(format!("invalid {method} params: {e}"))
    })
}

pub use crate::gateway::store_error::session_error;

/// An `agentId` param: this gateway has one agent, `main`.
pub fn check_agent(agent: &str) -> Result<(), ErrorShape> {
    if agent.trim().eq_ignore_ascii_case(AGENT_ID) {
        return Ok(());
    }
    Err(ErrorShape::invalid(format!(
        "unknown agent id {:?} (this gateway has one agent: main)",
        crate::providers::truncate(agent, crate::gateway::limits::ECHO_MAX_CHARS)
    ))
    .with_details(
        json!({ "code": "UNKNOWN_AGENT_ID", "agentId": crate::providers::truncate(agent, crate::gateway::limits::ECHO_MAX_CHARS) }),
    ))
}

/// The canonical `provider/model` for a model a client names, or `INVALID_REQUEST`.
pub fn resolve_model(gw: &Gateway, model: &str) -> Result<String, ErrorShape> {
    gw.provider.resolve_model(model).map_err(|e| match e {
        ProviderError::Invalid(message) => ErrorShape::invalid(message),
        other => ErrorShape::invalid(other.to_string()),
    })
}
