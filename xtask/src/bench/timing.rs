//! Timing whole commands: hyperfine when installed (`-N`: no intermediate shell), else an
//! in-process loop that spawns the command and measures wall-clock time around it.

use std::path::Path;
use std::time::Instant;

use crate::tasks::Command as Run;
use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub stddev: f64,
    pub runs: u32,
    pub via: &'static str,
}

impl Timing {
    pub fn from_samples(mut s: Vec<f64>, via: &'static str) -> Timing {
        s.sort_by(f64::total_cmp);
        let n = s.len().max(1) as f64;
        let mean = s.iter().sum::<f64>() / n;
        let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        Timing {
            mean,
            median: s.get(s.len() / 2).copied().unwrap_or(0.0),
            min: s.first().copied().unwrap_or(0.0),
            stddev: var.sqrt(),
            runs: s.len() as u32,
            via,
        }
    }

    /// `4.20 ms ± 0.30 (n=20, hyperfine)`
    pub fn show(&self) -> String {
        format!(
            "{} ± {} (n={}, {})",
            super::secs(self.mean),
            super::secs(self.stddev),
            self.runs,
            self.via
        )
    }
}

#[derive(Deserialize)]
struct HyperfineExport {
    results: Vec<HyperfineResult>,
}

#[derive(Deserialize)]
struct HyperfineResult {
    mean: f64,
    median: f64,
    min: f64,
    stddev: Option<f64>,
    times: Vec<f64>,
}

/// A command to time: argv, plus environment variables.
pub struct Command<'a> {
    pub argv: Vec<String>,
    pub env: Vec<(&'a str, String)>,
    pub dir: &'a Path,
}

impl Command<'_> {
    /// The command line as printed in the report (paths under `dir` shown relative).
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

/// Times `c` with hyperfine (when `hyperfine` is Some) or the fallback loop.
pub fn time(hyperfine: Option<&Path>, c: &Command, runs: u32, warmup: u32) -> Result<Timing> {
    let splittable = c.argv.iter().all(|a| {
        !a.is_empty() && !a.contains(char::is_whitespace) && !a.contains(['\'', '"', '\\'])
    });
    match hyperfine {
        Some(hf) if splittable => with_hyperfine(hf, c, runs, warmup),
        _ => with_loop(c, runs, warmup),
    }
}

fn with_hyperfine(hf: &Path, c: &Command, runs: u32, warmup: u32) -> Result<Timing> {
    let export = super::tools::scratch_file("hyperfine.json")?;
    let line = c.display();
    let (runs, warmup) = (runs.max(1).to_string(), warmup.to_string());
    let mut run = Run::exe(hf, &["-N", "-i", "--style", "none", "--warmup", &warmup])
        .args(["--runs", &runs, "--export-json"])
        .arg(&export)
        .args(["--", &line])
        .current_dir(c.dir);
    for (k, v) in &c.env {
        run = run.env(k, v);
    }
    run.capture().with_context(|| format!("hyperfine {line}"))?;
    let text = std::fs::read_to_string(&export).context("reading hyperfine's export")?;
    let _ = std::fs::remove_file(&export);
    let parsed: HyperfineExport =
        serde_json::from_str(&text).context("parsing hyperfine's export")?;
    let r = parsed
        .results
        .into_iter()
        .next()
        .context("hyperfine exported no result")?;
    Ok(Timing {
        mean: r.mean,
        median: r.median,
        min: r.min,
        stddev: r.stddev.unwrap_or(0.0),
        runs: r.times.len() as u32,
        via: "hyperfine",
    })
}

fn with_loop(c: &Command, runs: u32, warmup: u32) -> Result<Timing> {
    let mut t = paired(std::slice::from_ref(c), runs, warmup)?;
    let mut one = t.pop().context("no timing")?;
    one.via = "spawn loop";
    Ok(one)
}

/// Times `cmds` interleaved: every round runs each command once, in order, so that a
/// change in the machine's load falls on all of them alike (hyperfine times one command
/// after the other).
pub fn paired(cmds: &[Command], rounds: u32, warmup: u32) -> Result<Vec<Timing>> {
    // One process description per command, started again for each sample (its status
    // is not judged).
    let mut processes = Vec::new();
    for c in cmds {
        let mut run = Run::from_argv(&c.argv)
            .context("empty command")?
            .current_dir(c.dir);
        for (k, v) in &c.env {
            run = run.env(k, v);
        }
        let mut p = run.to_std()?;
        p.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        processes.push(p);
    }
    let mut samples = vec![Vec::new(); cmds.len()];
    for round in 0..(warmup + rounds.max(1)) {
        for (i, p) in processes.iter_mut().enumerate() {
            let started = Instant::now();
            p.status()
                .with_context(|| format!("running {}", cmds[i].display()))?;
            if round >= warmup {
                samples[i].push(started.elapsed().as_secs_f64());
            }
        }
    }
    Ok(samples
        .into_iter()
        .map(|s| Timing::from_samples(s, "paired spawn loop"))
        .collect())
}

/// Peak resident memory of `c` in bytes, the largest of `runs` runs, measured by GNU
/// time (`/usr/bin/time -f %M`); `None` when it is not installed. A child started from
/// the bench itself would report the bench's own peak: Linux carries the peak RSS of the
/// memory a process replaces at `exec` into its own, and a spawned child replaces a copy
/// of (or shares) the bench's. GNU time forks from its own small image first.
pub fn peak_rss(c: &Command, runs: u32) -> Result<Option<u64>> {
    let time = Path::new("/usr/bin/time");
    if !time.is_file() {
        return Ok(None);
    }
    let mut peak = 0u64;
    for _ in 0..runs.max(1) {
        let out = super::tools::scratch_file("peak-rss")?;
        let mut run = Run::exe(time, &["-f", "%M", "-o"])
            .arg(&out)
            .args(c.argv.iter().map(String::as_str))
            .current_dir(c.dir);
        for (k, v) in &c.env {
            run = run.env(k, v);
        }
        run.output()
            .with_context(|| format!("running {}", c.display()))?;
        let text = std::fs::read_to_string(&out).context("reading GNU time's output")?;
        let _ = std::fs::remove_file(&out);
        let kib: u64 = text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("GNU time printed no peak RSS: {text:?}"))?;
        peak = peak.max(kib * 1024);
    }
    Ok(Some(peak))
}

/// Times an in-process closure `runs` times.
pub fn time_fn(runs: u32, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    f()?; // warm-up
    let mut samples = Vec::new();
    for _ in 0..runs.max(2) {
        let started = Instant::now();
        f()?;
        samples.push(started.elapsed().as_secs_f64());
    }
    Ok(Timing::from_samples(samples, "in-process loop"))
}

/// `a / b` as `3.2×`.
pub fn ratio(a: f64, b: f64) -> String {
    if b <= 0.0 {
        "n/a".into()
    } else {
        format!("{:.2}×", a / b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_samples() {
        let t = Timing::from_samples(vec![3.0, 1.0, 2.0], "x");
        assert_eq!(t.median, 2.0);
        assert_eq!(t.min, 1.0);
        assert!((t.mean - 2.0).abs() < 1e-9);
        assert_eq!(t.runs, 3);
    }

    fn cmd<'a>(argv: &[&str], dir: &'a Path) -> Command<'a> {
        Command {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            env: vec![],
            dir,
        }
    }

    #[test]
    fn the_loop_times_a_real_process() {
        let dir = std::env::temp_dir();
        let t = time(None, &cmd(&["true"], &dir), 3, 1).unwrap();
        assert_eq!(t.runs, 3);
        assert!(t.mean > 0.0 && t.mean < 5.0);
    }

    #[test]
    fn paired_runs_interleave() {
        let dir = std::env::temp_dir();
        let (small, other) = (cmd(&["true"], &dir), cmd(&["sleep", "0.01"], &dir));
        let out = paired(&[small, other], 3, 1).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].runs, 3);
        // Interleaved: the sleeping command's samples are its own, not the other's.
        assert!(out[1].min >= 0.01 && out[0].min < 0.01);
        if let Some(peak) = peak_rss(&cmd(&["true"], &dir), 2).unwrap() {
            // `true` is small, whatever the size of the process that measures it.
            assert!(peak > 0 && peak < 8 * 1024 * 1024, "{peak}");
        }
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(6.0, 2.0), "3.00×");
        assert_eq!(ratio(1.0, 0.0), "n/a");
    }
}
