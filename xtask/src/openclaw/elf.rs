//! The dynamic-linking facts of an x86-64 ELF file that staging needs: the libraries it
//! names (`DT_NEEDED`), its own `DT_SONAME` and its program interpreter (`PT_INTERP`).
//! Staging copies exactly the libraries Node and the native addons need, found from
//! these, instead of a hand-kept list. Bounds are checked on every read: a truncated or
//! hostile file is an error, never a panic.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// What the dynamic loader needs to start or load the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dynamic {
    pub needed: Vec<String>,
    pub soname: Option<String>,
    pub interpreter: Option<String>,
}

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_SONAME: u64 = 14;

/// True when the file starts with the ELF magic (reads 4 bytes).
pub fn is_elf(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"\x7fELF"
}

/// Reads the dynamic section of the 64-bit little-endian ELF file at `path`.
pub fn read(path: &Path) -> Result<Dynamic> {
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&data).with_context(|| format!("{}: not a readable x86-64 ELF file", path.display()))
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn slice(&self, at: usize, len: usize) -> Result<&[u8]> {
        let end = at.checked_add(len).context("offset overflow")?;
        self.0.get(at..end).context("truncated")
    }
    fn u16(&self, at: usize) -> Result<u16> {
        let b = self.slice(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&self, at: usize) -> Result<u32> {
        let b = self.slice(at, 4)?;
        Ok(u32::from_le_bytes(b.try_into()?))
    }
    fn u64(&self, at: usize) -> Result<u64> {
        let b = self.slice(at, 8)?;
        Ok(u64::from_le_bytes(b.try_into()?))
    }
    /// The NUL-terminated string at `at`.
    fn cstr(&self, at: usize) -> Result<String> {
        let rest = self.0.get(at..).context("string out of bounds")?;
        let end = rest.iter().position(|b| *b == 0).context("unterminated")?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }
}

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Parses the program headers and the dynamic section of an ELF image.
pub fn parse(data: &[u8]) -> Result<Dynamic> {
    let b = Bytes(data);
    if data.get(..4) != Some(b"\x7fELF") {
        bail!("no ELF magic");
    }
    if data.get(4) != Some(&2) || data.get(5) != Some(&1) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let phoff = usize::try_from(b.u64(0x20)?)?;
    let (entsize, count) = (usize::from(b.u16(0x36)?), usize::from(b.u16(0x38)?));
    if entsize < 56 {
        bail!("program header entries of {entsize} bytes");
    }
    let mut segments = Vec::with_capacity(count);
    for i in 0..count {
        let at = phoff
            .checked_add(i.checked_mul(entsize).context("overflow")?)
            .context("overflow")?;
        segments.push(Segment {
            kind: b.u32(at)?,
            offset: b.u64(at.checked_add(8).context("overflow")?)?,
            vaddr: b.u64(at.checked_add(16).context("overflow")?)?,
            filesz: b.u64(at.checked_add(32).context("overflow")?)?,
        });
    }
    let mut out = Dynamic::default();
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        out.interpreter = Some(b.cstr(usize::try_from(interp.offset)?)?);
    }
    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(out);
    };
    let (mut strtab, mut needed, mut soname) = (None, Vec::new(), None);
    let start = usize::try_from(dynamic.offset)?;
    let entries = usize::try_from(dynamic.filesz)? / 16;
    for i in 0..entries {
        let at = start.checked_add(i * 16).context("overflow")?;
        let (tag, val) = (b.u64(at)?, b.u64(at.checked_add(8).context("overflow")?)?);
        match tag {
            DT_NULL => break,
            DT_NEEDED => needed.push(val),
            DT_SONAME => soname = Some(val),
            DT_STRTAB => strtab = Some(val),
            _ => {}
        }
    }
    if needed.is_empty() && soname.is_none() {
        return Ok(out);
    }
    let strtab = strtab.context("a dynamic section without DT_STRTAB")?;
    // DT_STRTAB is an address: map it to a file offset through the loadable segments.
    let base = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| strtab >= s.vaddr && strtab - s.vaddr < s.filesz)
        .map(|s| strtab - s.vaddr + s.offset)
        .context("DT_STRTAB outside every loadable segment")?;
    let string = |off: u64| -> Result<String> {
        b.cstr(usize::try_from(base.checked_add(off).context("overflow")?)?)
    };
    out.needed = needed.into_iter().map(string).collect::<Result<_>>()?;
    out.soname = soname.map(string).transpose()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_needed_libraries_of_a_real_dynamic_executable() {
        // The test binary itself is a dynamically linked glibc program.
        let exe = std::env::current_exe().unwrap();
        let d = read(&exe).unwrap();
        assert!(d.needed.iter().any(|n| n == "libc.so.6"), "{d:?}");
        assert_eq!(
            d.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert!(is_elf(&exe));
    }

    #[test]
    fn hostile_and_truncated_input_is_an_error_not_a_panic() {
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        for len in [0, 3, 4, 6, 63, 64, 100, 1000, 4096] {
            let _ = parse(&exe[..len.min(exe.len())]);
        }
        assert!(parse(b"not an elf file at all, just some text padding it").is_err());
        let mut bad = exe[..64].to_vec();
        bad[0x20..0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(parse(&bad).is_err());
        assert!(!is_elf(Path::new("/nonexistent/file")));
    }
}
