//! The OpenAI-compatible HTTP API on the gateway port (`clawdbot serve --openai-api`,
//! off by default; `docs/openai-api.md`): `GET /v1/models` and
//! `POST /v1/chat/completions` (JSON or SSE), behind the gateway token.
//!
//! This module depends on the gateway (its state, token check, failed-auth budget,
//! origin policy), the providers and the metrics; none of them imports it. `serve`
//! merges the router built here into the gateway port's routes.
//!
//! Modules: `limits` (flags and ranges), `auth` (origin, bearer token, concurrency
//! bound), `wire` (request and response shapes), `sse` (the bounded event stream),
//! `routes` (handlers), `error` (OpenAI-shaped errors).

pub mod auth;
pub mod error;
pub mod limits;
pub mod routes;
pub mod sse;
pub mod wire;

use std::hash::RandomState;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::gateway::methods::table::{CHAT_COMPLETIONS_PATH, MODELS_PATH};
use crate::gateway::Gateway;
pub use limits::OpenAiArgs;

/// State of the API shared by its handlers.
#[derive(Debug)]
pub struct Api {
    pub limits: OpenAiArgs,
    pub gate: Arc<auth::Gate>,
    /// Keys the per-token counters (tokens are hashed, never kept).
    pub hasher: RandomState,
}

/// The API's routes (state: the gateway), or `None` when it is not enabled.
pub fn router(args: OpenAiArgs) -> Option<Router<Arc<Gateway>>> {
    if !args.enabled {
        return None;
    }
    let api = Arc::new(Api {
        gate: auth::Gate::new(
            args.openai_max_concurrent_per_token,
            args.openai_max_concurrent,
        ),
        limits: args,
        hasher: RandomState::new(),
    });
    Some(
        Router::new()
            .route(MODELS_PATH, get(routes::models).options(routes::preflight))
            .route(
                CHAT_COMPLETIONS_PATH,
                post(routes::chat_completions).options(routes::preflight),
            )
            .layer(Extension(api)),
    )
}
