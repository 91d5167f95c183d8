//! Section 3: static verify speed. The standalone `clawdbot-verify` binary users get (the
//! static release build of `cargo xtask build`/`dist`, musl: no dynamic loader) is timed
//! directly (no cargo in between): its start-up paired against `/bin/true` and hadolint in
//! one interleaved loop (time and peak memory), whether its allocator options were set
//! before mimalloc started, instruction counts under
//! callgrind when valgrind is installed (repeatable on a loaded machine), and the four
//! shapes of generated compose file (`verify_shapes`) at 10, 200 and 2000 services,
//! each held to linear growth (time per service within 1.5x from 200 to 2000) and to
//! 25x the `--version` floor at 2000 (both in one interleaved loop). The build shape is
//! also run by the peer linters (dclint on the compose file, checkov on both) and timed
//! in process.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::report::{Figure, Section};
use super::svg;
use super::timing::{self, ratio, Command, Timing};
use super::verify_shapes::Shape;
use super::yaml_parsers;
use super::{mib, secs, tools, Ctx};
use crate::tasks::Command as Run;

/// Files of "one project", copied from the repository root.
const PROJECT_FILES: &[&str] = &[
    "Dockerfile",
    "docker-compose.yml",
    ".dockerignore",
    ".gitignore",
    ".env.example",
];
const SIZES: &[usize] = &[10, 200, 2000];
/// The scaling chart, written next to the report (docs/).
const CHART: &str = "verify-scaling.svg";
/// Start-up targets (issue 22 item 8) and the linearity bound (item 7).
const VERSION_VS_TRUE: f64 = 1.5;
const FASTER_THAN_HADOLINT: f64 = 3.0;
const PEAK_RSS: f64 = 8.0 * 1024.0 * 1024.0;
const PER_SERVICE_SPREAD: f64 = 1.5;
const FLOOR_MULTIPLE_2000: f64 = 25.0;
/// Rounds of the interleaved loop over the sizes of a shape (a third with `--quick`).
const PAIRED_ROUNDS: u32 = 45;

fn cmd_in(dir: &Path, argv: Vec<String>) -> Command<'_> {
    Command {
        argv,
        env: vec![("NO_COLOR", "1".to_string())],
        dir,
    }
}

struct Runs {
    fast: u32,
    slow: u32,
    slowest: u32,
}

/// Times commands with the run counts of the section.
struct Timer {
    hyperfine: Option<PathBuf>,
    runs: Runs,
    /// The shipped static `clawdbot-verify` binary, as an argument.
    bin: String,
    /// The same, relative to the repository (as the report prints it).
    shown: String,
}

impl Timer {
    fn time(&self, c: &Command, n: u32, warm: u32) -> Result<Timing> {
        timing::time(self.hyperfine.as_deref(), c, n, warm)
    }

    fn verify_argv(&self, dir: &Path) -> Vec<String> {
        vec![self.bin.clone(), "--root".into(), dir.display().to_string()]
    }
}

/// Verify's timings on the generated files of the build shape, and the peers' where they ran.
struct Sized {
    mine: Vec<(usize, Timing)>,
    dclint: Vec<(usize, f64)>,
    checkov: Vec<(usize, f64)>,
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new(
        "verify",
        "Static verify speed, side by side with peer linters",
    );
    let shipped = ctx.shipped_bin("clawdbot-verify", "clawdbot-verify")?;
    let bin = shipped.binary;
    let xtask = ctx.release_bin("xtask", "xtask")?;
    let load_start = load_average();
    let work = crate::tempdir::TempDir::new("clawdbot-bench-verify")?;
    let project = work.path().join("project");
    copy_project(&ctx.root, &project)?;
    let timer = Timer {
        hyperfine: ctx.tools.hyperfine.clone(),
        runs: Runs {
            fast: ctx.runs(40),
            slow: ctx.runs(6),
            slowest: ctx.runs(3).min(3),
        },
        bin: bin.display().to_string(),
        shown: super::display_rel(&ctx.root, &bin),
    };
    s.note(format!(
        "Binary: `{}`, the static release build users get, made by the xtask's own build function \
         (`build::compile_static`, the command `cargo xtask build` and `dist` run: `cargo auditable build --release \
         --locked --target {}`, reproducible flags): no dynamic loader, so no symbol binding at start. {}",
        timer.shown,
        shipped.target,
        shipped.notes.join(" ")
    ));
    let peers = Peers::new(&ctx.tools);
    check_runs(&project, &timer.verify_argv(&project))?;
    let hadolint_time = start_up(&mut s, ctx, &timer, &peers, &project)?;
    allocator_options(&mut s, &timer, &project)?;
    let floor = floor_and_project(&mut s, &timer, &ctx.root, &project)?;
    peers_on_project(&mut s, &timer, &peers, &project)?;
    let dirs = write_shapes(ctx, work.path())?;
    if let Err(e) = callgrind(&mut s, &timer, &project, &dirs) {
        s.note(format!("Callgrind counts failed: {e:#}"));
    }
    let sized = shapes(&mut s, ctx, &timer, &peers, (&dirs, &xtask), &floor)?;
    chart(&mut s, &ctx.root, &sized, hadolint_time)?;
    s.note(format!(
        "Load average (1, 5, 15 min) at the start of this section: {load_start}; at its end: {}. The machine is \
         shared: compare ratios measured in the same run, and instruction counts (callgrind) across runs.",
        load_average()
    ));
    s.note(
        "Generated files (`xtask/src/bench/verify_shapes.rs`), each next to the project's Dockerfile, ignore files and \
         .env.example, services `svc-0001`… with distinct loopback host ports: build: the project's own service \
         (from docker-compose.yml, `build: .`) repeated; pulled: `image: example/app:1.2.3` with `user:`, limits, \
         ports and environment, block style; flow: the same in flow style (`cap_drop: [ALL]`, `ports: [...]`, \
         `environment: [...]`) with a flow healthcheck (`{test: [CMD, ...], interval: 10s}`) and logging \
         (`{driver: json-file, options: {max-size: 10m}}`); anchors: an `x-defaults: &defaults` block (user, \
         limits, logging, healthcheck) merged into every service with `<<: *defaults`. Verify exits 1 when it has \
         findings; timings include that (hyperfine -i). `clawdbot-verify` reads git's view of `.env` in-process and \
         starts no other process; the temporary project directories are outside any git work tree.",
    );
    s.note(HISTORY);
    Ok(s)
}

/// Figures measured before and after the start-up and shape work of issue 22 (items 7
/// and 8), kept as text: the table above is regenerated by every run.
const HISTORY: &str = "Before → after issue 22 items 7 and 8 (2026-12-07, load average 13–16 on 2 cores, so \
    callgrind instruction counts of the release `clawdbot-verify`, which do not depend on load, and peak RSS from \
    `/usr/bin/time -f %M`). Flow shape at 10 / 200 / 2000 services: 6.4M / 100.7M / 996.8M → see the table: \
    yaml_fast refused nested one-line flow collections (`{test: [CMD, x]}`), so the whole file went through \
    serde-saphyr. Pulled shape at 10 / 200 / 1000 / 2000: 2.7M / 28.6M / 139.1M / 278.3M (already linear on main) → \
    232.3M at 2000: the known-format secret scan set up a two-way string searcher per prefix per scanned value \
    (150k setups). Anchors shape at 2000: 168.3M → 149.7M. Output byte-identical (SARIF of the project and of every \
    shape at 2000; the fixture tests). Start-up: `true` 0.13M; `--version` 0.77M → 0.76M: the dynamic loader's \
    relocations of the 4.7 MB PIE binary ≈ 0.41M (full RELRO: every symbol bound at start), mimalloc's start \
    (reading each of its options from the environment) ≈ 0.15M, std's main-thread stack guard \
    (pthread_getattr_np parsing /proc/self/maps) ≈ 0.12M, clap ≈ 0.05M; one project 1.45M → 1.40M. Peak RSS: \
    `--version` 7.7 → 4.4 MiB, one project 9.4 → 5.9 MiB, 2000 pulled services 36 → 21 MiB: mimalloc committed \
    its first arena eagerly and the kernel (transparent huge pages `always`) backed it with 2 MiB pages; it now \
    commits on demand. The system allocator instead (a non-LTO build, `--no-default-features`): `--version` 0.63M \
    and 4.1 MiB, one project 1.49M and 5.9 MiB, 2000 pulled services 339M (mimalloc, same non-LTO build: 296M) \
    and 21 MiB: no lower peak memory than mimalloc with on-demand commit, and slower on large files, so mimalloc \
    stays. hadolint 2.15.1 (static Haskell binary): peak RSS 14.2 MiB. Then the bench timed the gnu release build, \
    which users do not get; it now times the shipped static musl binary (no dynamic loader, nothing bound at \
    start): `--version` 0.76M → 0.39M instructions, one project 1.40M → 0.92M, peak RSS of one project 5.9 → \
    2.9 MiB (callgrind and GNU time, 2026-12-07). The lower floor makes the 25× target at 2000 services \
    about 3× stricter, and the static binary is slower on large files: 2000 pulled services 42.9 ms vs 28.6 ms for \
    the gnu build, anchors 29.8 vs 22.8 ms, `--version` 0.6 vs 1.8 ms (hyperfine, 15 runs each, load 0.6). \
    perf: about a quarter of the static binary's cycles on 2000 pulled services are musl's `memcpy` (`rep movsq` \
    plus byte loops), which callgrind counts as few instructions, so the instruction counts above hide it. \
    Then (issue 22 item 7, second round, 2026-12-07; callgrind, perf stat page faults, and hyperfine minima of a \
    profiling copy of the static musl build, every output of every shape and format compared byte for byte): 2000 \
    pulled services 239M → 173M instructions, 4418 → 3125 page faults, 46 → 22 ms (load 1.7). The report sort compared file \
    names and moved whole findings (18 % of instructions), the anchor merge hashed long keys, each finding's line \
    was masked again (three findings per line), the human report was formatted piece by piece and then copied; now \
    integer keys and one in-place permutation, the place hashed once, a line masked once, and the report written \
    into stdout's buffer as it goes. musl's `memcpy` (single-byte `movsb` to align, then `rep movsq` at any size) \
    and byte-loop `memcmp` cost about a quarter of the cycles over 329k mostly tiny copies: the binary now carries \
    its own (`crates/mem/src/lib.rs`: unaligned loads and stores up to 64 bytes, `rep movsb` above, \
    comparisons by words), 36 → 25 ms on that file with `--version` unchanged. The alternative, a static glibc \
    build (`+crt-static`, fast routines), ran the file in 26 ms but started in 1.26 ms of task-clock against \
    musl's 0.52 ms (glibc asks the CPU for its features and caches at start, costly in a virtual machine): it \
    would meet the 25× target only by raising its own floor, and made every small run slower, so it was not \
    taken. Page faults (a quarter of the time left) were cut where vectors grew by doubling (the second thread's \
    findings, the sorted copy, a mapping sized by the keys before an indentless sequence, flow collections keeping \
    room for four); a Dockerfile's USER and HEALTHCHECK are worked out once per file and target (build shape \
    215M → 178M). What is left at 2000 services (each ~10 µs per service on 2 cores shared with other work): the \
    span tree's allocations (about 100 per service, nodes of 80 bytes with owned strings) and the posture model \
    built per service; the per-service linearity figures now come from the fastest of paired rounds. \
    Third round (2026-12-07, phase timings of an instrumented copy, perf, and hyperfine medians interleaved with \
    the previous binary; every output of every shape, size and format byte-identical): the YAML parse was half \
    of the run and single-threaded, so a large mapping (the services, from 128) reads its second half on a second \
    thread, kept only where it is what one reader gives (`input/yaml/fast.rs`, tested on the fallbacks). A new \
    thread was queued on its busy parent's CPU for 0.5-5 ms (two 5 ms halves took 7.9 ms): the second thread is \
    now placed on another CPU at once (`parallel.rs`, 5.3 ms), for the rules too. mimalloc's on-demand commit was \
    an `mprotect` per 64 KiB slice, which takes the address space's lock for writing and stalled the other \
    thread's page faults (64 context switches per run): its first arena is now a `MAP_NORESERVE` region handed \
    over committed, advised for huge pages from 256 KiB of compose text (2000 pulled services: 232 page faults \
    instead of 3286; peak RSS 15 → 30 MiB, zeroing 2 MiB pages costs part of the gain: 1.5-3 ms better than the \
    same binary without the advice). foldhash for the per-service maps (SipHash was 6 % of instructions), 32-byte \
    lines found with memchr, evidence of a long list masked on two threads. Before → after, hyperfine medians at \
    2000 services (load ~1): build 24.2 → 13.7 ms, pulled 20.9 → 14.5, flow 24.3 → ~17, anchors 19.2 → ~13.4; \
    `--version` 0.61 → 0.50 ms (no arena reservation and `mprotect`s at start), which raises the 25× bar. \
    The 25× target is now judged in the interleaved loop, `--version` run beside the three sizes: the floor \
    measured once before the shapes was 0.67 to 0.93 ms in three runs of one day, and alone decided whether \
    build and flow passed (25.4× and 26.5× in one run, 18–20× in another).";

/// `/proc/loadavg`'s first three fields.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A start-up figure: paired wall time, peak RSS measured apart.
struct Paired {
    time: Timing,
    peak_rss: Option<u64>,
}

/// Start-up, paired in one interleaved loop: `/bin/true`, `clawdbot-verify --version`,
/// verify of one project and hadolint on its Dockerfile (wall time and peak memory).
/// Returns hadolint's median time when it ran.
fn start_up(
    s: &mut Section,
    ctx: &Ctx,
    timer: &Timer,
    peers: &Peers,
    project: &Path,
) -> Result<Option<f64>> {
    let truth = if Path::new("/bin/true").is_file() {
        "/bin/true".to_string()
    } else {
        crate::workspace::find_on_path("true")
            .context("no `true` program")?
            .display()
            .to_string()
    };
    let mut cmds = vec![
        cmd_in(project, vec![truth.clone()]),
        cmd_in(project, vec![timer.bin.clone(), "--version".into()]),
        cmd_in(project, timer.verify_argv(project)),
    ];
    if let Some(h) = &peers.hadolint {
        cmds.push(cmd_in(project, vec![h.clone(), "Dockerfile".into()]));
    }
    let rounds = ctx.runs(300);
    let times = timing::paired(&cmds, rounds, 5)?;
    let mut peaks = Vec::new();
    for c in &cmds {
        peaks.push(timing::peak_rss(c, 3)?);
    }
    let out: Vec<Paired> = times
        .into_iter()
        .zip(peaks)
        .map(|(time, peak_rss)| Paired { time, peak_rss })
        .collect();
    let shown = |p: &Paired| {
        format!(
            "{} median ({} mean, min {}), peak RSS {}",
            secs(p.time.median),
            secs(p.time.mean),
            secs(p.time.min),
            p.peak_rss
                .map_or("not measured (install GNU time)".into(), |b| mib(b as f64))
        )
    };
    let line = format!("paired spawn loop: {rounds} rounds, each runs every command of this group once, in turn; peak RSS: /usr/bin/time -f %M, largest of 3");
    let (t, v, one) = (&out[0], &out[1], &out[2]);
    s.push(Figure::new(
        format!("start-up floor: `{truth}`"),
        shown(t),
        line.clone(),
    ));
    s.push(
        Figure::new(
            "`clawdbot-verify --version`",
            shown(v),
            format!("{} --version (same loop)", timer.shown),
        )
        .ratio(format!("{} `true`", ratio(v.time.median, t.time.median)))
        .target(
            format!("≤ {VERSION_VS_TRUE}× `/bin/true`"),
            Some(v.time.median <= VERSION_VS_TRUE * t.time.median),
        ),
    );
    s.push(
        Figure::new(
            "verify one project (Dockerfile, compose file, ignore files, .env.example)",
            shown(one),
            format!(
                "{} --root DIR (same loop; DIR: copies of the repository's five files)",
                timer.shown
            ),
        )
        .ratio(format!(
            "{} `--version`",
            ratio(one.time.median, v.time.median)
        ))
        .target(
            "peak memory ≤ 8 MiB",
            one.peak_rss.map(|b| b as f64 <= PEAK_RSS),
        ),
    );
    match out.get(3) {
        Some(h) => s.push(
            Figure::new(
                "hadolint on the Dockerfile alone",
                shown(h),
                "hadolint Dockerfile (same loop)",
            )
            .ratio(format!(
                "verify (whole project) is {} faster; peak memory {} of hadolint's",
                ratio(h.time.median, one.time.median),
                match (one.peak_rss, h.peak_rss) {
                    (Some(a), Some(b)) => ratio(a as f64, b as f64),
                    _ => "n/a".into(),
                }
            ))
            .target(
                format!("verify ≥ {FASTER_THAN_HADOLINT}× faster than hadolint"),
                Some(h.time.median >= FASTER_THAN_HADOLINT * one.time.median),
            ),
        ),
        None => s.note(tools::missing("hadolint")),
    }
    s.note(
        "Start-up figures come from one interleaved loop (every round runs each command once, in turn), so a change \
         in the machine's load falls on all of them alike; ratios are of medians. Peak RSS is measured apart, by \
         GNU time (a child spawned by the bench would report the bench's own peak: Linux carries the peak of the \
         memory an `exec` replaces into the new program's).",
    );
    Ok(out.get(3).map(|h| h.time.median))
}

/// mimalloc's options as the shipped binary starts (`MIMALLOC_VERBOSE=1` prints them when
/// mimalloc starts): `arena_eager_commit` must be 0, set by `crates/verify/src/main.rs`'s
/// `.init_array.00100` constructor before mimalloc's own constructor reads the
/// environment, which here asks for 1. Eager commit costs ~3.5 MiB of peak memory.
fn allocator_options(s: &mut Section, timer: &Timer, project: &Path) -> Result<()> {
    let out = Run::from_argv(&[timer.bin.clone(), "--version".into()])
        .context("empty command")?
        .current_dir(project)
        .env("MIMALLOC_VERBOSE", "1")
        .env("MIMALLOC_ARENA_EAGER_COMMIT", "1")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let value = err.lines().find_map(|l| {
        l.trim()
            .strip_prefix("option 'arena_eager_commit':")
            .map(|v| v.trim().to_string())
    });
    s.push(
        Figure::new(
            "mimalloc `arena_eager_commit` as the shipped binary starts",
            value
                .clone()
                .map_or("not printed (no mimalloc?)".into(), |v| {
                    format!("{v} (the environment asked for 1)")
                }),
            format!(
                "MIMALLOC_VERBOSE=1 MIMALLOC_ARENA_EAGER_COMMIT=1 {} --version",
                timer.shown
            ),
        )
        .target(
            "0: main.rs's `.init_array.00100` constructor runs before mimalloc starts",
            Some(value.as_deref() == Some("0")),
        ),
    );
    Ok(())
}

/// The `--version` floor the shapes are compared with (hyperfine, like them), and verify
/// of the repository in place.
fn floor_and_project(
    s: &mut Section,
    timer: &Timer,
    root: &Path,
    project: &Path,
) -> Result<Timing> {
    let fast = timer.runs.fast;
    let floor = timer.time(
        &cmd_in(project, vec![timer.bin.clone(), "--version".into()]),
        fast,
        3,
    )?;
    s.push(Figure::new(
        "process-start floor for the shapes: `clawdbot-verify --version`",
        floor.show(),
        format!("hyperfine -N '{} --version'", timer.shown),
    ));
    let repo = timer.time(&cmd_in(root, timer.verify_argv(root)), fast, 3)?;
    s.push(
        Figure::new(
            "verify the repository in place (`cargo xtask verify`'s work, without cargo)",
            repo.show(),
            format!("hyperfine -N '{} --root .'", timer.shown),
        )
        .ratio(format!("{} the floor", ratio(repo.median, floor.median))),
    );
    s.note(format!(
        "Ratios to the floor are of medians (floor median {}): a few slow process starts on a loaded machine inflate a mean.",
        secs(floor.median)
    ));
    Ok(floor)
}

/// A peer's figure with verify's speed-up over it (`target`: verify ≥ 100× faster).
fn peer_figure(
    s: &mut Section,
    name: &str,
    (peer, mine): (&Timing, &Timing),
    label: &str,
    cmdline: &str,
    target: bool,
) {
    let r = peer.mean / mine.mean;
    let mut f = Figure::new(format!("{name} {label}"), peer.show(), cmdline.to_string())
        .ratio(format!("verify is {} faster", ratio(peer.mean, mine.mean)));
    if target {
        f = f.target(
            format!("verify ≥ 100× faster than {name}"),
            Some(r >= 100.0),
        );
    }
    s.push(f);
}

/// dclint and checkov on the project's own files, against verify of that project.
fn peers_on_project(s: &mut Section, timer: &Timer, peers: &Peers, project: &Path) -> Result<()> {
    let runs = &timer.runs;
    if peers.dclint.is_none() && peers.checkov.is_none() {
        s.note(tools::missing("dclint"));
        s.note(tools::missing("checkov"));
        return Ok(());
    }
    let one = timer.time(&cmd_in(project, timer.verify_argv(project)), runs.fast, 3)?;
    match &peers.dclint {
        Some(d) => {
            let dt = timer.time(
                &cmd_in(project, vec![d.clone(), "docker-compose.yml".into()]),
                runs.slow,
                1,
            )?;
            peer_figure(
                s,
                "dclint",
                (&dt, &one),
                "on the compose file",
                "hyperfine -N 'dclint docker-compose.yml'",
                true,
            );
        }
        None => s.note(tools::missing("dclint")),
    }
    match &peers.checkov {
        Some(c) => {
            let ct = timer.time(&cmd_in(project, peers.checkov_argv(c)), runs.slowest, 1)?;
            peer_figure(
                s,
                "checkov",
                (&ct, &one),
                "on the Dockerfile and the compose file",
                "hyperfine -N 'checkov -f Dockerfile -f docker-compose.yml --quiet --compact --skip-download'",
                true,
            );
            s.note("checkov has no docker-compose framework: of the two files it checks only the Dockerfile (its timing is mostly interpreter start-up).");
        }
        None => s.note(tools::missing("checkov")),
    }
    Ok(())
}

/// One project directory per (shape, size), written once.
struct ShapeDirs {
    dirs: Vec<(Shape, usize, PathBuf)>,
}

impl ShapeDirs {
    fn get(&self, shape: Shape, n: usize) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(s, k, _)| *s == shape && *k == n)
            .map(|(_, _, d)| d.as_path())
    }
}

fn write_shapes(ctx: &Ctx, work: &Path) -> Result<ShapeDirs> {
    let compose = crate::image::read_compose(&ctx.root)?;
    let mut dirs = Vec::new();
    for shape in Shape::ALL {
        for &n in SIZES {
            let dir = work.join(format!("{}-{n}", shape.name()));
            copy_project(&ctx.root, &dir)?;
            let text = shape.compose((&compose, &ctx.settings.service_name), n)?;
            std::fs::write(dir.join("docker-compose.yml"), text)
                .with_context(|| format!("writing {}", dir.display()))?;
            dirs.push((shape, n, dir));
        }
    }
    Ok(ShapeDirs { dirs })
}

/// Instructions of the whole process under callgrind (repeatable where wall time is
/// not): `/bin/true`, `--version`, one project, and every shape at 200 and 2000
/// services (instructions per service, which must stay constant).
fn callgrind(s: &mut Section, timer: &Timer, project: &Path, dirs: &ShapeDirs) -> Result<()> {
    if crate::workspace::find_on_path("valgrind").is_none() {
        s.note("valgrind is not installed (`apt-get install valgrind`): no instruction counts in this run.");
        return Ok(());
    }
    let count = |argv: Vec<String>, dir: &Path| -> Result<u64> {
        let out = Run::program(
            "valgrind",
            &["--tool=callgrind", "--callgrind-out-file=/dev/null"],
        )
        .args(argv)
        .current_dir(dir)
        .output()?;
        let err = String::from_utf8_lossy(&out.stderr);
        err.lines()
            .find_map(|l| {
                l.split_once("Collected :")
                    .map(|(_, n)| n.trim().to_string())
            })
            .and_then(|n| n.parse().ok())
            .with_context(|| {
                format!(
                    "no instruction count in valgrind's output: {}",
                    err.lines().last().unwrap_or("")
                )
            })
    };
    let m = |n: u64| format!("{:.2}M instructions", n as f64 / 1e6);
    let truth = count(vec!["true".into()], project)?;
    let version = count(vec![timer.bin.clone(), "--version".into()], project)?;
    let one = count(timer.verify_argv(project), project)?;
    let cmd = format!("valgrind --tool=callgrind {} …", timer.shown);
    s.push(
        Figure::new(
            "callgrind: `true` / `--version` / one project",
            format!("{} / {} / {}", m(truth), m(version), m(one)),
            cmd.clone(),
        )
        .ratio(format!(
            "`--version` {} `true`",
            ratio(version as f64, truth as f64)
        )),
    );
    for shape in Shape::ALL {
        let (Some(d10), Some(d200), Some(d2000)) = (
            dirs.get(shape, 10),
            dirs.get(shape, 200),
            dirs.get(shape, 2000),
        ) else {
            continue;
        };
        let c10 = count(timer.verify_argv(d10), d10)? as f64;
        let c200 = count(timer.verify_argv(d200), d200)? as f64;
        let c2000 = count(timer.verify_argv(d2000), d2000)? as f64;
        let (p200, p2000) = ((c200 - c10) / 190.0, (c2000 - c10) / 1990.0);
        let spread = p200.max(p2000) / p200.min(p2000).max(1.0);
        s.push(
            Figure::new(
                format!(
                    "callgrind, {} shape: 10 / 200 / 2000 services",
                    shape.name()
                ),
                format!(
                    "{:.1}M / {:.1}M / {:.1}M instructions",
                    c10 / 1e6,
                    c200 / 1e6,
                    c2000 / 1e6
                ),
                cmd.clone(),
            )
            .ratio(format!(
                "{:.0}k and {:.0}k per added service (10→200, 10→2000): {spread:.2}× apart",
                p200 / 1e3,
                p2000 / 1e3
            ))
            .target(
                format!("instructions per service constant within {PER_SERVICE_SPREAD}×"),
                Some(spread <= PER_SERVICE_SPREAD),
            ),
        );
    }
    Ok(())
}

/// Every shape at every size: wall time against the floor, time per added service
/// (constant within 1.5× from 200 to 2000), and for the build shape the peers, the
/// in-process figures and the YAML parser comparison.
fn shapes(
    s: &mut Section,
    ctx: &Ctx,
    timer: &Timer,
    peers: &Peers,
    (dirs, xtask): (&ShapeDirs, &Path),
    floor: &Timing,
) -> Result<Sized> {
    let runs = &timer.runs;
    let mut out = Sized {
        mine: Vec::new(),
        dclint: Vec::new(),
        checkov: Vec::new(),
    };
    for shape in Shape::ALL {
        let mut mine = Vec::new();
        for &n in SIZES {
            let dir = dirs.get(shape, n).context("shape directory")?;
            check_runs(dir, &timer.verify_argv(dir))?;
            // As many runs at 2000 services as at 10 (a run takes tens of milliseconds).
            // The 25x target is judged in the interleaved loop below, beside `--version`.
            let vt = timer.time(&cmd_in(dir, timer.verify_argv(dir)), runs.fast, 2)?;
            let f = Figure::new(
                format!("verify, {} shape, {n} services", shape.name()),
                vt.show(),
                format!(
                    "hyperfine -N '{} --root DIR' (DIR: {}-{n})",
                    timer.shown,
                    shape.name()
                ),
            )
            .ratio(format!("{} the floor", ratio(vt.median, floor.median)));
            s.push(f);
            if shape == Shape::Build {
                build_shape_extras(s, ctx, timer, peers, (dir, xtask), (n, &vt), &mut out)?;
            }
            mine.push((n, vt));
        }
        let (paired, floor_beside) = paired_sizes(ctx, timer, dirs, shape)?;
        per_service(s, shape, &paired);
        interleaved_floor_ratio(s, shape, &paired, &floor_beside);
        if shape == Shape::Build {
            out.mine = mine;
        }
    }
    Ok(out)
}

/// The sizes of one shape timed in one interleaved loop (each round runs 10, 200 and
/// 2000 services once, in turn), so that a change in the machine's load falls on every
/// size alike: the per-service figures below come from these.
fn paired_sizes(
    ctx: &Ctx,
    timer: &Timer,
    dirs: &ShapeDirs,
    shape: Shape,
) -> Result<(Vec<(usize, Timing)>, Timing)> {
    let mut cmds = Vec::new();
    for &n in SIZES {
        let dir = dirs.get(shape, n).context("shape directory")?;
        cmds.push(cmd_in(dir, timer.verify_argv(dir)));
    }
    // `--version` in the same loop: a floor measured beside the sizes, under the same load.
    let first = dirs.get(shape, SIZES[0]).context("shape directory")?;
    cmds.push(cmd_in(first, vec![timer.bin.clone(), "--version".into()]));
    let mut times = timing::paired(&cmds, ctx.runs(PAIRED_ROUNDS), 3)?;
    let floor = times.pop().context("no --version timing")?;
    Ok((SIZES.iter().copied().zip(times).collect(), floor))
}

/// The 2000-service runs over the `--version` runs of the same interleaved loop (medians):
/// the 25x target, judged with both sides under the same load. (The hyperfine figures
/// above divide by a floor measured once, before the shapes: on this shared machine that
/// floor was 0.67 to 0.93 ms in three runs of one day, which alone decided the target.)
fn interleaved_floor_ratio(
    s: &mut Section,
    shape: Shape,
    sizes: &[(usize, Timing)],
    floor: &Timing,
) {
    let Some((n, t)) = sizes.last() else {
        return;
    };
    s.push(
        Figure::new(
            format!(
                "verify, {} shape: {n} services over `--version`, interleaved",
                shape.name()
            ),
            format!("{:.2}×", t.median / floor.median),
            format!(
                "medians of {} rounds of the paired spawn loop: {} / {}",
                t.runs,
                secs(t.median),
                secs(floor.median)
            ),
        )
        .target(
            format!("{n} services ≤ {FLOOR_MULTIPLE_2000}× the --version floor"),
            Some(t.median / floor.median <= FLOOR_MULTIPLE_2000),
        ),
    );
}

/// Time per added service at 200 and at 2000 services (above the 10-service run of the
/// same shape, which holds the fixed costs), and whether they agree within 1.5×. From
/// the fastest run of each size in the interleaved loop ([`paired_sizes`]): the fastest
/// of many runs is the one least disturbed by other work on the machine, and a path
/// that is superlinear costs its time in every run, the fastest included (the
/// instruction counts of the callgrind figures above check the same without timing).
fn per_service(s: &mut Section, shape: Shape, mine: &[(usize, Timing)]) {
    let (Some((n0, t0)), Some((n1, t1)), Some((n2, t2))) = (mine.first(), mine.get(1), mine.get(2))
    else {
        return;
    };
    let p1 = (t1.min - t0.min) / (n1 - n0) as f64;
    let p2 = (t2.min - t0.min) / (n2 - n0) as f64;
    let spread = if p1 > 0.0 && p2 > 0.0 {
        p1.max(p2) / p1.min(p2)
    } else {
        f64::INFINITY
    };
    s.push(
        Figure::new(
            format!(
                "verify, {} shape: time per added service at {n1} / {n2} services",
                shape.name()
            ),
            format!("{} / {}", secs(p1), secs(p2)),
            format!(
                "(min(n) − min({n0})) / (n − {n0}); min of {} rounds of a paired spawn loop over the {n0}, {n1} and {n2} services (min {} / {} / {})",
                t0.runs,
                secs(t0.min),
                secs(t1.min),
                secs(t2.min)
            ),
        )
        .ratio(format!("{spread:.2}× apart; {}", shape.describe()))
        .target(
            format!("constant within {PER_SERVICE_SPREAD}× from {n1} to {n2}"),
            Some(spread <= PER_SERVICE_SPREAD),
        ),
    );
}

/// The build shape's peers (dclint, checkov), in-process figures and, at 2000 services,
/// the YAML parser comparison.
fn build_shape_extras(
    s: &mut Section,
    ctx: &Ctx,
    timer: &Timer,
    peers: &Peers,
    (dir, xtask): (&Path, &Path),
    (n, vt): (usize, &Timing),
    out: &mut Sized,
) -> Result<()> {
    let runs = &timer.runs;
    if let Some(d) = &peers.dclint {
        // dclint takes about a minute on 2000 services: one run keeps the bench bounded.
        let dt = timer.time(
            &cmd_in(dir, vec![d.clone(), "docker-compose.yml".into()]),
            if n >= 2000 { 1 } else { runs.slowest },
            if n >= 2000 { 0 } else { 1 },
        )?;
        out.dclint.push((n, dt.mean));
        peer_figure(
            s,
            "dclint",
            (&dt, vt),
            &format!("on the {n}-service file"),
            &format!("hyperfine -N 'dclint DIR{n}/docker-compose.yml'"),
            false,
        );
    }
    if let Some(c) = &peers.checkov {
        let r = if n >= 2000 { 1 } else { runs.slowest.min(2) };
        let ct = timer.time(&cmd_in(dir, peers.checkov_argv(c)), r, 0)?;
        out.checkov.push((n, ct.mean));
        peer_figure(
            s,
            "checkov",
            (&ct, vt),
            &format!("on the {n}-service project"),
            "hyperfine -N 'checkov -f Dockerfile -f docker-compose.yml …'",
            false,
        );
    }
    let in_runs = if n > 200 { ctx.runs(10) } else { ctx.runs(30) };
    if let Err(e) = in_process(s, xtask, dir, n, in_runs) {
        s.note(format!("In-process timing of {n} services failed: {e:#}"));
    }
    if n == 2000 {
        if let Err(e) = yaml_comparison(s, xtask, dir, ctx.runs(10)) {
            s.note(format!("The YAML parser comparison failed: {e:#}"));
        }
    }
    Ok(())
}

/// The scaling chart (docs/verify-scaling.svg) from the figures above.
fn chart(s: &mut Section, root: &Path, sized: &Sized, hadolint_time: Option<f64>) -> Result<()> {
    let mut series = vec![svg::Series {
        name: "verify".into(),
        points: sized.mine.iter().map(|(n, t)| (*n, t.mean)).collect(),
    }];
    if let Some(h) = hadolint_time {
        series.push(svg::Series {
            name: "hadolint (Dockerfile)".into(),
            points: SIZES.iter().map(|n| (*n, h)).collect(),
        });
    }
    for (name, points) in [("dclint", &sized.dclint), ("checkov", &sized.checkov)] {
        if !points.is_empty() {
            series.push(svg::Series {
                name: name.into(),
                points: points.clone(),
            });
        }
    }
    if let Some(chart) = svg::scaling_chart("verify and peer linters, whole process", &series) {
        let path = root.join("docs").join(CHART);
        std::fs::write(&path, chart).with_context(|| format!("writing {}", path.display()))?;
        s.raw.push(format!(
            "![verify against hadolint, dclint and checkov on 10, 200 and 2000 services (log scales)]({CHART})"
        ));
        s.note(format!(
            "Chart ({CHART}, drawn by the bench from the figures above): wall time of one run against services in the \
             compose file. hadolint reads only the Dockerfile, the same at every size; checkov checks only the Dockerfile \
             of each project (see above)."
        ));
    }
    Ok(())
}

/// The same work without a process: the compose parser and model, the whole pipeline
/// (`verify::verify_files`: load, parse, rules, suppressions) and the Dockerfile parser,
/// timed inside the release binary (`xtask bench-in-process DIR`).
fn in_process(s: &mut Section, xtask: &Path, dir: &Path, n: usize, runs: u32) -> Result<()> {
    let out = Run::exe(xtask, &["bench-in-process"])
        .arg(dir)
        .args(["--runs", &runs.to_string()])
        .output()?;
    if !out.status.success() {
        bail!(
            "bench-in-process failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let m: super::in_process::Medians = serde_json::from_slice(&out.stdout)
        .context("reading the JSON that bench-in-process printed")?;
    let command = format!("target/release/xtask bench-in-process DIR{n} --runs {runs}");
    s.push(
        Figure::new(
            format!(
                "in-process: parse + model the {n}-service compose file / whole verify pipeline"
            ),
            format!(
                "{} / {} ({}, median of {})",
                secs(m.parse_model),
                secs(m.pipeline),
                m.profile,
                m.runs
            ),
            command.clone(),
        )
        .ratio(format!(
            "{} per service (pipeline)",
            secs(m.pipeline / n as f64)
        ))
        .target_if(
            n == 2000,
            "≤ 30 µs per service in process",
            m.pipeline / n as f64 <= 30e-6,
        ),
    );
    if let (true, Some(df)) = (n == SIZES[0], m.dockerfile_parse) {
        s.push(Figure::new(
            "in-process: parse the project's Dockerfile",
            format!("{} ({}, median of {})", secs(df), m.profile, m.runs * 10),
            command,
        ));
    }
    Ok(())
}

/// Each YAML parser on the 2000-service file, in a process of its own (`xtask bench-yaml`).
fn yaml_comparison(s: &mut Section, xtask: &Path, dir: &Path, runs: u32) -> Result<()> {
    let file = dir.join("docker-compose.yml");
    let runs_arg = runs.to_string();
    let mut verify_time = None;
    for p in yaml_parsers::ALL {
        let arg = p.arg();
        let out = Run::exe(xtask, &["bench-yaml", arg])
            .arg(&file)
            .args(["--runs", &runs_arg])
            .output()?;
        if !out.status.success() {
            bail!(
                "bench-yaml {arg} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let m: yaml_parsers::Measured = serde_json::from_slice(&out.stdout)
            .context("reading the JSON that bench-yaml printed")?;
        let (name, output, positions, merges) = p.facts();
        let mine = *verify_time.get_or_insert(m.median);
        s.push(
            Figure::new(
                format!("YAML on the 2000-service file: {name}"),
                format!(
                    "{} (median of {}), peak memory +{:.1} MiB, {} {}",
                    secs(m.median),
                    m.runs,
                    m.peak_growth as f64 / (1024.0 * 1024.0),
                    m.items,
                    if output == "span tree" { "nodes" } else { "events" }
                ),
                format!("target/release/xtask bench-yaml {arg} DIR2000/docker-compose.yml --runs {runs}"),
            )
            .ratio(format!(
                "{output}; line numbers: {positions}; `<<` merges: {merges}; {} verify's time",
                ratio(m.median, mine)
            )),
        );
    }
    s.note(
        "YAML choice: verify keeps serde-saphyr as the full parser (every YAML feature, its error messages, its alias \
         limits) and reads the block subset compose files are written in with its own line reader (`yaml_fast`), which \
         builds the same span tree with anchors, aliases and `<<` merges resolved, and hands anything else to \
         serde-saphyr. The event parsers are timed reading events only, before any tree, alias or merge is built: \
         the fastest reads its events in about the time verify's reader takes for the whole tree, and a tree on top \
         of them would add the allocations that are most of that reader's time. Tests and a fuzz target hold the two \
         paths to the same tree on every fixture and on mutated fixtures.",
    );
    Ok(())
}

struct Peers {
    hadolint: Option<String>,
    dclint: Option<String>,
    checkov: Option<String>,
}

impl Peers {
    fn new(t: &tools::Tools) -> Peers {
        let p = |o: &Option<PathBuf>| o.as_ref().map(|p| p.display().to_string());
        Peers {
            hadolint: p(&t.hadolint),
            dclint: p(&t.dclint),
            checkov: p(&t.checkov),
        }
    }

    fn checkov_argv(&self, c: &str) -> Vec<String> {
        [
            c,
            "-f",
            "Dockerfile",
            "-f",
            "docker-compose.yml",
            "--quiet",
            "--compact",
            "--skip-download",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

fn copy_project(root: &Path, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for f in PROJECT_FILES {
        let from = root.join(f);
        if from.is_file() {
            std::fs::copy(&from, dir.join(f))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    Ok(())
}

/// One run first: verify must judge the files (exit 0 or 1), not fail on usage (2).
fn check_runs(dir: &Path, argv: &[String]) -> Result<()> {
    let out = Run::from_argv(argv)
        .context("empty command")?
        .current_dir(dir)
        .output()?;
    match out.status.code() {
        Some(0) | Some(1) => Ok(()),
        _ => bail!(
            "`clawdbot-verify` did not run on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ),
    }
}
