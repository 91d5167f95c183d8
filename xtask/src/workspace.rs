//! The workspace the xtask belongs to: its root directory, cargo's target directory, the
//! cargo that runs us, and the target triple of the static binary the image ships.
//!
//! The one place each of these is computed; every other module asks here. It imports
//! nothing from the crate, so it sits at the bottom of the module graph, and the
//! integration tests include this very file (`tests/support`); `tests/architecture.rs`
//! checks that nothing else types the triple or computes the root.

use std::path::{Path, PathBuf};

/// Rust target of the static binary in the `FROM scratch` image (also the SBOM's target).
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// Rust target of the static glibc fallback (`-C target-feature=+crt-static`), used when
/// the musl target or a musl C compiler is missing.
pub const GNU_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Root of the workspace the xtask belongs to (the directory of the root `Cargo.toml`),
/// canonical when it can be resolved.
pub fn root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    dir.canonicalize().unwrap_or(dir)
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to `root` when relative) or
/// `<root>/target`. (Staging always goes to `<root>/target/docker-context`, the build
/// context the Dockerfile copies from.)
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// The cargo that runs us (set by `cargo run`), else `cargo` on PATH.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// True when `program` is an executable file on `PATH`.
pub fn on_path(program: &str) -> bool {
    find_on_path(program).is_some()
}

/// Full path of `program` on `PATH`.
/// The executable file `program` on `PATH`, if any.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}
