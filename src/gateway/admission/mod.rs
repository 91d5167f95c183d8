//! The mechanisms that admit connections and requests within the limits of
//! `limits.rs`: the pending (unauthenticated) WebSocket pool, the HTTP slots of each
//! port, the authenticated-connection counter, the per-connection request rate and the
//! failed-auth budgets. The evict-oldest pools share one mechanism,
//! [`crate::evict_pool`].

mod auth_failures;
mod counter;
pub mod http_slots;
mod pending;
mod rate;

pub use auth_failures::AuthFailures;
pub use counter::{ConnectionCounter, ConnectionGuard};
pub use http_slots::{HttpSlot, HttpSlots};
pub use pending::{PendingPool, PendingSlot};
pub use rate::RateLimiter;
