//! Section 2: seconds from `compose up -d` to healthy, a warm `cargo xtask demo` with its
//! per-step times, and `clawdbot serve` start to the first `/health` 200.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clawdbot_testkit::child::{LoggedChild, Stop};
use serde_json::{json, Value};

use super::report::{Figure, Section};
use super::timing::Timing;
use super::{secs, Ctx};
use crate::engine::{ComposeProject, Engine};
use crate::tasks::Command;

const HEALTHY_WITHIN: f64 = 1.0;

/// Status code of `GET <path>` on `addr`, or None when nothing answers in time.
pub fn http_status(addr: SocketAddr, path: &str, timeout: Duration) -> Option<u16> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))?
        .get(..3)?
        .parse()
        .ok()
}

/// A free loopback port (bound then released).
pub use clawdbot_testkit::free_port;

/// How a bench's server is stopped: SIGTERM, 3 s to drain, then SIGKILL.
pub const STOP: Stop = Stop {
    group: false,
    grace: Duration::from_secs(3),
};

/// A running `clawdbot serve` on loopback (a background child of [`Command::to_std`],
/// on the tests' [`LoggedChild`]: its warnings are kept, and it is stopped on drop as
/// [`STOP`] says).
pub struct Server {
    pub child: LoggedChild,
    pub port: u16,
    pub health_port: u16,
}

impl Server {
    pub fn spawn(binary: &Path, token: &str, extra: &[String]) -> Result<Server> {
        Server::spawn_with_env(binary, token, extra, &[])
    }

    /// [`Server::spawn`] with extra environment variables (e.g. a provider pointed at a
    /// loopback stub).
    pub fn spawn_with_env(
        binary: &Path,
        token: &str,
        extra: &[String],
        env: &[(String, String)],
    ) -> Result<Server> {
        let (port, health_port) = (free_port()?, free_port()?);
        let mut command = Command::exe(binary, &["serve"])
            .args(["--port", &port.to_string()])
            .args(["--health-port", &health_port.to_string()])
            .args(extra)
            .secret_env(crate::defaults::TOKEN_VARS[0], token)
            .env("RUST_LOG", "warn");
        for (k, v) in env {
            command = command.env(k, v);
        }
        let child =
            LoggedChild::spawn_with(command.to_std()?.stdin(Stdio::null()), Stdio::null(), STOP)
                .with_context(|| format!("starting {} serve", binary.display()))?;
        Ok(Server {
            child,
            port,
            health_port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn health_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.health_port))
    }

    /// Polls `/health` until 200; returns the time waited.
    pub fn wait_healthy(&mut self, bound: Duration) -> Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < bound {
            if http_status(self.health_addr(), "/health", Duration::from_millis(200)) == Some(200) {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                let logs = self.child.logs();
                bail!(
                    "clawdbot serve exited with {status} before /health answered: {}",
                    logs.lines().last().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        bail!("/health did not answer 200 within {bound:?}")
    }
}

pub fn token() -> Result<String> {
    crate::tempdir::random_hex(24)
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new("lifecycle", "Lifecycle");
    ctx.ensure_built()?;
    serve_to_health(ctx, &mut s)?;
    if let Err(e) = compose_up_to_healthy(ctx, &mut s) {
        s.note(format!("compose up → healthy failed: {e:#}"));
    }
    if let Err(e) = warm_demo(ctx, &mut s) {
        s.note(format!("warm demo failed: {e:#}"));
    }
    Ok(s)
}

fn serve_to_health(ctx: &Ctx, s: &mut Section) -> Result<()> {
    let binary = ctx.staged_binary();
    let token = token()?;
    let runs = ctx.runs(30);
    let mut samples = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let mut server = Server::spawn(&binary, &token, &[])?;
        server.wait_healthy(Duration::from_secs(10))?;
        samples.push(started.elapsed().as_secs_f64());
    }
    let t = Timing::from_samples(samples, "in-process loop");
    s.push(
        Figure::new(
            "`clawdbot serve` spawn → first /health 200 (host, median)",
            format!("{} (min {}, n={})", secs(t.median), secs(t.min), t.runs),
            format!(
                "{} serve --port P --health-port H, polling GET /health every 0.5 ms",
                crate::defaults::STAGE_DIR.to_string() + "/clawdbot"
            ),
        )
        .target(
            "healthy within 1 s of start",
            Some(t.median < HEALTHY_WITHIN),
        ),
    );
    Ok(())
}

/// The project's compose file, made private: no build, ephemeral loopback host ports, a
/// project-scoped container; written as JSON (valid YAML) next to a demo `.env`.
fn private_compose(ctx: &Ctx, dir: &Path, name: &str, token: &str) -> Result<ComposeProject> {
    let mut compose: Value = crate::image::read_compose(&ctx.root)?;
    let svc_name = &ctx.settings.service_name;
    let svc = compose
        .pointer_mut(&format!("/services/{svc_name}"))
        .and_then(Value::as_object_mut)
        .with_context(|| format!("docker-compose.yml has no service {svc_name:?}"))?;
    svc.remove("build");
    svc.remove("container_name");
    let ports = [ctx.settings.gateway_port, ctx.settings.health_port]
        .iter()
        .map(|p| json!(format!("127.0.0.1::{p}")))
        .collect::<Vec<_>>();
    svc.insert("ports".into(), Value::Array(ports));
    if let Some(Value::Object(nets)) = compose.get_mut("networks") {
        for (key, def) in nets.iter_mut() {
            if let Some(obj) = def.as_object_mut() {
                if obj.contains_key("name") {
                    obj.insert("name".into(), json!(format!("{name}_{key}")));
                }
            }
        }
    }
    let file = dir.join("docker-compose.json");
    std::fs::write(&file, serde_json::to_string_pretty(&compose)?)?;
    let env_file = dir.join(".env");
    crate::tempdir::write_private(&env_file, &crate::image::demo_env_text(Some(token)))?;
    Ok(ComposeProject {
        name: name.to_string(),
        project_dir: dir.to_path_buf(),
        env_file,
        files: vec![file],
    })
}

struct Up {
    first_200: f64,
    /// None when Docker did not report `healthy` within the bound.
    docker_healthy: Option<f64>,
}

fn compose_up_to_healthy(ctx: &Ctx, s: &mut Section) -> Result<()> {
    let engine = Engine::detect()?;
    let runs = if ctx.quick { 1 } else { 3 };
    let mut ups = Vec::new();
    for _ in 0..runs {
        let dir = crate::tempdir::TempDir::new("clawdbot-bench")?;
        let name = format!("clawdbot-bench-{}", crate::tempdir::random_hex(3)?);
        let project = private_compose(ctx, dir.path(), &name, &token()?)?;
        let result = one_up(ctx, &engine, &project);
        let _ = engine
            .compose(
                &project,
                &["down", "-v", "--remove-orphans", "--timeout", "2"],
            )
            .status();
        ups.push(result?);
    }
    let first = Timing::from_samples(ups.iter().map(|u| u.first_200).collect(), "in-process loop");
    let healthy: Vec<f64> = ups.iter().filter_map(|u| u.docker_healthy).collect();
    let interval = &ctx.settings.healthcheck_interval;
    let up = engine.compose.argv0().join(" ");
    s.push(
        Figure::new(
            "`compose up -d` → first /health 200 on the published port (median)",
            format!("{} (n={})", secs(first.median), first.runs),
            format!("{up} -p clawdbot-bench-… up -d --no-build; GET http://127.0.0.1:<published>/health every 10 ms"),
        )
        .target("healthy within 1 s of start", Some(first.median < HEALTHY_WITHIN)),
    );
    s.push(
        Figure::new(
            "`compose up -d` → Docker reports `healthy` (median)",
            if healthy.len() == ups.len() {
                let t = Timing::from_samples(healthy, "in-process loop");
                format!("{} (n={})", secs(t.median), t.runs)
            } else {
                format!(
                    "not reached within 30 s in {} of {} runs (the image's HEALTHCHECK command failed)",
                    ups.len() - healthy.len(),
                    ups.len()
                )
            },
            format!("{up} -p clawdbot-bench-… up -d --no-build; docker inspect -f '{{{{.State.Health.Status}}}}' every 50 ms"),
        )
        .ratio(format!("bounded below by the healthcheck interval ({interval}): Docker runs the first check one interval after start")),
    );
    s.note(format!("Engine: {}.", engine.describe()));
    Ok(())
}

fn one_up(ctx: &Ctx, engine: &Engine, project: &ComposeProject) -> Result<Up> {
    let svc = ctx.settings.service_name.as_str();
    let started = Instant::now();
    engine
        .compose(project, &["up", "-d", "--no-build"])
        .capture()?;
    let id = engine
        .compose(project, &["ps", "-q", svc])
        .read()
        .context("compose ps")?;
    let id = id.trim().to_string();
    let port_spec = format!("{}/tcp", ctx.settings.health_port);
    let published = Command::program("docker", &["port", &id, &port_spec]).read()?;
    let addr: SocketAddr = published
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .with_context(|| format!("no published loopback port for {port_spec}: {published}"))?;
    let bound = Duration::from_secs(30);
    let mut first_200 = None;
    let fmt = "{{.State.Health.Status}}";
    let mut last_check = Instant::now() - Duration::from_secs(1);
    loop {
        if started.elapsed() > bound {
            return match first_200 {
                Some(first_200) => Ok(Up {
                    first_200,
                    docker_healthy: None,
                }),
                None => bail!("/health never answered 200 within {bound:?}"),
            };
        }
        if first_200.is_none()
            && http_status(addr, "/health", Duration::from_millis(200)) == Some(200)
        {
            first_200 = Some(started.elapsed().as_secs_f64());
        }
        if last_check.elapsed() >= Duration::from_millis(50) {
            last_check = Instant::now();
            let status = Command::program("docker", &["inspect", "-f", fmt, &id])
                .read()
                .unwrap_or_default();
            if status.trim() == "healthy" {
                let docker_healthy = started.elapsed().as_secs_f64();
                return Ok(Up {
                    first_200: first_200.unwrap_or(docker_healthy),
                    docker_healthy: Some(docker_healthy),
                });
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Rows of the demo's summary table: `#  step  result  seconds`.
pub fn parse_summary(out: &str) -> Vec<(String, String, f64)> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in out.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"#") && words.last() == Some(&"seconds") {
            in_table = true;
            rows.clear();
            continue;
        }
        if !in_table {
            continue;
        }
        if words.len() < 4 || words[0].parse::<usize>().is_err() {
            in_table = false;
            continue;
        }
        let Ok(seconds) = words[words.len() - 1].parse::<f64>() else {
            in_table = false;
            continue;
        };
        // The result is one word ("ok", "FAILED") or "not run".
        let two =
            words.len() >= 5 && words[words.len() - 3] == "not" && words[words.len() - 2] == "run";
        let (status, name_end) = if two {
            ("not run".to_string(), words.len() - 3)
        } else {
            (words[words.len() - 2].to_string(), words.len() - 2)
        };
        let name = words[1..name_end].join(" ");
        rows.push((name, status, seconds));
    }
    rows
}

fn warm_demo(ctx: &Ctx, s: &mut Section) -> Result<()> {
    eprintln!("bench: cargo xtask demo (warm)");
    let demo = Command::xtask(&["demo"])
        .env("CI", "1")
        .current_dir(&ctx.root);
    let started = Instant::now();
    let out = demo.output()?;
    let took = started.elapsed().as_secs_f64();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let result = if out.status.success() {
        "passed"
    } else {
        "FAILED"
    };
    s.push(Figure::new(
        "warm `cargo xtask demo`, end to end",
        format!("{} ({result})", secs(took)),
        "cargo xtask demo (image already built)",
    ));
    for (name, status, seconds) in parse_summary(&text) {
        s.push(
            Figure::new(
                format!("demo step: {name}"),
                // The summary table prints seconds with two decimals: keep that precision.
                format!("{seconds:.2} s ({status})"),
                "",
            )
            .ratio(format!(
                "{:.0}% of the demo",
                100.0 * seconds / took.max(1e-9)
            )),
        );
    }
    if !out.status.success() {
        let failed: Vec<&str> = text.lines().filter(|l| l.contains("FAILED")).collect();
        let tail: Vec<&str> = if failed.is_empty() {
            text.lines()
                .rev()
                .take(3)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect()
        } else {
            failed
        };
        s.note(format!(
            "The demo failed in this run, so its per-step times are partial: {}",
            tail.join(" / ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_demo_summary_table() {
        let out = "noise\n  #  step           result   seconds\n  1  preflight      ok           0.3\n  2  build image    ok          12.0\n  3  probes         FAILED       1.5\n  4  wait until healthy  not run  0.0\n\ncleanup done\n";
        let rows = parse_summary(out);
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[3],
            ("wait until healthy".to_string(), "not run".to_string(), 0.0)
        );
        assert_eq!(rows[1], ("build image".to_string(), "ok".to_string(), 12.0));
        assert_eq!(rows[2].1, "FAILED");
    }

    #[test]
    fn http_status_of_nothing_is_none() {
        let port = free_port().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(
            http_status(addr, "/health", Duration::from_millis(100)),
            None
        );
    }
}
