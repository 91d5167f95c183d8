//! Planning: for each file, what is on disk now (never through a symlink that leaves the
//! root), what the templates render, and whether it is absent, the same or different.
//! Everything is planned before anything is written, so one error writes nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::files::FileSpec;
use super::merge;
use super::render::Renderer;

/// What is on disk for one generated file.
#[derive(Debug)]
pub(crate) struct Current {
    /// Content with CRLF line ends turned into LF.
    pub text: String,
    /// The file used CRLF line ends; a rewrite keeps them.
    pub crlf: bool,
    /// Permission bits, kept by a rewrite.
    pub mode: u32,
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum State {
    Absent,
    Same,
    Differs,
}

/// One file of the plan.
#[derive(Debug)]
pub(crate) struct Planned {
    /// Name shown to the user (relative to the root when it is the working directory).
    pub display: String,
    /// Where to write: the file, or the target of a symlink that stays inside the root.
    pub target: PathBuf,
    pub current: Option<Current>,
    /// Rendered text (LF line ends).
    pub new_text: String,
    pub state: State,
    /// A new file gets mode 0600 and the container's owner (`FileSpec::private`).
    pub private: bool,
}

impl Planned {
    /// Bytes to write: the rendered text, with CRLF line ends when the file had them.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        match &self.current {
            Some(c) if c.crlf => self.new_text.replace('\n', "\r\n").into_bytes(),
            _ => self.new_text.clone().into_bytes(),
        }
    }

    pub(crate) fn mode(&self) -> u32 {
        let new = if self.private { 0o600 } else { 0o644 };
        self.current.as_ref().map_or(new, |c| c.mode)
    }

    pub(crate) fn old_text(&self) -> &str {
        self.current.as_ref().map_or("", |c| c.text.as_str())
    }
}

/// Plans every file of `specs` under `root` (already canonical).
pub(crate) fn plan(
    root: &Path,
    display_root: Option<&Path>,
    specs: &[FileSpec],
    renderer: &Renderer,
) -> Result<Vec<Planned>> {
    let mut out = Vec::new();
    for spec in specs {
        let display = match display_root {
            Some(r) => r.join(spec.name).display().to_string(),
            None => spec.name.to_owned(),
        };
        let target = resolve_target(root, spec.name, &display)?;
        let current = read_current(&target, &display)?;
        let new_text = if spec.merged {
            let empty = merge::UserLines::default();
            let required = merge::block_lines(&renderer.render(spec, &empty)?);
            let user = match &current {
                Some(c) => merge::user_lines(&display, &c.text, &required)?,
                None => empty,
            };
            renderer.render(spec, &user)?
        } else {
            renderer.render(spec, &merge::UserLines::default())?
        };
        let mut planned = compare(display, target, current, new_text);
        planned.private = spec.private;
        out.push(planned);
    }
    Ok(out)
}

/// The plan of one file from what is on disk and its new text.
fn compare(
    display: String,
    target: PathBuf,
    current: Option<Current>,
    new_text: String,
) -> Planned {
    let state = match &current {
        None => State::Absent,
        Some(c) if c.text == new_text => State::Same,
        Some(_) => State::Differs,
    };
    Planned {
        display,
        target,
        current,
        new_text,
        state,
        private: false,
    }
}

/// Plans a file whose new text is computed rather than rendered (`Cargo.toml` under
/// `init --app`): the same states, diff and consent as a generated file.
pub(crate) fn plan_text(
    root: &Path,
    display_root: Option<&Path>,
    name: &str,
    new_text: String,
) -> Result<Planned> {
    let display = match display_root {
        Some(r) => r.join(name).display().to_string(),
        None => name.to_owned(),
    };
    let target = resolve_target(root, name, &display)?;
    let current = read_current(&target, &display)?;
    Ok(compare(display, target, current, new_text))
}

/// The path to read and write for `name`: itself, or the target of a symlink when that
/// target stays inside `root`. A symlink leaving the root, or a directory, is an error.
pub(crate) fn resolve_target(root: &Path, name: &str, display: &str) -> Result<PathBuf> {
    let path = root.join(name);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path),
        Err(e) => return Err(e).with_context(|| format!("{display}: cannot inspect")),
    };
    if meta.is_dir() {
        bail!("{display}: is a directory (move it away; init writes a file there)");
    }
    if !meta.file_type().is_symlink() {
        return Ok(path);
    }
    let resolved = match std::fs::canonicalize(&path) {
        Ok(p) => p,
        // A dangling link: follow it by hand (one level) without touching the target.
        Err(_) => {
            let link = std::fs::read_link(&path)
                .with_context(|| format!("{display}: cannot read the symlink"))?;
            normalize(&root.join(link))
        }
    };
    if !resolved.starts_with(root) {
        bail!(
            "{display}: is a symlink to {}, outside {} (refusing to write through it; replace the link with a regular file)",
            resolved.display(),
            root.display()
        );
    }
    if resolved.is_dir() {
        bail!("{display}: links to a directory (replace the link with a regular file)");
    }
    Ok(resolved)
}

fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn read_current(path: &Path, display: &str) -> Result<Option<Current>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("{display}: cannot read")),
    };
    let mode = std::fs::metadata(path)
        .with_context(|| format!("{display}: cannot inspect"))?
        .permissions()
        .mode()
        & 0o7777;
    let raw = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{display}: byte {} is not UTF-8 (init only manages text files; move the file away)",
            e.utf8_error().valid_up_to()
        )
    })?;
    let crlf_count = raw.matches("\r\n").count();
    let lf_count = raw.matches('\n').count();
    let crlf = crlf_count > 0 && crlf_count * 2 >= lf_count;
    Ok(Some(Current {
        text: raw.replace("\r\n", "\n"),
        crlf,
        mode,
    }))
}
