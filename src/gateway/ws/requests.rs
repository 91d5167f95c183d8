//! The loop of an authenticated connection: requests (rate-limited, dispatched to the
//! method table, answered with backpressure), `tick` events and pings, the idle
//! timeout, and the shutdown drain (`shutdown` event, then a 1001 close).

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info};

use super::io::Event;
use super::{read_result, Connection, End};
use crate::gateway::admission::RateLimiter;
use crate::gateway::events;
use crate::gateway::limits::{RETRY_LATER_MS, RUN_DRAIN_POLL, RUN_DRAIN_WAIT};
use crate::gateway::methods;
use crate::gateway::metrics::{Disconnect, FrameReject, RequestResult};
use crate::gateway::transport::outbox::SendError;
use crate::logging::clip;
use crate::protocol::{
    close, codes, now_ms, ClientFrame, ErrorShape, EventFrame, RequestFrame, ResponseFrame,
};

const SHUTTING_DOWN: &str = "gateway shutting down";

impl Connection {
    /// After the handshake: requests, ticks, idle timeout and shutdown. Its timers
    /// (tick, idle timeout, codec shrink) share one sleep, set to the earliest.
    pub(super) async fn serve(&mut self, protocol: u32) -> End {
        let gw = self.gw.clone();
        let limits = &gw.limits;
        let mut rate = RateLimiter::new(limits.rate_limit, limits.rate_burst);
        let tick_every = limits.tick_interval();
        let idle_timeout = limits.idle_timeout();
        let mut shutdown = self.gw.shutdown.clone();
        let now = Instant::now();
        let mut tick_at = now + tick_every;
        let mut idle_at = now + idle_timeout;
        // The handshake's response grew the codec's write buffer: given back at once
        // (once it is written), so that connections opening together do not all hold it.
        let mut shrink_at = Some(now);
        let timer = tokio::time::sleep_until(now);
        tokio::pin!(timer);
        loop {
            let next = tick_at.min(idle_at).min(shrink_at.unwrap_or(idle_at));
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            let event = tokio::select! {
                // The watch guard is dropped inside the block: only `()` lives across
                // the drain's await.
                _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                    return Box::pin(self.shutting_down()).await;
                }
                _ = &mut timer => {
                    let now = Instant::now();
                    if now >= idle_at {
                        info!(idle_ms = idle_timeout.as_millis() as u64, "idle timeout");
                        self.gw.metrics.disconnect(Disconnect::IdleTimeout);
                        return End::Close(close::NORMAL, "idle timeout");
                    }
                    if now >= tick_at {
                        tick_at = now + tick_every;
                        // A full queue skips this tick (responses, not events, decide
                        // when a reader is too slow); a client that stops reading also
                        // stops answering pings and meets the idle timeout.
                        let tick = self.out.try_send_json(&EventFrame::tick(now_ms()));
                        let ping = self.out.ping();
                        // Closing after its queue: the writer ends the connection.
                        let closing = self.out.closing().is_some();
                        if !closing && (tick == Err(SendError::Closed) || ping == Err(SendError::Closed)) {
                            return End::Drop("socket closed");
                        }
                        // Events may have grown the codec meanwhile.
                        if shrink_at.is_none() && self.codec_grew() {
                            shrink_at = Some(self.shrink_due());
                        }
                    }
                    if shrink_at.is_some_and(|at| now >= at) {
                        shrink_at = None;
                        if self.codec_grew() {
                            Box::pin(self.shrink()).await;
                        }
                    }
                    continue;
                }
                event = self.io.next() => event,
            };
            let msg = match event {
                Event::Read(msg) => msg,
                Event::Wrote(end) => return self.wrote(end),
            };
            if let Some(Ok(_)) = &msg {
                self.delivered += 1;
            }
            idle_at = Instant::now() + idle_timeout;
            shrink_at = Some(self.shrink_due());
            let msg = match read_result(msg) {
                Ok(m) => m,
                Err(end) => {
                    self.note_read_end(&end);
                    return end;
                }
            };
            let text = match msg {
                Message::Text(t) => t,
                Message::Binary(_) => {
                    self.gw.metrics.frame_rejected(FrameReject::Binary);
                    return End::Close(close::POLICY_VIOLATION, "binary frames are not supported");
                }
                _ => continue,
            };
            // Every text frame spends a token, requests or not.
            let limited = rate.try_take().err();
            let req = match serde_json::from_str::<ClientFrame>(text.as_str()) {
                Ok(ClientFrame::Req(req)) => req,
                Ok(ClientFrame::Other) => continue,
                Err(_) => {
                    self.gw.metrics.frame_rejected(FrameReject::Invalid);
                    return End::Close(close::POLICY_VIOLATION, "invalid frame");
                }
            };
            if let Some(wait) = limited {
                debug!(method = clip(&req.method), "request rate limited");
                self.gw
                    .metrics
                    .request(&req.method, RequestResult::RateLimited);
                let error = ErrorShape::new(
                    codes::UNAVAILABLE,
                    format!(
                        "rate limit exceeded: at most {} requests per second (retry later)",
                        limits.rate_limit
                    ),
                )
                .retry_after(wait.as_millis().max(1) as u64);
                if let Err(end) = Box::pin(self.reply_err(req.id, error)).await {
                    return end;
                }
                continue;
            }
            // Boxed, like every step that is not the wait itself: the task a held idle
            // connection keeps is then only the loop's own state, not room for the
            // largest method's state.
            if let Err(end) = Box::pin(self.request(protocol, req)).await {
                return end;
            }
        }
    }

    /// The `shutdown` event, then a 1001 close. Runs this connection started end with
    /// the drain (`UNAVAILABLE` "shutting down"); their final `agent` responses are
    /// queued before the event, waited for at most [`RUN_DRAIN_WAIT`].
    async fn shutting_down(&mut self) -> End {
        if let Some(client) = self.client.clone() {
            let until = Instant::now() + RUN_DRAIN_WAIT;
            let drained = async {
                while client
                    .pending_replies
                    .load(std::sync::atomic::Ordering::SeqCst)
                    > 0
                    && Instant::now() < until
                {
                    tokio::time::sleep(RUN_DRAIN_POLL).await;
                }
            };
            // The queue is written meanwhile (the final responses among it).
            if let Err(end) = self.io.writing(drained).await {
                return self.wrote(end);
            }
        }
        // A full queue still gets the event: after what it holds, before the close.
        let shutdown = events::shutdown();
        if self.send(&shutdown).is_err() {
            let text = serde_json::to_string(&shutdown).unwrap_or_default();
            self.out
                .close_after(Some(text.into()), close::GOING_AWAY, SHUTTING_DOWN);
        }
        self.gw.metrics.disconnect(Disconnect::Shutdown);
        End::Close(close::GOING_AWAY, SHUTTING_DOWN)
    }

    async fn request(&mut self, protocol: u32, req: RequestFrame) -> Result<(), End> {
        let started = std::time::Instant::now();
        let method = req.method.clone();
        let Some(client) = self.client.clone() else {
            return Err(End::Close(close::POLICY_VIOLATION, "not connected"));
        };
        let ctx = methods::Ctx {
            gw: &self.gw,
            conn: &client,
            protocol,
            req: &req,
        };
        // A request still running when shutdown begins is answered at once; the loop
        // then sends the `shutdown` event and the close frame.
        let mut shutdown = self.gw.shutdown.clone();
        let work = async {
            tokio::select! {
                r = methods::dispatch(&ctx) => r,
                _ = shutdown.wait_for(|s| *s) => Err(
                    ErrorShape::new(codes::UNAVAILABLE, "shutting down").retry_after(RETRY_LATER_MS),
                ),
            }
        };
        // The queue is written meanwhile.
        let result = match self.io.writing(work).await {
            Ok(result) => result,
            Err(end) => return Err(self.wrote(end)),
        };
        let ok = result.is_ok();
        self.gw.metrics.request(
            &method,
            if ok {
                RequestResult::Ok
            } else {
                RequestResult::Error
            },
        );
        debug!(
            method = clip(&method),
            ok,
            ms = started.elapsed().as_millis() as u64,
            "request"
        );
        let frame = match result {
            Ok(payload) => ResponseFrame::ok(req.id, payload),
            Err(error) => ResponseFrame::err(req.id, error),
        };
        self.respond(&frame).await
    }
}
