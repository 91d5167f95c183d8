//! The handlers: `GET /v1/models` and `POST /v1/chat/completions` (a JSON answer, or an
//! SSE stream with `stream: true`), plus CORS preflights for allowed browser origins.
//!
//! A chat completion runs through the same providers as a WebSocket chat run, with the
//! same deadline (`--run-timeout-ms`) and the same bounded delta channel; the
//! provider future is dropped (cancelling the upstream request) when the client goes
//! away, when a stream's reader stops reading, or when the deadline passes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::auth::{authorize, Permit};
use super::error::ApiError;
use super::limits::DISCARD_MAX;
use super::sse::{self, SendError, SseSender};
use super::wire::{self, Completion, CompletionRequest, Plan};
use super::Api;
use crate::gateway::limits::DELTA_BUFFER;
use crate::gateway::listener::CloseConnection;
use crate::gateway::metrics::{ApiErrorKind, ApiRoute};
use crate::gateway::Gateway;
use crate::providers::{ChatReply, ProviderError};

/// Counts the outcome of a request and adds CORS headers for an allowed origin.
fn finish(
    gw: &Gateway,
    route: ApiRoute,
    headers: &HeaderMap,
    result: Result<Response, ApiError>,
) -> Response {
    let mut res = match result {
        Ok(res) => {
            gw.metrics.api.request(route, true);
            res
        }
        Err(e) => {
            gw.metrics.api.request(route, false);
            gw.metrics.api.error(e.metric);
            debug!(
                status = e.status.as_u16(),
                kind = e.kind,
                "openai api request refused"
            );
            e.into_response()
        }
    };
    cors(gw, headers, res.headers_mut());
    res
}

/// `access-control-allow-origin` for an allowed browser origin (none otherwise).
fn cors(gw: &Gateway, req: &HeaderMap, res: &mut HeaderMap) {
    if let Some(origin) = req.get(header::ORIGIN) {
        if gw.origin_allowed(origin) {
            res.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
            res.insert(header::VARY, HeaderValue::from_static("origin"));
        }
    }
}

/// `OPTIONS /v1/...`: the preflight of an allowed origin gets 204 and the CORS headers;
/// any other origin gets 403.
pub async fn preflight(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let allowed = headers
        .get(header::ORIGIN)
        .is_some_and(|o| gw.origin_allowed(o));
    if !allowed {
        return ApiError::origin().into_response();
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    cors(&gw, &headers, h);
    res
}

/// `GET /v1/models`: the `models.list` catalog as `provider/model` ids.
pub async fn models(
    State(gw): State<Arc<Gateway>>,
    Extension(api): Extension<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let result = authorize(&gw, &api.hasher, &headers, peer.ip()).map(|_| {
        let data: Vec<Value> = gw
            .provider
            .models()
            .into_iter()
            .map(|m| {
                json!({
                    "id": format!("{}/{}", m.provider, m.id),
                    "object": "model",
                    "created": 0,
                    "owned_by": m.provider,
                })
            })
            .collect();
        axum::Json(json!({ "object": "list", "data": data })).into_response()
    });
    finish(&gw, ApiRoute::Models, &headers, result)
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(gw): State<Arc<Gateway>>,
    Extension(api): Extension<Arc<Api>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let headers = req.headers().clone();
    let closer = req.extensions().get::<CloseConnection>().cloned();
    let result = completion(&gw, &api, peer, closer, req).await;
    finish(&gw, ApiRoute::ChatCompletions, &headers, result)
}

async fn completion(
    gw: &Arc<Gateway>,
    api: &Arc<Api>,
    peer: SocketAddr,
    closer: Option<CloseConnection>,
    req: Request,
) -> Result<Response, ApiError> {
    if gw.is_shutting_down() {
        return Err(ApiError::shutting_down());
    }
    let key = authorize(gw, &api.hasher, req.headers(), peer.ip())?;
    let permit = api.gate.enter(key)?;
    let body = read_body(api, req.into_body()).await?;
    let request: CompletionRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(
            "body",
            format!(
                "invalid JSON body: {}",
                crate::providers::truncate(&e.to_string(), super::limits::PARSE_ERROR_MAX_CHARS)
            ),
        )
    })?;
    drop(body);
    let model = gw.provider.resolve_model(&request.model).map_err(|e| {
        let mut err = ApiError::invalid("model", e.to_string());
        err.code = Some("model_not_found");
        err
    })?;
    let plan = request.plan(&api.limits, model.clone())?;
    let completion = Completion::new(model);
    if plan.stream {
        Ok(stream(gw.clone(), api, plan, completion, permit, closer))
    } else {
        whole(gw, plan, completion).await
    }
}

/// The body, at most `--openai-max-body-bytes`, within `--openai-body-timeout-ms`.
async fn read_body(api: &Api, body: Body) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let max = api.limits.openai_max_body_bytes;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut total = 0usize;
    let read = async {
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else {
                return Err(ApiError::invalid("body", "the request body broke off"));
            };
            total += chunk.len();
            if total <= max {
                buf.extend_from_slice(&chunk);
            } else if total > DISCARD_MAX {
                break;
            }
        }
        Ok(())
    };
    match tokio::time::timeout(api.limits.body_timeout(), read).await {
        Err(_) => Err(ApiError::body_timeout()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) if total > max => Err(ApiError::too_large(max)),
        Ok(Ok(())) => Ok(buf),
    }
}

/// Runs the provider with the chat run deadline; the deltas go to `deltas`.
async fn run_provider(
    gw: &Gateway,
    plan_chat: crate::providers::ChatRequest,
    deltas: mpsc::Sender<String>,
) -> Result<ChatReply, ApiError> {
    let (provider, _) = gw.provider.served_by(plan_chat.model.as_deref());
    let deadline = gw.sessions.limits().run_timeout();
    let started = Instant::now();
    let result = tokio::time::timeout(deadline, gw.provider.chat_stream(plan_chat, deltas)).await;
    let took = started.elapsed();
    match result {
        Err(_) => {
            gw.metrics.provider_call(provider, took, false);
            Err(ApiError::run_timeout(deadline))
        }
        Ok(r) => {
            gw.metrics.provider_call(provider, took, r.is_ok());
            r.map_err(|e: ProviderError| {
                warn!(error = %crate::logring::mask(&e.to_string()), "openai api completion failed");
                ApiError::provider(&e)
            })
        }
    }
}

fn count_tokens(gw: &Gateway, reply: &ChatReply, prompt_chars: usize) {
    gw.metrics.api.tokens(
        &reply.provider,
        wire::estimate_tokens(prompt_chars),
        wire::estimate_tokens(reply.text.chars().count()),
    );
}

/// A non-streaming answer. Dropping this future (the client went away) drops the
/// provider future, which cancels the upstream request.
async fn whole(gw: &Gateway, plan: Plan, completion: Completion) -> Result<Response, ApiError> {
    let (tx, mut rx) = mpsc::channel(DELTA_BUFFER);
    let drain = async move { while rx.recv().await.is_some() {} };
    let (reply, ()) = tokio::join!(run_provider(gw, plan.chat, tx), drain);
    let reply = reply?;
    count_tokens(gw, &reply, plan.prompt_chars);
    info!(provider = %reply.provider, model = %reply.model, "openai api completion");
    let usage = wire::usage(plan.prompt_chars, reply.text.chars().count());
    let finish = wire::finish_reason(reply.stop_reason.as_deref());
    Ok(axum::Json(completion.response(&reply.text, finish, usage)).into_response())
}

/// A streamed answer: headers now, events from a task that owns the provider call.
fn stream(
    gw: Arc<Gateway>,
    api: &Api,
    plan: Plan,
    completion: Completion,
    permit: Permit,
    closer: Option<CloseConnection>,
) -> Response {
    let (sender, body) = sse::channel(api.limits.openai_sse_buffer_bytes, gw.limits.send_timeout());
    gw.metrics.api.stream_opened();
    tokio::spawn(async move {
        let end = produce(&gw, &sender, plan, &completion).await;
        match end {
            Ok(()) => {}
            Err(SendError::Closed) => {
                gw.metrics.api.error(ApiErrorKind::Cancelled);
                info!("openai api stream: client went away; upstream request cancelled");
            }
            Err(SendError::Slow) => {
                gw.metrics.api.error(ApiErrorKind::SlowReader);
                warn!("openai api stream: reader too slow; connection cut, upstream request cancelled");
                if let Some(c) = closer {
                    c.close();
                }
            }
        }
        gw.metrics.api.stream_closed();
        drop(permit);
    });
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    res
}

/// Plays one completion into `sender`: a role chunk, content chunks, the finish chunk,
/// the usage chunk when asked for, `[DONE]`. A provider failure becomes an `error`
/// event (the SDKs raise it) and ends the stream without `[DONE]`.
async fn produce(
    gw: &Gateway,
    sender: &SseSender,
    plan: Plan,
    completion: &Completion,
) -> Result<(), SendError> {
    sender
        .event(&completion.chunk(json!({"role": "assistant", "content": ""}), None))
        .await?;
    let (tx, mut rx) = mpsc::channel::<String>(DELTA_BUFFER);
    let call = run_provider(gw, plan.chat, tx);
    tokio::pin!(call);
    let mut chars = 0usize;
    let result = loop {
        tokio::select! {
            biased;
            () = sender.closed() => return Err(SendError::Closed),
            delta = rx.recv() => match delta {
                Some(d) => {
                    chars += d.chars().count();
                    sender.event(&completion.chunk(json!({"content": d}), None)).await?;
                }
                None => break (&mut call).await,
            },
            r = &mut call => {
                while let Ok(d) = rx.try_recv() {
                    chars += d.chars().count();
                    sender.event(&completion.chunk(json!({"content": d}), None)).await?;
                }
                break r;
            }
        }
    };
    match result {
        Ok(reply) => {
            count_tokens(gw, &reply, plan.prompt_chars);
            let finish = wire::finish_reason(reply.stop_reason.as_deref());
            sender
                .event(&completion.chunk(json!({}), Some(finish)))
                .await?;
            if plan.include_usage {
                let usage = wire::usage(plan.prompt_chars, chars);
                sender.event(&completion.usage_chunk(usage)).await?;
            }
            sender.done().await
        }
        Err(e) => {
            gw.metrics.api.error(e.metric);
            sender.event(&e.body()).await
        }
    }
}
