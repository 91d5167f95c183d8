//! `clawdbot self-check [--json]`: the guide's inside-the-container checks (`whoami`,
//! `capsh --print`, `netstat`, ...) for an image that has none of those tools.
//!
//! Facts are gathered from `/proc`, `/sys/fs/cgroup`, `/etc/passwd` and the filesystem
//! ([`gather`]), judged against the hardened setup ([`evaluate`]) and printed as one line
//! per check or as the schema-1 JSON object documented in `docs/self-check.md`.

pub mod cgroup;
pub mod fs;
pub mod procfs;
pub mod sessions;
pub mod sockets;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::defaults::SelfCheckId;

use self::cgroup::CgroupLimits;
use self::fs::Writable;
use self::procfs::ProcStatus;
use self::sessions::SessionsScan;
use self::sockets::{DockerSocket, Listener};

#[derive(Debug, clap::Args)]
pub struct SelfCheckArgs {
    /// Print one JSON object (schema 1, see docs/self-check.md) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Everything self-check looks at, before judging it.
#[derive(Debug, Clone)]
pub struct Facts {
    pub uid: u32,
    pub gid: u32,
    pub user_name: Option<String>,
    pub status: ProcStatus,
    pub rootfs: Writable,
    pub etc: Writable,
    pub cgroup: CgroupLimits,
    pub docker: Vec<DockerSocket>,
    pub listening: Vec<Listener>,
    pub env_files: Vec<String>,
    /// The scan of the sessions directory for secrets (`CLAWDBOT_SESSIONS_DIR`).
    pub sessions: SessionsScan,
}

/// Reads the facts of the running process.
pub fn gather() -> Facts {
    let status =
        procfs::parse_status(&std::fs::read_to_string("/proc/self/status").unwrap_or_default());
    // SAFETY: geteuid/getegid have no preconditions and cannot fail (used when /proc is absent).
    let uid = status.uid.unwrap_or_else(|| unsafe { libc::geteuid() });
    let gid = status.gid.unwrap_or_else(|| unsafe { libc::getegid() });
    let user_name = std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| procfs::user_name(&p, uid));
    let mut env_dirs = vec![PathBuf::from("/")];
    if let Ok(cwd) = std::env::current_dir() {
        env_dirs.push(cwd);
    }
    Facts {
        uid,
        gid,
        user_name,
        status,
        rootfs: fs::probe_writable(Path::new("/")),
        etc: fs::probe_writable(Path::new("/etc")),
        cgroup: cgroup::current(),
        docker: sockets::docker_sockets(sockets::DOCKER_SOCKETS),
        listening: sockets::current_listeners(),
        env_files: fs::env_files(&env_dirs),
        sessions: sessions::scan_from_env(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub ok: bool,
    pub detail: String,
}

fn check(id: SelfCheckId, ok: bool, detail: impl Into<String>) -> Check {
    Check {
        id: id.as_str(),
        ok,
        detail: detail.into(),
    }
}

/// `2.0 GiB`, `512 MiB`, `1000 B`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: &[(&str, u64)] = &[("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= *size {
            let v = bytes as f64 / *size as f64;
            return if bytes % size == 0 {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{v:.1} {unit}")
            };
        }
    }
    format!("{bytes} B")
}

/// `1 CPU`, `1.5 CPUs`.
pub fn format_cpus(cpus: f64) -> String {
    if cpus == 1.0 {
        "1 CPU".into()
    } else {
        format!("{cpus} CPUs")
    }
}

fn list_caps(mask: u64) -> String {
    let names = procfs::cap_names(mask);
    if names.len() > 4 {
        format!("{} (+{} more)", names[..4].join(", "), names.len() - 4)
    } else {
        names.join(", ")
    }
}

/// Judges the facts against the hardened setup; ids are part of the JSON contract.
pub fn evaluate(f: &Facts) -> Vec<Check> {
    let who = format!(
        "uid {} ({}), gid {}",
        f.uid,
        f.user_name.as_deref().unwrap_or("no passwd entry"),
        f.gid
    );
    let mut checks = vec![if f.uid != 0 && f.gid != 0 {
        check(SelfCheckId::NonRoot, true, who)
    } else {
        check(
            SelfCheckId::NonRoot,
            false,
            format!("{who}: runs as root (run as an unprivileged user, e.g. user: \"1000:1000\")"),
        )
    }];

    checks.push(
        match (&f.status.cap_eff, &f.status.cap_prm, &f.status.cap_bnd) {
            (Some((_, 0)), Some((_, 0)), bnd) => check(
                SelfCheckId::CapsEmpty,
                true,
                format!(
                    "no effective or permitted capabilities (bounding set: {})",
                    bnd.as_ref()
                        .map(|b| procfs::cap_names(b.1).len().to_string())
                        .unwrap_or_else(|| "unknown".into())
                ),
            ),
            (Some((_, eff)), Some((_, prm)), _) => check(
                SelfCheckId::CapsEmpty,
                false,
                format!(
                    "effective: {}; permitted: {} (drop them: cap_drop: [ALL])",
                    if *eff == 0 {
                        "none".into()
                    } else {
                        list_caps(*eff)
                    },
                    if *prm == 0 {
                        "none".into()
                    } else {
                        list_caps(*prm)
                    },
                ),
            ),
            _ => check(
                SelfCheckId::CapsEmpty,
                false,
                "capabilities unknown (/proc/self/status unreadable)",
            ),
        },
    );

    checks.push(match f.status.no_new_privs {
        Some(true) => check(SelfCheckId::NoNewPrivs, true, "NoNewPrivs: 1"),
        Some(false) => check(
            SelfCheckId::NoNewPrivs,
            false,
            "NoNewPrivs: 0 (security_opt: [\"no-new-privileges:true\"])",
        ),
        None => check(
            SelfCheckId::NoNewPrivs,
            false,
            "NoNewPrivs unknown (/proc/self/status unreadable)",
        ),
    });

    let mode = procfs::seccomp_mode(f.status.seccomp);
    checks.push(match mode {
        "filter" | "strict" => check(SelfCheckId::Seccomp, true, format!("seccomp mode {mode}")),
        _ => check(
            SelfCheckId::Seccomp,
            false,
            format!(
                "seccomp mode {mode} (keep the default seccomp profile; never seccomp=unconfined)"
            ),
        ),
    });

    for (id, path, w) in [
        (SelfCheckId::RootfsReadOnly, "/", &f.rootfs),
        (SelfCheckId::EtcReadOnly, "/etc", &f.etc),
    ] {
        checks.push(match w {
            Writable::No(reason) => check(id, true, format!("{path} not writable: {reason}")),
            Writable::Yes => check(id, false, format!("{path} is writable (read_only: true)")),
        });
    }

    let cg = match f.cgroup.version {
        Some(v) => format!("cgroup v{v}"),
        None => "no cgroup filesystem".into(),
    };
    checks.push(match f.cgroup.memory_max_bytes {
        Some(b) => check(
            SelfCheckId::MemoryLimit,
            true,
            format!("{} ({cg})", format_bytes(b)),
        ),
        None => check(
            SelfCheckId::MemoryLimit,
            false,
            format!("no memory limit ({cg}; set mem_limit)"),
        ),
    });
    checks.push(match f.cgroup.cpu_max {
        Some(c) => check(
            SelfCheckId::CpuLimit,
            true,
            format!("{} ({cg})", format_cpus(c)),
        ),
        None => check(
            SelfCheckId::CpuLimit,
            false,
            format!("no cpu limit ({cg}; set cpus)"),
        ),
    });
    checks.push(match f.cgroup.pids_max {
        Some(p) => check(SelfCheckId::PidsLimit, true, format!("{p} pids ({cg})")),
        None => check(
            SelfCheckId::PidsLimit,
            false,
            format!("no pids limit ({cg}; set pids_limit)"),
        ),
    });

    checks.push(if f.docker.is_empty() {
        check(SelfCheckId::NoDockerSocket, true, "no docker socket")
    } else {
        let found: Vec<String> = f
            .docker
            .iter()
            .map(|d| match &d.connect {
                Ok(()) => format!("{} (connectable)", d.path),
                Err(e) => format!("{} (present; connect failed: {e})", d.path),
            })
            .collect();
        check(
            SelfCheckId::NoDockerSocket,
            false,
            format!("{} (never mount the Docker socket)", found.join(", ")),
        )
    });

    checks.push(if f.env_files.is_empty() {
        check(
            SelfCheckId::NoEnvFile,
            true,
            "no .env in / or the working directory",
        )
    } else {
        check(
            SelfCheckId::NoEnvFile,
            false,
            format!(
                "found {} (keep .env on the host; pass it with env_file)",
                f.env_files.join(", ")
            ),
        )
    });
    checks.push(sessions_check(&f.sessions));
    checks
}

/// `no-secrets-in-sessions`: passes when sessions are not persisted, or the whole
/// directory was read and holds none of the secrets. Names files and variables only.
fn sessions_check(s: &SessionsScan) -> Check {
    let id = SelfCheckId::NoSecretsInSessions;
    let Some(dir) = &s.dir else {
        return check(
            id,
            true,
            "sessions are not persisted (CLAWDBOT_SESSIONS_DIR unset)",
        );
    };
    let problems = if s.problems.is_empty() {
        String::new()
    } else {
        format!("; {}", s.problems.join("; "))
    };
    if s.files_with_secrets > 0 {
        let mut names: Vec<String> = s
            .hits
            .iter()
            .map(|h| format!("{} ({})", h.file, h.secrets.join(", ")))
            .collect();
        if s.files_with_secrets > names.len() {
            names.push(format!("{} more", s.files_with_secrets - names.len()));
        }
        return check(
            id,
            false,
            format!(
                "{} of {} files in {dir} hold a secret: {} (delete them, rotate the secrets, and find what wrote them){problems}",
                s.files_with_secrets,
                s.files_scanned,
                names.join(", ")
            ),
        );
    }
    if s.secrets.is_empty() {
        // Unreadable secret files are problems too: nothing could be looked for.
        return check(
            id,
            s.problems.is_empty(),
            format!("{dir}: no gateway token or provider key set, nothing to look for{problems}"),
        );
    }
    let read = format!(
        "{} files, {} read in {dir}, looked for {}",
        s.files_scanned,
        format_bytes(s.bytes_read),
        s.secrets.join(", ")
    );
    if s.complete && s.problems.is_empty() {
        check(id, true, format!("no secret found ({read})"))
    } else {
        check(
            id,
            false,
            format!("scan incomplete, cannot tell ({read}){problems}"),
        )
    }
}

#[derive(Debug, Serialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub name: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Capabilities {
    pub effective: Vec<String>,
    pub permitted: Vec<String>,
    pub bounding: Vec<String>,
    pub effective_hex: Option<String>,
    pub permitted_hex: Option<String>,
    pub bounding_hex: Option<String>,
}

/// The `self-check --json` object (schema [`crate::defaults::SELFCHECK_SCHEMA`]).
#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub version: &'static str,
    pub user: User,
    pub capabilities: Capabilities,
    pub no_new_privs: Option<bool>,
    pub seccomp: &'static str,
    pub rootfs_writable: bool,
    pub etc_writable: bool,
    pub cgroup: CgroupLimits,
    pub docker_socket: bool,
    pub listening: Vec<Listener>,
    pub env_files: Vec<String>,
    pub sessions: SessionsScan,
    pub checks: Vec<Check>,
    pub ok: bool,
}

impl Report {
    pub fn from_facts(f: Facts) -> Report {
        let checks = evaluate(&f);
        let names = |c: &Option<(String, u64)>| {
            c.as_ref()
                .map(|c| procfs::cap_names(c.1))
                .unwrap_or_default()
        };
        let hex = |c: &Option<(String, u64)>| c.as_ref().map(|c| c.0.clone());
        Report {
            schema: crate::defaults::SELFCHECK_SCHEMA,
            version: env!("CARGO_PKG_VERSION"),
            user: User {
                uid: f.uid,
                gid: f.gid,
                name: f.user_name,
            },
            capabilities: Capabilities {
                effective: names(&f.status.cap_eff),
                permitted: names(&f.status.cap_prm),
                bounding: names(&f.status.cap_bnd),
                effective_hex: hex(&f.status.cap_eff),
                permitted_hex: hex(&f.status.cap_prm),
                bounding_hex: hex(&f.status.cap_bnd),
            },
            no_new_privs: f.status.no_new_privs,
            seccomp: procfs::seccomp_mode(f.status.seccomp),
            rootfs_writable: f.rootfs.is_writable(),
            etc_writable: f.etc.is_writable(),
            cgroup: f.cgroup,
            docker_socket: !f.docker.is_empty(),
            listening: f.listening,
            env_files: f.env_files,
            sessions: f.sessions,
            ok: checks.iter().all(|c| c.ok),
            checks,
        }
    }

    pub fn failed(&self) -> Vec<&'static str> {
        self.checks.iter().filter(|c| !c.ok).map(|c| c.id).collect()
    }
}

/// True when stdout is a terminal, `NO_COLOR` is unset and we are not in CI.
fn fancy_output() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none()
        && !crate::defaults::ci::in_ci()
}

/// The human table: one line per check, the listeners, then a summary line.
pub fn render_human(report: &Report, fancy: bool) -> String {
    let width = report.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in &report.checks {
        let mark = match (c.ok, fancy) {
            (true, true) => "\x1b[32m✔\x1b[0m",
            (false, true) => "\x1b[31m✘\x1b[0m",
            (true, false) => "[ok]  ",
            (false, false) => "[FAIL]",
        };
        out.push_str(&format!("{mark} {:width$}  {}\n", c.id, c.detail));
    }
    let listening: Vec<String> = report
        .listening
        .iter()
        .map(|l| {
            if l.address.contains(':') {
                format!("[{}]:{}", l.address, l.port)
            } else {
                format!("{}:{}", l.address, l.port)
            }
        })
        .collect();
    out.push_str(&format!(
        "listening: {}\n",
        if listening.is_empty() {
            "none".into()
        } else {
            listening.join(", ")
        }
    ));
    let failed = report.failed();
    let total = report.checks.len();
    if failed.is_empty() {
        out.push_str(&format!("self-check: all {total} checks passed\n"));
    } else {
        out.push_str(&format!(
            "self-check: {} of {total} checks failed: {}\n",
            failed.len(),
            failed.join(", ")
        ));
    }
    out
}

pub fn run(args: SelfCheckArgs) -> anyhow::Result<ExitCode> {
    let report = Report::from_facts(gather());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        let failed = report.failed();
        if !failed.is_empty() {
            eprintln!("self-check: failed: {}", failed.join(", "));
        }
    } else {
        print!("{}", render_human(&report, fancy_output()));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hardened() -> Facts {
        Facts {
            uid: 1000,
            gid: 1000,
            user_name: Some("clawdbot".into()),
            status: ProcStatus {
                uid: Some(1000),
                gid: Some(1000),
                cap_eff: Some(("0000000000000000".into(), 0)),
                cap_prm: Some(("0000000000000000".into(), 0)),
                cap_bnd: Some(("0000000000000000".into(), 0)),
                no_new_privs: Some(true),
                seccomp: Some(2),
            },
            rootfs: Writable::No("read-only filesystem".into()),
            etc: Writable::No("read-only filesystem".into()),
            cgroup: CgroupLimits {
                version: Some(2),
                memory_max_bytes: Some(2 << 30),
                cpu_max: Some(2.0),
                pids_max: Some(256),
            },
            docker: vec![],
            listening: vec![Listener {
                proto: "tcp".into(),
                address: "0.0.0.0".into(),
                port: 18789,
            }],
            env_files: vec![],
            sessions: SessionsScan {
                complete: true,
                ..SessionsScan::default()
            },
        }
    }

    #[test]
    fn hardened_container_passes_every_check() {
        let report = Report::from_facts(hardened());
        let ids: Vec<&str> = report.checks.iter().map(|c| c.id).collect();
        // The shared list (runtime verify's checklist mapping) is the reported one.
        assert_eq!(ids, SelfCheckId::ALL.map(SelfCheckId::as_str));
        assert!(report.ok, "{:?}", report.checks);
        assert_eq!(report.checks[0].detail, "uid 1000 (clawdbot), gid 1000");
        assert_eq!(report.checks[6].detail, "2 GiB (cgroup v2)");
        let text = render_human(&report, false);
        assert!(
            text.ends_with("self-check: all 12 checks passed\n"),
            "{text}"
        );
        assert!(text.contains("listening: 0.0.0.0:18789"));
    }

    #[test]
    fn each_weakness_fails_its_own_check() {
        type Weaken = Box<dyn Fn(&mut Facts)>;
        let cases: Vec<(&str, Weaken)> = vec![
            ("non-root", Box::new(|f| f.uid = 0)),
            (
                "caps-empty",
                Box::new(|f| f.status.cap_eff = Some(("0000000000000400".into(), 0x400))),
            ),
            ("caps-empty", Box::new(|f| f.status.cap_prm = None)),
            (
                "no-new-privs",
                Box::new(|f| f.status.no_new_privs = Some(false)),
            ),
            ("seccomp", Box::new(|f| f.status.seccomp = Some(0))),
            ("rootfs-read-only", Box::new(|f| f.rootfs = Writable::Yes)),
            ("etc-read-only", Box::new(|f| f.etc = Writable::Yes)),
            (
                "memory-limit",
                Box::new(|f| f.cgroup.memory_max_bytes = None),
            ),
            ("cpu-limit", Box::new(|f| f.cgroup.cpu_max = None)),
            ("pids-limit", Box::new(|f| f.cgroup.pids_max = None)),
            (
                "no-docker-socket",
                Box::new(|f| {
                    f.docker = vec![DockerSocket {
                        path: "/var/run/docker.sock".into(),
                        connect: Ok(()),
                    }]
                }),
            ),
            (
                "no-env-file",
                Box::new(|f| f.env_files = vec!["/.env".into()]),
            ),
            (
                "no-secrets-in-sessions",
                Box::new(|f| f.sessions = planted_scan()),
            ),
            (
                "no-secrets-in-sessions",
                Box::new(|f| {
                    f.sessions = SessionsScan {
                        files_with_secrets: 0,
                        hits: vec![],
                        complete: false,
                        problems: vec!["stopped at the bound".into()],
                        ..planted_scan()
                    }
                }),
            ),
        ];
        for (id, weaken) in cases {
            let mut f = hardened();
            weaken(&mut f);
            let report = Report::from_facts(f);
            assert_eq!(report.failed(), [id]);
            assert!(!report.ok);
            let text = render_human(&report, false);
            assert!(text.contains(&format!("checks failed: {id}\n")), "{text}");
        }
    }

    #[test]
    fn json_has_the_schema_keys() {
        let v = serde_json::to_value(Report::from_facts(hardened())).unwrap();
        assert_eq!(v["schema"], 2);
        assert_eq!(v["sessions"]["dir"], serde_json::Value::Null);
        assert_eq!(v["capabilities"]["effective_hex"], "0000000000000000");
        assert_eq!(v["cgroup"]["memory_max_bytes"], 2u64 << 30);
        assert_eq!(v["cgroup"]["cpu_max"], 2.0);
        assert_eq!(v["seccomp"], "filter");
        assert_eq!(v["listening"][0]["port"], 18789);
        assert_eq!(v["docker_socket"], false);
    }

    fn planted_scan() -> SessionsScan {
        SessionsScan {
            dir: Some("/data/sessions".into()),
            secrets: vec!["CLAWDBOT_GATEWAY_TOKEN".into(), "OPENAI_API_KEY".into()],
            files_scanned: 3,
            bytes_read: 2048,
            files_with_secrets: 1,
            hits: vec![sessions::Hit {
                file: "6d61696e.json".into(),
                secrets: vec!["OPENAI_API_KEY".into()],
            }],
            complete: true,
            problems: vec![],
        }
    }

    #[test]
    fn sessions_check_names_files_and_variables_only() {
        let mut f = hardened();
        f.sessions = planted_scan();
        let report = Report::from_facts(f);
        let c = report.checks.last().unwrap();
        assert_eq!((c.id, c.ok), ("no-secrets-in-sessions", false));
        assert!(
            c.detail.starts_with(
                "1 of 3 files in /data/sessions hold a secret: 6d61696e.json (OPENAI_API_KEY)"
            ),
            "{}",
            c.detail
        );
        let clean = SessionsScan {
            files_with_secrets: 0,
            hits: vec![],
            ..planted_scan()
        };
        let c = sessions_check(&clean);
        assert!(c.ok, "{c:?}");
        assert_eq!(
            c.detail,
            "no secret found (3 files, 2 KiB read in /data/sessions, looked for CLAWDBOT_GATEWAY_TOKEN, OPENAI_API_KEY)"
        );
        let nothing = SessionsScan {
            secrets: vec![],
            ..clean.clone()
        };
        assert!(sessions_check(&nothing).ok);
        let unreadable = SessionsScan {
            problems: vec!["OPENAI_API_KEY_FILE=/x: cannot read the file".into()],
            ..nothing
        };
        assert!(!sessions_check(&unreadable).ok);
        assert!(sessions_check(&SessionsScan::default()).ok);
    }

    /// docs/self-check.md documents every check (in order), the schema and the scan
    /// bounds as the code has them.
    #[test]
    fn docs_self_check_md_matches_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/self-check.md");
        let doc = std::fs::read_to_string(path).unwrap();
        let table = doc.split("## Checks").nth(1).unwrap();
        let rows: Vec<&str> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split_once('`').map(|(id, _)| id))
            .collect();
        assert_eq!(rows, SelfCheckId::ALL.map(SelfCheckId::as_str));
        let schema = crate::defaults::SELFCHECK_SCHEMA;
        assert!(doc.contains(&format!("## JSON contract (schema {schema})")));
        assert!(doc.contains(&format!("{{\"schema\":{schema},")));
        let bounds = format!(
            "{} files, {} MiB read in total, in {} KiB reads",
            sessions::MAX_FILES,
            sessions::MAX_BYTES >> 20,
            sessions::CHUNK >> 10
        );
        assert!(doc.contains(&bounds), "docs/self-check.md lacks {bounds:?}");
        assert!(doc.contains(&format!("{} directory levels", sessions::MAX_DEPTH)));
        assert!(doc.contains(&format!(
            "values under {} characters",
            sessions::MIN_SECRET_LEN
        )));
        assert!(doc.contains(&format!("at most {} of those files", sessions::MAX_NAMES)));
    }

    #[test]
    fn bytes_are_readable() {
        assert_eq!(format_bytes(2 << 30), "2 GiB");
        assert_eq!(format_bytes(1536 << 20), "1.5 GiB");
        assert_eq!(format_bytes(512 << 20), "512 MiB");
        assert_eq!(format_bytes(100), "100 B");
    }
}
