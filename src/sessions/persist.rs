//! Optional persistence of the sessions store (`--sessions-dir`, off by default): one
//! JSON file per session, mode 0600 in a 0700 directory, written atomically (a
//! temporary file in the same directory, fsync, rename), loaded at startup.
//!
//! Only what the store holds is written: keys, ids, labels, models and the transcript.
//! No token, key or header ever reaches a session (runtime verify checks the volume).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

use super::Session;

/// The directory sessions are saved in.
#[derive(Debug)]
pub struct Persist {
    dir: PathBuf,
    seq: AtomicU64,
}

/// A file name for a key: its bytes in hex (keys are short; no escaping questions).
fn file_name(key: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.json")
}

impl Persist {
    /// Creates the directory (0700) if needed and checks it is writable.
    pub fn open(dir: &Path) -> anyhow::Result<Persist> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the sessions directory {}", dir.display()))?;
        let probe = dir.join(".write-test");
        fs::write(&probe, b"").with_context(|| {
            format!(
                "the sessions directory {} is not writable (mount a volume owned by the gateway's user)",
                dir.display()
            )
        })?;
        let _ = fs::remove_file(&probe);
        Ok(Persist {
            dir: dir.to_path_buf(),
            seq: AtomicU64::new(0),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one session atomically.
    pub fn save(&self, s: &Session) -> anyhow::Result<()> {
        let text = serde_json::to_vec(s)?;
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self.dir.join(format!(".tmp-{}-{n}", std::process::id()));
        let result = (|| -> anyhow::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(file_name(&s.key)))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.with_context(|| format!("saving session {} in {}", s.key, self.dir.display()))
    }

    pub fn remove(&self, key: &str) {
        let _ = fs::remove_file(self.dir.join(file_name(key)));
    }

    /// Every readable session file no larger than `max_bytes`; others are skipped with
    /// a warning (and temporary files of an interrupted write removed).
    pub fn load(&self, max_bytes: u64) -> Vec<Session> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with(".tmp-") {
                let _ = fs::remove_file(&path);
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            if meta.len() > max_bytes {
                tracing::warn!(file = %name, size = meta.len(), "session file too large; skipped");
                continue;
            }
            if meta.permissions().mode() & 0o077 != 0 {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
            }
            match fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|b| serde_json::from_slice::<Session>(&b).map_err(anyhow::Error::from))
            {
                Ok(s) if file_name(&s.key) == name => out.push(s),
                Ok(_) => tracing::warn!(file = %name, "session file names another key; skipped"),
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "unreadable session file; skipped")
                }
            }
        }
        out
    }
}
