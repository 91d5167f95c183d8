//! The deployment settings static verify reads: the `[workspace.metadata.deploy]` table
//! of `<root>/Cargo.toml`, through the one loader of `clawdbot-settings` (the table
//! `cargo xtask` reads; every key is documented in crates/settings/src/lib.rs). Static
//! verify uses `image_name`: `cargo xtask build` builds that image from the root
//! Dockerfile, so a service whose `image:` names it (any tag or digest,
//! [`Settings::names_image`]) runs an image the project builds, and that Dockerfile's
//! USER and HEALTHCHECK count for it; and `dockerfiles`, the explicit link of a pulled
//! image name to the project's Dockerfile that builds it ([`Settings::dockerfile_for`]). No manifest, or no table: no settings (a
//! repository that does not use them). Runtime verify reads the same settings
//! (`runtime::config`).

use std::path::Path;

pub use clawdbot_settings::Settings;

use crate::input::error::InputError;

/// Reads `<root>/Cargo.toml`; a manifest that cannot be read or parsed, or a value the
/// settings reject, is an input error at its file:line:column.
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
    parse(&text, "Cargo.toml")
}

/// Parses a manifest's text; `display` names the file in errors.
pub fn parse(text: &str, display: &str) -> Result<Option<Settings>, InputError> {
    Settings::table_from_manifest(text).map_err(|e| InputError {
        file: display.to_string(),
        line: e.line,
        column: e.column,
        message: e.message(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defaults;

    #[test]
    fn reads_image_name_or_its_default_only_with_the_table() {
        let s = parse(
            "[package]\nname = \"x\"\n[workspace.metadata.deploy]\nimage_name = \"gw\"\ncpus = \"1\"\n",
            "Cargo.toml",
        )
        .unwrap();
        assert_eq!(s.map(|s| s.image_name).as_deref(), Some("gw"));
        let s = parse("[workspace.metadata.deploy]\nprofile = \"local\"\n", "C")
            .unwrap()
            .unwrap();
        assert_eq!(s.image_name, defaults::IMAGE_NAME);
        assert_eq!(parse("[package]\nname = \"x\"\n", "C").unwrap(), None);
        assert_eq!(load(Path::new("/nonexistent/verify")).unwrap(), None);
    }

    #[test]
    fn bad_input_is_an_error_at_its_line() {
        let e = parse(
            "[workspace]\n\n[workspace.metadata.deploy]\nimage_name = \"Claw Bot\"\n",
            "Cargo.toml",
        )
        .unwrap_err();
        assert_eq!((e.file.as_str(), e.line, e.column), ("Cargo.toml", 4, 14));
        assert!(e.message.contains("image_name"), "{e}");
        let e = parse(
            "[workspace.metadata.deploy]\nimage_name = 3\n",
            "Cargo.toml",
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = parse("[workspace\n", "Cargo.toml").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
        // The same rules as `cargo xtask`: any bad key stops the run, not only `image_name`.
        let e = parse("[workspace.metadata.deploy]\nuid = 0\n", "Cargo.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cargo.toml:2:7: [workspace.metadata.deploy] uid: 0 is root; use an unprivileged id such as 1000"
        );
    }
}
