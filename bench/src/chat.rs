//! Chat mode: time to the first streamed chunk straight from the loopback upstream stub
//! and through the gateway (`chat.send`, then the run's first `chat` delta event), in
//! pairs (one of each, alternating, so both see the same moment of a shared machine; the
//! added time is each pair's difference), and the server's memory while many streams
//! are active (held open by the stub).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target, Ws};
use crate::rss::vm_rss;
use crate::stats;
use crate::stub::{find, FIRST_DELTA, HOLD_MARKER};

/// Samples not counted (connection pools and caches warm up).
pub(crate) const WARMUP: usize = 5;
/// Bound on one sample.
pub(crate) const SAMPLE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Options {
    pub upstream: SocketAddr,
    pub samples: usize,
    /// Concurrent stream counts to measure memory at.
    pub streams: Vec<usize>,
    /// Connections the concurrent streams are spread over.
    pub stream_conns: usize,
    pub deadline: Duration,
    pub pid: Option<u32>,
}

/// The request body sent straight to the stub: the shape the gateway sends.
fn direct_body(i: usize) -> String {
    json!({"model": "claude-bench", "max_tokens": 1024, "stream": true,
        "messages": [{"role": "user", "content": format!("ping {i}")}]})
    .to_string()
}

/// One keep-alive connection straight to the stub.
pub(crate) struct Direct {
    upstream: SocketAddr,
    socket: TcpStream,
    buf: Vec<u8>,
}

impl Direct {
    pub(crate) async fn connect(upstream: SocketAddr) -> Result<Direct> {
        let socket = TcpStream::connect(upstream)
            .await
            .context("connecting to the stub")?;
        socket.set_nodelay(true)?;
        Ok(Direct {
            upstream,
            socket,
            buf: Vec::with_capacity(8192),
        })
    }

    /// Time to the first text delta of request `i` (the whole answer is read).
    pub(crate) async fn sample(&mut self, i: usize) -> Result<u64> {
        let body = direct_body(i);
        let req = format!(
            "POST /v1/messages HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\nx-api-key: bench\r\nanthropic-version: 2023-06-01\r\ncontent-length: {}\r\n\r\n{body}",
            self.upstream,
            body.len()
        );
        let (s, buf) = (&mut self.socket, &mut self.buf);
        buf.clear();
        let mut tmp = [0u8; 8192];
        let started = Instant::now();
        s.write_all(req.as_bytes()).await?;
        let mut first = None;
        tokio::time::timeout(SAMPLE_TIMEOUT, async {
            loop {
                if first.is_none() && find(buf, FIRST_DELTA.as_bytes()).is_some() {
                    first = Some(started.elapsed());
                }
                if find(buf, b"\r\n0\r\n\r\n").is_some() {
                    return Ok::<_, anyhow::Error>(());
                }
                let n = s.read(&mut tmp).await?;
                if n == 0 {
                    bail!("the stub closed the connection");
                }
                buf.extend_from_slice(&tmp[..n]);
            }
        })
        .await
        .context("direct request timed out")??;
        Ok(first.context("no first delta")?.as_micros() as u64)
    }
}

fn chat_send(id: &str, session: &str, message: &str) -> String {
    json!({"type": "req", "id": id, "method": "chat.send", "params": {
        "sessionKey": session, "message": message, "idempotencyKey": id}})
    .to_string()
}

/// What a frame says about the run in `session` (matched on the payload's
/// `sessionKey`, which the gateway reports canonical: `agent:main:<key>`).
enum Seen {
    Delta,
    End(String),
    Refused(String),
    Other,
}

fn classify(text: &str, id: &str, session: &str) -> Seen {
    // Most frames are other runs' events: skip them without parsing.
    if !text.contains(session) && !text.contains(id) {
        return Seen::Other;
    }
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Seen::Other;
    };
    if v["type"] == "res" && v["id"] == id {
        if v["ok"] != true {
            return Seen::Refused(v["error"].to_string());
        }
        return Seen::Other;
    }
    if v["type"] != "event" || v["event"] != "chat" {
        return Seen::Other;
    }
    let p = &v["payload"];
    let key = p["sessionKey"].as_str().unwrap_or("");
    if key != session && !key.ends_with(&format!(":{session}")) {
        return Seen::Other;
    }
    match p["state"].as_str().unwrap_or("") {
        "delta" => Seen::Delta,
        "final" => Seen::End("final".into()),
        other => Seen::End(format!("{other}: {}", p["errorMessage"])),
    }
}

async fn next_text(ws: &mut Ws) -> Result<String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(t.to_string()),
            Some(Ok(Message::Close(c))) => bail!("server closed: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection closed"),
        }
    }
}

/// Time to the first `chat` delta of `chat.send` number `i` on `ws` (a fresh session
/// each time; the run is read to its end).
pub(crate) async fn through_gateway(ws: &mut Ws, i: usize) -> Result<u64> {
    let id = format!("ttfc-{}-{i}", std::process::id());
    let session = format!("bench-ttfc-{i}");
    let started = Instant::now();
    ws.send(Message::text(chat_send(
        &id,
        &session,
        &format!("ping {i}"),
    )))
    .await?;
    let mut first = None;
    let end = tokio::time::timeout(SAMPLE_TIMEOUT, async {
        loop {
            let text = next_text(ws).await?;
            match classify(&text, &id, &session) {
                Seen::Delta if first.is_none() => first = Some(started.elapsed()),
                Seen::End(how) => return Ok::<_, anyhow::Error>(how),
                Seen::Refused(e) => bail!("chat.send refused: {e}"),
                _ => {}
            }
        }
    })
    .await
    .context("chat run timed out")??;
    if end != "final" {
        bail!("chat run ended with {end}");
    }
    Ok(first.context("a run ended without a delta")?.as_micros() as u64)
}

/// Paired samples: request `i` straight to the stub, then through the gateway, so both
/// see the same moment of a shared machine; `added` is each pair's difference.
struct Paired {
    direct: Vec<u64>,
    gateway: Vec<u64>,
    added: Vec<i64>,
}

async fn paired(target: &Target, upstream: SocketAddr, samples: usize) -> Result<Paired> {
    let mut direct = Direct::connect(upstream).await?;
    let (mut ws, _) = client::connect(target).await?;
    let mut out = Paired {
        direct: Vec::with_capacity(samples),
        gateway: Vec::with_capacity(samples),
        added: Vec::with_capacity(samples),
    };
    for i in 0..samples + WARMUP {
        let d = direct.sample(i).await.context("direct to the stub")?;
        let g = through_gateway(&mut ws, i)
            .await
            .context("through the gateway")?;
        if i >= WARMUP {
            out.direct.push(d);
            out.gateway.push(g);
            out.added.push(g as i64 - d as i64);
        }
    }
    Ok(out)
}

/// Nearest-rank percentile of signed samples (`q` in 0..=1).
pub(crate) fn signed_percentile(samples: &[i64], q: f64) -> i64 {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `n` streams spread over `conns` connections: server RSS with the connections open
/// and idle, then with every stream active (its first delta received, the stub holding
/// the rest).
async fn concurrent(target: &Target, n: usize, conns: usize, o: &Options) -> Result<Value> {
    let conns = conns.clamp(1, n);
    let mut sockets = Vec::with_capacity(conns);
    for _ in 0..conns {
        sockets.push(client::connect(target).await?.0);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rss_idle = o.pid.and_then(vm_rss);
    let first = Arc::new(AtomicUsize::new(0));
    let finals = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let end = Instant::now() + o.deadline;
    let mut tasks = Vec::new();
    for (c, mut ws) in sockets.into_iter().enumerate() {
        let mine: Vec<usize> = (c..n).step_by(conns).collect();
        let (first, finals, errors) = (first.clone(), finals.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let run = async {
                let mut pending = std::collections::HashMap::new();
                for &s in &mine {
                    let id = format!("s{n}-{s}-{}", std::process::id());
                    let session = format!("bench-s{n}-{s}");
                    ws.send(Message::text(chat_send(
                        &id,
                        &session,
                        &format!("{HOLD_MARKER} stream {s}"),
                    )))
                    .await?;
                    pending.insert(format!("agent:main:{session}"), false);
                }
                while !pending.is_empty() {
                    let text = next_text(&mut ws).await?;
                    if !text.contains("\"chat\"") {
                        if text.contains("\"ok\":false") {
                            bail!("chat.send refused: {}", crate::client::short(&text));
                        }
                        continue;
                    }
                    let v: Value = serde_json::from_str(&text)?;
                    let p = &v["payload"];
                    let key = p["sessionKey"].as_str().unwrap_or("").to_string();
                    let Some(seen) = pending.get_mut(&key) else {
                        continue;
                    };
                    match p["state"].as_str().unwrap_or("") {
                        "delta" if !*seen => {
                            *seen = true;
                            first.fetch_add(1, Ordering::Relaxed);
                        }
                        "final" => {
                            pending.remove(&key);
                            finals.fetch_add(1, Ordering::Relaxed);
                        }
                        "delta" => {}
                        other => bail!("a stream ended with {other}: {}", p["errorMessage"]),
                    }
                }
                Ok::<_, anyhow::Error>(())
            };
            if let Ok(Err(e)) = tokio::time::timeout_at(end.into(), run).await {
                errors.lock().unwrap().push(format!("{e:#}"));
            }
        }));
    }
    // Every stream active: sample the server while the stub holds them.
    let started = Instant::now();
    let ActiveSample {
        active: all_active,
        ramp,
        rss_active,
        per_stream,
    } = sample_active(started, &first, n, end, &errors, o.pid, rss_idle, tasks).await;
    let errors = errors.lock().unwrap().clone();
    Ok(json!({
        "streams": n,
        "connections": conns,
        "active_at_sample": all_active,
        "finals": finals.load(Ordering::Relaxed),
        "ramp_ms": ramp.as_millis() as u64,
        "server_rss_idle_bytes": rss_idle,
        "server_rss_active_bytes": rss_active,
        "server_rss_per_stream_bytes": per_stream,
        "errors": errors.len(),
        "first_error": errors.first(),
    }))
}

/// What [`sample_active`] saw.
pub(crate) struct ActiveSample {
    /// Streams active when the server was sampled.
    pub active: usize,
    /// From `started` to the sample.
    pub ramp: Duration,
    pub rss_active: Option<u64>,
    /// RSS per stream over the idle RSS.
    pub per_stream: Option<f64>,
}

/// Waits until `first` reaches `n` (or the deadline, or an error), samples the
/// server's RSS, then waits for the tasks.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sample_active(
    started: Instant,
    first: &AtomicUsize,
    n: usize,
    end: Instant,
    errors: &std::sync::Mutex<Vec<String>>,
    pid: Option<u32>,
    rss_idle: Option<u64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
) -> ActiveSample {
    while first.load(Ordering::Relaxed) < n
        && Instant::now() < end
        && errors.lock().unwrap().is_empty()
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let active = first.load(Ordering::Relaxed);
    let ramp = started.elapsed();
    let rss_active = pid.and_then(vm_rss);
    for t in tasks {
        let _ = t.await;
    }
    let per_stream = match (rss_idle, rss_active) {
        (Some(a), Some(b)) if active > 0 => Some(b.saturating_sub(a) as f64 / n as f64),
        _ => None,
    };
    ActiveSample {
        active,
        ramp,
        rss_active,
        per_stream,
    }
}

pub async fn run(target: &Target, o: Options) -> Result<Value> {
    let pairs = paired(target, o.upstream, o.samples).await?;
    let (added_p50, added_p99) = (
        signed_percentile(&pairs.added, 0.50),
        signed_percentile(&pairs.added, 0.99),
    );
    let (d, g) = (
        stats::summarize(pairs.direct),
        stats::summarize(pairs.gateway),
    );
    let mut runs = Vec::new();
    for &n in &o.streams {
        runs.push(
            concurrent(target, n, o.stream_conns, &o)
                .await
                .with_context(|| format!("{n} concurrent streams"))?,
        );
    }
    Ok(json!({
        "mode": "chat",
        "samples": o.samples,
        "direct_first_chunk": d,
        "gateway_first_chunk": g,
        // Percentiles of the paired differences (gateway − direct, sample by sample).
        "added_p50_us": added_p50,
        "added_p99_us": added_p99,
        "concurrent": runs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_matched_to_their_run_by_session() {
        let ev = |key: &str, state: &str| {
            json!({"type":"event","event":"chat","payload":{"runId":"r","sessionKey":key,"seq":0,"state":state}})
                .to_string()
        };
        assert!(matches!(
            classify(&ev("agent:main:bench-ttfc-1", "delta"), "x", "bench-ttfc-1"),
            Seen::Delta
        ));
        assert!(matches!(
            classify(
                &ev("agent:main:bench-ttfc-12", "delta"),
                "x",
                "bench-ttfc-1"
            ),
            Seen::Other
        ));
        assert!(matches!(
            classify(&ev("agent:main:bench-ttfc-1", "final"), "x", "bench-ttfc-1"),
            Seen::End(s) if s == "final"
        ));
        let refused = json!({"type":"res","id":"x","ok":false,"error":{"code":"INVALID_REQUEST"}})
            .to_string();
        assert!(matches!(classify(&refused, "x", "s"), Seen::Refused(_)));
    }

    #[test]
    fn signed_percentiles_use_nearest_rank() {
        let s: Vec<i64> = (-49..=50).rev().collect();
        assert_eq!(signed_percentile(&s, 0.5), 0);
        assert_eq!(signed_percentile(&s, 0.99), 49);
        assert_eq!(signed_percentile(&[], 0.5), 0);
    }

    #[test]
    fn chat_send_frame_shape() {
        let v: Value = serde_json::from_str(&chat_send("i", "s", "m")).unwrap();
        assert_eq!(v["method"], "chat.send");
        assert_eq!(v["params"]["sessionKey"], "s");
        assert_eq!(v["params"]["idempotencyKey"], "i");
    }
}
