//! Benchmark (not a timed test): `cargo xtask verify` on a generated 200-service compose
//! file. Run with
//!   cargo test -p xtask --release --test verify_bench -- --ignored --nocapture
//! It prints the minimum and median wall time of the whole process (startup included);
//! the target is well under 100 ms.

mod support;

use std::time::{Duration, Instant};

use support::{xtask, TempDir};

/// A compose file with `n` services, each with the full hardening set plus a few
/// findings (so rules, suppressions and reporters all do work).
pub fn generate(n: usize) -> String {
    let mut s = String::from("x-hardening: &hardening\n  read_only: true\n  cap_drop: [ALL]\n  security_opt: [\"no-new-privileges:true\"]\n  cpus: \"1.0\"\n  mem_limit: 256m\n  pids_limit: 64\n  logging:\n    driver: json-file\n    options: {max-size: \"10m\"}\n\nservices:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  svc{i}:\n    <<: *hardening\n    image: example/svc{i}:1.{i}\n    user: \"1000:1000\"\n    ports:\n      - \"127.0.0.1:{p}:8080\"\n      - \"{q}:9090\"\n    environment:\n      LOG_LEVEL: info\n      API_TOKEN: ${{API_TOKEN}}\n    healthcheck:\n      test: [\"CMD\", \"/bin/health\"]\n    networks: [net{m}]\n",
            p = 20000 + i,
            q = 30000 + i,
            m = i % 4
        ));
    }
    s.push_str("networks:\n");
    for m in 0..4 {
        s.push_str(&format!("  net{m}:\n    internal: {}\n", m == 3));
    }
    s
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn bench_verify_200_service_compose() {
    let dir = TempDir::new("bench");
    std::fs::write(dir.path().join("docker-compose.yml"), generate(200)).unwrap();
    std::fs::write(dir.path().join(".gitignore"), ".env\n").unwrap();
    let root = dir.path().to_string_lossy().to_string();
    let mut times: Vec<Duration> = Vec::new();
    let mut findings = 0;
    for _ in 0..15 {
        let t = Instant::now();
        let out = xtask(&["verify", "--format", "json", "--root", &root]);
        times.push(t.elapsed());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        findings = v["findings"].as_array().unwrap().len();
    }
    times.sort();
    println!(
        "verify, 200 services ({findings} findings): min {:.1} ms, median {:.1} ms (whole process)",
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3
    );
}
