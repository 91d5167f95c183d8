//! Hostile-client modes, each bounded in count and time, each printing one JSON object:
//!
//! - `stall`: unauthenticated sockets upgrade, start one large text frame, send all of it
//!   but its last byte, and stall; the server's RSS is sampled meanwhile.
//! - `churn`: unauthenticated sockets upgrade and never send `connect`, reconnecting
//!   whenever the server closes them, while a real client keeps connecting (full
//!   handshake) at a fixed interval: its success rate and handshake times.
//! - `silent`: raw TCP sockets that send nothing (and, with `--drip`, half of them an
//!   endless header one byte per second): how long until the server closes each.
//! - `idle-health`: idle sockets held open while `GET /health` is probed at a fixed rate.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;

use crate::client::{self, Target};
use crate::rss::vm_rss;
use crate::stats;
use clawdbot_testkit::ws_frame;

/// Connects in flight at once while opening many sockets.
const OPEN_PARALLEL: usize = 200;
/// Time allowed for a TCP connect plus an upgrade response.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// TCP connect to `addr`, from `source` when given.
pub async fn tcp_from(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let s = tokio::time::timeout(OPEN_TIMEOUT, socket.connect(addr))
        .await
        .context("tcp connect timed out")??;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Sends a WebSocket upgrade request and reads the response head; returns its status.
pub async fn raw_upgrade(s: &mut TcpStream, addr: SocketAddr, path: &str) -> Result<u16> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    let read = async {
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 8192 {
                bail!("response head too large");
            }
            if s.read(&mut b).await? == 0 {
                bail!("closed before the upgrade response");
            }
            head.push(b[0]);
        }
        Ok(())
    };
    tokio::time::timeout(OPEN_TIMEOUT, read)
        .await
        .context("upgrade response timed out")??;
    let text = String::from_utf8_lossy(&head);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("not an HTTP response: {:?}", text.lines().next()))
}

/// Reads and discards until EOF or an error; returns false when `until` came first.
pub async fn closed_before(s: &mut TcpStream, until: Instant) -> bool {
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout_at(until.into(), read).await.is_ok()
}

/// Peak VmRSS of `pid`, sampled every 20 ms until `stop`.
fn rss_sampler(pid: Option<u32>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Option<u64>> {
    tokio::spawn(async move {
        let pid = pid?;
        let mut peak = 0;
        while !stop.load(Ordering::Relaxed) {
            if let Some(r) = vm_rss(pid) {
                peak = peak.max(r);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(peak)
    })
}

fn source(sources: &[IpAddr], i: usize) -> Option<IpAddr> {
    (!sources.is_empty()).then(|| sources[i % sources.len()])
}

/// The header of a masked client text frame announcing `len` payload bytes (mask 0).
pub fn frame_header(len: u64) -> Vec<u8> {
    ws_frame::client_header(true, ws_frame::TEXT, len, ws_frame::LenForm::U64, [0; 4])
}

pub struct Stall {
    pub sockets: usize,
    pub frame_bytes: u64,
    pub hold: Duration,
    pub path: String,
    pub pid: Option<u32>,
}

pub async fn stall(addr: SocketAddr, sources: &[IpAddr], o: Stall) -> Result<Value> {
    let rss_before = o.pid.and_then(vm_rss);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(o.pid, stop.clone());
    let upgraded = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let sent_all = Arc::new(AtomicUsize::new(0));
    let cut_short = Arc::new(AtomicUsize::new(0));
    let closed_by_server = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let chunk: Arc<[u8]> = vec![0u8; 64 * 1024].into();
    let permits = Arc::new(Semaphore::new(OPEN_PARALLEL));
    let started = Instant::now();
    // Every socket stays until this deadline (set once all have sent), unless closed.
    let end = Arc::new(tokio::sync::watch::channel(None::<Instant>).0);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.sockets {
        let src = source(sources, i);
        let (upgraded, refused, sent_all, cut_short, closed_by_server, done, bytes, chunk) = (
            upgraded.clone(),
            refused.clone(),
            sent_all.clone(),
            cut_short.clone(),
            closed_by_server.clone(),
            done.clone(),
            bytes.clone(),
            chunk.clone(),
        );
        let permits = permits.clone();
        let path = o.path.clone();
        let mut end_rx = end.subscribe();
        let len = o.frame_bytes;
        tasks.spawn(async move {
            let opened = async {
                let _p = permits.acquire().await.ok()?;
                let mut s = tcp_from(addr, src).await.ok()?;
                let code = raw_upgrade(&mut s, addr, &path).await.ok()?;
                Some((s, code))
            };
            let Some((mut s, code)) = opened.await else {
                refused.fetch_add(1, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
                return;
            };
            if code != 101 {
                refused.fetch_add(1, Ordering::Relaxed);
                done.fetch_add(1, Ordering::Relaxed);
                return;
            }
            upgraded.fetch_add(1, Ordering::Relaxed);
            // All of the frame but its last byte.
            let mut left = len.saturating_sub(1);
            let mut ok = s.write_all(&frame_header(len)).await.is_ok();
            while ok && left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                ok = s.write_all(&chunk[..n]).await.is_ok();
                if ok {
                    bytes.fetch_add(n as u64, Ordering::Relaxed);
                    left -= n as u64;
                }
            }
            if ok {
                sent_all.fetch_add(1, Ordering::Relaxed);
            } else {
                cut_short.fetch_add(1, Ordering::Relaxed);
            }
            done.fetch_add(1, Ordering::Relaxed);
            let until = loop {
                if let Some(t) = *end_rx.borrow_and_update() {
                    break t;
                }
                if end_rx.changed().await.is_err() {
                    return;
                }
            };
            // The server may have closed already (then this returns at once).
            if closed_before(&mut s, until).await {
                closed_by_server.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    // A socket whose writes block (the server stopped reading) counts as stalled too:
    // wait for all to finish sending, at most 30 s.
    let ramp_bound = started + Duration::from_secs(30);
    while done.load(Ordering::Relaxed) < o.sockets && Instant::now() < ramp_bound {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ramp_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(o.hold).await;
    let rss_held = o.pid.and_then(vm_rss);
    let _ = end.send(Some(Instant::now() + Duration::from_millis(200)));
    let collect = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), collect)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    stop.store(true, Ordering::Relaxed);
    let rss_peak = sampler.await.ok().flatten();
    let growth = match (rss_before, rss_peak) {
        (Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    Ok(json!({
        "mode": "stall",
        "sockets": o.sockets,
        "frame_bytes": o.frame_bytes,
        "upgraded": upgraded.load(Ordering::Relaxed),
        "refused": refused.load(Ordering::Relaxed),
        "sent_all_but_last_byte": sent_all.load(Ordering::Relaxed),
        "cut_short_by_server": cut_short.load(Ordering::Relaxed),
        "closed_by_server": closed_by_server.load(Ordering::Relaxed),
        "bytes_sent": bytes.load(Ordering::Relaxed),
        "ramp_seconds": ramp_seconds,
        "hold_seconds": o.hold.as_secs_f64(),
        "server_rss_before_bytes": rss_before,
        "server_rss_peak_bytes": rss_peak,
        "server_rss_held_bytes": rss_held,
        "server_rss_growth_bytes": growth,
    }))
}

pub struct Churn {
    pub sockets: usize,
    pub duration: Duration,
    pub probe_interval: Duration,
    pub probe_timeout: Duration,
    pub path: String,
}

/// `attackers` are the source addresses of the churning sockets; the real client
/// connects through `probe` (its own source addresses).
pub async fn churn(
    addr: SocketAddr,
    attackers: &[IpAddr],
    probe: &Target,
    o: Churn,
) -> Result<Value> {
    let stop = Arc::new(AtomicBool::new(false));
    let first_done = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(AtomicUsize::new(0));
    let cycles = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let permits = Arc::new(Semaphore::new(OPEN_PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.sockets {
        let src = source(attackers, i);
        let (stop, first_done, held, cycles, refusals, permits) = (
            stop.clone(),
            first_done.clone(),
            held.clone(),
            cycles.clone(),
            refusals.clone(),
            permits.clone(),
        );
        let path = o.path.clone();
        tasks.spawn(async move {
            let mut first = true;
            while !stop.load(Ordering::Relaxed) {
                let opened = async {
                    let _p = permits.acquire().await.ok()?;
                    let mut s = tcp_from(addr, src).await.ok()?;
                    let code = raw_upgrade(&mut s, addr, &path).await.ok()?;
                    Some((s, code))
                };
                let got = opened.await;
                if std::mem::take(&mut first) {
                    first_done.fetch_add(1, Ordering::Relaxed);
                }
                match got {
                    Some((mut s, 101)) => {
                        held.fetch_add(1, Ordering::Relaxed);
                        // Never send `connect`; wait for the server to give up.
                        loop {
                            let until = Instant::now() + Duration::from_millis(500);
                            if closed_before(&mut s, until).await || stop.load(Ordering::Relaxed) {
                                break;
                            }
                        }
                        held.fetch_sub(1, Ordering::Relaxed);
                        cycles.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        refusals.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
    let ramp_bound = Instant::now() + Duration::from_secs(20);
    while first_done.load(Ordering::Relaxed) < o.sockets && Instant::now() < ramp_bound {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held_at_start = held.load(Ordering::Relaxed);
    let started = Instant::now();
    let (mut attempts, mut ok) = (0u64, 0u64);
    let mut times = Vec::new();
    let mut first_error = None;
    let mut held_samples = Vec::new();
    while started.elapsed() < o.duration {
        let next = Instant::now() + o.probe_interval;
        attempts += 1;
        held_samples.push(held.load(Ordering::Relaxed) as u64);
        match tokio::time::timeout(o.probe_timeout, client::connect(probe)).await {
            Ok(Ok((ws, took))) => {
                ok += 1;
                times.push(took.as_micros() as u64);
                drop(ws);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(_) => {
                first_error.get_or_insert_with(|| "handshake timed out".to_string());
            }
        }
        tokio::time::sleep_until(next.into()).await;
    }
    stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    let rate = if attempts > 0 {
        ok as f64 / attempts as f64
    } else {
        0.0
    };
    Ok(json!({
        "mode": "churn",
        "sockets": o.sockets,
        "seconds": o.duration.as_secs_f64(),
        "attackers_held_at_start": held_at_start,
        "attackers_held_mean": if held_samples.is_empty() { 0 } else { held_samples.iter().sum::<u64>() / held_samples.len() as u64 },
        "attacker_cycles": cycles.load(Ordering::Relaxed),
        "attacker_refusals": refusals.load(Ordering::Relaxed),
        "probe_attempts": attempts,
        "probe_ok": ok,
        "probe_success_rate": rate,
        "probe_handshake": stats::summarize(times),
        "first_error": first_error,
    }))
}

pub struct Silent {
    pub sockets: usize,
    pub bound: Duration,
    pub targets: Vec<SocketAddr>,
    pub drip: bool,
}

pub async fn silent(sources: &[IpAddr], o: Silent) -> Result<Value> {
    if o.targets.is_empty() {
        bail!("no target");
    }
    let started = Instant::now();
    let until = started + o.bound;
    let permits = Arc::new(Semaphore::new(OPEN_PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.sockets {
        let target = o.targets[i % o.targets.len()];
        let drip = o.drip && (i / o.targets.len()) % 2 == 1;
        let src = source(sources, i);
        let permits = permits.clone();
        tasks.spawn(async move {
            let opened = {
                let _p = permits.acquire().await;
                tcp_from(target, src).await
            };
            let Ok(mut s) = opened else {
                return (target, drip, None, false);
            };
            let t0 = Instant::now();
            let closed = if drip {
                drip_until_closed(&mut s, until).await
            } else {
                closed_before(&mut s, until).await
            };
            let took = t0.elapsed().as_secs_f64();
            (target, drip, Some(took), closed)
        });
    }
    let mut rows: Vec<(SocketAddr, bool, Option<f64>, bool)> = Vec::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(r) = r {
            rows.push(r);
        }
    }
    let mut groups = Vec::new();
    for target in &o.targets {
        for drip in [false, true] {
            let mine: Vec<_> = rows
                .iter()
                .filter(|r| r.0 == *target && r.1 == drip)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let opened = mine.iter().filter(|r| r.2.is_some()).count();
            let mut closed: Vec<f64> = mine.iter().filter(|r| r.3).filter_map(|r| r.2).collect();
            closed.sort_by(f64::total_cmp);
            let pick = |q: f64| {
                let ms: Vec<u64> = closed.iter().map(|s| (s * 1000.0) as u64).collect();
                stats::percentile(&ms, q) as f64 / 1000.0
            };
            groups.push(json!({
                "target": target.to_string(),
                "kind": if drip { "drip" } else { "silent" },
                "sockets": mine.len(),
                "opened": opened,
                "closed": closed.len(),
                "close_min_s": closed.first().copied(),
                "close_p50_s": (!closed.is_empty()).then(|| pick(0.5)),
                "close_max_s": closed.last().copied(),
            }));
        }
    }
    Ok(json!({
        "mode": "silent",
        "sockets": o.sockets,
        "bound_seconds": o.bound.as_secs_f64(),
        "groups": groups,
    }))
}

/// Sends an endless request head one byte per second; true when the server closed.
async fn drip_until_closed(s: &mut TcpStream, until: Instant) -> bool {
    let head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Drip: ";
    let mut i = 0usize;
    let (mut r, mut w) = s.split();
    let mut buf = [0u8; 1024];
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let run = async {
        loop {
            tokio::select! {
                n = r.read(&mut buf) => match n {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                _ = tick.tick() => {
                    let b = head.get(i).copied().unwrap_or(b'a');
                    i += 1;
                    if w.write_all(&[b]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout_at(until.into(), run).await.is_ok()
}

pub struct IdleHealth {
    pub sockets: usize,
    pub targets: Vec<SocketAddr>,
    pub health: SocketAddr,
    pub probes: usize,
    pub rate: f64,
}

/// Status of `GET /health` on `addr`, and the time to the response head.
async fn health_once(addr: SocketAddr, timeout: Duration) -> Result<(u16, Duration)> {
    http_status(addr, "/health", timeout).await
}

/// Status of `GET path` on `addr`, and the time to the response head.
pub async fn http_status(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> Result<(u16, Duration)> {
    let t0 = Instant::now();
    let run = async {
        let mut s = tcp_from(addr, None).await?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await?;
        let mut buf = [0u8; 64];
        let mut got = 0;
        while got < 12 {
            let n = s.read(&mut buf[got..]).await?;
            if n == 0 {
                bail!("closed without a response");
            }
            got += n;
        }
        let text = String::from_utf8_lossy(&buf[..got]).to_string();
        text.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .context("not an HTTP response")
    };
    let code = tokio::time::timeout(timeout, run)
        .await
        .context("no answer in time")??;
    Ok((code, t0.elapsed()))
}

pub async fn idle_health(sources: &[IpAddr], o: IdleHealth) -> Result<Value> {
    if o.targets.is_empty() {
        bail!("no target");
    }
    let permits = Arc::new(Semaphore::new(OPEN_PARALLEL));
    let open = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.sockets {
        let target = o.targets[i % o.targets.len()];
        let src = source(sources, i);
        let (permits, open, failed, done, stop) = (
            permits.clone(),
            open.clone(),
            failed.clone(),
            done.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            let opened = {
                let _p = permits.acquire().await;
                tcp_from(target, src).await
            };
            done.fetch_add(1, Ordering::Relaxed);
            let Ok(mut s) = opened else {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            open.fetch_add(1, Ordering::Relaxed);
            let mut buf = [0u8; 256];
            tokio::select! {
                _ = async { while let Ok(n) = s.read(&mut buf).await { if n == 0 { break; } } } => {}
                _ = stop.notified() => {}
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let ramp_bound = Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::Relaxed) < o.sockets && Instant::now() < ramp_bound {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let open_at_start = open.load(Ordering::Relaxed);
    let started = Instant::now();
    let period = Duration::from_secs_f64(1.0 / o.rate);
    let (mut ok, mut answered_other, mut failed_probes) = (0usize, 0usize, 0usize);
    let mut times = Vec::new();
    let mut first_error = None;
    // When (seconds after probing started) the first and last bad probe was sent.
    let mut bad_window: Option<(f64, f64)> = None;
    for k in 0..o.probes {
        tokio::time::sleep_until((started + period * k as u32).into()).await;
        let at = started.elapsed().as_secs_f64();
        let bad = match health_once(o.health, Duration::from_secs(2)).await {
            Ok((200, took)) => {
                ok += 1;
                times.push(took.as_micros() as u64);
                false
            }
            Ok((code, _)) => {
                answered_other += 1;
                first_error.get_or_insert_with(|| format!("HTTP {code}"));
                true
            }
            Err(e) => {
                failed_probes += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
                true
            }
        };
        if bad {
            bad_window = Some(bad_window.map_or((at, at), |(first, _)| (first, at)));
        }
    }
    let open_at_end = open.load(Ordering::Relaxed);
    stop.notify_waiters();
    tasks.abort_all();
    Ok(json!({
        "mode": "idle-health",
        "sockets": o.sockets,
        "idle_open_at_start": open_at_start,
        "idle_open_at_end": open_at_end,
        "idle_connect_failed": failed.load(Ordering::Relaxed),
        "probes": o.probes,
        "probe_ok": ok,
        "probe_other_status": answered_other,
        "probe_failed": failed_probes,
        "latency": stats::summarize(times),
        "first_error": first_error,
        "bad_probes_from_s": bad_window.map(|w| w.0),
        "bad_probes_until_s": bad_window.map(|w| w.1),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header_announces_a_masked_64_bit_length() {
        let h = frame_header(1 << 20);
        assert_eq!(h.len(), 14);
        assert_eq!(h[0], 0x81);
        assert_eq!(h[1], 0x80 | 127);
        assert_eq!(u64::from_be_bytes(h[2..10].try_into().unwrap()), 1 << 20);
    }
}
