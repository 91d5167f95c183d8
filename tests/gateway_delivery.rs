//! Delivery of the events a client cannot do without, over real loopback WebSockets: the
//! end of every run (`chat` `final`/`error`/`aborted`) reaches each reader, however
//! another stream filled its queue, or the reader is closed with a code and a reason;
//! on shutdown every client gets the `shutdown` event or a close frame with a reason,
//! never a connection that just ends (1006), and every `agent` request in flight is
//! answered or its connection closed with a reason.

mod gateway_support;

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use gateway_support::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Small queues so that the runs' streams fill a reader's; deltas unthrottled; no stall
/// cut while a test holds a reader.
const SMALL_QUEUES: &[&str] = &[
    "--send-queue",
    "16",
    "--max-payload",
    "65536",
    "--max-buffered-bytes",
    "65536",
    "--delta-interval-ms",
    "0",
    "--send-timeout-ms",
    "60000",
];

/// Bytes queued across all connections once the stuck readers of the shutdown test
/// are full (a 30 KB message behind their full sockets).
const STUCK_FILL: u64 = 30_000;

/// Runs a writer streams while a reader does not read.
const RUNS: usize = 40;

/// A message of 100 words: its demo reply streams in about 40 deltas.
fn long_message() -> String {
    "word ".repeat(100)
}

/// How a connection ended, as its client saw it.
#[derive(Debug, Default)]
struct Seen {
    /// `chat` terminal events (`final`, `error`, `aborted`) by run id.
    run_ends: HashSet<String>,
    shutdown_event: bool,
    /// Final responses of `agent` requests (after their `accepted` response).
    agent_finals: usize,
    /// The close frame's code and reason; `None` when the connection just ended.
    close: Option<(u16, String)>,
    /// The response to the request with this id arrived.
    marker: bool,
    /// How the connection ended without a close frame.
    error: Option<String>,
}

/// Reads until the close frame or the end of the connection, or (when `marker` is
/// given) the response to that request id.
async fn read_to_end<S>(ws: &mut WebSocketStream<S>, marker: Option<&str>) -> Seen
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut seen = Seen::default();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("the connection neither answered nor closed within 30 s");
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(frame))) => {
                seen.close = Some(
                    frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new())),
                );
                return seen;
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                seen.error = Some(e.to_string());
                return seen;
            }
            None => {
                seen.error = Some("end of stream".into());
                return seen;
            }
        };
        let f: Value = serde_json::from_str(text.as_str()).expect("a JSON frame");
        if f["type"] == "event" && f["event"] == "chat" {
            let state = f["payload"]["state"].as_str().unwrap_or("");
            if matches!(state, "final" | "error" | "aborted") {
                let run = f["payload"]["runId"].as_str().unwrap_or("").to_string();
                seen.run_ends.insert(run);
            }
        } else if f["type"] == "event" && f["event"] == "shutdown" {
            seen.shutdown_event = true;
        } else if f["type"] == "res" {
            if marker.is_some_and(|m| f["id"] == m) {
                seen.marker = true;
                return seen;
            }
            if f["ok"] == false || f["payload"]["status"] != "accepted" {
                seen.agent_finals += 1;
            }
        }
    }
}

/// A close frame with a code a client can act on and a reason it can show.
fn closed_with_reason(seen: &Seen) -> bool {
    seen.close
        .as_ref()
        .is_some_and(|(code, reason)| *code != 1005 && !reason.is_empty())
}

#[tokio::test]
async fn every_run_end_reaches_a_flooded_reader_or_it_is_closed_with_a_reason() {
    let server = Server::in_process(SMALL_QUEUES);
    let mut reader = connected_slow_reader(&server).await;
    let mut writer = connected_writer(&server.url()).await;
    let message = long_message();
    let mut runs = HashSet::new();
    for i in 0..RUNS {
        let (res, _, end) = chat_send(
            &mut writer,
            &format!("r{i}"),
            &format!("s{}", i % 8),
            &message,
        )
        .await;
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(end["state"], "final", "{end}");
        runs.insert(format!("run-r{i}"));
    }
    // Every run's events were queued for the reader (or not) before the writer saw its
    // final. The reader now reads; its own request's response comes after all of them.
    send_json(
        &mut reader,
        &json!({"type":"req","id":"mark","method":"health"}),
    )
    .await;
    let seen = read_to_end(&mut reader, Some("mark")).await;
    let missing: Vec<_> = runs.difference(&seen.run_ends).collect();
    eprintln!(
        "run ends: {} of {RUNS}; close: {:?}",
        RUNS - missing.len(),
        seen.close
    );
    if !missing.is_empty() {
        assert!(
            closed_with_reason(&seen),
            "{} of {RUNS} run ends lost without a close frame and reason: {seen:?}",
            missing.len()
        );
        assert_eq!(seen.close.as_ref().map(|c| c.0), Some(1013), "{seen:?}");
        let cut = r#"clawdbot_disconnects_total{reason="missed_run_end"}"#;
        let cut = wait_metric(&server, cut, Duration::from_secs(10), |v| v >= 1).await;
        assert_eq!(cut, 1, "the close is not counted");
    } else {
        assert!(seen.marker, "{seen:?}");
    }
    // The writer, which read all along, got everything and is still connected.
    let res = call(&mut writer, "h", "health", None).await;
    assert_eq!(res["ok"], true, "{res}");
}

#[tokio::test]
async fn a_reader_with_no_room_for_a_run_end_is_closed_with_a_reason() {
    let server = Server::in_process(&["--max-payload", "65536", "--max-buffered-bytes", "65536"]);
    // The reader subscribes to a session's messages and stops reading: large user
    // messages fill its socket and then its queue's bytes, so the end of a later run
    // finds no room.
    let mut reader = connected_slow_reader(&server).await;
    let res = call(
        &mut reader,
        "sub",
        "sessions.messages.subscribe",
        Some(json!({"key": "flood"})),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    let mut writer = connected_writer(&server.url()).await;
    let big = "x".repeat(30_000);
    for i in 0..16 {
        let (res, _, end) = chat_send(&mut writer, &format!("f{i}"), "flood", &big).await;
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(end["state"], "final", "{end}");
    }
    send_json(
        &mut reader,
        &json!({"type":"req","id":"mark","method":"health"}),
    )
    .await;
    let seen = read_to_end(&mut reader, Some("mark")).await;
    assert!(
        seen.run_ends.len() < 16,
        "the reader had room for every run end: the test did not fill its queue"
    );
    let (code, reason) = seen.close.clone().expect("a close frame");
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("chat.history"), "{reason}");
    let cut = r#"clawdbot_disconnects_total{reason="missed_run_end"}"#;
    let cut = wait_metric(&server, cut, Duration::from_secs(10), |v| v >= 1).await;
    assert_eq!(cut, 1, "the close is not counted");
    // The writer, which read all along, is still connected.
    let res = call(&mut writer, "h", "health", None).await;
    assert_eq!(res["ok"], true, "{res}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_reaches_every_client_with_an_event_or_a_close_reason() {
    const READERS: usize = 8;
    const STUCK: usize = 4;
    const AGENTS: usize = 6;
    let mut env = env_with_token();
    // Runs long enough to be in flight when the signal comes.
    env.push(("CLAWDBOT_DEMO_CHUNK_DELAY_MS".into(), "40".into()));
    let flags = [SMALL_QUEUES, &["--shutdown-grace-ms", "10000"]].concat();
    let mut server = Server::start_with_env(&flags, &env);
    let url = server.url();
    let mut tasks = Vec::new();
    for _ in 0..READERS {
        let mut ws = connected(&url).await;
        tasks.push(tokio::spawn(async move {
            ("reader", read_to_end(&mut ws, None).await)
        }));
    }
    // Readers that stopped reading, subscribed to the agents' sessions: their sockets
    // and then their queues fill with the runs' large messages and streams.
    let mut stuck = Vec::new();
    for _ in 0..STUCK {
        let mut ws = connected_slow_reader(&server).await;
        for i in 0..AGENTS {
            for j in 0..2 {
                let key = format!("agent-{i}-{j}");
                let params = json!({ "key": key });
                let res = call(&mut ws, &key, "sessions.messages.subscribe", Some(params)).await;
                assert_eq!(res["ok"], true, "{res}");
            }
        }
        stuck.push(ws);
    }
    // Writers with `agent` requests in flight, each reading.
    // Messages large enough that the stuck readers' sockets cannot take them all.
    let message = "word ".repeat(6_000);
    for i in 0..AGENTS {
        let mut ws = connected_writer(&url).await;
        for j in 0..2 {
            let req = json!({"type":"req","id": format!("ag{i}-{j}"),"method":"agent","params":{
                "message": message, "sessionKey": format!("agent-{i}-{j}"),
                "idempotencyKey": format!("agent-run-{i}-{j}")}});
            send_json(&mut ws, &req).await;
        }
        tasks.push(tokio::spawn(async move {
            ("agent", read_to_end(&mut ws, None).await)
        }));
    }
    // Connections still in the handshake (challenge read, no `connect` sent).
    for _ in 0..2 {
        let mut ws = open(&url).await;
        let challenge = recv_json(&mut ws).await;
        assert_eq!(challenge["event"], "connect.challenge");
        tasks.push(tokio::spawn(async move {
            ("pending", read_to_end(&mut ws, None).await)
        }));
    }
    // Let the streams run until the stuck readers' sockets are full and frames wait in
    // their queues (bytes queued across all connections; the readers that read keep
    // none for long).
    let filled = wait_metric(
        &server,
        "clawdbot_buffered_bytes",
        Duration::from_secs(20),
        |v| v >= STUCK_FILL,
    )
    .await;
    assert!(
        filled >= STUCK_FILL,
        "the stuck readers' queues never filled ({filled} bytes queued): the test would not test them"
    );
    for mut ws in stuck {
        tasks.push(tokio::spawn(async move {
            ("stuck", read_to_end(&mut ws, None).await)
        }));
    }
    // The clients read on the runtime's other threads while this one waits.
    let (status, _) = tokio::task::block_in_place(|| {
        server.signal_and_wait(libc::SIGTERM, Duration::from_secs(20))
    });
    assert!(status.success(), "{status:?}\n{}", server.logs());
    let mut bare = Vec::new();
    for task in tasks {
        let (kind, seen) = task.await.expect("a client task");
        if !seen.shutdown_event && !closed_with_reason(&seen) {
            bare.push((kind, seen));
            continue;
        }
        if kind == "agent" && seen.agent_finals < 2 {
            assert!(
                closed_with_reason(&seen),
                "an agent request was neither answered nor closed with a reason: {seen:?}"
            );
        }
    }
    assert!(
        bare.is_empty(),
        "clients that got neither `shutdown` nor a close reason: {bare:?}\n{}",
        server.logs()
    );
}
