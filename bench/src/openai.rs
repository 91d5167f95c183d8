//! OpenAI mode (`clawdbot serve --openai-api`): time to the first streamed chunk
//! straight from the loopback upstream stub, through the WebSocket (`chat.send`) and
//! through `POST /v1/chat/completions` with `stream: true` (the first SSE content
//! delta), in triples (one of each, in turn, so all see the same moment of a shared
//! machine; added = each triple's difference), and the server's memory per open SSE
//! stream (each on its own connection, held by the stub after its first delta).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chat::{
    sample_active, signed_percentile, through_gateway, ActiveSample, Direct, SAMPLE_TIMEOUT, WARMUP,
};
use crate::client::{self, Target};
use crate::rss::vm_rss;
use crate::stats;
use crate::stub::{find, FIRST_DELTA, HOLD_MARKER};

pub struct Options {
    pub upstream: SocketAddr,
    pub samples: usize,
    /// Concurrent SSE stream counts to measure memory at.
    pub streams: Vec<usize>,
    pub deadline: Duration,
    pub pid: Option<u32>,
}

/// The first content delta of a stream as the gateway sends it (the role chunk before
/// it has an empty `content`).
fn first_content() -> String {
    format!("\"delta\":{{\"content\":\"{FIRST_DELTA}")
}
const DONE: &[u8] = b"data: [DONE]";

fn request(target: &Target, message: &str) -> String {
    let body = json!({"model": "anthropic/claude-bench", "stream": true, "max_tokens": 1024,
        "messages": [{"role": "user", "content": message}]})
    .to_string();
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        target.addr,
        target.token,
        body.len()
    )
}

/// One keep-alive HTTP connection to the gateway's API.
struct Http {
    socket: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    async fn connect(target: &Target) -> Result<Http> {
        let socket = TcpStream::connect(target.addr)
            .await
            .context("connecting to the gateway")?;
        socket.set_nodelay(true)?;
        Ok(Http {
            socket,
            buf: Vec::with_capacity(8192),
        })
    }

    /// Sends one streamed completion; returns the time to its first content delta, and
    /// reads the stream on to `[DONE]` when `to_end`.
    async fn stream(&mut self, req: &str, to_end: bool) -> Result<u64> {
        let (s, buf) = (&mut self.socket, &mut self.buf);
        buf.clear();
        let mut tmp = [0u8; 8192];
        let started = Instant::now();
        s.write_all(req.as_bytes()).await?;
        let mut first = None;
        let wanted = first_content();
        loop {
            if first.is_none() && find(buf, wanted.as_bytes()).is_some() {
                first = Some(started.elapsed());
                if !to_end {
                    break;
                }
            }
            if find(buf, DONE).is_some() {
                break;
            }
            if find(buf, b"\"error\"").is_some() {
                bail!("error event: {}", String::from_utf8_lossy(buf));
            }
            let n = s.read(&mut tmp).await?;
            if n == 0 {
                bail!(
                    "the gateway closed the connection: {}",
                    String::from_utf8_lossy(buf)
                );
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        Ok(first.context("no content delta")?.as_micros() as u64)
    }
}

/// Triples: straight to the stub, through the WebSocket, through HTTP SSE.
async fn triples(target: &Target, o: &Options) -> Result<Value> {
    let mut direct = Direct::connect(o.upstream).await?;
    let (mut ws, _) = client::connect(target).await?;
    let mut http = Http::connect(target).await?;
    let (mut d, mut w, mut h) = (Vec::new(), Vec::new(), Vec::new());
    let (mut added_ws, mut added_http, mut http_vs_ws) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..o.samples + WARMUP {
        let a = direct.sample(i).await.context("direct to the stub")?;
        let b = through_gateway(&mut ws, i)
            .await
            .context("through the WebSocket")?;
        let c = tokio::time::timeout(
            SAMPLE_TIMEOUT,
            http.stream(&request(target, &format!("ping {i}")), true),
        )
        .await
        .context("HTTP SSE sample timed out")?
        .context("through HTTP SSE")?;
        if i >= WARMUP {
            d.push(a);
            w.push(b);
            h.push(c);
            added_ws.push(b as i64 - a as i64);
            added_http.push(c as i64 - a as i64);
            http_vs_ws.push(c as i64 - b as i64);
        }
    }
    let pct = |v: &[i64]| json!({"p50_us": signed_percentile(v, 0.5), "p99_us": signed_percentile(v, 0.99)});
    Ok(json!({
        "direct_first_chunk": stats::summarize(d),
        "ws_first_chunk": stats::summarize(w),
        "http_first_chunk": stats::summarize(h),
        "added_ws": pct(&added_ws),
        "added_http": pct(&added_http),
        "http_minus_ws": pct(&http_vs_ws),
    }))
}

/// `n` SSE streams, each on its own connection: server RSS before any is opened, then
/// with every stream active (its first delta received, the stub holding the rest).
async fn concurrent(target: &Target, n: usize, o: &Options) -> Result<Value> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = o.pid.and_then(vm_rss);
    let first = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let end = Instant::now() + o.deadline;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for s in 0..n {
        let (first, done, errors, target) =
            (first.clone(), done.clone(), errors.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let run = async {
                let mut http = Http::connect(&target).await?;
                let req = request(&target, &format!("{HOLD_MARKER} sse stream {s}"));
                http.stream(&req, false).await?;
                first.fetch_add(1, Ordering::Relaxed);
                let mut tmp = [0u8; 4096];
                while find(&http.buf, DONE).is_none() {
                    let got = http.socket.read(&mut tmp).await?;
                    if got == 0 {
                        bail!("closed before [DONE]");
                    }
                    http.buf.extend_from_slice(&tmp[..got]);
                }
                done.fetch_add(1, Ordering::Relaxed);
                Ok::<_, anyhow::Error>(())
            };
            if let Ok(Err(e)) = tokio::time::timeout_at(end.into(), run).await {
                errors.lock().unwrap().push(format!("{e:#}"));
            }
        }));
    }
    let ActiveSample {
        active,
        ramp,
        rss_active,
        per_stream,
    } = sample_active(started, &first, n, end, &errors, o.pid, rss_idle, tasks).await;
    let errors = errors.lock().unwrap().clone();
    Ok(json!({
        "streams": n,
        "active_at_sample": active,
        "done": done.load(Ordering::Relaxed),
        "ramp_ms": ramp.as_millis() as u64,
        "server_rss_idle_bytes": rss_idle,
        "server_rss_active_bytes": rss_active,
        "server_rss_per_stream_bytes": per_stream,
        "errors": errors.len(),
        "first_error": errors.first(),
    }))
}

pub async fn run(target: &Target, o: Options) -> Result<Value> {
    let latency = triples(target, &o).await?;
    let mut runs = Vec::new();
    for &n in &o.streams {
        runs.push(
            concurrent(target, n, &o)
                .await
                .with_context(|| format!("{n} concurrent SSE streams"))?,
        );
    }
    Ok(json!({ "mode": "openai", "samples": o.samples, "latency": latency, "concurrent": runs }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_chunk_is_not_a_content_delta() {
        let wanted = first_content();
        let role = br#"data: {"choices":[{"index":0,"delta":{"content":"","role":"assistant"}}]}"#;
        assert!(find(role, wanted.as_bytes()).is_none());
        let content =
            format!(r#"data: {{"choices":[{{"index":0,"delta":{{"content":"{FIRST_DELTA}"}}}}]}}"#);
        assert!(find(content.as_bytes(), wanted.as_bytes()).is_some());
    }
}
