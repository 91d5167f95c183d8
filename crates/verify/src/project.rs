//! The project under verification: which files, read safely (size cap, binary,
//! non-UTF-8, symlinks), parsed into positioned models, plus git state.

use std::fmt;
use std::path::{Path, PathBuf};

use super::compose::{self, Compose};
use super::dockerfile::{self, Dockerfile};
use super::interp::Env;

/// Largest input file accepted.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Unreadable or malformed input: reported as one line, exit 2.
#[derive(Debug)]
pub struct InputError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl std::error::Error for InputError {}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as shown in reports (relative to the root when inside it).
    pub display: String,
    pub path: PathBuf,
    pub text: String,
}

/// Which files to verify.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub root: PathBuf,
    pub dockerfile: Option<PathBuf>,
    pub compose_files: Vec<PathBuf>,
    /// Verify the compose files as a Swarm stack (`docker stack deploy`); also on when a
    /// compose file is named `docker-stack.yml`/`.yaml` (see `swarm`).
    pub swarm: bool,
    /// Kubernetes manifests directory (`*.yaml`/`*.yml`); default: `<root>/k8s` when it
    /// exists (see `k8s`).
    pub k8s: Option<PathBuf>,
}

#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub files: Vec<SourceFile>,
    /// Parsed Dockerfiles: (index into `files`, model).
    pub dockerfiles: Vec<(usize, Dockerfile)>,
    /// Index into `files` of each compose file, in merge order.
    pub compose_files: Vec<usize>,
    pub compose: Option<Compose>,
    pub gitignore: Option<usize>,
    pub dockerignore: Option<usize>,
    pub env_example: Option<usize>,
    /// `.env` exists in the root (its contents are only used for interpolation).
    pub dotenv_exists: bool,
    /// `Some(true)` when git tracks `.env`; `None` when the root is not a git work tree.
    pub env_tracked: Option<bool>,
    /// `Some(true)` when git's ignore rules ignore `.env` (any .gitignore level,
    /// info/exclude, core.excludesFile; see `git_state`); `None` when not in a git work tree.
    pub env_git_ignored: Option<bool>,
    /// Swarm mode, and the keys `docker stack deploy` would ignore (removed from `compose`).
    pub swarm: bool,
    pub swarm_ignored: Vec<super::swarm::Ignored>,
    /// Kubernetes manifests: `(file index, parsed documents)`.
    pub manifests: Vec<(usize, Vec<super::yaml::Node>)>,
}

fn display(root: &Path, path: &Path) -> String {
    let shown = path
        .strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    if shown.is_empty() {
        ".".into()
    } else {
        shown
    }
}

/// Reads a text file defensively. `Ok(None)` when it does not exist.
pub fn read_text(root: &Path, path: &Path) -> Result<Option<SourceFile>, InputError> {
    let shown = display(root, path);
    let fail = |message: String| InputError {
        file: shown.clone(),
        line: 0,
        column: 0,
        message,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail(format!("cannot read ({e})"))),
    };
    let meta = if meta.file_type().is_symlink() {
        std::fs::metadata(path).map_err(|e| fail(format!("broken or looping symlink ({e})")))?
    } else {
        meta
    };
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(fail(format!(
            "file is {} bytes, larger than the {} byte limit (is this really a Dockerfile or compose file?)",
            meta.len(),
            MAX_FILE_BYTES
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read ({e})")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail("file grew beyond the size limit while reading".into()));
    }
    if let Some(p) = bytes.iter().position(|&b| b == 0) {
        let line = bytes[..p].iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(InputError {
            file: shown,
            line,
            column: 1,
            message: "binary file (NUL byte) (verify reads text files only)".into(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let b = e.as_bytes();
        let line = b[..at].iter().filter(|&&c| c == b'\n').count() + 1;
        let col = at
            - b[..at]
                .iter()
                .rposition(|&c| c == b'\n')
                .map(|p| p + 1)
                .unwrap_or(0)
            + 1;
        InputError {
            file: shown.clone(),
            line,
            column: col,
            message: "not valid UTF-8 (save the file as UTF-8)".into(),
        }
    })?;
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text);
    Ok(Some(SourceFile {
        display: shown,
        path: path.to_path_buf(),
        text,
    }))
}

const COMPOSE_NAMES: &[(&str, &str)] = &[
    ("compose.yaml", "compose.override.yaml"),
    ("compose.yml", "compose.override.yml"),
    ("docker-compose.yaml", "docker-compose.override.yaml"),
    ("docker-compose.yml", "docker-compose.override.yml"),
];

impl Project {
    pub fn load(sel: &Selection) -> Result<Project, InputError> {
        let root = sel.root.clone();
        if !root.is_dir() {
            return Err(InputError {
                file: root.display().to_string(),
                line: 0,
                column: 0,
                message: "not a directory (pass --root DIR)".into(),
            });
        }
        let mut p = Project {
            root: root.clone(),
            files: Vec::new(),
            dockerfiles: Vec::new(),
            compose_files: Vec::new(),
            compose: None,
            gitignore: None,
            dockerignore: None,
            env_example: None,
            dotenv_exists: false,
            env_tracked: None,
            env_git_ignored: None,
            swarm: false,
            swarm_ignored: Vec::new(),
            manifests: Vec::new(),
        };
        let missing = |path: &Path| InputError {
            file: display(&root, path),
            line: 0,
            column: 0,
            message: "no such file (check the path, or pass --root DIR)".into(),
        };

        // Compose files, in merge order.
        let compose_paths: Vec<PathBuf> = if sel.compose_files.is_empty() {
            COMPOSE_NAMES
                .iter()
                .find(|(main, _)| root.join(main).exists())
                .map(|(main, over)| {
                    let mut v = vec![root.join(main)];
                    if root.join(over).exists() {
                        v.push(root.join(over));
                    }
                    v
                })
                .or_else(|| {
                    // No compose file: a Swarm stack file, when there is one.
                    ["docker-stack.yml", "docker-stack.yaml"]
                        .iter()
                        .map(|n| root.join(n))
                        .find(|p| p.exists())
                        .map(|p| vec![p])
                })
                .unwrap_or_default()
        } else {
            sel.compose_files.clone()
        };
        p.swarm = sel.swarm || compose_paths.iter().any(|c| super::swarm::is_stack_file(c));
        let dotenv = read_text(&root, &root.join(".env")).ok().flatten();
        p.dotenv_exists = root.join(".env").exists();
        let env = Env::new(dotenv.as_ref().map(|f| f.text.as_str()));
        let mut merged: Option<super::yaml::Node> = None;
        for (i, path) in compose_paths.iter().enumerate() {
            let file = read_text(&root, path)?.ok_or_else(|| missing(path))?;
            let node = compose::parse_file(&file.text, i, &env).map_err(|e| InputError {
                file: file.display.clone(),
                line: e.pos.line,
                column: e.pos.column,
                message: e.message,
            })?;
            p.compose_files.push(p.files.len());
            p.files.push(file);
            match &mut merged {
                Some(base) => compose::merge(base, node, ""),
                None => merged = Some(node),
            }
        }
        if p.swarm {
            if let Some(m) = &mut merged {
                p.swarm_ignored = super::swarm::strip(m);
            }
        }
        p.compose = merged.as_ref().map(compose::model);

        // Dockerfiles: the selected one, plus those compose services build from.
        let mut docker_paths: Vec<PathBuf> = Vec::new();
        match &sel.dockerfile {
            Some(f) => {
                if std::fs::symlink_metadata(f).is_err() {
                    return Err(missing(f));
                }
                docker_paths.push(f.clone());
            }
            None if root.join("Dockerfile").exists() => docker_paths.push(root.join("Dockerfile")),
            None => {}
        }
        if let Some(c) = &p.compose {
            for s in &c.services {
                if let Some(path) = build_dockerfile(&p, s) {
                    if !docker_paths.iter().any(|d| same_file(d, &path)) && path.exists() {
                        docker_paths.push(path);
                    }
                }
            }
        }
        for path in docker_paths {
            let file = read_text(&root, &path)?.ok_or_else(|| missing(&path))?;
            let df = dockerfile::parse(&file.text).map_err(|e| InputError {
                file: file.display.clone(),
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
            p.dockerfiles.push((p.files.len(), df));
            p.files.push(file);
        }
        // Kubernetes manifests: `--k8s DIR`, or `<root>/k8s` when it is a directory.
        let k8s_dir = sel
            .k8s
            .clone()
            .or_else(|| Some(root.join("k8s")).filter(|d| d.is_dir()));
        if let Some(dir) = k8s_dir {
            let entries = std::fs::read_dir(&dir).map_err(|e| InputError {
                file: display(&root, &dir),
                line: 0,
                column: 0,
                message: format!("cannot read the manifests directory ({e}; pass --k8s DIR)"),
            })?;
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            paths.sort();
            for path in paths {
                let Some(file) = read_text(&root, &path)? else {
                    continue;
                };
                let docs = super::yaml::parse_all(&file.text).map_err(|e| InputError {
                    file: file.display.clone(),
                    line: e.pos.line,
                    column: e.pos.column,
                    message: e.message,
                })?;
                p.manifests.push((p.files.len(), docs));
                p.files.push(file);
            }
        }
        if p.dockerfiles.is_empty() && p.compose.is_none() && p.manifests.is_empty() {
            return Err(InputError {
                file: display(&root, &root),
                line: 0,
                column: 0,
                message: "no Dockerfile, compose file or k8s/ manifests found (pass --root DIR, --file, --compose-file or --k8s DIR)".into(),
            });
        }

        for (name, slot) in [(".gitignore", 0), (".dockerignore", 1), (".env.example", 2)] {
            if let Some(f) = read_text(&root, &root.join(name))? {
                let idx = Some(p.files.len());
                p.files.push(f);
                match slot {
                    0 => p.gitignore = idx,
                    1 => p.dockerignore = idx,
                    _ => p.env_example = idx,
                }
            }
        }
        (p.env_tracked, p.env_git_ignored) = super::git_state::env_state(&root);
        Ok(p)
    }

    /// Dockerfile model a service builds from, if any.
    pub fn dockerfile_of(&self, s: &compose::Service) -> Option<(usize, &Dockerfile)> {
        let path = build_dockerfile(self, s)?;
        self.dockerfiles
            .iter()
            .find(|(i, _)| same_file(&self.files[*i].path, &path))
            .map(|(i, d)| (*i, d))
    }
}

/// Whether two paths name the same file: equal components (`a/./b` is `a/b`) answer
/// without a system call, which matters once per service in large compose files.
fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Path of the Dockerfile a service's `build:` uses, relative to the first compose file.
fn build_dockerfile(p: &Project, s: &compose::Service) -> Option<PathBuf> {
    let build = s.get("build")?;
    let base = p
        .compose_files
        .first()
        .and_then(|&i| p.files[i].path.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| p.root.clone());
    let (context, file) = match build.as_str() {
        Some(ctx) => (ctx.to_string(), "Dockerfile".to_string()),
        None => (
            build
                .get("context")
                .and_then(|c| c.scalar())
                .unwrap_or_else(|| ".".into()),
            build
                .get("dockerfile")
                .and_then(|c| c.scalar())
                .unwrap_or_else(|| "Dockerfile".into()),
        ),
    };
    if context.contains("://") || context.starts_with("git@") {
        return None;
    }
    let ctx = base.join(context);
    Some(ctx.join(file))
}
