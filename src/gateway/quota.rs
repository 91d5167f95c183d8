//! Per-connection and gateway-wide quotas on what authenticated clients may hold:
//! sessions a connection creates (`--max-sessions-per-connection`), and runs in
//! progress per connection (`--max-runs-per-connection`) and in all
//! (`--max-runs`). A session is created with its creator's scope rank and
//! connection, so eviction never makes room for a lower scope at a higher one's
//! expense, nor deletes another client's saved file (`sessions::Store::ensure_as`).

use std::sync::atomic::Ordering;

use super::conns::Conn;
use super::limits::RETRY_LATER_MS;
use super::scopes::Scope;
use super::Gateway;
use crate::protocol::{codes, ErrorShape};
use crate::sessions::{Creator, Ensured, SessionError};

/// The scope rank of a connection's grant.
fn rank(conn: &Conn) -> u8 {
    if conn.grant.allows(Scope::Admin) {
        Creator::ADMIN
    } else if conn.grant.allows(Scope::Write) {
        Creator::WRITE
    } else {
        Creator::READ
    }
}

/// Returns the session `key`, creating it on behalf of `conn` within its quota.
pub fn ensure_session(gw: &Gateway, conn: &Conn, key: &str) -> Result<Ensured, QuotaError> {
    let max = gw.sessions.limits().max_sessions_per_connection;
    if !gw.sessions.contains(key) && conn.sessions_created.load(Ordering::Relaxed) >= max {
        return Err(QuotaError::Refused(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "this connection created {max} sessions (--max-sessions-per-connection); \
                 reuse or delete one"
            ),
        )));
    }
    let creator = Creator {
        conn_id: &conn.id,
        rank: rank(conn),
    };
    let ensured = gw
        .sessions
        .ensure_as(key, Some(creator))
        .map_err(QuotaError::Session)?;
    if ensured.created {
        conn.sessions_created.fetch_add(1, Ordering::Relaxed);
    }
    Ok(ensured)
}

/// Refuses a new run when the gateway (`running` in all) or the connection
/// (`mine`) is at its quota of runs in progress.
pub fn check_runs(gw: &Gateway, running: usize, mine: usize) -> Result<(), ErrorShape> {
    let limits = gw.sessions.limits();
    if running >= limits.max_runs {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "too many runs in progress on this gateway ({}, --max-runs); retry when one finishes",
                limits.max_runs
            ),
        )
        .retry_after(RETRY_LATER_MS));
    }
    if mine >= limits.max_runs_per_connection {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "this connection has {} runs in progress (--max-runs-per-connection); retry when one finishes",
                limits.max_runs_per_connection
            ),
        )
        .retry_after(RETRY_LATER_MS));
    }
    Ok(())
}

/// Why [`ensure_session`] failed.
#[derive(Debug)]
pub enum QuotaError {
    /// Over the connection's quota.
    Refused(ErrorShape),
    /// The store refused (full of busy or higher-scope sessions, a bad key).
    Session(SessionError),
}

impl QuotaError {
    /// The protocol error, a store refusal mapped by `session_error`.
    pub fn into_shape(self, session_error: impl FnOnce(SessionError) -> ErrorShape) -> ErrorShape {
        match self {
            QuotaError::Refused(shape) => shape,
            QuotaError::Session(e) => session_error(e),
        }
    }
}
