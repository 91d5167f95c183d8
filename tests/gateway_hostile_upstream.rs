//! A hostile upstream against the real gateway binary (`clawdbot serve` pointed at a
//! loopback stub): a provider that echoes its own key split across deltas, in a long
//! error message, in a long error type and as the model name must not get any part of
//! the key into `chat`/`agent` events, `chat.history`, the session file, stderr or
//! `logs.tail`; and a `retry-after` of years is passed on capped at one hour.

mod gateway_support;
mod provider_support;

use gateway_support::*;
use provider_support::{event, json_response, sse_head, Api, Step, Stub};
use serde_json::{json, Value};

/// True when `text` holds 8 or more consecutive characters of the key's secret part
/// (everything after the public `prefix` except the 4 characters the mask shows).
fn leaks(text: &str, key: &str, prefix: &str) -> bool {
    let secret = &key.as_bytes()[prefix.len()..key.len() - 4];
    secret
        .windows(8)
        .any(|w| text.contains(std::str::from_utf8(w).unwrap_or("\u{0}")))
}

fn delta(text: &str) -> Step {
    event(
        "content_block_delta",
        &json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":text}})
            .to_string(),
    )
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "clawdbot-hostile-upstream-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `clawdbot serve` pointed at `stub` with a random Anthropic key, and the frames of
/// one `agent` run (`run_id`) up to its final response. Returns the server (alive for
/// its logs), the connection, the key and the frames.
async fn agent_run(stub: &Stub, run_id: &str) -> (Server, Ws, String, Vec<Value>) {
    let key = Api::Anthropic.random_key();
    let mut env = env_with_token();
    env.extend(Api::Anthropic.gateway_env(stub, &key));
    let server = Server::start_with_env(&[], &env);
    let mut ws = connected_writer(&server.url()).await;
    let send = json!({"type":"req","id":"s","method":"agent","params":{
        "sessionKey":"main","message":"hi","idempotencyKey": run_id}});
    send_json(&mut ws, &send).await;
    let frames = frames_until_end(&mut ws, run_id, Some("s")).await;
    (server, ws, key, frames)
}

/// Every frame until this run's terminal `chat` event (and, for `agent`, its final
/// response), as text.
async fn frames_until_end(ws: &mut Ws, run_id: &str, want_res: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let (mut ended, mut answered) = (false, want_res.is_none());
    while !(ended && answered) {
        let f = recv_json(ws).await;
        if f["type"] == "event"
            && f["event"] == "chat"
            && f["payload"]["runId"] == run_id
            && f["payload"]["state"] != "delta"
        {
            ended = true;
        }
        if f["type"] == "res" && Some(f["id"].as_str().unwrap_or("")) == want_res {
            answered = f["payload"]["status"] != "accepted";
        }
        out.push(f);
    }
    out
}

#[tokio::test]
async fn a_key_echoed_across_deltas_and_as_the_model_is_masked_everywhere() {
    let prefix = Api::Anthropic.key_prefix();
    let stub = Stub::start(|req| {
        let key = req.header("x-api-key").unwrap_or("").to_string();
        let (a, b) = key.split_at(20);
        vec![
            sse_head(),
            event(
                "message_start",
                &json!({"type":"message_start","message":{"model": key}}).to_string(),
            ),
            delta("your key is "),
            delta(a),
            delta(b),
            // Then once more, one character per delta.
            delta(" and again "),
        ]
        .into_iter()
        .chain(key.chars().map(|c| delta(&c.to_string())))
        .chain([
            delta(" done"),
            event("message_stop", r#"{"type":"message_stop"}"#),
            Step::End,
        ])
        .collect()
    })
    .await;
    let dir = temp_dir("split");
    let key = Api::Anthropic.random_key();
    let mut env = env_with_token();
    env.extend(Api::Anthropic.gateway_env(&stub, &key));
    let server = Server::start_with_env(&["--sessions-dir", dir.to_str().unwrap()], &env);
    let mut ws = connected_writer(&server.url()).await;
    let send = json!({"type":"req","id":"s","method":"agent","params":{
        "sessionKey":"main","message":"hi","idempotencyKey":"run-split"}});
    send_json(&mut ws, &send).await;
    let frames = frames_until_end(&mut ws, "run-split", Some("s")).await;
    let all = serde_json::to_string(&frames).unwrap();
    assert!(!leaks(&all, &key, prefix), "key in the run's frames: {all}");
    // The reply is there, masked (the public prefix and the last 4 characters remain).
    let masked = format!("sk-ant-…{}", &key[key.len() - 4..]);
    assert!(
        all.contains(&format!("your key is {masked} and again {masked} done")),
        "{all}"
    );

    let history = call(
        &mut ws,
        "h",
        "chat.history",
        Some(json!({"sessionKey": "main"})),
    )
    .await;
    assert_eq!(history["ok"], true, "{history}");
    assert!(
        !leaks(&history.to_string(), &key, prefix),
        "key in chat.history: {history}"
    );
    let tail = call(&mut ws, "t", "logs.tail", Some(json!({}))).await;
    assert!(
        !leaks(&tail.to_string(), &key, prefix),
        "key in logs.tail: {tail}"
    );
    for f in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(f.path()).unwrap_or_default();
        assert!(
            !leaks(&text, &key, prefix),
            "key in {}: {text}",
            f.path().display()
        );
    }
    // stderr: the run's log line names the model the upstream said.
    server.wait_for_log("run finished");
    assert!(
        !leaks(&server.logs(), &key, prefix),
        "key in stderr: {}",
        server.logs()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn long_error_texts_are_masked_before_they_are_cut() {
    let prefix = Api::Anthropic.key_prefix();
    let stub = Stub::start(|req| {
        let key = req.header("x-api-key").unwrap_or("").to_string();
        // The key straddles every cut: 200 characters of message, 64 of type, 300 of
        // the error detail's preview.
        let message = format!("{}{key} {}{key}", "m".repeat(185), "n".repeat(90));
        let kind = format!("{}{key}", "t".repeat(40));
        json_response(
            400,
            &[],
            &json!({"type":"error","error":{"type": kind,"message": message}}).to_string(),
        )
    })
    .await;
    let (server, mut ws, key, frames) = agent_run(&stub, "run-err").await;
    let all = serde_json::to_string(&frames).unwrap();
    assert!(all.contains("\"errorMessage\""), "{all}");
    assert!(!leaks(&all, &key, prefix), "key in the error frames: {all}");
    let tail = call(&mut ws, "t", "logs.tail", Some(json!({}))).await;
    assert!(
        !leaks(&tail.to_string(), &key, prefix),
        "key in logs.tail: {tail}"
    );
    server.wait_for_log("run failed");
    assert!(
        !leaks(&server.logs(), &key, prefix),
        "key in stderr: {}",
        server.logs()
    );
}

#[tokio::test]
async fn retry_after_from_upstream_is_capped_at_one_hour() {
    let stub = Stub::start(|_| {
        json_response(
            429,
            &[("retry-after", "999999999")],
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#,
        )
    })
    .await;
    let (_server, _ws, _key, frames) = agent_run(&stub, "run-429").await;
    let res = frames
        .iter()
        .rev()
        .find(|f| f["type"] == "res" && f["id"] == "s")
        .expect("the agent's final response");
    assert_eq!(res["ok"], false, "{res}");
    assert_eq!(res["error"]["retryAfterMs"], 3_600_000, "{res}");
    let msg = res["error"]["message"].as_str().unwrap_or("");
    assert!(msg.contains("retry after 3600 s"), "{msg}");
}

#[tokio::test]
async fn a_reply_in_tiny_deltas_costs_each_reader_a_small_multiple_of_the_reply() {
    // 3000 deltas of 13 bytes: unthrottled, every reader would get about 2 x 3000 x
    // 19.5 KB = 117 MB of events.
    const DELTAS: usize = 3000;
    let stub = Stub::start(|_| {
        let mut steps = vec![sse_head()];
        for i in 0..DELTAS {
            steps.push(delta(&format!("{:<12}|", i)));
            if i % 100 == 99 {
                steps.push(Step::Sleep(std::time::Duration::from_millis(20)));
            }
        }
        steps.push(event("message_stop", r#"{"type":"message_stop"}"#));
        steps.push(Step::End);
        steps
    })
    .await;
    let mut env = env_with_token();
    env.extend(Api::Anthropic.gateway_env(&stub, &Api::Anthropic.random_key()));
    let server = Server::start_with_env(&[], &env);
    let mut ws = connected_writer(&server.url()).await;
    let send = json!({"type":"req","id":"s","method":"chat.send","params":{
        "sessionKey":"main","message":"hi","idempotencyKey":"run-tiny"}});
    send_json(&mut ws, &send).await;
    let frames = frames_until_end(&mut ws, "run-tiny", None).await;
    let reply = DELTAS * 13;
    let streamed: usize = frames
        .iter()
        .filter(|f| {
            f["type"] == "event"
                && (f["payload"]["state"] == "delta" || f["payload"]["stream"] == "assistant")
        })
        .map(|f| f.to_string().len())
        .sum();
    let deltas = frames
        .iter()
        .filter(|f| f["payload"]["state"] == "delta")
        .count();
    assert!(deltas >= 1, "no delta streamed");
    let end = frames.last().unwrap();
    assert_eq!(
        end["payload"]["message"]["content"][0]["text"]
            .as_str()
            .map(str::len),
        Some(reply),
        "{end}"
    );
    assert!(
        streamed <= 12 * reply,
        "{deltas} deltas carried {streamed} bytes for a {reply}-byte reply"
    );
}
