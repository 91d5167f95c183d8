//! Time to the first streamed text of one `POST /v1/chat/completions` with `stream: true`:
//! a small blocking HTTP/1.0 client (no chunked framing, the server closes the stream),
//! straight or through a CONNECT proxy, and the SSE scan that finds the first chunk whose
//! `choices[0].delta.content` is not empty (a role chunk before it does not count).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Bounds of one request: connect, and the whole stream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const STREAM_DEADLINE: Duration = Duration::from_secs(60);
/// Most bytes read from one response.
const MAX_RESPONSE: usize = 1 << 20;

/// Where a request goes: `addr` itself, or `target` through the CONNECT proxy at `addr`.
pub struct Endpoint {
    pub addr: SocketAddr,
    pub via_proxy_to: Option<String>,
    pub token: String,
    pub model: String,
}

/// What one SSE line says.
#[derive(Debug, PartialEq)]
pub enum Event {
    /// A chunk with text (the first of these stops the clock).
    Text(String),
    /// A chunk without text (the role chunk, a finish reason, usage), a comment, a blank.
    Other,
    /// `data: [DONE]`.
    Done,
    /// An `error` object in the stream, or a line that is not JSON.
    Error(String),
}

/// Classifies one line of an SSE body.
pub fn event(line: &str) -> Event {
    let line = line.trim_end_matches('\r');
    let Some(data) = line.strip_prefix("data:") else {
        return Event::Other;
    };
    let data = data.trim();
    if data == "[DONE]" {
        return Event::Done;
    }
    let v: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => return Event::Error(format!("not JSON ({e}): {data:.120}")),
    };
    if let Some(err) = v.get("error") {
        return Event::Error(err.to_string());
    }
    match v["choices"][0]["delta"]["content"].as_str() {
        Some(t) if !t.is_empty() => Event::Text(t.to_owned()),
        _ => Event::Other,
    }
}

/// The status code of a response head's first line.
pub fn status(head: &str) -> Option<u16> {
    head.split_whitespace().nth(1)?.parse().ok()
}

fn connect(e: &Endpoint) -> Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&e.addr, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {}", e.addr))?;
    s.set_read_timeout(Some(STREAM_DEADLINE))?;
    s.set_nodelay(true)?;
    if let Some(target) = &e.via_proxy_to {
        write!(s, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n")?;
        let head = read_head(&mut s, &mut Vec::new())?;
        if status(&head) != Some(200) {
            bail!(
                "CONNECT {target} via {}: {}",
                e.addr,
                head.lines().next().unwrap_or("")
            );
        }
    }
    Ok(s)
}

/// Reads up to the end of a response head; bytes after it stay in `rest`.
fn read_head(s: &mut TcpStream, rest: &mut Vec<u8>) -> Result<String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&rest[..end]).into_owned();
            rest.drain(..end + 4);
            return Ok(head);
        }
        if rest.len() > 16 * 1024 {
            bail!("response head over 16 KiB");
        }
        let n = s.read(&mut buf).context("reading a response head")?;
        if n == 0 {
            bail!("connection closed before a response head");
        }
        rest.extend_from_slice(&buf[..n]);
    }
}

/// The first text chunk of a stream and when it came.
pub struct FirstText {
    pub after: Duration,
    pub text: String,
}

/// One streamed completion: the time from writing the request (after connecting) to the
/// first text chunk. The stream is then read to its end, so the next request finds the
/// server idle.
pub fn first_token(e: &Endpoint, message: &str) -> Result<FirstText> {
    let mut s = connect(e)?;
    let body = serde_json::json!({
        "model": e.model, "stream": true,
        "messages": [{"role": "user", "content": message}],
    })
    .to_string();
    let host = e.via_proxy_to.clone().unwrap_or_else(|| e.addr.to_string());
    let req = format!(
        "POST /v1/chat/completions HTTP/1.0\r\nHost: {host}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        e.token,
        body.len()
    );
    let started = Instant::now();
    s.write_all(req.as_bytes())?;
    let mut rest = Vec::new();
    let head = read_head(&mut s, &mut rest)?;
    if status(&head) != Some(200) {
        let mut tail = rest;
        let _ = (&mut s).take(4096).read_to_end(&mut tail);
        bail!(
            "{}: {} {}",
            e.addr,
            head.lines().next().unwrap_or(""),
            String::from_utf8_lossy(&tail)
                .chars()
                .take(200)
                .collect::<String>()
        );
    }
    let mut first = None;
    let mut buf = [0u8; 8192];
    let mut total = rest.len();
    loop {
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = rest.drain(..=nl).collect();
            match event(&String::from_utf8_lossy(&line)) {
                Event::Text(text) if first.is_none() => {
                    first = Some(FirstText {
                        after: started.elapsed(),
                        text,
                    })
                }
                Event::Done => return first.context("the stream ended without text"),
                Event::Error(m) => bail!("{}: error in the stream: {m}", e.addr),
                _ => {}
            }
        }
        if started.elapsed() > STREAM_DEADLINE || total > MAX_RESPONSE {
            bail!("{}: the stream ran past its bounds", e.addr);
        }
        let n = s.read(&mut buf).context("reading the stream")?;
        if n == 0 {
            return first.context("the stream closed without text");
        }
        total += n;
        rest.extend_from_slice(&buf[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_chunk_is_not_text_and_the_first_content_is() {
        let role = r#"data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        assert_eq!(event(role), Event::Other);
        let empty = r#"data: {"choices":[{"index":0,"delta":{"content":"","role":"assistant"}}]}"#;
        assert_eq!(event(empty), Event::Other);
        let text = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"[demo] hi\"}}]}\r";
        assert_eq!(event(text), Event::Text("[demo] hi".into()));
        assert_eq!(event("data:[DONE]"), Event::Done);
        assert_eq!(event(""), Event::Other);
        assert_eq!(event(": keep-alive"), Event::Other);
    }

    #[test]
    fn errors_in_the_stream_are_reported() {
        let e = event(r#"data: {"error":{"message":"internal error","type":"api_error"}}"#);
        assert!(matches!(e, Event::Error(m) if m.contains("internal error")));
        assert!(matches!(event("data: {oops"), Event::Error(_)));
    }

    #[test]
    fn status_reads_the_first_line() {
        assert_eq!(status("HTTP/1.1 200 OK\r\ncontent-type: x"), Some(200));
        assert_eq!(status("HTTP/1.0 401 Unauthorized"), Some(401));
        assert_eq!(status("garbage"), None);
    }
}
