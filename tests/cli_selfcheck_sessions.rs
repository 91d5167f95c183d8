//! `clawdbot self-check --json` over a sessions directory the real gateway wrote on
//! loopback (`serve --sessions-dir`): clean after an ordinary chat; the check fires when
//! a client sends the gateway token as a message (the transcript is persisted) and when
//! a provider key read from `<NAME>_FILE` is planted in a file. Never prints a secret.

#[path = "gateway_support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::*;

const CHECK: &str = "no-secrets-in-sessions";
/// A provider key that is not a placeholder (random-looking, test-only).
const KEY: &str = "sk-proj-Vq3xN8mZ2pL5kJ7hG1fD9sA4wE6rT0yUbC";

fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("clawdbot-sc-sessions-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `self-check --json` with only `env` set; returns (exit code, report, our check,
/// raw stdout + stderr).
fn self_check(env: &[(String, String)]) -> (Option<i32>, Value, Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawdbot"));
    cmd.args(["self-check", "--json"]).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run clawdbot self-check --json");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report: Value = serde_json::from_str(&stdout).expect("self-check --json is JSON");
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == CHECK)
        .cloned()
        .unwrap_or_else(|| panic!("no {CHECK} check: {stdout}"));
    let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    (out.status.code(), report, check, all)
}

fn env_for(dir: &Path) -> Vec<(String, String)> {
    let mut env = env_with_token();
    env.push((
        "CLAWDBOT_SESSIONS_DIR".into(),
        dir.to_str().unwrap().to_string(),
    ));
    env
}

/// Chats once through a gateway persisting to `dir`, then stops it (SIGTERM).
async fn chat_through_gateway(dir: &Path, message: &str) {
    let mut server = Server::start(&["--sessions-dir", dir.to_str().unwrap()]);
    let mut ws = connected_writer(&server.url()).await;
    let (_, _, end) = chat_send(&mut ws, "c", "main", message).await;
    assert_eq!(end["state"], "final", "{end}");
    drop(ws);
    let (status, _) = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.success());
}

#[tokio::test]
async fn sessions_written_by_the_gateway_are_clean_and_a_leaked_token_fires() {
    let dir = temp_dir("gw");
    chat_through_gateway(&dir, "an ordinary question").await;

    let env = env_for(&dir);
    let (_, report, check, _) = self_check(&env);
    assert_eq!(check["ok"], true, "{check}");
    let scan = &report["sessions"];
    assert_eq!(scan["dir"], dir.to_str().unwrap());
    assert_eq!(
        scan["secrets"],
        serde_json::json!(["CLAWDBOT_GATEWAY_TOKEN"])
    );
    assert_eq!(scan["files_scanned"], 1, "{scan}");
    assert!(scan["bytes_read"].as_u64().unwrap() > 0);
    assert_eq!(scan["complete"], true);
    assert_eq!(scan["files_with_secrets"], 0);

    // A client pastes the token into a message: the gateway persists the transcript.
    chat_through_gateway(&dir, &format!("is this my token? {TOKEN}")).await;
    let (code, report, check, all) = self_check(&env);
    assert_eq!(code, Some(1));
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(report["ok"], false);
    assert_eq!(report["sessions"]["files_with_secrets"], 1);
    // The one session file the gateway wrote, named in the report and the detail.
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(report["sessions"]["hits"][0]["file"], files[0].as_str());
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("{} (CLAWDBOT_GATEWAY_TOKEN)", files[0])),
        "{detail}"
    );
    assert!(!all.contains(TOKEN), "self-check printed the token");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_provider_key_from_a_file_is_found_and_never_printed() {
    let dir = temp_dir("key");
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = temp_dir("key-secret");
    std::fs::create_dir_all(&secrets).unwrap();
    let key_file = secrets.join("openai_api_key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    std::fs::write(dir.join("clean.json"), r#"{"key":"clean","messages":[]}"#).unwrap();

    let mut env = env_for(&dir);
    env.push((
        "OPENAI_API_KEY_FILE".into(),
        key_file.to_str().unwrap().to_string(),
    ));
    let (_, report, check, _) = self_check(&env);
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(
        report["sessions"]["secrets"],
        serde_json::json!(["CLAWDBOT_GATEWAY_TOKEN", "OPENAI_API_KEY"])
    );

    std::fs::write(
        dir.join("leak.json"),
        format!(r#"{{"key":"x","headers":{{"authorization":"Bearer {KEY}"}}}}"#),
    )
    .unwrap();
    let (code, report, check, all) = self_check(&env);
    assert_eq!(code, Some(1));
    assert_eq!(check["ok"], false, "{check}");
    assert_eq!(report["sessions"]["files_scanned"], 2);
    assert_eq!(
        report["sessions"]["hits"],
        serde_json::json!([{"file": "leak.json", "secrets": ["OPENAI_API_KEY"]}])
    );
    assert!(
        !all.contains(KEY) && !all.contains(TOKEN),
        "a secret was printed"
    );

    // An unreadable key file: nothing can be looked for, the check cannot pass.
    std::fs::remove_file(&key_file).unwrap();
    std::fs::remove_file(dir.join("leak.json")).unwrap();
    let (_, _, check, _) = self_check(&env);
    assert_eq!(check["ok"], false, "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("OPENAI_API_KEY_FILE"),
        "{check}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&secrets);
}

#[test]
fn without_a_sessions_dir_the_check_passes_and_reads_nothing() {
    let (_, report, check, _) = self_check(&env_with_token());
    assert_eq!(check["ok"], true, "{check}");
    assert_eq!(report["sessions"]["dir"], Value::Null);
    assert_eq!(report["sessions"]["files_scanned"], 0);
}
