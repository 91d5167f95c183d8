//! The transport layer of the gateway: the socket of one WebSocket connection
//! ([`WsStream`]), the frame gate under its codec (frame sizes checked on their header),
//! the bounded send queue with the global outbound budget (`outbox`), its writer, polled
//! by the connection's own task (`writer`), and the frames shared by every queue they
//! go to, charged once to that budget (`shared_frame`).
//!
//! Nothing here knows about the protocol above the frames.

pub mod frame_gate;
pub mod outbox;
pub mod shared_frame;
pub mod writer;

use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;

use frame_gate::FrameGate;

/// The socket of one gateway connection.
pub type WsStream = WebSocketStream<FrameGate<TokioIo<hyper::upgrade::Upgraded>>>;
