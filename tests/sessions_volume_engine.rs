//! End-to-end on the real Docker engine: the gateway in a hardened container (uid 1000,
//! read-only root, no capabilities, no-new-privileges) with `sessions_persist` on (a
//! named volume at the data path, `CLAWDBOT_SESSIONS_DIR=/data/sessions`) keeps a chat
//! session across `docker restart`; the volume's files are owned by uid 1000, mode
//! 0600, and hold neither the gateway token nor the provider key. Without an engine the
//! test is skipped loudly (it fails under `CI`). The test build of `clawdbot` is mounted
//! read-only into an image imported from a tar holding only `/data` (owned by 1000,
//! 0700, as the deployment's image has it); nothing is pulled. Container, volume and
//! image are removed at the end, also when the test fails.

mod engine_support;
mod gateway_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use engine_support::{docker, docker_ok, engine_available, mounts, HARDENED};
use gateway_support::{call, chat_send, connected_writer, TOKEN};
use serde_json::json;

/// The provider key the container is given (a demo placeholder: the gateway answers
/// with its offline provider, so no network is needed, and the key must still never
/// reach the volume).
const KEY: &str = "sk-ant-demo-placeholder-volume-check";
const GATEWAY_PORT: &str = "18789";
/// Bound on each wait for the gateway to answer.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// What the test created on the engine, removed on drop.
struct Created {
    image: String,
    volume: String,
    container: String,
    dir: PathBuf,
}

impl Drop for Created {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.container]);
        let _ = docker(&["volume", "rm", "-f", &self.volume]);
        let _ = docker(&["rmi", "-f", &self.image]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An image holding only `/data`, owned by 1000:1000, mode 0700.
fn import_data_image(dir: &Path, tag: &str) {
    let root = dir.join("root");
    let data = root.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(1000), Some(1000)).ok();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let tar = dir.join("image.tar");
    let out = Command::new("tar")
        .args(["--numeric-owner", "--owner=1000", "--group=1000", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .arg("data")
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    docker_ok(&["import", tar.to_str().unwrap(), tag]);
}

/// The host address the container's gateway port is published on.
fn published(container: &str) -> String {
    let out = docker_ok(&["port", container, &format!("{GATEWAY_PORT}/tcp")]);
    let addr = out
        .lines()
        .find(|l| l.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no loopback port published: {out}"));
    format!("ws://{addr}")
}

/// Waits until the gateway in `container` answers a handshake; returns its URL.
async fn ready(container: &str) -> String {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let running = docker_ok(&["inspect", "-f", "{{.State.Running}}", container]);
        if running == "true" {
            let url = published(container);
            let probe = tokio::time::timeout(Duration::from_secs(2), async {
                let (ws, _) = tokio_tungstenite::connect_async(&url).await.ok()?;
                drop(ws);
                Some(())
            })
            .await;
            if matches!(probe, Ok(Some(()))) {
                return url;
            }
        }
        if Instant::now() > deadline {
            let logs = docker(&["logs", "--tail", "30", container]);
            panic!(
                "gateway in {container} not ready within {READY_WITHIN:?}: {}{}",
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One entry of a tar stream: its path, mode, owner and content.
struct Entry {
    name: String,
    kind: u8,
    mode: u32,
    uid: u32,
    body: Vec<u8>,
}

fn octal(field: &[u8]) -> u64 {
    let s = String::from_utf8_lossy(field);
    u64::from_str_radix(s.trim_matches(|c: char| c == '\0' || c == ' '), 8).unwrap_or(0)
}

/// The entries of a (ustar) tar stream; extended headers (`x`, `g`) are skipped.
fn tar_entries(tar: &[u8]) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() && tar[at..at + 512].iter().any(|b| *b != 0) {
        let h = &tar[at..at + 512];
        let name_end = h[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let size = octal(&h[124..136]) as usize;
        let kind = h[156];
        let body = tar[at + 512..(at + 512 + size).min(tar.len())].to_vec();
        if kind != b'x' && kind != b'g' {
            out.push(Entry {
                name: String::from_utf8_lossy(&h[..name_end]).to_string(),
                kind,
                mode: octal(&h[100..108]) as u32,
                uid: octal(&h[108..116]) as u32,
                body,
            });
        }
        at += 512 + size.div_ceil(512) * 512;
    }
    out
}

#[tokio::test]
async fn engine_sessions_volume_survives_restart_without_secrets() {
    if !engine_available("sessions_volume_engine") {
        return;
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let dir = std::env::temp_dir().join(format!("clawdbot-volume-engine-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let created = Created {
        image: format!("clawdbot-volume-test:{id}"),
        volume: format!("clawdbot-volume-test-{id}"),
        container: format!("clawdbot-volume-test-{id}"),
        dir: dir.clone(),
    };
    import_data_image(&dir, &created.image);
    docker_ok(&["volume", "create", &created.volume]);

    let volume = format!("{}:/data", created.volume);
    let token_env = format!("CLAWDBOT_GATEWAY_TOKEN={TOKEN}");
    let key_env = format!("ANTHROPIC_API_KEY={KEY}");
    let publish = format!("127.0.0.1::{GATEWAY_PORT}");
    let mut args: Vec<String> = [
        "run",
        "-d",
        "--name",
        &created.container,
        "-p",
        &publish,
        "-v",
        &volume,
        "-e",
        &token_env,
        "-e",
        &key_env,
        "-e",
        "CLAWDBOT_SESSIONS_DIR=/data/sessions",
    ]
    .iter()
    .chain(HARDENED)
    .map(|s| s.to_string())
    .collect();
    for m in mounts(&dir) {
        args.extend(["-v".to_string(), m]);
    }
    args.extend(
        [
            "--entrypoint",
            "/usr/local/bin/clawdbot",
            &created.image,
            "serve",
            "--bind",
            "0.0.0.0",
            "--port",
            GATEWAY_PORT,
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker_ok(&args);

    // A conversation before the restart.
    let url = ready(&created.container).await;
    let mut ws = connected_writer(&url).await;
    let (res, _, end) = chat_send(&mut ws, "1", "main", "remember the volume").await;
    assert_eq!(res["ok"], true, "{res}");
    assert_eq!(end["state"], "final", "{end}");
    let answer = end["message"]["content"][0]["text"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(!answer.is_empty(), "{end}");
    drop(ws);

    docker_ok(&["restart", "-t", "5", &created.container]);

    // After the restart the transcript comes back from the volume.
    let url = ready(&created.container).await;
    let mut ws = connected_writer(&url).await;
    let history = call(
        &mut ws,
        "h",
        "chat.history",
        Some(json!({"sessionKey": "main"})),
    )
    .await;
    assert_eq!(history["ok"], true, "{history}");
    let messages = history["payload"]["messages"].as_array().cloned();
    let texts: Vec<(&str, &str)> = messages
        .iter()
        .flatten()
        .map(|m| {
            (
                m["role"].as_str().unwrap_or(""),
                m["content"][0]["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        texts,
        [
            ("user", "remember the volume"),
            ("assistant", answer.as_str())
        ],
        "{history}"
    );
    drop(ws);

    // The volume's files: owned by 1000, 0600 (the directory 0700), no secret.
    let out = docker(&["cp", &format!("{}:/data/sessions", created.container), "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries = tar_entries(&out.stdout);
    let files: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == b'0' || e.kind == 0)
        .collect();
    assert_eq!(files.len(), 1, "one session file: {:?}", names(&entries));
    for e in &entries {
        assert_eq!(e.uid, 1000, "{} is owned by uid {}", e.name, e.uid);
        let want = if e.kind == b'5' { 0o700 } else { 0o600 };
        assert_eq!(e.mode & 0o777, want, "{} has mode {:o}", e.name, e.mode);
        for secret in [TOKEN, KEY] {
            let found = e.body.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{} holds a secret", e.name);
        }
    }
    let text = String::from_utf8_lossy(&files[0].body);
    assert!(text.contains("remember the volume"), "{text}");
    drop(created);
}

fn names(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| format!("{} ({})", e.name, e.kind as char))
        .collect()
}
