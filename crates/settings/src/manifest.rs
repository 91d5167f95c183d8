//! Finding the settings in a manifest: the `[workspace.metadata.deploy]` table of
//! `<root>/Cargo.toml`, deserialized into [`Settings`] and validated, every failure a
//! [`SettingsError`] at the key's line (and the value's column).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::Settings;

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    workspace: Option<WorkspaceTable>,
}

#[derive(Deserialize)]
struct WorkspaceTable {
    #[serde(default)]
    metadata: Option<MetadataTable>,
}

#[derive(Deserialize)]
struct MetadataTable {
    #[serde(default)]
    deploy: Option<Settings>,
}

/// A settings value that cannot be used: the key, the line of `Cargo.toml` it is on
/// (the table header when the key is absent, the value for a type error) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The key, when the error is about one (a syntax error may not be).
    pub key: Option<String>,
    pub line: usize,
    /// 1-based column of the value (of the error's start for a syntax error, 1 for the
    /// table header); for front ends that report `file:line:column`.
    pub column: usize,
    pub reason: String,
}

impl SettingsError {
    /// The error without its line: `[workspace.metadata.deploy] <key>: <reason>`.
    pub fn message(&self) -> String {
        match &self.key {
            Some(key) => format!("[workspace.metadata.deploy] {key}: {}", self.reason),
            None => format!("[workspace.metadata.deploy] {}", self.reason),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message())
    }
}

impl std::error::Error for SettingsError {}

/// `<root>/Cargo.toml` exists but its settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Reads `<path>:<line>: [workspace.metadata.deploy] <key>: <reason>`.
    #[error("{}:{error}", path.display())]
    Invalid { path: PathBuf, error: SettingsError },
}

impl Settings {
    /// Loads settings from `<root>/Cargo.toml`; a missing manifest or table means defaults.
    pub fn load(root: &Path) -> Result<Settings, LoadError> {
        Ok(Settings::load_table(root)?.unwrap_or_default())
    }

    /// Loads `<root>/Cargo.toml`'s table: `None` without a manifest or without the table
    /// (a project that does not use the settings).
    pub fn load_table(root: &Path) -> Result<Option<Settings>, LoadError> {
        let path = root.join("Cargo.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LoadError::Read { path, source }),
        };
        Settings::table_from_manifest(&text).map_err(|error| LoadError::Invalid { path, error })
    }

    /// Parses the `[workspace.metadata.deploy]` table of a manifest's text (defaults
    /// when there is none).
    pub fn from_manifest(text: &str) -> Result<Settings, SettingsError> {
        Ok(Settings::table_from_manifest(text)?.unwrap_or_default())
    }

    /// Parses and validates the table of a manifest's text; `None` when there is none.
    pub fn table_from_manifest(text: &str) -> Result<Option<Settings>, SettingsError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_column(text, s.start));
            let reason = e.message().trim().to_owned();
            // The error points at a value (bad type or value) or at a key (unknown key):
            // either way the key starts that line. A syntax error may have none.
            let key = text
                .lines()
                .nth(line - 1)
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim().to_owned())
                .filter(|k| !k.is_empty() && !k.starts_with('['));
            SettingsError {
                key,
                line,
                column,
                reason,
            }
        })?;
        let Some(settings) = manifest
            .workspace
            .and_then(|w| w.metadata)
            .and_then(|m| m.deploy)
        else {
            return Ok(None);
        };
        settings.validate().map_err(|e| {
            let (line, column) = key_position(text, e.key);
            SettingsError {
                key: Some(e.key.to_owned()),
                line,
                column,
                reason: e.reason,
            }
        })?;
        Ok(Some(settings))
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Line of `key = ...` inside `[workspace.metadata.deploy]` and the column of its value,
/// or the table header's line (column 1).
fn key_position(text: &str, key: &str) -> (usize, usize) {
    let mut in_table = false;
    let mut header = 1;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_table = t == "[workspace.metadata.deploy]";
            if in_table {
                header = i + 1;
            }
        } else if in_table && !key.is_empty() && t.split('=').next().map(str::trim) == Some(key) {
            let value = line.find('=').map_or(0, |eq| {
                let after = &line[eq + 1..];
                eq + 1 + (after.len() - after.trim_start().len())
            });
            return (i + 1, value + 1);
        }
    }
    (header, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{defaults, Restart};

    fn err_of(table: &str) -> String {
        let text = format!("[workspace.metadata.deploy]\n{table}\n");
        Settings::from_manifest(&text).unwrap_err().to_string()
    }

    #[test]
    fn the_license_allowlist_is_a_list_of_spdx_ids() {
        for table in [
            "license_allow = []",
            "license_allow = [\"MIT OR GPL-3.0\"]",
            "license_allow = [\"\"]",
            "license_allow = [\"Apache-2.0 WITH\"]",
            "license_allow = [\"GPL (any)\"]",
        ] {
            let err = err_of(table);
            assert!(
                err.starts_with("2: [workspace.metadata.deploy] license_allow: "),
                "{table}: {err}"
            );
        }
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\nlicense_allow = [\"MIT\", \"GPL-2.0 WITH Classpath-exception-2.0\"]\n",
        )
        .unwrap();
        assert_eq!(
            s.license_allow,
            ["MIT", "GPL-2.0 WITH Classpath-exception-2.0"]
        );
        assert_eq!(
            Settings::default().license_allow,
            crate::DEFAULT_LICENSE_ALLOW
        );
    }

    #[test]
    fn app_and_pinned_versions_parse_and_refuse_ranges() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\napp = \"openclaw\"\nopenclaw_version = \"2026.9.7\"\n",
        )
        .unwrap();
        assert_eq!(
            (s.app, s.openclaw_version.as_str()),
            (crate::App::Openclaw, "2026.9.7")
        );
        assert_eq!(Settings::default().app, crate::App::Clawdbot);
        assert!(
            err_of("app = \"nginx\"").contains("app"),
            "{}",
            err_of("app = \"nginx\"")
        );
        assert!(err_of("openclaw_version = \"^2026.9\"")
            .contains("openclaw_version: \"^2026.9\" is not an exact version"));
        assert!(err_of("node_version = \"22.1.0\"")
            .contains("node_version: \"22.1.0\": OpenClaw needs Node 24.x"));
    }

    #[test]
    fn defaults_are_valid_and_empty_table_gives_defaults() {
        Settings::default().validate().unwrap();
        // Every default reads back as itself (the typed defaults are constants that parse).
        let printed = toml::to_string(&Settings::default()).unwrap();
        let back = Settings::from_manifest(&format!("[workspace.metadata.deploy]\n{printed}"));
        assert_eq!(back.unwrap(), Settings::default());
        assert_eq!(
            Settings::from_manifest("[package]\nname='x'\n").unwrap(),
            Settings::default()
        );
        assert_eq!(
            Settings::from_manifest("[workspace.metadata.deploy]\n").unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn each_bad_value_names_its_key() {
        assert!(
            err_of("uid = 0").starts_with("2: [workspace.metadata.deploy] uid: 0 is root"),
            "{}",
            err_of("uid = 0")
        );
        assert!(err_of("gid = 0").contains("gid:"));
        assert!(err_of("memory = \"lots\"").contains("memory: \"lots\""));
        assert!(err_of("gateway_port = 80").contains("gateway_port: 80 is out of range"));
        assert!(
            err_of("gateway_port = 70000").starts_with("2: "),
            "{}",
            err_of("gateway_port = 70000")
        );
        assert!(err_of("bind_address = \"0.0.0.0\"").contains("allow_public_bind"));
        assert!(err_of("unknown_key = 1").contains("unknown field `unknown_key`"));
        assert!(err_of("profile = \"cloud\"").contains("profile"));
        assert!(err_of("cpus = \"-1\"").contains("cpus"));
        assert!(err_of("healthcheck_interval = \"soon\"").contains("healthcheck_interval"));
    }

    #[test]
    fn public_bind_needs_explicit_consent() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\nbind_address = \"0.0.0.0\"\nallow_public_bind = true\n",
        )
        .unwrap();
        assert_eq!(s.bind_address.to_string(), "0.0.0.0");
        assert_eq!(s.bind_host(), "0.0.0.0");
    }

    #[test]
    fn errors_are_typed_with_key_line_and_reason() {
        let text = "[package]\nname = \"x\"\n\n[workspace.metadata.deploy]\nmemory = \"lots\"\n";
        let e = Settings::from_manifest(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("memory"));
        assert_eq!(e.line, 5);
        assert!(e.reason.starts_with("\"lots\" is not a size"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\nreplicas = 0\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("replicas"), 2));
        assert_eq!(
            e.to_string(),
            "2: [workspace.metadata.deploy] replicas: must be at least 1"
        );
        // A rule between two values is reported on the key that is present.
        let e = Settings::from_manifest("[workspace.metadata.deploy]\n\nhealth_port = 18789\n")
            .unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("health_port"), 3));
        let e = Settings::from_manifest("[workspace.metadata.deploy]\ntoken_var = \"x\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("token_var"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\nrestart = \"sometimes\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("restart"), "{e:?}");
        assert!(e.reason.contains("unless-stopped"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\ncolour = 1\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("colour"), 2));
        assert!(e.reason.starts_with("unknown field `colour`"), "{e:?}");
        let e = Settings::from_manifest("[workspace.metadata.deploy]\nuid = \n").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }

    /// `dockerfiles`: image names without tags, paths inside the project; bad ones are
    /// errors at the key's line. Any other key still prints before it (its table last).
    #[test]
    fn dockerfiles_link_image_names_to_paths_inside_the_project() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\ndockerfiles = { \"ghcr.io/org/app\" = \"docker/Dockerfile\" }\n",
        )
        .unwrap();
        assert_eq!(
            s.dockerfile_for("ghcr.io/org/app:2"),
            Some(("ghcr.io/org/app", "docker/Dockerfile"))
        );
        let printed = toml::to_string(&s).unwrap();
        assert!(
            printed.ends_with("[dockerfiles]\n\"ghcr.io/org/app\" = \"docker/Dockerfile\"\n"),
            "{printed}"
        );
        assert!(!toml::to_string(&Settings::default())
            .unwrap()
            .contains("dockerfiles"));
        for (value, says) in [
            (
                "{ \"ghcr.io/org/app:1.2\" = \"Dockerfile\" }",
                "without tag",
            ),
            ("{ \"Org/App\" = \"Dockerfile\" }", "without tag"),
            (
                "{ \"app\" = \"../other/Dockerfile\" }",
                "inside the project",
            ),
            ("{ \"app\" = \"/etc/Dockerfile\" }", "inside the project"),
            ("{ \"app\" = \"\" }", "inside the project"),
        ] {
            let e = Settings::from_manifest(&format!(
                "[workspace.metadata.deploy]\nuid = 1000\ndockerfiles = {value}\n"
            ))
            .unwrap_err();
            assert_eq!(
                (e.key.as_deref(), e.line),
                (Some("dockerfiles"), 3),
                "{value}"
            );
            assert!(e.reason.contains(says), "{value}: {e:?}");
        }
    }

    #[test]
    fn values_are_typed_once_and_print_as_written() {
        let s = Settings::from_manifest(
            "[workspace.metadata.deploy]\nmemory = \"512MB\"\nstop_grace_period = \"1m30s\"\nrestart = \"on-failure\"\nbind_address = \"::1\"\n",
        )
        .unwrap();
        assert_eq!(s.memory.bytes(), 512 << 20);
        assert_eq!(s.stop_grace_period.whole_seconds(), 90);
        assert_eq!(s.restart, Restart::OnFailure);
        assert_eq!(s.bind_host(), "[::1]");
        let printed = toml::to_string(&s).unwrap();
        assert!(printed.contains("memory = \"512MB\"\n"), "{printed}");
        assert!(printed.contains("restart = \"on-failure\"\n"), "{printed}");
        assert!(printed.contains("bind_address = \"::1\"\n"), "{printed}");
    }

    #[test]
    fn egress_settings_are_validated() {
        for (table, needle) in [
            ("egress_allow = [\"no-port\"]", "egress_allow"),
            ("egress_allow = [\"host:0\"]", "egress_allow"),
            ("egress_proxy_port = 18789", "egress_proxy_port"),
            ("egress_proxy_port = 80", "egress_proxy_port"),
            ("egress_service_name = \"clawdbot\"", "egress_service_name"),
            (
                "egress_network_name = \"clawdbot-net\"",
                "egress_network_name",
            ),
            ("egress_memory = \"lots\"", "egress_memory"),
            ("egress_cpus = \"0\"", "egress_cpus"),
        ] {
            let err = err_of(table);
            assert!(err.contains(needle), "{table}: {err}");
            assert!(
                err.starts_with("2: "),
                "{table}: line number missing: {err}"
            );
        }
        let s = Settings::default();
        assert_eq!(s.egress_proxy_port, defaults::EGRESS_PROXY_PORT);
        assert_eq!(s.egress_allow, defaults::EGRESS_DEFAULT_ALLOW);
    }

    #[test]
    fn no_table_is_none_and_errors_carry_the_value_column() {
        assert_eq!(
            Settings::table_from_manifest("[package]\nname = \"x\"\n"),
            Ok(None)
        );
        let s = Settings::table_from_manifest("[workspace.metadata.deploy]\nimage_name = \"gw\"\n");
        assert_eq!(s.unwrap().map(|s| s.image_name).as_deref(), Some("gw"));
        let e = Settings::table_from_manifest(
            "[workspace]\n\n[workspace.metadata.deploy]\nimage_name = \"Claw Bot\"\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.column), (4, 14), "{e:?}");
        assert_eq!(
            e.message(),
            "[workspace.metadata.deploy] image_name: \"Claw Bot\" must be non-empty lowercase letters, digits, '-' or '_'"
        );
        let e = Settings::table_from_manifest("[workspace.metadata.deploy]\nimage_name = 3\n")
            .unwrap_err();
        assert_eq!((e.line, e.column), (2, 14), "{e:?}");
        let e = Settings::table_from_manifest("[workspace\n").unwrap_err();
        assert_eq!(e.line, 1, "{e:?}");
    }

    #[test]
    fn load_reads_the_manifest_and_names_it_in_errors() {
        let dir = std::env::temp_dir().join(format!("clawdbot-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(Settings::load_table(&dir).unwrap(), None);
        assert_eq!(Settings::load(&dir).unwrap(), Settings::default());
        let manifest = dir.join("Cargo.toml");
        std::fs::write(&manifest, "[workspace.metadata.deploy]\nuid = 0\n").unwrap();
        let e = Settings::load(&dir).unwrap_err().to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            e,
            format!(
                "{}:2: [workspace.metadata.deploy] uid: 0 is root; use an unprivileged id such as 1000",
                manifest.display()
            )
        );
    }
}
