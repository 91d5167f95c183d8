//! Git's view of `<root>/.env`, read in-process: whether the root is in a work tree,
//! whether the index tracks `.env` (`git ls-files --error-unmatch`) and whether git's
//! ignore rules ignore it (`git check-ignore --no-index`: every `.gitignore` from the
//! top of the work tree down, `info/exclude`, `core.excludesFile`).
//!
//! Spawning git three times was most of a `verify` run's cost. Whatever this reader does
//! not model (GIT_* variables, split or sparse indexes, unknown index versions) falls
//! back to asking git itself.

use std::path::{Path, PathBuf};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;

/// (tracked, ignored); `(None, None)` outside a git work tree.
pub type EnvState = (Option<bool>, Option<bool>);

/// Git's state of `<root>/.env`.
pub fn env_state(root: &Path) -> EnvState {
    path_state(root, ".env")
}

/// Git's state of `<root>/<rel>` (`rel` `/`-separated, e.g. `env/app.env`).
pub fn path_state(root: &Path, rel: &str) -> EnvState {
    const OVERRIDES: &[&str] = &[
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
        "GIT_CEILING_DIRECTORIES",
    ];
    if OVERRIDES.iter().any(|v| std::env::var_os(v).is_some()) {
        return ask_git(root, rel);
    }
    let Ok(root) = root.canonicalize() else {
        return ask_git(root, rel);
    };
    match Repo::discover(&root) {
        Discovery::None => (None, None),
        Discovery::Unsupported => ask_git(&root, rel),
        Discovery::Found(repo) => {
            let top_rel = relative(&repo.top, &root.join(rel));
            match repo.index_has(&top_rel) {
                Some(tracked) => (Some(tracked), Some(repo.ignores(&top_rel))),
                None => ask_git(&root, rel),
            }
        }
    }
}

/// `/`-separated path of `path` below `top`.
fn relative(top: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(top).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

struct Repo {
    /// Top of the work tree.
    top: PathBuf,
    /// This work tree's git dir (holds the index).
    git_dir: PathBuf,
    /// The shared git dir (holds config and info/exclude; differs in linked worktrees).
    common_dir: PathBuf,
}

enum Discovery {
    None,
    Unsupported,
    Found(Repo),
}

impl Repo {
    /// Walks up from `start` to the first directory holding `.git`, like git does.
    fn discover(start: &Path) -> Discovery {
        for dir in start.ancestors() {
            let dot_git = dir.join(".git");
            let Ok(meta) = std::fs::metadata(&dot_git) else {
                continue;
            };
            let git_dir = if meta.is_dir() {
                dot_git
            } else {
                // A linked worktree or submodule: `gitdir: <path>`.
                let Some(target) = std::fs::read_to_string(&dot_git).ok().and_then(|t| {
                    t.strip_prefix("gitdir:")
                        .map(|p| dir.join(p.trim()))
                        .filter(|p| p.is_dir())
                }) else {
                    return Discovery::Unsupported;
                };
                target
            };
            let common_dir = match std::fs::read_to_string(git_dir.join("commondir")) {
                Ok(c) => git_dir.join(c.trim()),
                Err(_) => git_dir.clone(),
            };
            if worktree_is_configured(&common_dir) {
                return Discovery::Unsupported;
            }
            return Discovery::Found(Repo {
                top: dir.to_path_buf(),
                git_dir,
                common_dir,
            });
        }
        Discovery::None
    }

    /// Whether the index lists `rel`; None when the index is in a form not read here.
    fn index_has(&self, rel: &str) -> Option<bool> {
        let data = match std::fs::read(self.git_dir.join("index")) {
            Ok(d) => d,
            // A fresh repository has no index yet: nothing is tracked.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(false),
            Err(_) => return None,
        };
        let hash_len = if sha256_repo(&self.common_dir) {
            32
        } else {
            20
        };
        let entries = index::entries(&data, hash_len)?;
        Some(entries.iter().any(|e| e == rel.as_bytes()))
    }

    /// Whether git's ignore rules ignore `rel` (a file) or one of its directories.
    fn ignores(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        // Matchers from the most specific (deepest .gitignore) to the least.
        let mut per_dir: Vec<Gitignore> = Vec::new();
        let mut dir = self.top.clone();
        per_dir.push(matcher(&self.top, &[dir.join(".gitignore")]));
        for part in &parts[..parts.len() - 1] {
            dir.push(part);
            per_dir.push(matcher(&dir, &[dir.join(".gitignore")]));
        }
        let mut repo_wide = vec![matcher(
            &self.top,
            &[self.common_dir.join("info").join("exclude")],
        )];
        if let Some(global) = global_excludes() {
            repo_wide.push(matcher(&self.top, &[global]));
        }
        let decide = |path: &Path, is_dir: bool, depth: usize| -> bool {
            for m in per_dir[..depth].iter().rev().chain(repo_wide.iter()) {
                match m.matched(path, is_dir) {
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                    Match::None => {}
                }
            }
            false
        };
        // An ignored directory hides everything below it.
        let mut path = self.top.clone();
        for (i, part) in parts.iter().enumerate() {
            path.push(part);
            let is_dir = i + 1 < parts.len();
            if decide(&path, is_dir, i + 1) {
                return true;
            }
        }
        false
    }
}

/// A matcher for the ignore files `files` (missing ones are skipped), rooted at `dir`.
fn matcher(dir: &Path, files: &[PathBuf]) -> Gitignore {
    let mut b = GitignoreBuilder::new(dir);
    for f in files.iter().filter(|f| f.is_file()) {
        // A bad pattern is skipped, as git does.
        let _ = b.add(f);
    }
    b.build().unwrap_or_else(|_| Gitignore::empty())
}

/// `core.excludesFile`, or git's default `$XDG_CONFIG_HOME/git/ignore`.
fn global_excludes() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    let configs = [
        std::env::var_os("GIT_CONFIG_GLOBAL").map(PathBuf::from),
        home.map(|h| h.join(".gitconfig")),
        xdg.as_ref().map(|x| x.join("git/config")),
        Some(PathBuf::from("/etc/gitconfig")),
    ];
    // The ignore crate parses configs with a regex; only pay for it when some config
    // sets the option.
    let sets_it = configs.iter().flatten().any(|c| {
        std::fs::read_to_string(c).is_ok_and(|t| t.to_ascii_lowercase().contains("excludesfile"))
    });
    if sets_it {
        return ignore::gitignore::gitconfig_excludes_path();
    }
    xdg.map(|x| x.join("git/ignore"))
}

/// The `[core] worktree` setting moves the work tree away from `.git`'s parent.
fn worktree_is_configured(common_dir: &Path) -> bool {
    config_mentions(common_dir, "worktree")
}

fn sha256_repo(common_dir: &Path) -> bool {
    config_mentions(common_dir, "objectformat") && config_mentions(common_dir, "sha256")
}

fn config_mentions(common_dir: &Path, word: &str) -> bool {
    std::fs::read_to_string(common_dir.join("config"))
        .is_ok_and(|t| t.to_ascii_lowercase().contains(word))
}

/// The old way: ask git (three processes).
fn ask_git(root: &Path, rel: &str) -> EnvState {
    let Ok(sh) = xshell::Shell::new() else {
        return (None, None);
    };
    sh.change_dir(root);
    let inside = xshell::cmd!(sh, "git rev-parse --is-inside-work-tree")
        .quiet()
        .ignore_stderr()
        .read();
    if !inside.is_ok_and(|s| s.trim() == "true") {
        return (None, None);
    }
    let ok = |c: xshell::Cmd| c.quiet().ignore_stderr().ignore_stdout().run().is_ok();
    let tracked = ok(xshell::cmd!(sh, "git ls-files --error-unmatch -- {rel}"));
    let ignored = ok(xshell::cmd!(sh, "git check-ignore -q --no-index -- {rel}"));
    (Some(tracked), Some(ignored))
}

/// The git index file format (versions 2, 3 and 4), names only.
mod index {
    /// Entry names, or None for a form not read here (bad header, unknown version,
    /// split index, sparse directory entries, truncation).
    pub fn entries(data: &[u8], hash_len: usize) -> Option<Vec<Vec<u8>>> {
        if data.get(..4)? != b"DIRC" {
            return None;
        }
        let version = be32(data, 4)?;
        let count = be32(data, 8)? as usize;
        if !(2..=4).contains(&version) {
            return None;
        }
        let mut names: Vec<Vec<u8>> = Vec::with_capacity(count.min(1 << 20));
        let mut at = 12;
        let fixed = 40 + hash_len + 2;
        for _ in 0..count {
            let start = at;
            let mode = be32(data, start + 24)?;
            if mode & 0o170000 == 0o040000 {
                return None; // sparse-index directory entry
            }
            let flags =
                u16::from_be_bytes([*data.get(start + fixed - 2)?, *data.get(start + fixed - 1)?]);
            at = start + fixed;
            if version >= 3 && flags & 0x4000 != 0 {
                at += 2;
            }
            let name = if version == 4 {
                let (strip, used) = varint(data.get(at..)?)?;
                at += used;
                let prev = names.last().map(Vec::as_slice).unwrap_or(&[]);
                let keep = prev.len().checked_sub(strip)?;
                let len = data.get(at..)?.iter().position(|&b| b == 0)?;
                let mut name = prev[..keep].to_vec();
                name.extend_from_slice(&data[at..at + len]);
                at += len + 1;
                name
            } else {
                let len = data.get(at..)?.iter().position(|&b| b == 0)?;
                let name = data[at..at + len].to_vec();
                // Entries are NUL-padded to a multiple of eight bytes.
                at = start + ((at - start + len + 8) & !7);
                name
            };
            names.push(name);
        }
        if has_extension(data, at, hash_len, b"link") || has_extension(data, at, hash_len, b"sdir")
        {
            return None;
        }
        Some(names)
    }

    fn be32(data: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
    }

    /// Git's offset varint (index v4 name prefix lengths): (value, bytes used).
    fn varint(data: &[u8]) -> Option<(usize, usize)> {
        let mut i = 0;
        let mut c = *data.first()?;
        let mut val = (c & 0x7f) as usize;
        while c & 0x80 != 0 {
            i += 1;
            c = *data.get(i)?;
            val = ((val + 1) << 7) + (c & 0x7f) as usize;
        }
        Some((val, i + 1))
    }

    /// Whether the extensions after the entries (up to the trailing hash) include `sig`.
    fn has_extension(data: &[u8], mut at: usize, hash_len: usize, sig: &[u8; 4]) -> bool {
        let end = data.len().saturating_sub(hash_len);
        while at + 8 <= end {
            if &data[at..at + 4] == sig {
                return true;
            }
            let Some(size) = be32(data, at + 4) else {
                return false;
            };
            at += 8 + size as usize;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn git(dir: &Path, args: &[&str]) {
        let st = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .status()
            .expect("git runs");
        assert!(st.success(), "git {args:?}");
    }

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// Every case agrees with git itself, across index versions 2, 3 and 4.
    #[test]
    fn agrees_with_git() {
        let tmp = crate::test_support::TempDir::new("git-state").unwrap();
        let top = tmp.path().canonicalize().unwrap();
        git(&top, &["init", "-q"]);
        write(&top.join(".gitignore"), "*.log\n/sub/deep/.env\n");
        write(&top.join("sub/.gitignore"), ".env\n!keep/.env\n");
        write(&top.join(".git/info/exclude"), "excluded/\n");
        for d in ["", "sub", "sub/keep", "sub/deep", "excluded", "plain"] {
            write(&top.join(d).join(".env"), "A=1\n");
            write(&top.join(d).join("Dockerfile"), "FROM scratch\n");
        }
        write(
            &top.join("a-very-long-directory-name-for-prefix-compression/x"),
            "x",
        );
        git(&top, &["add", "-A"]);
        // Tracked although ignored; and a file created after the add (untracked).
        git(&top, &["add", "-f", "sub/deep/.env"]);
        write(&top.join("fresh/.env"), "A=1\n");
        let mut seen = std::collections::BTreeSet::new();
        for version in ["2", "3", "4"] {
            git(&top, &["update-index", "--index-version", version]);
            if version == "3" {
                // An extended flag (intent-to-add) forces the v3 entry layout.
                write(&top.join("plain/new"), "n");
                git(&top, &["add", "-N", "plain/new"]);
            }
            for d in [
                "", "sub", "sub/keep", "sub/deep", "excluded", "plain", "fresh",
            ] {
                let root = top.join(d);
                let mine = env_state(&root);
                let theirs = ask_git(&root, ".env");
                assert_eq!(mine, theirs, "index v{version}, root {d:?}");
                seen.insert(mine);
            }
        }
        // A linked worktree: `.git` is a file pointing into the main repository.
        git(&top, &["commit", "-qm", "t"]);
        let linked = top.join("plain").join("linked");
        git(&top, &["worktree", "add", "-q", linked.to_str().unwrap()]);
        assert!(linked.join(".git").is_file());
        for d in ["", "sub", "sub/deep", "excluded"] {
            let root = linked.join(d);
            assert_eq!(
                env_state(&root),
                ask_git(&root, ".env"),
                "linked worktree, root {d:?}"
            );
        }
        // The cases reach every answer git can give inside a work tree.
        for want in [(true, true), (true, false), (false, true), (false, false)] {
            assert!(
                seen.contains(&(Some(want.0), Some(want.1))),
                "no case gives {want:?}: {seen:?}"
            );
        }
        let outside = crate::test_support::TempDir::new("git-state-none").unwrap();
        // Only meaningful when the temp dir is not itself inside a repository.
        assert_eq!(env_state(outside.path()), ask_git(outside.path(), ".env"));
    }

    #[test]
    fn bad_index_falls_back_instead_of_guessing() {
        assert_eq!(index::entries(b"DIRC\0\0\0\x09\0\0\0\0", 20), None);
        assert_eq!(index::entries(b"NOPE", 20), None);
        // Claims one entry but is truncated.
        assert_eq!(index::entries(b"DIRC\0\0\0\x02\0\0\0\x01abc", 20), None);
    }
}
