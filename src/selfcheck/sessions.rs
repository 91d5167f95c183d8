//! The `no-secrets-in-sessions` check: when sessions are persisted
//! (`CLAWDBOT_SESSIONS_DIR`), the volume must never hold the gateway token or a provider
//! key. The secrets are read from the environment as `serve` reads them (`NAME` or
//! `NAME_FILE`) and looked for, as written and JSON-escaped, in every regular file of the
//! directory, and (as written or hex-encoded, the session file naming) in file names.
//!
//! Bounded: at most [`MAX_FILES`] files, [`MAX_BYTES`] bytes read in total, in
//! [`CHUNK`]-byte reads (memory stays at one chunk plus the longest secret), at most
//! [`MAX_DEPTH`] directory levels; symlinks are never followed. A scan cut short by a
//! bound is reported incomplete, never clean. Only variable names, file names (relative
//! to the directory) and counts are reported; a file name that itself contains a secret
//! is withheld.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::read_secret;
use crate::defaults;

/// Files read at most (the gateway's default store is 256 sessions).
pub const MAX_FILES: usize = 4096;
/// Bytes read at most across all files (the default store is 256 x 256 KiB of
/// transcript, about 64 MiB with JSON overhead).
pub const MAX_BYTES: u64 = 128 * 1024 * 1024;
/// Size of one read.
pub const CHUNK: usize = 64 * 1024;
/// Directory levels below the sessions directory that are entered.
pub const MAX_DEPTH: usize = 4;
/// Secrets shorter than this are not looked for (they would match unrelated text); a
/// real token is at least `defaults::MIN_TOKEN_LEN` characters.
pub const MIN_SECRET_LEN: usize = 8;
/// File names listed at most in the report (the count is always complete).
pub const MAX_NAMES: usize = 20;
/// Shown instead of a file name that contains a secret.
pub const WITHHELD: &str = "(name withheld: it contains a secret)";

/// A secret to look for: the variable it came from and the byte strings that betray it.
pub struct Needle {
    pub var: String,
    /// Looked for in file contents: the value and its JSON-escaped form.
    content: Vec<Vec<u8>>,
    /// Looked for in file names: the value and its lowercase hex (session file names).
    name: Vec<String>,
}

impl Needle {
    pub fn new(var: impl Into<String>, value: &str) -> Needle {
        let mut content = vec![value.as_bytes().to_vec()];
        let escaped = serde_json::to_string(value).unwrap_or_default();
        let escaped = escaped
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .unwrap_or(value);
        if escaped != value {
            content.push(escaped.as_bytes().to_vec());
        }
        let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
        Needle {
            var: var.into(),
            content,
            name: vec![value.to_string(), hex],
        }
    }

    fn longest(&self) -> usize {
        self.content.iter().map(Vec::len).max().unwrap_or(0)
    }
}

impl std::fmt::Debug for Needle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the value.
        write!(f, "Needle({})", self.var)
    }
}

/// One file that holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    /// Relative to the sessions directory, or [`WITHHELD`].
    pub file: String,
    /// Variables whose value was found (in the name or the contents).
    pub secrets: Vec<String>,
}

/// What the scan found (`sessions` in `self-check --json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SessionsScan {
    /// `CLAWDBOT_SESSIONS_DIR`, or null when sessions are not persisted.
    pub dir: Option<String>,
    /// Variables whose values were looked for (never the values).
    pub secrets: Vec<String>,
    pub files_scanned: usize,
    pub bytes_read: u64,
    /// Number of files holding a secret; `hits` lists at most [`MAX_NAMES`] of them.
    pub files_with_secrets: usize,
    pub hits: Vec<Hit>,
    /// Every file was read to its end (no bound hit, nothing unreadable).
    pub complete: bool,
    /// Why the scan is incomplete or could not look for a secret (no secret values).
    pub problems: Vec<String>,
}

/// The secrets `serve` would use: the gateway token and the provider keys, skipping
/// placeholders and values too short to look for. Unreadable `_FILE`s are problems.
pub fn secrets_from_env(problems: &mut Vec<String>) -> Vec<Needle> {
    let mut vars: Vec<&str> = defaults::TOKEN_VARS.to_vec();
    vars.extend([defaults::ANTHROPIC_KEY_VAR, defaults::OPENAI_KEY_VAR]);
    let mut out = Vec::new();
    for var in vars {
        match read_secret(var) {
            Ok(Some(s)) => {
                let v = s.expose();
                if defaults::is_placeholder(v) {
                    continue;
                }
                if v.len() < MIN_SECRET_LEN {
                    problems.push(format!(
                        "{var} is shorter than {MIN_SECRET_LEN} characters: not looked for"
                    ));
                    continue;
                }
                out.push(Needle::new(var, v));
            }
            Ok(None) => {}
            // The error names the variable and the path, never a value.
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    out
}

/// Reads `CLAWDBOT_SESSIONS_DIR` and the secrets from the environment and scans.
pub fn scan_from_env() -> SessionsScan {
    let Some(dir) = crate::config::read_setting(defaults::SESSIONS_DIR_VAR) else {
        return SessionsScan {
            complete: true,
            ..SessionsScan::default()
        };
    };
    let mut problems = Vec::new();
    let needles = secrets_from_env(&mut problems);
    let mut scan = scan(Path::new(&dir), &needles);
    problems.append(&mut scan.problems);
    scan.problems = problems;
    scan
}

/// The bounds of one scan (the constants above; tests use small ones).
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_files: usize,
    pub max_bytes: u64,
    pub max_depth: usize,
}

pub const BOUNDS: Bounds = Bounds {
    max_files: MAX_FILES,
    max_bytes: MAX_BYTES,
    max_depth: MAX_DEPTH,
};

/// Scans `dir` for `needles` within [`BOUNDS`].
pub fn scan(dir: &Path, needles: &[Needle]) -> SessionsScan {
    scan_within(dir, needles, BOUNDS)
}

/// Scans `dir` for `needles` within `b`.
pub fn scan_within(dir: &Path, needles: &[Needle], b: Bounds) -> SessionsScan {
    let mut scan = SessionsScan {
        dir: Some(dir.to_string_lossy().into_owned()),
        secrets: needles.iter().map(|n| n.var.clone()).collect(),
        complete: true,
        ..SessionsScan::default()
    };
    if needles.is_empty() {
        return scan;
    }
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return scan,
        Err(e) => {
            scan.complete = false;
            scan.problems
                .push(format!("cannot read the directory: {e}"));
            return scan;
        }
        Ok(_) => {}
    }
    let overlap = needles.iter().map(Needle::longest).max().unwrap_or(1);
    let mut buf = vec![0u8; CHUNK + overlap];
    let mut pending: Vec<(PathBuf, usize)> = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = pending.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) => {
                scan.complete = false;
                scan.problems
                    .push(format!("cannot list {}: {e}", relative(dir, &d, needles)));
                continue;
            }
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if depth + 1 >= b.max_depth {
                    scan.complete = false;
                    scan.problems.push(format!(
                        "directories deeper than {} levels not entered",
                        b.max_depth
                    ));
                } else {
                    pending.push((path, depth + 1));
                }
                continue;
            }
            if !meta.is_file() {
                // Symlinks, sockets, fifos: never followed or opened.
                continue;
            }
            if scan.files_scanned >= b.max_files || scan.bytes_read >= b.max_bytes {
                scan.complete = false;
                scan.problems.push(format!(
                    "stopped at the bound ({} files or {} bytes read)",
                    b.max_files, b.max_bytes
                ));
                return finish(scan);
            }
            scan.files_scanned += 1;
            let name = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let mut found: Vec<&Needle> = needles
                .iter()
                .filter(|n| n.name.iter().any(|s| name.contains(s.as_str())))
                .collect();
            let withheld = !found.is_empty();
            match search_file(
                &path,
                needles,
                &mut buf,
                overlap,
                b.max_bytes,
                &mut scan.bytes_read,
            ) {
                Ok((in_contents, eof)) => {
                    for n in in_contents {
                        if !found.iter().any(|f| f.var == n.var) {
                            found.push(n);
                        }
                    }
                    if !eof {
                        scan.complete = false;
                        scan.problems
                            .push(format!("stopped at the bound ({} bytes read)", b.max_bytes));
                    }
                }
                Err(e) => {
                    scan.complete = false;
                    let shown = if withheld { WITHHELD } else { &name };
                    scan.problems.push(format!("cannot read {shown}: {e}"));
                }
            }
            if !found.is_empty() {
                scan.files_with_secrets += 1;
                if scan.hits.len() < MAX_NAMES {
                    scan.hits.push(Hit {
                        file: if withheld { WITHHELD.into() } else { name },
                        secrets: found.iter().map(|n| n.var.clone()).collect(),
                    });
                }
            }
            if scan.bytes_read >= b.max_bytes && !scan.complete {
                return finish(scan);
            }
        }
    }
    finish(scan)
}

fn finish(mut scan: SessionsScan) -> SessionsScan {
    scan.problems.dedup();
    scan
}

/// A directory's name for messages, withheld when it contains a secret.
fn relative(root: &Path, path: &Path, needles: &[Needle]) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path).to_string_lossy();
    if needles
        .iter()
        .any(|n| n.name.iter().any(|s| rel.contains(s.as_str())))
    {
        WITHHELD.into()
    } else if rel.is_empty() {
        ".".into()
    } else {
        rel.into_owned()
    }
}

/// Streams one file through `buf`, keeping the last `overlap` bytes of each read so a
/// secret split across two reads is still found. Returns the needles found and whether
/// the file was read to its end (`false`: the byte bound stopped it).
fn search_file<'n>(
    path: &Path,
    needles: &'n [Needle],
    buf: &mut [u8],
    overlap: usize,
    max_bytes: u64,
    bytes_read: &mut u64,
) -> std::io::Result<(Vec<&'n Needle>, bool)> {
    let mut file = File::open(path)?;
    let mut found: Vec<&Needle> = Vec::new();
    let mut kept = 0usize;
    loop {
        let budget = max_bytes.saturating_sub(*bytes_read);
        if budget == 0 {
            // Read one byte more to tell a file that ends exactly here from a longer one.
            let mut probe = [0u8; 1];
            return Ok((found, file.read(&mut probe)? == 0));
        }
        let want = CHUNK.min(usize::try_from(budget).unwrap_or(CHUNK));
        let n = file.read(&mut buf[kept..kept + want])?;
        if n == 0 {
            return Ok((found, true));
        }
        *bytes_read += n as u64;
        let window = &buf[..kept + n];
        for needle in needles {
            if !found.iter().any(|f| f.var == needle.var)
                && needle.content.iter().any(|c| contains(window, c))
            {
                found.push(needle);
            }
        }
        let keep = overlap.saturating_sub(1).min(window.len());
        let start = window.len() - keep;
        buf.copy_within(start..kept + n, 0);
        kept = keep;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return false;
    };
    haystack.len() >= needle.len()
        && (0..=haystack.len() - needle.len())
            .any(|i| haystack[i] == first && &haystack[i..i + needle.len()] == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "3f9a1c0b7e6d5a4f2e1d0c9b8a7f6e5d";
    const KEY: &str = "sk-ant-api03-Zq8vX2mN4pL6kJ9hG3fD1sA7wE5rT0yU";

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "clawdbot-sessions-scan-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn needles() -> Vec<Needle> {
        vec![
            Needle::new("CLAWDBOT_GATEWAY_TOKEN", TOKEN),
            Needle::new("ANTHROPIC_API_KEY", KEY),
        ]
    }

    fn session(text: &str) -> String {
        serde_json::json!({"key": "main", "messages": [{"role": "user", "text": text}]}).to_string()
    }

    #[test]
    fn clean_directory_passes_and_counts_what_it_read() {
        let dir = temp_dir("clean");
        std::fs::write(dir.join("6d61696e.json"), session("hello")).unwrap();
        std::fs::write(
            dir.join("other.json"),
            session("sk-ant-api03-but-not-the-key"),
        )
        .unwrap();
        let scan = scan(&dir, &needles());
        assert!(scan.complete, "{scan:?}");
        assert_eq!(scan.files_scanned, 2);
        assert_eq!(scan.files_with_secrets, 0);
        assert!(scan.hits.is_empty());
        assert!(scan.bytes_read > 40);
        assert_eq!(
            scan.secrets,
            ["CLAWDBOT_GATEWAY_TOKEN", "ANTHROPIC_API_KEY"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn finds_each_secret_in_contents_names_and_nested_files() {
        let dir = temp_dir("hits");
        std::fs::write(dir.join("a.json"), session(&format!("my token is {TOKEN}"))).unwrap();
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/b.json"), format!("x{KEY}y")).unwrap();
        // The session file naming: hex of the key; a client used the token as key.
        let hex: String = TOKEN.bytes().map(|b| format!("{b:02x}")).collect();
        std::fs::write(dir.join(format!("{hex}.json")), "{}").unwrap();
        std::fs::write(dir.join("clean.json"), session("hi")).unwrap();
        let scan = scan(&dir, &needles());
        assert!(scan.complete, "{scan:?}");
        assert_eq!(scan.files_scanned, 4);
        assert_eq!(scan.files_with_secrets, 3);
        let mut hits: Vec<(String, Vec<String>)> = scan
            .hits
            .iter()
            .map(|h| (h.file.clone(), h.secrets.clone()))
            .collect();
        hits.sort();
        let token = vec!["CLAWDBOT_GATEWAY_TOKEN".to_string()];
        assert_eq!(
            hits,
            [
                (WITHHELD.to_string(), token.clone()),
                ("a.json".into(), token),
                ("sub/b.json".into(), vec!["ANTHROPIC_API_KEY".to_string()]),
            ]
        );
        let text = serde_json::to_string(&scan).unwrap();
        assert!(!text.contains(TOKEN) && !text.contains(&hex) && !text.contains(KEY));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_secret_split_across_reads_and_json_escaped_is_found() {
        let dir = temp_dir("split");
        let mut text = vec![b'.'; CHUNK - 10];
        text.extend_from_slice(TOKEN.as_bytes());
        text.extend(vec![b'.'; 100]);
        std::fs::write(dir.join("big.json"), &text).unwrap();
        let odd = "abc\"def\\ghij/kl";
        std::fs::write(
            dir.join("escaped.json"),
            serde_json::json!({ "t": odd }).to_string(),
        )
        .unwrap();
        let scan = scan(
            &dir,
            &[
                Needle::new("CLAWDBOT_GATEWAY_TOKEN", TOKEN),
                Needle::new("OPENAI_API_KEY", odd),
            ],
        );
        assert_eq!(scan.files_with_secrets, 2, "{scan:?}");
        let escaped_len = std::fs::metadata(dir.join("escaped.json")).unwrap().len();
        assert_eq!(scan.bytes_read, text.len() as u64 + escaped_len);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlinks_are_not_followed_and_missing_directory_is_clean() {
        let dir = temp_dir("links");
        let outside = temp_dir("links-outside");
        std::fs::write(outside.join("secret.txt"), TOKEN).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), dir.join("link.json")).unwrap();
        let scan = scan(&dir, &needles());
        assert_eq!((scan.files_scanned, scan.files_with_secrets), (0, 0));
        assert!(scan.complete);
        let missing = super::scan(&dir.join("absent"), &needles());
        assert!(missing.complete && missing.files_scanned == 0);
        // Nothing to look for: nothing is read.
        let none = super::scan(&outside, &[]);
        assert_eq!(none.files_scanned, 0);
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::remove_dir_all(&outside).unwrap();
    }

    /// Each bound stops the scan and marks it incomplete: never reported clean.
    #[test]
    fn bounds_make_the_scan_incomplete() {
        let dir = temp_dir("bounds");
        for i in 0..5 {
            std::fs::write(dir.join(format!("{i}.json")), session("hello there")).unwrap();
        }
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        let whole = scan(&dir, &needles());
        assert!(whole.complete && whole.problems.is_empty(), "{whole:?}");
        assert_eq!(whole.files_scanned, 5);

        let files = scan_within(
            &dir,
            &needles(),
            Bounds {
                max_files: 3,
                ..BOUNDS
            },
        );
        assert!(!files.complete);
        assert_eq!(files.files_scanned, 3);
        assert!(files.problems[0].starts_with("stopped at the bound (3 files"));

        let bytes = scan_within(
            &dir,
            &needles(),
            Bounds {
                max_bytes: 50,
                ..BOUNDS
            },
        );
        assert!(!bytes.complete, "{bytes:?}");
        assert_eq!(bytes.bytes_read, 50);

        let depth = scan_within(
            &dir,
            &needles(),
            Bounds {
                max_depth: 2,
                ..BOUNDS
            },
        );
        assert!(!depth.complete);
        assert!(
            depth.problems[0].contains("deeper than 2 levels"),
            "{depth:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn substring_search() {
        assert!(contains(b"xxabcxx", b"abc"));
        assert!(contains(b"abc", b"abc"));
        assert!(!contains(b"ab", b"abc"));
        assert!(!contains(b"abc", b""));
    }
}
