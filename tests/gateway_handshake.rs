//! The OpenClaw handshake and methods over a real loopback socket against the real binary.

#[path = "gateway_support/mod.rs"]
mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

#[tokio::test]
async fn handshake_negotiates_v4_v3_and_highest_of_range() {
    let server = Server::in_process(&[]);
    for (min, max, want) in [(4, 4, 4), (3, 3, 3), (3, 4, 4), (1, 9, 4)] {
        let mut ws = open(&server.url()).await;
        let res = handshake(&mut ws, min, max, Some(TOKEN)).await;
        assert_eq!(keys(&res), ["id", "ok", "payload", "type"], "{res}");
        assert_eq!(res["type"], "res");
        assert_eq!(res["id"], "c1");
        assert_eq!(res["ok"], true);
        let hello = &res["payload"];
        assert_eq!(
            keys(hello),
            ["auth", "features", "policy", "protocol", "server", "snapshot", "type"]
        );
        assert_eq!(hello["type"], "hello-ok");
        assert_eq!(hello["protocol"], want, "range {min}..{max}");
        assert_eq!(keys(&hello["server"]), ["connId", "host", "version"]);
        assert_eq!(hello["server"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            keys(&hello["features"]),
            ["capabilities", "events", "methods"]
        );
        assert_eq!(hello["auth"]["role"], "operator");
        assert_eq!(hello["auth"]["scopes"], json!(["operator.read"]));
        assert_eq!(hello["auth"]["method"], "token");
        for m in [
            "health",
            "status",
            "system-presence",
            "config.get",
            "chat.send",
            "agent",
        ] {
            assert!(
                hello["features"]["methods"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(m)),
                "{m} not advertised"
            );
        }
        assert_eq!(
            keys(&hello["snapshot"]),
            ["health", "presence", "stateVersion", "uptimeMs"]
        );
        assert_eq!(
            keys(&hello["snapshot"]["stateVersion"]),
            ["health", "presence"]
        );
        assert_eq!(
            keys(&hello["policy"]),
            ["maxBufferedBytes", "maxPayload", "tickIntervalMs"]
        );
        let res = call(&mut ws, "h", "health", None).await;
        assert_eq!(res["ok"], true);
    }
}

#[tokio::test]
async fn challenge_comes_first_with_nonce_and_ts() {
    let server = Server::in_process(&[]);
    let mut ws = open(&server.url()).await;
    let ch = recv_json(&mut ws).await;
    assert_eq!(keys(&ch), ["event", "payload", "type"]);
    assert_eq!(ch["event"], "connect.challenge");
    assert_eq!(keys(&ch["payload"]), ["nonce", "ts"]);
    assert!(ch["payload"]["nonce"].as_str().unwrap().len() >= 32);
    assert!(ch["payload"]["ts"].as_u64().unwrap() > 1_600_000_000_000);
}

#[tokio::test]
async fn protocol_mismatch_is_refused_with_1002() {
    let server = Server::in_process(&[]);
    let mut ws = open(&server.url()).await;
    let res = handshake(&mut ws, 5, 6, Some(TOKEN)).await;
    assert_eq!(res["ok"], false);
    assert_eq!(keys(&res), ["error", "id", "ok", "type"]);
    assert_eq!(
        res["error"],
        json!({"code": "INVALID_REQUEST", "message": "protocol mismatch", "details": {"expectedProtocol": 4}})
    );
    let (code, _) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 1002);
}

#[tokio::test]
async fn non_connect_first_frame_is_refused_with_1008() {
    let server = Server::in_process(&[]);
    let mut ws = open(&server.url()).await;
    let _challenge = recv_json(&mut ws).await;
    send_json(
        &mut ws,
        &json!({"type": "req", "id": "x", "method": "health"}),
    )
    .await;
    let res = recv_json(&mut ws).await;
    assert_eq!(res["ok"], false);
    assert_eq!(res["id"], "x");
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert_eq!(
        res["error"]["message"],
        "invalid handshake: first request must be connect"
    );
    let (code, _) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 1008);

    // Not even a request: closed with 1008 as well.
    let mut ws = open(&server.url()).await;
    let _challenge = recv_json(&mut ws).await;
    send_json(&mut ws, &json!({"hello": "world"})).await;
    let (code, reason) = expect_close(&mut ws, Duration::from_secs(5)).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("first request must be connect"), "{reason}");
}

#[tokio::test]
async fn missing_and_wrong_tokens_are_refused_with_1008() {
    let server = Server::in_process(&[]);
    let cases = [
        (None, "unauthorized: gateway token missing ("),
        (Some(""), "unauthorized: gateway token missing ("),
        (
            Some("wrong-token-0123456789abcdefghijklmnop"),
            "unauthorized: gateway token mismatch (",
        ),
        (
            Some(&TOKEN[..TOKEN.len() - 1]),
            "unauthorized: gateway token mismatch (",
        ),
    ];
    for (token, prefix) in cases {
        let mut ws = open(&server.url()).await;
        let res = handshake(&mut ws, 3, 4, token).await;
        assert_eq!(res["ok"], false, "{token:?} accepted");
        assert_eq!(keys(&res), ["error", "id", "ok", "type"]);
        let msg = res["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with(prefix), "{msg}");
        assert!(msg.ends_with(')'), "{msg}");
        assert!(!msg.contains(TOKEN));
        let (code, _) = expect_close(&mut ws, Duration::from_secs(5)).await;
        assert_eq!(code, 1008);
    }
}

#[tokio::test]
async fn methods_answer_with_the_protocol_shapes() {
    let server = Server::in_process(&[]);
    let mut ws = connected(&server.url()).await;

    let res = call(&mut ws, "1", "health", None).await;
    assert_eq!(keys(&res), ["id", "ok", "payload", "type"]);
    let h = &res["payload"];
    assert_eq!(
        keys(h),
        [
            "agents",
            "channelLabels",
            "channelOrder",
            "channels",
            "defaultAgentId",
            "durationMs",
            "heartbeatSeconds",
            "ok",
            "sessions",
            "ts"
        ]
    );
    assert_eq!(h["ok"], true);
    assert_eq!(keys(&h["sessions"]), ["count", "path", "recent"]);

    let res = call(&mut ws, "2", "system-presence", None).await;
    let list = res["payload"].as_array().expect("presence is a list");
    let me = list
        .iter()
        .find(|p| p["reason"] == "self")
        .expect("self entry");
    assert_eq!(
        keys(me),
        ["host", "mode", "platform", "reason", "ts", "version"]
    );
    assert_eq!(me["mode"], "gateway");
    assert_eq!(me["version"], env!("CARGO_PKG_VERSION"));

    let res = call(&mut ws, "3", "status", None).await;
    assert_eq!(res["ok"], true);
    assert_eq!(res["payload"]["version"], env!("CARGO_PKG_VERSION"));

    let res = call(&mut ws, "4", "config.get", None).await;
    assert_eq!(res["ok"], true);
    let text = res.to_string();
    assert!(!text.contains(TOKEN), "config.get leaked the token");
    assert_eq!(
        res["payload"]["config"]["gateway"]["auth"]["token"],
        "__OPENCLAW_REDACTED__"
    );

    let res = call(&mut ws, "5", "no.such.method", Some(json!({}))).await;
    assert_eq!(res["ok"], false);
    assert_eq!(
        res["error"],
        json!({"code": "INVALID_REQUEST", "message": "unknown method: no.such.method"})
    );
}

#[tokio::test]
async fn demo_chat_answers_offline() {
    let server = Server::in_process(&[]);
    let mut ws = connected_writer(&server.url()).await;
    let (res, deltas, end) = chat_send(&mut ws, "c", "main", "hello gateway").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["status"], "started", "{res}");
    assert_eq!(end["state"], "final", "{end}");
    let text = end["message"]["content"][0]["text"]
        .as_str()
        .expect("reply text");
    assert!(text.contains("hello gateway"), "{text}");
    assert!(!deltas.is_empty());
    // The private `chat` method is gone; a missing message is refused.
    let res = call(&mut ws, "e", "chat", None).await;
    assert_eq!(res["error"]["message"], "unknown method: chat");
    let res = call(
        &mut ws,
        "f",
        "chat.send",
        Some(json!({"sessionKey": "main"})),
    )
    .await;
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
}

#[tokio::test]
async fn ticks_arrive_every_tick_interval() {
    let server = Server::in_process(&["--tick-interval-ms", "100"]);
    let mut ws = open(&server.url()).await;
    let res = handshake(&mut ws, 3, 4, Some(TOKEN)).await;
    assert_eq!(res["payload"]["policy"]["tickIntervalMs"], 100);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let ev = recv_json(&mut ws).await;
        assert_eq!(ev["event"], "tick");
        assert_eq!(keys(&ev), ["event", "payload", "type"]);
        assert_eq!(keys(&ev["payload"]), ["ts"]);
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn connect_without_protocol_range_and_repeated_connect_are_refused() {
    let server = Server::in_process(&[]);
    let mut ws = open(&server.url()).await;
    let _challenge = recv_json(&mut ws).await;
    let mut frame = connect_frame(3, 4, Some(TOKEN));
    frame["params"]
        .as_object_mut()
        .unwrap()
        .remove("minProtocol");
    send_json(&mut ws, &frame).await;
    let res = recv_json(&mut ws).await;
    assert_eq!(res["ok"], false);
    assert_eq!(res["error"]["code"], "INVALID_REQUEST");
    assert!(res["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("invalid connect params"));
    assert_eq!(expect_close(&mut ws, Duration::from_secs(5)).await.0, 1008);

    let mut ws = connected(&server.url()).await;
    let res = call(
        &mut ws,
        "again",
        "connect",
        Some(connect_frame(3, 4, Some(TOKEN))["params"].clone()),
    )
    .await;
    assert_eq!(res["error"]["message"], "already connected");
    // Binary frames are not part of the protocol.
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Binary(
        vec![1, 2, 3].into(),
    ))
    .await
    .unwrap();
    assert_eq!(expect_close(&mut ws, Duration::from_secs(5)).await.0, 1008);
}

#[tokio::test]
async fn device_block_is_accepted_but_grants_nothing() {
    let server = Server::start(&[]);
    let device = json!({
        "id": "device-fingerprint",
        "publicKey": "AAAAC3NzaC1lZDI1NTE5AAAA",
        "signature": "c2lnbmF0dXJl",
        "signedAt": 1_700_000_000_000u64,
        "nonce": "n"
    });
    for (token, ok) in [(Some(TOKEN), true), (None, false)] {
        let mut ws = open(&server.url()).await;
        let _challenge = recv_json(&mut ws).await;
        let mut frame = connect_frame(3, 4, token);
        frame["params"]["device"] = device.clone();
        send_json(&mut ws, &frame).await;
        let res = recv_json(&mut ws).await;
        assert_eq!(res["ok"], ok, "{res}");
        if !ok {
            assert!(res["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("unauthorized: gateway token missing ("));
        }
    }
    let logs = server.wait_for_log("device_identity=true");
    assert!(logs.contains("device_identity=true"), "{logs}");
}
