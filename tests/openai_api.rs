//! The OpenAI-compatible HTTP API of `clawdbot serve --openai-api`, over real sockets:
//! off by default; models and completions (JSON and SSE) from the demo provider; the
//! bearer token, the failed-auth budget and the origin policy; OpenAI-shaped errors
//! without keys; body, message, concurrency and deadline bounds; a client that goes
//! away or stops reading cancels the upstream request (the loopback stub sees the
//! close); metrics.

mod gateway_support;
mod provider_support;

use std::net::SocketAddr;
use std::time::Duration;

use gateway_support::*;
use provider_support::{data, json_response, sse_head, Api, Step, Stub, BOUND};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One raw HTTP/1.1 request with `Connection: close`; returns (status, head, body
/// de-chunked).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request_head(addr, method, path, headers, body.len()).as_bytes())
        .await
        .unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut buf))
        .await
        .expect("response within the bound")
        .unwrap();
    split(&buf)
}

fn request_head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    len: usize,
) -> String {
    let mut h = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        h.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {len}\r\n"
        ));
    }
    h.push_str("\r\n");
    h
}

/// Sends one chat completion request with `body` on `s`, without reading the answer.
async fn send_on(mut s: TcpStream, body: &str) -> TcpStream {
    let addr = s.peer_addr().unwrap();
    let head = request_head(addr, "POST", "/v1/chat/completions", &[AUTH], body.len());
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    s
}

/// Opens a connection and sends one chat completion request with `body`.
async fn send_completion(addr: SocketAddr, body: &str) -> TcpStream {
    send_on(TcpStream::connect(addr).await.unwrap(), body).await
}

fn split(buf: &[u8]) -> (u16, String, String) {
    let text = String::from_utf8_lossy(buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if header_value(head, "transfer-encoding").contains("chunked") {
        dechunk(body)
    } else {
        body.to_string()
    };
    (code, head.to_string(), body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

const AUTH: (&str, &str) = (
    "Authorization",
    "Bearer test-token-0123456789abcdefghijklmnop",
);

async fn post(server: &Server, body: &Value) -> (u16, String, String) {
    request(
        server.gateway,
        "POST",
        "/v1/chat/completions",
        &[AUTH],
        &body.to_string(),
    )
    .await
}

fn api_server(extra: &[&str]) -> Server {
    let mut args = vec!["--openai-api"];
    args.extend_from_slice(extra);
    Server::start(&args)
}

/// The `data:` payloads of an SSE body, in order.
fn events(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|e| e.trim().strip_prefix("data: ").map(str::to_string))
        .collect()
}

fn error_of(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let err = v["error"].clone();
    assert!(
        err["message"].is_string() && err["type"].is_string(),
        "{body}"
    );
    err
}

fn hello() -> Value {
    json!({"model":"demo/demo","messages":[
        {"role":"system","content":"You are terse."},
        {"role":"user","content":"hello there"}]})
}

#[tokio::test]
async fn off_by_default_and_on_with_the_environment() {
    let off = Server::start(&[]);
    let (code, _, _) = post(&off, &hello()).await;
    assert_eq!(code, 404, "the API must be off without --openai-api");
    for value in ["1", "true"] {
        let mut env = env_with_token();
        env.push(("CLAWDBOT_OPENAI_API".into(), value.into()));
        let on = Server::start_with_env(&[], &env);
        let (code, _, body) = post(&on, &hello()).await;
        assert_eq!(code, 200, "CLAWDBOT_OPENAI_API={value}: {body}");
    }
    let mut env = env_with_token();
    env.push(("CLAWDBOT_OPENAI_API".into(), "false".into()));
    let off = Server::start_with_env(&[], &env);
    assert_eq!(post(&off, &hello()).await.0, 404);
}

#[tokio::test]
async fn models_and_completions_from_the_demo_provider() {
    let server = api_server(&[]);
    let (code, _, body) = request(server.gateway, "GET", "/v1/models", &[AUTH], "").await;
    assert_eq!(code, 200, "{body}");
    let models: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "demo/demo");
    assert_eq!(models["data"][0]["object"], "model");

    let (code, _, body) = post(&server, &hello()).await;
    assert_eq!(code, 200, "{body}");
    let whole: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], "demo/demo");
    assert_eq!(whole["choices"][0]["finish_reason"], "stop");
    let text = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.contains("hello there") && text.contains("[demo]"),
        "{text}"
    );
    assert!(whole["usage"]["total_tokens"].as_u64().unwrap() > 0);

    // A bare catalog id resolves like models.list's.
    let mut bare = hello();
    bare["model"] = json!("demo");
    assert_eq!(post(&server, &bare).await.0, 200);

    let mut streamed = hello();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let (code, head, body) = post(&server, &streamed).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        header_value(&head, "content-type").starts_with("text/event-stream"),
        "{head}"
    );
    let evs = events(&body);
    assert_eq!(evs.last().map(String::as_str), Some("[DONE]"), "{body}");
    let chunks: Vec<Value> = evs[..evs.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(joined, text, "the stream carries the same answer");
    assert!(chunks.len() > 3, "the answer is streamed in several chunks");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &chunks[chunks.len() - 1];
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], whole["usage"]);
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));

    assert!(
        wait_metric(
            &server,
            r#"clawdbot_openai_requests_total{route="chat_completions",result="ok"}"#,
            BOUND,
            |v| v >= 3
        )
        .await
            >= 3
    );
    assert_eq!(
        metric(
            &server,
            r#"clawdbot_openai_requests_total{route="models",result="ok"}"#
        )
        .await,
        1
    );
    assert_eq!(metric(&server, "clawdbot_openai_streams_total").await, 1);
    assert!(metric(&server, r#"clawdbot_openai_tokens_total{route="chat_completions",provider="demo",type="completion"}"#).await > 0);
}

#[tokio::test]
async fn refusals_are_openai_shaped() {
    let server = api_server(&[
        "--openai-max-body-bytes",
        "2048",
        "--openai-max-messages",
        "4",
    ]);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"model":"gpt-9","messages":[{"role":"user","content":"x"}]}),
            "model_not_found",
        ),
        (
            json!({"model":"demo","messages":[{"role":"user","content":"x"}],"n":2}),
            "unsupported_parameter",
        ),
        (
            json!({"model":"demo","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}),
            "unsupported_parameter",
        ),
        (
            json!({"model":"demo","messages":[{"role":"user","content":"x".repeat(3000)}]}),
            "request_too_large",
        ),
        (
            json!({"model":"demo","messages":vec![json!({"role":"user","content":"x"}); 5]}),
            "",
        ),
    ];
    for (body, code) in cases {
        let (status, _, text) = post(&server, &body).await;
        assert_eq!(status, 400, "{text}");
        let err = error_of(&text);
        assert_eq!(err["type"], "invalid_request_error", "{text}");
        if !code.is_empty() {
            assert_eq!(err["code"], code, "{text}");
        }
    }
    let (status, _, text) = request(
        server.gateway,
        "POST",
        "/v1/chat/completions",
        &[AUTH],
        "{not json",
    )
    .await;
    assert_eq!(status, 400);
    assert!(error_of(&text)["message"]
        .as_str()
        .unwrap()
        .contains("invalid JSON"));
    assert_eq!(
        metric(&server, r#"clawdbot_openai_errors_total{kind="too_large"}"#).await,
        1
    );
}

#[tokio::test]
async fn token_budget_and_origin() {
    let server = api_server(&[
        "--auth-failures",
        "3",
        "--allow-origin",
        "http://127.0.0.1:3000",
    ]);
    let (code, _, body) = request(server.gateway, "GET", "/v1/models", &[], "").await;
    assert_eq!(code, 401);
    assert_eq!(error_of(&body)["type"], "authentication_error");
    assert!(!body.contains(TOKEN));

    // A browser page from another origin is refused before the token is looked at.
    let evil = [AUTH, ("Origin", "http://evil.example")];
    assert_eq!(
        request(server.gateway, "GET", "/v1/models", &evil, "")
            .await
            .0,
        403
    );
    let good = [AUTH, ("Origin", "http://127.0.0.1:3000")];
    let (code, head, _) = request(server.gateway, "GET", "/v1/models", &good, "").await;
    assert_eq!(code, 200);
    assert_eq!(
        header_value(&head, "access-control-allow-origin"),
        "http://127.0.0.1:3000"
    );
    let pre = [
        ("Origin", "http://127.0.0.1:3000"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let (code, head, _) =
        request(server.gateway, "OPTIONS", "/v1/chat/completions", &pre, "").await;
    assert_eq!(code, 204);
    assert!(header_value(&head, "access-control-allow-headers").contains("authorization"));

    let wrong = [(
        "Authorization",
        "Bearer wrong-token-0123456789abcdefghijklmnop",
    )];
    for _ in 0..2 {
        assert_eq!(
            request(server.gateway, "GET", "/v1/models", &wrong, "")
                .await
                .0,
            401
        );
    }
    // Three failures used the budget: even the right token waits now.
    let (code, head, body) = request(server.gateway, "GET", "/v1/models", &[AUTH], "").await;
    assert_eq!(code, 429, "{body}");
    assert!(header_value(&head, "retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(error_of(&body)["type"], "rate_limit_error");
    assert_eq!(
        metric(&server, r#"clawdbot_openai_errors_total{kind="auth"}"#).await,
        3
    );
}

#[tokio::test]
async fn concurrency_and_body_deadline() {
    let mut env = env_with_token();
    env.push(("CLAWDBOT_DEMO_CHUNK_DELAY_MS".into(), "1000".into()));
    let server = Server::start_with_env(
        &[
            "--openai-api",
            "--openai-max-concurrent-per-token",
            "1",
            "--openai-body-timeout-ms",
            "300",
        ],
        &env,
    );
    // A slow stream holds the token's one place.
    let mut streamed = hello();
    streamed["stream"] = json!(true);
    let body = streamed.to_string();
    let mut held = send_completion(server.gateway, &body).await;
    let mut first = [0u8; 64];
    let n = tokio::time::timeout(BOUND, held.read(&mut first))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    let (code, head, text) = post(&server, &hello()).await;
    assert_eq!(code, 429, "{text}");
    assert_eq!(header_value(&head, "retry-after"), "1");
    drop(held);
    // The place comes back when the stream ends (its client went away).
    let freed = wait_metric(&server, "clawdbot_openai_streams_open", BOUND, |v| v == 0).await;
    assert_eq!(freed, 0);
    assert_eq!(post(&server, &hello()).await.0, 200);

    // A body announced but never sent: 408 at the body deadline.
    let mut s = TcpStream::connect(server.gateway).await.unwrap();
    s.write_all(
        request_head(server.gateway, "POST", "/v1/chat/completions", &[AUTH], 100).as_bytes(),
    )
    .await
    .unwrap();
    s.write_all(b"{\"model\":").await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(BOUND, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = s.read(&mut chunk).await.unwrap_or(0);
            buf.extend_from_slice(&chunk[..n]);
            if n == 0 || buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok());
    assert_eq!(split(&buf).0, 408, "{}", String::from_utf8_lossy(&buf));
}

fn openai_delta(text: &str) -> Step {
    data(&json!({"model":"gpt-stub","choices":[{"index":0,"delta":{"content":text},"finish_reason":null}]}).to_string())
}

fn stub_server(stub: &Stub, key: &str, extra: &[&str]) -> Server {
    let mut env = env_with_token();
    env.extend(Api::OpenAi.gateway_env(stub, key));
    let mut args = vec!["--openai-api"];
    args.extend_from_slice(extra);
    Server::start_with_env(&args, &env)
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_the_upstream_request() {
    // The text ends in '.': a trailing "s" could be the start of the key ("sk-…"), and the
    // stream scrubber holds such a tail back until the next delta shows it is not a key.
    let stub = Stub::start(|_| vec![sse_head(), openai_delta("first words."), Step::Hold]).await;
    let key = Api::OpenAi.random_key();
    let server = stub_server(&stub, &key, &[]);
    let model = "openai/gpt-4o-mini";
    // Streaming: read the first content chunk, then hang up.
    let body = json!({"model":model,"stream":true,"messages":[{"role":"user","content":"hi"}]})
        .to_string();
    let mut s = send_completion(server.gateway, &body).await;
    let mut seen = Vec::new();
    tokio::time::timeout(BOUND, async {
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).contains("first words.") {
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&seen));
            seen.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .expect("first delta within the bound");
    drop(s);
    assert!(
        stub.wait_closed(1, BOUND).await,
        "the upstream request was not cancelled"
    );

    // Non-streaming: hang up while the upstream still holds the answer.
    let body = json!({"model":model,"messages":[{"role":"user","content":"hi"}]}).to_string();
    let s = send_completion(server.gateway, &body).await;
    let deadline = tokio::time::Instant::now() + BOUND;
    while stub.requests().len() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(s);
    assert!(
        stub.wait_closed(2, BOUND).await,
        "the upstream request was not cancelled"
    );
    assert!(
        wait_metric(
            &server,
            r#"clawdbot_openai_errors_total{kind="cancelled"}"#,
            BOUND,
            |v| v >= 1
        )
        .await
            >= 1
    );
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_cut_off() {
    // The upstream streams far more than every buffer on the way holds.
    let line = format!(
        "data: {}\n\n",
        json!({"model":"gpt-stub","choices":[{"index":0,"delta":{"content":"y".repeat(900)},"finish_reason":null}]})
    );
    let stub =
        Stub::start(move |_| vec![sse_head(), Step::Flood(line.clone(), 1100), Step::Hold]).await;
    let key = Api::OpenAi.random_key();
    let server = stub_server(
        &stub,
        &key,
        &[
            "--openai-sse-buffer-bytes",
            "4096",
            "--send-timeout-ms",
            "300",
        ],
    );
    let body = json!({"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}).to_string();
    let mut s = send_on(connect_small_window(server.gateway).await, &body).await;
    // Never read: the gateway gives up on this reader, cancels upstream, cuts the socket.
    assert!(
        stub.wait_closed(1, BOUND).await,
        "the upstream request was not cancelled"
    );
    assert!(
        wait_metric(
            &server,
            r#"clawdbot_openai_errors_total{kind="slow_reader"}"#,
            BOUND,
            |v| v >= 1
        )
        .await
            >= 1
    );
    // Reading now drains what was in flight, then the connection ends without [DONE].
    let mut rest = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut rest))
        .await
        .expect("connection cut")
        .ok();
    assert!(!String::from_utf8_lossy(&rest).contains("[DONE]"));
}

/// A connection to `addr` with a small receive buffer (set before connecting, so the
/// kernel does not autotune it), so the gateway's send side fills quickly.
async fn connect_small_window(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test]
async fn upstream_failures_map_to_statuses_without_the_key() {
    let key = Api::OpenAi.random_key();
    let echoed = key.clone();
    let stub = Stub::start(move |seen| {
        let content = seen.body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if content.contains("limit") {
            json_response(
                429,
                &[("retry-after", "7")],
                r#"{"error":{"message":"slow down","type":"rate_limit"}}"#,
            )
        } else {
            let body =
                json!({"error":{"message":format!("bad key {echoed}"),"type":"server_error"}})
                    .to_string();
            json_response(500, &[], &body)
        }
    })
    .await;
    let server = stub_server(&stub, &key, &[]);
    let ask = |text: &str, stream: bool| json!({"model":"openai/gpt-4o-mini","stream":stream,"messages":[{"role":"user","content":text}]});
    let (code, _, body) = post(&server, &ask("fail", false)).await;
    assert_eq!(code, 502, "{body}");
    assert_eq!(error_of(&body)["type"], "api_error");
    assert!(!body.contains(&key[8..]), "key leaked: {body}");
    let (code, head, body) = post(&server, &ask("limit", false)).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(header_value(&head, "retry-after"), "7");
    // In a stream the failure is an error event (after the 200), never [DONE].
    let (code, _, body) = post(&server, &ask("fail", true)).await;
    assert_eq!(code, 200);
    let evs = events(&body);
    let last: Value = serde_json::from_str(evs.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{body}");
    assert!(
        !body.contains(&key[8..]) && !body.contains("[DONE]"),
        "{body}"
    );
    assert!(!server.logs().contains(&key[8..]), "key in the logs");
}
