//! Who may call the API: the WebSocket's `Origin` policy for browsers, the per-IP
//! failed-auth budget, `Authorization: Bearer <gateway token>` compared in constant time
//! (the gateway's [`AuthMode::check`](crate::gateway::auth::AuthMode::check)), and the
//! bound on chat completions in progress per token and in all.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderMap};

use super::error::ApiError;
use super::limits::RETRY_LATER;
use crate::gateway::auth::{AuthOutcome, MISMATCH_MESSAGE, MISSING_MESSAGE, RATE_LIMITED_MESSAGE};
use crate::gateway::Gateway;

/// The client id the failed-auth counter files HTTP API failures under (the per-IP
/// budget is shared with the WebSocket).
pub const CLIENT_ID: &str = "openai-http-api";

/// Which token a request presented, as a keyed hash (never the token itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKey(u64);

/// Checks the origin, the peer's failed-auth budget and the bearer token.
pub fn authorize(
    gw: &Gateway,
    hasher: &RandomState,
    headers: &HeaderMap,
    ip: IpAddr,
) -> Result<TokenKey, ApiError> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        if !gw.origin_allowed(origin) {
            return Err(ApiError::origin());
        }
    }
    if let Some(wait) = gw.auth_failures.blocked(ip, CLIENT_ID) {
        return Err(ApiError::rate_limited(RATE_LIMITED_MESSAGE, wait));
    }
    let presented = bearer(headers);
    match gw.auth.check(presented) {
        AuthOutcome::Ok => Ok(TokenKey(hasher.hash_one(presented.unwrap_or("")))),
        outcome => {
            gw.auth_failures.record(ip, CLIENT_ID);
            let message = if outcome == AuthOutcome::Missing {
                MISSING_MESSAGE
            } else {
                MISMATCH_MESSAGE
            };
            Err(ApiError::unauthorized(message))
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Chat completions in progress: at most `per_token` for one token, `total` in all.
#[derive(Debug)]
pub struct Gate {
    per_token: usize,
    total: usize,
    state: Mutex<(usize, HashMap<TokenKey, usize>)>,
}

/// A place in the [`Gate`], given back on drop.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    key: TokenKey,
}

impl Gate {
    pub fn new(per_token: usize, total: usize) -> Arc<Gate> {
        Arc::new(Gate {
            per_token,
            total,
            state: Mutex::new((0, HashMap::new())),
        })
    }

    /// A place for `key`, or a 429 saying which bound is reached.
    pub fn enter(self: &Arc<Self>, key: TokenKey) -> Result<Permit, ApiError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_token) = &mut *state;
        let mine = by_token.get(&key).copied().unwrap_or(0);
        let full = if mine >= self.per_token {
            Some("too many chat completions in progress with this token")
        } else if *total >= self.total {
            Some("too many chat completions in progress")
        } else {
            None
        };
        if let Some(why) = full {
            return Err(ApiError::rate_limited(
                format!("{why} (retry later)"),
                RETRY_LATER,
            ));
        }
        *total += 1;
        *by_token.entry(key).or_insert(0) += 1;
        Ok(Permit {
            gate: self.clone(),
            key,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.gate.state.lock().unwrap_or_else(|e| e.into_inner());
        let (total, by_token) = &mut *state;
        *total = total.saturating_sub(1);
        if let Some(n) = by_token.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                by_token.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "bearer  abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn gate_bounds_per_token_and_in_all() {
        let gate = Gate::new(2, 3);
        let (a, b) = (TokenKey(1), TokenKey(2));
        let a1 = gate.enter(a).unwrap();
        let _a2 = gate.enter(a).unwrap();
        assert!(gate.enter(a).is_err(), "per token");
        let _b1 = gate.enter(b).unwrap();
        assert!(gate.enter(b).is_err(), "in all");
        drop(a1);
        let _b2 = gate.enter(b).unwrap();
        assert_eq!(
            gate.enter(a).unwrap_err().retry_after,
            Some(Duration::from_secs(1))
        );
    }
}
