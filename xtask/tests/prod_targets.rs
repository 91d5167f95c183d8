//! `init --target swarm|kubernetes`: snapshots, settings flowing into every target, the
//! Kubernetes manifests against kubernetes-validate (strict) and checkov, and the stack
//! deployed on a real single-node swarm (engine test).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{
    build_image, check_snapshots, have_engine, init, ok_in, run_in, skip, wait_for, TempDir,
};

const K8S_FILES: &[&str] = &[
    "k8s/namespace.yaml",
    "k8s/deployment.yaml",
    "k8s/service.yaml",
    "k8s/networkpolicy.yaml",
    "k8s/pdb.yaml",
    "k8s/kustomization.yaml",
];

fn project(tag: &str, deploy: &str) -> TempDir {
    let dir = TempDir::new(tag);
    dir.write(
        "Cargo.toml",
        &format!(
            "[package]\nname = \"clawdbot\"\nversion = \"0.1.0\"\n\n[workspace.metadata.deploy]\n{deploy}"
        ),
    );
    dir
}

fn render(tag: &str, deploy: &str, target: &str) -> TempDir {
    let dir = project(tag, deploy);
    let run = init(dir.path(), &["--yes", "--target", target]);
    assert_eq!(run.code, 0, "{}", run.show());
    dir
}

#[test]
fn targets_swarm_snapshot() {
    let dir = render("snap-swarm", "", "swarm");
    check_snapshots(&dir, "swarm", &["docker-stack.yml", ".gitignore"]);
    let stack = dir.read("docker-stack.yml");
    assert!(!stack.contains("ports:"), "no published port by default");
    assert!(!stack.contains("env_file"), "{stack}");
    assert!(stack.contains("driver: overlay"));
    assert!(stack.contains("external: true"));
    assert!(
        !dir.join("docker-compose.yml").exists(),
        "swarm renders the stack"
    );
}

#[test]
fn targets_kubernetes_snapshot() {
    let dir = render("snap-k8s", "", "kubernetes");
    check_snapshots(&dir, "kubernetes", K8S_FILES);
    let deployment = dir.read("k8s/deployment.yaml");
    for needle in [
        "runAsNonRoot: true",
        "runAsUser: 1000",
        "runAsGroup: 1000",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "type: RuntimeDefault",
        "path: /health",
        "port: health",
        "emptyDir:",
        "secretName: clawdbot-secrets",
    ] {
        assert!(
            deployment.contains(needle),
            "{needle} missing:\n{deployment}"
        );
    }
    // The Secret is referenced, never rendered (no value can end up in the manifests).
    for file in K8S_FILES {
        assert!(!dir.read(file).contains("kind: Secret"), "{file}");
    }
}

#[test]
fn targets_compose_is_the_default() {
    let plain = render("target-default", "", "compose");
    let run = init(plain.path(), &["--check"]);
    assert_eq!(run.code, 0, "{}", run.show());
    assert!(!plain.join("docker-stack.yml").exists());
    assert!(!plain.join("k8s").exists());
    // And --check knows the other targets' files.
    let run = init(plain.path(), &["--check", "--target", "kubernetes"]);
    assert_eq!(run.code, 1, "{}", run.show());
    assert!(
        run.stdout.contains("missing k8s/deployment.yaml")
            || run.stdout.contains("k8s/deployment.yaml")
    );
    let k8s = render("target-k8s-check", "", "kubernetes");
    let run = init(k8s.path(), &["--check", "--target", "kubernetes"]);
    assert_eq!(run.code, 0, "{}", run.show());
}

#[test]
fn targets_read_the_same_settings() {
    let deploy = "service_name = \"gw\"\nuid = 2000\ngid = 2001\ngateway_port = 19000\nhealth_port = 19001\nreplicas = 3\nmemory = \"1G\"\ncpus = \"1.5\"\npids_limit = 128\ntmpfs_size = \"8m\"\n";
    let swarm = render("settings-swarm", deploy, "swarm");
    let stack = swarm.read("docker-stack.yml");
    for needle in [
        "  gw:\n",
        "user: \"2000:2001\"",
        "replicas: 3",
        "memory: 1G",
        "cpus: \"1.5\"",
        "pids: 128",
        "size: 8388608",
        "\"--port\", \"19001\"",
        "uid: \"2000\"",
        "name: gw_clawdbot_gateway_token",
    ] {
        assert!(stack.contains(needle), "{needle} missing:\n{stack}");
    }
    let k8s = render("settings-k8s", deploy, "kubernetes");
    let d = k8s.read("k8s/deployment.yaml");
    for needle in [
        "namespace: gw",
        "runAsUser: 2000",
        "runAsGroup: 2001",
        "replicas: 3",
        "containerPort: 19000",
        "containerPort: 19001",
        "memory: \"1024Mi\"",
        "cpu: \"1.5\"",
        "sizeLimit: \"8Mi\"",
        "secretName: gw-secrets",
    ] {
        assert!(d.contains(needle), "{needle} missing:\n{d}");
    }
    let np = k8s.read("k8s/networkpolicy.yaml");
    assert!(
        np.contains("port: 19000") && np.contains("port: 443"),
        "{np}"
    );
}

/// A validator from the venv of `scripts/install-py-tools.sh`, or from PATH.
fn py_tool(name: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("HOME").map(|h| {
        PathBuf::from(h)
            .join(".cache/clawdbot-deploy/py/bin")
            .join(name)
    });
    if let Some(p) = venv.filter(|p| p.is_file()) {
        return Some(p);
    }
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if found.is_none() {
        skip(&format!(
            "`{name}` is not installed (run scripts/install-py-tools.sh)"
        ));
    }
    found
}

#[test]
fn kubernetes_manifests_pass_kubernetes_validate_strict() {
    let Some(tool) = py_tool("kubernetes-validate") else {
        return;
    };
    let dir = render("kv", "", "kubernetes");
    // kustomization.yaml is a kustomize file, not an API object.
    let files: Vec<&str> = K8S_FILES
        .iter()
        .copied()
        .filter(|f| !f.ends_with("kustomization.yaml"))
        .collect();
    let mut args = vec!["--strict"];
    args.extend(&files);
    let (ok, out) = run_in(dir.path(), tool.to_str().unwrap(), &args);
    assert!(ok, "kubernetes-validate --strict failed:\n{out}");
    for f in &files {
        assert!(
            out.contains(&format!("{f} passed")) || out.contains("passed"),
            "{f} not reported:\n{out}"
        );
    }
    // The validator is not a rubber stamp: an unknown field fails in strict mode.
    let broken = dir.read("k8s/deployment.yaml").replace(
        "readOnlyRootFilesystem: true",
        "readOnlyRootFilesystem: true\n            readOnlyRootFs: true",
    );
    dir.write("k8s/broken.yaml", &broken);
    let (ok, out) = run_in(
        dir.path(),
        tool.to_str().unwrap(),
        &["--strict", "k8s/broken.yaml"],
    );
    assert!(!ok, "strict mode should reject an unknown field:\n{out}");
}

/// checkov's Kubernetes checks that the guide's hardening covers; none may fail.
const IN_SCOPE: &[(&str, &str)] = &[
    ("CKV_K8S_8", "liveness probe"),
    ("CKV_K8S_9", "readiness probe"),
    ("CKV_K8S_10", "CPU requests"),
    ("CKV_K8S_11", "CPU limits"),
    ("CKV_K8S_12", "memory requests"),
    ("CKV_K8S_13", "memory limits"),
    ("CKV_K8S_16", "not privileged"),
    ("CKV_K8S_17", "no host PID"),
    ("CKV_K8S_18", "no host IPC"),
    ("CKV_K8S_19", "no host network"),
    ("CKV_K8S_20", "no privilege escalation"),
    ("CKV_K8S_21", "not the default namespace"),
    ("CKV_K8S_22", "read-only root filesystem"),
    ("CKV_K8S_23", "no root containers"),
    ("CKV_K8S_25", "no added capabilities"),
    ("CKV_K8S_28", "no NET_RAW"),
    ("CKV_K8S_29", "pod security context"),
    ("CKV_K8S_30", "container security context"),
    ("CKV_K8S_31", "seccomp RuntimeDefault"),
    ("CKV_K8S_35", "secrets as files, not environment"),
    ("CKV_K8S_37", "minimal capabilities"),
    ("CKV_K8S_38", "no service account token"),
    ("CKV_K8S_14", "image tag is not latest"),
];

/// Out of scope (documented in docs/production.md): CKV_K8S_43 image digest (we tag with
/// the package version of a locally built image), CKV_K8S_15 imagePullPolicy Always (a
/// locally built image is not in any registry), CKV_K8S_40 UID >= 10000 (the guide's
/// user is 1000, a contract across the image and every target).
const OUT_OF_SCOPE: &[&str] = &["CKV_K8S_43", "CKV_K8S_15", "CKV_K8S_40"];

type Checks = Vec<(String, String)>;

/// (failed, passed) checkov Kubernetes checks on `dir/k8s`, as (check id, resource).
fn checkov(tool: &Path, dir: &TempDir) -> (Checks, Checks) {
    let out = Command::new(tool)
        .args([
            "-d",
            "k8s",
            "--framework",
            "kubernetes",
            "-o",
            "json",
            "--compact",
            "--skip-download",
        ])
        .current_dir(dir.path())
        .output()
        .expect("run checkov");
    let text = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "checkov output is not JSON ({e}):\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let ids = |key: &str| -> Checks {
        report["results"][key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| {
                        (
                            c["check_id"].as_str().unwrap_or("").to_owned(),
                            format!(
                                "{} {}",
                                c["file_path"].as_str().unwrap_or(""),
                                c["resource"].as_str().unwrap_or("")
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    (ids("failed_checks"), ids("passed_checks"))
}

#[test]
fn kubernetes_manifests_pass_checkov_in_scope_checks() {
    let Some(tool) = py_tool("checkov") else {
        return;
    };
    let dir = render("checkov", "", "kubernetes");
    assert_checkov_in_scope_pass(&tool, &dir);

    // The same checks catch a weakened Deployment.
    let weak = dir
        .read("k8s/deployment.yaml")
        .replace(
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
        )
        .replace(
            "allowPrivilegeEscalation: false",
            "allowPrivilegeEscalation: true",
        );
    dir.write("k8s/deployment.yaml", &weak);
    let (failed, _) = checkov(&tool, &dir);
    for id in ["CKV_K8S_20", "CKV_K8S_22"] {
        assert!(
            failed.iter().any(|(f, _)| f == id),
            "{id} should fail on a weakened Deployment: {failed:?}"
        );
    }
}

/// Every in-scope checkov check ran on `dir/k8s` and passed; nothing else failed but the
/// documented out-of-scope checks.
fn assert_checkov_in_scope_pass(tool: &Path, dir: &TempDir) {
    // kustomization.yaml is kustomize's file, not an API object.
    std::fs::remove_file(dir.join("k8s/kustomization.yaml")).unwrap();
    let (failed, passed) = checkov(tool, dir);
    let bad: Vec<String> = failed
        .iter()
        .filter(|(id, _)| IN_SCOPE.iter().any(|(s, _)| s == id))
        .map(|(id, r)| format!("{id} ({r})"))
        .collect();
    assert!(bad.is_empty(), "in-scope checkov checks failed: {bad:?}");
    // Every in-scope check actually ran (and passed).
    for (id, what) in IN_SCOPE {
        assert!(
            passed.iter().any(|(p, _)| p == id),
            "checkov did not run {id} ({what}); passed: {passed:?}"
        );
    }
    let other: Vec<&String> = failed
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !OUT_OF_SCOPE.contains(&id.as_str()))
        .collect();
    eprintln!(
        "checkov: {} passed, failed out of scope: {failed:?}, other failed: {other:?}",
        passed.len()
    );
    assert!(
        other.is_empty(),
        "checkov checks failed that are neither in scope nor documented out of scope: {other:?}"
    );
}

/// The OpenClaw app's manifests (`app = "openclaw"`): the same strict schema validation
/// and the same in-scope checkov checks as the clawdbot ones, one replica, a PVC.
#[test]
fn openclaw_kubernetes_manifests_pass_kubernetes_validate_and_checkov() {
    let dir = render("oc-k8s", "app = \"openclaw\"\n", "kubernetes");
    let deployment = dir.read("k8s/deployment.yaml");
    assert!(deployment.contains("replicas: 1\n") && deployment.contains("type: Recreate"));
    assert!(
        deployment.contains("claimName: openclaw-state"),
        "{deployment}"
    );
    assert!(dir
        .read("k8s/kustomization.yaml")
        .contains("- openclaw.json"));
    let Some(kv) = py_tool("kubernetes-validate") else {
        return;
    };
    let files = [
        "k8s/namespace.yaml",
        "k8s/pvc.yaml",
        "k8s/deployment.yaml",
        "k8s/service.yaml",
        "k8s/networkpolicy.yaml",
    ];
    let mut args = vec!["--strict"];
    args.extend(files);
    let (ok, out) = run_in(dir.path(), kv.to_str().unwrap(), &args);
    assert!(ok, "kubernetes-validate --strict failed:\n{out}");
    let Some(checkov) = py_tool("checkov") else {
        return;
    };
    assert_checkov_in_scope_pass(&checkov, &dir);
}

// ---------------------------------------------------------------- swarm end to end

/// Removes the stack, its secrets and the image, and leaves swarm mode when the test
/// initialised it, whatever happened.
struct SwarmGuard {
    stack: String,
    secrets: Vec<String>,
    image: String,
    leave: bool,
}

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        let here = std::env::temp_dir();
        let _ = run_in(&here, "docker", &["stack", "rm", &self.stack]);
        let label = format!("label=com.docker.stack.namespace={}", self.stack);
        wait_for(60, || {
            run_in(&here, "docker", &["ps", "-aq", "--filter", &label])
                .1
                .trim()
                .is_empty()
                && run_in(
                    &here,
                    "docker",
                    &["network", "ls", "-q", "--filter", &label],
                )
                .1
                .trim()
                .is_empty()
        });
        for s in &self.secrets {
            let _ = run_in(&here, "docker", &["secret", "rm", s]);
        }
        let _ = run_in(&here, "docker", &["rmi", "-f", &self.image]);
        if self.leave {
            let _ = run_in(&here, "docker", &["swarm", "leave", "--force"]);
        }
    }
}

#[test]
fn swarm_stack_deploys_healthy_replicas_engine() {
    if !have_engine() {
        return;
    }
    let here = std::env::temp_dir();
    let state = ok_in(
        &here,
        "docker",
        &["info", "--format", "{{.Swarm.LocalNodeState}}"],
    );
    let leave = match state.trim() {
        "inactive" => {
            ok_in(
                &here,
                "docker",
                &["swarm", "init", "--advertise-addr", "127.0.0.1"],
            );
            true
        }
        "active" => false,
        other => panic!("the engine's swarm state is {other:?}; expected inactive or active"),
    };
    let pid = std::process::id();
    let service = format!("prodswarm{pid}");
    let image = format!("prod-swarm-e2e-{pid}");
    let mut guard = SwarmGuard {
        stack: service.clone(),
        secrets: Vec::new(),
        image: format!("{image}:0.1.0"),
        leave,
    };
    let dir = project(
        "swarm-e2e",
        &format!("service_name = \"{service}\"\nimage_name = \"{image}\"\nreplicas = 2\n"),
    );
    let run = init(dir.path(), &["--yes", "--env", "--target", "swarm"]);
    assert_eq!(run.code, 0, "{}", run.show());
    build_image(&dir, &format!("{image}:0.1.0"));
    for name in [
        "clawdbot_gateway_token",
        "anthropic_api_key",
        "openai_api_key",
    ] {
        let secret = format!("{service}_{name}");
        let file = format!("secrets/{name}");
        ok_in(dir.path(), "docker", &["secret", "create", &secret, &file]);
        guard.secrets.push(secret);
    }
    ok_in(
        dir.path(),
        "docker",
        &["stack", "deploy", "-c", "docker-stack.yml", &service],
    );
    let svc_label = format!("label=com.docker.swarm.service.name={service}_{service}");
    let healthy = || -> Vec<String> {
        run_in(
            dir.path(),
            "docker",
            &[
                "ps",
                "-q",
                "--filter",
                &svc_label,
                "--filter",
                "health=healthy",
            ],
        )
        .1
        .lines()
        .map(str::to_owned)
        .collect()
    };
    let ok = wait_for(120, || healthy().len() == 2);
    let ps = run_in(
        dir.path(),
        "docker",
        &[
            "service",
            "ps",
            "--no-trunc",
            &format!("{service}_{service}"),
        ],
    )
    .1;
    assert!(ok, "the replicas did not become healthy:\n{ps}");
    let token = dir.read("secrets/clawdbot_gateway_token");
    for id in healthy() {
        let (ok, out) = run_in(
            dir.path(),
            "docker",
            &["exec", &id, "/usr/local/bin/clawdbot", "healthcheck"],
        );
        assert!(ok, "healthcheck through docker exec failed in {id}: {out}");
        let inspect = ok_in(dir.path(), "docker", &["inspect", &id]);
        let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
        let c = &v[0];
        assert_eq!(c["Config"]["User"], "1000:1000");
        assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true);
        assert_eq!(c["HostConfig"]["CapDrop"], serde_json::json!(["ALL"]));
        assert_eq!(c["HostConfig"]["PidsLimit"], 256);
        assert_eq!(c["HostConfig"]["Memory"], 2_i64 << 30);
        assert_eq!(c["HostConfig"]["NanoCpus"], 2_000_000_000_i64);
        assert!(
            c["NetworkSettings"]["Ports"]
                .as_object()
                .is_none_or(|p| p.values().all(|b| b.is_null())),
            "a replica publishes a port: {}",
            c["NetworkSettings"]["Ports"]
        );
        assert!(
            !inspect.contains(token.trim()),
            "the token is visible in inspect"
        );
    }
    // The documented access path: a plain container on the attachable overlay network
    // (where a reverse proxy would publish on 127.0.0.1) reaches the service by name.
    let network = format!("{service}_clawdbot-net");
    let (ok, out) = run_in(
        dir.path(),
        "docker",
        &[
            "run",
            "--rm",
            "--network",
            &network,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--user",
            "1000:1000",
            &format!("{image}:0.1.0"),
            "healthcheck",
            "--host",
            &service,
            "--port",
            "8080",
        ],
    );
    assert!(
        ok,
        "a container on {network} cannot reach the service: {out}"
    );
    drop(guard);
}
