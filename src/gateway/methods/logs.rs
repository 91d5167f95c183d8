//! `logs.tail`: the gateway's own recent log lines from the in-memory ring
//! (`crate::logring`), with the protocol's cursor semantics.

use serde::Deserialize;
use serde_json::Value;

use super::params::parse;
use crate::gateway::limits::{
    LOGS_DEFAULT_BYTES, LOGS_DEFAULT_LINES, LOGS_MAX_BYTES, LOGS_MAX_LINES,
};
use crate::protocol::ErrorShape;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TailParams {
    #[serde(default)]
    cursor: Option<u64>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    max_bytes: Option<usize>,
}

pub fn tail(params: Option<&Value>) -> Result<Value, ErrorShape> {
    let p: TailParams = parse("logs.tail", params)?;
    let limit = p.limit.unwrap_or(LOGS_DEFAULT_LINES);
    let max_bytes = p.max_bytes.unwrap_or(LOGS_DEFAULT_BYTES);
    if !(1..=LOGS_MAX_LINES).contains(&limit) {
        return Err(ErrorShape::invalid(format!(
            "invalid logs.tail params: limit must be 1..={LOGS_MAX_LINES}"
        )));
    }
    if !(1..=LOGS_MAX_BYTES).contains(&max_bytes) {
        return Err(ErrorShape::invalid(format!(
            "invalid logs.tail params: maxBytes must be 1..={LOGS_MAX_BYTES}"
        )));
    }
    Ok(crate::logring::tail(p.cursor, limit, max_bytes))
}
