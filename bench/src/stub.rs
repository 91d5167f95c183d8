//! `upstream-stub`: a loopback Anthropic Messages API that streams a fixed answer as
//! server-sent events, for the chat benchmark (the gateway's provider points at it).
//!
//! HTTP/1.1 with keep-alive; every `POST` gets `200 text/event-stream` in chunked
//! encoding: `message_start`, `content_block_start` and the first `text_delta` at once,
//! then (when the request body contains [`HOLD_MARKER`]) a pause, then the rest of the
//! answer and `message_stop`. A request whose body holds a [`big_marker`] gets a long
//! answer instead: that many bytes of text in deltas of that size (the hostile
//! streaming figures). Requests are bounded in size and the stub in time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request whose body contains this is held after its first delta.
pub const HOLD_MARKER: &str = "[hold]";
/// Largest request accepted (head and body).
const MAX_REQUEST: usize = 4 * 1024 * 1024;
/// The first text delta (what "time to first chunk" waits for).
pub const FIRST_DELTA: &str = "Hello";
/// Largest long answer the stub streams, and its smallest delta.
const MAX_BIG_BYTES: usize = 64 * 1024 * 1024;
const MIN_BIG_DELTA: usize = 1;
/// Bytes of events written at once while streaming a long answer.
const BIG_WRITE: usize = 64 * 1024;

/// The marker asking the stub for `bytes` bytes of text in deltas of `delta` bytes.
pub fn big_marker(bytes: usize, delta: usize) -> String {
    format!("[big:{bytes}:{delta}]")
}

/// The long answer asked for in `body`, if any: (bytes, delta).
fn parse_big(body: &[u8]) -> Option<(usize, usize)> {
    let at = find(body, b"[big:")?;
    let rest = &body[at + 5..];
    let end = rest.iter().position(|&b| b == b']')?;
    let spec = std::str::from_utf8(&rest[..end]).ok()?;
    let (bytes, delta) = spec.split_once(':')?;
    let bytes: usize = bytes.parse().ok()?;
    let delta: usize = delta.parse().ok()?;
    Some((bytes.min(MAX_BIG_BYTES), delta.max(MIN_BIG_DELTA)))
}

/// Streams `bytes` bytes of text in deltas of `delta` bytes (after the first delta).
async fn write_big(socket: &mut TcpStream, bytes: usize, delta: usize) -> Result<()> {
    // Letters only: nothing to escape in JSON.
    let text: String = "abcdefghijklmnopqrstuvwxyz"
        .chars()
        .cycle()
        .take(delta)
        .collect();
    let mut out = Vec::with_capacity(BIG_WRITE + 512);
    let mut sent = 0;
    while sent < bytes {
        let n = delta.min(bytes - sent);
        text_delta(&mut out, &text[..n]);
        sent += n;
        if out.len() >= BIG_WRITE {
            socket.write_all(&out).await?;
            out.clear();
        }
    }
    socket.write_all(&out).await?;
    Ok(())
}

fn chunk(out: &mut Vec<u8>, data: &str) {
    out.extend_from_slice(format!("{:x}\r\n{data}\r\n", data.len()).as_bytes());
}

fn event(out: &mut Vec<u8>, name: &str, data: &str) {
    chunk(out, &format!("event: {name}\ndata: {data}\n\n"));
}

fn text_delta(out: &mut Vec<u8>, text: &str) {
    event(
        out,
        "content_block_delta",
        &format!(
            r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{text}"}}}}"#
        ),
    );
}

/// The response head and the events up to the first delta.
pub fn response_start() -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\ncache-control: no-cache\r\n\r\n".to_vec();
    event(
        &mut out,
        "message_start",
        r#"{"type":"message_start","message":{"id":"msg_bench","type":"message","role":"assistant","model":"claude-bench","content":[],"usage":{"input_tokens":8,"output_tokens":1}}}"#,
    );
    event(
        &mut out,
        "content_block_start",
        r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
    );
    text_delta(&mut out, FIRST_DELTA);
    out
}

/// The rest of the answer and the end of the body.
pub fn response_end() -> Vec<u8> {
    let mut out = Vec::new();
    text_delta(&mut out, " from the");
    text_delta(&mut out, " bench stub.");
    event(
        &mut out,
        "content_block_stop",
        r#"{"type":"content_block_stop","index":0}"#,
    );
    event(
        &mut out,
        "message_delta",
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}"#,
    );
    event(&mut out, "message_stop", r#"{"type":"message_stop"}"#);
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Serves until `deadline` passes; prints `{"addr": "…"}` on stdout once listening.
pub async fn run(listen: SocketAddr, hold: Duration, deadline: Duration) -> Result<()> {
    if !listen.ip().is_loopback() {
        bail!("{listen}: the stub listens on loopback only");
    }
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!(
        "{}",
        serde_json::json!({ "addr": listener.local_addr()?.to_string() })
    );
    let end = Instant::now() + deadline;
    let serve = async {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let _ = connection(socket, hold).await;
            });
        }
    };
    let _ = tokio::time::timeout_at(end.into(), serve).await;
    Ok(())
}

/// Answers requests on one keep-alive connection until the client closes it.
async fn connection(mut socket: TcpStream, hold: Duration) -> Result<()> {
    socket.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        let Some(req) = read_request(&mut socket, &mut buf).await? else {
            return Ok(());
        };
        socket.write_all(&response_start()).await?;
        if req.hold && !hold.is_zero() {
            tokio::time::sleep(hold).await;
        }
        if let Some((bytes, delta)) = req.big {
            write_big(&mut socket, bytes, delta).await?;
        }
        socket.write_all(&response_end()).await?;
    }
}

/// What a request's body asks of the stub.
struct Request {
    /// It holds [`HOLD_MARKER`].
    hold: bool,
    /// It holds a [`big_marker`]: (bytes, delta).
    big: Option<(usize, usize)>,
}

/// Reads one request (head and `content-length` body) from `buf` + the socket; returns
/// what its body asks for, or `None` at a clean end of the connection.
async fn read_request(socket: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Option<Request>> {
    let mut tmp = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_REQUEST {
            bail!("request head too large");
        }
        let n = socket.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if len > MAX_REQUEST {
        bail!("request body too large");
    }
    while buf.len() < head_end + len {
        let n = socket.read(&mut tmp).await?;
        if n == 0 {
            bail!("connection closed inside a request");
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = &buf[head_end..head_end + len];
    let req = Request {
        hold: find(body, HOLD_MARKER.as_bytes()).is_some(),
        big: parse_big(body),
    };
    buf.drain(..head_end + len);
    Ok(Some(req))
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_a_complete_chunked_event_stream() {
        let mut all = response_start();
        all.extend(response_end());
        let text = String::from_utf8(all).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.ends_with("\r\n0\r\n\r\n"));
        let first = text.find(FIRST_DELTA).unwrap();
        assert!(first < response_start().len());
        assert!(text.find("message_stop").unwrap() > first);
        // Every chunk's size line matches its data.
        let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
        let mut rest = body;
        loop {
            let (size, after) = rest.split_once("\r\n").unwrap();
            let size = usize::from_str_radix(size, 16).unwrap();
            if size == 0 {
                break;
            }
            assert_eq!(&after[size..size + 2], "\r\n");
            rest = &after[size + 2..];
        }
    }

    /// Reads one whole chunked answer.
    async fn read_answer(c: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let mut tmp = [0u8; 4096];
        while find(&got, b"\r\n0\r\n\r\n").is_none() {
            let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut tmp))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0);
            got.extend_from_slice(&tmp[..n]);
        }
        got
    }

    #[test]
    fn the_big_marker_round_trips_and_is_bounded() {
        let body = format!("{{\"m\":\"{} go\"}}", big_marker(1000, 13));
        assert_eq!(parse_big(body.as_bytes()), Some((1000, 13)));
        assert_eq!(parse_big(b"[big:99999999999:0]"), Some((MAX_BIG_BYTES, 1)));
        assert_eq!(parse_big(b"[big:x:1]"), None);
        assert_eq!(parse_big(b"no marker"), None);
    }

    #[tokio::test]
    async fn a_big_answer_has_the_asked_size_in_deltas() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let _ = connection(s, Duration::ZERO).await;
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        let body = big_marker(1000, 13);
        let req = format!(
            "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).await.unwrap();
        let got = read_answer(&mut c).await;
        let text = String::from_utf8(got).unwrap();
        let deltas: Vec<&str> = text
            .split("\"text_delta\",\"text\":\"")
            .skip(1)
            .map(|d| &d[..d.find('"').unwrap()])
            .collect();
        // The first delta, 1000 bytes in deltas of 13 (the last one shorter), the end.
        let big: usize = deltas[1..deltas.len() - 2].iter().map(|d| d.len()).sum();
        assert_eq!(big, 1000);
        assert_eq!(deltas.len(), 1 + 1000usize.div_ceil(13) + 2);
        assert!(deltas[1..deltas.len() - 3].iter().all(|d| d.len() == 13));
    }

    #[tokio::test]
    async fn serves_keep_alive_requests_and_holds_marked_ones() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let _ = connection(s, Duration::from_millis(50)).await;
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        for body in ["{}", "{\"m\":\"[hold]\"}"] {
            let req = format!(
                "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            c.write_all(req.as_bytes()).await.unwrap();
            let got = read_answer(&mut c).await;
            assert!(find(&got, b"message_stop").is_some());
        }
    }
}
