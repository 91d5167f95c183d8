//! The rendered files against the real tools: hadolint finds nothing in the Dockerfile,
//! compose v2 (`docker compose`) and v1 (`docker-compose`) accept both profiles'
//! compose files, and the `.dockerignore` allowlist lets only the staged files into a
//! real build context (engine test). A missing tool skips loudly, or fails under CI.

mod support;

use std::process::Command;

use support::{have_tool, rendered, run_in, TempDir};

#[test]
fn hadolint_reports_nothing_on_the_dockerfile() {
    if !have_tool("hadolint", &["--version"]) {
        return;
    }
    let dir = rendered("hadolint", "local");
    let (ok, out) = run_in(dir.path(), "hadolint", &["--no-color", "Dockerfile"]);
    assert!(ok && out.trim().is_empty(), "hadolint findings:\n{out}");
}

fn compose_config(profile: &str, program: &str, prefix: &[&str]) {
    let dir = rendered(&format!("compose-{profile}"), profile);
    // `env_file: .env` makes `config` require the file; the example is what users copy.
    dir.write(".env", &dir.read(".env.example"));
    let mut args = prefix.to_vec();
    args.extend(["config", "-q"]);
    let (ok, out) = run_in(dir.path(), program, &args);
    assert!(
        ok,
        "{program} {} rejected the {profile} compose file:\n{out}\n{}",
        args.join(" "),
        dir.read("docker-compose.yml")
    );
    // The rendered limits survive the engine's own normalisation.
    let mut args = prefix.to_vec();
    args.push("config");
    let (ok, out) = run_in(dir.path(), program, &args);
    assert!(ok, "{out}");
    for needle in [
        "pids_limit: 256",
        "read_only: true",
        "no-new-privileges:true",
        "ALL",
    ] {
        assert!(
            out.contains(needle),
            "{program}: `{needle}` missing from the normalised config:\n{out}"
        );
    }
    assert!(out.contains("mem_limit"), "{out}");
    if profile == "isolated" {
        assert!(out.contains("internal: true"), "{out}");
        // The gateway publishes nothing; the egress service publishes on loopback only.
        let doc: serde_json::Value = serde_saphyr::from_str(&out).expect("normalised YAML");
        let gw = &doc["services"]["clawdbot"];
        let eg = &doc["services"]["egress"];
        assert!(gw.get("ports").is_none(), "{out}");
        let ports = eg["ports"].to_string();
        assert!(ports.contains("127.0.0.1"), "{out}");
        assert!(!ports.contains("0.0.0.0"), "{out}");
        assert_eq!(
            gw["environment"]["HTTPS_PROXY"], "http://egress:3128",
            "{out}"
        );
    } else {
        assert!(out.contains("127.0.0.1"), "{out}");
    }
}

#[test]
fn compose_v2_accepts_both_profiles() {
    if !have_tool("docker", &["compose", "version"]) {
        return;
    }
    compose_config("local", "docker", &["compose"]);
    compose_config("isolated", "docker", &["compose"]);
}

#[test]
fn compose_v1_accepts_both_profiles() {
    if !have_tool("docker-compose", &["version"]) {
        return;
    }
    compose_config("local", "docker-compose", &[]);
    compose_config("isolated", "docker-compose", &[]);
}

/// Builds a throwaway image that copies the whole context, then lists what it got.
#[test]
fn dockerignore_allowlist_admits_only_the_staged_files_engine() {
    if !have_tool("docker", &["info"]) {
        return;
    }
    let dir = rendered("context", "local");
    for (path, text) in [
        ("target/docker-context/clawdbot", "binary"),
        ("target/docker-context/passwd", "passwd"),
        ("target/docker-context/group", "group"),
        ("target/docker-context/stray", "not in the allowlist"),
        ("target/debug/clawdbot", "debug build"),
        ("src/main.rs", "source"),
        ("config/.env", "SECRET=1"),
        ("key.pem", "secret key"),
    ] {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir.write(
        ".env",
        "CLAWDBOT_GATEWAY_TOKEN=a-real-looking-secret-token-value\n",
    );
    let probe = TempDir::new("context-probe");
    probe.write("Dockerfile", "FROM scratch\nCOPY . /ctx/\n");
    let tag = format!("xtask-init-context-probe:{}", std::process::id());
    let dockerfile = probe.join("Dockerfile");
    let (ok, out) = run_in(
        dir.path(),
        "docker",
        &[
            "build",
            "-q",
            "-f",
            dockerfile.to_str().unwrap(),
            "-t",
            &tag,
            ".",
        ],
    );
    assert!(ok, "docker build failed:\n{out}");
    let (ok, id) = run_in(dir.path(), "docker", &["create", &tag, "/none"]);
    let id = id.trim().to_owned();
    let listing = Command::new("sh")
        .arg("-c")
        .arg("docker export \"$1\" | tar -t")
        .arg("sh")
        .arg(&id)
        .output()
        .expect("docker export");
    let _ = run_in(dir.path(), "docker", &["rm", "-f", &id]);
    let _ = run_in(dir.path(), "docker", &["rmi", "-f", &tag]);
    assert!(ok, "docker create failed: {id}");
    let mut files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|l| l.starts_with("ctx/") && !l.ends_with('/'))
        .map(str::to_owned)
        .collect();
    files.sort();
    assert_eq!(
        files,
        vec![
            "ctx/target/docker-context/clawdbot",
            "ctx/target/docker-context/group",
            "ctx/target/docker-context/passwd",
        ],
        "the build context must hold the staged files and nothing else"
    );
}

/// The generated Dockerfile builds on the engine from a staged context, and the image
/// carries the contract: user, ports, healthcheck, entrypoint, command, labels.
#[test]
fn generated_dockerfile_builds_and_carries_the_contract_engine() {
    if !have_tool("docker", &["info"]) {
        return;
    }
    let dir = rendered("image", "local");
    for (path, text) in [
        ("target/docker-context/clawdbot", "#!not-a-real-binary\n"),
        (
            "target/docker-context/passwd",
            "clawdbot:x:1000:1000::/:/sbin/nologin\n",
        ),
        ("target/docker-context/group", "clawdbot:x:1000:\n"),
    ] {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let tag = format!("xtask-init-image-probe:{}", std::process::id());
    let (ok, out) = run_in(dir.path(), "docker", &["build", "-q", "-t", &tag, "."]);
    assert!(
        ok,
        "docker build of the generated Dockerfile failed:\n{out}"
    );
    let (ok, json) = run_in(
        dir.path(),
        "docker",
        &["image", "inspect", "--format", "{{json .Config}}", &tag],
    );
    let _ = run_in(dir.path(), "docker", &["rmi", "-f", &tag]);
    assert!(ok, "{json}");
    let config: serde_json::Value = serde_json::from_str(json.trim()).expect("inspect json");
    assert_eq!(config["User"], "1000:1000", "{config}");
    assert!(
        config["ExposedPorts"].get("18789/tcp").is_some(),
        "{config}"
    );
    assert!(config["ExposedPorts"].get("8080/tcp").is_some(), "{config}");
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!([
            "CMD",
            "/usr/local/bin/clawdbot",
            "healthcheck",
            "--port",
            "8080"
        ]),
        "{config}"
    );
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/clawdbot"])
    );
    assert_eq!(
        config["Cmd"],
        serde_json::json!([
            "serve",
            "--bind",
            "0.0.0.0",
            "--port",
            "18789",
            "--health-port",
            "8080"
        ])
    );
    assert_eq!(
        config["Labels"]["org.opencontainers.image.version"],
        "0.1.0"
    );
    assert!(config["Env"].as_array().is_none_or(|e| e.iter().all(|v| !v
        .as_str()
        .unwrap_or("")
        .contains("TOKEN")
        && !v.as_str().unwrap_or("").contains("KEY"))));
}
