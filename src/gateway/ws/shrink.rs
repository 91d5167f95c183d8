//! Gives back what a burst left in an idle connection's WebSocket codec.
//!
//! The codec's read and write buffers grow to the largest frame they carried (a large
//! request, the `hello-ok` response, a burst of events) and never shrink. Right after
//! the handshake, and whenever a connection has been quiet for [`SHRINK_IDLE`], if its
//! frame gate saw a frame larger than [`SHRINK_ABOVE`] since the codec was built (ticks
//! also check), the loop checks that the writer holds nothing in the codec (everything
//! it took from the queue is flushed) and that the codec holds no unread input (the
//! gate counts whole messages as they pass; the loop counts what the codec returned),
//! and replaces the codec by a fresh one over the same socket and gate.
//! Nothing on the wire changes; the connection's state above the codec is untouched.

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use tracing::debug;

use super::Connection;
use crate::gateway::limits::{SHRINK_ABOVE, SHRINK_FLUSH_WAIT, SHRINK_IDLE};

impl Connection {
    /// When the connection should next try [`Connection::shrink`]: [`SHRINK_IDLE`]
    /// from now (every message postpones it).
    pub(super) fn shrink_due(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + SHRINK_IDLE
    }

    /// True when the codec carried a frame larger than [`SHRINK_ABOVE`] since it was
    /// built: its buffers grew.
    pub(super) fn codec_grew(&self) -> bool {
        self.io
            .ws
            .as_ref()
            .is_some_and(|ws| ws.get_ref().high_water() > SHRINK_ABOVE)
    }

    /// Replaces the codec by a fresh one when it holds no unread input and nothing
    /// the writer fed it; true when it did. Frames queued meanwhile wait in the queue.
    pub(super) async fn shrink(&mut self) -> bool {
        if !self.io.writer.is_idle() {
            return false;
        }
        let Some(mut ws) = self.io.ws.take() else {
            return false;
        };
        let idle = ws.get_ref().at_message_boundary(self.delivered)
            && matches!(
                tokio::time::timeout(SHRINK_FLUSH_WAIT, ws.flush()).await,
                Ok(Ok(()))
            );
        if idle {
            let config = *ws.get_config();
            let mut gate = ws.into_inner();
            let grew = gate.high_water();
            gate.reset_high_water();
            ws = WebSocketStream::from_raw_socket(gate, Role::Server, Some(config)).await;
            debug!(grew, "codec rebuilt (idle)");
        }
        self.io.ws = Some(ws);
        idle
    }
}
