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
        err.contains("--max-connections must be greater than 0"),
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
        err.contains("--idle-timeout-ms must be at most one week"),
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
