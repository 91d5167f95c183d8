//! One run, from the provider call to its last event: [`execute`] reads the history,
//! streams the provider's deltas ([`stream`], paced by [`DeltaThrottle`]) until the reply, an error, the timeout,
//! an abort or the shutdown drain ends it ([`Outcome`]), then stores the reply, frees
//! the session and publishes the terminal events ([`conclude`], typed [`Ended`]), and
//! for `agent` sends the final response ([`final_response`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use super::throttle::DeltaThrottle;
use super::{release, store_reply, RunRequest};
use crate::gateway::events::RunEvents;
use crate::gateway::limits::{DELTA_BUFFER, RETRY_LATER_MS};
use crate::gateway::Gateway;
use crate::protocol::{codes, now_ms, ErrorShape, ResponseFrame};
use crate::providers::{ChatMessage, ChatReply, ChatRequest, ProviderError};
use crate::sessions::Message;

/// Why the provider stream stopped.
enum Outcome {
    Done(ChatReply),
    Failed(ProviderError),
    TimedOut,
    Aborted,
    /// The gateway began its shutdown drain: the run ends with `UNAVAILABLE`.
    ShuttingDown,
}

/// Why the stream stopped, and the text it streamed.
struct Stopped {
    outcome: Outcome,
    text: String,
}

impl Outcome {
    /// Whether the call counts in the provider's metrics: a request the provider never
    /// judged (refused before sending, aborted, cut by the drain) does not.
    fn counts_as_provider_call(&self) -> bool {
        !matches!(
            self,
            Outcome::Failed(ProviderError::Invalid(_)) | Outcome::Aborted | Outcome::ShuttingDown
        )
    }
}

/// How a run ended, as its `agent` response reports it.
enum Ended {
    /// The reply (streamed, or the provider's whole text).
    Ok(String),
    /// Aborted: the text streamed so far.
    Aborted(String),
    /// The provider failed; `retry_after_ms` when it said when to retry.
    Failed {
        message: String,
        retry_after_ms: Option<u64>,
    },
    TimedOut,
    ShuttingDown,
}

/// The provider that serves a run: for metrics, error details and the agent's result.
struct ServedBy {
    provider: &'static str,
    model: String,
}

pub(super) async fn execute(
    gw: &Arc<Gateway>,
    req: RunRequest,
    instance: &str,
    cancelled: oneshot::Receiver<()>,
) {
    let started = Instant::now();
    let chat = chat_request(gw, &req);
    let (provider, model) = gw.provider.served_by(chat.model.as_deref());
    let served = ServedBy {
        provider,
        model: model.to_string(),
    };
    let mut events = RunEvents::new(&gw.clients, &req.run_id, &req.session_key, now_ms());
    events.started();
    info!(session = %req.session_key, "run started");
    let stopped = stream(gw, chat, req.timeout, cancelled, &mut events).await;
    let elapsed = started.elapsed();
    if stopped.outcome.counts_as_provider_call() {
        gw.metrics.provider_call(
            served.provider,
            elapsed,
            matches!(stopped.outcome, Outcome::Done(_)),
        );
    }
    let ended = conclude(gw, &req, instance, stopped, elapsed, &served, &mut events);
    let Some(id) = req.reply_to.clone() else {
        return;
    };
    let frame = final_response(id, &req, &ended, elapsed, &served);
    if let Err(e) = req
        .conn
        .out
        .send_json(&frame, gw.limits.send_timeout())
        .await
    {
        debug!(
            ?e,
            "final agent response not delivered (client gone or too slow)"
        );
    }
}

/// The provider request: the session's user and assistant messages (the user's new
/// one included) and the model the request or the session names.
fn chat_request(gw: &Gateway, req: &RunRequest) -> ChatRequest {
    let session = gw.sessions.get(&req.session_key);
    let history: Vec<ChatMessage> = session
        .as_ref()
        .map(|s| {
            s.messages
                .iter()
                .filter(|m| m.role == "user" || m.role == "assistant")
                .filter(|m| !m.text.is_empty())
                .map(|m| ChatMessage {
                    role: m.role.clone(),
                    content: m.text.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let session_model = session.and_then(|s| s.model);
    ChatRequest {
        messages: history,
        model: req.model.clone().or(session_model),
        max_tokens: None,
    }
}

/// Calls the provider and publishes each delta until the call ends or the run is
/// stopped.
async fn stream(
    gw: &Gateway,
    chat: ChatRequest,
    timeout: Duration,
    mut cancelled: oneshot::Receiver<()>,
    events: &mut RunEvents<'_>,
) -> Stopped {
    let (tx, mut rx) = mpsc::channel::<String>(DELTA_BUFFER);
    let call = gw.provider.chat_stream(chat, tx);
    tokio::pin!(call);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut text = String::new();
    // Deltas go out at the throttle's pace (the first at once); one held back goes out
    // when `trailing` fires, or the terminal event carries its text.
    let mut throttle = DeltaThrottle::new(gw.sessions.limits().delta_interval());
    let trailing = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(trailing);
    let mut held = false;
    let mut shutdown = gw.shutdown.clone();
    let outcome = loop {
        tokio::select! {
            biased;
            _ = &mut cancelled => break Outcome::Aborted,
            _ = shutdown.wait_for(|s| *s) => break Outcome::ShuttingDown,
            _ = &mut deadline => break Outcome::TimedOut,
            _ = &mut trailing, if held => {
                // Not grown enough yet: the next delta decides.
                paced(events, &mut throttle, &text);
                held = false;
            }
            Some(delta) = rx.recv() => {
                text.push_str(&delta);
                held = !paced(events, &mut throttle, &text);
                if held {
                    trailing.as_mut().reset(throttle.next_at());
                }
            }
            result = &mut call => {
                // What the provider sent before it finished goes out at the same pace (a
                // reply that came whole before any delta went out still streams one).
                while let Ok(delta) = rx.try_recv() {
                    text.push_str(&delta);
                    paced(events, &mut throttle, &text);
                }
                break match result {
                    Ok(reply) => Outcome::Done(reply),
                    Err(e) => Outcome::Failed(e),
                };
            }
        }
    };
    Stopped { outcome, text }
}

/// Publishes the text so far as a delta if `throttle` lets it out now; false when it is
/// held back.
fn paced(events: &mut RunEvents<'_>, throttle: &mut DeltaThrottle, text: &str) -> bool {
    let now = tokio::time::Instant::now();
    if !throttle.due(text.len(), now) {
        return false;
    }
    let from = throttle.sent(text.len(), now);
    events.delta(text, &text[from..]);
    true
}

/// Stores what the run produced, frees the run and its session (before the terminal
/// events, so a client reacting to them sees the run finished), then publishes them.
fn conclude(
    gw: &Gateway,
    req: &RunRequest,
    instance: &str,
    Stopped { outcome, text }: Stopped,
    elapsed: Duration,
    served: &ServedBy,
    events: &mut RunEvents<'_>,
) -> Ended {
    let key = req.session_key.as_str();
    let run_id = req.run_id.as_str();
    match outcome {
        Outcome::Done(reply) => {
            let full = if text.is_empty() {
                reply.text.clone()
            } else {
                text
            };
            let mut m = Message::new("assistant", full.clone(), Some(run_id));
            m.stop_reason = Some("stop".into());
            store_reply(gw, key, instance, m.clone());
            release(gw, run_id, key, instance);
            events.finished(&m);
            info!(ms = elapsed.as_millis() as u64, provider = %reply.provider, model = %crate::logging::escape(&reply.model), "run finished");
            Ended::Ok(full)
        }
        Outcome::Aborted => {
            if !text.is_empty() {
                let mut m = Message::new("assistant", text.clone(), Some(run_id));
                m.stop_reason = Some("aborted".into());
                store_reply(gw, key, instance, m);
            }
            release(gw, run_id, key, instance);
            events.aborted(&text);
            info!(
                ms = elapsed.as_millis() as u64,
                "run aborted; upstream request cancelled"
            );
            Ended::Aborted(text)
        }
        Outcome::Failed(e) => {
            let message = e.to_string();
            warn!(error = %crate::logging::escape(&message), "run failed");
            release(gw, run_id, key, instance);
            let detail = e.detail(served.provider, Some(&served.model));
            events.failed(&message, e.reason().chat_error_kind(), Some(detail));
            let retry_after_ms = match e {
                ProviderError::RateLimited {
                    retry_after: Some(after),
                    ..
                } => Some(after.as_millis() as u64),
                _ => None,
            };
            Ended::Failed {
                message,
                retry_after_ms,
            }
        }
        Outcome::TimedOut => {
            let message = format!("run timed out after {} s", req.timeout.as_secs());
            warn!("{message}");
            release(gw, run_id, key, instance);
            events.failed(&message, "timeout", None);
            Ended::TimedOut
        }
        Outcome::ShuttingDown => {
            info!("run ended by the shutdown drain");
            release(gw, run_id, key, instance);
            // The protocol's chat error kinds have none for a shutdown.
            events.failed(SHUTTING_DOWN, "unknown", None);
            Ended::ShuttingDown
        }
    }
}

const SHUTTING_DOWN: &str = "shutting down";

/// The `agent` request's final response: an error for a failed or drained run, else
/// the result (`status` `ok`, `aborted` or `timeout`, the text as `payloads`).
fn final_response(
    id: serde_json::Value,
    req: &RunRequest,
    ended: &Ended,
    elapsed: Duration,
    served: &ServedBy,
) -> ResponseFrame {
    let run = json!({ "runId": req.run_id });
    let (status, text) = match ended {
        Ended::Failed {
            message,
            retry_after_ms,
        } => {
            let mut shape = ErrorShape::new(codes::UNAVAILABLE, message.clone());
            if let Some(ms) = retry_after_ms {
                shape = shape.retry_after(*ms);
            }
            return ResponseFrame::err(id, shape.with_details(run));
        }
        Ended::ShuttingDown => {
            let shape =
                ErrorShape::new(codes::UNAVAILABLE, SHUTTING_DOWN).retry_after(RETRY_LATER_MS);
            return ResponseFrame::err(id, shape.with_details(run));
        }
        Ended::Ok(text) => ("ok", text.as_str()),
        Ended::Aborted(text) => ("aborted", text.as_str()),
        Ended::TimedOut => ("timeout", ""),
    };
    let payloads = if text.is_empty() {
        json!([])
    } else {
        json!([{ "text": text }])
    };
    ResponseFrame::ok(
        id,
        json!({
            "runId": req.run_id,
            "status": status,
            "summary": if status == "ok" { "completed" } else { status },
            "result": {
                "payloads": payloads,
                "meta": {
                    "durationMs": elapsed.as_millis() as u64,
                    "agentMeta": {
                        "sessionKey": req.session_key,
                        "provider": served.provider,
                        "model": served.model,
                    },
                }
            }
        }),
    )
}
