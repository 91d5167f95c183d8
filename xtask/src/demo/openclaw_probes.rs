//! Probes of the real OpenClaw gateway in the demo stack: the host's `openclaw` CLI
//! (`gateway health`; `agent --message`, approving its device once with the in-container
//! CLI when the gateway asks for pairing), the Control UI in headless Chromium (driven by
//! playwright-core: connect, type a chat message, wait for the demo answer) and the
//! in-container `security audit --json`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use super::probes::{self, cli_answer, cli_command, cli_home, OpenclawCli, AGENT_ARGS};
use crate::openclaw::cli::exec_command;
use crate::tasks::Command;
use crate::verify::secrets::mask;

/// What the demo model answers starts with this (the demo provider's echo).
pub const DEMO_ANSWER_PREFIX: &str = "[demo]";

/// The Control UI script (ES module run by the tools' Node).
const CONTROL_UI_SCRIPT: &str = include_str!("control_ui.mjs");
/// The message the script types into the Control UI's chat.
pub const UI_MESSAGE: &str = "hello from the Control UI";

/// Debian's Chromium, which playwright-core drives.
const CHROMIUM: &str = "/usr/bin/chromium";

/// `openclaw gateway health` from the host against `addr` (token from the private config).
pub fn gateway_health(cli: &OpenclawCli, addr: SocketAddr, token: &str) -> Result<String> {
    let home = cli_home(addr, token)?;
    let out = cli_command(cli, home.path(), &["gateway", "health"])
        .output()
        .context("running the openclaw CLI")?;
    let answer = cli_answer(&out, "openclaw gateway health", token)?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !text.contains("OK") {
        bail!(
            "openclaw gateway health did not report OK: {}",
            text.replace(token, &mask(token))
        );
    }
    Ok(answer)
}

/// The agent's answer, and the pairing request approved on the way (if any).
pub struct AgentRun {
    pub answer: String,
    pub approved: Option<String>,
}

/// `openclaw agent --message` from the host at `addr`, a non-loopback address of the
/// stack (on a loopback URL the CLI leaves its device identity out, and the gateway,
/// which sees the forwarder's address, clears the scopes of a device-less connection:
/// `missing scope: operator.write`). With its device identity and the token, the CLI is a
/// new remote device and the gateway asks for pairing: the request is approved with the
/// in-container CLI (`devices approve <requestId>`, over the container's loopback), as
/// docs/openclaw.md tells a user to, and the same HOME (same device) runs it again.
pub fn agent_paired(
    cli: &OpenclawCli,
    addr: SocketAddr,
    token: &str,
    container: &str,
) -> Result<AgentRun> {
    let home = cli_home(addr, token)?;
    let first = cli_command(cli, home.path(), AGENT_ARGS)
        .output()
        .context("running the openclaw CLI")?;
    if first.status.success() {
        let answer = demo_answer(cli_answer(&first, "openclaw agent", token)?)?;
        return Ok(AgentRun {
            answer,
            approved: None,
        });
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    if !text.to_lowercase().contains("pairing") {
        cli_answer(&first, "openclaw agent", token)?;
    }
    let request = match request_id(&text) {
        Some(id) => id,
        None => pending_request(container)?,
    };
    let approve = in_container(container, &["devices", "approve", &request]).output()?;
    if !approve.status.success() {
        bail!(
            "devices approve {request} in the container failed: {}",
            crate::tasks::tail(&approve, 20)
        );
    }
    let second = cli_command(cli, home.path(), AGENT_ARGS)
        .output()
        .context("running the openclaw CLI")?;
    let answer = demo_answer(cli_answer(
        &second,
        "openclaw agent (after pairing)",
        token,
    )?)?;
    Ok(AgentRun {
        answer,
        approved: Some(request),
    })
}

/// The id in the CLI's `device pairing required (requestId: <id>)`.
fn request_id(text: &str) -> Option<String> {
    let re = regex::Regex::new(r"requestId: ([0-9A-Za-z-]{8,64})").ok()?;
    re.captures(text).map(|c| c[1].to_owned())
}

fn demo_answer(answer: String) -> Result<String> {
    if !answer.contains(DEMO_ANSWER_PREFIX) {
        bail!("the answer is not the demo model's: {answer:?}");
    }
    Ok(answer)
}

/// `node ENTRY <args>` in the container: what `cargo xtask openclaw <args>` runs.
fn in_container(container: &str, args: &[&str]) -> Command {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    exec_command(container, &args, false)
}

/// The JSON object in a CLI's output (it may print banners around it).
fn json_in(text: &str) -> Result<Value> {
    let (Some(a), Some(b)) = (text.find('{'), text.rfind('}')) else {
        bail!(
            "no JSON object in: {}",
            text.chars().take(400).collect::<String>()
        );
    };
    serde_json::from_str(&text[a..=b]).context("parsing the CLI's JSON")
}

/// The newest pending pairing request (`devices list --json` inside the container).
fn pending_request(container: &str) -> Result<String> {
    let out = in_container(container, &["devices", "list", "--json"]).capture()?;
    let list = json_in(&String::from_utf8_lossy(&out.stdout))?;
    list["pending"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|r| r["requestId"].as_str())
        .map(str::to_owned)
        .context("the gateway asked for pairing but lists no pending request")
}

/// `security audit --json` in the container: (critical, warn, info).
pub fn security_audit(container: &str) -> Result<(u64, u64, u64)> {
    let out = in_container(container, &["security", "audit", "--json"]).capture()?;
    let report = json_in(&String::from_utf8_lossy(&out.stdout))?;
    let n = |k: &str| report["summary"][k].as_u64().unwrap_or(0);
    if report["summary"].is_null() {
        bail!("the audit report has no summary");
    }
    Ok((n("critical"), n("warn"), n("info")))
}

/// Node (from the tools) and playwright-core, and Debian's Chromium.
fn browser_parts() -> Option<(PathBuf, PathBuf)> {
    let tools = probes::tools_dir()?;
    let cli = probes::openclaw_cli()?;
    (Path::new(CHROMIUM).is_file() && tools.join("node_modules/playwright-core").is_dir())
        .then_some((cli.node, tools))
}

pub fn browser_available() -> bool {
    browser_parts().is_some()
}

/// Opens the Control UI at `http://addr/` in headless Chromium with the token in the URL
/// fragment (never sent over HTTP), waits until it is connected, types [`UI_MESSAGE`]
/// into the chat and waits for the demo answer; returns the answer the page shows.
pub fn control_ui_chat(addr: SocketAddr, token: &str) -> Result<String> {
    let (node, tools) = browser_parts().context("Chromium or playwright-core is missing")?;
    let dir = crate::tempdir::TempDir::new("clawdbot-demo-ui")?;
    let script = dir.path().join("control-ui.mjs");
    std::fs::write(&script, CONTROL_UI_SCRIPT)?;
    let out = Command::exe(&node, &[])
        .arg(&script)
        .env("TOOLS", &tools.to_string_lossy())
        .env("CHROMIUM", CHROMIUM)
        .env("UI_URL", &format!("http://{addr}/"))
        .secret_env("UI_TOKEN", token)
        .env("UI_PROFILE", &dir.path().join("profile").to_string_lossy())
        .env("UI_MESSAGE", UI_MESSAGE)
        .env("UI_EXPECT", DEMO_ANSWER_PREFIX)
        .current_dir(dir.path())
        .output()
        .context("running the Control UI script")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .replace(token, &mask(token));
    match text.lines().find_map(|l| l.strip_prefix("UI-CHAT-OK ")) {
        Some(answer) if out.status.success() => Ok(answer.trim().to_owned()),
        _ => bail!(
            "the Control UI did not connect and chat:\n{}",
            crate::tasks::tail_text(&text, 40)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_request_id_and_the_audit_json() {
        let text = "gateway connect failed: GatewayClientRequestError: device pairing required (requestId: 0f86cc78-030d-476d-bc82-0892a377d717)";
        assert_eq!(
            request_id(text).as_deref(),
            Some("0f86cc78-030d-476d-bc82-0892a377d717")
        );
        assert_eq!(request_id("missing scope: operator.write"), None);
        let v = json_in("banner\n{\"summary\": {\"critical\": 0}}\n").unwrap();
        assert_eq!(v["summary"]["critical"], 0);
        assert!(json_in("no json").is_err());
        assert!(demo_answer("[demo] You said: hi".into()).is_ok());
        assert!(demo_answer("something else".into()).is_err());
    }
}
