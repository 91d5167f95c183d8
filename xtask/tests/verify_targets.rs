//! Verify on the Swarm and Kubernetes targets: the files `cargo xtask init --target
//! swarm|kubernetes` renders get exactly the findings that are true of them, and a
//! weakened manifest fires every rule that applies to Kubernetes.

mod support;

use std::collections::BTreeSet;

use support::{fixtures, materialize, verify_json, xtask, TempDir};

fn unsuppressed(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["suppressed"] == false)
        .collect()
}

fn render(target: &str) -> TempDir {
    let dir = TempDir::new(&format!("target-{target}"));
    let root = dir.path().to_string_lossy().to_string();
    let out = xtask(&["init", "--target", target, "--root", &root]);
    assert!(
        out.status.success(),
        "init --target {target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The rendered stack file: Swarm ignores `security_opt`, so no-new-privileges cannot be
/// set by it (a warning that says so); nothing else, and no ignored key is used.
#[test]
fn rendered_swarm_stack_gets_exactly_its_true_findings() {
    let dir = render("swarm");
    assert!(dir.path().join("docker-stack.yml").is_file());
    let (code, report) = verify_json(dir.path(), &["--fail-on", "note"]);
    let got: Vec<(String, String, String)> = unsuppressed(&report)
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["location"]["file"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [(
            "no-new-privileges-missing".to_string(),
            "warning".to_string(),
            "docker-stack.yml".to_string()
        )],
        "{report:#}"
    );
    let msg = report["findings"][0]["message"].as_str().unwrap();
    assert!(
        msg.contains("cannot be enforced by the stack file"),
        "{msg}"
    );
    assert_eq!(code, 1);
}

/// The same file verified as plain compose (`--compose-file`, not named docker-stack)
/// is not in swarm mode: the message is the compose one.
#[test]
fn swarm_mode_follows_the_flag_and_the_file_name() {
    let dir = render("swarm");
    let renamed = dir.path().join("stack.yml");
    std::fs::copy(dir.path().join("docker-stack.yml"), &renamed).unwrap();
    std::fs::write(
        &renamed,
        std::fs::read_to_string(&renamed).unwrap().replace(
            "    read_only: true\n",
            "    read_only: true\n    security_opt: [\"no-new-privileges:true\"]\n    restart: always\n",
        ),
    )
    .unwrap();
    let file = renamed.to_string_lossy().to_string();
    let (code, report) = verify_json(dir.path(), &["--compose-file", &file, "--fail-on", "note"]);
    assert_eq!(code, 0, "compose mode honours security_opt: {report:#}");
    let (code, report) = verify_json(
        dir.path(),
        &["--compose-file", &file, "--swarm", "--fail-on", "note"],
    );
    let rules: Vec<&str> = unsuppressed(&report)
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "no-new-privileges-missing",
            "swarm-ignored-key",
            "swarm-ignored-key"
        ],
        "{report:#}"
    );
    assert_eq!(code, 1);
}

/// The rendered manifests (auto-detected `k8s/`) verify clean, even at `--fail-on note`.
#[test]
fn rendered_kubernetes_manifests_verify_clean() {
    let dir = render("kubernetes");
    let (code, report) = verify_json(dir.path(), &["--fail-on", "note"]);
    assert_eq!(unsuppressed(&report).len(), 0, "{report:#}");
    assert_eq!(code, 0);
    // Explicit --k8s DIR reads the same manifests.
    let k8s = dir.path().join("k8s").to_string_lossy().to_string();
    let (code, _) = verify_json(dir.path(), &["--k8s", &k8s, "--fail-on", "note"]);
    assert_eq!(code, 0);
}

/// Every Kubernetes-applicable rule fires on the weakened manifests, at file:line.
#[test]
fn weakened_manifests_fire_every_kubernetes_rule() {
    let project = materialize(&fixtures().join("k8s/weak"), "k8s-weak");
    let (code, report) = verify_json(project.path(), &[]);
    assert_eq!(code, 1);
    let found = unsuppressed(&report);
    let rules: BTreeSet<&str> = found.iter().map(|f| f["rule"].as_str().unwrap()).collect();
    let want = BTreeSet::from([
        "apparmor-unconfined",
        "caps-added",
        "caps-not-dropped",
        "healthcheck-missing",
        "image-unpinned",
        "limits-missing",
        "network-host",
        "network-not-isolated",
        "no-new-privileges-missing",
        "port-not-loopback",
        "privileged",
        "rootfs-writable",
        "seccomp-unconfined",
        "secret-literal",
        "sensitive-volume",
        "user-root",
    ]);
    assert_eq!(rules, want, "{report:#}");
    for f in &found {
        assert_eq!(f["location"]["file"], "k8s/workloads.yaml");
        assert!(f["location"]["line"].as_u64().unwrap() > 0, "{f}");
    }
    let text = report.to_string();
    assert!(!text.contains("Zx8Qw2"), "secret not masked: {text}");
}

/// A malformed manifest is an input error with its position (exit 2).
#[test]
fn malformed_manifest_is_an_input_error() {
    let dir = TempDir::new("k8s-bad");
    std::fs::create_dir(dir.path().join("k8s")).unwrap();
    std::fs::write(
        dir.path().join("k8s/bad.yaml"),
        "kind: Pod\n---\nspec: [unclosed\n",
    )
    .unwrap();
    let root = dir.path().to_string_lossy().to_string();
    let out = xtask(&["verify", "--root", &root]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("k8s/bad.yaml:"), "{err}");
}
