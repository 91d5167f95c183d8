//! Startup checks of `clawdbot serve`: token rules, loopback-only insecure mode,
//! token sources.

#[path = "gateway_support/mod.rs"]
mod support;

use support::*;

fn env_plus(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env = base_env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

#[test]
fn short_token_is_refused_at_startup() {
    let short = "too-short-token-1234";
    for var in ["CLAWDBOT_GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN"] {
        let (status, err) = run_expect_exit(
            &["--port", "0", "--health-port", "0"],
            &env_plus(&[(var, short)]),
        );
        assert!(!status.success());
        assert!(err.contains("too short"), "{err}");
        assert!(err.contains("at least 24"), "{err}");
        assert!(!err.contains(short), "the short token was printed: {err}");
    }
}

#[test]
fn placeholder_and_low_entropy_tokens_are_refused_at_startup() {
    for (token, why) in [
        ("change-me-to-a-long-random-token", "placeholder"),
        ("your-gateway-token-0123456789abcdef", "placeholder"),
        ("<random token of 32 characters>", "placeholder"),
        ("passwordpasswordpassword", "too little entropy"),
        ("abababababababababababababababab", "too little entropy"),
    ] {
        let (status, err) = run_expect_exit(
            &["--port", "0", "--health-port", "0"],
            &env_plus(&[("CLAWDBOT_GATEWAY_TOKEN", token)]),
        );
        assert_eq!(status.code(), Some(2), "{token}: {err}");
        assert_eq!(err.lines().count(), 1, "not one line: {err}");
        assert!(err.starts_with("error: gateway token "), "{err}");
        assert!(err.contains(why), "{token}: {err}");
        assert!(err.contains("openssl rand -hex 32"), "{err}");
        assert!(!err.contains(token), "the token was printed: {err}");
    }
}

#[test]
fn missing_token_is_refused_without_insecure_flag() {
    let (status, err) = run_expect_exit(&["--port", "0", "--health-port", "0"], &base_env());
    assert!(!status.success());
    assert!(err.contains("no gateway token configured"), "{err}");
    assert!(err.contains("CLAWDBOT_GATEWAY_TOKEN"), "{err}");
}

#[test]
fn insecure_no_auth_is_refused_on_non_loopback_bind() {
    let (status, err) = run_expect_exit(
        &[
            "--bind",
            "0.0.0.0",
            "--port",
            "0",
            "--health-port",
            "0",
            "--insecure-no-auth",
        ],
        &base_env(),
    );
    assert!(!status.success());
    assert!(err.contains("only allowed on a loopback"), "{err}");
}

#[test]
fn invalid_bind_and_zero_limits_are_refused() {
    let (status, err) = run_expect_exit(&["--bind", "localhost:1"], &env_with_token());
    assert!(!status.success());
    assert!(err.contains("not an IP address"), "{err}");
    let (status, err) = run_expect_exit(
        &[
            "--port",
            "0",
            "--health-port",
            "0",
            "--max-connections",
            "0",
        ],
        &env_with_token(),
    );
    assert!(!status.success());
    assert!(
        err.contains("--max-connections 0 is out of range (accepted: 1..=65536)"),
        "{err}"
    );
    let (status, err) = run_expect_exit(
        &[
            "--port",
            "0",
            "--health-port",
            "0",
            "--idle-timeout-ms",
            "18446744073709551615",
        ],
        &env_with_token(),
    );
    assert!(!status.success());
    assert!(
        err.contains("--idle-timeout-ms 18446744073709551615 is out of range"),
        "{err}"
    );
}

#[tokio::test]
async fn insecure_no_auth_on_loopback_accepts_connections_without_token() {
    let server = Server::start_with_env(&["--insecure-no-auth"], &base_env());
    assert!(server.logs().contains("authentication DISABLED"));
    let mut ws = open(&server.url()).await;
    let res = handshake(&mut ws, 3, 4, None).await;
    assert_eq!(res["ok"], true, "{res}");
}

#[tokio::test]
async fn token_is_read_from_openclaw_var_and_from_file() {
    let server = Server::start_with_env(&[], &env_plus(&[("OPENCLAW_GATEWAY_TOKEN", TOKEN)]));
    let mut ws = open(&server.url()).await;
    assert_eq!(handshake(&mut ws, 3, 4, Some(TOKEN)).await["ok"], true);
    drop(server);

    let dir = std::env::temp_dir().join(format!("clawdbot-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let server = Server::start_with_env(
        &[],
        &env_plus(&[("CLAWDBOT_GATEWAY_TOKEN_FILE", file.to_str().unwrap())]),
    );
    let mut ws = open(&server.url()).await;
    assert_eq!(handshake(&mut ws, 3, 4, Some(TOKEN)).await["ok"], true);
    let mut ws = open(&server.url()).await;
    assert_eq!(handshake(&mut ws, 3, 4, None).await["ok"], false);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every numeric limit of `serve`, read from `Limits` (the one place that declares them):
/// its flag, its environment variable and the largest value of its type.
fn numeric_limits() -> Vec<(String, String, String)> {
    use clap::Args;
    use std::any::TypeId;
    let serve = clawdbot::gateway::limits::Limits::augment_args(clap::Command::new("serve"));
    let limits: Vec<_> = serve
        .get_arguments()
        .filter_map(|arg| {
            let ty = arg.get_value_parser().type_id();
            let max = if ty == TypeId::of::<u32>() {
                u32::MAX.to_string()
            } else if ty == TypeId::of::<u64>() {
                u64::MAX.to_string()
            } else if ty == TypeId::of::<usize>() {
                usize::MAX.to_string()
            } else {
                return None;
            };
            let flag = format!("--{}", arg.get_long()?);
            let var = arg.get_env()?.to_str()?.to_string();
            Some((flag, var, max))
        })
        .collect();
    // Nineteen when this was written: the list is read, not empty by mistake.
    assert!(limits.len() >= 19, "{limits:?}");
    limits
}

/// Starts `serve` with one setting; returns whether it started. A refusal must be exit 2
/// with one `error:` line naming the setting; nothing may panic.
fn starts_or_refuses_cleanly(args: &[&str], env: &[(String, String)], name: &str) -> bool {
    match Server::try_start_with_env(args, env) {
        Ok(server) => {
            // In range: it started and listens.
            drop(server);
            true
        }
        Err((status, logs)) => {
            let status = status.expect("serve neither started nor exited");
            assert_eq!(
                status.code(),
                Some(2),
                "{args:?} {name}: {status:?}\n{logs}"
            );
            assert!(!logs.contains("panicked"), "{args:?}: {logs}");
            let first = logs.lines().next().unwrap_or("");
            assert!(first.starts_with("error: "), "{args:?}: {logs}");
            assert!(
                logs.contains(name) || logs.contains("invalid value"),
                "{args:?}: {logs}"
            );
            false
        }
    }
}

#[test]
fn every_numeric_setting_is_range_checked_without_panics() {
    let mut refused = Vec::new();
    for (flag, var, max) in &numeric_limits() {
        for value in ["0", "1", max] {
            if !starts_or_refuses_cleanly(&[flag, value], &env_with_token(), flag) {
                refused.push(format!("{flag}={value}"));
            }
        }
        // The environment variable goes through the same checks.
        let mut env = env_with_token();
        env.push((var.to_string(), max.to_string()));
        if !starts_or_refuses_cleanly(&[], &env, flag) {
            refused.push(format!("{var}={max}"));
        }
    }
    // The absurd values of the issue are among the refusals.
    for must in [
        "--send-queue=18446744073709551615",
        "--idle-timeout-ms=1",
        "--handshake-timeout-ms=0",
        "--max-connections=0",
        "CLAWDBOT_SEND_QUEUE=18446744073709551615",
    ] {
        assert!(
            refused.iter().any(|r| r == must),
            "{must} accepted; refused: {refused:?}"
        );
    }
}

#[test]
fn preauth_limit_above_payload_and_huge_queues_are_refused() {
    let (status, err) = run_expect_exit(
        &[
            "--port",
            "0",
            "--health-port",
            "0",
            "--max-payload",
            "65536",
            "--max-preauth-payload",
            "131072",
        ],
        &env_with_token(),
    );
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains(
            "--max-preauth-payload (131072) must not be larger than --max-payload (65536)"
        ),
        "{err}"
    );
    let (status, err) = run_expect_exit(
        &["--port", "0", "--health-port", "0", "--send-queue", "65536"],
        &env_with_token(),
    );
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("--send-queue 65536 is out of range (accepted: 1..=65535)"),
        "{err}"
    );
}
