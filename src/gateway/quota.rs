//! Per-connection, per-client and gateway-wide quotas on what authenticated clients
//! may hold: sessions a connection creates (`--max-sessions-per-connection`) and all
//! connections of one client identity together (`--max-sessions-per-client`), and runs
//! in progress per connection (`--max-runs-per-connection`), per client identity
//! (`--max-runs-per-client`) and in all (`--max-runs`). A session is created with its
//! creator's scope rank and connection, so eviction never makes room for a lower scope
//! at a higher one's expense, nor deletes another client's saved file
//! (`sessions::Store::ensure_as`).
//!
//! A client identity is what `connect` declares ([`client_identity`]): `device.id`
//! (one per installation; the real CLI and TUI send it on every connection), else
//! `client.instanceId`. It is not verified: the per-client quotas keep well-behaved
//! clients that open many connections (parallel `openclaw agent` calls) fair to each
//! other; a hostile token holder can declare new identities, and is then bounded by
//! the per-connection, global and connection-count limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::conns::{ClientShare, Conn};
use super::limits::{CLIENT_QUOTA_PRUNE_FLOOR, MAX_CLIENT_IDENTITY, RETRY_LATER_MS};
use super::scopes::Scope;
use super::Gateway;
use crate::lock::lock;
use crate::protocol::{codes, ConnectParams, ErrorShape};
use crate::sessions::{Creator, Ensured, SessionError};

/// The client identity `params` declare (see the module header), cut to
/// [`MAX_CLIENT_IDENTITY`] bytes; `None` when they declare none.
pub fn client_identity(params: &ConnectParams) -> Option<String> {
    let device = params
        .device
        .as_ref()
        .and_then(|d| d.get("id"))
        .and_then(|id| id.as_str())
        .filter(|id| !id.is_empty())
        .map(|id| ("device:", id));
    let instance = || {
        params
            .client
            .as_ref()
            .and_then(|c| c.instance_id.as_deref())
            .filter(|id| !id.is_empty())
            .map(|id| ("instance:", id))
    };
    let (kind, id) = device.or_else(instance)?;
    let mut end = id.len().min(MAX_CLIENT_IDENTITY);
    while !id.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{kind}{}", &id[..end]))
}

/// The client identities of open connections: one [`ClientShare`] per identity, alive
/// while a connection (or a run of one) holds it.
#[derive(Debug, Default)]
pub struct ClientShares {
    map: Mutex<HashMap<String, Weak<ClientShare>>>,
    /// Entries beyond which released identities are pruned.
    prune_at: AtomicUsize,
}

impl ClientShares {
    /// The share of `key`, joined by one more connection.
    pub fn join(&self, key: String) -> Arc<ClientShare> {
        let mut map = lock(&self.map);
        if let Some(share) = map.get(&key).and_then(Weak::upgrade) {
            return share;
        }
        // Released entries are pruned once the map doubled since the last prune, so
        // it stays within twice the identities in use (amortised O(1) per join).
        if map.len()
            >= self
                .prune_at
                .load(Ordering::Relaxed)
                .max(CLIENT_QUOTA_PRUNE_FLOOR)
        {
            map.retain(|_, w| w.strong_count() > 0);
            self.prune_at.store(2 * map.len(), Ordering::Relaxed);
        }
        let share = Arc::new(ClientShare {
            key: key.clone(),
            sessions_created: AtomicUsize::new(0),
        });
        map.insert(key, Arc::downgrade(&share));
        share
    }

    /// Identities tracked (in use, and released ones not yet pruned).
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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
    let limits = gw.sessions.limits();
    let max = limits.max_sessions_per_connection;
    let new = !gw.sessions.contains(key);
    if new && conn.sessions_created.load(Ordering::Relaxed) >= max {
        return Err(QuotaError::Refused(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "this connection created {max} sessions (--max-sessions-per-connection); \
                 reuse or delete one"
            ),
        )));
    }
    let max = limits.max_sessions_per_client;
    if new
        && conn
            .client
            .as_ref()
            .is_some_and(|c| c.sessions_created.load(Ordering::Relaxed) >= max)
    {
        return Err(QuotaError::Refused(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "this client's connections created {max} sessions (--max-sessions-per-client); \
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
        if let Some(client) = &conn.client {
            client.sessions_created.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(ensured)
}

/// Runs in progress: in all, of one connection, of one client identity (all its
/// connections).
#[derive(Debug, Clone, Copy, Default)]
pub struct Running {
    pub all: usize,
    pub conn: usize,
    pub client: usize,
}

/// Refuses a new run when the gateway, the connection or its client identity is at its
/// quota of runs in progress.
pub fn check_runs(gw: &Gateway, running: Running) -> Result<(), ErrorShape> {
    let limits = gw.sessions.limits();
    if running.all >= limits.max_runs {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "too many runs in progress on this gateway ({}, --max-runs); retry when one finishes",
                limits.max_runs
            ),
        )
        .retry_after(RETRY_LATER_MS));
    }
    if running.conn >= limits.max_runs_per_connection {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "this connection has {} runs in progress (--max-runs-per-connection); retry when one finishes",
                limits.max_runs_per_connection
            ),
        )
        .retry_after(RETRY_LATER_MS));
    }
    if running.client >= limits.max_runs_per_client {
        return Err(ErrorShape::new(
            codes::UNAVAILABLE,
            format!(
                "this client's connections have {} runs in progress (--max-runs-per-client); retry when one finishes",
                limits.max_runs_per_client
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: serde_json::Value) -> ConnectParams {
        serde_json::from_value(v).expect("connect params")
    }

    #[test]
    fn the_identity_is_the_device_else_the_instance_cut_to_its_bound() {
        let both = params(serde_json::json!({
            "client": {"id": "cli", "instanceId": "i-1"}, "device": {"id": "d-1"}}));
        assert_eq!(client_identity(&both).as_deref(), Some("device:d-1"));
        let instance = params(serde_json::json!({"client": {"id": "cli", "instanceId": "i-1"}}));
        assert_eq!(client_identity(&instance).as_deref(), Some("instance:i-1"));
        // The client id names a kind of client ("cli"), shared by every installation.
        let kind = params(serde_json::json!({"client": {"id": "cli"}, "device": {"id": ""}}));
        assert_eq!(client_identity(&kind), None);
        let long = "é".repeat(MAX_CLIENT_IDENTITY);
        let long = params(serde_json::json!({"device": {"id": long}}));
        let id = client_identity(&long).expect("an identity");
        assert!(
            id.len() <= "device:".len() + MAX_CLIENT_IDENTITY,
            "{}",
            id.len()
        );
    }

    #[test]
    fn shares_are_joined_by_key_and_released_ones_pruned() {
        let shares = ClientShares::default();
        let a = shares.join("device:a".into());
        assert!(Arc::ptr_eq(&a, &shares.join("device:a".into())));
        for i in 0..10 * CLIENT_QUOTA_PRUNE_FLOOR {
            drop(shares.join(format!("device:{i}")));
        }
        assert!(
            shares.len() <= 2 * CLIENT_QUOTA_PRUNE_FLOOR + 1,
            "{}",
            shares.len()
        );
        assert!(Arc::ptr_eq(&a, &shares.join("device:a".into())));
    }
}
