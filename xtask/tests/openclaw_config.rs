//! `init --app openclaw`: the choice is recorded in `Cargo.toml`, the hardened set is
//! rendered (compose posture, a private config file, no secret anywhere), and the
//! rendered OpenClaw config is judged by the real `openclaw` CLI (2026.9.6, installed by
//! `scripts/install-node-tools.sh`): `config validate` accepts it, and `security audit
//! --json` reports no critical and no warning once its secret files exist.
//!
//! The audit runs on the host, so the config's `/run/secrets/...` paths point at a
//! temporary directory instead: the one change, and the audit reads the same keys.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{init, openclaw_cli, xtask, TempDir};

fn project(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    dir.write(
        "Cargo.toml",
        "[package]\nname = \"clawdbot\"\nversion = \"0.1.0\"\n",
    );
    dir
}

#[test]
fn openclaw_init_records_the_app_and_renders_the_hardened_set() {
    let dir = project("oc-init");
    let run = init(dir.path(), &["--app", "openclaw", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(
        dir.read("Cargo.toml")
            .contains("[workspace.metadata.deploy]\napp = \"openclaw\"\n"),
        "{}",
        dir.read("Cargo.toml")
    );
    // The recorded choice is read back: a plain --check finds everything fresh.
    let check = init(dir.path(), &["--check"]);
    assert_eq!(check.code, 0, "{}", check.show());
    // The Dockerfile is the OpenClaw image's, its context the staged tree only.
    let dockerfile = dir.read("Dockerfile");
    assert!(
        dockerfile.contains("\nFROM scratch\nCOPY target/openclaw-context/rootfs/ /\n")
            && dockerfile.contains("\nUSER 1000:1000\n"),
        "{dockerfile}"
    );

    let compose = dir.read("docker-compose.yml");
    for line in [
        "read_only: true",
        "init: true",
        "\"/tmp:noexec,nosuid,nodev,size=",
        "- ALL",
        "\"no-new-privileges:true\"",
        "mem_limit: \"2G\"",
        "pids_limit: 256",
        "NODE_OPTIONS: \"--max-old-space-size=1536\"",
        "\"openclaw-state:/var/lib/openclaw\"",
        "\"./openclaw.json:/etc/openclaw/openclaw.json:ro\"",
        "\"127.0.0.1:18789:18789\"",
        "file: ./secrets/openclaw_gateway_token",
    ] {
        assert!(compose.contains(line), "{line} missing:\n{compose}");
    }
    assert!(!compose.contains("env_file"), "{compose}");
    // No secret in the compose file or the env example: only names of secret files.
    for file in ["docker-compose.yml", ".env.example", "openclaw.json"] {
        let text = dir.read(file);
        assert!(
            !text.contains("sk-"),
            "{file} holds a key-like value:\n{text}"
        );
        assert!(
            !text.contains("TOKEN="),
            "{file} holds a token variable:\n{text}"
        );
    }
    assert!(dir.read(".gitignore").contains("/secrets/"));
    assert!(dir
        .read(".dockerignore")
        .contains("*\n!target/openclaw-context/rootfs\n!target/openclaw-context/state\n"));
    let mode = std::fs::metadata(dir.join("openclaw.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "openclaw.json mode {mode:o}");

    // The static verify finds nothing on the rendered set: 10/10.
    let verify = xtask(&["verify", "--root", dir.path().to_str().unwrap()]);
    let report = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && report.contains("checklist 10/10"),
        "verify on the rendered OpenClaw set:\n{report}{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // --env writes the secret files the config refers to, never over existing ones.
    let env = init(dir.path(), &["--env"]);
    assert_eq!(env.code, 0, "{}", env.show());
    let token = dir.read("secrets/openclaw_gateway_token");
    assert!(token.len() >= 32, "token too short");
    assert!(!env.stdout.contains(&token), "the token was printed");
    assert_eq!(
        dir.read("secrets/anthropic_api_key"),
        "sk-ant-demo-placeholder"
    );
    // The gateway only reads its secret files: 0400, and uid 1000's when init runs as root.
    for name in ["openclaw_gateway_token", "anthropic_api_key"] {
        let meta = std::fs::metadata(dir.join("secrets").join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o400, "secrets/{name}");
        if std::fs::metadata(dir.path()).unwrap().uid() == 0 {
            assert_eq!(meta.uid(), 1000, "secrets/{name} owner");
        }
    }
}

#[test]
fn openclaw_init_app_choice_is_a_diff_with_consent() {
    let dir = project("oc-consent");
    // No terminal and no --yes: Cargo.toml differs, is shown as a diff, and left alone.
    let run = init(dir.path(), &["--app", "openclaw"]);
    assert_eq!(run.code, 1, "{}", run.show());
    assert!(run.stdout.contains("+app = \"openclaw\""), "{}", run.show());
    assert!(!dir.read("Cargo.toml").contains("app ="));
    let check = init(dir.path(), &["--app", "openclaw", "--check"]);
    assert_eq!(check.code, 1, "{}", check.show());
}

/// `openclaw <args>` with only the config and a private state dir and HOME.
fn openclaw(
    cli: &(PathBuf, PathBuf),
    dir: &TempDir,
    config: &Path,
    args: &[&str],
) -> (bool, String) {
    let out = Command::new(&cli.0)
        .arg(&cli.1)
        .args(args)
        .env_clear()
        .env("HOME", dir.join("home"))
        .env("OPENCLAW_STATE_DIR", dir.join("state"))
        .env("OPENCLAW_CONFIG_PATH", config)
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("DO_NOT_TRACK", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run openclaw");
    support::outcome(&out)
}

/// Check ids of the audit's findings of `severity`.
fn findings(report: &serde_json::Value, severity: &str) -> Vec<String> {
    report["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["severity"] == severity)
        .map(|f| f["checkId"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn audit(cli: &(PathBuf, PathBuf), dir: &TempDir, config: &Path) -> serde_json::Value {
    let (ok, out) = openclaw(cli, dir, config, &["security", "audit", "--json"]);
    assert!(ok, "security audit failed:\n{out}");
    let json = &out[out.find('{').unwrap_or(0)..];
    let end = json.rfind('}').map_or(json.len(), |i| i + 1);
    serde_json::from_str(&json[..end]).unwrap_or_else(|e| panic!("audit JSON ({e}):\n{out}"))
}

#[test]
fn openclaw_rendered_config_passes_the_real_cli_validate_and_security_audit() {
    let Some(cli) = openclaw_cli() else {
        return;
    };
    let dir = project("oc-audit");
    let run = init(dir.path(), &["--app", "openclaw", "--yes"]);
    assert_eq!(run.code, 0, "{}", run.show());
    let env = init(dir.path(), &["--env"]);
    assert_eq!(env.code, 0, "{}", env.show());
    for sub in ["home", "state"] {
        std::fs::create_dir(dir.join(sub)).unwrap();
        std::fs::set_permissions(dir.join(sub), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    // The file secret provider accepts only files of the user that runs it: in the
    // container that is uid 1000, which init (as root) gave them to; here it is us.
    let secrets = dir.join("secrets");
    let me = std::fs::metadata(dir.join("state")).unwrap().uid();
    for entry in std::fs::read_dir(&secrets).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(me), None).unwrap();
    }
    let config = dir.join("host-openclaw.json");
    let text = dir
        .read("openclaw.json")
        .replace("/run/secrets", secrets.to_str().unwrap());
    dir.write("host-openclaw.json", &text);
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();

    let (ok, out) = openclaw(&cli, &dir, &config, &["config", "validate"]);
    assert!(
        ok && out.contains("Config valid"),
        "config validate:\n{out}"
    );
    let report = audit(&cli, &dir, &config);
    assert_eq!(
        findings(&report, "critical"),
        Vec::<String>::new(),
        "{report:#}"
    );
    assert_eq!(
        findings(&report, "warn"),
        Vec::<String>::new(),
        "{report:#}"
    );
    assert_eq!(report["summary"]["critical"], 0, "{report:#}");

    // The validator and the audit are not rubber stamps: an unknown key is refused, and
    // a config others can read, or the terminal switched on, is reported.
    dir.write(
        "bogus.json",
        &text.replace(
            "\"terminal\": { \"enabled\": false }",
            "\"terminal\": { \"enabled\": false, \"bogus\": 1 }",
        ),
    );
    let (ok, out) = openclaw(&cli, &dir, &dir.join("bogus.json"), &["config", "validate"]);
    assert!(
        !ok && out.contains("bogus"),
        "an unknown key passed validation:\n{out}"
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = audit(&cli, &dir, &config);
    assert!(
        findings(&report, "critical").contains(&"fs.config.perms_world_readable".to_owned()),
        "{report:#}"
    );
}
