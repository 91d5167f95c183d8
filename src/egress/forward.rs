//! Port forwards (`--forward LISTEN_PORT=HOST:PORT`): the egress service publishes the
//! loopback ports on the host and relays them to the gateway on the internal network,
//! because Docker drops the published ports of a container that is only on internal
//! networks.
//!
//! A new connection first waits for its client's first byte (`--first-byte-timeout-ms`)
//! in the listener's pending budget (oldest evicted when full); only then does it take a
//! forward slot and dial the target, so silent sockets never hold a slot or reach the
//! gateway. Once the target has closed, a client that stays silent is closed after the
//! same time instead of the idle timeout.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::allow::Destination;
use super::bounds::ACCEPT_ERROR_PAUSE;
use super::pending::Pending;
use super::pipe::relay;
use super::stats::{Refusal, Stats};

/// One `LISTEN_PORT=HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSpec {
    pub listen_port: u16,
    pub target: Destination,
}

impl std::str::FromStr for ForwardSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (port, target) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected LISTEN_PORT=HOST:PORT"))?;
        let listen_port = port
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: listen port must be 0..65535"))?;
        Ok(ForwardSpec {
            listen_port,
            target: Destination::parse(target)?,
        })
    }
}

/// Settings shared by every forward.
#[derive(Debug, Clone)]
pub struct ForwardLimits {
    pub max_connections: usize,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
    /// Time until the client's first byte, and the linger once the target has closed.
    pub first_byte_timeout: Duration,
}

/// Accepts on `listener` until aborted, relaying each connection to `target`.
pub async fn run(
    listener: TcpListener,
    target: Destination,
    limits: ForwardLimits,
    stats: Arc<Stats>,
    pending: Arc<Pending>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                if stats.refuse(Refusal::AcceptFailed) {
                    warn!(error = %e, "forward: accept failed");
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let (slot, evicted_other) = pending.admit();
        if evicted_other && stats.refuse(Refusal::PendingEvicted) {
            warn!(target = %target, max_pending = pending.max(), "forward: pending budget full, closed the oldest connection that had sent nothing");
        }
        let (target, limits, stats, slots) =
            (target.clone(), limits.clone(), stats.clone(), slots.clone());
        tokio::spawn(async move {
            let mut probe = [0u8; 1];
            let spoke = tokio::select! {
                r = tokio::time::timeout(limits.first_byte_timeout, client.peek(&mut probe)) => match r {
                    Ok(Ok(n)) => n > 0,
                    Ok(Err(_)) => false,
                    Err(_) => {
                        if stats.refuse(Refusal::FirstByteTimeout) {
                            debug!(%peer, target = %target, "forward: no first byte in time");
                        }
                        false
                    }
                },
                () = slot.evicted() => false,
            };
            drop(slot);
            if !spoke {
                return;
            }
            let Ok(_permit) = slots.try_acquire_owned() else {
                if stats.refuse(Refusal::ForwardLimit) {
                    warn!(target = %target, max = limits.max_connections, "forward refused: connection limit reached");
                }
                return;
            };
            let dial = TcpStream::connect((target.resolver_host(), target.port));
            let upstream = match tokio::time::timeout(limits.connect_timeout, dial).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    if stats.refuse(Refusal::TargetUnreachable) {
                        warn!(target = %target, error = %e, "forward: target unreachable");
                    }
                    return;
                }
                Err(_) => {
                    if stats.refuse(Refusal::TargetUnreachable) {
                        warn!(target = %target, "forward: connect to target timed out");
                    }
                    return;
                }
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            stats.forwards_opened.fetch_add(1, Ordering::Relaxed);
            let _open = stats.forwards_open.enter();
            let r = relay(
                client,
                upstream,
                limits.idle_timeout,
                limits.first_byte_timeout,
            )
            .await;
            debug!(%peer, target = %target, up_bytes = r.up, down_bytes = r.down, "forward closed");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forward_specs() {
        let f: ForwardSpec = "18789=clawdbot:18789".parse().unwrap();
        assert_eq!(f.listen_port, 18789);
        assert_eq!(f.target.to_string(), "clawdbot:18789");
        assert!("18789".parse::<ForwardSpec>().is_err());
        assert!("x=clawdbot:1".parse::<ForwardSpec>().is_err());
        assert!("1=clawdbot".parse::<ForwardSpec>().is_err());
    }
}
