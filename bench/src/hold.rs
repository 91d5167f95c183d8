//! Hold mode: open as many authenticated connections as possible (up to a bound), keep
//! them all reading, and report how many stayed open and what they cost the server.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};

use crate::client::{self, Target};
use crate::rss::vm_rss;

pub struct Options {
    pub max: usize,
    pub parallel: usize,
    pub rss_limit: Option<u64>,
    pub hold: Duration,
    pub deadline: Duration,
    pub pid: Option<u32>,
    pub nofile: u64,
}

/// Consecutive handshake failures after which opening stops.
const MAX_CONSECUTIVE_FAILURES: usize = 200;

pub async fn run(target: &Target, o: Options) -> Result<Value> {
    let started = Instant::now();
    let rss_before = o.pid.and_then(vm_rss);
    let target = Arc::new(target.clone());
    let alive = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let consecutive = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let first_error: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let permits = Arc::new(Semaphore::new(o.parallel));
    let mut stop_reason = "target reached";
    let mut launched = 0usize;

    while launched < o.max {
        if started.elapsed() > o.deadline {
            stop_reason = "time bound";
            break;
        }
        if stop.load(Ordering::Relaxed) {
            stop_reason = "too many consecutive handshake failures";
            break;
        }
        if let (Some(limit), Some(pid)) = (o.rss_limit, o.pid) {
            if launched % 100 == 0 && vm_rss(pid).is_some_and(|r| r >= limit) {
                stop_reason = "server RSS limit reached";
                break;
            }
        }
        let permit = permits.clone().acquire_owned().await?;
        launched += 1;
        let (target, alive, opened, failed, consecutive, stop, first_error) = (
            target.clone(),
            alive.clone(),
            opened.clone(),
            failed.clone(),
            consecutive.clone(),
            stop.clone(),
            first_error.clone(),
        );
        tokio::spawn(async move {
            match client::connect(&target).await {
                Ok((mut ws, _)) => {
                    opened.fetch_add(1, Ordering::Relaxed);
                    consecutive.store(0, Ordering::Relaxed);
                    alive.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                    // Drain everything (ticks, pings) until the server closes.
                    while let Some(Ok(_)) = ws.next().await {}
                    alive.fetch_sub(1, Ordering::Relaxed);
                }
                Err(e) => {
                    drop(permit);
                    failed.fetch_add(1, Ordering::Relaxed);
                    if consecutive.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_CONSECUTIVE_FAILURES {
                        stop.store(true, Ordering::Relaxed);
                    }
                    let mut slot = first_error.lock().await;
                    if slot.is_none() {
                        *slot = Some(format!("{e:#}"));
                    }
                }
            }
        });
    }
    // Wait for in-flight handshakes.
    let _all = permits.acquire_many(o.parallel as u32).await?;
    let open_seconds = started.elapsed().as_secs_f64();
    let peak_open = alive.load(Ordering::Relaxed);
    let rss_peak = o.pid.and_then(vm_rss);
    tokio::time::sleep(o.hold).await;
    let still_open = alive.load(Ordering::Relaxed);
    let rss_held = o.pid.and_then(vm_rss);
    let per_conn = match (rss_before, rss_held) {
        (Some(b), Some(h)) if still_open > 0 => {
            Some(h.saturating_sub(b) as f64 / still_open as f64)
        }
        _ => None,
    };
    let error = first_error.lock().await.clone();
    Ok(json!({
        "mode": "hold",
        "target": o.max,
        "launched": launched,
        "opened": opened.load(Ordering::Relaxed),
        "failed": failed.load(Ordering::Relaxed),
        "open_after_handshakes": peak_open,
        "open_after_hold": still_open,
        "hold_seconds": o.hold.as_secs_f64(),
        "open_seconds": open_seconds,
        "stop_reason": stop_reason,
        "first_error": error,
        "client_nofile_limit": o.nofile,
        "server_rss_before_bytes": rss_before,
        "server_rss_peak_bytes": rss_peak,
        "server_rss_held_bytes": rss_held,
        "server_rss_per_connection_bytes": per_conn,
    }))
}
