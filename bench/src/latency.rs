//! Latency mode: N connections each send `health` in a closed loop for a fixed time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tokio::sync::Barrier;

use crate::client::{self, Target};
use crate::rss::vm_rss;
use crate::stats;

/// `rate`: requests per second per connection (paced; latency counted from the scheduled
/// send time whenever the connection is behind schedule, so a slow server cannot hide
/// its delay, and from the timer's wake-up otherwise); None: closed loop, as fast as
/// the server answers.
pub async fn run(
    target: &Target,
    conns: &[usize],
    seconds: Duration,
    rate: Option<f64>,
    pid: Option<u32>,
) -> Result<Value> {
    let mut runs = Vec::new();
    for &n in conns {
        runs.push(
            one(target, n, seconds, rate, pid)
                .await
                .with_context(|| format!("{n} connections"))?,
        );
    }
    Ok(json!({"mode": "latency", "method": "health", "rate_per_connection": rate, "runs": runs}))
}

async fn one(
    target: &Target,
    n: usize,
    seconds: Duration,
    rate: Option<f64>,
    pid: Option<u32>,
) -> Result<Value> {
    // Open all connections first (bounded parallelism), so the measurement excludes handshakes.
    let mut sockets = Vec::with_capacity(n);
    let mut handshake_us = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for chunk_start in (0..n).step_by(100) {
        let chunk = (n - chunk_start).min(100);
        for _ in 0..chunk {
            pending.push(client::connect(target));
        }
        for r in futures_util::future::join_all(pending.drain(..)).await {
            let (ws, took) = r?;
            handshake_us.push(took.as_micros() as u64);
            sockets.push(ws);
        }
    }
    let rss_before = pid.and_then(vm_rss);
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut tasks = Vec::with_capacity(n);
    let period = rate.map(|r| Duration::from_secs_f64(1.0 / r));
    for (i, mut ws) in sockets.into_iter().enumerate() {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut id = 2u64;
            barrier.wait().await;
            let start = Instant::now();
            let end = start + seconds;
            // Paced connections start spread over one period, not all at once.
            let first = period.map(|p| start + p.mul_f64(i as f64 / n as f64));
            let mut k = 0u32;
            while Instant::now() < end {
                let t = match (first, period) {
                    (Some(first), Some(p)) => {
                        let due = first + p * k;
                        k += 1;
                        if due >= end {
                            break;
                        }
                        if Instant::now() < due {
                            // On time: count from when the timer actually fired. Tokio's
                            // timer wheel has 1 ms ticks, so it wakes up to ~1 ms late; that
                            // delay is the load generator's, not the server's.
                            tokio::time::sleep_until(due.into()).await;
                            Instant::now()
                        } else {
                            // Behind schedule because the server was slow to answer the
                            // previous request: count from the scheduled time, so the
                            // server's delay is not hidden (coordinated omission).
                            due
                        }
                    }
                    _ => Instant::now(),
                };
                match client::request(&mut ws, id, "health").await {
                    Ok(true) => lat.push(t.elapsed().as_micros() as u64),
                    Ok(false) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
                id += 1;
            }
            (lat, errors)
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await?;
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let rss_after = pid.and_then(vm_rss);
    let ok = all.len();
    Ok(json!({
        "connections": n,
        "rate_per_connection": rate,
        "seconds": elapsed,
        "requests_ok": ok,
        "requests_failed": errors,
        "throughput_rps": ok as f64 / elapsed,
        "latency": stats::summarize(all),
        "handshake": stats::summarize(handshake_us),
        "server_rss_before_bytes": rss_before,
        "server_rss_after_bytes": rss_after,
    }))
}
