//! `clawdbot status` through the real binary, with a controlled environment.

use std::process::{Command, Output};

fn random_alnum(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    // Mix in upper case so the value looks like a real key, not a hex string.
    s.chars()
        .take(n)
        .enumerate()
        .map(|(i, c)| {
            if i % 3 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn status(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clawdbot"));
    cmd.arg("status").args(args).env_clear();
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run clawdbot status")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("clawdbot-cli-status-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

#[test]
fn status_with_demo_keys_is_demo_mode_and_masks_keys() {
    let out = status(
        &[],
        &[
            ("ANTHROPIC_API_KEY", "sk-ant-demo-placeholder"),
            ("OPENAI_API_KEY", "sk-demo-placeholder"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("mode          demo"), "{stdout}");
    assert!(
        stdout.contains("sk-ant-…lder (placeholder, from ANTHROPIC_API_KEY)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("sk-demo-…lder (placeholder, from OPENAI_API_KEY)"),
        "{stdout}"
    );
    assert!(!stdout.contains("sk-ant-demo-placeholder"), "{stdout}");
    assert!(!stdout.contains("sk-demo-placeholder"), "{stdout}");
    assert!(stdout.contains("auth          NOT configured"), "{stdout}");
}

#[test]
fn status_with_a_real_looking_key_is_live_and_shows_only_the_masked_key() {
    let key = format!("sk-ant-api03-{}", random_alnum(40));
    let token = random_alnum(32);
    let out = status(
        &[],
        &[
            ("ANTHROPIC_API_KEY", key.as_str()),
            ("CLAWDBOT_GATEWAY_TOKEN", token.as_str()),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("mode          live (anthropic)"),
        "{stdout}"
    );
    let masked = format!("sk-ant-…{}", &key[key.len() - 4..]);
    assert!(
        stdout.contains(&format!("{masked} (set, from ANTHROPIC_API_KEY)")),
        "{stdout}"
    );
    assert!(stdout.contains("model         claude-sonnet-4-5 at https://api.anthropic.com"));
    assert!(stdout.contains("auth          configured (token from CLAWDBOT_GATEWAY_TOKEN)"));
    for secret in [&key[13..], token.as_str()] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stdout}"
        );
    }
    // A key's middle never shows, even partially.
    assert!(!stdout.contains(&key[13..25]), "{stdout}");
}

#[test]
fn status_reads_file_variants() {
    let key = format!("sk-ant-api03-{}", random_alnum(40));
    let token = random_alnum(40);
    let key_file = tmp_file("anthropic", &format!("{key}\n"));
    let token_file = tmp_file("token", &format!("  {token}\n"));
    let out = status(
        &["--json"],
        &[
            ("ANTHROPIC_API_KEY_FILE", key_file.to_str().unwrap()),
            ("OPENCLAW_GATEWAY_TOKEN_FILE", token_file.to_str().unwrap()),
            ("CLAWDBOT_MODEL", "claude-test-model"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        !stdout.contains(&key[13..]) && !stdout.contains(&token),
        "{stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("status --json is JSON");
    assert_eq!(v["mode"], "live");
    assert_eq!(v["model"], "claude-test-model");
    assert_eq!(v["providers"][0]["source"], "ANTHROPIC_API_KEY_FILE");
    assert_eq!(
        v["providers"][0]["key"],
        format!("sk-ant-…{}", &key[key.len() - 4..])
    );
    assert_eq!(v["auth"]["configured"], true);
    assert_eq!(v["auth"]["source"], "OPENCLAW_GATEWAY_TOKEN");
}

#[test]
fn status_json_has_every_field() {
    let out = status(
        &["--json"],
        &[("CLAWDBOT_PORT", "28789"), ("CLAWDBOT_HEALTH_PORT", "9090")],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("status --json is JSON");
    for key in [
        "version",
        "mode",
        "provider",
        "model",
        "base_url",
        "providers",
        "ports",
        "auth",
        "cgroup",
    ] {
        assert!(v.get(key).is_some(), "missing {key}: {stdout}");
    }
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["mode"], "demo");
    assert_eq!(v["provider"], "demo");
    assert_eq!(v["ports"]["gateway"], 28789);
    assert_eq!(v["ports"]["health"], 9090);
    assert_eq!(v["auth"]["configured"], false);
    assert_eq!(v["providers"][0]["configured"], false);
    for key in ["version", "memory_max_bytes", "cpu_max", "pids_max"] {
        assert!(v["cgroup"].get(key).is_some(), "cgroup.{key} missing");
    }
}

#[test]
fn status_short_token_is_not_auth() {
    let out = status(
        &["--json"],
        &[("CLAWDBOT_GATEWAY_TOKEN", "short-token-123")],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["auth"]["configured"], false);
    assert!(v["auth"]["detail"].as_str().unwrap().contains("too short"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("short-token-123"));
}

#[test]
fn status_reports_bad_settings_in_one_line() {
    let out = status(
        &[],
        &[("ANTHROPIC_API_KEY_FILE", "/nonexistent/clawdbot-key")],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.starts_with("error: ANTHROPIC_API_KEY_FILE=/nonexistent/clawdbot-key"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let out = status(&[], &[("CLAWDBOT_PORT", "http")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out)
        .1
        .contains("CLAWDBOT_PORT=http: not a port number"));
}

#[test]
fn status_with_only_an_openai_key_is_live_openai() {
    let key = format!("sk-proj-{}", random_alnum(48));
    let out = status(&[], &[("OPENAI_API_KEY", key.as_str())]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    assert!(stdout.contains("mode          live (openai)"), "{stdout}");
    assert!(
        stdout.contains("model         gpt-4o-mini at https://api.openai.com/v1"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!(
        "sk-proj-…{} (set, from OPENAI_API_KEY)",
        &key[key.len() - 4..]
    )));
    assert!(!stdout.contains(&key[8..]), "{stdout}");
}

#[test]
fn status_with_both_keys_prefers_anthropic_and_lists_both_models() {
    let anthropic = format!("sk-ant-api03-{}", random_alnum(48));
    let openai = format!("sk-proj-{}", random_alnum(48));
    let out = status(
        &["--json"],
        &[
            ("ANTHROPIC_API_KEY", anthropic.as_str()),
            ("OPENAI_API_KEY", openai.as_str()),
            ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
            ("CLAWDBOT_MODEL", "claude-opus-4-1"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["mode"], "live");
    assert_eq!(v["provider"], "anthropic");
    assert_eq!(v["model"], "claude-opus-4-1");
    assert_eq!(v["base_url"], "https://api.anthropic.com");
    assert_eq!(
        v["models"],
        serde_json::json!(["anthropic/claude-opus-4-1", "openai/gpt-4o-mini"])
    );
    assert!(!stdout.contains(&anthropic[13..]) && !stdout.contains(&openai[8..]));
}

#[test]
fn status_refuses_bad_provider_settings() {
    let key = format!("sk-proj-{}", random_alnum(48));
    for (env, want) in [
        (
            vec![("CLAWDBOT_DEMO_CHUNK_DELAY_MS", "20000")],
            "CLAWDBOT_DEMO_CHUNK_DELAY_MS=20000: not a number of milliseconds in 0..=10000",
        ),
        (
            vec![
                ("OPENAI_API_KEY", key.as_str()),
                ("OPENAI_BASE_URL", "http://192.0.2.1/v1"),
            ],
            "OPENAI_BASE_URL uses plain http to a non-loopback host (use https)",
        ),
        (
            vec![
                ("OPENAI_API_KEY", key.as_str()),
                ("CLAWDBOT_PROVIDER_IDLE_TIMEOUT_MS", "0"),
            ],
            "CLAWDBOT_PROVIDER_IDLE_TIMEOUT_MS=0: not a number of milliseconds in 1..=3600000",
        ),
    ] {
        let out = status(&[], &env);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{env:?}: {stdout}{stderr}");
        assert!(stderr.contains(want), "{env:?}: {stderr}");
        assert!(!stderr.contains(&key[8..]), "{stderr}");
    }
    // Settings of a provider that is not used are not checked.
    let out = status(&[], &[("OPENAI_BASE_URL", "http://192.0.2.1/v1")]);
    assert!(out.status.success());
}
