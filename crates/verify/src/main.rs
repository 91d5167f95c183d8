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

/// mimalloc's first arena, and huge pages for a large model. Set up before mimalloc
/// starts, by a constructor (before `main` and before the first allocation; priority
/// 101 when mimalloc is built by clang, the default, later, priority when built by gcc,
/// as here), so by one of priority 100, which runs first either way, in the dynamic glibc
/// build and in the static musl one:
///
/// - mimalloc commits the arenas it reserves eagerly by default; on a kernel with
///   transparent huge pages (`always`), touching one faults in 2 MiB pages: peak RSS of
///   one small project 9.4 MiB, of `--version` 7.7 MiB. Its own arenas are therefore
///   committed on demand (`arena_eager_commit` 0: `MIMALLOC_ARENA_EAGER_COMMIT` is then
///   not read; tested in `tests/standalone_cli.rs`, checked on the shipped binary by
///   `cargo xtask bench`).
/// - On-demand commit is an `mprotect` per 64 KiB slice, which takes the address space's
///   lock for writing: with the YAML reader and the rules on two threads, each thread's
///   commits stalled the other's page faults (64 context switches in a 2000-service run,
///   more CPU time than one thread). So the first arena is a region mapped here
///   read-write without reserving swap (`MAP_NORESERVE`: address space only, pages come
///   when first touched) and handed to mimalloc as committed: no `mprotect` at all.
/// - When the compose files are large ([`HUGE_PAGES_FROM`]), the region is advised for
///   huge pages before they are parsed (`before_parse`): the model's pages then fault
///   in 2 MiB at a time (2000 pulled services: 232 page faults instead of 3286). Small
///   projects and `--version` never ask, so their memory stays in 4 KiB pages.
#[cfg(all(feature = "mimalloc", target_os = "linux"))]
mod allocator {
    use std::os::raw::{c_int, c_long, c_void};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// `mi_option_arena_eager_commit` in mimalloc's `mi_option_t` (include/mimalloc.h,
    /// the v3 sources libmimalloc-sys builds). libmimalloc-sys 0.1.49 (the newest) has no
    /// constant for it, `extended` feature or not: its list stops at the v2 options.
    const ARENA_EAGER_COMMIT: c_int = 4;
    /// The first arena's address space (1 GiB, mimalloc's own arena size). A model larger
    /// than that goes on in arenas mimalloc reserves itself.
    const REGION: usize = 1 << 30;
    /// Bytes of compose files from which the model is backed by huge pages: 256 KiB is
    /// about 750 services of the bench's shapes, a model of several megabytes.
    pub const HUGE_PAGES_FROM: u64 = 256 * 1024;

    extern "C" {
        /// mimalloc's own option setter (part of the library libmimalloc-sys links).
        fn mi_option_set(option: c_int, value: c_long);
        /// Adds memory the caller mapped as an arena (include/mimalloc.h).
        fn mi_manage_os_memory(
            start: *mut c_void,
            size: usize,
            is_committed: bool,
            is_pinned: bool,
            is_zero: bool,
            numa_node: c_int,
        ) -> bool;
    }

    /// The region's start, 0 when it could not be mapped (mimalloc then reserves its own).
    static START: AtomicUsize = AtomicUsize::new(0);

    extern "C" fn before_mimalloc_starts() {
        // SAFETY: sets one entry of mimalloc's static option table; mimalloc has not
        // started yet and no other thread exists.
        unsafe { mi_option_set(ARENA_EAGER_COMMIT, 0) }
        // SAFETY: a new private anonymous mapping, given whole to mimalloc (which never
        // unmaps memory it did not map) or unmapped again.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                REGION,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return;
            }
            if mi_manage_os_memory(p, REGION, true, false, true, -1) {
                START.store(p as usize, Ordering::Relaxed);
            } else {
                libc::munmap(p, REGION);
            }
        }
    }

    #[used]
    #[link_section = ".init_array.00100"]
    static SET_BEFORE_MIMALLOC_STARTS: extern "C" fn() = before_mimalloc_starts;

    /// `Context::before_parse`: advises huge pages for a large model.
    pub fn before_parse(bytes: u64) {
        let start = START.load(Ordering::Relaxed);
        if bytes >= HUGE_PAGES_FROM && start != 0 {
            // SAFETY: advice on the region mapped above; it changes how later page faults
            // are served (a 2 MiB page where the kernel has one), never the contents.
            // Refused (THP off, an old kernel), the pages stay 4 KiB: nothing to handle.
            unsafe {
                libc::madvise(start as *mut c_void, REGION, libc::MADV_HUGEPAGE);
            }
        }
    }
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
        #[cfg(all(feature = "mimalloc", target_os = "linux"))]
        before_parse: &allocator::before_parse,
        #[cfg(not(all(feature = "mimalloc", target_os = "linux")))]
        before_parse: &|_| {},
    };
    match clawdbot_verify::run(&cli.args, &cx).map_err(anyhow::Error::new) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
