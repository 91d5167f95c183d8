//! `dist`'s artifacts: one reproducible `.tar.gz` per binary (the binary, the licences,
//! the changelog, the security policy and the binary's CycloneDX SBOM, in a directory named
//! like the tarball; entries sorted, mtime `SOURCE_DATE_EPOCH`, owner 0:0, modes 0755/0644,
//! gzip without a name or time), the SBOMs beside them, and `SHA256SUMS` in the format
//! `sha256sum -c` reads.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// The files every tarball carries next to the binary (from the workspace root).
pub const DOC_FILES: &[&str] = &[
    "LICENSE-MIT",
    "LICENSE-APACHE",
    "README.md",
    "CHANGELOG.md",
    "SECURITY.md",
];
/// The checksum file's name.
pub const SUMS_FILE: &str = "SHA256SUMS";

/// `<bin>-<version>-<target>`: the tarball's stem and its top directory.
pub fn stem(bin: &str, version: &str, target: &str) -> String {
    format!("{bin}-{version}-{target}")
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The SBOM as `dist` ships it: the generated document with a serial number derived from
/// the binary's bytes (a UUID of version 8, "custom") and the commit's time, so the same
/// commit gives the same file.
pub fn release_sbom(generated: &str, binary: &[u8], epoch: i64) -> Result<String> {
    let mut bom: serde_json::Value =
        serde_json::from_str(generated).context("the generated SBOM is not JSON")?;
    let h = sha256_hex(binary);
    let mut b: Vec<char> = h[..32].chars().collect();
    b[12] = '8';
    b[16] = ['8', '9', 'a', 'b'][usize::from(b[16].to_digit(16).unwrap_or(0) as u8 & 3)];
    let b: String = b.into_iter().collect();
    bom["serialNumber"] = format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &b[0..8],
        &b[8..12],
        &b[12..16],
        &b[16..20],
        &b[20..32]
    )
    .into();
    bom["metadata"]["timestamp"] = crate::sbom::rfc3339(epoch).into();
    let mut text = serde_json::to_string_pretty(&bom)?;
    text.push('\n');
    Ok(text)
}

/// One file of a tarball: its name inside the top directory, its bytes, executable or not.
pub struct Entry {
    pub name: String,
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// The gzip-compressed tar of `entries` under `<top>/`, byte-for-byte the same for the
/// same input.
pub fn tarball(top: &str, mut entries: Vec<Entry>, epoch: u64) -> Result<Vec<u8>> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let header = |path: &str, size: u64, mode: u32, kind: tar::EntryType| -> Result<tar::Header> {
        let mut h = tar::Header::new_gnu();
        h.set_path(path)?;
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(epoch);
        h.set_entry_type(kind);
        h.set_cksum();
        Ok(h)
    };
    let dir = header(&format!("{top}/"), 0, 0o755, tar::EntryType::Directory)?;
    tar.append(&dir, std::io::empty())?;
    for e in &entries {
        let mode = if e.executable { 0o755 } else { 0o644 };
        let path = format!("{top}/{}", e.name);
        let h = header(&path, e.bytes.len() as u64, mode, tar::EntryType::Regular)?;
        tar.append(&h, e.bytes.as_slice())
            .with_context(|| format!("adding {path} to the tarball"))?;
    }
    let gz = tar.into_inner()?;
    Ok(gz.finish()?)
}

/// Writes `SHA256SUMS` in `dir` for `files` (names in `dir`), sorted; returns its path.
pub fn write_sums(dir: &Path, files: &[String]) -> Result<PathBuf> {
    let mut files = files.to_vec();
    files.sort();
    let mut text = String::new();
    for name in &files {
        let path = dir.join(name);
        let bytes =
            std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
        text.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
    }
    let out = dir.join(SUMS_FILE);
    write_file(&out, text.as_bytes())?;
    Ok(out)
}

/// Checks every line of a `SHA256SUMS` file in `dir` against the files; returns how many.
pub fn check_sums(dir: &Path) -> Result<usize> {
    let path = dir.join(SUMS_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let (hex, name) = line
            .split_once("  ")
            .with_context(|| format!("{}:{}: not `<sha256>  <file>`", path.display(), i + 1))?;
        if name.contains('/') || name.starts_with('.') {
            anyhow::bail!(
                "{}:{}: {name:?} is not a file of this directory",
                path.display(),
                i + 1
            );
        }
        let bytes = std::fs::read(dir.join(name))
            .with_context(|| format!("{}:{}: {name}: cannot read", path.display(), i + 1))?;
        if sha256_hex(&bytes) != hex {
            anyhow::bail!("{}:{}: {name}: checksum mismatch", path.display(), i + 1);
        }
        n += 1;
    }
    Ok(n)
}

/// Writes a file atomically (a temporary file in the same directory, then a rename).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a path without a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("dist")
    ));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("{}: cannot create", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

/// Unpacks a tarball made by [`tarball`] into `dest` (regular files and directories only,
/// no path leaving `dest`).
pub fn unpack(tarball: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("{}: cannot create", dest.display()))?;
    let file = std::fs::File::open(tarball)
        .with_context(|| format!("{}: cannot open", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive.set_preserve_permissions(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            anyhow::bail!("{}: unexpected entry type {kind:?}", tarball.display());
        }
        // `unpack_in` refuses paths that leave `dest`.
        if !entry.unpack_in(dest)? {
            anyhow::bail!("{}: an entry leaves the directory", tarball.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry {
                name: "b".into(),
                bytes: b"two".to_vec(),
                executable: false,
            },
            Entry {
                name: "a".into(),
                bytes: b"#!/bin/sh\n".to_vec(),
                executable: true,
            },
        ]
    }

    #[test]
    fn tarballs_are_the_same_bytes_for_the_same_input_and_unpack() {
        let one = tarball("x-1", entries(), 1_700_000_000).unwrap();
        let mut reversed = entries();
        reversed.reverse();
        assert_eq!(one, tarball("x-1", reversed, 1_700_000_000).unwrap());
        assert_ne!(one, tarball("x-1", entries(), 1_700_000_001).unwrap());
        let tmp = crate::tempdir::TempDir::new("xtask-dist-tar").unwrap();
        let file = tmp.path().join("x.tar.gz");
        write_file(&file, &one).unwrap();
        unpack(&file, &tmp.path().join("out")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let a = tmp.path().join("out/x-1/a");
        assert_eq!(std::fs::read(&a).unwrap(), b"#!/bin/sh\n");
        assert_eq!(
            std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o755
        );
        assert_eq!(std::fs::read(tmp.path().join("out/x-1/b")).unwrap(), b"two");
    }

    #[test]
    fn checksums_are_written_and_checked() {
        let tmp = crate::tempdir::TempDir::new("xtask-dist-sums").unwrap();
        write_file(&tmp.path().join("f"), b"abc").unwrap();
        write_sums(tmp.path(), &["f".into()]).unwrap();
        let sums = std::fs::read_to_string(tmp.path().join(SUMS_FILE)).unwrap();
        assert_eq!(
            sums,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  f\n"
        );
        assert_eq!(check_sums(tmp.path()).unwrap(), 1);
        write_file(&tmp.path().join("f"), b"abd").unwrap();
        let err = check_sums(tmp.path()).unwrap_err().to_string();
        assert!(err.ends_with("SHA256SUMS:1: f: checksum mismatch"), "{err}");
    }

    #[test]
    fn the_release_sbom_is_fixed_by_the_binary_and_the_commit_time() {
        let generated = r#"{"serialNumber":"urn:uuid:random","metadata":{"timestamp":"now"}}"#;
        let a = release_sbom(generated, b"binary", 1_700_000_000).unwrap();
        assert_eq!(
            a,
            release_sbom(generated, b"binary", 1_700_000_000).unwrap()
        );
        assert_ne!(a, release_sbom(generated, b"other", 1_700_000_000).unwrap());
        let v: serde_json::Value = serde_json::from_str(&a).unwrap();
        assert_eq!(v["metadata"]["timestamp"], "2023-11-14T22:13:20Z");
        let serial = v["serialNumber"].as_str().unwrap();
        let re = regex::Regex::new(
            r"^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(serial), "{serial}");
    }
}
