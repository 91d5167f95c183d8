//! Relays bytes both ways between two sockets until both sides are done, nothing moved
//! in either direction for the idle timeout, or the upstream has closed and the client
//! stayed silent for the linger time (so a client cannot keep a slot by never closing).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::bounds::RELAY_BUFFER;

/// Bytes moved by one relay, and why it ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relayed {
    /// Client to upstream.
    pub up: u64,
    /// Upstream to client.
    pub down: u64,
    pub idle_timeout: bool,
}

/// Copies `client` ⇄ `upstream`. A side that reaches EOF half-closes the other's write
/// side; the relay ends when both have, on an error, after `idle` without traffic, or,
/// once the upstream has closed, after `linger` without a byte from the client.
pub async fn relay(
    client: TcpStream,
    upstream: TcpStream,
    idle: Duration,
    linger: Duration,
) -> Relayed {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let mut cbuf = vec![0u8; RELAY_BUFFER];
    let mut ubuf = vec![0u8; RELAY_BUFFER];
    let (mut c_open, mut u_open) = (true, true);
    let mut out = Relayed::default();
    while c_open || u_open {
        let quiet = if u_open { idle } else { idle.min(linger) };
        tokio::select! {
            r = cr.read(&mut cbuf), if c_open => match r {
                Ok(0) | Err(_) => {
                    c_open = false;
                    let _ = uw.shutdown().await;
                }
                Ok(n) => {
                    if uw.write_all(&cbuf[..n]).await.is_err() {
                        break;
                    }
                    out.up += n as u64;
                }
            },
            r = ur.read(&mut ubuf), if u_open => match r {
                Ok(0) | Err(_) => {
                    u_open = false;
                    let _ = cw.shutdown().await;
                }
                Ok(n) => {
                    if cw.write_all(&ubuf[..n]).await.is_err() {
                        break;
                    }
                    out.down += n as u64;
                }
            },
            _ = tokio::time::sleep(quiet) => {
                out.idle_timeout = true;
                break;
            }
        }
    }
    out
}
