//! `clawdbot-verify`: the verify engine as a standalone command, with exactly the
//! arguments of `cargo xtask verify` (`clawdbot-verify --root DIR --format sarif`).
//! Runtime verify (`--runtime`) reads the deployment's settings from
//! `[workspace.metadata.deploy]` of `<root>/Cargo.toml` when present, else the defaults.

use std::process::ExitCode;

use clap::Parser;
use clawdbot_verify::{Args, Context, Error, RuntimeConfig};

#[derive(Debug, Parser)]
#[command(
    name = "clawdbot-verify",
    version,
    about = "Check a Docker deployment's security posture (files, or the running stack with --runtime)"
)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

/// mimalloc instead of the system allocator: verify builds a tree of small nodes, and
/// the whole process on 2000 services took 39 ms with the system allocator and 26 ms
/// with mimalloc (hyperfine, same machine and file).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc commits its first arena eagerly by default; on a kernel with transparent
/// huge pages (`always`), touching it faults in 2 MiB pages: peak RSS of one small
/// project 9.4 MiB, of `--version` 7.7 MiB, of 2000 pulled services 36 MiB. With
/// on-demand commit: 5.9, 4.4 and 21 MiB, the same instruction counts (callgrind) and
/// user time. The option must be set before mimalloc starts, which it does in a
/// constructor (before `main` and before the first allocation; priority 101 when built
/// by clang, the default, later, priority when built by gcc, as here), so it is set by a
/// constructor of priority 100, which runs first either way, in the dynamic glibc build
/// and in the static musl one (`MIMALLOC_ARENA_EAGER_COMMIT` is then not read; tested in
/// `tests/standalone_cli.rs`, checked on the shipped binary by `cargo xtask bench`).
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
mod mimalloc_options {
    use std::os::raw::{c_int, c_long};

    /// `mi_option_arena_eager_commit` in mimalloc's `mi_option_t` (include/mimalloc.h,
    /// the v3 sources libmimalloc-sys builds). libmimalloc-sys 0.1.49 (the newest) has no
    /// constant for it, `extended` feature or not: its list stops at the v2 options.
    const ARENA_EAGER_COMMIT: c_int = 4;

    extern "C" {
        /// mimalloc's own option setter (part of the library libmimalloc-sys links).
        fn mi_option_set(option: c_int, value: c_long);
    }

    extern "C" fn on_demand_commit() {
        // SAFETY: sets one entry of mimalloc's static option table; mimalloc has not
        // started yet and no other thread exists.
        unsafe { mi_option_set(ARENA_EAGER_COMMIT, 0) }
    }

    #[used]
    #[link_section = ".init_array.00100"]
    static SET_BEFORE_MIMALLOC_STARTS: extern "C" fn() = on_demand_commit;
}

/// Fast `memcpy`/`memmove`/`memcmp`/`bcmp` for the static musl build (see the crate).
use clawdbot_mem as _;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let cx = Context {
        program: "clawdbot-verify",
        docs_path: cli.args.root.join("docs/rules.md"),
        runtime_config: &|root| RuntimeConfig::load(root).map_err(|e| Error::Settings(e.into())),
        // `main` returns right after: the model is not freed (see `Context::exits_after`).
        exits_after: true,
    };
    match clawdbot_verify::run(&cli.args, &cx).map_err(anyhow::Error::new) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
