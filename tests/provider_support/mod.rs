//! A scripted HTTP/1.1 stub on 127.0.0.1 for the provider tests: it records each request
//! and answers with a script of raw steps (status line, SSE events in chunked encoding,
//! pauses, a cut connection), and it observes when the client closes the connection.
//! [`Api`] points a provider (in process) or a gateway (its environment) at a stub, and
//! [`run`] streams one chat through a provider within the test bound.
#![allow(dead_code)]

pub mod cases;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use clawdbot::config::Secret;
use clawdbot::providers::{
    Backend, ChatMessage, ChatReply, ChatRequest, Provider, ProviderError, Upstream,
};

/// Bound on every await in the provider tests.
pub const BOUND: Duration = Duration::from_secs(15);

/// The live provider APIs a stub speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Anthropic,
    OpenAi,
}

impl Api {
    /// The public prefix of this API's keys.
    pub fn key_prefix(self) -> &'static str {
        match self {
            Api::Anthropic => "sk-ant-api03-",
            Api::OpenAi => "sk-proj-",
        }
    }

    /// A random key of this API's shape.
    pub fn random_key(self) -> String {
        random_key(self.key_prefix())
    }

    /// The model a provider built here asks for by default.
    pub fn test_model(self) -> &'static str {
        match self {
            Api::Anthropic => "claude-test",
            Api::OpenAi => "gpt-test",
        }
    }

    /// The stub's base URL as this API's setting wants it (OpenAI's includes `/v1`).
    pub fn base_url(self, stub: &Stub) -> String {
        match self {
            Api::Anthropic => stub.base.clone(),
            Api::OpenAi => format!("{}/v1", stub.base),
        }
    }

    /// A provider of this API at the stub, with `key` and the deadlines given.
    pub fn provider_with(
        self,
        stub: &Stub,
        key: &str,
        timeout: Duration,
        idle_timeout: Duration,
    ) -> Provider {
        let up = Upstream {
            key: Secret::new(key),
            base_url: self.base_url(stub),
            model: self.test_model().into(),
            timeout,
            idle_timeout,
        };
        let backend = match self {
            Api::Anthropic => Backend::Anthropic(up),
            Api::OpenAi => Backend::OpenAi(up),
        };
        Provider::with_backends(vec![backend]).expect("one backend")
    }

    /// [`Api::provider_with`] with roomy deadlines (10 s in all, 5 s of silence).
    pub fn provider(self, stub: &Stub, key: &str) -> Provider {
        self.provider_with(stub, key, Duration::from_secs(10), Duration::from_secs(5))
    }

    /// The provider's name in errors and replies.
    pub fn name(self) -> &'static str {
        match self {
            Api::Anthropic => "anthropic",
            Api::OpenAi => "openai",
        }
    }

    /// A provider of this API at `base_url` (no stub: for refusals before any I/O).
    pub fn provider_at(self, key: &str, base_url: impl Into<String>) -> Provider {
        match self {
            Api::Anthropic => Provider::anthropic(Secret::new(key), base_url.into()),
            Api::OpenAi => Provider::openai(Secret::new(key), base_url.into()),
        }
    }

    /// The variable that sets this API's base URL.
    pub fn url_var(self) -> &'static str {
        match self {
            Api::Anthropic => "ANTHROPIC_BASE_URL",
            Api::OpenAi => "OPENAI_BASE_URL",
        }
    }

    /// The opening of a successful stream: the SSE head and this API's preamble events.
    pub fn start(self) -> Vec<Step> {
        match self {
            Api::Anthropic => vec![
                sse_head(),
                event(
                    "message_start",
                    r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-stub-1","content":[],"usage":{"input_tokens":3,"output_tokens":1}}}"#,
                ),
                event(
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
                ),
                event("ping", r#"{"type": "ping"}"#),
            ],
            Api::OpenAi => vec![
                sse_head(),
                data(
                    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-stub-1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
                ),
            ],
        }
    }

    /// One text delta as this API streams it.
    pub fn delta(self, text: &str) -> Step {
        match self {
            Api::Anthropic => event(
                "content_block_delta",
                &serde_json::json!({"type":"content_block_delta","index":0,
                    "delta":{"type":"text_delta","text":text}})
                .to_string(),
            ),
            Api::OpenAi => openai_chunk(Some(text), None),
        }
    }

    /// A keep-alive this API sends between events, as raw SSE text.
    pub fn keepalive(self) -> &'static str {
        match self {
            Api::Anthropic => "event: ping\ndata: {\"type\":\"ping\"}\n\n",
            Api::OpenAi => ": ping\n\n",
        }
    }

    /// The environment that points `clawdbot serve` at the stub with `key`.
    pub fn gateway_env(self, stub: &Stub, key: &str) -> Vec<(String, String)> {
        let (key_var, url_var) = match self {
            Api::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
            Api::OpenAi => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        };
        vec![
            (key_var.to_string(), key.to_string()),
            (url_var.to_string(), self.base_url(stub)),
        ]
    }
}

/// An OpenAI `chat.completion.chunk` with an optional content delta and finish reason.
pub fn openai_chunk(content: Option<&str>, finish: Option<&str>) -> Step {
    let mut delta = serde_json::json!({});
    if let Some(c) = content {
        delta = serde_json::json!({"content": c});
    }
    data(
        &serde_json::json!({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,
            "model":"gpt-stub-1","choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
        .to_string(),
    )
}

/// A request of `(role, content)` messages.
pub fn request(messages: &[(&str, &str)], max_tokens: Option<u32>) -> ChatRequest {
    ChatRequest {
        messages: messages
            .iter()
            .map(|(role, content)| ChatMessage {
                role: role.to_string(),
                content: content.to_string(),
            })
            .collect(),
        model: None,
        max_tokens,
    }
}

/// Streams one chat through `p` within [`BOUND`], collecting the deltas.
pub async fn run(
    p: &Provider,
    req: ChatRequest,
) -> (Result<ChatReply, ProviderError>, Vec<String>) {
    let (tx, rx) = mpsc::channel(4);
    tokio::time::timeout(BOUND, async {
        tokio::join!(p.chat_stream(req, tx), collect(rx))
    })
    .await
    .expect("chat within the test bound")
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request_line: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub enum Step {
    /// Status line and headers (end with the blank line).
    Head(u16, Vec<(&'static str, String)>),
    /// Raw bytes as they are.
    Raw(Vec<u8>),
    /// One chunk of a chunked body.
    Chunk(String),
    /// The same chunk `n` times.
    Flood(String, usize),
    /// The terminating chunk of a chunked body.
    End,
    Sleep(Duration),
    /// The same chunk every interval, until the client goes away.
    Trickle(String, Duration),
    /// Keep the connection open until the client closes it.
    Hold,
}

/// `200` with an event stream in chunked encoding.
pub fn sse_head() -> Step {
    Step::Head(
        200,
        vec![
            ("content-type", "text/event-stream; charset=utf-8".into()),
            ("transfer-encoding", "chunked".into()),
        ],
    )
}

/// A named SSE event as one chunk.
pub fn event(name: &str, data: &str) -> Step {
    Step::Chunk(format!("event: {name}\ndata: {data}\n\n"))
}

/// An unnamed SSE event as one chunk.
pub fn data(data: &str) -> Step {
    Step::Chunk(format!("data: {data}\n\n"))
}

/// A complete JSON response (with `content-length`).
pub fn json_response(status: u16, extra: &[(&'static str, &str)], body: &str) -> Vec<Step> {
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("content-length", body.len().to_string()),
    ];
    headers.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    vec![
        Step::Head(status, headers),
        Step::Raw(body.as_bytes().to_vec()),
    ]
}

pub struct Stub {
    pub base: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections the client closed while the stub was still holding or writing.
    closed: watch::Receiver<usize>,
}

impl Stub {
    /// Starts a stub whose answer to the request is `script(request)`.
    pub async fn start(script: impl Fn(&Seen) -> Vec<Step> + Send + Sync + 'static) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (closed_tx, closed) = watch::channel(0usize);
        let closed_tx = Arc::new(closed_tx);
        let script = Arc::new(script);
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let (seen, script, closed_tx) = (seen2.clone(), script.clone(), closed_tx.clone());
                tokio::spawn(async move {
                    if let Some(gone) = serve(socket, &seen, &*script).await {
                        if gone {
                            closed_tx.send_modify(|n| *n += 1);
                        }
                    }
                });
            }
        });
        Stub {
            base: format!("http://{addr}"),
            seen,
            closed,
        }
    }

    /// Waits until the client has closed `n` connections the stub was still serving.
    pub async fn wait_closed(&self, n: usize, within: Duration) -> bool {
        let mut rx = self.closed.clone();
        tokio::time::timeout(within, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// Reads one request, plays the script. `Some(true)` when the client closed the
/// connection while the stub was holding or writing.
async fn serve(
    mut socket: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    script: &(dyn Fn(&Seen) -> Vec<Step> + Send + Sync),
) -> Option<bool> {
    let request = read_request(&mut socket).await?;
    seen.lock().unwrap().push(request.clone());
    for step in script(&request) {
        let bytes = match step {
            Step::Head(status, headers) => {
                let mut head = format!("HTTP/1.1 {status} Stub\r\n");
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                head.into_bytes()
            }
            Step::Raw(b) => b,
            Step::Chunk(c) => chunk(&c),
            Step::Flood(c, n) => {
                let one = chunk(&c);
                for _ in 0..n {
                    if socket.write_all(&one).await.is_err() {
                        return Some(true);
                    }
                }
                continue;
            }
            Step::End => b"0\r\n\r\n".to_vec(),
            Step::Sleep(d) => {
                tokio::time::sleep(d).await;
                continue;
            }
            Step::Trickle(c, every) => loop {
                if socket.write_all(&chunk(&c)).await.is_err() {
                    return Some(true);
                }
                tokio::time::sleep(every).await;
            },
            Step::Hold => {
                let mut buf = [0u8; 1024];
                loop {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return Some(true),
                        Ok(_) => {}
                    }
                }
            }
        };
        if socket.write_all(&bytes).await.is_err() {
            return Some(true);
        }
    }
    Some(false)
}

fn chunk(c: &str) -> Vec<u8> {
    format!("{:x}\r\n{c}\r\n", c.len()).into_bytes()
}

async fn read_request(socket: &mut TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = socket.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Seen {
        request_line,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
    })
}

/// A random key shaped like the provider's (`prefix` + 40 random characters).
pub fn random_key(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Asserts that no part of `key` (beyond its public prefix) is in the error.
pub fn assert_clean(err: &clawdbot::providers::ProviderError, key: &str, prefix: &str) {
    let text = format!("{err} {err:?}");
    assert!(!text.contains(key), "key leaked: {text}");
    let secret = &key[prefix.len()..];
    for part in secret.as_bytes().chunks(12) {
        let part = std::str::from_utf8(part).unwrap();
        if part.len() >= 8 {
            assert!(!text.contains(part), "key part leaked: {text}");
        }
    }
}

/// Collects every delta sent to the channel.
pub async fn collect(mut rx: tokio::sync::mpsc::Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(d) = rx.recv().await {
        out.push(d);
    }
    out
}
