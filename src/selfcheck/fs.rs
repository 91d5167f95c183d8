//! Filesystem checks: can this process write to a directory (really try it), and are
//! there `.env` files lying around.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Result of trying to create (and remove) a file in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Writable {
    Yes,
    /// Not writable, with the reason (`read-only filesystem`, `permission denied`, ...).
    No(String),
}

impl Writable {
    pub fn is_writable(&self) -> bool {
        matches!(self, Writable::Yes)
    }
}

/// Tries to create a fresh file in `dir` and removes it again.
pub fn probe_writable(dir: &Path) -> Writable {
    let name = format!(
        ".clawdbot-self-check-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    let path = dir.join(name);
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => {
            drop(file);
            let _ = std::fs::remove_file(&path);
            Writable::Yes
        }
        Err(e) => Writable::No(match (e.raw_os_error(), e.kind()) {
            (Some(libc::EROFS), _) => "read-only filesystem".into(),
            (_, ErrorKind::PermissionDenied) => {
                "permission denied (not writable by this user)".into()
            }
            _ => format!("cannot create a file: {e}"),
        }),
    }
}

/// True for `.env` and `.env.<suffix>` names, except the committed templates.
pub fn is_env_file_name(name: &str) -> bool {
    if name == ".env" {
        return true;
    }
    match name.strip_prefix(".env.") {
        Some(suffix) => {
            !matches!(suffix, "example" | "sample" | "template" | "dist") && !suffix.is_empty()
        }
        None => false,
    }
}

/// `.env` files directly in each of `dirs` (absolute paths, sorted, no duplicates).
pub fn env_files(dirs: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if is_env_file_name(name) {
                out.push(dir.join(name).to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_names() {
        assert!(is_env_file_name(".env"));
        assert!(is_env_file_name(".env.local"));
        assert!(!is_env_file_name(".env.example"));
        assert!(!is_env_file_name(".env."));
        assert!(!is_env_file_name("env"));
        assert!(!is_env_file_name(".envrc"));
    }

    #[test]
    fn finds_env_files_and_probes_writability() {
        let dir = std::env::temp_dir().join(format!("clawdbot-fs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".env"), "A=1").unwrap();
        std::fs::write(dir.join(".env.example"), "A=").unwrap();
        let found = env_files(&[dir.clone(), dir.clone()]);
        assert_eq!(found, [dir.join(".env").to_string_lossy().into_owned()]);
        assert_eq!(probe_writable(&dir), Writable::Yes);
        // The probe leaves nothing behind.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
        assert!(!probe_writable(&dir.join("missing")).is_writable());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
