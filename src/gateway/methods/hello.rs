//! The `hello-ok` payload: server, features (from the method table), snapshot, the
//! granted auth (role and scopes) and the policy.

use serde_json::Value;

use super::system::{health, self_presence};
use super::table;
use crate::gateway::scopes::Grant;
use crate::gateway::Gateway;
use crate::protocol::{Features, HelloOk, Policy, ServerInfo, Snapshot, StateVersion};

pub fn hello_ok(gw: &Gateway, protocol: u32, conn_id: &str, grant: &Grant) -> Value {
    let hello = HelloOk {
        kind: "hello-ok",
        protocol,
        server: ServerInfo {
            version: gw.version().to_string(),
            host: gw.host.clone(),
            conn_id: conn_id.to_string(),
        },
        features: Features {
            methods: table::implemented().map(str::to_string).collect(),
            events: table::EVENTS.iter().map(|e| e.name.to_string()).collect(),
            capabilities: table::CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        },
        snapshot: Snapshot {
            presence: vec![self_presence(gw)],
            health: health(gw, std::time::Instant::now()),
            state_version: StateVersion {
                presence: 0,
                health: 0,
            },
            uptime_ms: gw.uptime_ms(),
        },
        auth: grant.hello_auth(gw.auth.label()),
        policy: Policy {
            max_payload: gw.limits.max_payload as u64,
            max_buffered_bytes: gw.limits.max_buffered_bytes as u64,
            tick_interval_ms: gw.limits.tick_interval_ms,
        },
    };
    serde_json::to_value(hello).unwrap_or(Value::Null)
}
