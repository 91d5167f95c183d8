//! Why an upstream call failed, in the terms the OpenClaw protocol reports it: the
//! failover reason (`rate_limit`, `overloaded`, `timeout`, `auth`, …), the chat event's
//! `errorKind` (`rate_limit`, `timeout`, `context_length`, `refusal` or `unknown`) and
//! its `errorDetail` (provider, model, reason, HTTP status, error type, a message
//! preview). One place classifies a status and an error type ([`Reason::classify`]).

use serde_json::{json, Value};

use super::truncate;

/// Longest text in a chat event's `errorDetail` field (the protocol's bound).
pub const DETAIL_MAX_CHARS: usize = 300;

/// The failover reason of a failed upstream call (the protocol's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    RateLimit,
    Overloaded,
    Timeout,
    Auth,
    Billing,
    ContextOverflow,
    ModelNotFound,
    /// The request was refused as malformed (400).
    Format,
    ServerError,
    /// Anything else: a broken connection, a malformed stream, a bound exceeded.
    Unknown,
}

impl Reason {
    /// The protocol's failover-reason name (`None` for [`Reason::Unknown`]).
    pub fn as_str(self) -> Option<&'static str> {
        Some(match self {
            Reason::RateLimit => "rate_limit",
            Reason::Overloaded => "overloaded",
            Reason::Timeout => "timeout",
            Reason::Auth => "auth",
            Reason::Billing => "billing",
            Reason::ContextOverflow => "context_overflow",
            Reason::ModelNotFound => "model_not_found",
            Reason::Format => "format",
            Reason::ServerError => "server_error",
            Reason::Unknown => return None,
        })
    }

    /// The chat event's `errorKind` for this reason (the protocol has kinds for rate
    /// limits, overload, timeouts and context overflow; the rest are `unknown`).
    pub fn chat_error_kind(self) -> &'static str {
        match self {
            Reason::RateLimit | Reason::Overloaded => "rate_limit",
            Reason::Timeout => "timeout",
            Reason::ContextOverflow => "context_length",
            _ => "unknown",
        }
    }

    /// Classifies an upstream refusal from its HTTP status (`None` for an error event
    /// inside a stream) and the error body's `type` and `message`.
    pub fn classify(status: Option<u16>, error_type: Option<&str>, message: Option<&str>) -> Self {
        let ty = error_type.unwrap_or("").to_ascii_lowercase();
        let msg = message.unwrap_or("").to_ascii_lowercase();
        let context = [
            "context_length",
            "context window",
            "prompt is too long",
            "maximum context length",
        ];
        if context.iter().any(|c| ty.contains(c) || msg.contains(c)) {
            return Reason::ContextOverflow;
        }
        match (status, ty.as_str()) {
            (Some(429), _) | (_, "rate_limit_error" | "rate_limit_exceeded") => Reason::RateLimit,
            (Some(529), _) | (_, "overloaded_error") => Reason::Overloaded,
            (Some(401 | 403), _) | (_, "authentication_error" | "permission_error") => Reason::Auth,
            (Some(402), _) | (_, "billing_error" | "insufficient_quota") => Reason::Billing,
            (Some(404), _) | (_, "not_found_error") => Reason::ModelNotFound,
            (Some(408 | 504), _) | (_, "timeout_error") => Reason::Timeout,
            (Some(503), _) => Reason::Overloaded,
            (Some(400 | 413 | 422), _) | (_, "invalid_request_error") => Reason::Format,
            (Some(s), _) if s >= 500 => Reason::ServerError,
            (_, "api_error" | "server_error") => Reason::ServerError,
            _ => Reason::Unknown,
        }
    }
}

/// A failed upstream call: its sanitized message and what is known of why.
#[derive(Debug, Clone)]
pub struct Failure {
    /// `provider: what`, never a key or a header.
    pub message: String,
    pub reason: Reason,
    pub http_status: Option<u16>,
    /// The error body's `type` (cut short), when there was one.
    pub error_type: Option<String>,
}

impl Failure {
    /// A failure with nothing known beyond its message.
    pub fn unknown(message: String) -> Failure {
        Failure {
            message,
            reason: Reason::Unknown,
            http_status: None,
            error_type: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The chat event's `errorDetail` (a closed object in the protocol: only its fields).
pub fn detail(
    provider: &str,
    model: Option<&str>,
    reason: Reason,
    http_status: Option<u16>,
    error_type: Option<&str>,
    message: &str,
) -> Value {
    let text = |s: &str| json!(truncate(s, DETAIL_MAX_CHARS - 1));
    let mut d = json!({
        "provider": text(provider),
        "providerErrorMessagePreview": text(message),
    });
    if let Some(m) = model {
        d["model"] = text(m);
    }
    if let Some(r) = reason.as_str() {
        d["failoverReason"] = json!(r);
    }
    if let Some(s) = http_status.filter(|s| (100..=599).contains(s)) {
        d["httpStatus"] = json!(s);
    }
    if let Some(t) = error_type {
        d["providerErrorType"] = text(t);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_status_and_type() {
        let c = |s, t: Option<&str>, m: Option<&str>| Reason::classify(s, t, m);
        assert_eq!(c(Some(429), None, None), Reason::RateLimit);
        assert_eq!(c(None, Some("rate_limit_error"), None), Reason::RateLimit);
        assert_eq!(
            c(Some(529), Some("overloaded_error"), None),
            Reason::Overloaded
        );
        assert_eq!(c(None, Some("overloaded_error"), None), Reason::Overloaded);
        assert_eq!(c(Some(503), None, None), Reason::Overloaded);
        assert_eq!(
            c(Some(401), Some("authentication_error"), None),
            Reason::Auth
        );
        assert_eq!(c(Some(403), None, None), Reason::Auth);
        assert_eq!(c(Some(404), None, None), Reason::ModelNotFound);
        assert_eq!(c(Some(504), None, None), Reason::Timeout);
        assert_eq!(
            c(
                Some(400),
                Some("invalid_request_error"),
                Some("prompt is too long: 300000 tokens")
            ),
            Reason::ContextOverflow
        );
        assert_eq!(
            c(Some(400), Some("invalid_request_error"), Some("bad field")),
            Reason::Format
        );
        assert_eq!(c(Some(500), None, None), Reason::ServerError);
        assert_eq!(c(None, None, None), Reason::Unknown);
    }

    #[test]
    fn chat_error_kinds_are_the_protocols() {
        // The protocol's ChatEventErrorKind: refusal | timeout | rate_limit |
        // context_length | unknown.
        assert_eq!(Reason::RateLimit.chat_error_kind(), "rate_limit");
        assert_eq!(Reason::Overloaded.chat_error_kind(), "rate_limit");
        assert_eq!(Reason::Timeout.chat_error_kind(), "timeout");
        assert_eq!(Reason::ContextOverflow.chat_error_kind(), "context_length");
        assert_eq!(Reason::Auth.chat_error_kind(), "unknown");
        assert_eq!(Reason::Unknown.chat_error_kind(), "unknown");
    }

    #[test]
    fn detail_is_bounded_and_closed() {
        let long = "x".repeat(1000);
        let d = detail(
            "openai",
            Some(&long),
            Reason::Auth,
            Some(401),
            Some("t"),
            &long,
        );
        let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 6, "{d}");
        assert!(d["model"].as_str().unwrap().chars().count() <= DETAIL_MAX_CHARS);
        assert!(
            d["providerErrorMessagePreview"]
                .as_str()
                .unwrap()
                .chars()
                .count()
                <= DETAIL_MAX_CHARS
        );
        assert_eq!(d["failoverReason"], "auth");
        assert_eq!(d["httpStatus"], 401);
        let d = detail("demo", None, Reason::Unknown, Some(99), None, "m");
        assert_eq!(d.as_object().unwrap().len(), 2, "{d}");
    }
}
