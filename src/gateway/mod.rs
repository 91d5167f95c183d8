//! `clawdbot serve`: HTTP health endpoints and the authenticated WebSocket gateway
//! (OpenClaw gateway protocol v3/v4, see `docs/protocol.md`), in layers, bottom up
//! (docs/architecture.md draws them; `xtask/tests/architecture.rs` checks them):
//!
//! - `limits` (every limit: flags and fixed bounds), `auth` (token), `scopes`;
//! - `admission/` (pending pool, HTTP slots, connection counter, rate, failed-auth
//!   budgets) and `transport/` (frame gate, `WsStream`, outbox);
//! - fan-out: `conns` (authenticated connections); `events` (every event's shape) and
//!   `quota` (sessions and runs an authenticated client may hold);
//! - `runs/`: the run engine (events, quota, sessions, providers; never the handlers),
//!   its deltas paced by `runs::throttle`;
//! - `methods/`: the method table and its handlers; `store_error` below both;
//! - `ws/` (upgrade, handshake and admission, the loop), `http`, `listener`;
//! - `startup`: `serve`, the drain (and the last session files saved).
//!
//! This file holds the state they share ([`Gateway`]).

pub mod admission;
pub mod auth;
pub mod conns;
pub mod events;
pub mod http;
pub mod limits;
pub mod listener;
pub mod methods;
pub mod metrics;
pub mod quota;
pub mod runs;
pub mod scopes;
mod startup;
mod store_error;
pub mod transport;
pub mod ws;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use crate::providers::Provider;
use admission::{AuthFailures, ConnectionCounter, HttpSlots, PendingPool};
use auth::AuthMode;
use limits::Limits;
use transport::outbox::OutboundBudget;

pub use crate::signals::shutdown_signal;
pub use startup::{mode_label, run_serve, serve, GatewayConfig, ServeArgs};

/// Shared state of a running gateway.
#[derive(Debug)]
pub struct Gateway {
    pub limits: Limits,
    pub auth: AuthMode,
    pub provider: Provider,
    pub host: String,
    pub bind: IpAddr,
    pub port: u16,
    pub health_port: u16,
    /// Authenticated WebSocket connections.
    pub conns: ConnectionCounter,
    /// WebSocket connections that have not completed `connect`.
    pub pending: Arc<PendingPool>,
    /// Outgoing bytes queued across all connections.
    pub outbound: OutboundBudget,
    /// Browser origins allowed to open the WebSocket (`--allow-origin`).
    pub allowed_origins: Vec<String>,
    pub auth_failures: AuthFailures,
    /// HTTP connection slots of the gateway port and of the health port.
    pub http_gateway: HttpSlots,
    pub http_health: HttpSlots,
    pub metrics: metrics::Metrics,
    pub shutdown: watch::Receiver<bool>,
    /// Sessions and their transcripts (in memory, bounded).
    pub sessions: crate::sessions::Store,
    /// Authenticated connections, for events.
    pub clients: conns::Conns,
    /// The client identities they declared (per-client quotas).
    pub client_shares: quota::ClientShares,
    /// Chat runs in progress.
    pub runs: runs::Runs,
    started: Instant,
}

impl Gateway {
    pub fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
    /// Open HTTP connections on both ports.
    pub fn http_open(&self) -> usize {
        self.http_gateway.open() + self.http_health.open()
    }
    /// True when `origin` is in `--allow-origin` (exact match, ASCII case-insensitive,
    /// a trailing `/` ignored).
    pub fn origin_allowed(&self, origin: &axum::http::HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim().trim_end_matches('/');
        self.allowed_origins
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}
