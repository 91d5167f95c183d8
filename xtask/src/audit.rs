//! `cargo xtask audit`: dependency scanning.
//!
//! 1. Advisories: `cargo audit` (RustSec) on the lockfile, against the first of: `--db
//!    PATH`, `$ADVISORY_DB`, `../shared/advisory-db` next to the repository when present,
//!    else cargo-audit's own database (fetched, unless `--no-fetch`). A local database
//!    runs offline (`--no-fetch --stale`). A vulnerability fails the task (exit 1); the
//!    informational warnings (unmaintained, unsound, yanked) are listed but do not fail.
//! 2. Licenses: every package linked into a shipped binary ([`SHIPPED`]: the SBOM's
//!    graph, from `cargo metadata`, offline) must carry a license expression satisfiable
//!    from the settings' `license_allow` (`[workspace.metadata.deploy]`).
//!
//! Exit codes: 0 clean, 1 vulnerability or license finding, 2 usage error or a tool that
//! could not run. cargo-audit is installed only on request (`--install`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

use crate::sbom;
use crate::settings::Settings;
use crate::tasks::Command;

/// The packages whose binaries are shipped (image and `cargo xtask dist`).
pub const SHIPPED: &[&str] = &["clawdbot", "clawdbot-verify"];

/// The advisory database used when none is given and this directory exists (relative to
/// the repository root).
pub const SHARED_DB: &str = "../shared/advisory-db";
/// Environment variable naming a local advisory database (after `--db`, before `SHARED_DB`).
pub const DB_ENV: &str = "ADVISORY_DB";

/// The advisory database an audit runs against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A local checkout of RustSec's advisory-db (offline), and where its path came from.
    Local { path: PathBuf, from: &'static str },
    /// cargo-audit's own copy (`~/.cargo/advisory-db`), fetched unless `--no-fetch`.
    CargoAudit,
}

impl Database {
    /// `--db`, else `$ADVISORY_DB` (when set and not empty), else [`SHARED_DB`] under `root`
    /// when it holds a database, else cargo-audit's own. A path given explicitly (flag or
    /// variable) must be a database: that is checked where it is used.
    pub fn choose(flag: Option<PathBuf>, env: Option<std::ffi::OsString>, root: &Path) -> Database {
        if let Some(path) = flag {
            return Database::Local { path, from: "--db" };
        }
        if let Some(path) = env.filter(|v| !v.is_empty()) {
            return Database::Local {
                path: PathBuf::from(path),
                from: DB_ENV,
            };
        }
        let shared = root.join(SHARED_DB);
        if is_database(&shared) {
            return Database::Local {
                path: shared,
                from: SHARED_DB,
            };
        }
        Database::CargoAudit
    }
}

/// A RustSec advisory-db checkout has a `crates/` directory.
fn is_database(path: &Path) -> bool {
    path.join("crates").is_dir()
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Local RustSec advisory database (a directory holding crates/). Default: $ADVISORY_DB,
    /// else ../shared/advisory-db when present, else cargo-audit's own (fetched) copy.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Lockfile to audit (default: the workspace's Cargo.lock).
    #[arg(long, value_name = "PATH")]
    pub lockfile: Option<PathBuf>,
    /// Never fetch the database (implied by a local database).
    #[arg(long)]
    pub no_fetch: bool,
    /// Install cargo-audit first when it is missing (`cargo install cargo-audit --locked`;
    /// several minutes of compiling on 2 cores).
    #[arg(long)]
    pub install: bool,
    /// Skip the license allowlist check.
    #[arg(long)]
    pub no_licenses: bool,
    /// Print the commands it would run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let root = crate::workspace::root();
    if !args.dry_run {
        ensure_cargo_audit(args.install)?;
    }

    let lockfile = args.lockfile.unwrap_or_else(|| root.join("Cargo.lock"));
    if !lockfile.is_file() {
        bail!(
            "{}: no such lockfile (pass an existing Cargo.lock to --lockfile)",
            lockfile.display()
        );
    }
    let db = Database::choose(args.db, std::env::var_os(DB_ENV), &root);
    let mut audit_args: Vec<String> = vec!["--json".into()];
    let against = match &db {
        Database::Local { path, from } => {
            if !is_database(path) {
                bail!(
                    "{}: not an advisory database (from {from}; no crates/ directory: point it at an advisory-db checkout)",
                    path.display()
                );
            }
            audit_args.extend(["--db".into(), path.display().to_string()]);
            audit_args.extend(["--no-fetch".into(), "--stale".into()]);
            format!("{} (from {from}, offline)", path.display())
        }
        Database::CargoAudit if args.no_fetch => {
            audit_args.push("--no-fetch".into());
            "cargo-audit's own RustSec database (not fetched)".to_owned()
        }
        Database::CargoAudit => "cargo-audit's own RustSec database (fetched)".to_owned(),
    };
    audit_args.extend(["--file".into(), lockfile.display().to_string()]);
    let audit = Command::cargo(&["audit"]).args(&audit_args);
    if args.dry_run {
        print!(
            "{}",
            dry_run_text(&root, &audit, args.install, args.no_licenses)
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("audit: {} against {against}", lockfile.display());
    // cargo audit exits 1 on findings; the JSON report says which.
    let out = audit.output().context("running cargo audit")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(_) => bail!(
            "cargo audit failed: {} (check --db and --lockfile)",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .rfind(|l| !l.trim().is_empty())
                .unwrap_or("no output")
                .trim()
        ),
    };
    let vulns = print_advisories(&report);

    let mut license_findings = 0;
    if !args.no_licenses {
        let settings = Settings::load(&root)?;
        license_findings = check_licenses(&root, &settings.license_allow)?;
    }
    println!(
        "audit: {vulns} vulnerabilit{}, {license_findings} license finding{}",
        if vulns == 1 { "y" } else { "ies" },
        if license_findings == 1 { "" } else { "s" }
    );
    Ok(if vulns + license_findings > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The dry run: every command a run with `args` may start, `audit` the report's.
fn dry_run_text(root: &Path, audit: &Command, install: bool, no_licenses: bool) -> String {
    let mut commands = vec![(version_command(), "")];
    if install {
        commands.push((install_command(), "when cargo-audit is missing"));
    }
    commands.push((audit.clone(), ""));
    if !no_licenses {
        commands.push((sbom::metadata_command(root), "the license check"));
    }
    crate::tasks::dry_run_text("cargo xtask audit", &commands)
}

fn version_command() -> Command {
    Command::cargo(&["audit", "--version"])
}

fn install_command() -> Command {
    Command::cargo(&["install", "cargo-audit", "--locked"])
}

fn ensure_cargo_audit(install: bool) -> Result<()> {
    if version_command().succeeds() {
        return Ok(());
    }
    if !install {
        bail!("cargo-audit is not installed (rerun with --install, or run `cargo install cargo-audit --locked`: several minutes of compiling)");
    }
    println!("audit: installing cargo-audit (cargo install cargo-audit --locked)");
    install_command()
        .run()
        .context("cargo install cargo-audit --locked failed")?;
    Ok(())
}

/// Prints each vulnerability and warning; returns the number of vulnerabilities.
fn print_advisories(report: &Value) -> usize {
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let list = report["vulnerabilities"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in &list {
        let patched: Vec<String> = v["versions"]["patched"]
            .as_array()
            .map(|a| a.iter().map(s).collect())
            .unwrap_or_default();
        println!(
            "vulnerability {} {} {}: {} (fix: upgrade to {}; {})",
            s(&v["advisory"]["id"]),
            s(&v["package"]["name"]),
            s(&v["package"]["version"]),
            s(&v["advisory"]["title"]),
            if patched.is_empty() {
                "no patched version: replace the crate".to_owned()
            } else {
                patched.join(" or ")
            },
            s(&v["advisory"]["url"]),
        );
    }
    if let Some(warnings) = report["warnings"].as_object() {
        for (kind, items) in warnings {
            for w in items.as_array().into_iter().flatten() {
                println!(
                    "warning ({kind}) {} {} {}: {}",
                    w["advisory"]["id"].as_str().unwrap_or("-"),
                    s(&w["package"]["name"]),
                    s(&w["package"]["version"]),
                    w["advisory"]["title"].as_str().unwrap_or(kind),
                );
            }
        }
    }
    list.len()
}

/// Prints each package linked into a shipped binary whose license is not allowed;
/// returns their number.
fn check_licenses(root: &Path, allow: &[String]) -> Result<usize> {
    let mut findings = 0;
    let mut seen = std::collections::BTreeSet::new();
    for package in SHIPPED {
        for (name, version, license) in sbom::linked_licenses(root, package)? {
            if !seen.insert((name.clone(), version.clone())) {
                continue;
            }
            match &license {
                Some(expr) if allowed(expr, allow) => {}
                Some(expr) => {
                    findings += 1;
                    println!("license {name} {version} (in {package}): `{expr}` is not in the allowlist (replace the crate, or add the licence to license_allow in [workspace.metadata.deploy] after review)");
                }
                None => {
                    findings += 1;
                    println!("license {name} {version} (in {package}): no license expression in its manifest (review its license file by hand)");
                }
            }
        }
    }
    println!(
        "licenses: {} packages linked into {}, {findings} outside the allowlist",
        seen.len(),
        SHIPPED.join(" and ")
    );
    Ok(findings)
}

/// Whether an SPDX expression (`A OR B`, `A AND B`, `A WITH E`, parentheses, the legacy
/// `A/B`) is satisfiable with the licences in `allow`.
pub fn allowed(expr: &str, allow: &[String]) -> bool {
    let spaced = expr
        .replace('/', " OR ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    let ok = Parser { t: &tokens, allow }.or(&mut pos);
    ok == Some(true) && pos == tokens.len()
}

/// A recursive-descent evaluator of SPDX expressions over an allowlist.
struct Parser<'a> {
    t: &'a [&'a str],
    allow: &'a [String],
}

impl Parser<'_> {
    fn or(&self, pos: &mut usize) -> Option<bool> {
        let mut value = self.and(pos)?;
        while self.t.get(*pos) == Some(&"OR") {
            *pos += 1;
            value |= self.and(pos)?;
        }
        Some(value)
    }

    fn and(&self, pos: &mut usize) -> Option<bool> {
        let mut value = self.atom(pos)?;
        while self.t.get(*pos) == Some(&"AND") {
            *pos += 1;
            value &= self.atom(pos)?;
        }
        Some(value)
    }

    fn atom(&self, pos: &mut usize) -> Option<bool> {
        let t = self.t;
        let tok = *t.get(*pos)?;
        *pos += 1;
        if tok == "(" {
            let v = self.or(pos)?;
            if t.get(*pos) != Some(&")") {
                return None;
            }
            *pos += 1;
            return Some(v);
        }
        if matches!(tok, ")" | "OR" | "AND" | "WITH") {
            return None;
        }
        let mut id = tok.to_owned();
        if t.get(*pos) == Some(&"WITH") {
            let exception = t.get(*pos + 1)?;
            *pos += 2;
            id = format!("{id} WITH {exception}");
        }
        Some(self.allow.contains(&id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_the_flag_then_the_variable_then_the_shared_copy_then_cargo_audits() {
        let tmp = crate::tempdir::TempDir::new("xtask-audit-db").unwrap();
        let root = tmp.path().join("repo");
        std::fs::create_dir_all(&root).unwrap();
        let local = |path: &Path, from| Database::Local {
            path: path.to_path_buf(),
            from,
        };
        assert_eq!(Database::choose(None, None, &root), Database::CargoAudit);
        assert_eq!(
            Database::choose(None, Some("".into()), &root),
            Database::CargoAudit
        );
        let env_db = Path::new("/env/db");
        assert_eq!(
            Database::choose(None, Some(env_db.into()), &root),
            local(env_db, DB_ENV)
        );
        std::fs::create_dir_all(tmp.path().join("shared/advisory-db/crates")).unwrap();
        let shared = root.join(SHARED_DB);
        assert_eq!(
            Database::choose(None, None, &root),
            local(&shared, SHARED_DB)
        );
        assert_eq!(
            Database::choose(None, Some(env_db.into()), &root),
            local(env_db, DB_ENV)
        );
        let flag = Path::new("/flag/db");
        assert_eq!(
            Database::choose(Some(flag.into()), Some(env_db.into()), &root),
            local(flag, "--db")
        );
    }

    #[test]
    fn spdx_expressions_are_evaluated() {
        let list = Settings::default().license_allow;
        let allowed = |expr: &str| allowed(expr, &list);
        assert!(allowed("MIT"));
        assert!(allowed("MIT OR Apache-2.0"));
        assert!(allowed("MIT/Apache-2.0"));
        assert!(allowed("(MIT OR Apache-2.0) AND Unicode-3.0"));
        assert!(allowed(
            "Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"
        ));
        assert!(allowed("GPL-3.0 OR MIT"));
        assert!(!allowed("GPL-3.0"));
        assert!(!allowed("MIT AND GPL-3.0"));
        assert!(!allowed("GPL-2.0 WITH Classpath-exception-2.0"));
        assert!(!allowed("(MIT"));
        assert!(!allowed(""));
        // The allowlist is the settings' list, not a fixed one.
        let mit_only = ["MIT".to_owned()];
        assert!(super::allowed("MIT OR GPL-3.0", &mit_only));
        assert!(!super::allowed("Apache-2.0", &mit_only));
        assert!(super::allowed("GPL-3.0", &["GPL-3.0".to_owned()]));
    }

    /// A real run (offline, against the shared advisory database) starts exactly the
    /// commands its dry run lists.
    #[test]
    fn a_real_audit_runs_what_its_dry_run_lists() {
        let root = crate::workspace::root();
        let db = root.join("../shared/advisory-db");
        if !db.is_dir() || !version_command().succeeds() {
            assert!(
                !crate::defaults::ci::in_ci(),
                "cargo-audit or ../shared/advisory-db missing in CI"
            );
            eprintln!("SKIPPED: cargo-audit or ../shared/advisory-db missing");
            return;
        }
        let args = |dry_run| Args {
            db: Some(db.clone()),
            lockfile: None,
            no_fetch: true,
            install: false,
            no_licenses: false,
            dry_run,
        };
        let (code, ran) = crate::tasks::recorded(|| run(args(false)));
        code.unwrap();
        let (_, dry) = crate::tasks::recorded(|| run(args(true)));
        assert!(dry.is_empty(), "the dry run ran {dry:?}");
        let audit = Command::cargo(&["audit", "--json"])
            .args(["--db", &db.display().to_string(), "--no-fetch", "--stale"])
            .args(["--file", &root.join("Cargo.lock").display().to_string()]);
        let listed = dry_run_text(&root, &audit, false, false);
        assert!(ran.len() >= 3, "{ran:?}");
        for command in &ran {
            assert!(
                listed.contains(&format!("$ {command}")),
                "{command} ran but the dry run lists only:\n{listed}"
            );
        }
    }

    /// The real workspace: every package linked into a shipped binary passes the default
    /// allowlist (offline: `cargo metadata` reads the lockfile and the local registry).
    #[test]
    fn the_shipped_binaries_link_only_allowed_licenses() {
        let root = crate::workspace::root();
        let allow = Settings::load(&root).unwrap().license_allow;
        assert_eq!(check_licenses(&root, &allow).unwrap(), 0);
        // And the check can fail: with MIT alone, the Apache/ISC/BSD-only crates fail.
        assert!(check_licenses(&root, &["MIT".to_owned()]).unwrap() > 0);
    }
}
