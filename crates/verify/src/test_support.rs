//! For the tests: temporary directories (removed on drop), fixture projects written out
//! (`materialize`), and a small deterministic generator. The integration tests
//! (`tests/fuzz_loop.rs`, `tests/rule_specs.rs`) include this file too (by path).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> std::io::Result<TempDir> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "clawdbot-verify-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies the fixture project `src` into `dst`. Entries named `dot-NAME` become `.NAME`
/// at every level (so a fixture's `.gitignore` or `.env` does not act on this
/// repository). A top-level `GIT_TRACK` file lists paths to `git add -f` in a fresh
/// repository at `dst` (without it the copy is not a git work tree).
pub fn materialize(src: &Path, dst: &Path) -> std::io::Result<()> {
    copy_tree(src, dst, true)?;
    let Ok(list) = std::fs::read_to_string(src.join("GIT_TRACK")) else {
        return Ok(());
    };
    git(dst, &["init", "-q"])?;
    for path in list.lines().map(str::trim).filter(|l| !l.is_empty()) {
        git(dst, &["add", "-f", "--", path])?;
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path, top: bool) -> std::io::Result<()> {
    if !src.is_dir() {
        return std::fs::copy(src, dst).map(drop);
    }
    std::fs::create_dir_all(dst)?;
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if top && name == "GIT_TRACK" {
            continue;
        }
        let target = match name.strip_prefix("dot-") {
            Some(rest) => format!(".{rest}"),
            None => name.into_owned(),
        };
        copy_tree(&path, &dst.join(target), false)?;
    }
    Ok(())
}

fn git(dir: &Path, args: &[&str]) -> std::io::Result<()> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "git {args:?} in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Small deterministic generator (xorshift), so failures reproduce from the seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// One of `xs` (which must not be empty).
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}
