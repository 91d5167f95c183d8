//! Private temporary directories outside the repository (mode 0700), removed on drop or by
//! an explicit cleanup, and random tokens from `/dev/urandom`.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `n` random bytes from `/dev/urandom`, hex-encoded (`2n` characters).
pub fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .context("reading /dev/urandom")?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// A directory under the system temp dir, created with mode 0700.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    pub fn new(prefix: &str) -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!("{prefix}-{}", random_hex(6)?));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir { path, keep: false })
    }

    /// Creates exactly `path` (mode 0700); fails if it exists.
    pub fn new_at(path: &Path) -> Result<TempDir> {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir {
            path: path.to_path_buf(),
            keep: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hands removal over to the caller (e.g. a registered cleanup).
    pub fn into_path(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Writes `text` to a new file readable only by its owner (mode 0600).
pub fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn temp_dir_is_private_and_removed_on_drop() {
        let dir = TempDir::new("xtask-test").unwrap();
        let path = dir.path().to_path_buf();
        assert_eq!(path.metadata().unwrap().permissions().mode() & 0o777, 0o700);
        let f = path.join("secret.env");
        write_private(&f, "A=b\n").unwrap();
        assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_private(&f, "again").is_err(), "never overwrites");
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn random_hex_is_random_and_sized() {
        let a = random_hex(24).unwrap();
        assert_eq!(a.len(), 48);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_hex(24).unwrap());
    }
}
