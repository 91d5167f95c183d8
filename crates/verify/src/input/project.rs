//! The project under verification: which files, read safely (size cap, binary,
//! non-UTF-8, symlinks), parsed into positioned models, plus git state.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::input::compose::expand::{self as compose_expand, Source};
use crate::input::compose::{self, Compose, ComposeError, Unset};
use crate::input::dockerfile::{self, Dockerfile};
use crate::input::error::InputError;
use crate::input::interp::Env;

/// A selected file that does not exist.
fn missing(root: &Path, path: &Path) -> InputError {
    InputError {
        file: display(root, path),
        line: 0,
        column: 0,
        message: "no such file (check the path, or pass --root DIR)".into(),
    }
}

/// Largest input file accepted.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

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

impl Selection {
    /// The default selection of the project at `root` (its Dockerfile, compose files and
    /// `k8s/`, as the front ends choose them without flags).
    pub fn of_root(root: PathBuf) -> Selection {
        Selection {
            root,
            dockerfile: None,
            compose_files: Vec::new(),
            swarm: false,
            k8s: None,
        }
    }
}

/// `Project::default()` is a project with nothing read yet (no files, no settings).
#[derive(Debug, Default)]
pub struct Project {
    pub root: PathBuf,
    pub files: Vec<SourceFile>,
    /// Parsed Dockerfiles: (index into `files`, model).
    pub dockerfiles: Vec<(usize, Dockerfile)>,
    /// Index into `files` of each compose file: the selected ones in merge order, then
    /// the files `include:` and `extends:` opened (`Pos::file` indexes this list).
    pub compose_files: Vec<usize>,
    /// Required variables (`${VAR:?}`) without a value: verified as unset.
    pub unset: Vec<Unset>,
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
    pub swarm_ignored: Vec<crate::input::swarm::Ignored>,
    /// Kubernetes manifests: `(file index, parsed documents)`.
    pub manifests: Vec<(usize, Vec<crate::input::yaml::Node>)>,
    /// `build.dockerfile_inline` of each service that has one: `(service, model)`.
    pub inline_dockerfiles: Vec<(String, Dockerfile)>,
    /// Files named by `env_file:` (other than the root `.env`) that exist, then the
    /// tracked env files found by name (`input::tracked_env`).
    pub env_files: Vec<EnvFile>,
    /// A `.env` takes part in the deployment: it exists, compose interpolates
    /// variables, or an `env_file:` names it.
    pub dotenv_used: bool,
    /// Every local build context (compose `build:`, the selected Dockerfile).
    pub build_contexts: Vec<BuildContext>,
    /// The deployment settings of `<root>/Cargo.toml`, when it has them.
    pub settings: Option<crate::input::settings::Settings>,
    /// Position in `dockerfiles` of the Dockerfile each distinct `build:` (context and
    /// Dockerfile as written) uses, found once at load (hundreds of services usually
    /// share one `build:`, and resolving its paths per service was a tenth of a run).
    /// Filled by [`Project::load`]; a `build:` it does not list is resolved on each call.
    pub built_from: Vec<(BuildWritten<'static>, Option<usize>)>,
    /// How pulled images link to the project's Dockerfiles, indexed on first use.
    pub links: std::sync::OnceLock<Links>,
    /// What [`Project::stage_facts`] worked out, per (Dockerfile file, `build.target`):
    /// thousands of services usually build one image.
    pub stage_memo: std::sync::Mutex<Vec<(StageKey, StageFacts)>>,
    /// OpenClaw gateway configs (`openclaw.json`), see [`crate::input::openclaw`].
    pub openclaw: Vec<crate::input::openclaw::Config>,
}

/// The judged stage of an image source: its effective `USER` (as
/// [`dockerfile::final_user`] gives it, without the instruction) and whether it has a
/// HEALTHCHECK ([`dockerfile::has_healthcheck_at`]).
pub type StageFacts = (Option<Option<String>>, bool);

/// A Dockerfile (its index in `files`) and the `build.target` stage judged.
pub type StageKey = (usize, Option<String>);

/// The index [`Project::image_source`] looks pulled images up in (built once, so that
/// a file of thousands of services pulling one image stays linear).
#[derive(Debug, Default)]
pub struct Links {
    /// Image reference -> the services (positions in `compose.services`) that build it.
    builders: crate::hashing::Map<String, Vec<usize>>,
    /// The project directory's name.
    dir_name: Option<String>,
    /// The repository `LABEL org.opencontainers.image.source` of the root Dockerfile
    /// names (its last path segment).
    source_label: Option<String>,
}

/// The repository name of an image reference: its last path segment without tag or
/// digest (`ghcr.io/org/app:1.2` -> `app`).
pub fn repository_name(reference: &str) -> &str {
    let name = reference.split('@').next().unwrap_or("");
    let name = match name.rsplit_once(':') {
        Some((n, tag)) if !tag.contains('/') => n,
        _ => name,
    };
    name.rsplit('/').next().unwrap_or(name)
}

/// A service's local `build:` as written: (context, Dockerfile relative to it), with
/// the defaults filled in (see `build_written`).
pub type BuildWritten<'a> = (Cow<'a, str>, Cow<'a, str>);

/// An `env_file:` of the project and git's view of it.
#[derive(Debug)]
pub struct EnvFile {
    /// Index into `files`.
    pub file: usize,
    /// Path as the compose files name it, relative to the project directory.
    pub rel: String,
    /// `(tracked, ignored)` by git; `(None, None)` outside a work tree.
    pub tracked: Option<bool>,
    pub ignored: Option<bool>,
    /// An `env_file:` names it (else it was found by name, `input::tracked_env`).
    pub named: bool,
}

/// A directory sent to the daemon by `docker build`, with what protects it.
#[derive(Debug)]
pub struct BuildContext {
    pub dir: PathBuf,
    /// Index into `files` of the Dockerfile built from it, when it is read.
    pub dockerfile: Option<usize>,
    /// Index into `files` of the ignore file that applies (`<Dockerfile>.dockerignore`,
    /// else `<context>/.dockerignore`).
    pub ignore: Option<usize>,
    /// Position of the `build:` that names it (the first service's).
    pub pos: Option<crate::input::yaml::Pos>,
}

/// The Dockerfile an image is built from, as far as the project shows it.
#[derive(Debug)]
pub struct ImageSource<'a> {
    /// Index into `files`; `None` for a `build.dockerfile_inline`.
    pub file: Option<usize>,
    pub dockerfile: &'a Dockerfile,
    /// The `build.target` stage judged (`None`: the final stage).
    pub target: Option<String>,
    /// Why this Dockerfile, when the service does not build the image itself: the
    /// settings' `dockerfiles` link it, another service builds it (`which service web
    /// builds`), or the root Dockerfile is linked by the settings' `image_name`, the
    /// image's repository name or the Dockerfile's source label.
    pub via: Option<String>,
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
    // `contains` is memchr; the position is looked for only in the rare failing case.
    if let Some(p) = bytes
        .contains(&0)
        .then(|| bytes.iter().position(|&b| b == 0))
        .flatten()
    {
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
            settings: crate::input::settings::load(&root)?,
            ..Project::default()
        };
        p.load_compose(sel)?;
        p.load_dockerfiles(sel)?;
        p.load_manifests(sel)?;
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
        (p.env_tracked, p.env_git_ignored) = crate::input::git_state::env_state(&root);
        p.load_env_files(&root)?;
        p.load_tracked_env_files(&root);
        p.load_build_contexts(&root)?;
        p.load_openclaw_configs()?;
        p.built_from = p.resolve_builds();
        Ok(p)
    }

    /// The compose files, in merge order: the selected ones, else `compose.yaml` (or its
    /// siblings) plus its override file, else a Swarm stack file.
    fn compose_paths(sel: &Selection) -> Vec<PathBuf> {
        let root = &sel.root;
        if !sel.compose_files.is_empty() {
            return sel.compose_files.clone();
        }
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
    }

    /// The size in bytes of the compose files [`Project::load`] reads first (`include:`
    /// and `extends:` files not counted): what a front end learns before the model is
    /// built, to prepare for a large one.
    pub fn compose_bytes(sel: &Selection) -> u64 {
        Self::compose_paths(sel)
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Reads, interpolates (with the root's `.env`), merges and expands (`include:`,
    /// `extends:`) the compose files into the compose model; strips what Swarm ignores.
    fn load_compose(&mut self, sel: &Selection) -> Result<(), InputError> {
        let root = sel.root.clone();
        let compose_paths = Self::compose_paths(sel);
        self.swarm = sel.swarm
            || compose_paths
                .iter()
                .any(|c| crate::input::swarm::is_stack_file(c));
        let dotenv = read_text(&root, &root.join(".env")).ok().flatten();
        self.dotenv_exists = root.join(".env").exists();
        let env = Env::new(dotenv.as_ref().map(|f| f.text.as_str()));
        let mut merged: Option<crate::input::yaml::Node> = None;
        for (i, path) in compose_paths.iter().enumerate() {
            let file = read_text(&root, path)?.ok_or_else(|| missing(&root, path))?;
            let (node, unset) =
                compose::parse_file_noting(&file.text, i, &env).map_err(|e| InputError {
                    file: file.display.clone(),
                    line: e.pos.line,
                    column: e.pos.column,
                    message: e.message,
                })?;
            self.unset.extend(unset);
            self.compose_files.push(self.files.len());
            self.files.push(file);
            match &mut merged {
                Some(base) => compose::merge(base, node, ""),
                None => merged = Some(node),
            }
        }
        if let Some(m) = &mut merged {
            let base = compose_paths
                .first()
                .and_then(|c| c.parent())
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.clone());
            let mut fs = FsSource {
                base,
                root: &root,
                project: self,
                env: &env,
                failed: None,
            };
            let r = compose_expand::expand(m, &mut fs);
            if let Some(e) = fs.failed.take() {
                return Err(e);
            }
            r.map_err(|e| self.compose_error(e))?;
        }
        if self.swarm {
            if let Some(m) = &mut merged {
                self.swarm_ignored = crate::input::swarm::strip(m);
            }
        }
        self.compose = merged.map(compose::into_model);
        Ok(())
    }

    /// Dockerfiles: the selected one (else the root's), plus those compose services build
    /// from; inline Dockerfiles (`build.dockerfile_inline`) are kept per service.
    fn load_dockerfiles(&mut self, sel: &Selection) -> Result<(), InputError> {
        let root = sel.root.clone();
        let mut docker_paths: Vec<PathBuf> = Vec::new();
        match &sel.dockerfile {
            Some(f) => {
                if std::fs::symlink_metadata(f).is_err() {
                    return Err(missing(&root, f));
                }
                docker_paths.push(f.clone());
            }
            None if root.join("Dockerfile").exists() => docker_paths.push(root.join("Dockerfile")),
            None => {}
        }
        for path in self.linked_dockerfiles()? {
            if !docker_paths.iter().any(|d| same_file(d, &path)) {
                docker_paths.push(path);
            }
        }
        if let Some(c) = &self.compose {
            let mut seen: Vec<BuildWritten<'_>> = Vec::new();
            let mut inline = Vec::new();
            for s in &c.services {
                let text = s
                    .get("build")
                    .and_then(|b| b.get("dockerfile_inline"))
                    .and_then(|d| d.as_str());
                // An inline Dockerfile that does not parse is judged as absent.
                if let Some(df) = text.and_then(|t| dockerfile::parse(t).ok()) {
                    inline.push((s.name.clone(), df));
                }
                match build_written(s) {
                    Some(key) if !seen.contains(&key) => seen.push(key),
                    // The same `build:` as an earlier service: the same paths.
                    _ => continue,
                }
                if let Some(path) = build_dockerfile(self, s) {
                    if !docker_paths.iter().any(|d| same_file(d, &path)) && path.exists() {
                        docker_paths.push(path);
                    }
                }
            }
            self.inline_dockerfiles.extend(inline);
        }
        for path in docker_paths {
            let file = read_text(&root, &path)?.ok_or_else(|| missing(&root, &path))?;
            let df = dockerfile::parse(&file.text).map_err(|e| InputError {
                file: file.display.clone(),
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
            self.dockerfiles.push((self.files.len(), df));
            self.files.push(file);
        }
        Ok(())
    }

    /// The Dockerfiles the settings' `dockerfiles` link to pulled images; one that does
    /// not exist is an input error at its line of `Cargo.toml`.
    fn linked_dockerfiles(&self) -> Result<Vec<PathBuf>, InputError> {
        let Some(settings) = &self.settings else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (image, rel) in &settings.dockerfiles {
            let path = self.root.join(rel);
            if !path.is_file() {
                let text =
                    std::fs::read_to_string(self.root.join("Cargo.toml")).unwrap_or_default();
                let quoted = format!("\"{rel}\"");
                let (line, column) = text
                    .lines()
                    .enumerate()
                    .find_map(|(i, l)| l.find(&quoted).map(|c| (i + 1, c + 1)))
                    .unwrap_or((0, 0));
                return Err(InputError {
                    file: "Cargo.toml".into(),
                    line,
                    column,
                    message: format!("[workspace.metadata.deploy] dockerfiles: {rel} (for {image}) is not a file of the project"),
                });
            }
            out.push(path);
        }
        Ok(out)
    }

    /// Kubernetes manifests: `--k8s DIR`, or `<root>/k8s` when it is a directory.
    fn load_manifests(&mut self, sel: &Selection) -> Result<(), InputError> {
        let root = &sel.root;
        let k8s_dir = sel
            .k8s
            .clone()
            .or_else(|| Some(root.join("k8s")).filter(|d| d.is_dir()));
        let Some(dir) = k8s_dir else {
            return Ok(());
        };
        let entries = std::fs::read_dir(&dir).map_err(|e| InputError {
            file: display(root, &dir),
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
            let Some(file) = read_text(root, &path)? else {
                continue;
            };
            let docs = crate::input::yaml::parse_all(&file.text).map_err(|e| InputError {
                file: file.display.clone(),
                line: e.pos.line,
                column: e.pos.column,
                message: e.message,
            })?;
            self.manifests.push((self.files.len(), docs));
            self.files.push(file);
        }
        Ok(())
    }

    /// The Dockerfile (position in `dockerfiles`) of each distinct `build:` of the
    /// compose model, for [`Project::dockerfile_of`].
    fn resolve_builds(&self) -> Vec<(BuildWritten<'static>, Option<usize>)> {
        let mut out: Vec<(BuildWritten<'static>, Option<usize>)> = Vec::new();
        let Some(c) = &self.compose else {
            return out;
        };
        for s in &c.services {
            let Some(key) = build_written(s) else {
                continue;
            };
            if out.iter().any(|(k, _)| *k == key) {
                continue;
            }
            let found = self.find_dockerfile(s);
            out.push((
                (key.0.into_owned().into(), key.1.into_owned().into()),
                found,
            ));
        }
        out
    }

    /// Position in `dockerfiles` of the Dockerfile service `s` builds from, by its paths.
    fn find_dockerfile(&self, s: &compose::Service) -> Option<usize> {
        let path = build_dockerfile(self, s)?;
        self.dockerfiles
            .iter()
            .position(|(i, _)| same_file(&self.files[*i].path, &path))
    }

    /// Directory the compose files' relative paths start from (the first file's).
    pub fn compose_dir(&self) -> PathBuf {
        self.compose_files
            .first()
            .and_then(|&i| self.files[i].path.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| self.root.clone())
    }

    /// Reads and parses every OpenClaw config of the project (`input::openclaw`).
    fn load_openclaw_configs(&mut self) -> Result<(), InputError> {
        let root = self.root.clone();
        let base = self.compose_dir();
        let paths = crate::input::openclaw::candidates(&root, self.compose.as_ref(), &base);
        let mut seen: Vec<PathBuf> = Vec::new();
        for path in paths {
            let Ok(canon) = path.canonicalize() else {
                continue;
            };
            if seen.contains(&canon) {
                continue;
            }
            seen.push(canon);
            let Some(f) = read_text(&root, &path)? else {
                continue;
            };
            let cfg = crate::input::openclaw::parse(self.files.len(), &f.display, &f.text)?;
            self.openclaw.push(cfg);
            self.files.push(f);
        }
        Ok(())
    }

    /// Reads the `env_file:` files and decides whether `.env` takes part.
    fn load_env_files(&mut self, root: &Path) -> Result<(), InputError> {
        let interpolates = self
            .compose_files
            .iter()
            .any(|&i| mentions_variables(&self.files[i].text));
        let mut used = self.dotenv_exists || interpolates;
        let base = self.compose_dir();
        let mut rels: Vec<String> = Vec::new();
        if let Some(c) = &self.compose {
            for s in &c.services {
                for rel in env_file_paths(s) {
                    if !rels.contains(&rel) {
                        rels.push(rel);
                    }
                }
            }
        }
        for rel in rels {
            let path = base.join(&rel);
            if same_file(&path, &root.join(".env")) || rel.trim_start_matches("./") == ".env" {
                used = true;
                continue;
            }
            // A missing or unreadable env file passes nothing verify can judge.
            let Ok(Some(file)) = read_text(root, &path) else {
                continue;
            };
            let git_rel = path
                .strip_prefix(root)
                .map(|r| r.to_string_lossy().replace('\\', "/"))
                .unwrap_or_else(|_| rel.clone());
            let (tracked, ignored) = crate::input::git_state::path_state(root, &git_rel);
            self.env_files.push(EnvFile {
                file: self.files.len(),
                rel,
                tracked,
                ignored,
                named: true,
            });
            self.files.push(file);
        }
        self.dotenv_used = used;
        Ok(())
    }

    /// Adds the tracked env files that no `env_file:` names (`input::tracked_env`).
    fn load_tracked_env_files(&mut self, root: &Path) {
        let named: Vec<&Path> = self
            .env_files
            .iter()
            .map(|ef| self.files[ef.file].path.as_path())
            .collect();
        let found =
            crate::input::tracked_env::find(root, (self.env_tracked, self.env_git_ignored), &named);
        for (rel, tracked, ignored) in found {
            // An unreadable file passes nothing verify can judge.
            let Ok(Some(file)) = read_text(root, &root.join(&rel)) else {
                continue;
            };
            self.env_files.push(EnvFile {
                file: self.files.len(),
                rel,
                tracked,
                ignored,
                named: false,
            });
            self.files.push(file);
        }
    }

    /// Collects the build contexts and the ignore file of each.
    fn load_build_contexts(&mut self, root: &Path) -> Result<(), InputError> {
        let mut found: Vec<(PathBuf, Option<PathBuf>, Option<crate::input::yaml::Pos>)> =
            Vec::new();
        if let Some(c) = &self.compose {
            let mut seen: Vec<BuildWritten<'_>> = Vec::new();
            for s in &c.services {
                match build_written(s) {
                    Some(key) if !seen.contains(&key) => seen.push(key),
                    // The same paths as an earlier service's, whose position is kept.
                    _ => continue,
                }
                if let Some((ctx, file)) = build_paths(self, s) {
                    let pos = s.get("build").map(|b| b.pos);
                    found.push((ctx.clone(), Some(ctx.join(file)), pos));
                }
            }
        }
        // Dockerfiles no service builds: built with the project root as context.
        for (i, _) in &self.dockerfiles {
            let path = &self.files[*i].path;
            if !found
                .iter()
                .any(|(_, d, _)| d.as_ref().is_some_and(|d| same_file(d, path)))
            {
                found.push((root.to_path_buf(), Some(path.clone()), None));
            }
        }
        for (dir, dockerfile, pos) in found {
            if self.build_contexts.iter().any(|b| {
                same_file(&b.dir, &dir)
                    && b.dockerfile.is_some_and(|d| {
                        dockerfile
                            .as_ref()
                            .is_some_and(|p| same_file(&self.files[d].path, p))
                    })
            }) {
                continue;
            }
            let df_index = dockerfile.as_ref().and_then(|p| {
                self.dockerfiles
                    .iter()
                    .map(|(i, _)| *i)
                    .find(|&i| same_file(&self.files[i].path, p))
            });
            let specific = dockerfile.as_ref().map(|p| {
                let mut name = p.as_os_str().to_owned();
                name.push(".dockerignore");
                PathBuf::from(name)
            });
            let candidates = specific.into_iter().chain([dir.join(".dockerignore")]);
            let mut ignore = None;
            for c in candidates {
                if let Some(i) = self.files.iter().position(|f| same_file(&f.path, &c)) {
                    ignore = Some(i);
                    break;
                }
                if let Ok(Some(f)) = read_text(root, &c) {
                    ignore = Some(self.files.len());
                    self.files.push(f);
                    break;
                }
            }
            self.build_contexts.push(BuildContext {
                dir,
                dockerfile: df_index,
                ignore,
                pos,
            });
        }
        Ok(())
    }

    /// An error at a compose position as an input error of its file.
    fn compose_error(&self, e: ComposeError) -> InputError {
        let file = self
            .compose_files
            .get(e.pos.file)
            .map(|&i| self.files[i].display.clone())
            .unwrap_or_default();
        InputError {
            file,
            line: e.pos.line,
            column: e.pos.column,
            message: e.message,
        }
    }

    /// The Dockerfile the image of service `s` comes from: its own `build:` (file or
    /// `dockerfile_inline`, with `target`), else the Dockerfile the settings'
    /// `dockerfiles` link to the image, else the `build:` of another service that
    /// names the same `image:`, else the root Dockerfile when the settings' `image_name`
    /// names the image, or the image's repository name is the project directory's or the
    /// one the Dockerfile's `org.opencontainers.image.source` label names. `None` for a
    /// pulled image the project does not build.
    /// [`StageFacts`] of an image source, worked out once per Dockerfile file and target
    /// (each time for a `dockerfile_inline`).
    pub fn stage_facts(&self, src: &ImageSource) -> StageFacts {
        let target = src.target.as_deref();
        let work = || {
            (
                dockerfile::final_user(src.dockerfile, target).map(|(u, _)| u),
                dockerfile::has_healthcheck_at(src.dockerfile, target),
            )
        };
        let Some(file) = src.file else {
            return work();
        };
        let known = |memo: &[(StageKey, StageFacts)]| {
            memo.iter()
                .find(|((f, t), _)| *f == file && t.as_deref() == target)
                .map(|(_, facts)| facts.clone())
        };
        if let Some(facts) = self.stage_memo.lock().ok().and_then(|m| known(&m)) {
            return facts;
        }
        let facts = work();
        if let Ok(mut memo) = self.stage_memo.lock() {
            if known(&memo).is_none() {
                memo.push(((file, src.target.clone()), facts.clone()));
            }
        }
        facts
    }

    pub fn image_source(&self, s: &compose::Service) -> Option<ImageSource<'_>> {
        let own = |s: &compose::Service, via: Option<String>| -> Option<ImageSource<'_>> {
            let build = s.get("build")?;
            let target = build.get("target").and_then(|t| t.scalar());
            if let Some((_, df)) = self.inline_dockerfiles.iter().find(|(n, _)| *n == s.name) {
                return Some(ImageSource {
                    file: None,
                    dockerfile: df,
                    target,
                    via,
                });
            }
            let (file, df) = self.dockerfile_of(s)?;
            Some(ImageSource {
                file: Some(file),
                dockerfile: df,
                target,
                via,
            })
        };
        if s.get("build").is_some() {
            return own(s, None);
        }
        let image = s.get("image")?.scalar()?;
        let compose = self.compose.as_ref()?;
        let links = self.links();
        self.linked_image(&image)
            .or_else(|| {
                links
                    .builders
                    .get(&image)
                    .into_iter()
                    .flatten()
                    .map(|&i| &compose.services[i])
                    .filter(|o| o.name != s.name)
                    .find_map(|o| own(o, Some(format!("which service {} builds", o.name))))
            })
            .or_else(|| self.settings_image(&image))
            .or_else(|| self.repository_image(&image, links))
    }

    fn links(&self) -> &Links {
        self.links.get_or_init(|| {
            let mut builders: crate::hashing::Map<String, Vec<usize>> = Default::default();
            for (i, o) in self
                .compose
                .iter()
                .flat_map(|c| c.services.iter().enumerate())
            {
                if o.get("build").is_some() {
                    if let Some(image) = o.get("image").and_then(|i| i.scalar()) {
                        builders.entry(image).or_default().push(i);
                    }
                }
            }
            let dir_name = std::fs::canonicalize(&self.root)
                .ok()
                .and_then(|r| r.file_name().map(|n| n.to_string_lossy().into_owned()));
            let source_label = self.root_dockerfile().and_then(|(_, df)| {
                df.stages.iter().flat_map(|s| &s.instrs).find_map(|instr| {
                    (instr.keyword == "LABEL").then_some(())?;
                    let (_, url) = dockerfile::pairs(&instr.text())
                        .into_iter()
                        .find(|(k, _)| k == "org.opencontainers.image.source")?;
                    let url = url?;
                    let url = url.trim_end_matches('/').trim_end_matches(".git");
                    Some(url.rsplit('/').next().unwrap_or(url).to_string())
                })
            });
            Links {
                builders,
                dir_name,
                source_label,
            }
        })
    }

    /// The root Dockerfile, when the project holds it: (index into `files`, model).
    fn root_dockerfile(&self) -> Option<(usize, &Dockerfile)> {
        let root_dockerfile = self.root.join("Dockerfile");
        self.dockerfiles
            .iter()
            .find(|(i, _)| same_file(&self.files[*i].path, &root_dockerfile))
            .map(|(i, df)| (*i, df))
    }

    /// The root Dockerfile, when the pulled image's repository name is the project's:
    /// the directory's name, or the repository its `LABEL org.opencontainers.image.source`
    /// names (the image a project publishes from its own Dockerfile).
    fn repository_image(&self, image: &str, links: &Links) -> Option<ImageSource<'_>> {
        let repo = repository_name(image).to_ascii_lowercase();
        let same = |name: &Option<String>| {
            name.as_deref()
                .is_some_and(|n| !repo.is_empty() && n.to_ascii_lowercase() == repo)
        };
        let why = if same(&links.source_label) {
            format!("which is the root Dockerfile (its LABEL org.opencontainers.image.source names the repository `{repo}`)")
        } else if same(&links.dir_name) {
            format!("which is the root Dockerfile (the image's repository `{repo}` is the project directory's name)")
        } else {
            return None;
        };
        let (file, df) = self.root_dockerfile()?;
        Some(ImageSource {
            file: Some(file),
            dockerfile: df,
            target: None,
            via: Some(why),
        })
    }

    /// The Dockerfile the settings' `dockerfiles` link to `image` (any tag or digest).
    fn linked_image(&self, image: &str) -> Option<ImageSource<'_>> {
        let (name, rel) = self.settings.as_ref()?.dockerfile_for(image)?;
        let path = self.root.join(rel);
        // Loaded from this very path (`linked_dockerfiles`) unless another name for the
        // file came first: equal paths answer without a system call.
        let (file, df) = self
            .dockerfiles
            .iter()
            .find(|(i, _)| self.files[*i].path == path)
            .or_else(|| {
                self.dockerfiles
                    .iter()
                    .find(|(i, _)| same_file(&self.files[*i].path, &path))
            })?;
        Some(ImageSource {
            file: Some(*file),
            dockerfile: df,
            target: None,
            via: Some(format!(
                "which is {} (the settings' `dockerfiles` link `{name}` to it)",
                self.files[*file].display
            )),
        })
    }

    /// The root Dockerfile, when `image` names the settings' `image_name` (which
    /// `cargo xtask build` builds from it) and the project holds that Dockerfile.
    fn settings_image(&self, image: &str) -> Option<ImageSource<'_>> {
        self.settings.as_ref().filter(|s| s.names_image(image))?;
        let (file, df) = self.root_dockerfile()?;
        Some(ImageSource {
            file: Some(file),
            dockerfile: df,
            target: None,
            via: Some(
                "which is the root Dockerfile (the settings' `image_name` names this image)".into(),
            ),
        })
    }

    /// True when some service of the project builds `image` (it is not pulled).
    pub fn builds_image(&self, image: &str) -> bool {
        self.links().builders.contains_key(image)
    }

    /// Dockerfile model a service builds from, if any.
    pub fn dockerfile_of(&self, s: &compose::Service) -> Option<(usize, &Dockerfile)> {
        let key = build_written(s)?;
        let at = match self.built_from.iter().find(|(k, _)| *k == key) {
            Some((_, at)) => *at,
            // A service the model did not hold at load (not one of `compose.services`).
            None => self.find_dockerfile(s),
        }?;
        self.dockerfiles.get(at).map(|(i, d)| (*i, d))
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
    let (ctx, file) = build_paths(p, s)?;
    Some(ctx.join(file))
}

/// `(context directory, Dockerfile path relative to it)` of a service's `build:`;
/// `None` for a remote context or a `dockerfile_inline`.
pub fn build_paths(p: &Project, s: &compose::Service) -> Option<(PathBuf, String)> {
    let (context, file) = build_written(s)?;
    if context.contains("://") || context.starts_with("git@") {
        return None;
    }
    let base = p
        .compose_files
        .first()
        .and_then(|&i| p.files[i].path.parent())
        .unwrap_or(&p.root);
    Some((base.join(&*context), file.into_owned()))
}

/// A service's `build:` as written (context, Dockerfile), defaults filled in; `None`
/// without `build:` or for a `dockerfile_inline`. Two services with equal values build
/// from the same paths.
fn build_written(s: &compose::Service) -> Option<BuildWritten<'_>> {
    let build = s.get("build")?;
    if build.get("dockerfile_inline").is_some() {
        return None;
    }
    fn text(n: &crate::input::yaml::Node) -> Option<Cow<'_, str>> {
        n.as_str()
            .map(Cow::Borrowed)
            .or_else(|| n.scalar().map(Cow::Owned))
    }
    Some(match build.as_str() {
        Some(ctx) => (Cow::Borrowed(ctx), Cow::Borrowed("Dockerfile")),
        None => (
            build
                .get("context")
                .and_then(text)
                .unwrap_or(Cow::Borrowed(".")),
            build
                .get("dockerfile")
                .and_then(text)
                .unwrap_or(Cow::Borrowed("Dockerfile")),
        ),
    })
}

/// Opens the files `include:` and `extends:` name, below the directory of the first
/// compose file (the project directory), and records them as compose files.
struct FsSource<'a> {
    base: PathBuf,
    root: &'a Path,
    project: &'a mut Project,
    env: &'a Env,
    /// A read or parse error of an opened file, reported against that file.
    failed: Option<InputError>,
}

impl Source for FsSource<'_> {
    fn open(
        &mut self,
        path: &str,
        env_file: Option<&str>,
    ) -> Result<Option<crate::input::yaml::Node>, ComposeError> {
        let full = self.base.join(path);
        let fail = |failed: &mut Option<InputError>, e: InputError| {
            let message = format!("cannot use {path}: {}", e.message);
            *failed = Some(e);
            ComposeError {
                pos: crate::input::yaml::Pos::default(),
                message,
            }
        };
        let file = match read_text(self.root, &full) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => return Err(fail(&mut self.failed, e)),
        };
        let own_env;
        let env = match env_file {
            None => self.env,
            Some(e) => {
                let text = read_text(self.root, &self.base.join(e)).ok().flatten();
                own_env = Env::new(text.as_ref().map(|f| f.text.as_str()));
                &own_env
            }
        };
        // The same file opened again (another service extends it) keeps one index.
        let index = match self
            .project
            .compose_files
            .iter()
            .position(|&i| same_file(&self.project.files[i].path, &full))
        {
            Some(i) => i,
            None => {
                self.project.compose_files.push(self.project.files.len());
                self.project.files.push(file.clone());
                self.project.compose_files.len() - 1
            }
        };
        let (mut node, unset) =
            compose::parse_file_noting(&file.text, index, env).map_err(|e| {
                fail(
                    &mut self.failed,
                    InputError {
                        file: file.display.clone(),
                        line: e.pos.line,
                        column: e.pos.column,
                        message: e.message,
                    },
                )
            })?;
        for u in unset {
            if !self
                .project
                .unset
                .iter()
                .any(|x| x.missing.name == u.missing.name)
            {
                self.project.unset.push(u);
            }
        }
        compose_expand::rebase(&mut node, compose_expand::dir_of(path));
        Ok(Some(node))
    }
}

/// Whether a compose text references variables (`$VAR`, `${VAR}`), so compose reads `.env`.
fn mentions_variables(text: &str) -> bool {
    let b = text.as_bytes();
    // Each `$` found with memchr (a compose file of thousands of services has few).
    text.match_indices('$').any(|(i, _)| {
        b.get(i + 1)
            .is_some_and(|&n| n == b'{' || n.is_ascii_alphabetic() || n == b'_')
            && (i == 0 || b[i - 1] != b'$')
    })
}

/// The paths a service's `env_file:` names (a string, a list of strings, or a list of
/// `{path: ...}` maps).
pub fn env_file_paths(s: &compose::Service) -> Vec<String> {
    match s.get("env_file") {
        None => Vec::new(),
        Some(n) if n.scalar().is_some() => n.scalar().into_iter().collect(),
        Some(n) => n
            .as_seq()
            .iter()
            .filter_map(|e| e.get("path").unwrap_or(e).scalar())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::TempDir;
    use crate::RuleId;

    #[test]
    fn repository_names() {
        for (reference, repo) in [
            ("ghcr.io/org/app:1.2", "app"),
            ("app", "app"),
            ("localhost:5000/team/app@sha256:0f", "app"),
            ("registry:5000/app", "app"),
        ] {
            assert_eq!(super::repository_name(reference), repo, "{reference}");
        }
    }

    /// A pulled image whose repository is the project directory's name is judged by the
    /// root Dockerfile (its USER and HEALTHCHECK); in a directory of another name it
    /// stays unknown.
    #[test]
    fn a_pulled_image_named_like_the_project_directory_uses_its_dockerfile() {
        let tmp = TempDir::new("link-dir").unwrap();
        let rules_in = |dir: &str| {
            let root = tmp.path().join(dir);
            std::fs::create_dir_all(&root).unwrap();
            std::fs::write(
                root.join("Dockerfile"),
                "FROM scratch\nUSER 1000:1000\nHEALTHCHECK CMD [\"/app\", \"health\"]\n",
            )
            .unwrap();
            std::fs::write(
                root.join("docker-compose.yml"),
                "services:\n  web:\n    image: example/notes-app:2.0.1\n",
            )
            .unwrap();
            let sel = super::Selection::of_root(root);
            let found = crate::verify_files(&sel).unwrap();
            found.iter().map(|f| f.rule).collect::<Vec<_>>()
        };
        let linked = rules_in("notes-app");
        assert!(!linked.contains(&RuleId::HealthcheckUnknown), "{linked:?}");
        assert!(!linked.contains(&RuleId::UserUnknown), "{linked:?}");
        let other = rules_in("elsewhere");
        assert!(other.contains(&RuleId::HealthcheckUnknown), "{other:?}");
        assert!(other.contains(&RuleId::UserUnknown), "{other:?}");
    }

    /// The settings' `dockerfiles` link a pulled image to a Dockerfile anywhere in the
    /// project: its USER and HEALTHCHECK count, and the finding says which file and why.
    /// A link to a file that does not exist is an input error at its line.
    #[test]
    fn the_settings_link_a_pulled_image_to_its_dockerfile() {
        let tmp = TempDir::new("link-settings").unwrap();
        let root = tmp.path().join("anywhere");
        std::fs::create_dir_all(root.join("docker")).unwrap();
        std::fs::write(
            root.join("docker/Dockerfile"),
            "FROM scratch\nUSER 1000:1000\n",
        )
        .unwrap();
        std::fs::write(
            root.join("docker-compose.yml"),
            "services:\n  web:\n    image: ghcr.io/org/notes:2.0.1\n",
        )
        .unwrap();
        let run = |manifest: Option<&str>| {
            if let Some(m) = manifest {
                std::fs::write(root.join("Cargo.toml"), m).unwrap();
            }
            crate::verify_files(&super::Selection::of_root(root.clone()))
        };
        let unlinked = run(None).unwrap();
        let rules: Vec<RuleId> = unlinked.iter().map(|f| f.rule).collect();
        assert!(rules.contains(&RuleId::HealthcheckUnknown), "{rules:?}");
        assert!(rules.contains(&RuleId::UserUnknown), "{rules:?}");
        let linked = run(Some(
            "[workspace.metadata.deploy]\ndockerfiles = { \"ghcr.io/org/notes\" = \"docker/Dockerfile\" }\n",
        ))
        .unwrap();
        let rules: Vec<RuleId> = linked.iter().map(|f| f.rule).collect();
        assert!(!rules.contains(&RuleId::UserUnknown), "{rules:?}");
        let missing = linked
            .iter()
            .find(|f| f.rule == RuleId::HealthcheckMissing)
            .unwrap_or_else(|| panic!("{rules:?}"));
        assert!(
            missing.message.ends_with(
                "which is docker/Dockerfile (the settings' `dockerfiles` link `ghcr.io/org/notes` to it)"
            ),
            "{}",
            missing.message
        );
        let e = run(Some(
            "[workspace.metadata.deploy]\ndockerfiles = { \"ghcr.io/org/notes\" = \"deploy/Dockerfile\" }\n",
        ))
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("Cargo.toml", 2), "{e}");
        assert!(e.message.contains("deploy/Dockerfile"), "{e}");
    }

    use super::mentions_variables;

    #[test]
    fn variables_are_found_and_escapes_are_not() {
        for yes in ["$VAR", "a: ${X}", "a: $_x", "$$ ${Y}", "x$a"] {
            assert!(mentions_variables(yes), "{yes}");
        }
        for no in ["", "$", "a$", "$$VAR", "$1", "$ {X}", "cost: 5$"] {
            assert!(!mentions_variables(no), "{no}");
        }
    }
}
