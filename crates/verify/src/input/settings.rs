//! The deployment settings static verify reads: the `[workspace.metadata.deploy]` table
//! of `<root>/Cargo.toml` (the table `cargo xtask` reads; every key is documented in
//! `xtask/src/settings.rs`). Only `image_name` matters here: `cargo xtask build` builds
//! that image from the root Dockerfile, so a service whose `image:` names it (any tag or
//! digest) runs an image the project builds, and that Dockerfile's USER and HEALTHCHECK
//! count for it. No manifest, or no table: no settings (a repository that does not use
//! them). Other keys are not read here; runtime verify reads its own
//! (`runtime::config`).

use std::path::Path;

use serde::Deserialize;

use crate::defaults;
use crate::input::error::InputError;

/// The settings static verify uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The image the root Dockerfile builds (`image_name`, default `clawdbot`).
    pub image_name: String,
}

#[derive(Deserialize)]
struct Manifest {
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Workspace {
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    deploy: Option<Deploy>,
}

#[derive(Deserialize)]
struct Deploy {
    image_name: Option<toml::Spanned<String>>,
}

impl Settings {
    /// Reads `<root>/Cargo.toml`; a manifest that cannot be read or parsed, or an
    /// `image_name` that is not a name, is an input error at its file:line.
    pub fn load(root: &Path) -> Result<Option<Settings>, InputError> {
        let path = root.join("Cargo.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(InputError {
                    file: "Cargo.toml".into(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read the settings: {e}"),
                })
            }
        };
        Self::parse(&text, "Cargo.toml")
    }

    /// Parses a manifest's text; `display` names the file in errors.
    pub fn parse(text: &str, display: &str) -> Result<Option<Settings>, InputError> {
        let error = |span: Option<std::ops::Range<usize>>, message: String| {
            let (line, column) = span.map_or((0, 0), |s| line_column(text, s.start));
            InputError {
                file: display.to_string(),
                line,
                column,
                message,
            }
        };
        let manifest: Manifest = toml::from_str(text)
            .map_err(|e| error(e.span(), format!("settings: {}", e.message().trim())))?;
        let Some(deploy) = manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.deploy)
        else {
            return Ok(None);
        };
        let image_name = match deploy.image_name {
            None => defaults::IMAGE_NAME.to_string(),
            Some(name) => {
                let span = name.span();
                let name = name.into_inner();
                if !is_name(&name) {
                    return Err(error(
                        Some(span),
                        format!("[workspace.metadata.deploy] image_name: {name:?} must be non-empty lowercase letters, digits, '-' or '_'"),
                    ));
                }
                name
            }
        };
        Ok(Some(Settings { image_name }))
    }

    /// True when `reference` (`clawdbot:0.1.0`, `clawdbot@sha256:…`, `clawdbot`) names
    /// the settings' image.
    pub fn names_image(&self, reference: &str) -> bool {
        let name = reference.split('@').next().unwrap_or("");
        let name = match name.rsplit_once(':') {
            Some((n, tag)) if !tag.contains('/') => n,
            _ => name,
        };
        name == self.image_name
    }
}

/// The settings' rule for names (as `cargo xtask` validates them).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_image_name_or_its_default_only_with_the_table() {
        let s = Settings::parse(
            "[package]\nname = \"x\"\n[workspace.metadata.deploy]\nimage_name = \"gw\"\ncpus = \"1\"\n",
            "Cargo.toml",
        )
        .unwrap();
        assert_eq!(s.map(|s| s.image_name).as_deref(), Some("gw"));
        let s = Settings::parse("[workspace.metadata.deploy]\nprofile = \"local\"\n", "C")
            .unwrap()
            .unwrap();
        assert_eq!(s.image_name, defaults::IMAGE_NAME);
        assert_eq!(
            Settings::parse("[package]\nname = \"x\"\n", "C").unwrap(),
            None
        );
        assert_eq!(
            Settings::load(Path::new("/nonexistent/verify")).unwrap(),
            None
        );
    }

    #[test]
    fn bad_input_is_an_error_at_its_line() {
        let e = Settings::parse(
            "[workspace]\n\n[workspace.metadata.deploy]\nimage_name = \"Claw Bot\"\n",
            "Cargo.toml",
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line, e.column), ("Cargo.toml", 4, 14));
        assert!(e.message.contains("image_name"), "{e}");
        let e = Settings::parse(
            "[workspace.metadata.deploy]\nimage_name = 3\n",
            "Cargo.toml",
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = Settings::parse("[workspace\n", "Cargo.toml").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }

    #[test]
    fn names_the_image_with_any_tag_or_digest() {
        let s = Settings {
            image_name: "clawdbot".into(),
        };
        for r in [
            "clawdbot",
            "clawdbot:0.1.0",
            "clawdbot:latest",
            "clawdbot@sha256:ab12",
        ] {
            assert!(s.names_image(r), "{r}");
        }
        for r in [
            "clawdbot-egress:1",
            "ghcr.io/x/clawdbot:1",
            "other:clawdbot",
            "",
        ] {
            assert!(!s.names_image(r), "{r}");
        }
    }
}
