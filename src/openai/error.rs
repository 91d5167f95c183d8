//! Errors in OpenAI's shape: `{"error":{"message","type","param","code"}}` with the
//! matching HTTP status (and `retry-after` on 429). Provider errors arrive sanitized
//! (never a key or header) and are masked once more with the registered secrets.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::limits::RETRY_LATER;
use crate::gateway::metrics::ApiErrorKind;
use crate::providers::{ProviderError, Reason};

/// One refused or failed API request.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, …
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    pub retry_after: Option<Duration>,
    /// The metrics label.
    pub metric: ApiErrorKind,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, metric: ApiErrorKind, message: String) -> Self {
        ApiError {
            status,
            message,
            kind,
            code: None,
            param: None,
            retry_after: None,
            metric,
        }
    }

    fn code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// 400: the request is malformed or out of bounds.
    pub fn invalid(param: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            ApiErrorKind::BadRequest,
            message.into(),
        );
        e.param = Some(param.to_string());
        e
    }

    /// 400: a field this gateway cannot honour without changing the answer's meaning.
    pub fn unsupported(param: &str, message: impl Into<String>) -> Self {
        Self::invalid(param, message).code("unsupported_parameter")
    }

    /// 400: the body is larger than `--openai-max-body-bytes`.
    pub fn too_large(max: usize) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            ApiErrorKind::TooLarge,
            format!("request body larger than {max} bytes (--openai-max-body-bytes)"),
        )
        .code("request_too_large")
    }

    /// 408: the body did not arrive within `--openai-body-timeout-ms`.
    pub fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            ApiErrorKind::Timeout,
            "request body not received in time".into(),
        )
        .code("body_timeout")
    }

    /// 401: missing or wrong gateway token.
    pub fn unauthorized(message: &str) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            ApiErrorKind::Auth,
            message.to_string(),
        )
        .code("invalid_api_key")
    }

    /// 403: a browser origin not in `--allow-origin`.
    pub fn origin() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            ApiErrorKind::Origin,
            "origin not allowed (see --allow-origin)".into(),
        )
    }

    /// 429 with `retry-after`.
    pub fn rate_limited(message: impl Into<String>, retry_after: Duration) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            ApiErrorKind::RateLimited,
            message.into(),
        )
        .code("rate_limit_exceeded");
        e.retry_after = Some(retry_after);
        e
    }

    /// 503 while the gateway shuts down.
    pub fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            ApiErrorKind::Upstream,
            "shutting down".into(),
        )
    }

    /// 504: the whole run took longer than the chat run deadline.
    pub fn run_timeout(after: Duration) -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "api_error",
            ApiErrorKind::Timeout,
            format!("the model did not finish within {} s", after.as_secs()),
        )
        .code("timeout")
    }

    /// A provider's failure: 400 for a refused request, 429 (with `retry-after`) for an
    /// upstream rate limit, 504 for an upstream timeout, else 502.
    pub fn provider(e: &ProviderError) -> Self {
        let message = crate::logring::mask(&e.to_string());
        match e {
            ProviderError::Invalid(_) => Self::invalid("messages", message),
            ProviderError::RateLimited { retry_after, .. } => {
                let mut r = Self::rate_limited(message, retry_after.unwrap_or(RETRY_LATER));
                r.metric = ApiErrorKind::Upstream;
                r
            }
            ProviderError::Unavailable(f) if f.reason == Reason::Timeout => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                ApiErrorKind::Timeout,
                message,
            )
            .code("upstream_timeout"),
            ProviderError::Unavailable(_) => Self::new(
                StatusCode::BAD_GATEWAY,
                "api_error",
                ApiErrorKind::Upstream,
                message,
            )
            .code("upstream_error"),
        }
    }

    /// The `{"error":{…}}` body.
    pub fn body(&self) -> Value {
        json!({ "error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body())).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}
