//! OpenClaw gateway protocol (versions 3 and 4): the JSON frames on the wire.
//!
//! Every outgoing type serializes to exactly the keys the protocol defines: clients
//! validate frames with `additionalProperties: false` and silently drop anything else,
//! so optional fields are skipped when absent rather than sent as `null`.
//! See `docs/protocol.md` for the implemented subset.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Protocol versions this gateway speaks, lowest first.
pub const SUPPORTED_PROTOCOLS: &[u32] = &[3, 4];
/// The newest protocol version (sent as `expectedProtocol` on a mismatch).
pub const LATEST_PROTOCOL: u32 = 4;

/// Error codes used in `error.code`.
pub mod codes {
    pub const INVALID_REQUEST: &str = "INVALID_REQUEST";
    pub const UNAVAILABLE: &str = "UNAVAILABLE";
    /// The caller lacks a scope (`missing scope: operator.write`).
    pub const FORBIDDEN: &str = "FORBIDDEN";
}

/// Close codes used by the gateway.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const POLICY_VIOLATION: u16 = 1008;
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Any frame a client may send. Only requests are meaningful from clients; anything
/// else is rejected by the connection loop.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientFrame {
    Req(RequestFrame),
    #[serde(other)]
    Other,
}

/// `{"type":"req","id","method","params"?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestFrame {
    /// Echoed verbatim in the response (clients send strings; anything JSON is accepted).
    pub id: Value,
    pub method: String,
    #[serde(default)]
    pub params: Option<Value>,
}

/// `{"type":"res","id","ok","payload"?,"error"?}`.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseFrame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: Value,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorShape>,
}

impl ResponseFrame {
    pub fn ok(id: Value, payload: Value) -> Self {
        ResponseFrame {
            kind: "res",
            id,
            ok: true,
            payload: Some(payload),
            error: None,
        }
    }
    pub fn err(id: Value, error: ErrorShape) -> Self {
        ResponseFrame {
            kind: "res",
            id,
            ok: false,
            payload: None,
            error: Some(error),
        }
    }
}

/// `{"code","message","details"?,"retryable"?,"retryAfterMs"?}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorShape {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl ErrorShape {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ErrorShape {
            code: code.to_string(),
            message: message.into(),
            details: None,
            retryable: None,
            retry_after_ms: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(codes::INVALID_REQUEST, message)
    }
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
    pub fn retry_after(mut self, ms: u64) -> Self {
        self.retryable = Some(true);
        self.retry_after_ms = Some(ms);
        self
    }
}

/// `{"type":"event","event","payload"?}`.
#[derive(Debug, Clone, Serialize)]
pub struct EventFrame {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
}

impl EventFrame {
    pub fn new(event: &'static str, payload: Value) -> Self {
        // (`event` names come from the method table's event list.)
        EventFrame {
            kind: "event",
            event,
            payload: Some(payload),
        }
    }
    /// `connect.challenge`: the first frame on every connection.
    pub fn challenge(nonce: &str, ts: u64) -> Self {
        Self::new(
            "connect.challenge",
            serde_json::json!({ "nonce": nonce, "ts": ts }),
        )
    }
    /// `tick`: sent every `tickIntervalMs` after the handshake.
    pub fn tick(ts: u64) -> Self {
        Self::new("tick", serde_json::json!({ "ts": ts }))
    }
}

/// The parts of `connect` params the gateway reads. Unknown keys (`caps`, `commands`,
/// `locale`, `userAgent`, ...) are accepted and ignored; `device` is parsed but only
/// logged as present (token auth does not use it, see docs/protocol.md).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectParams {
    pub min_protocol: Option<i64>,
    pub max_protocol: Option<i64>,
    #[serde(default)]
    pub client: Option<ClientInfo>,
    #[serde(default)]
    pub auth: Option<ConnectAuth>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub device: Option<Value>,
}

#[derive(Clone, Default, Deserialize)]
pub struct ConnectAuth {
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for ConnectAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectAuth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub platform: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    /// One running client (the real CLI draws a fresh one per call).
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// Picks the highest supported version in `[min, max]`, or `None` (protocol mismatch).
pub fn negotiate(min: i64, max: i64) -> Option<u32> {
    SUPPORTED_PROTOCOLS
        .iter()
        .rev()
        .copied()
        .find(|v| (min..=max).contains(&i64::from(*v)))
}

/// `hello-ok` payload: `type`, `protocol`, `server`, `features`, `snapshot`, `auth`
/// (`{"method","role","scopes"}`), `policy`.
#[derive(Debug, Clone, Serialize)]
pub struct HelloOk {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub protocol: u32,
    pub server: ServerInfo,
    pub features: Features,
    pub snapshot: Snapshot,
    pub auth: Value,
    pub policy: Policy,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub version: String,
    pub host: String,
    pub conn_id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Features {
    pub methods: Vec<String>,
    pub events: Vec<String>,
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub presence: Vec<PresenceEntry>,
    pub health: Value,
    pub state_version: StateVersion,
    pub uptime_ms: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct StateVersion {
    pub presence: u64,
    pub health: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub max_payload: u64,
    pub max_buffered_bytes: u64,
    pub tick_interval_ms: u64,
}

/// A `system-presence` entry: `{"host","version","platform","mode","reason","ts"}`.
#[derive(Debug, Clone, Serialize)]
pub struct PresenceEntry {
    pub host: String,
    pub version: String,
    pub platform: String,
    pub mode: String,
    pub reason: String,
    pub ts: u64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(v: &Value) -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    }

    #[test]
    fn negotiation_picks_highest_in_range() {
        assert_eq!(negotiate(3, 4), Some(4));
        assert_eq!(negotiate(4, 4), Some(4));
        assert_eq!(negotiate(3, 3), Some(3));
        assert_eq!(negotiate(1, 10), Some(4));
        assert_eq!(negotiate(5, 6), None);
        assert_eq!(negotiate(1, 2), None);
        assert_eq!(negotiate(4, 3), None);
    }

    #[test]
    fn response_frames_have_exactly_the_protocol_keys() {
        let ok = serde_json::to_value(ResponseFrame::ok(json!("1"), json!({}))).unwrap();
        assert_eq!(keys(&ok), ["id", "ok", "payload", "type"]);
        let err = serde_json::to_value(ResponseFrame::err(
            json!("1"),
            ErrorShape::invalid("unknown method: x"),
        ))
        .unwrap();
        assert_eq!(keys(&err), ["error", "id", "ok", "type"]);
        assert_eq!(keys(&err["error"]), ["code", "message"]);
        let limited =
            serde_json::to_value(ErrorShape::new(codes::UNAVAILABLE, "x").retry_after(5)).unwrap();
        assert_eq!(
            keys(&limited),
            ["code", "message", "retryAfterMs", "retryable"]
        );
    }

    #[test]
    fn events_have_exactly_the_protocol_keys() {
        let ch = serde_json::to_value(EventFrame::challenge("n", 7)).unwrap();
        assert_eq!(keys(&ch), ["event", "payload", "type"]);
        assert_eq!(keys(&ch["payload"]), ["nonce", "ts"]);
        assert_eq!(ch["event"], "connect.challenge");
        let tick = serde_json::to_value(EventFrame::tick(9)).unwrap();
        assert_eq!(keys(&tick["payload"]), ["ts"]);
    }

    #[test]
    fn client_frames_parse_requests_and_tolerate_others() {
        let f: ClientFrame =
            serde_json::from_str(r#"{"type":"req","id":"a","method":"health"}"#).unwrap();
        assert!(matches!(f, ClientFrame::Req(r) if r.method == "health" && r.params.is_none()));
        let f: ClientFrame = serde_json::from_str(r#"{"type":"event","event":"x"}"#).unwrap();
        assert!(matches!(f, ClientFrame::Other));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"id":"a"}"#).is_err());
    }

    #[test]
    fn connect_auth_debug_never_shows_the_token() {
        let p: ConnectParams = serde_json::from_value(json!({
            "minProtocol": 3, "maxProtocol": 4,
            "auth": {"token": "super-secret-token-value-123"},
            "client": {"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
            "device": {"id": "d"}
        }))
        .unwrap();
        assert!(!format!("{p:?}").contains("super-secret"));
    }
}
