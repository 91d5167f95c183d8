//! One authenticated gateway connection: TCP connect from a chosen loopback source,
//! WebSocket upgrade, then the OpenClaw handshake.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// Time allowed for one connection's TCP connect + upgrade + handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub url: String,
    pub token: String,
    /// Source addresses to bind, round robin (empty: let the kernel choose).
    pub sources: Vec<IpAddr>,
    /// `client.id` and `client.mode` sent in `connect`.
    pub client_id: String,
    pub client_mode: String,
    /// Operator scopes asked for in `connect`.
    pub scopes: Vec<String>,
}

static NEXT_SOURCE: AtomicUsize = AtomicUsize::new(0);

/// The `connect` request this load generator sends (protocol v3..v4, operator role).
pub fn connect_frame(target: &Target) -> Value {
    json!({
        "type": "req", "id": "1", "method": "connect",
        "params": {
            "minProtocol": 3, "maxProtocol": 4,
            "client": {"id": target.client_id, "version": env!("CARGO_PKG_VERSION"), "platform": "linux", "mode": target.client_mode},
            "auth": {"token": target.token},
            "role": "operator", "scopes": target.scopes
        }
    })
}

/// At most 300 characters of `s`, for error messages.
pub fn short(s: &str) -> String {
    s.chars().take(300).collect()
}

pub fn request_frame(id: u64, method: &str) -> String {
    json!({"type": "req", "id": id.to_string(), "method": method, "params": {}}).to_string()
}

async fn tcp(target: &Target) -> Result<TcpStream> {
    let socket = match target.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if !target.sources.is_empty() {
        let i = NEXT_SOURCE.fetch_add(1, Ordering::Relaxed) % target.sources.len();
        socket.bind(SocketAddr::new(target.sources[i], 0))?;
    }
    let stream = socket.connect(target.addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Small buffers: thousands of these are held at once.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Reads text frames until one parses as JSON (pings are answered by the library).
pub async fn next_json(ws: &mut Ws) -> Result<Value> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(&t).context("frame is not JSON")
            }
            Some(Ok(Message::Close(c))) => bail!("server closed: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection closed"),
        }
    }
}

/// Connects and completes the handshake; returns the socket and the handshake time.
pub async fn connect(target: &Target) -> Result<(Ws, Duration)> {
    let started = Instant::now();
    let fut = async {
        let stream = tcp(target).await.context("tcp connect")?;
        let (mut ws, _resp) = tokio_tungstenite::client_async_with_config(
            target.url.as_str(),
            stream,
            Some(config()),
        )
        .await
        .context("websocket upgrade")?;
        let challenge = next_json(&mut ws)
            .await
            .context("waiting for connect.challenge")?;
        if challenge["type"] != "event" || challenge["event"] != "connect.challenge" {
            bail!("expected the connect.challenge event, got {challenge}");
        }
        ws.send(Message::text(connect_frame(target).to_string()))
            .await
            .context("sending connect")?;
        loop {
            let frame = next_json(&mut ws)
                .await
                .context("waiting for the connect response")?;
            if frame["type"] == "res" && frame["id"] == "1" {
                if frame["ok"] != true {
                    bail!("connect refused: {}", frame["error"]);
                }
                return Ok(ws);
            }
        }
    };
    let ws = tokio::time::timeout(HANDSHAKE_TIMEOUT, fut)
        .await
        .context("handshake timed out")??;
    Ok((ws, started.elapsed()))
}

/// Sends one request and waits for its response, skipping events. Returns whether `ok`.
pub async fn request(ws: &mut Ws, id: u64, method: &str) -> Result<bool> {
    ws.send(Message::text(request_frame(id, method))).await?;
    let want = id.to_string();
    loop {
        let frame = next_json(ws).await?;
        if frame["type"] == "res" && frame["id"] == want.as_str() {
            return Ok(frame["ok"] == true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_frame_has_the_protocol_keys() {
        let target = Target {
            addr: "127.0.0.1:1".parse().unwrap(),
            url: "ws://127.0.0.1:1/".into(),
            token: "t".into(),
            sources: Vec::new(),
            client_id: "bench".into(),
            client_mode: "probe".into(),
            scopes: vec!["operator.read".into()],
        };
        let f = connect_frame(&target);
        assert_eq!(f["method"], "connect");
        assert_eq!(f["params"]["minProtocol"], 3);
        assert_eq!(f["params"]["maxProtocol"], 4);
        assert_eq!(f["params"]["auth"]["token"], "t");
        assert_eq!(f["params"]["client"]["mode"], "probe");
        assert_eq!(f["params"]["scopes"][0], "operator.read");
    }

    #[test]
    fn request_ids_are_strings() {
        let v: Value = serde_json::from_str(&request_frame(7, "health")).unwrap();
        assert_eq!(v["id"], "7");
        assert_eq!(v["type"], "req");
    }
}
