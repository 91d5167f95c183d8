//! HTTP endpoints: `GET /health` (liveness) and `GET /ready` (readiness), served on the
//! health port and on the gateway port; the gateway port also upgrades `GET /` to the
//! WebSocket gateway. `GET /metrics` (Prometheus text) is served on the health port only.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::Gateway;

/// `/health`, `/ready` and `/metrics`.
pub fn health_router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(gw)
}

/// `/health`, `/ready` and the WebSocket upgrade at `/`.
pub fn gateway_router(gw: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(super::ws::upgrade))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(gw)
}

/// Liveness: `{"status":"ok","version","uptimeMs"}`.
async fn health(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    Json(json!({
        "status": "ok",
        "version": gw.version(),
        "uptimeMs": gw.uptime_ms(),
    }))
}

/// Prometheus text exposition format 0.0.4.
async fn metrics(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    let mut body = gw.metrics.render(
        gw.conns.current(),
        gw.limits.max_connections,
        std::time::Duration::from_millis(gw.uptime_ms()),
    );
    body.push_str(&gw.metrics.render_limits(&super::metrics::LimitGauges {
        pending: gw.pending.current(),
        pending_max: gw.pending.max(),
        http_open: gw.http_open(),
        buffered_bytes: gw.outbound.used(),
        buffered_bytes_max: gw.outbound.max(),
        codec_buffer_bytes: super::transport::frame_gate::codec_buffer_bytes(),
        connection_task_bytes: super::ws::connection_task_bytes(),
    }));
    body.push_str(&gw.metrics.api.render());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::prometheus::CONTENT_TYPE,
        )],
        body,
    )
}

/// Readiness, as admission stands: 200 while a new client would be admitted; 503
/// once shutdown began, or while every authenticated slot is taken or the outbound
/// budget of all connections is (nearly) used up, naming why.
async fn ready(State(gw): State<Arc<Gateway>>) -> impl IntoResponse {
    if gw.is_shutting_down() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "shutting-down" })),
        );
    }
    let connections = gw.conns.current();
    let (used, max) = (gw.outbound.used(), gw.outbound.max());
    let mut reasons = Vec::new();
    if connections >= gw.limits.max_connections {
        reasons.push("connections");
    }
    // Less than 1/16 of the budget left: a new client's frames would wait for room.
    if max.saturating_sub(used) < (max / 16).max(1) {
        reasons.push("outbound-budget");
    }
    let mut body = json!({
        "status": if reasons.is_empty() { "ready" } else { "not-admitting" },
        "connections": connections,
        "maxConnections": gw.limits.max_connections,
        "bufferedBytes": used,
        "bufferedBytesMax": max,
    });
    if reasons.is_empty() {
        return (StatusCode::OK, Json(body));
    }
    body["reasons"] = json!(reasons);
    (StatusCode::SERVICE_UNAVAILABLE, Json(body))
}
