//! `cargo xtask audit` against the advisory database it chooses itself (`ADVISORY_DB`,
//! else `../shared/advisory-db` when present, else cargo-audit's own, fetched): it fails
//! on a fixture lockfile holding a crate version with a known advisory, and passes
//! (advisories and license allowlist) on the repository's own lockfile. Under CI one of
//! those databases must work; elsewhere, without a local one, these tests skip loudly. `cargo xtask sbom` writes a
//! CycloneDX 1.5 document of the binary's dependency graph.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{have_tool, in_ci, repo_root, skip, xtask_env, Run, TempDir};

/// Whether the audit has a database to run against, chosen as the xtask chooses it:
/// `ADVISORY_DB` (must then be a database), else `../shared/advisory-db`, else
/// cargo-audit's own. Outside CI cargo-audit's own is not fetched (no network in the
/// tests): the tests skip loudly. Under CI it is used, and must work.
fn have_advisory_db() -> bool {
    if std::env::var_os("ADVISORY_DB").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    if repo_root().join("../shared/advisory-db/crates").is_dir() || in_ci() {
        return true;
    }
    skip("no local RustSec advisory database (set ADVISORY_DB, or provide ../shared/advisory-db; under CI cargo-audit's own database is fetched)");
    false
}

fn have_cargo_audit() -> bool {
    have_tool(env!("CARGO"), &["audit", "--version"])
}

/// `xtask <args>`, stdin from /dev/null.
fn xtask(args: &[&str]) -> Run {
    xtask_env(args, &[])
}

/// The run was refused as a usage error: exit 2, `message` on stderr.
fn assert_refused(out: &Run, message: &str) {
    assert_eq!(out.code, 2, "{}", out.show());
    assert!(out.stderr.contains(message), "{}", out.show());
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name)
        .join("Cargo.lock")
}

#[test]
fn audit_fails_on_a_vulnerable_lockfile() {
    if !have_advisory_db() || !have_cargo_audit() {
        return;
    }
    let lock = fixture("vulnerable");
    let out = xtask(&[
        "audit",
        "--lockfile",
        lock.to_str().unwrap(),
        "--no-licenses",
    ]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("vulnerability RUSTSEC-2021-0003 smallvec 1.6.0: Buffer overflow in SmallVec::insert_many (fix: upgrade to >=0.6.14, <1.0.0 or >=1.6.1"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("audit: 1 vulnerability"),
        "{}",
        out.stdout
    );
}

#[test]
fn audit_passes_on_the_repository_lockfile() {
    if !have_advisory_db() || !have_cargo_audit() {
        return;
    }
    let out = xtask(&["audit"]);
    assert_eq!(
        out.code, 0,
        "the repository's dependencies have findings:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stdout
            .contains("audit: 0 vulnerabilities, 0 license findings"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("packages linked into clawdbot and clawdbot-verify, 0 outside the allowlist"));
}

#[test]
fn audit_refuses_a_directory_that_is_not_a_database() {
    if !have_cargo_audit() {
        return;
    }
    let empty = TempDir::new("audit-nodb");
    let out = xtask(&["audit", "--db", empty.path().to_str().unwrap()]);
    assert_refused(&out, "not an advisory database");
    // An ADVISORY_DB that is not a database is an error too, never a silent fallback.
    let out = xtask_env(
        &["audit", "--no-licenses"],
        &[("ADVISORY_DB", empty.path())],
    );
    assert_refused(&out, "not an advisory database (from ADVISORY_DB");
    let out = xtask(&["audit", "--lockfile", "/nonexistent/Cargo.lock"]);
    assert_refused(&out, "no such lockfile");
}

#[test]
fn audit_without_cargo_audit_says_how_to_install() {
    // PATH without cargo-audit (cargo itself stays reachable by absolute path).
    let empty = TempDir::new("audit-nocargo");
    let cargo = Path::new(env!("CARGO"));
    std::os::unix::fs::symlink(cargo, empty.join("cargo")).unwrap();
    let out = xtask_env(
        &["audit"],
        &[("PATH", empty.path()), ("CARGO_HOME", empty.path())],
    );
    assert_refused(&out, "cargo-audit is not installed (rerun with --install");
}

#[test]
fn sbom_is_cyclonedx_1_5_of_the_binary_dependencies() {
    let dir = TempDir::new("sbom");
    let out_path = dir.join("bom.json");
    let out = xtask(&["sbom", "--out", out_path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let bom: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    assert_eq!(bom["specVersion"], "1.5");
    let serial = bom["serialNumber"].as_str().unwrap();
    assert!(
        serial.starts_with("urn:uuid:") && serial.len() == 45,
        "{serial}"
    );
    assert_eq!(bom["metadata"]["component"]["name"], "clawdbot");
    assert_eq!(bom["metadata"]["component"]["type"], "application");
    assert_eq!(
        bom["metadata"]["component"]["purl"],
        "pkg:cargo/clawdbot@0.1.0"
    );
    let comps = bom["components"].as_array().unwrap();
    let find = |name: &str| comps.iter().find(|c| c["name"] == name);
    let tokio = find("tokio").expect("tokio is linked");
    let version = tokio["version"].as_str().unwrap();
    assert_eq!(tokio["purl"], format!("pkg:cargo/tokio@{version}"));
    assert_eq!(tokio["licenses"][0]["expression"], "MIT");
    for linked in ["axum", "reqwest", "serde_json", "clap", "rustls"] {
        assert!(find(linked).is_some(), "{linked} missing");
    }
    // The xtask's own dependencies are not in the binary.
    for not_linked in ["tera", "xshell", "dialoguer", "indicatif", "include_dir"] {
        assert!(
            find(not_linked).is_none(),
            "{not_linked} is not linked into clawdbot"
        );
    }
    // Every component has a purl, and the dependency graph starts at clawdbot.
    assert!(comps.iter().all(|c| c["purl"]
        .as_str()
        .is_some_and(|p| p.starts_with("pkg:cargo/"))));
    let deps = bom["dependencies"].as_array().unwrap();
    let root = deps
        .iter()
        .find(|d| d["ref"] == "pkg:cargo/clawdbot@0.1.0")
        .unwrap();
    assert!(root["dependsOn"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d.as_str().unwrap().starts_with("pkg:cargo/tokio@")));
}

/// The venv python of scripts/install-py-tools.sh when it has cyclonedx-python-lib.
fn cyclonedx_python() -> Option<PathBuf> {
    let py = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/clawdbot-deploy/py/bin/python"))
        .filter(|p| p.is_file());
    let ok = py.as_ref().is_some_and(|p| {
        Command::new(p)
            .args(["-c", "import cyclonedx.validation.json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        skip("cyclonedx-python-lib is not installed (run scripts/install-py-tools.sh)");
        return None;
    }
    py
}

const VALIDATE: &str = "import sys\nfrom cyclonedx.validation.json import JsonStrictValidator\nfrom cyclonedx.schema import SchemaVersion\nerr = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sys.argv[1]).read())\nprint(err if err else 'valid')\nsys.exit(1 if err else 0)\n";

#[test]
fn sbom_validates_against_the_cyclonedx_1_5_schema() {
    let Some(py) = cyclonedx_python() else {
        return;
    };
    let dir = TempDir::new("sbom-schema");
    let path = dir.join("bom.json");
    let out = xtask(&["sbom", "--out", path.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let run = |file: &Path| {
        let o = Command::new(&py)
            .args(["-c", VALIDATE])
            .arg(file)
            .output()
            .expect("run python");
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
        )
    };
    let (ok, msg) = run(&path);
    assert!(ok, "the SBOM is not valid CycloneDX 1.5 (strict): {msg}");
    // The validator rejects a broken document (an unknown component type).
    let broken = std::fs::read_to_string(&path).unwrap().replacen(
        "\"type\": \"library\"",
        "\"type\": \"crate\"",
        1,
    );
    let bad = dir.join("broken.json");
    std::fs::write(&bad, broken).unwrap();
    let (ok, msg) = run(&bad);
    assert!(!ok, "a broken SBOM passed: {msg}");
}
