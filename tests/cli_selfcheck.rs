//! `clawdbot self-check` through the real binary, on the machine running the tests.
//! The test host is not a hardened container, so self-check must fail and say why.

use std::process::{Command, Output};

use clawdbot::defaults::SelfCheckId;

/// The ids in report order (their strings are pinned once, in `clawdbot-facts`).
const IDS: &[&str] = &SelfCheckId::ALL_IDS;

fn self_check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clawdbot"))
        .arg("self-check")
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run clawdbot self-check")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap()
}

#[test]
fn self_check_on_the_host_fails_and_names_the_failed_checks() {
    let out = self_check(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    // One line per check (ASCII marks: stdout is a pipe), then listeners and summary.
    assert_eq!(lines.len(), IDS.len() + 2, "{stdout}");
    let mut failed = Vec::new();
    for (line, id) in lines.iter().zip(IDS) {
        let rest = line
            .strip_prefix("[ok]   ")
            .or_else(|| line.strip_prefix("[FAIL] "))
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        assert!(rest.starts_with(id), "{line:?} is not {id}");
        if line.starts_with("[FAIL]") {
            failed.push(*id);
        }
    }
    assert!(!failed.is_empty());
    assert!(lines[IDS.len()].starts_with("listening: "));
    let summary = lines[IDS.len() + 1];
    assert_eq!(
        summary,
        format!(
            "self-check: {} of {} checks failed: {}",
            failed.len(),
            IDS.len(),
            failed.join(", ")
        )
    );
    if is_root() {
        assert!(failed.contains(&"non-root"));
        assert!(failed.contains(&"caps-empty"));
        assert!(stdout.contains("uid 0 (root)"), "{stdout}");
    }
}

#[test]
fn self_check_json_has_every_schema_key() {
    let out = self_check(&["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "exactly one JSON object"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("self-check --json is JSON");
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    let mut want = vec![
        "schema",
        "version",
        "user",
        "capabilities",
        "no_new_privs",
        "seccomp",
        "rootfs_writable",
        "etc_writable",
        "cgroup",
        "docker_socket",
        "listening",
        "env_files",
        "sessions",
        "checks",
        "ok",
    ];
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(v["schema"], 2);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["user"]["uid"].is_u64() && v["user"]["gid"].is_u64());
    assert!(v["user"].get("name").is_some());
    for key in ["effective", "permitted", "bounding"] {
        assert!(v["capabilities"][key].is_array(), "{key}");
        let hex = &v["capabilities"][format!("{key}_hex")];
        assert!(hex.is_null() || hex.as_str().unwrap().len() == 16, "{hex}");
    }
    assert!(["disabled", "strict", "filter", "unknown"].contains(&v["seccomp"].as_str().unwrap()));
    for key in ["version", "memory_max_bytes", "cpu_max", "pids_max"] {
        assert!(v["cgroup"].get(key).is_some(), "cgroup.{key}");
    }
    assert!(v["rootfs_writable"].is_boolean() && v["etc_writable"].is_boolean());
    assert!(v["docker_socket"].is_boolean());
    for l in v["listening"].as_array().unwrap() {
        assert!(["tcp", "tcp6"].contains(&l["proto"].as_str().unwrap()));
        assert!(l["address"]
            .as_str()
            .unwrap()
            .parse::<std::net::IpAddr>()
            .is_ok());
        assert!(l["port"].is_u64());
    }
    assert!(v["env_files"].is_array());
    let checks = v["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, IDS);
    let all_ok = checks.iter().all(|c| c["ok"] == true);
    assert_eq!(v["ok"], all_ok);
    assert_eq!(v["ok"], false);
    if is_root() {
        assert_eq!(v["user"]["uid"], 0);
        assert_eq!(
            v["capabilities"]["effective_hex"]
                .as_str()
                .map(|h| h != "0000000000000000"),
            Some(true)
        );
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("self-check: failed: "), "{stderr}");
}

#[test]
fn self_check_sees_a_listening_socket_of_its_own_namespace() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = self_check(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = v["listening"].as_array().unwrap().iter().any(|l| {
        l["proto"] == "tcp" && l["address"] == "127.0.0.1" && l["port"] == u64::from(port)
    });
    assert!(found, "127.0.0.1:{port} not in {}", v["listening"]);
}

#[test]
fn self_check_decodes_an_ipv6_listener() {
    // Hosts without IPv6 cannot bind ::1; there is nothing to decode there.
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("no IPv6 loopback on this host");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    let out = self_check(&["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = v["listening"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["proto"] == "tcp6" && l["address"] == "::1" && l["port"] == u64::from(port));
    assert!(found, "[::1]:{port} not in {}", v["listening"]);
}
