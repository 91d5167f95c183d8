//! Real clients of the OpenAI-compatible API against `clawdbot serve --openai-api` on
//! loopback: the pinned `openai` Python SDK (installed by scripts/install-py-tools.sh)
//! lists the models, gets a completion and a stream from the demo provider, raises
//! `AuthenticationError` on a wrong key and `BadRequestError` on an oversized request,
//! and closing a stream mid-way cancels the upstream request (the loopback stub sees
//! the close); `curl -N` reads the stream to `data: [DONE]`. Without the SDK or curl the
//! tests print a loud SKIPPED line, or fail when `CI` is set.

mod gateway_support;
mod provider_support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use gateway_support::*;
use provider_support::{data, sse_head, Api, Step, Stub, BOUND};
use serde_json::json;

fn skip_or_fail(test: &str, msg: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "{msg} (CI is set, so this is an error)"
    );
    eprintln!("\n==================== SKIPPED {test}: {msg} ====================\n");
}

/// The venv python of scripts/install-py-tools.sh when it has the `openai` SDK.
fn sdk_python(test: &str) -> Option<PathBuf> {
    let py = std::env::var_os("CLAWDBOT_PY_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/clawdbot-deploy/py"))
        })
        .map(|v| v.join("bin/python"))
        .filter(|p| p.is_file());
    let ok = py.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import openai"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        skip_or_fail(
            test,
            "the openai SDK is not installed (run scripts/install-py-tools.sh)",
        );
        return None;
    }
    py
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openai_sdk/client.py")
}

/// Runs `cmd` to its end (killed past `BOUND * 4`, the testkit's one timeout
/// behaviour), without blocking the runtime.
async fn run_bounded(mut cmd: Command) -> Output {
    let shown = format!("{cmd:?}");
    let ran = tokio::task::spawn_blocking(move || {
        clawdbot_testkit::child::run_within(&mut cmd, BOUND * 4)
    })
    .await
    .expect("join")
    .expect("spawn");
    match ran {
        Ok(out) => out,
        Err(out) => panic!(
            "{shown} did not finish within the bound:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs the client script (`mode`) against `server`.
async fn run_client(py: PathBuf, mode: &'static str, server: &Server) -> Output {
    let base = format!("http://{}/v1", server.gateway);
    let mut cmd = Command::new(py);
    cmd.arg(script())
        .args([mode, &base, TOKEN])
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL");
    run_bounded(cmd).await
}

fn check(out: &Output, server: &Server) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "SDK script failed:\n{stdout}\n{}\nserver logs:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.logs()
    );
    stdout
}

#[tokio::test]
async fn the_openai_sdk_gets_demo_answers() {
    let Some(py) = sdk_python("the_openai_sdk_gets_demo_answers") else {
        return;
    };
    let server = Server::start(&["--openai-api"]);
    let out = run_client(py, "demo", &server).await;
    let stdout = check(&out, &server);
    for line in [
        "ok models.list",
        "ok completion [demo]",
        "ok stream",
        "ok wrong key -> AuthenticationError",
        "ok oversized -> BadRequestError",
        "ok unknown model -> BadRequestError",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(
        metric(&server, r#"clawdbot_openai_errors_total{kind="auth"}"#).await,
        1
    );
    assert_eq!(
        metric(&server, r#"clawdbot_openai_errors_total{kind="too_large"}"#).await,
        1
    );
}

#[tokio::test]
async fn closing_an_sdk_stream_cancels_the_upstream_request() {
    let Some(py) = sdk_python("closing_an_sdk_stream_cancels_the_upstream_request") else {
        return;
    };
    // Ends in '.': a trailing "s" could start the key ("sk-…") and would be held back by
    // the stream scrubber until the next delta.
    let delta = json!({"model":"gpt-stub","choices":[{"index":0,"delta":{"content":"first words."},"finish_reason":null}]});
    let stub = Stub::start(move |_| vec![sse_head(), data(&delta.to_string()), Step::Hold]).await;
    let mut env = env_with_token();
    env.extend(Api::OpenAi.gateway_env(&stub, &Api::OpenAi.random_key()));
    let server = Server::start_with_env(&["--openai-api"], &env);
    let out = run_client(py, "cancel", &server).await;
    let stdout = check(&out, &server);
    assert!(stdout.contains("ok first chunk first words."), "{stdout}");
    assert!(
        stub.wait_closed(1, BOUND).await,
        "closing the SDK stream did not cancel the upstream request"
    );
}

#[tokio::test]
async fn curl_reads_the_stream() {
    if Command::new("curl").arg("--version").output().is_err() {
        skip_or_fail("curl_reads_the_stream", "curl is not installed");
        return;
    }
    let server = Server::start(&["--openai-api"]);
    let body = json!({"model":"demo/demo","stream":true,"messages":[{"role":"user","content":"hi from curl"}]});
    let url = format!("http://{}/v1/chat/completions", server.gateway);
    let auth = format!("Authorization: Bearer {TOKEN}");
    let mut cmd = Command::new("curl");
    cmd.args([
        "-sS",
        "-N",
        "--max-time",
        "20",
        "-H",
        &auth,
        "-H",
        "Content-Type: application/json",
    ])
    .args(["-d", &body.to_string(), &url]);
    let out = run_bounded(cmd).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("\"delta\":{\"content\":\"[demo] You said:"),
        "{text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}
