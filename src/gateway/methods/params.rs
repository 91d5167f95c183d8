//! Reading request params: a typed struct from the params object, with the protocol's
//! error (`INVALID_REQUEST`, `invalid <method> params: ...`) when they do not fit.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::protocol::ErrorShape;
use crate::sessions::SessionError;

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

/// A store error as the protocol's error.
pub fn session_error(e: SessionError) -> ErrorShape {
    match e {
        SessionError::Full(_) => {
            ErrorShape::new(crate::protocol::codes::UNAVAILABLE, e.to_string()).retry_after(1000)
        }
        _ => ErrorShape::invalid(e.to_string()),
    }
}
