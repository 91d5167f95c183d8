//! Section `openclaw`: the hardened OpenClaw image. Its size against the 400 MB target
//! and what each part weighs (from the staging manifest), cold and warm staging, the
//! time from `docker run` to healthy, and the idle resident memory of its processes
//! against the memory limit, in a container run as the stack runs it (read-only root,
//! no capability, state volume, token as a file secret); then, in the demo stack, the
//! first-token latency through OpenClaw vs clawdbot (`openclaw_latency`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::report::{Figure, Section};
use super::{gateway_load::vm_rss, mib, secs, Ctx};
use crate::defaults::openclaw as facts;
use crate::openclaw;
use crate::tasks::Command;

/// The issue's size target, decimal megabytes.
const IMAGE_MAX_BYTES: u64 = 400_000_000;
/// Idle after healthy before memory is read.
const SETTLE: Duration = Duration::from_secs(10);

fn docker(args: &[&str]) -> Result<String> {
    let out = Command::program("docker", args).capture()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The container and volume of one run, removed on drop.
struct Run {
    name: String,
    volume: String,
    dir: crate::tempdir::TempDir,
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", "-v", &self.name]);
        let _ = docker(&["volume", "rm", "-f", &self.volume]);
    }
}

/// Starts the image as the stack runs it and returns once healthy (bounded).
fn start(ctx: &Ctx, image: &str) -> Result<(Run, Duration)> {
    let tag = crate::tempdir::random_hex(4)?;
    let run = Run {
        name: format!("bench-openclaw-{tag}"),
        volume: format!("bench-openclaw-state-{tag}"),
        dir: crate::tempdir::TempDir::new("bench-openclaw")?,
    };
    let token_file = run.dir.path().join(facts::TOKEN_SECRET);
    std::fs::write(&token_file, super::lifecycle::token()?)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o400))?;
    std::os::unix::fs::chown(&token_file, Some(ctx.settings.uid), Some(ctx.settings.gid))
        .context("the file secret must belong to the container's user (run the bench as root)")?;
    let config = run.dir.path().join("openclaw.json");
    let text = format!(
        r#"{{"gateway": {{"mode": "local", "bind": "lan", "auth": {{"mode": "token",
  "token": {{"source": "file", "provider": "gateway_token", "id": "value"}}}}}},
 "secrets": {{"providers": {{"gateway_token": {{"source": "file",
  "path": "{}/{}", "mode": "singleValue"}}}}}},
 "update": {{"checkOnStart": false}}}}
"#,
        facts::SECRETS_DIR,
        facts::TOKEN_SECRET
    );
    std::fs::write(&config, text)?;
    std::fs::set_permissions(run.dir.path(), std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o444))?;
    let mounts = [
        format!("{}:{}", run.volume, facts::STATE_DIR),
        format!("{}:{}:ro", config.display(), facts::CONFIG_PATH),
        format!(
            "{}:{}/{}:ro",
            token_file.display(),
            facts::SECRETS_DIR,
            facts::TOKEN_SECRET
        ),
    ];
    let memory = ctx.settings.memory.to_string();
    let started = Instant::now();
    docker(&[
        "run",
        "-d",
        "--name",
        &run.name,
        "--read-only",
        "--tmpfs",
        "/tmp:noexec,nosuid,nodev,size=64m",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--memory",
        &memory,
        "--pids-limit",
        "512",
        "-v",
        &mounts[0],
        "-v",
        &mounts[1],
        "-v",
        &mounts[2],
        image,
    ])?;
    let deadline = started + Duration::from_secs(300);
    loop {
        let status = docker(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
            &run.name,
        ])?;
        if status == "running healthy" {
            return Ok((run, started.elapsed()));
        }
        if !status.starts_with("running") || Instant::now() > deadline {
            bail!("{image} did not become healthy ({status})");
        }
        crate::tasks::sleep_interruptible(Duration::from_millis(500))?;
    }
}

/// Sum of VmRSS over the container's processes.
fn container_rss(name: &str) -> Result<u64> {
    let top = docker(&["top", name, "-eo", "pid"])?;
    let pids: Vec<u32> = top
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if pids.is_empty() {
        bail!("docker top {name}: no process");
    }
    Ok(pids.iter().filter_map(|p| vm_rss(*p)).sum())
}

pub fn run(ctx: &mut Ctx) -> Result<Section> {
    let mut s = Section::new("openclaw", "The hardened OpenClaw image");
    let xtask = std::env::current_exe().context("locating the running xtask")?;
    eprintln!("bench: cargo xtask build --app openclaw");
    Command::program(
        &xtask.display().to_string(),
        &["build", "--app", "openclaw"],
    )
    .current_dir(&ctx.root)
    .capture()?;
    let warm = Instant::now();
    let staged = openclaw::stage(&ctx.root, &ctx.settings)?;
    let warm = warm.elapsed().as_secs_f64();
    let m = &staged.manifest;
    let image = openclaw::image::image_ref(&ctx.settings);
    let (_, size) = openclaw::image::image_info(&image)?;
    s.push(
        Figure::new(
            "image size (uncompressed)",
            format!("{} ({size} bytes)", mib(size as f64)),
            format!("docker image inspect --format '{{{{.Size}}}}' {image}"),
        )
        .target("<= 400 MB", Some(size <= IMAGE_MAX_BYTES)),
    );
    for p in &m.parts {
        s.push(Figure::new(
            format!("part: {}", p.name.trim()),
            format!("{} ({} files)", mib(p.bytes as f64), p.files),
            "target/openclaw-context/rootfs (staging manifest.json)",
        ));
    }
    let pruned: u64 = m.pruned.iter().map(|p| p.bytes).sum();
    s.push(Figure::new(
        "pruned from the npm tree",
        mib(pruned as f64),
        "prune rules in xtask/src/openclaw/prune.rs",
    ));
    s.push(Figure::new(
        "staging, cold (downloads, npm install, prune)",
        secs(m.staging_seconds),
        "rm -rf ~/.cache/clawdbot-deploy/openclaw && cargo xtask build --app openclaw --no-image",
    ));
    s.push(
        Figure::new(
            "staging, warm (cache hit, hard links into target/)",
            secs(warm),
            "cargo xtask build --app openclaw --no-image (second run)",
        )
        .ratio(super::timing::ratio(m.staging_seconds, warm)),
    );
    let (run, healthy) = start(ctx, &image)?;
    s.push(Figure::new(
        "docker run to healthy",
        secs(healthy.as_secs_f64()),
        "docker run -d --read-only … openclaw-hardened; poll .State.Health",
    ));
    crate::tasks::sleep_interruptible(SETTLE)?;
    let rss = container_rss(&run.name)?;
    let limit = ctx.settings.memory.bytes();
    s.push(
        Figure::new(
            "idle RSS (all container processes, 10 s after healthy)",
            mib(rss as f64),
            "sum of VmRSS over the pids of docker top <container> -eo pid",
        )
        .ratio(format!(
            "{:.0}% of the {} limit",
            100.0 * rss as f64 / limit as f64,
            ctx.settings.memory
        ))
        .target("below the memory limit", Some(rss < limit)),
    );
    drop(run);
    s.note(format!(
        "openclaw {} on Node {} ({}); Debian packages: {}.",
        m.openclaw_version,
        m.node_version,
        openclaw::stage::cache_key(&ctx.settings),
        m.debian_packages
            .iter()
            .map(|d| format!("{} {}", d.name, d.version))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    super::openclaw_latency::run(ctx, &mut s);
    Ok(s)
}
