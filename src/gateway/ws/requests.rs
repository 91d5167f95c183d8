//! The loop of an authenticated connection: requests (rate-limited, dispatched to the
//! method table, answered with backpressure), `tick` events and pings, the idle
//! timeout, and the shutdown drain (`shutdown` event, then a 1001 close).

use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, Message};
use tracing::{debug, info};

use super::io::Event;
use super::{read_result, Connection, End};
use crate::gateway::admission::RateLimiter;
use crate::gateway::events;
use crate::gateway::limits::{Limits, RETRY_LATER_MS, RUN_DRAIN_POLL, RUN_DRAIN_WAIT};
use crate::gateway::methods;
use crate::gateway::metrics::{Disconnect, FrameReject, RequestResult};
use crate::gateway::transport::outbox::SendError;
use crate::logging::clip;
use crate::protocol::{
    close, codes, now_ms, ClientFrame, ErrorShape, EventFrame, RequestFrame, ResponseFrame,
};

const SHUTTING_DOWN: &str = "gateway shutting down";

/// A step of the loop that is not the wait itself, boxed (see [`Connection::serve`]).
type Step<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The loop's own state beside the connection's.
struct Loop {
    rate: RateLimiter,
    protocol: u32,
    tick_at: Instant,
    idle_at: Instant,
    /// When to try the codec shrink next (`None`: not needed).
    shrink_at: Option<Instant>,
}

impl Loop {
    fn new(limits: &Limits, protocol: u32) -> Loop {
        let now = Instant::now();
        Loop {
            rate: RateLimiter::new(limits.rate_limit, limits.rate_burst),
            protocol,
            tick_at: now + limits.tick_interval(),
            idle_at: now + limits.idle_timeout(),
            // The handshake's response grew the codec's write buffer: given back at
            // once (once it is written), so that connections opening together do not
            // all hold it.
            shrink_at: Some(now),
        }
    }

    /// The earliest of the loop's timers.
    fn next_deadline(&self) -> Instant {
        let next = self.tick_at.min(self.idle_at);
        self.shrink_at.map_or(next, |at| at.min(next))
    }
}

impl Connection {
    /// After the handshake: requests, ticks, idle timeout and shutdown. Its timers
    /// (tick, idle timeout, codec shrink) share one sleep, set to the earliest. The
    /// loop's own state is what a held idle connection keeps, so every step that is
    /// not the wait itself runs boxed (a request, a rate-limited reply, a shrink).
    pub(super) async fn serve(&mut self, protocol: u32) -> End {
        let mut st = Loop::new(&self.gw.limits, protocol);
        // Registered connections learn of the shutdown from their queue
        // (`Conns::stop_all`); one that registered as it began sees it here.
        if self.gw.is_shutting_down() {
            return Box::pin(self.shutting_down()).await;
        }
        let timer = tokio::time::sleep_until(st.tick_at);
        tokio::pin!(timer);
        loop {
            let next = st.next_deadline();
            if timer.deadline() != next {
                timer.as_mut().reset(next);
            }
            let event = tokio::select! {
                _ = &mut timer => match self.timers(&mut st) {
                    Ok(None) => continue,
                    Ok(Some(shrink)) => {
                        shrink.await;
                        continue;
                    }
                    Err(end) => return end,
                },
                event = self.io.next() => event,
            };
            let step = match event {
                Event::Read(msg) => self.message(&mut st, msg),
                Event::Wrote(end) => return self.wrote(end),
                Event::Shutdown => return Box::pin(self.shutting_down()).await,
            };
            match step {
                Ok(None) => {}
                Ok(Some(step)) => {
                    if let Err(end) = step.await {
                        return end;
                    }
                }
                Err(end) => return end,
            }
        }
    }

    /// The loop's timers that are due: the idle timeout ends the connection; a tick
    /// queues a `tick` event and a ping; an idle connection whose codec grew gets the
    /// codec shrink to run (returned, boxed).
    fn timers(&mut self, st: &mut Loop) -> Result<Option<Step<'_, bool>>, End> {
        let now = Instant::now();
        if now >= st.idle_at {
            let idle_ms = self.gw.limits.idle_timeout().as_millis() as u64;
            info!(idle_ms, "idle timeout");
            self.gw.metrics.disconnect(Disconnect::IdleTimeout);
            return Err(End::Close(close::NORMAL, "idle timeout"));
        }
        if now >= st.tick_at {
            st.tick_at = now + self.gw.limits.tick_interval();
            // A full queue skips this tick (responses, not events, decide when a reader
            // is too slow); a client that stops reading also stops answering pings and
            // meets the idle timeout.
            let tick = self.out.try_send_json(&EventFrame::tick(now_ms()));
            let ping = self.out.ping();
            // Closing after its queue: the writer ends the connection.
            let closing = self.out.closing().is_some();
            if !closing && (tick == Err(SendError::Closed) || ping == Err(SendError::Closed)) {
                return Err(End::Drop("socket closed"));
            }
            // Events may have grown the codec meanwhile.
            if st.shrink_at.is_none() && self.codec_grew() {
                st.shrink_at = Some(self.shrink_due());
            }
        }
        if st.shrink_at.is_some_and(|at| now >= at) {
            st.shrink_at = None;
            if self.codec_grew() {
                return Ok(Some(Box::pin(self.shrink())));
            }
        }
        Ok(None)
    }

    /// One message read: the step it needs (boxed), if any, or how the connection ends.
    fn message(
        &mut self,
        st: &mut Loop,
        msg: Option<Result<Message, tungstenite::Error>>,
    ) -> Result<Option<Step<'_, Result<(), End>>>, End> {
        if let Some(Ok(_)) = &msg {
            self.delivered += 1;
        }
        st.idle_at = Instant::now() + self.gw.limits.idle_timeout();
        st.shrink_at = Some(self.shrink_due());
        let msg = match read_result(msg) {
            Ok(m) => m,
            Err(end) => {
                self.note_read_end(&end);
                return Err(end);
            }
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Binary(_) => {
                self.gw.metrics.frame_rejected(FrameReject::Binary);
                return Err(End::Close(
                    close::POLICY_VIOLATION,
                    "binary frames are not supported",
                ));
            }
            _ => return Ok(None),
        };
        // Every text frame spends a token, requests or not.
        let limited = st.rate.try_take().err();
        let req = match serde_json::from_str::<ClientFrame>(text.as_str()) {
            Ok(ClientFrame::Req(req)) => req,
            Ok(ClientFrame::Other) => return Ok(None),
            Err(_) => {
                self.gw.metrics.frame_rejected(FrameReject::Invalid);
                return Err(End::Close(close::POLICY_VIOLATION, "invalid frame"));
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
                    self.gw.limits.rate_limit
                ),
            )
            .retry_after(wait.as_millis().max(1) as u64);
            return Ok(Some(Box::pin(self.reply_err(req.id, error))));
        }
        Ok(Some(Box::pin(self.request(st.protocol, req))))
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
