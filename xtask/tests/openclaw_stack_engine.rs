//! Engine test of the OpenClaw stack, on the demo's own stack and probes: it runs
//! `cargo xtask demo --app openclaw --keep` (the stack rendered from templates/openclaw/
//! with the demo model behind an internal network; probes `/healthz`, the host CLI's
//! `gateway health` and `agent` reply from the demo model, the Control UI in headless
//! Chromium connecting and chatting, the in-container `security audit` with 0 critical,
//! `verify --runtime` 10/10), then checks the kept stack: healthy; the `docker inspect`
//! posture; OpenClaw only on the internal network, the port published on loopback by the
//! forwarder only; no shell under any usual name; the root filesystem is read-only; no
//! token or key in the container's environment; the host CLI needs the token; the
//! devices the probes paired; after `docker restart` the state volume still holds the same
//! gateway state and the paired devices, its files are uid 1000 and none holds the token
//! or a key in clear. Then it removes the stack.
//!
//! The image is built (`cargo xtask build --app openclaw`) when it is missing. The
//! gateway starts once (ready after 20-40 s, healthy within ~90 s on a loaded 2-core
//! machine; the image test `openclaw_image.rs` starts none) and restarts once.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clawdbot_facts::openclaw as facts;
use support::{have_engine, openclaw_cli, wait_for};

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

/// The demo's kept project; `compose down -v` and its temp dir removed when dropped.
struct Stack {
    project: String,
    dir: PathBuf,
}

impl Stack {
    fn compose(&self, args: &[&str]) -> (bool, String) {
        let file = self.dir.join("docker-compose.yml");
        let env_file = self.dir.join(".env");
        let out = Command::new("docker")
            .args(["compose", "-p", &self.project, "--project-directory"])
            .arg(&self.dir)
            .arg("--env-file")
            .arg(&env_file)
            .arg("-f")
            .arg(&file)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run compose");
        support::outcome(&out)
    }

    fn container(&self, service: &str) -> String {
        let (_, out) = self.compose(&["ps", "-q", service]);
        out.lines().next().unwrap_or("").trim().to_owned()
    }

    fn logs(&self) -> String {
        self.compose(&["logs", "--no-color", "--tail", "60"]).1
    }

    fn read(&self, secret: &str) -> String {
        std::fs::read_to_string(self.dir.join("secrets").join(secret))
            .unwrap_or_else(|e| panic!("reading the demo's {secret}: {e}"))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--remove-orphans"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

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
    let _lock = support::demo_lock();
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["demo", "--app", "openclaw", "--keep"])
        .current_dir(support::repo_root())
        .stdin(Stdio::null())
        .output()
        .expect("run xtask demo");
    let (ok, text) = support::outcome(&out);
    let project = support::demo_project(&text);
    let stack = Stack {
        dir: std::env::temp_dir().join(&project),
        project,
    };
    assert!(ok, "the OpenClaw demo failed:\n{text}");
    // The demo's probes, each with its evidence: the host CLI's agent reply and the
    // Control UI's chat answer come from the demo model through OpenClaw.
    for evidence in [
        "/healthz -> 200",
        "openclaw gateway health (real CLI, host",
        "openclaw agent --agent main --message ... (real CLI, host",
        "Control UI (headless Chromium",
        "connected; chat -> [demo]",
        "(in the container): 0 critical",
        "checklist 10/10",
    ] {
        assert!(text.contains(evidence), "no {evidence:?} in:\n{text}");
    }
    // The OpenClaw container's in-container view is its own audit, not our self-check
    // (its image has no clawdbot binary): runtime verify must not report it missing.
    assert!(
        !text.contains("runtime-selfcheck-unavailable"),
        "verify --runtime tried the self-check in the OpenClaw container:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains("openclaw agent --agent main") && l.contains("-> [demo]")),
        "the agent reply is not the demo model's:\n{text}"
    );
    let token = stack.read(facts::TOKEN_SECRET);
    let keys = [stack.read("demo_model_key")];
    let port = clawdbot_facts::GATEWAY_PORT;
    let container = stack.container(facts::SERVICE_NAME);
    assert!(!container.is_empty(), "no container:\n{}", stack.logs());
    assert!(healthy(&container), "not healthy:\n{}", stack.logs());

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
    // OpenClaw publishes nothing and sits only on internal networks (no route out); the
    // forwarder publishes the port, on loopback only.
    assert!(
        matches!(fields[9], "{}" | "null"),
        "OpenClaw publishes a port: {posture}"
    );
    let networks = docker_ok(&[
        "inspect",
        "-f",
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
        &container,
    ]);
    for net in networks.split_whitespace() {
        let internal = docker_ok(&["network", "inspect", "-f", "{{.Internal}}", net]);
        assert_eq!(internal.trim(), "true", "{net} is not internal");
    }
    let forwarder = stack.container("egress");
    let ports = docker_ok(&[
        "inspect",
        "-f",
        "{{json .HostConfig.PortBindings}}",
        &forwarder,
    ]);
    assert!(
        ports.contains("\"HostIp\":\"127.0.0.1\"") && !ports.contains("0.0.0.0"),
        "{ports}"
    );

    // No shell under any of its usual names; the root filesystem is read-only.
    for shell in ["sh", "/bin/sh", "bash", "/bin/bash", "busybox", "ash"] {
        let (ok, out) = docker(&["exec", &container, shell, "-c", "id"]);
        assert!(!ok, "`docker exec {shell}` ran:\n{out}");
    }
    let (ok, out) = docker(&[
        "exec",
        &container,
        facts::NODE_BIN,
        "-e",
        "require('fs').writeFileSync('/opt/openclaw/x','x')",
    ]);
    assert!(!ok, "wrote into /opt/openclaw:\n{out}");

    // It runs as uid 1000; the state volume (mode 0700, and what openclaw wrote in it) is
    // the user's; the workspace templates openclaw seeds from survived pruning.
    let probe = "const fs=require('fs');const st=fs.statSync(process.argv[1]);console.log(process.getuid()+' '+st.uid+' '+(st.mode&0o777).toString(8)+' '+fs.existsSync('/opt/openclaw/node_modules/openclaw/docs/reference/templates/AGENTS.md'))";
    let out = docker_ok(&[
        "exec",
        &container,
        facts::NODE_BIN,
        "-e",
        probe,
        facts::STATE_DIR,
    ]);
    assert_eq!(out.trim(), "1000 1000 700 true", "{out}");

    // No secret in the environment.
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

    // The in-container CLI (loopback, the token from the secret file); the demo ran its
    // security audit.
    let (ok, out) = in_container(&container, &["gateway", "health"]);
    assert!(
        ok && out.contains("OK"),
        "gateway health in the container:\n{out}"
    );

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

    // The devices the demo's probes paired: the Control UI's browser silently (behind
    // Docker NAT its peer is the forwarder's address; 2026.9.6 treats a token-authenticated
    // Control UI with a loopback Host and Origin and a private peer as container-local),
    // and the host CLI's device approved with the in-container CLI; no allowInsecureAuth
    // and no dangerous flag in the config.
    let devices = paired_devices(&container);
    for client in ["openclaw-control-ui", "cli"] {
        assert!(
            devices.contains(&client.to_owned()),
            "{client} not paired: {devices:?}"
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
    let kept = paired_devices(&container);
    assert_eq!(kept, devices, "the paired devices were lost by the restart");
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
