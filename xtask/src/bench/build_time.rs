//! Section 5: cold and warm build times of the xtask and of `clawdbot`, and the number of
//! dependencies of each. Cold builds (an empty target directory) run only with `--cold`;
//! otherwise the report carries the last measured value, marked as such.

use std::path::Path;
use std::time::Instant;

use crate::tasks::Command;
use anyhow::{Context, Result};

use super::report::{previous_value, stash, Figure, Section};
use super::{secs, Ctx};

/// (package, source file touched for the warm build)
const PACKAGES: &[(&str, &str)] = &[("xtask", "xtask/src/main.rs"), ("clawdbot", "src/main.rs")];

/// Unique crates in `cargo tree -p <package> --prefix none -e normal`, minus the package.
pub fn count_deps(tree: &str, package: &str) -> usize {
    let mut names: Vec<String> = tree
        .lines()
        .map(|l| {
            l.trim()
                .trim_end_matches("(*)")
                .trim()
                .trim_end_matches("(proc-macro)")
                .trim()
                .to_string()
        })
        .filter(|l| !l.is_empty())
        .filter(|l| l.split_whitespace().next() != Some(package))
        .map(|l| {
            // "name v1.2.3 (/path)" -> "name v1.2.3"
            l.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        })
        .collect();
    names.sort();
    names.dedup();
    names.len()
}

fn touch(path: &Path) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.set_modified(std::time::SystemTime::now())
        .with_context(|| format!("touching {}", path.display()))
}

fn timed_build(
    root: &Path,
    package: &str,
    release: Option<&str>,
    target_dir: Option<&Path>,
) -> Result<f64> {
    let mut args = vec!["build".to_string(), "-p".into(), package.into()];
    if let Some(target) = release {
        args.extend(["--release".into(), "--target".into(), target.into()]);
    }
    let mut c = Command::cargo(&[]).args(&args).current_dir(root);
    if let Some(dir) = target_dir {
        c = c.env("CARGO_TARGET_DIR", &dir.to_string_lossy());
    }
    let started = Instant::now();
    c.capture()
        .with_context(|| format!("cargo build -p {package}"))?;
    Ok(started.elapsed().as_secs_f64())
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new("build", "Build time and dependencies");
    let root = ctx.root.as_path();
    for (package, _) in PACKAGES {
        let tree = Command::cargo(&["tree", "-p", package, "--prefix", "none", "-e", "normal"])
            .current_dir(root)
            .read()
            .with_context(|| format!("cargo tree -p {package}"))?;
        let n = count_deps(&tree, package);
        s.push(Figure::new(
            format!("`{package}`: dependencies (normal, transitive, unique)"),
            n.to_string(),
            format!("cargo tree -p {package} --prefix none -e normal | sort -u"),
        ));
    }

    // Warm: touch one source file, rebuild.
    let reps = if ctx.quick { 1 } else { 2 };
    for (package, file) in PACKAGES {
        let mut total = 0.0;
        timed_build(root, package, None, None)?; // bring it up to date first
        for _ in 0..reps {
            touch(&ctx.root.join(file))?;
            total += timed_build(root, package, None, None)?;
        }
        s.push(Figure::new(
            format!("`{package}`: warm dev build (touch {file}, rebuild)"),
            format!("{} (mean of {reps})", secs(total / reps as f64)),
            format!("touch {file} && cargo build -p {package}"),
        ));
    }
    if !ctx.quick {
        let tc = crate::build::Toolchain::choose();
        if tc.rustflags.is_none() {
            timed_build(root, "clawdbot", Some(tc.target), None)?;
            touch(&ctx.root.join("src/main.rs"))?;
            let took = timed_build(root, "clawdbot", Some(tc.target), None)?;
            s.push(Figure::new(
                "`clawdbot`: warm release build (shipped profile: fat LTO, 1 codegen unit)",
                secs(took),
                format!(
                    "touch src/main.rs && cargo build --release -p clawdbot --target {}",
                    tc.target
                ),
            ));
        }
    }

    // Cold: an empty target directory.
    for (package, _) in PACKAGES {
        let key = format!("cold-{package}");
        let name = format!("`{package}`: cold dev build (empty target directory)");
        let command = format!("CARGO_TARGET_DIR=$(mktemp -d) cargo build -p {package}");
        if ctx.cold {
            let dir = crate::tempdir::TempDir::new("clawdbot-bench-cold")?;
            let took = timed_build(root, package, None, Some(dir.path()))?;
            s.push(Figure::new(name, secs(took), command));
            s.raw.push(stash(&key, &format!("{took:.1}")));
        } else {
            let value = match previous_value(&ctx.previous, &key) {
                Some(v) => {
                    s.raw.push(stash(&key, &v));
                    format!("{v} s (last measured value; not measured in this run, use --cold)")
                }
                None => "not measured in this run (use --cold)".to_string(),
            };
            s.push(Figure::new(name, value, command));
        }
    }
    s.note("Build times depend heavily on how many cores are free (see Machine: cores and load average at start).");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_unique_dependencies_without_the_package() {
        let tree = "xtask v0.1.0 (/w/xtask)\nanyhow v1.0.0\nserde v1.0.1\nserde_derive v1.0.1 (proc-macro)\nserde v1.0.1 (*)\n\nanyhow v1.0.0 (*)\n";
        assert_eq!(count_deps(tree, "xtask"), 3);
    }
}
