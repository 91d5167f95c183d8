//! Section 3: static `verify` speed against the process-start floor and against peer
//! linters on the same files (hadolint on the Dockerfile, dclint on the compose file,
//! checkov on both), for the project itself and for generated compose files of 10, 200
//! and 2000 services. The release xtask binary is timed directly (no cargo in between).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

use super::report::{Figure, Section};
use super::svg;
use super::timing::{self, ratio, Command, Timing};
use super::yaml_parsers;
use super::{secs, tools, Ctx};
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
    /// The release xtask binary, as an argument.
    x: String,
}

impl Timer {
    fn time(&self, c: &Command, n: u32, warm: u32) -> Result<Timing> {
        timing::time(self.hyperfine.as_deref(), c, n, warm)
    }

    fn verify_argv(&self, dir: &Path) -> Vec<String> {
        vec![
            self.x.clone(),
            "verify".into(),
            "--root".into(),
            dir.display().to_string(),
        ]
    }
}

/// Verify's timings on the generated files, and the peers' where they ran.
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
    let xtask = ctx.release_bin("xtask", "xtask")?;
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
        x: xtask.display().to_string(),
    };
    let (floor, one) = floor_and_project(&mut s, &timer, &ctx.root, &project)?;
    let peers = Peers::new(&ctx.tools);
    let hadolint_time = peers_on_project(&mut s, &timer, &peers, &project, &one)?;
    let sized = generated(&mut s, ctx, &timer, &peers, (work.path(), &xtask), &floor)?;
    chart(&mut s, &ctx.root, &sized, hadolint_time)?;
    growth(&mut s, &sized.mine);
    s.note(
        "Generated files: the project's own service (from docker-compose.yml) repeated N times as `svc-0001`… with distinct \
         loopback host ports, next to the project's Dockerfile, ignore files and .env.example. Verify exits 1 when it has \
         findings; timings include that (hyperfine -i). `verify` reads git's view of `.env` (index, ignore files) in-process \
         and starts no other process; the temporary project directory is outside any git work tree.",
    );
    Ok(s)
}

/// The process-start floor, verify of one project and of the repository in place.
fn floor_and_project(
    s: &mut Section,
    timer: &Timer,
    root: &Path,
    project: &Path,
) -> Result<(Timing, Timing)> {
    let fast = timer.runs.fast;
    let floor = timer.time(
        &cmd_in(project, vec![timer.x.clone(), "--version".into()]),
        fast,
        3,
    )?;
    s.note(format!(
        "Ratios to the floor are of medians (floor median {}): a few slow process starts on a loaded machine inflate a mean, and the floor's σ can exceed its mean.",
        secs(floor.median)
    ));
    s.push(Figure::new(
        "process-start floor: `xtask --version`",
        floor.show(),
        "hyperfine -N 'target/release/xtask --version'",
    ));
    check_runs(project, &timer.verify_argv(project))?;
    let one = timer.time(&cmd_in(project, timer.verify_argv(project)), fast, 3)?;
    let r_floor = one.median / floor.median;
    s.push(
        Figure::new(
            "verify one project (Dockerfile, compose file, ignore files, .env.example)",
            one.show(),
            "hyperfine -N 'target/release/xtask verify --root DIR'  (DIR: copies of the repository's five files)",
        )
        .ratio(format!("{} the floor", ratio(one.median, floor.median)))
        .target("≤ 2× the --version floor", Some(r_floor <= 2.0)),
    );
    let repo = timer.time(
        &cmd_in(root, vec![timer.x.clone(), "verify".into()]),
        fast,
        3,
    )?;
    s.push(
        Figure::new(
            "verify the repository in place (`cargo xtask verify`'s work, without cargo)",
            repo.show(),
            "hyperfine -N 'target/release/xtask verify'",
        )
        .ratio(format!("{} the floor", ratio(repo.median, floor.median))),
    );
    Ok((floor, one))
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

/// The peers on the project's own files; hadolint's mean time when it ran.
fn peers_on_project(
    s: &mut Section,
    timer: &Timer,
    peers: &Peers,
    project: &Path,
    one: &Timing,
) -> Result<Option<f64>> {
    let runs = &timer.runs;
    let mut hadolint_time = None;
    match &peers.hadolint {
        Some(h) => {
            let ht = timer.time(
                &cmd_in(project, vec![h.clone(), "Dockerfile".into()]),
                runs.fast,
                3,
            )?;
            let r = ht.mean / one.mean;
            hadolint_time = Some(ht.mean);
            s.push(
                Figure::new(
                    "hadolint on the Dockerfile alone",
                    ht.show(),
                    "hyperfine -N 'hadolint Dockerfile'",
                )
                .ratio(format!(
                    "verify (whole project) is {} faster",
                    ratio(ht.mean, one.mean)
                ))
                .target("verify ≥ 2× faster than hadolint", Some(r >= 2.0)),
            );
        }
        None => s.note(tools::missing("hadolint")),
    }
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
                (&dt, one),
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
                (&ct, one),
                "on the Dockerfile and the compose file",
                "hyperfine -N 'checkov -f Dockerfile -f docker-compose.yml --quiet --compact --skip-download'",
                true,
            );
            s.note("checkov has no docker-compose framework: of the two files it checks only the Dockerfile (its timing is mostly interpreter start-up).");
        }
        None => s.note(tools::missing("checkov")),
    }
    Ok(hadolint_time)
}

/// Verify and the peers on generated compose files of each size, with verify's
/// in-process figures (and, at 2000 services, the YAML parser comparison).
fn generated(
    s: &mut Section,
    ctx: &Ctx,
    timer: &Timer,
    peers: &Peers,
    (work, xtask): (&Path, &Path),
    floor: &Timing,
) -> Result<Sized> {
    let runs = &timer.runs;
    let mut out = Sized {
        mine: Vec::new(),
        dclint: Vec::new(),
        checkov: Vec::new(),
    };
    for &n in SIZES {
        let dir = work.join(format!("services-{n}"));
        copy_project(&ctx.root, &dir)?;
        write_generated(&ctx.root, &ctx.settings.service_name, &dir, n)?;
        check_runs(&dir, &timer.verify_argv(&dir))?;
        let vt = timer.time(
            &cmd_in(&dir, timer.verify_argv(&dir)),
            if n >= 2000 {
                runs.slow.max(5)
            } else {
                runs.fast
            },
            2,
        )?;
        let mut f = Figure::new(
            format!("verify, generated compose file of {n} services"),
            vt.show(),
            format!("hyperfine -N 'target/release/xtask verify --root DIR{n}'"),
        )
        .ratio(format!("{} the floor", ratio(vt.median, floor.median)));
        if n == 200 {
            f = f.target("200 services well under 100 ms", Some(vt.mean < 0.1));
        }
        if n == 2000 {
            f = f.target(
                "2000 services ≤ 25× the --version floor",
                Some(vt.median / floor.median <= 25.0),
            );
        }
        s.push(f);
        if let Some(d) = &peers.dclint {
            // dclint takes about a minute on 2000 services: one run keeps the bench bounded.
            let dt = timer.time(
                &cmd_in(&dir, vec![d.clone(), "docker-compose.yml".into()]),
                if n >= 2000 { 1 } else { runs.slowest },
                if n >= 2000 { 0 } else { 1 },
            )?;
            out.dclint.push((n, dt.mean));
            peer_figure(
                s,
                "dclint",
                (&dt, &vt),
                &format!("on the {n}-service file"),
                &format!("hyperfine -N 'dclint DIR{n}/docker-compose.yml'"),
                false,
            );
        }
        if let Some(c) = &peers.checkov {
            let r = if n >= 2000 { 1 } else { runs.slowest.min(2) };
            let ct = timer.time(&cmd_in(&dir, peers.checkov_argv(c)), r, 0)?;
            out.checkov.push((n, ct.mean));
            peer_figure(
                s,
                "checkov",
                (&ct, &vt),
                &format!("on the {n}-service project"),
                "hyperfine -N 'checkov -f Dockerfile -f docker-compose.yml …'",
                false,
            );
        }
        let in_runs = if n > 200 { ctx.runs(10) } else { ctx.runs(30) };
        if let Err(e) = in_process(s, xtask, &dir, n, in_runs) {
            s.note(format!("In-process timing of {n} services failed: {e:#}"));
        }
        if n == 2000 {
            if let Err(e) = yaml_comparison(s, xtask, &dir, ctx.runs(10)) {
                s.note(format!("The YAML parser comparison failed: {e:#}"));
            }
        }
        out.mine.push((n, vt));
    }
    Ok(out)
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

/// Verify's growth from the smallest to the largest generated file.
fn growth(s: &mut Section, mine: &[(usize, Timing)]) {
    let (Some((_, t10)), Some((_, t200)), Some((_, t2000))) =
        (mine.first(), mine.get(1), mine.get(2))
    else {
        return;
    };
    let per_service = (t2000.mean - t10.mean) / (2000.0 - 10.0);
    s.push(
        Figure::new(
            "verify growth: 10 → 200 → 2000 services",
            format!(
                "{} → {} → {}",
                secs(t10.mean),
                secs(t200.mean),
                secs(t2000.mean)
            ),
            "",
        )
        .ratio(format!(
            "{} and {} for 20× and 200× the services; {} per extra service",
            ratio(t200.mean, t10.mean),
            ratio(t2000.mean, t10.mean),
            secs(per_service)
        )),
    );
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

/// The project's service repeated `n` times, as YAML.
pub fn generated_compose(compose: &Value, service: &str, n: usize) -> Result<String> {
    let svc = compose
        .pointer(&format!("/services/{service}"))
        .context("the compose file has no such service")?;
    let mut services = Map::new();
    for i in 0..n {
        let mut one = svc.clone();
        if let Some(obj) = one.as_object_mut() {
            obj.remove("container_name");
            if let Some(Value::Array(ports)) = obj.get_mut("ports") {
                for (k, p) in ports.iter_mut().enumerate() {
                    if let Some(text) = p.as_str() {
                        let container = text.rsplit(':').next().unwrap_or(text);
                        *p = Value::String(format!("127.0.0.1:{}:{container}", 20000 + i * 2 + k));
                    }
                }
            }
        }
        services.insert(format!("svc-{:04}", i + 1), one);
    }
    let mut root = compose.as_object().cloned().unwrap_or_default();
    root.insert("services".into(), Value::Object(services));
    let yaml = serde_saphyr::to_string(&Value::Object(root)).context("writing YAML")?;
    Ok(format!(
        "# Generated by `cargo xtask bench`: {n} services for the verify benchmark.\n{yaml}"
    ))
}

fn write_generated(root: &Path, service: &str, dir: &Path, n: usize) -> Result<()> {
    let compose = crate::image::read_compose(root)?;
    std::fs::write(
        dir.join("docker-compose.yml"),
        generated_compose(&compose, service, n)?,
    )?;
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
            "`xtask verify` did not run on {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_compose_has_n_services_with_distinct_ports() {
        let compose: Value = serde_json::json!({
            "services": {"app": {"image": "x:1", "ports": ["127.0.0.1:18789:18789", "127.0.0.1:8080:8080"], "container_name": "c"}},
            "networks": {"net": {}}
        });
        let yaml = generated_compose(&compose, "app", 3).unwrap();
        let back: Value = serde_saphyr::from_str(&yaml).unwrap();
        let services = back["services"].as_object().unwrap();
        assert_eq!(services.len(), 3);
        assert!(services["svc-0002"].get("container_name").is_none());
        assert_eq!(services["svc-0002"]["ports"][1], "127.0.0.1:20003:8080");
        assert!(back.get("networks").is_some());
        assert!(yaml.starts_with("# Generated by `cargo xtask bench`"));
        // The benchmark measures verify's fast YAML path, not its fallback.
        assert!(
            clawdbot_verify::input::yaml::fast::parse(&yaml).is_some(),
            "{yaml}"
        );
    }
}
