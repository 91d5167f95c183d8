//! `init --app`: record the chosen application as `app = "…"` in the
//! `[workspace.metadata.deploy]` table of `Cargo.toml`, touching only that one line (or
//! adding it, or the table), so comments, order and formatting of the manifest stay.
//! The edit goes through init's plan like every generated file: diff, consent, `--check`.

use crate::settings::{App, Settings};

const TABLE: &str = "[workspace.metadata.deploy]";

/// `text` with `app = "<app>"` in the deploy table, or `None` when it already says so
/// (an absent key reads as the default, `clawdbot`).
pub(crate) fn with_app(text: &str, app: App) -> Option<String> {
    let current = Settings::from_manifest(text).map(|s| s.app).ok();
    if current == Some(app) {
        return None;
    }
    let line = format!("app = \"{app}\"");
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    match lines.iter().position(|l| l.trim() == TABLE) {
        Some(header) => {
            let end = lines[header + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with('['))
                .map_or(lines.len(), |i| header + 1 + i);
            let key = (header + 1..end).find(|&i| {
                lines[i]
                    .split_once('=')
                    .is_some_and(|(k, _)| k.trim() == "app")
            });
            match key {
                Some(i) => out[i] = line,
                None => out.insert(header + 1, line),
            }
        }
        None => {
            if out.last().is_some_and(|l| !l.trim().is_empty()) {
                out.push(String::new());
            }
            out.push(TABLE.to_owned());
            out.push(line);
        }
    }
    let mut new = out.join("\n");
    new.push('\n');
    Some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app_of(text: &str) -> App {
        Settings::from_manifest(text).unwrap().app
    }

    #[test]
    fn adds_replaces_or_leaves_the_one_line() {
        let plain = "[package]\nname = \"x\"\n";
        let added = with_app(plain, App::Openclaw).unwrap();
        assert_eq!(
            added,
            "[package]\nname = \"x\"\n\n[workspace.metadata.deploy]\napp = \"openclaw\"\n"
        );
        assert_eq!(with_app(plain, App::Clawdbot), None);

        let table = "[workspace.metadata.deploy]\n# keep me\nuid = 1000\n\n[other]\napp = 1\n";
        let inserted = with_app(table, App::Openclaw).unwrap();
        assert_eq!(app_of(&inserted), App::Openclaw);
        assert!(inserted.contains("# keep me\nuid = 1000\n\n[other]\napp = 1\n"));

        let replaced = with_app(&inserted, App::Clawdbot).unwrap();
        assert_eq!(app_of(&replaced), App::Clawdbot);
        assert_eq!(replaced.matches("app = ").count(), 2, "{replaced}");
        assert_eq!(with_app(&inserted, App::Openclaw), None);
    }
}
