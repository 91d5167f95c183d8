//! Port forwards (`--forward LISTEN_PORT=HOST:PORT`): the egress service publishes the
//! loopback ports on the host and relays them to the gateway on the internal network,
//! because Docker drops the published ports of a container that is only on internal
//! networks.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::allow::Destination;
use super::pipe::relay;

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
}

/// Accepts on `listener` forever, relaying each connection to `target`.
pub async fn run(listener: TcpListener, target: Destination, limits: ForwardLimits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "forward: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            warn!(target = %target, max = limits.max_connections, "forward refused: connection limit reached");
            continue;
        };
        let target = target.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let dial = TcpStream::connect((target.resolver_host(), target.port));
            let upstream = match tokio::time::timeout(limits.connect_timeout, dial).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    warn!(target = %target, error = %e, "forward: target unreachable");
                    return;
                }
                Err(_) => {
                    warn!(target = %target, "forward: connect to target timed out");
                    return;
                }
            };
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            let r = relay(client, upstream, limits.idle_timeout).await;
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
