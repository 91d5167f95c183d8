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
    let server = Server::start(&[]);
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
    let logs = server.wait_for_log(&format!("run-{}", &long[..40]));
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
    // The ring `logs.tail` serves has the same lines.
    let tail = call(&mut ws, "t", "logs.tail", Some(json!({}))).await;
    for line in tail["payload"]["lines"].as_array().unwrap() {
        let line = line.as_str().unwrap_or("");
        assert!(!line.contains('\n') && !line.contains('\u{1b}'), "{line:?}");
    }
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
