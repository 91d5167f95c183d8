//! 1000 concurrent authenticated connections against the real binary on loopback.

#[path = "gateway_support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use support::*;

const CONNECTIONS: usize = 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_authenticated_connections() {
    raise_fd_limit();
    let server = Server::start(&["--max-connections", "1100"]);
    let url = Arc::new(server.url());
    // Handshakes run concurrently, at most 200 in flight at once.
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let (url, gate) = (url.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            connected(&url).await
        }));
    }
    let mut sockets = Vec::with_capacity(CONNECTIONS);
    for t in tasks {
        sockets.push(t.await.expect("handshake task"));
    }
    // All are open at the same time.
    let (code, body) = http_get(server.health, "/ready").await;
    assert_eq!(code, 200);
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["connections"], CONNECTIONS, "{body}");
    // The runtime stays small under load (the container has a pids limit).
    let threads = server.threads();
    assert!(threads <= 8, "server runs {threads} threads");
    // And every one of them still answers a request.
    let mut tasks = Vec::with_capacity(CONNECTIONS);
    for (i, mut ws) in sockets.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let res = call(&mut ws, &format!("h{i}"), "health", None).await;
            assert_eq!(res["ok"], true);
            ws
        }));
    }
    let mut sockets = Vec::with_capacity(CONNECTIONS);
    for t in tasks {
        sockets.push(t.await.expect("request task"));
    }
    assert_eq!(sockets.len(), CONNECTIONS);
    drop(sockets);
    // Slots are released once the clients leave.
    let mut left = usize::MAX;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (_, body) = http_get(server.health, "/ready").await;
        let v: Value = serde_json::from_str(&body).unwrap();
        left = v["connections"].as_u64().unwrap() as usize;
        if left == 0 {
            break;
        }
    }
    assert_eq!(left, 0, "connections not released");
}

/// The client side needs > 1000 descriptors; a default soft limit may be 1024.
/// The server inherits the raised limit (and raises its own too).
fn raise_fd_limit() {
    let soft = rlimit::increase_nofile_limit(u64::MAX).expect("reading the open-files limit");
    let needed = 2 * CONNECTIONS as u64 + 64;
    assert!(
        soft >= needed,
        "this test needs {needed} open files; the limit is {soft}"
    );
}
