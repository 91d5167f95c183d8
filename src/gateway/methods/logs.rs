//! `logs.tail`: the gateway's own recent log lines from the in-memory ring
//! (`crate::logring`), with the protocol's cursor semantics.

use serde::Deserialize;
use serde_json::Value;

use super::params::parse;
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

/// The protocol's bounds (`LogsTailParams`).
const MAX_LIMIT: usize = 5000;
const MAX_BYTES: usize = 1_000_000;
const DEFAULT_LIMIT: usize = 500;
const DEFAULT_BYTES: usize = 250_000;

pub fn tail(params: Option<&Value>) -> Result<Value, ErrorShape> {
    let p: TailParams = parse("logs.tail", params)?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    let max_bytes = p.max_bytes.unwrap_or(DEFAULT_BYTES);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ErrorShape::invalid(format!(
            "invalid logs.tail params: limit must be 1..={MAX_LIMIT}"
        )));
    }
    if !(1..=MAX_BYTES).contains(&max_bytes) {
        return Err(ErrorShape::invalid(format!(
            "invalid logs.tail params: maxBytes must be 1..={MAX_BYTES}"
        )));
    }
    Ok(crate::logring::tail(p.cursor, limit, max_bytes))
}
