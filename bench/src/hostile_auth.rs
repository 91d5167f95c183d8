//! `hostile-auth`: authenticated clients that hold the token and misbehave, against a
//! gateway whose provider is the loopback `upstream-stub` (bounded in count and time):
//!
//! - lockout: `operator.read` sockets that never read (and send a no-op frame now and
//!   then to look alive) while one long reply streams; does a reader that reads promptly
//!   get the run's `final`, does the writer, do new clients get in, what `/ready` says;
//! - streaming cost: server CPU-seconds and bytes per reader for a long reply in tiny
//!   deltas, alone and four at once, with another client's `models.list` and HTTP
//!   `/health` latency meanwhile;
//! - a full session store: `health` and `connect` latency and server RSS after one
//!   writer filled many large sessions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target, Ws};
use crate::hostile::http_status;
use crate::rss::{cpu_seconds, vm_rss};
use crate::stats;
use crate::stub::big_marker;

pub struct Options {
    /// Sockets that never read during the lockout run.
    pub readers: usize,
    /// Bytes of each long reply, and of each of its deltas.
    pub reply_bytes: usize,
    pub delta_bytes: usize,
    /// Long replies streamed at once in the latency run.
    pub runs: usize,
    /// Sessions filled, and the size of the message each gets.
    pub sessions: usize,
    pub session_bytes: usize,
    /// The gateway's health port (`/ready`, `/health`).
    pub health: SocketAddr,
    /// Bound of each run.
    pub bound: Duration,
    pub pid: Option<u32>,
}

/// A no-op frame every this often from each non-reading socket (it stays "active").
const NOOP_EVERY: Duration = Duration::from_secs(5);
/// How often `/ready` is polled and a new client tries to connect during the lockout run.
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Latency probes during the streaming runs: one `models.list` and one `/health` each.
const LATENCY_EVERY: Duration = Duration::from_millis(100);
/// Samples of `health` and of `connect` over a full session store.
const STORE_SAMPLES: usize = 40;
/// Delta size of the replies that fill the store.
const STORE_DELTA_BYTES: usize = 4096;

fn with_scopes(target: &Target, write: bool) -> Target {
    let mut t = target.clone();
    t.scopes = if write {
        vec!["operator.read".into(), "operator.write".into()]
    } else {
        vec!["operator.read".into()]
    };
    t
}

fn chat_send(id: &str, session: &str, message: &str) -> Message {
    Message::text(
        json!({"type": "req", "id": id, "method": "chat.send", "params": {
            "sessionKey": session, "message": message, "idempotencyKey": id}})
        .to_string(),
    )
}

/// What one reading client saw of the runs in `sessions` until all ended or the bound.
#[derive(Default)]
struct Reading {
    bytes: u64,
    /// Runs whose terminal event arrived, and how many of those were `final`.
    ended: usize,
    finals: usize,
    /// The first terminal state other than `final`, with its message.
    other_end: Option<String>,
    /// The socket ended (closed by the server, or an error) before every run ended.
    cut: Option<String>,
}

/// Reads `ws` until a terminal `chat` event was seen for each of `sessions`, counting
/// the bytes of every text frame.
async fn read_runs(ws: &mut Ws, sessions: &[String], until: Instant) -> Reading {
    let mut r = Reading::default();
    let mut open: Vec<&String> = sessions.iter().collect();
    while !open.is_empty() {
        let next = tokio::time::timeout_at(until.into(), ws.next()).await;
        let text = match next {
            Err(_) => return r,
            Ok(Some(Ok(Message::Text(t)))) => t,
            Ok(Some(Ok(Message::Close(c)))) => {
                r.cut = Some(format!("closed by the server: {c:?}"));
                return r;
            }
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => {
                r.cut = Some(format!("{e}"));
                return r;
            }
            Ok(None) => {
                r.cut = Some("connection closed".into());
                return r;
            }
        };
        r.bytes += text.len() as u64;
        // Deltas are most frames: only terminal states are parsed.
        if text.contains("\"delta\"") || !text.contains("\"chat\"") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let p = &v["payload"];
        if v["event"] != "chat" || p["state"] == "delta" {
            continue;
        }
        let key = p["sessionKey"].as_str().unwrap_or("");
        if let Some(i) = open
            .iter()
            .position(|s| key == s.as_str() || key.ends_with(&format!(":{s}")))
        {
            open.swap_remove(i);
            r.ended += 1;
            if p["state"] == "final" {
                r.finals += 1;
            } else if r.other_end.is_none() {
                r.other_end = Some(client::short(&format!(
                    "{}: {}",
                    p["state"], p["errorMessage"]
                )));
            }
        }
    }
    r
}

/// Sends `chat.send` and waits for its response; `Err` when refused.
async fn start_run(ws: &mut Ws, id: &str, session: &str, message: &str) -> Result<()> {
    ws.send(chat_send(id, session, message)).await?;
    loop {
        let v = client::next_json(ws).await?;
        if v["type"] == "res" && v["id"] == id {
            if v["ok"] != true {
                bail!(
                    "chat.send refused: {}",
                    client::short(&v["error"].to_string())
                );
            }
            return Ok(());
        }
    }
}

fn cpu(pid: Option<u32>) -> Option<f64> {
    pid.and_then(cpu_seconds)
}

fn delta(a: Option<f64>, b: Option<f64>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) => json!(((b - a) * 100.0).round() / 100.0),
        _ => Value::Null,
    }
}

pub async fn run(target: &Target, o: Options) -> Result<Value> {
    let lockout = lockout(target, &o).await.context("lockout run")?;
    let streaming = streaming(target, &o).await.context("streaming runs")?;
    let store = store(target, &o).await.context("full session store")?;
    Ok(json!({
        "mode": "hostile-auth",
        "lockout": lockout,
        "streaming": streaming,
        "store": store,
    }))
}

/// One long reply while `readers` sockets never read.
async fn lockout(target: &Target, o: &Options) -> Result<Value> {
    let read = with_scopes(target, false);
    let stop = Arc::new(AtomicBool::new(false));
    let mut stuck = Vec::with_capacity(o.readers);
    for _ in 0..o.readers {
        let (ws, _) = client::connect(&read).await.context("non-reading client")?;
        let (mut sink, stream) = ws.split();
        let stop = stop.clone();
        stuck.push(tokio::spawn(async move {
            // Never polls `stream`; a no-op frame now and then. Ends when told or when
            // a write fails (the server cut the socket).
            let mut cut = false;
            while !stop.load(Ordering::Relaxed) {
                let noop = Message::text(r#"{"type":"noop"}"#);
                let sent = tokio::time::timeout(Duration::from_secs(2), sink.send(noop)).await;
                if !matches!(sent, Ok(Ok(()))) {
                    cut = true;
                    break;
                }
                tokio::time::sleep(NOOP_EVERY).await;
            }
            (cut, stream, sink)
        }));
    }
    let (mut good, _) = client::connect(&read).await.context("reading client")?;
    let (mut writer, _) = client::connect(&with_scopes(target, true))
        .await
        .context("writer")?;
    let session = "hostile-lockout".to_string();
    let cpu0 = cpu(o.pid);
    let t0 = Instant::now();
    let until = t0 + o.bound;
    let marker = big_marker(o.reply_bytes, o.delta_bytes);
    start_run(
        &mut writer,
        "lock-1",
        &session,
        &format!("{marker} lockout"),
    )
    .await?;
    // Probes meanwhile: `/ready` and a new client's handshake.
    let done = Arc::new(AtomicBool::new(false));
    let probes = {
        let (done, target, health) = (done.clone(), read.clone(), o.health);
        tokio::spawn(async move {
            let (mut ready, mut not_ready, mut ready_err) = (0u64, 0u64, 0u64);
            let (mut joined, mut refused) = (0u64, Vec::new());
            while !done.load(Ordering::Relaxed) {
                match http_status(health, "/ready", Duration::from_secs(2)).await {
                    Ok((200, _)) => ready += 1,
                    Ok(_) => not_ready += 1,
                    Err(_) => ready_err += 1,
                }
                let attempt =
                    tokio::time::timeout(Duration::from_secs(5), client::connect(&target)).await;
                match attempt {
                    Ok(Ok((mut ws, t))) => {
                        joined += 1;
                        let _ = t;
                        let _ = ws.close(None).await;
                    }
                    Ok(Err(e)) => refused.push(format!("{e:#}")),
                    Err(_) => refused.push("handshake timed out (5 s)".into()),
                }
                tokio::time::sleep(PROBE_EVERY).await;
            }
            json!({"ready_200": ready, "ready_503": not_ready, "ready_errors": ready_err,
                   "new_clients_joined": joined, "new_clients_failed": refused.len(),
                   "new_client_first_error": refused.first()})
        })
    };
    let sessions = [session];
    let (good_r, writer_r) = tokio::join!(
        read_runs(&mut good, &sessions, until),
        read_runs(&mut writer, &sessions, until)
    );
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = cpu(o.pid);
    done.store(true, Ordering::Relaxed);
    let probes = probes.await?;
    stop.store(true, Ordering::Relaxed);
    let mut cut = 0;
    for t in stuck {
        let (was_cut, mut stream, _sink) = t.await?;
        // A socket the server cut ends with a close frame, an error or EOF once its
        // backlog is read.
        let ended = was_cut
            || tokio::time::timeout(Duration::from_secs(3), async {
                loop {
                    match stream.next().await {
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return true,
                        Some(Ok(_)) => {}
                    }
                }
            })
            .await
            .unwrap_or(false);
        cut += usize::from(ended);
    }
    Ok(json!({
        "readers_not_reading": o.readers,
        "not_reading_cut_by_server": cut,
        "good_reader_final": good_r.finals == 1,
        "good_reader_ended": good_r.ended == 1,
        "good_reader_other_end": good_r.other_end,
        "good_reader_cut": good_r.cut,
        "good_reader_bytes": good_r.bytes,
        "writer_final": writer_r.finals == 1,
        "writer_other_end": writer_r.other_end,
        "writer_cut": writer_r.cut,
        "seconds": secs,
        "server_cpu_seconds": delta(cpu0, cpu1),
        "probes": probes,
    }))
}

/// One long reply alone, then `runs` at once with latency probes meanwhile.
async fn streaming(target: &Target, o: &Options) -> Result<Value> {
    let marker = big_marker(o.reply_bytes, o.delta_bytes);
    let write = with_scopes(target, true);
    // Alone: one writer that reads its own run.
    let (mut ws, _) = client::connect(&write).await?;
    let cpu0 = cpu(o.pid);
    let t0 = Instant::now();
    let session = vec!["hostile-stream-0".to_string()];
    start_run(&mut ws, "s-0", &session[0], &format!("{marker} alone")).await?;
    let alone = read_runs(&mut ws, &session, t0 + o.bound).await;
    let alone_secs = t0.elapsed().as_secs_f64();
    let cpu1 = cpu(o.pid);
    drop(ws);
    // At once: `runs` writers, each reading every run (events go to every reader).
    let sessions: Vec<String> = (1..=o.runs)
        .map(|i| format!("hostile-stream-{i}"))
        .collect();
    let mut writers = Vec::new();
    for _ in 0..o.runs {
        writers.push(client::connect(&write).await?.0);
    }
    let (mut prober, _) = client::connect(&with_scopes(target, false)).await?;
    let done = Arc::new(AtomicBool::new(false));
    let cpu2 = cpu(o.pid);
    let t1 = Instant::now();
    let until = t1 + o.bound;
    for (i, (ws, s)) in writers.iter_mut().zip(&sessions).enumerate() {
        start_run(ws, &format!("m-{i}"), s, &format!("{marker} at once")).await?;
    }
    let health_probe = {
        let (done, health) = (done.clone(), o.health);
        tokio::spawn(async move {
            let (mut lat, mut failed) = (Vec::new(), 0u64);
            while !done.load(Ordering::Relaxed) {
                match http_status(health, "/health", Duration::from_secs(5)).await {
                    Ok((200, t)) => lat.push(t.as_micros() as u64),
                    _ => failed += 1,
                }
                tokio::time::sleep(LATENCY_EVERY).await;
            }
            (lat, failed)
        })
    };
    let models = {
        let done = done.clone();
        async move {
            let (mut lat, mut failed, mut id) = (Vec::new(), 0u64, 1000u64);
            while !done.load(Ordering::Relaxed) {
                id += 1;
                let t = Instant::now();
                match tokio::time::timeout(
                    Duration::from_secs(20),
                    client::request(&mut prober, id, "models.list"),
                )
                .await
                {
                    Ok(Ok(true)) => lat.push(t.elapsed().as_micros() as u64),
                    _ => failed += 1,
                }
                tokio::time::sleep(LATENCY_EVERY).await;
            }
            (lat, failed)
        }
    };
    let readers = async {
        let all = futures_util::future::join_all(
            writers.iter_mut().map(|ws| read_runs(ws, &sessions, until)),
        )
        .await;
        done.store(true, Ordering::Relaxed);
        all
    };
    let (all, (models_lat, models_failed)) = tokio::join!(readers, models);
    let at_once_secs = t1.elapsed().as_secs_f64();
    let cpu3 = cpu(o.pid);
    let (health_lat, health_failed) = health_probe.await?;
    let finals: usize = all.iter().map(|r| r.finals).sum();
    let ended: usize = all.iter().map(|r| r.ended).sum();
    let other_end = all.iter().find_map(|r| r.other_end.clone());
    let cut = all.iter().filter(|r| r.cut.is_some()).count();
    let bytes: Vec<u64> = all.iter().map(|r| r.bytes).collect();
    Ok(json!({
        "reply_bytes": o.reply_bytes,
        "delta_bytes": o.delta_bytes,
        "alone": {
            "final": alone.finals == 1,
            "ended": alone.ended == 1,
            "other_end": alone.other_end,
            "cut": alone.cut,
            "bytes_to_reader": alone.bytes,
            "seconds": alone_secs,
            "server_cpu_seconds": delta(cpu0, cpu1),
        },
        "at_once": {
            "runs": o.runs,
            "finals_seen": finals,
            "finals_expected": o.runs * o.runs,
            "ended_seen": ended,
            "other_end": other_end,
            "readers_cut": cut,
            "bytes_per_reader_max": bytes.iter().max(),
            "seconds": at_once_secs,
            "server_cpu_seconds": delta(cpu2, cpu3),
            "models_list": stats::summarize(models_lat),
            "models_list_failed": models_failed,
            "http_health": stats::summarize(health_lat),
            "http_health_failed": health_failed,
        },
    }))
}

/// Fills `sessions` sessions with a `session_bytes` reply each (a message is capped far
/// below that; the stub answers the marker), then times `health` and `connect`.
async fn store(target: &Target, o: &Options) -> Result<Value> {
    let write = with_scopes(target, true);
    let rss0 = o.pid.and_then(vm_rss);
    let (mut ws, _) = client::connect(&write).await?;
    let body = format!("{} fill", big_marker(o.session_bytes, STORE_DELTA_BYTES));
    let t0 = Instant::now();
    let until = t0 + o.bound;
    let mut filled = 0usize;
    let mut refused = None;
    let id = AtomicU64::new(0);
    for i in 0..o.sessions {
        if Instant::now() > until {
            break;
        }
        let session = format!("hostile-store-{i}");
        let rid = format!("f-{}", id.fetch_add(1, Ordering::Relaxed));
        // Rate-limited requests are retried after the hinted wait.
        loop {
            ws.send(chat_send(&rid, &session, &body)).await?;
            let v = loop {
                let v = client::next_json(&mut ws).await?;
                if v["type"] == "res" && v["id"] == rid.as_str() {
                    break v;
                }
            };
            if v["ok"] == true {
                break;
            }
            let retry = v["error"]["retryAfterMs"].as_u64();
            match retry {
                Some(ms) if ms <= 5_000 && Instant::now() < until => {
                    tokio::time::sleep(Duration::from_millis(ms.max(1))).await
                }
                _ => {
                    refused = Some(client::short(&v["error"].to_string()));
                    break;
                }
            }
        }
        if refused.is_some() {
            break;
        }
        let r = read_runs(&mut ws, std::slice::from_ref(&session), until).await;
        filled += r.finals;
    }
    let fill_secs = t0.elapsed().as_secs_f64();
    let rss1 = o.pid.and_then(vm_rss);
    let mut health = Vec::new();
    for i in 0..STORE_SAMPLES {
        let t = Instant::now();
        if client::request(&mut ws, 10_000 + i as u64, "health").await? {
            health.push(t.elapsed().as_micros() as u64);
        }
        // Below the default rate limit.
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut connect = Vec::new();
    let read = with_scopes(target, false);
    for _ in 0..STORE_SAMPLES {
        let (mut c, took) = client::connect(&read).await?;
        connect.push(took.as_micros() as u64);
        let _ = c.close(None).await;
    }
    Ok(json!({
        "sessions": o.sessions,
        "session_bytes": o.session_bytes,
        "filled": filled,
        "refused": refused,
        "fill_seconds": fill_secs,
        "server_rss_before_bytes": rss0,
        "server_rss_after_bytes": rss1,
        "health": stats::summarize(health),
        "connect": stats::summarize(connect),
    }))
}
