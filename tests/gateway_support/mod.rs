//! Shared helpers of the gateway tests: run the gateway on ephemeral loopback ports,
//! as the real `clawdbot serve` binary ([`Server::start`]: flags, env, logs, signals)
//! or in this process ([`Server::in_process`]: method behaviour), and talk to it with
//! tokio-tungstenite and raw HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use clawdbot_testkit::child::{run_within, LoggedChild};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type RawWs = WebSocketStream<TcpStream>;

/// A token long enough to be accepted.
pub const TOKEN: &str = "test-token-0123456789abcdefghijklmnop";

mod in_process;

/// A running gateway: a `clawdbot serve` child (killed on drop), or
/// [`Server::in_process`] (stopped on drop).
pub struct Server {
    child: Option<LoggedChild>,
    in_process: Option<in_process::InProcess>,
    pub gateway: SocketAddr,
    pub health: SocketAddr,
}

/// Environment for the server: only what is listed (the rest is cleared).
pub fn base_env() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
        ("RUST_LOG".into(), "info".into()),
    ]
}

pub fn env_with_token() -> Vec<(String, String)> {
    let mut env = base_env();
    env.push(("CLAWDBOT_GATEWAY_TOKEN".into(), TOKEN.into()));
    env
}

fn command(args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawdbot"));
    cmd.arg("serve").args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `clawdbot serve ARGS` expecting it to refuse to start; returns (status, stderr).
pub fn run_expect_exit(args: &[&str], env: &[(String, String)]) -> (ExitStatus, String) {
    match run_within(&mut command(args, env), Duration::from_secs(10)).expect("spawn clawdbot") {
        Ok(out) => (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Err(_) => panic!("clawdbot serve {args:?} kept running; expected it to refuse to start"),
    }
}

impl Server {
    /// Starts the server on ephemeral loopback ports with a valid token.
    pub fn start(extra: &[&str]) -> Server {
        Self::start_with_env(extra, &env_with_token())
    }

    pub fn start_with_env(extra: &[&str], env: &[(String, String)]) -> Server {
        match Self::try_start_with_env(extra, env) {
            Ok(server) => server,
            Err((status, logs)) => panic!("server did not start ({status:?}); logs:\n{logs}"),
        }
    }

    /// Starts the server, or returns its exit status and stderr when it refuses to start.
    pub fn try_start_with_env(
        extra: &[&str],
        env: &[(String, String)],
    ) -> Result<Server, (Option<ExitStatus>, String)> {
        Self::try_start_limited(extra, env, None)
    }

    /// Starts the server with its open-files limit (soft and hard) set to `nofile`.
    pub fn start_with_nofile(extra: &[&str], nofile: u64) -> Server {
        match Self::try_start_limited(extra, &env_with_token(), Some(nofile)) {
            Ok(server) => server,
            Err((status, logs)) => panic!("server did not start ({status:?}); logs:\n{logs}"),
        }
    }

    fn try_start_limited(
        extra: &[&str],
        env: &[(String, String)],
        nofile: Option<u64>,
    ) -> Result<Server, (Option<ExitStatus>, String)> {
        let mut args = vec!["--bind", "127.0.0.1", "--port", "0", "--health-port", "0"];
        args.extend_from_slice(extra);
        let mut cmd = command(&args, env);
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe setrlimit between fork and exec.
            unsafe {
                cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, n, n));
            }
        }
        let mut child = LoggedChild::spawn(&mut cmd).expect("spawn clawdbot");
        let line = child
            .wait_for_line(Duration::from_secs(20), |l| {
                l.contains("clawdbot gateway listening")
            })
            .map_err(|ended| (ended.status, ended.logs))?;
        let (Some(gateway), Some(health)) =
            (addr_after(&line, "gateway"), addr_after(&line, "health"))
        else {
            panic!("no listening addresses in: {line}");
        };
        Ok(Server {
            child: Some(child),
            in_process: None,
            gateway,
            health,
        })
    }

    /// `clawdbot::gateway::serve` in this process with the test token, the demo
    /// provider and the `serve` flags `extra`: for tests where the binary adds nothing.
    /// It has no process: `logs`, `pid` and signals need [`Server::start`].
    pub fn in_process(extra: &[&str]) -> Server {
        Self::in_process_marked(extra, || {})
    }

    /// [`Server::in_process`], with `mark` run first on every thread of its runtime.
    pub fn in_process_marked(extra: &[&str], mark: fn()) -> Server {
        let (server, gateway, health) = in_process::InProcess::start_marked(extra, mark);
        Server {
            child: None,
            in_process: Some(server),
            gateway,
            health,
        }
    }

    fn child(&self) -> &LoggedChild {
        self.child
            .as_ref()
            .expect("an in-process server has no process: use Server::start")
    }

    pub fn url(&self) -> String {
        format!("ws://{}", self.gateway)
    }

    pub fn pid(&self) -> i32 {
        self.child().id() as i32
    }

    pub fn logs(&self) -> String {
        self.child().logs()
    }

    /// Waits (up to 10 s) until the logs contain `needle`; returns the logs.
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends a signal without waiting.
    pub fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Peak resident memory of the server in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.proc_status("VmHWM:")
    }

    /// Sends a signal and waits for the exit (panics after `within`).
    pub fn signal_and_wait(&mut self, sig: i32, within: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        // SAFETY: plain kill(2) on our own child.
        unsafe { libc::kill(self.pid(), sig) };
        let child = self.child.as_mut().expect("a server process");
        let Some(status) = child.wait_exit(within) else {
            panic!(
                "server did not exit within {within:?}; logs:\n{}",
                self.logs()
            )
        };
        (status, started.elapsed())
    }

    /// A numeric field of /proc/<pid>/status (first number after `name:`).
    fn proc_status(&self, name: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Resident memory of the server in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.proc_status("VmRSS:")
    }

    /// Threads of the server process.
    pub fn threads(&self) -> u64 {
        self.proc_status("Threads:")
    }
}

/// Raises this process's soft open-files limit to the hard limit (tests that hold many
/// sockets; a default soft limit may be 1024).
pub fn raise_own_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).expect("reading the open-files limit")
}

/// Parses `name=127.0.0.1:1234` (human) or `"name":"127.0.0.1:1234"` (JSON) out of a log line.
fn addr_after(line: &str, name: &str) -> Option<SocketAddr> {
    for key in [format!(" {name}="), format!("\"{name}\":\"")] {
        if let Some(i) = line.find(&key) {
            let rest = &line[i + key.len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            return rest[..end].parse().ok();
        }
    }
    None
}

/// Plain HTTP GET; returns (status code, response head, body).
pub async fn http_get_full(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .expect("http timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, head.to_string(), body.to_string())
}

/// Plain HTTP GET; returns (status code, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (code, _, body) = http_get_full(addr, path).await;
    (code, body)
}

/// The value of header `name` (any case) in a response head; empty when absent.
pub fn header_value(head: &str, name: &str) -> String {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
        .unwrap_or_default()
}

/// One sample of the server's `/metrics` (health port): `series` is the name with its
/// labels, e.g. `clawdbot_handshakes_total{result="ok"}`. Panics when it is missing.
pub async fn metric(server: &Server, series: &str) -> u64 {
    let (code, body) = http_get(server.health, "/metrics").await;
    assert_eq!(code, 200, "{body}");
    let prefix = format!("{series} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no sample {series} in:\n{body}"))
}

/// Waits (up to `within`) until `metric(series)` satisfies `pred`; returns the last value.
pub async fn wait_metric(
    server: &Server,
    series: &str,
    within: Duration,
    pred: impl Fn(u64) -> bool,
) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let v = metric(server, series).await;
        if pred(v) || Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `connect` request frame with a chosen client id.
pub fn connect_frame_as(client_id: &str, token: Option<&str>) -> Value {
    let mut frame = connect_frame(3, 4, token);
    frame["params"]["client"]["id"] = json!(client_id);
    frame
}

pub async fn open(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket upgrade");
    ws
}

/// Next JSON text frame (skips pings/pongs); panics on close or timeout.
pub async fn recv_json<S>(ws: &mut WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("timed out waiting for a frame")
            .expect("stream ended")
            .expect("read error");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Next response frame, skipping events (ticks).
pub async fn recv_res<S>(ws: &mut WebSocketStream<S>) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let v = recv_json(ws).await;
        if v["type"] == "res" {
            return v;
        }
    }
}

/// Reads until the close frame; returns (code, reason). Panics on timeout.
pub async fn expect_close<S>(ws: &mut WebSocketStream<S>, within: Duration) -> (u16, String)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("timed out waiting for the close frame");
        match msg {
            Some(Ok(Message::Close(Some(frame)))) => {
                return (u16::from(frame.code), frame.reason.to_string())
            }
            Some(Ok(Message::Close(None))) => return (u16::from(CloseCode::Status), String::new()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("read error before the close frame: {e}"),
            None => panic!("connection ended without a close frame"),
        }
    }
}

pub fn connect_frame(min: i64, max: i64, token: Option<&str>) -> Value {
    let mut params = json!({
        "minProtocol": min,
        "maxProtocol": max,
        "client": {"id": "test", "version": "1.0.0", "platform": "linux", "mode": "test"},
        "role": "operator",
        "scopes": ["operator.read"],
    });
    if let Some(t) = token {
        params["auth"] = json!({ "token": t });
    }
    json!({"type": "req", "id": "c1", "method": "connect", "params": params})
}

pub async fn send_json<S>(ws: &mut WebSocketStream<S>, v: &Value)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

/// Reads the challenge, sends `connect`, returns the response frame.
pub async fn handshake<S>(
    ws: &mut WebSocketStream<S>,
    min: i64,
    max: i64,
    token: Option<&str>,
) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let challenge = recv_json(ws).await;
    assert_eq!(challenge["type"], "event");
    assert_eq!(challenge["event"], "connect.challenge");
    send_json(ws, &connect_frame(min, max, token)).await;
    recv_json(ws).await
}

/// Opens a connection and completes a v3..v4 handshake with the test token.
pub async fn connected(url: &str) -> Ws {
    let mut ws = open(url).await;
    let res = handshake(&mut ws, 3, 4, Some(TOKEN)).await;
    assert_eq!(res["ok"], true, "handshake failed: {res}");
    ws
}

/// A connection (v3..v4 handshake done) from a socket with a tiny receive buffer: what
/// the gateway sends it backs up almost at once once the test stops reading.
pub async fn connected_slow_reader(server: &Server) -> RawWs {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.gateway).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(server.url(), stream)
        .await
        .unwrap();
    let res = handshake(&mut ws, 3, 4, Some(TOKEN)).await;
    assert_eq!(res["ok"], true, "handshake failed: {res}");
    ws
}

/// Sends a `chat` request of 70 000 characters (above a 64 KiB maxPayload) and returns
/// the code of the close frame that answers it.
pub async fn close_code_of_oversized_chat(ws: &mut Ws) -> u16 {
    let big = json!({"type": "req", "id": "b", "method": "chat", "params": {"message": "x".repeat(70_000)}});
    ws.send(Message::Text(big.to_string().into()))
        .await
        .unwrap();
    expect_close(ws, Duration::from_secs(5)).await.0
}

/// Sends a request and returns its response.
pub async fn call<S>(
    ws: &mut WebSocketStream<S>,
    id: &str,
    method: &str,
    params: Option<Value>,
) -> Value
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut req = json!({"type": "req", "id": id, "method": method});
    if let Some(p) = params {
        req["params"] = p;
    }
    send_json(ws, &req).await;
    let res = recv_res(ws).await;
    assert_eq!(res["id"], id);
    res
}

/// Sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

/// Opens a connection and completes a handshake declaring `scopes`.
pub async fn connected_with_scopes(url: &str, scopes: &[&str]) -> Ws {
    let mut ws = open(url).await;
    let challenge = recv_json(&mut ws).await;
    assert_eq!(challenge["event"], "connect.challenge");
    let mut connect = connect_frame(3, 4, Some(TOKEN));
    connect["params"]["scopes"] = json!(scopes);
    send_json(&mut ws, &connect).await;
    let res = recv_res(&mut ws).await;
    assert_eq!(res["ok"], true, "handshake failed: {res}");
    ws
}

/// A connection that may chat (`operator.read` + `operator.write`).
pub async fn connected_writer(url: &str) -> Ws {
    connected_with_scopes(url, &["operator.read", "operator.write"]).await
}

/// Sends `chat.send` and collects this run's `chat` events until the terminal one
/// (`final`, `error` or `aborted`). Returns (response, deltas, terminal event payload).
pub async fn chat_send<S>(
    ws: &mut WebSocketStream<S>,
    id: &str,
    session_key: &str,
    message: &str,
) -> (Value, Vec<Value>, Value)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let req = json!({"type": "req", "id": id, "method": "chat.send", "params": {
        "sessionKey": session_key, "message": message, "idempotencyKey": format!("run-{id}")}});
    send_json(ws, &req).await;
    let mut res = Value::Null;
    let mut deltas = Vec::new();
    loop {
        let f = recv_json(ws).await;
        if f["type"] == "res" && f["id"] == id {
            if f["ok"] == false {
                return (f, deltas, Value::Null);
            }
            res = f;
            continue;
        }
        if f["type"] == "event"
            && f["event"] == "chat"
            && f["payload"]["runId"] == format!("run-{id}")
        {
            match f["payload"]["state"].as_str() {
                Some("delta") => deltas.push(f["payload"].clone()),
                Some(_) if res != Value::Null => return (res, deltas, f["payload"].clone()),
                Some(_) => {
                    // The terminal event may precede the response frame only if the
                    // response was lost: wait for the response anyway.
                    let payload = f["payload"].clone();
                    let r = recv_res(ws).await;
                    return (r, deltas, payload);
                }
                None => {}
            }
        }
    }
}
