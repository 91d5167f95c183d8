//! Slow-reader mode: clients that keep sending `health` requests but never read a byte,
//! so every response (and tick) piles up on the server's side. A server with bounded
//! outbound queues stops reading or drops the client; its RSS stays flat.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Target};
use crate::rss::vm_rss;

/// How long one write may block before the client counts the server as applying backpressure.
const WRITE_STALL: Duration = Duration::from_millis(500);

pub async fn run(
    target: &Target,
    clients: usize,
    seconds: Duration,
    pid: Option<u32>,
) -> Result<Value> {
    let rss_before = pid.and_then(vm_rss);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (mut ws, _) = client::connect(target).await?;
        tasks.push(tokio::spawn(async move {
            let end = Instant::now() + seconds;
            let (mut sent, mut stalls) = (0u64, 0u64);
            let mut outcome = "still connected";
            let mut id = 2u64;
            while Instant::now() < end {
                let frame = Message::text(client::request_frame(id, "health"));
                match tokio::time::timeout(WRITE_STALL, ws.send(frame)).await {
                    Ok(Ok(())) => sent += 1,
                    Ok(Err(_)) => {
                        outcome = "closed by server";
                        break;
                    }
                    Err(_) => {
                        stalls += 1;
                        // Backpressure: the socket is full; the rest of this send is abandoned.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                id += 1;
            }
            // Keep the socket (unread) open until the end of the window.
            let left = end.saturating_duration_since(Instant::now());
            tokio::time::sleep(left).await;
            json!({"sent": sent, "write_stalls": stalls, "outcome": outcome})
        }));
    }
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < seconds {
        if let Some(p) = pid {
            if let Some(r) = vm_rss(p) {
                samples.push(r);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut per_client = Vec::new();
    for t in tasks {
        per_client.push(t.await?);
    }
    let rss_after = pid.and_then(vm_rss);
    let peak = samples.iter().copied().max();
    Ok(json!({
        "mode": "slow-reader",
        "clients": clients,
        "seconds": seconds.as_secs_f64(),
        "server_rss_before_bytes": rss_before,
        "server_rss_peak_bytes": peak,
        "server_rss_after_bytes": rss_after,
        "server_rss_growth_bytes": match (rss_before, peak) { (Some(b), Some(p)) => Some(p.saturating_sub(b)), _ => None },
        "clients_detail": per_client,
    }))
}
