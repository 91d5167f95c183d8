//! Hostile clients that hold the token, against the real gateway binary over loopback
//! WebSockets: they cannot forge or bloat log lines with the strings they send, nor
//! plant control characters in labels that other clients' terminals display.

mod gateway_support;

use gateway_support::*;
use serde_json::json;

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
