//! CycloneDX 1.5 JSON SBOM of the `clawdbot` binary: the packages it links, i.e. the
//! normal (not dev, not build-script-only) dependencies of package `clawdbot`, resolved
//! by `cargo metadata` for the image's build target, with their licenses and purls.
//! `cargo xtask sbom [--out PATH]`; `cargo xtask build` writes one next to the image.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::tasks::Command;
use crate::workspace::MUSL_TARGET;

/// Package the SBOM describes.
pub const PACKAGE: &str = "clawdbot";
/// Default output, relative to the workspace root.
pub const DEFAULT_OUT: &str = "target/sbom/clawdbot.cdx.json";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the SBOM (default: target/sbom/clawdbot.cdx.json).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Workspace root to describe (default: this workspace).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print the command it would run, and run nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let root = args.root.unwrap_or_else(crate::workspace::root);
    let out = args.out.unwrap_or_else(|| root.join(DEFAULT_OUT));
    if args.dry_run {
        let commands = [(metadata_command(&root), "")];
        print!(
            "{}",
            crate::tasks::dry_run_text("cargo xtask sbom", &commands)
        );
        return Ok(ExitCode::SUCCESS);
    }
    write_cyclonedx(&root, &out)?;
    println!("sbom: wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
    resolve: Option<Resolve>,
}

#[derive(Deserialize)]
struct Package {
    id: String,
    name: String,
    version: String,
    license: Option<String>,
    source: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct Resolve {
    nodes: Vec<Node>,
}

#[derive(Deserialize)]
struct Node {
    id: String,
    #[serde(default)]
    deps: Vec<NodeDep>,
}

#[derive(Deserialize)]
struct NodeDep {
    pkg: String,
    #[serde(default)]
    dep_kinds: Vec<DepKind>,
}

#[derive(Deserialize)]
struct DepKind {
    kind: Option<String>,
}

/// Writes the SBOM of `clawdbot` in the workspace at `root` to `out` (parent created).
pub fn write_cyclonedx(root: &Path, out: &Path) -> Result<()> {
    write_cyclonedx_of(root, PACKAGE, out)
}

/// Writes the SBOM of workspace package `package` (its binary) to `out`.
pub fn write_cyclonedx_of(root: &Path, package: &str, out: &Path) -> Result<()> {
    let meta = metadata(root)?;
    let bom = cyclonedx(&meta, package, &serial_number()?, &timestamp())?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create the directory", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(&bom)?;
    text.push('\n');
    std::fs::write(out, text).with_context(|| format!("{}: cannot write", out.display()))
}

/// (name, version, license expression) of every package linked into the binary of
/// workspace package `package`.
pub fn linked_licenses(
    root: &Path,
    package: &str,
) -> Result<Vec<(String, String, Option<String>)>> {
    let meta = metadata(root)?;
    let (root_id, graph) = linked_packages(&meta, package)?;
    Ok(meta
        .packages
        .iter()
        .filter(|p| p.id != root_id && graph.contains_key(&p.id))
        .map(|p| (p.name.clone(), p.version.clone(), p.license.clone()))
        .collect())
}

/// `cargo metadata` of the workspace at `root`: what every SBOM and license list reads.
pub fn metadata_command(root: &Path) -> Command {
    Command::cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--manifest-path",
    ])
    .arg(root.join("Cargo.toml"))
    .args(["--filter-platform", MUSL_TARGET])
    .current_dir(root)
}

fn metadata(root: &Path) -> Result<Metadata> {
    let manifest = root.join("Cargo.toml");
    let json = metadata_command(root)
        .read()
        .with_context(|| format!("{}: cargo metadata failed", manifest.display()))?;
    serde_json::from_str(&json).context("cargo metadata: unexpected output")
}

/// The normal dependencies reachable from workspace package `package` (with their edges).
fn linked_packages(
    meta: &Metadata,
    package: &str,
) -> Result<(String, BTreeMap<String, BTreeSet<String>>)> {
    let resolve = meta
        .resolve
        .as_ref()
        .context("cargo metadata has no resolve graph")?;
    let root = meta
        .packages
        .iter()
        .find(|p| p.name == package && p.source.is_none())
        .with_context(|| format!("no workspace package named {package}"))?;
    let nodes: BTreeMap<&str, &Node> = resolve.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    // id -> ids it depends on (normal edges only)
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut todo = vec![root.id.clone()];
    while let Some(id) = todo.pop() {
        if graph.contains_key(&id) {
            continue;
        }
        let node = nodes
            .get(id.as_str())
            .with_context(|| format!("{id}: missing from the resolve graph"))?;
        let deps: BTreeSet<String> = node
            .deps
            .iter()
            .filter(|d| d.dep_kinds.iter().any(|k| k.kind.is_none()))
            .map(|d| d.pkg.clone())
            .collect();
        todo.extend(deps.iter().cloned());
        graph.insert(id, deps);
    }
    Ok((root.id.clone(), graph))
}

fn purl(p: &Package) -> String {
    format!("pkg:cargo/{}@{}", p.name, p.version)
}

fn component(p: &Package, kind: &str) -> Value {
    let mut c = json!({
        "type": kind,
        "bom-ref": purl(p),
        "name": p.name,
        "version": p.version,
        "purl": purl(p),
    });
    if let Some(license) = p.license.as_deref().filter(|l| !l.trim().is_empty()) {
        c["licenses"] = json!([{ "expression": license.replace('/', " OR ") }]);
    }
    if let Some(d) = p.description.as_deref() {
        c["description"] = json!(d.trim());
    }
    c
}

fn cyclonedx(meta: &Metadata, package: &str, serial: &str, timestamp: &str) -> Result<Value> {
    let (root_id, graph) = linked_packages(meta, package)?;
    let by_id: BTreeMap<&str, &Package> =
        meta.packages.iter().map(|p| (p.id.as_str(), p)).collect();
    let pkg = |id: &str| -> Result<&Package> {
        by_id
            .get(id)
            .copied()
            .with_context(|| format!("{id}: not among the packages"))
    };
    let root = pkg(&root_id)?;
    let mut components = Vec::new();
    for id in graph.keys().filter(|id| **id != root_id) {
        components.push(component(pkg(id)?, "library"));
    }
    if components.is_empty() {
        bail!("{package} has no dependency in the resolve graph (is the lockfile complete?)");
    }
    let mut dependencies = Vec::new();
    for (id, deps) in &graph {
        let on: Vec<String> = deps
            .iter()
            .map(|d| pkg(d).map(purl))
            .collect::<Result<_>>()?;
        dependencies.push(json!({ "ref": purl(pkg(id)?), "dependsOn": on }));
    }
    Ok(json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": { "components": [{
                "type": "application",
                "name": "cargo-xtask-sbom",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": component(root, "application"),
            "properties": [{ "name": "cargo:target", "value": MUSL_TARGET }],
        },
        "components": components,
        "dependencies": dependencies,
    }))
}

/// `urn:uuid:` + a random (version 4) UUID.
pub(crate) fn serial_number() -> Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("/dev/urandom: cannot read random bytes")?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Now in UTC as RFC 3339 (`SOURCE_DATE_EPOCH` wins, for reproducible SBOMs).
pub(crate) fn timestamp() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    rfc3339(secs)
}

/// Seconds since the Unix epoch as an RFC 3339 UTC time (`2023-11-14T22:13:20Z`).
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_run_starts_what_its_dry_run_lists() {
        let dir = crate::tempdir::TempDir::new("clawdbot-sbom-test").unwrap();
        let out = dir.path().join("bom.json");
        let args = |dry_run| Args {
            out: Some(out.clone()),
            root: None,
            dry_run,
        };
        let (code, ran) = crate::tasks::recorded(|| run(args(false)));
        code.unwrap();
        assert!(out.is_file());
        let (_, dry) = crate::tasks::recorded(|| run(args(true)));
        assert!(dry.is_empty(), "the dry run ran {dry:?}");
        let listed = metadata_command(&crate::workspace::root()).to_string();
        assert_eq!(ran, [listed]);
    }

    #[test]
    fn timestamps_and_serials_are_well_formed() {
        std::env::set_var("SOURCE_DATE_EPOCH", "1700000000");
        assert_eq!(timestamp(), "2023-11-14T22:13:20Z");
        std::env::remove_var("SOURCE_DATE_EPOCH");
        let s = serial_number().unwrap();
        let re = regex::Regex::new(
            r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&s), "{s}");
        assert_ne!(s, serial_number().unwrap());
    }
}
