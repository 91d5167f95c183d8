//! Hostile clients that hold the token, against the real gateway binary over loopback
//! WebSockets: readers that never read cannot lock others out (a shared frame is
//! charged once, a stuck queue is cut whether or not its client sends requests); they
//! cannot forge or bloat log lines with the strings they send, nor plant control
//! characters in labels that other clients' terminals display.

mod gateway_support;
mod provider_support;

use std::time::Duration;

use gateway_support::*;
use provider_support::{event, sse_head, Api, Step, Stub};
use serde_json::json;

/// Readers that never read, each holding a socket with a tiny receive buffer.
const STUCK_READERS: usize = 8;

#[tokio::test]
async fn readers_that_never_read_cannot_lock_out_others() {
    // A long streamed reply: 300 deltas of 20 bytes, each event carrying the whole
    // text so far (megabytes per reader).
    let stub = Stub::start(|_| {
        let mut steps = vec![sse_head()];
        for i in 0..300 {
            let text = format!("{:<19}\n", format!("line {i}"));
            steps.push(event(
                "content_block_delta",
                &json!({"type":"content_block_delta","index":0,
                    "delta":{"type":"text_delta","text": text}})
                .to_string(),
            ));
            if i % 10 == 0 {
                steps.push(Step::Sleep(Duration::from_millis(5)));
            }
        }
        steps.push(event("message_stop", r#"{"type":"message_stop"}"#));
        steps.push(Step::End);
        steps
    })
    .await;
    let mut env = env_with_token();
    env.extend(Api::Anthropic.gateway_env(&stub, &Api::Anthropic.random_key()));
    // Each queue holds 64 KiB; all of them together 256 KiB: four stuck readers
    // charged separately would use up the budget of all connections.
    let server = Server::start_with_env(
        &[
            "--max-payload",
            "65536",
            "--max-buffered-bytes",
            "65536",
            "--max-buffered-bytes-total",
            "262144",
            "--send-timeout-ms",
            "1000",
            // Every chunk a delta: the most a stream can send.
            "--delta-interval-ms",
            "0",
        ],
        &env,
    );
    let mut stuck = Vec::new();
    for _ in 0..STUCK_READERS {
        stuck.push(connected_slow_reader(&server).await);
    }
    let mut ws = connected_writer(&server.url()).await;
    let (res, _, end) = chat_send(&mut ws, "1", "main", "go").await;

    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(end["state"], "final", "{end}");
    let text = end["message"]["content"][0]["text"].as_str().unwrap_or("");
    assert_eq!(
        text.len(),
        300 * 20,
        "the reader did not get the whole reply"
    );
    // The stuck readers are cut, though they send no requests.
    let slow = r#"clawdbot_disconnects_total{reason="slow_consumer"}"#;
    let cut = wait_metric(&server, slow, Duration::from_secs(20), |v| {
        v >= STUCK_READERS as u64
    })
    .await;
    assert_eq!(cut, STUCK_READERS as u64, "stuck readers left connected");
    // The reader that reads is still here, a new client gets in, and /ready says so.
    let res = call(&mut ws, "h", "health", None).await;
    assert_eq!(res["ok"], true, "{res}");
    let mut other = connected(&server.url()).await;
    let res = call(&mut other, "m", "models.list", Some(json!({}))).await;
    assert_eq!(res["ok"], true, "{res}");
    let (code, body) = http_get(server.health, "/ready").await;
    assert_eq!(code, 200, "{body}");
    drop(stuck);
}

#[tokio::test]
async fn client_strings_cannot_forge_or_bloat_log_lines() {
    let mut server = Server::start(&[]);
    let mut ws = connected_writer(&server.url()).await;
    let forged = "2001-01-01T00:00:00.000000Z  WARN FORGED LINE: token rotated";
    // `chat_send` makes the run id `run-<id>`.
    let (res, _, end) = chat_send(&mut ws, &format!("\n{forged}\n\u{1b}[2J"), "main", "hi").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(end["state"], "final", "{end}");
    let long = "x".repeat(250);
    let (res, _, end) = chat_send(&mut ws, &long, "main", "hi").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(end["state"], "final", "{end}");
    // The ring `logs.tail` serves has the same lines.
    let tail = call(&mut ws, "t", "logs.tail", Some(json!({}))).await;
    for line in tail["payload"]["lines"].as_array().unwrap() {
        let line = line.as_str().unwrap_or("");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    }
    // Both runs answered; stop the server so that stderr is complete before reading
    // it (no wait on when a line happens to be written).
    drop(ws);
    let (status, _) = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
    let logs = server.logs();
    assert!(
        logs.contains(&format!("run-{}", &long[..40])),
        "the long run id is not in the log at all:\n{logs}"
    );
    for line in logs.lines() {
        assert!(
            !line.starts_with(forged) && !line.starts_with("2001-01-01"),
            "a client forged a log line:\n{logs}"
        );
        assert!(!line.contains('\u{1b}'), "ESC reached the log: {line:?}");
    }
    assert!(
        logs.contains("FORGED LINE"),
        "the run id is not in the log at all:\n{logs}"
    );
    assert!(
        !logs.contains(&long),
        "a 254-character run id was logged whole"
    );
}

#[tokio::test]
async fn labels_with_control_characters_are_refused() {
    let server = Server::start(&[]);
    let mut ws = connected_writer(&server.url()).await;
    for (id, method, label) in [
        ("c1", "sessions.create", "ok\u{1b}[31mred"),
        ("c2", "sessions.create", "two\nlines"),
    ] {
        let res = call(
            &mut ws,
            id,
            method,
            Some(json!({"key": id, "label": label})),
        )
        .await;
        assert_eq!(res["ok"], false, "{res}");
        assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    }
    let res = call(
        &mut ws,
        "c3",
        "sessions.create",
        Some(json!({"key": "k", "label": "fine label"})),
    )
    .await;
    assert_eq!(res["ok"], true, "{res}");
    let res = call(
        &mut ws,
        "p1",
        "sessions.patch",
        Some(json!({"key": "k", "label": "bell\u{7}"})),
    )
    .await;
    assert_eq!(res["error"]["code"], "INVALID_REQUEST", "{res}");
    let list = call(&mut ws, "l", "sessions.list", Some(json!({}))).await;
    let text = list.to_string();
    assert!(text.contains("fine label"), "{text}");
    assert!(
        !text.contains("\\u001b") && !text.contains("\\u0007"),
        "{text}"
    );
}

/// Sends `chat.send` to session `key` without waiting.
async fn start(ws: &mut Ws, id: &str, key: &str) {
    let req = json!({"type":"req","id": id,"method":"chat.send","params":{
        "sessionKey": key,"message":"hi","idempotencyKey": format!("run-{id}")}});
    send_json(ws, &req).await
}

/// `sessions.create` of `key`; returns the response.
async fn create(ws: &mut Ws, key: &str) -> serde_json::Value {
    call(
        ws,
        &format!("c-{key}"),
        "sessions.create",
        Some(json!({"key": key})),
    )
    .await
}

#[tokio::test]
async fn a_writer_cannot_evict_an_admins_session_nor_delete_its_file() {
    let dir = std::env::temp_dir().join(format!(
        "clawdbot-hostile-auth-evict-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Server::start(&[
        "--sessions-dir",
        dir.to_str().unwrap(),
        "--max-sessions",
        "4",
    ]);
    let mut admin = connected_with_scopes(&server.url(), &["operator.admin"]).await;
    let res = create(&mut admin, "boss").await;
    assert_eq!(res["ok"], true, "{res}");
    let mut writer = connected_writer(&server.url()).await;
    let mut refused = 0;
    for i in 0..12 {
        let res = create(&mut writer, &format!("w{i}")).await;
        if res["ok"] != true {
            refused += 1;
        }
    }
    assert_eq!(refused, 0, "the writer could not rotate its own sessions");
    let res = call(
        &mut admin,
        "d",
        "sessions.describe",
        Some(json!({"key": "boss"})),
    )
    .await;
    assert_eq!(res["payload"]["session"]["key"], "agent:main:boss", "{res}");
    drop(server);
    let boss = dir.join(format!(
        "{}.json",
        "agent:main:boss"
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    assert!(boss.exists(), "the admin's session file was deleted");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn runs_and_sessions_are_capped_per_connection_and_in_all() {
    let mut env = env_with_token();
    env.push(("CLAWDBOT_DEMO_CHUNK_DELAY_MS".into(), "2000".into()));
    let server = Server::start_with_env(
        &[
            "--max-runs",
            "3",
            "--max-runs-per-connection",
            "2",
            "--max-sessions-per-connection",
            "5",
        ],
        &env,
    );
    let mut a = connected_writer(&server.url()).await;
    let mut b = connected_writer(&server.url()).await;
    for (id, key) in [("a1", "s1"), ("a2", "s2"), ("a3", "s3")] {
        start(&mut a, id, key).await;
    }
    let mut answers = std::collections::HashMap::new();
    while answers.len() < 3 {
        let f = recv_json(&mut a).await;
        if f["type"] == "res" {
            answers.insert(f["id"].as_str().unwrap_or("").to_string(), f);
        }
    }
    assert_eq!(answers["a1"]["ok"], true, "{:?}", answers);
    assert_eq!(answers["a2"]["ok"], true, "{:?}", answers);
    let third = &answers["a3"];
    assert_eq!(third["ok"], false, "{third}");
    assert_eq!(third["error"]["code"], "UNAVAILABLE", "{third}");
    assert!(
        third["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("--max-runs-per-connection"),
        "{third}"
    );
    start(&mut b, "b1", "t1").await;
    start(&mut b, "b2", "t2").await;
    let mut answers = std::collections::HashMap::new();
    while answers.len() < 2 {
        let f = recv_json(&mut b).await;
        if f["type"] == "res" {
            answers.insert(f["id"].as_str().unwrap_or("").to_string(), f);
        }
    }
    assert_eq!(answers["b1"]["ok"], true, "{:?}", answers);
    let over = &answers["b2"];
    assert_eq!(over["error"]["code"], "UNAVAILABLE", "{over}");
    assert!(
        over["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("--max-runs)"),
        "{over}"
    );
    assert_eq!(over["error"]["retryable"], true, "{over}");
    // Sessions created per connection: b made t1 (and t2 was refused before creating).
    let mut c = connected_writer(&server.url()).await;
    for i in 0..5 {
        let res = create(&mut c, &format!("c{i}")).await;
        assert_eq!(res["ok"], true, "{res}");
    }
    let res = create(&mut c, "c5").await;
    assert_eq!(res["ok"], false, "{res}");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("--max-sessions-per-connection"),
        "{res}"
    );
    // Re-creating one of its own is fine.
    let res = create(&mut c, "c0").await;
    assert_eq!(res["ok"], true, "{res}");
}

/// A writer whose `connect` declares `identity`: `("device", id)` sends `device.id` (as
/// the real CLI and TUI do), `("instance", id)` only `client.instanceId`.
async fn connected_as(url: &str, identity: (&str, &str)) -> Ws {
    let mut ws = open(url).await;
    let challenge = recv_json(&mut ws).await;
    assert_eq!(challenge["event"], "connect.challenge");
    let mut connect = connect_frame(3, 4, Some(TOKEN));
    connect["params"]["scopes"] = json!(["operator.read", "operator.write"]);
    match identity {
        ("device", id) => connect["params"]["device"] = json!({"id": id, "publicKey": "k"}),
        (_, id) => connect["params"]["client"]["instanceId"] = json!(id),
    }
    send_json(&mut ws, &connect).await;
    let res = recv_res(&mut ws).await;
    assert_eq!(res["ok"], true, "handshake failed: {res}");
    ws
}

/// Sends `chat.send` and returns its response (the run goes on).
async fn started(ws: &mut Ws, id: &str, key: &str) -> serde_json::Value {
    start(ws, id, key).await;
    recv_res(ws).await
}

fn refused_by(res: &serde_json::Value, flag: &str) -> bool {
    res["ok"] == false
        && res["error"]["code"] == "UNAVAILABLE"
        && res["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains(flag)
}

#[tokio::test]
async fn connections_of_one_client_identity_share_its_quotas() {
    let mut env = env_with_token();
    // Runs stay in progress for the whole test.
    env.push(("CLAWDBOT_DEMO_CHUNK_DELAY_MS".into(), "5000".into()));
    let server = Server::start_with_env(
        &[
            "--max-runs-per-connection",
            "2",
            "--max-runs-per-client",
            "2",
            "--max-sessions-per-connection",
            "10",
            "--max-sessions-per-client",
            "3",
        ],
        &env,
    );
    let url = server.url();
    // Two connections of device A: each is within its own quota, together they are not.
    let mut a1 = connected_as(&url, ("device", "device-a")).await;
    let mut a2 = connected_as(&url, ("device", "device-a")).await;
    let res = started(&mut a1, "a1", "x1").await;
    assert_eq!(res["ok"], true, "{res}");
    let res = started(&mut a2, "a2", "x2").await;
    assert_eq!(res["ok"], true, "{res}");
    let res = started(&mut a2, "a3", "x3").await;
    assert!(refused_by(&res, "--max-runs-per-client"), "{res}");
    assert_eq!(res["error"]["retryable"], true, "{res}");
    // Device B is another client: its runs and sessions are its own.
    let mut b = connected_as(&url, ("device", "device-b")).await;
    for (id, key) in [("b1", "y1"), ("b2", "y2")] {
        let res = started(&mut b, id, key).await;
        assert_eq!(res["ok"], true, "{res}");
    }
    // Sessions: A's runs created x1 and x2; one more from either connection, then none.
    let res = create(&mut a1, "s3").await;
    assert_eq!(res["ok"], true, "{res}");
    let res = create(&mut a2, "s4").await;
    assert!(refused_by(&res, "--max-sessions-per-client"), "{res}");
    let res = create(&mut a1, "s5").await;
    assert!(refused_by(&res, "--max-sessions-per-client"), "{res}");
    // Reusing one of them is fine, and B (two created) still has room.
    let res = create(&mut a2, "x1").await;
    assert_eq!(res["ok"], true, "{res}");
    let res = create(&mut b, "t1").await;
    assert_eq!(res["ok"], true, "{res}");
    // Without a device, `client.instanceId` is the identity.
    let mut i1 = connected_as(&url, ("instance", "instance-1")).await;
    let mut i2 = connected_as(&url, ("instance", "instance-1")).await;
    let mut i3 = connected_as(&url, ("instance", "instance-2")).await;
    for (i, key) in [(0, "i1"), (1, "i2"), (0, "i3")] {
        let ws = if i == 0 { &mut i1 } else { &mut i2 };
        let res = create(ws, key).await;
        assert_eq!(res["ok"], true, "{res}");
    }
    let res = create(&mut i2, "i4").await;
    assert!(refused_by(&res, "--max-sessions-per-client"), "{res}");
    let res = create(&mut i3, "i4").await;
    assert_eq!(res["ok"], true, "{res}");
}
