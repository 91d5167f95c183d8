//! Optional persistence of the sessions store (`--sessions-dir`, off by default): one
//! JSON file per session, mode 0600 in a 0700 directory, written atomically (a
//! temporary file in the same directory, fsync, rename), loaded at startup.
//!
//! Only what the store holds is written: keys, ids, labels, models and the transcript.
//! No token, key or header ever reaches a session (runtime verify checks the volume).
//!
//! The directory may hold files planted by someone else, so loading trusts nothing:
//! - every file is opened with `O_NOFOLLOW | O_NONBLOCK` (a symlink is refused, a FIFO
//!   never blocks), checked with `fstat` on the descriptor (a regular file within the
//!   size limit), and read through a cap; permissions are fixed with `fchmod` on that
//!   descriptor, never through a path;
//! - the writability probe is created exclusively (`O_EXCL`, so never through a link)
//!   under a fresh name, and removed;
//! - candidates are sorted by their metadata (newest first) before any is read, and at
//!   most `--max-sessions` are loaded; at most [`MAX_DIR_ENTRIES`] entries are looked at;
//! - a file that is not loaded is never deleted: a regular one is renamed aside
//!   (`<name>.skipped`), anything else is left where it is, each with a logged reason.
//!
//! Whatever is written can be loaded: [`Persist::save`] keeps the encoded file within
//! the same limit the loader applies (the oldest messages of the snapshot go first).

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use anyhow::Context;

use super::Session;

/// Directory entries looked at, at most, when loading (bounds start-up whatever the
/// directory holds).
pub const MAX_DIR_ENTRIES: usize = 65_536;
/// Suffix of a file set aside at load (not loaded, kept for inspection).
pub const SKIPPED_SUFFIX: &str = ".skipped";

/// The directory sessions are saved in.
#[derive(Debug)]
pub struct Persist {
    dir: PathBuf,
    seq: AtomicU64,
    /// Largest session file written or read.
    max_file_bytes: u64,
}

/// A file name for a key: its bytes in hex (keys are short; no escaping questions).
fn file_name(key: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.json")
}

/// Why a file in the directory was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// Not a regular file (a symlink, FIFO, device, directory): left in place.
    NotRegular,
    /// Larger than the limit.
    TooLarge(u64),
    /// Unreadable or not a session of ours.
    Invalid(String),
    /// Older than the `--max-sessions` newest.
    Excess,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NotRegular => f.write_str("not a regular file (a link, FIFO or device)"),
            Skip::TooLarge(n) => write!(f, "larger than the session file limit ({n} bytes)"),
            Skip::Invalid(why) => write!(f, "not a valid session file: {why}"),
            Skip::Excess => f.write_str("beyond --max-sessions (older than those loaded)"),
        }
    }
}

/// Opens `path` for reading without following a link or blocking on a FIFO, and reads
/// it if it is a regular file of at most `max` bytes (its mode is set to 0600 through
/// the descriptor when it was wider).
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>, Skip> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Skip::NotRegular,
            _ => Skip::Invalid(e.kind().to_string()),
        })?;
    let meta = file
        .metadata()
        .map_err(|e| Skip::Invalid(e.kind().to_string()))?;
    if !meta.file_type().is_file() {
        return Err(Skip::NotRegular);
    }
    if meta.len() > max {
        return Err(Skip::TooLarge(meta.len()));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        let _ = file.set_permissions(fs::Permissions::from_mode(0o600));
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Skip::Invalid(e.kind().to_string()))?;
    if buf.len() as u64 > max {
        return Err(Skip::TooLarge(buf.len() as u64));
    }
    Ok(buf)
}

impl Persist {
    /// Creates the directory (0700) if needed and checks it is writable; session files
    /// are at most `max_file_bytes`.
    pub fn open(dir: &Path, max_file_bytes: u64) -> anyhow::Result<Persist> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the sessions directory {}", dir.display()))?;
        let p = Persist {
            dir: dir.to_path_buf(),
            seq: AtomicU64::new(0),
            max_file_bytes,
        };
        let probe = p.temp_path(".write-test");
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&probe);
        let _ = fs::remove_file(&probe);
        created.with_context(|| {
            format!(
                "the sessions directory {} is not writable (mount a volume owned by the gateway's user)",
                dir.display()
            )
        })?;
        Ok(p)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Largest session file written or read.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// A fresh name in the directory: `<prefix>-<pid>-<n>`.
    fn temp_path(&self, prefix: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        self.dir
            .join(format!("{prefix}-{}-{n}", std::process::id()))
    }

    /// The session as written: within the file limit, the oldest messages of the
    /// snapshot dropped first when needed (so whatever is written can be loaded).
    pub fn encode(&self, s: &Session) -> anyhow::Result<Vec<u8>> {
        let text = serde_json::to_vec(s)?;
        if text.len() as u64 <= self.max_file_bytes {
            return Ok(text);
        }
        let mut s = s.clone();
        loop {
            let text = serde_json::to_vec(&s)?;
            if text.len() as u64 <= self.max_file_bytes {
                return Ok(text);
            }
            // Drop about the excess at once (never less than one message).
            let excess = text.len() as u64 - self.max_file_bytes;
            let mut freed = 0u64;
            while freed < excess {
                let Some(old) = s.messages.pop_front() else {
                    anyhow::bail!(
                        "session {} does not fit in {} bytes even without messages",
                        crate::logging::clip(&s.key),
                        self.max_file_bytes
                    );
                };
                freed += serde_json::to_vec(&old).map_or(1, |v| v.len() as u64 + 1);
                s.dropped += 1;
            }
        }
    }

    /// Writes one session atomically.
    pub fn save(&self, s: &Session) -> anyhow::Result<()> {
        let text = self.encode(s)?;
        let tmp = self.temp_path(".tmp");
        let result = (|| -> anyhow::Result<()> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            // rename replaces a link at the target itself, never what it points to.
            fs::rename(&tmp, self.dir.join(file_name(&s.key)))?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.with_context(|| {
            format!(
                "saving session {} in {}",
                crate::logging::clip(&s.key),
                self.dir.display()
            )
        })
    }

    pub fn remove(&self, key: &str) {
        let _ = fs::remove_file(self.dir.join(file_name(key)));
    }

    /// Sets a file aside (renamed to `<name>.skipped`, or left in place when it is not
    /// a regular file) and logs why.
    fn skip(&self, name: &str, why: &Skip) {
        let path = self.dir.join(name);
        let moved = *why != Skip::NotRegular
            && fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_file())
            && fs::rename(&path, self.dir.join(format!("{name}{SKIPPED_SUFFIX}"))).is_ok();
        let name = crate::logging::escape_clip(name);
        if moved {
            tracing::warn!(file = %name, reason = %why, "session file not loaded; renamed to {name}{SKIPPED_SUFFIX}");
        } else {
            tracing::warn!(file = %name, reason = %why, "session file not loaded; left in place");
        }
    }

    /// The newest (by modification time) valid sessions, at most `max_sessions`, each
    /// accepted by `accept`; every other `*.json` entry is set aside with a logged
    /// reason, and temporary files of an interrupted write are removed.
    pub fn load(&self, max_sessions: usize, accept: impl Fn(&Session) -> bool) -> Vec<Session> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut candidates: Vec<(SystemTime, String)> = Vec::new();
        for (i, e) in entries.flatten().enumerate() {
            if i >= MAX_DIR_ENTRIES {
                tracing::warn!(
                    dir = %self.dir.display(),
                    "more than {MAX_DIR_ENTRIES} entries in the sessions directory; the rest are ignored"
                );
                break;
            }
            let name = e.file_name().to_string_lossy().to_string();
            // DirEntry::metadata does not follow links (lstat).
            let Ok(meta) = e.metadata() else { continue };
            if name.starts_with(".tmp-") || name.starts_with(".write-test") {
                // Ours, from an interrupted write: unlinking never follows a link.
                let _ = fs::remove_file(e.path());
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            if !meta.file_type().is_file() {
                self.skip(&name, &Skip::NotRegular);
                continue;
            }
            if meta.len() > self.max_file_bytes {
                self.skip(&name, &Skip::TooLarge(meta.len()));
                continue;
            }
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            candidates.push((mtime, name));
        }
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let mut out = Vec::new();
        for (_, name) in candidates {
            if out.len() >= max_sessions {
                self.skip(&name, &Skip::Excess);
                continue;
            }
            match self.read_session(&name) {
                Ok(s) if accept(&s) => out.push(s),
                Ok(_) => self.skip(
                    &name,
                    &Skip::Invalid("not a session key of this gateway".into()),
                ),
                Err(why) => self.skip(&name, &why),
            }
        }
        out
    }

    fn read_session(&self, name: &str) -> Result<Session, Skip> {
        let bytes = read_capped(&self.dir.join(name), self.max_file_bytes)?;
        let s: Session = serde_json::from_slice(&bytes)
            .map_err(|e| Skip::Invalid(format!("{:?} at line {}", e.classify(), e.line())))?;
        if file_name(&s.key) != name {
            return Err(Skip::Invalid("the file name is not its key's".into()));
        }
        Ok(s)
    }
}
