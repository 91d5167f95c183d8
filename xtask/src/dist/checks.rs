//! `dist`'s checks of its own output, and the packaging step that feeds them: each
//! binary is static and carries `cargo auditable`'s `.dep-v0` section, `cargo audit bin`
//! reads it against the advisory database, a second build is the same bytes, and each
//! binary's `--version` runs from its unpacked tarball.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::package::{self, Entry};
use super::Ctx;
use crate::audit::Database;
use crate::tasks::Command;

/// The section `cargo auditable` adds (its compressed JSON dependency list).
pub const AUDITABLE_SECTION: &str = ".dep-v0";

/// `<path>: <size>, static, with .dep-v0 (<n> bytes)`; fails when the binary is dynamic
/// or has no dependency list.
pub fn describe_binary(path: &Path) -> Result<String> {
    if !crate::image::is_static_elf(path)? {
        bail!(
            "{}: dynamically linked (dist ships static binaries)",
            path.display()
        );
    }
    let data = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let Some(size) = section_size(&data, AUDITABLE_SECTION) else {
        bail!(
            "{}: no {AUDITABLE_SECTION} section: not built with `cargo auditable`",
            path.display()
        );
    };
    Ok(format!(
        "{}: {} ({} bytes), static, {AUDITABLE_SECTION} {size} bytes",
        path.display(),
        crate::image::human_size(data.len() as u64),
        data.len()
    ))
}

/// The size of the ELF64 (little-endian) section `name`, when it exists.
pub fn section_size(data: &[u8], name: &str) -> Option<u64> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(data.get(o..o + 2)?.try_into().ok()?) as usize);
    let u32_at = |o: usize| Some(u32::from_le_bytes(data.get(o..o + 4)?.try_into().ok()?) as usize);
    let u64_at = |o: usize| Some(u64::from_le_bytes(data.get(o..o + 8)?.try_into().ok()?));
    if data.get(..4)? != b"\x7fELF" || *data.get(4)? != 2 || *data.get(5)? != 1 {
        return None;
    }
    let shoff = u64_at(0x28)? as usize;
    let (entsize, count, strndx) = (u16_at(0x3a)?, u16_at(0x3c)?, u16_at(0x3e)?);
    let header = |i: usize| shoff.checked_add(i.checked_mul(entsize)?);
    let strtab = u64_at(header(strndx)? + 0x18)? as usize;
    for i in 0..count {
        let h = header(i)?;
        let start = strtab.checked_add(u32_at(h)?)?;
        let raw = data.get(start..)?;
        let end = raw.iter().position(|b| *b == 0)?;
        if &raw[..end] == name.as_bytes() {
            return u64_at(h + 0x20);
        }
    }
    None
}

/// SBOMs, tarballs and `SHA256SUMS` for every built binary; returns a line per file.
pub fn package_all(ctx: &mut Ctx) -> Result<Vec<String>> {
    let epoch: i64 = ctx.repro.source_date_epoch.parse().unwrap_or(0);
    let mut lines = Vec::new();
    let mut listed = Vec::new();
    std::fs::create_dir_all(&ctx.out)
        .with_context(|| format!("{}: cannot create", ctx.out.display()))?;
    let docs: Vec<(String, Vec<u8>)> = package::DOC_FILES
        .iter()
        .map(|name| {
            let path = ctx.root.join(name);
            std::fs::read(&path)
                .map(|b| (name.to_string(), b))
                .with_context(|| format!("{}: cannot read", path.display()))
        })
        .collect::<Result<_>>()?;
    for (bin, path) in &ctx.built {
        let binary =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let package = super::BINARIES
            .iter()
            .find(|(_, b)| b == bin)
            .map(|(p, _)| *p)
            .context("not a shipped binary")?;
        let tmp = crate::tempdir::TempDir::new("xtask-dist-sbom")?;
        let generated = tmp.path().join("bom.json");
        crate::sbom::write_cyclonedx_of(&ctx.root, package, &generated)?;
        let sbom = package::release_sbom(&std::fs::read_to_string(&generated)?, &binary, epoch)?;
        let sbom_name = format!("{bin}-{}.cdx.json", ctx.version);
        package::write_file(&ctx.out.join(&sbom_name), sbom.as_bytes())?;
        let stem = package::stem(bin, &ctx.version, ctx.toolchain.target);
        let mut entries = vec![
            Entry {
                name: bin.clone(),
                bytes: binary,
                executable: true,
            },
            Entry {
                name: format!("{bin}.cdx.json"),
                bytes: sbom.into_bytes(),
                executable: false,
            },
        ];
        entries.extend(docs.iter().map(|(name, bytes)| Entry {
            name: name.clone(),
            bytes: bytes.clone(),
            executable: false,
        }));
        let tar = package::tarball(&stem, entries, epoch.max(0) as u64)?;
        let tar_name = format!("{stem}.tar.gz");
        let tar_path = ctx.out.join(&tar_name);
        package::write_file(&tar_path, &tar)?;
        lines.push(format!(
            "{} ({})",
            tar_path.display(),
            crate::image::human_size(tar.len() as u64)
        ));
        lines.push(format!("{}", ctx.out.join(&sbom_name).display()));
        ctx.tarballs.push(tar_path);
        listed.extend([tar_name, sbom_name]);
    }
    let sums = package::write_sums(&ctx.out, &listed)?;
    lines.push(format!("{} ({} files)", sums.display(), listed.len()));
    Ok(lines)
}

/// `cargo audit [--db PATH --no-fetch --stale] bin <bins>` against `db` (offline when it
/// is a local database).
pub fn audit_bin_command(db: &Database, bins: &[PathBuf]) -> Command {
    // The database flags are cargo-audit's global options: before the subcommand.
    let mut args: Vec<String> = vec!["audit".into()];
    if let Database::Local { path, .. } = db {
        args.extend([
            "--db".into(),
            path.display().to_string(),
            "--no-fetch".into(),
            "--stale".into(),
        ]);
    }
    args.push("bin".into());
    args.extend(bins.iter().map(|b| b.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Command::cargo(&args)
}

/// Runs `cargo audit bin`; fails on a vulnerability (its exit status) or when it could not
/// read a binary's embedded dependency list. Returns its summary lines.
pub fn audit_bin(command: &Command) -> Result<Vec<String>> {
    if !crate::workspace::on_path("cargo-audit")
        && Command::cargo(&["audit", "--version"]).capture().is_err()
    {
        bail!("cargo-audit is not installed (run `cargo install cargo-audit --locked`, or `cargo xtask test --provision`)");
    }
    let out = command.capture()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if text.contains("not built with 'cargo auditable'")
        || text.contains("not built with `cargo auditable`")
    {
        bail!(
            "cargo audit bin found no embedded dependency list:\n{}",
            text.trim()
        );
    }
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Loaded") && !l.starts_with("Fetching"))
        .map(str::to_owned)
        .collect())
}

/// Compares two builds of one binary byte for byte.
pub fn compare(first: &Path, second: &Path) -> Result<String> {
    let a = std::fs::read(first).with_context(|| format!("{}: cannot read", first.display()))?;
    let b = std::fs::read(second).with_context(|| format!("{}: cannot read", second.display()))?;
    if a != b {
        let at = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        bail!(
            "not reproducible: {} ({} bytes) and {} ({} bytes) differ from byte {at}",
            first.display(),
            a.len(),
            second.display(),
            b.len()
        );
    }
    Ok(format!(
        "{}: the second build is the same {} bytes (sha256 {})",
        first.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        a.len(),
        package::sha256_hex(&a)
    ))
}

/// Checks `SHA256SUMS`, unpacks every tarball into a temporary directory and runs its
/// binary's `--version`, which must print `<bin> <version>`.
pub fn versions_from_tarballs(ctx: &Ctx) -> Result<Vec<String>> {
    let n = package::check_sums(&ctx.out)?;
    let mut lines = vec![format!("{}: {n} checksums match", package::SUMS_FILE)];
    for (bin, _) in &ctx.built {
        let stem = package::stem(bin, &ctx.version, ctx.toolchain.target);
        let tarball = ctx.out.join(format!("{stem}.tar.gz"));
        let tmp = crate::tempdir::TempDir::new("xtask-dist-unpack")?;
        package::unpack(&tarball, tmp.path())?;
        let exe = tmp.path().join(&stem).join(bin);
        let out = Command::program(&exe.display().to_string(), &["--version"]).capture()?;
        let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let want = format!("{bin} {}", ctx.version);
        if printed != want {
            bail!(
                "{}: `--version` printed {printed:?}, expected {want:?}",
                exe.display()
            );
        }
        lines.push(format!("{stem}.tar.gz: {bin} --version → {printed}"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_found_by_name_in_a_real_elf() {
        // This test binary is an ELF file with a .text section and no .dep-v0.
        let exe = std::env::current_exe().unwrap();
        let data = std::fs::read(exe).unwrap();
        assert!(section_size(&data, ".text").unwrap() > 0);
        assert_eq!(section_size(&data, AUDITABLE_SECTION), None);
        assert_eq!(section_size(b"not an elf", ".text"), None);
        assert_eq!(section_size(&data[..100], ".text"), None);
    }

    #[test]
    fn audit_bin_reads_the_local_database_offline() {
        let db = Database::Local {
            path: "/shared/advisory-db".into(),
            from: "x",
        };
        assert_eq!(
            audit_bin_command(&db, &["/t/clawdbot".into()]).to_string(),
            "cargo audit --db /shared/advisory-db --no-fetch --stale bin /t/clawdbot"
        );
        assert_eq!(
            audit_bin_command(&Database::CargoAudit, &["/t/a".into(), "/t/b".into()]).to_string(),
            "cargo audit bin /t/a /t/b"
        );
    }

    #[test]
    fn different_builds_are_reported_with_the_first_differing_byte() {
        let tmp = crate::tempdir::TempDir::new("xtask-dist-compare").unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::write(&a, b"same").unwrap();
        std::fs::write(&b, b"same").unwrap();
        assert!(compare(&a, &b).unwrap().contains("the same 4 bytes"));
        std::fs::write(&b, b"sane").unwrap();
        let err = compare(&a, &b).unwrap_err().to_string();
        assert!(err.contains("differ from byte 2"), "{err}");
    }
}
