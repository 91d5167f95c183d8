//! clawdbot-verify: static security verification of a Docker deployment (Dockerfile,
//! compose files, Swarm stack files, Kubernetes manifests, ignore files, `.env.example`,
//! git state) against the rule catalog, or of the running stack with `--runtime`.
//! Used by `cargo xtask verify` and by the standalone `clawdbot-verify` binary, which
//! take the same arguments ([`Args`]) and call [`run`].
//!
//! Pipeline, one folder per stage: `input` (files read safely by `project`, parsed by
//! `dockerfile`, `yaml` → `compose`) → `model` (the posture of each workload, secrets)
//! → `rules` → `report` (`suppress`, then one reporter per format); `runtime` checks the
//! running stack with the same rules. `vocab` (catalog, finding) is shared by all.
//! Exit codes: 0 clean, 1 findings at or above `--fail-on` (default `warning`), 2 usage error or unreadable/malformed input.

pub mod hashing;
pub mod input;
pub mod model;
pub mod parallel;
pub mod report;
pub mod rules;
pub mod runtime;
#[cfg(test)]
mod test_support;
pub mod vocab;

/// Facts shared with the service (ports, uid/gid, variable names, placeholders).
pub use clawdbot_facts as defaults;

pub use runtime::{Profile, RuntimeConfig};
pub use vocab::catalog::{rule, Rule, RuleId, CHECKLIST};
pub use vocab::finding::{Finding, Location, Severity};

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use report::{Format, Report};

/// Why a verify run could not produce a report (exit 2 in the command-line front ends).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--explain` of an id the catalog does not have.
    #[error("unknown rule {id:?} (see `{program} --list-rules`)")]
    UnknownRule { id: String, program: &'static str },
    /// An input file is unreadable or malformed.
    #[error(transparent)]
    Input(#[from] input::error::InputError),
    /// Writing the report or the rule reference failed.
    #[error("{what} {}", path.display())]
    Write {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The deployment settings runtime verify needs could not be loaded.
    #[error(transparent)]
    Settings(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The engine could not be asked (`--runtime`).
    #[error(transparent)]
    Runtime(anyhow::Error),
}

/// What a front end supplies beyond the command line.
pub struct Context<'a> {
    /// The command as the user types it, for hints (`cargo xtask verify`).
    pub program: &'static str,
    /// Where `--write-docs` writes the rule reference.
    pub docs_path: PathBuf,
    /// Loads the settings runtime verify reads, for a project root (only with `--runtime`).
    pub runtime_config: &'a dyn Fn(&Path) -> Result<RuntimeConfig, Error>,
    /// The process exits right after [`run`] (a command-line front end): the project
    /// model, the findings and the report are then left for the operating system to
    /// reclaim instead of being freed one allocation at a time (on a 2000-service compose
    /// file, freeing the model was a tenth of the run). Output is written and flushed
    /// and the exit code is the same either way; a caller that runs more than once in
    /// one process leaves this `false`.
    pub exits_after: bool,
    /// Told the size in bytes of the compose files before static verify parses them
    /// ([`input::project::Project::compose_bytes`]): the command-line front end backs a
    /// large model with huge pages (fewer page faults); others pass `&|_| {}`.
    pub before_parse: &'a dyn Fn(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Note,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Project directory (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Dockerfile to verify (default: <root>/Dockerfile).
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Compose file; repeat to merge several in order, like `docker compose -f`
    /// (default: <root>/compose.yaml or docker-compose.yml plus its override file).
    #[arg(long = "compose-file", value_name = "PATH")]
    pub compose_files: Vec<PathBuf>,
    /// Verify the compose files as a Swarm stack file (`docker stack deploy`): keys Swarm
    /// ignores are reported and do not count. Automatic for `docker-stack.yml`/`.yaml`.
    #[arg(long, conflicts_with = "runtime")]
    pub swarm: bool,
    /// Verify the Kubernetes manifests (`*.yaml`, `*.yml`) in DIR (default: `<root>/k8s`
    /// when that directory exists).
    #[arg(long = "k8s", value_name = "DIR", conflicts_with = "runtime")]
    pub k8s: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Lowest severity that makes the exit code 1.
    #[arg(long, value_enum, default_value = "warning")]
    pub fail_on: FailOn,
    /// Write the report to a file instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// List every rule (id, severity, checklist item, title) and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Explain one rule (rationale and fix) and exit.
    #[arg(long, value_name = "ID")]
    pub explain: Option<String>,
    /// Regenerate docs/rules.md from the rule catalog and exit.
    #[arg(long)]
    pub write_docs: bool,
    /// Verify the running stack (docker inspect + self-check) instead of the files.
    #[arg(long)]
    pub runtime: bool,
    /// Compose project name of the running stack (with --runtime).
    #[arg(long, value_name = "NAME", requires = "runtime")]
    pub project: Option<String>,
}

/// Runs static verification of the selected files; `Err` is unreadable or malformed input.
pub fn verify_files(
    sel: &input::project::Selection,
) -> Result<Vec<Finding>, input::error::InputError> {
    verify_project(sel).map(|(_, findings)| findings)
}

/// [`verify_files`], handing back the project model too (so that [`run`] can leave it
/// unfreed when the process exits right after).
fn verify_project(
    sel: &input::project::Selection,
) -> Result<(input::project::Project, Vec<Finding>), input::error::InputError> {
    let project = input::project::Project::load(sel)?;
    let mut findings = rules::run(&project);
    report::shared::merge(&mut findings, &project);
    report::suppress::apply(&mut findings, &project.files);
    fill_evidence(&project, &mut findings);
    vocab::finding::sort_for_report(&mut findings);
    Ok((project, findings))
}

/// Findings from which their evidence is masked on two threads (a line is masked in
/// ~0.25 µs; a second thread costs ~0.25 ms to start).
const EVIDENCE_SPLIT_FROM: usize = 2048;

/// Sets each finding's evidence to its (masked) source line: the second half of a long
/// list on a second thread ([`parallel::join`]), both reading one index of each file.
pub fn fill_evidence(project: &input::project::Project, findings: &mut [Finding]) {
    // Each file a finding points into (by its displayed name, the last file of that name
    // as a map built from all of them would keep), its lines indexed once.
    let mut files: Vec<(&str, LineIndex)> = Vec::new();
    for f in findings.iter() {
        let name = f.location.file.as_str();
        if f.evidence.is_some() || f.location.line == 0 || files.iter().any(|(n, _)| *n == name) {
            continue;
        }
        if let Some(file) = project.files.iter().rev().find(|s| s.display == name) {
            files.push((file.display.as_str(), LineIndex::new(&file.text)));
        }
    }
    if findings.len() < EVIDENCE_SPLIT_FROM || !parallel::two_threads() {
        return fill_evidence_of(&files, findings);
    }
    let (first, second) = findings.split_at_mut(findings.len() / 2);
    parallel::join(
        || fill_evidence_of(&files, first),
        || fill_evidence_of(&files, second),
    );
}

/// [`fill_evidence`] on one thread, over the indexed `files`.
fn fill_evidence_of(files: &[(&str, LineIndex)], findings: &mut [Finding]) {
    // The file of the previous finding (findings come in runs of one file), and the last
    // line masked: a service's findings on one line come one after the other, and the
    // line is masked once for them.
    let mut last = usize::MAX;
    let mut masked: Option<(usize, usize, String)> = None;
    for f in findings.iter_mut() {
        if f.evidence.is_some() || f.location.line == 0 {
            continue;
        }
        let name = f.location.file.as_str();
        if files.get(last).is_none_or(|(n, _)| *n != name) {
            let Some(k) = files.iter().position(|(n, _)| *n == name) else {
                continue;
            };
            last = k;
        }
        let line_no = f.location.line;
        f.evidence = match &masked {
            Some((file, line, text)) if *file == last && *line == line_no => Some(text.clone()),
            _ => {
                let Some(line) = files[last].1.line(line_no - 1) else {
                    continue;
                };
                let text = model::secrets::redact(line.trim());
                masked = Some((last, line_no, text.clone()));
                Some(text)
            }
        };
    }
}

/// Text written to stdout through a buffer (`fmt::Write` over `io::Write`).
struct Stdout<'a>(std::io::BufWriter<std::io::StdoutLock<'a>>);

impl std::fmt::Write for Stdout<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.write_all(s.as_bytes()).map_err(|_| std::fmt::Error)
    }
}

/// Where each line of a text starts, for lines by number: the lines of [`str::lines`]
/// (split at `\n`, a `\r` before it dropped), without a slice kept for every line.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> LineIndex<'a> {
        let b = text.as_bytes();
        let mut starts = Vec::with_capacity(memchr::memchr_iter(b'\n', b).count() + 1);
        if !b.is_empty() {
            starts.push(0);
        }
        starts.extend(
            memchr::memchr_iter(b'\n', b)
                .map(|i| i + 1)
                .filter(|&start| start < b.len()),
        );
        LineIndex { text, starts }
    }

    /// Line `i` (0-based), as `text.lines().nth(i)` gives it.
    fn line(&self, i: usize) -> Option<&'a str> {
        let start = *self.starts.get(i)?;
        let rest = &self.text[start..];
        Some(match rest.find('\n') {
            Some(end) => rest[..end].strip_suffix('\r').unwrap_or(&rest[..end]),
            None => rest,
        })
    }
}

/// Runs one verify invocation: lists or explains rules, writes the docs, or verifies
/// (files, or the running stack) and writes the report. `Ok` is the exit code (0 clean,
/// 1 findings at or above `--fail-on`).
pub fn run(args: &Args, cx: &Context<'_>) -> Result<ExitCode, Error> {
    if args.list_rules {
        print!("{}", vocab::catalog::list());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(id) = &args.explain {
        let Some(rule) = vocab::catalog::rule(id) else {
            return Err(Error::UnknownRule {
                id: id.clone(),
                program: cx.program,
            });
        };
        print!("{}", vocab::catalog::explain(rule));
        return Ok(ExitCode::SUCCESS);
    }
    if args.write_docs {
        let path = &cx.docs_path;
        let write_err = |what, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Write { what, path, source }
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_err("creating", dir))?;
        }
        std::fs::write(path, vocab::catalog::render_docs()).map_err(write_err("writing", path))?;
        println!("wrote {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }

    let mut model = None;
    let findings = if args.runtime {
        let config = (cx.runtime_config)(&args.root)?;
        let opts = runtime::RuntimeOptions {
            project: args.project.clone(),
            root: args.root.clone(),
        };
        runtime::collect(&opts, &config).map_err(Error::Runtime)?
    } else {
        let sel = input::project::Selection {
            root: args.root.clone(),
            dockerfile: args.file.clone(),
            compose_files: args.compose_files.clone(),
            swarm: args.swarm,
            k8s: args.k8s.clone(),
        };
        (cx.before_parse)(input::project::Project::compose_bytes(&sel));
        let (project, findings) = verify_project(&sel)?;
        model = Some(project);
        findings
    };

    let fail_on = match args.fail_on {
        FailOn::Error => Severity::Error,
        FailOn::Warning => Severity::Warning,
        FailOn::Note => Severity::Note,
    };
    let to_tty = args.output.is_none() && std::io::stdout().is_terminal();
    let color = to_tty
        && args.format == Format::Human
        && std::env::var_os("NO_COLOR").is_none()
        && !defaults::ci::in_ci()
        && console::colors_enabled();
    let report = Report {
        findings: &findings,
        fail_on,
        color,
    };
    let mut text = String::new();
    match &args.output {
        Some(path) => {
            text = report.render(args.format);
            std::fs::write(path, &text).map_err(|source| Error::Write {
                what: "writing",
                path: path.clone(),
                source,
            })?
        }
        // The human report goes out as it is written (the largest reports are human
        // ones: 2 MB for 6000 findings, never held whole).
        None if args.format == Format::Human => {
            let mut out = Stdout(std::io::BufWriter::with_capacity(
                1 << 16,
                std::io::stdout().lock(),
            ));
            // A closed pipe (e.g. `| head`) is not an error worth a panic: the report
            // stops there.
            let _ = report::human::write(&report, &mut out);
            let _ = out.0.flush();
        }
        None => {
            text = report.render(args.format);
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
    let code = if report.failing() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if cx.exits_after {
        std::mem::forget(text);
        std::mem::forget(findings);
        std::mem::forget(model);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::LineIndex;

    /// The same lines as `str::lines`, whatever the line ends.
    #[test]
    fn line_index_gives_the_lines_of_str_lines() {
        for text in [
            "",
            "\n",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "\n\nx\n",
            "a\r",
            "a\rb\n\r\n",
            "é\nß\r\n",
        ] {
            let index = LineIndex::new(text);
            let want: Vec<&str> = text.lines().collect();
            let got: Vec<&str> = (0..want.len() + 2).map_while(|i| index.line(i)).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }
}
