//! cgroup v2 and v1 limits (memory, cpu, pids) as this process sees them.
//!
//! The effective limit is the tightest one on the path from the process's cgroup up to
//! the mount root: inside a container (cgroup namespace) that is `/sys/fs/cgroup`
//! itself; on a host it is e.g. `/sys/fs/cgroup/system.slice/x.service` and its parents.

use std::path::{Path, PathBuf};

/// Default cgroup mount point.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CgroupLimits {
    /// 2 or 1; `None` when no cgroup filesystem is visible.
    pub version: Option<u32>,
    /// `None` when unlimited or unknown.
    pub memory_max_bytes: Option<u64>,
    /// CPUs (quota / period); `None` when unlimited or unknown.
    pub cpu_max: Option<f64>,
    pub pids_max: Option<u64>,
}

/// v1 memory limits at or above this are the kernel's "unlimited" (page-rounded i64::MAX).
const V1_UNLIMITED: u64 = 1 << 62;

/// `memory.max` / `pids.max` (v2) or `pids.max` (v1): a number, or `max` (unlimited).
pub fn parse_max(text: &str) -> Option<u64> {
    match text.trim() {
        "max" | "" => None,
        v => v.parse().ok(),
    }
}

/// v2 `cpu.max`: `"<quota> <period>"` or `"max <period>"`.
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: f64 = it.next().unwrap_or("100000").parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    let quota: f64 = quota.parse().ok()?;
    (quota > 0.0).then(|| quota / period)
}

/// v1 `memory.limit_in_bytes`: huge values mean unlimited.
pub fn parse_v1_memory(text: &str) -> Option<u64> {
    let v: u64 = text.trim().parse().ok()?;
    (v < V1_UNLIMITED).then_some(v)
}

/// v1 `cpu.cfs_quota_us` (`-1` = unlimited) and `cpu.cfs_period_us`.
pub fn parse_v1_cpu(quota: &str, period: &str) -> Option<f64> {
    let quota: i64 = quota.trim().parse().ok()?;
    let period: i64 = period.trim().parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

/// The process's cgroup path for a v2 hierarchy (`0::/path`) or a v1 controller
/// (`N:ctrl1,ctrl2:/path`), from `/proc/self/cgroup` text.
pub fn self_path(proc_self_cgroup: &str, controller: Option<&str>) -> Option<String> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let ctrls = parts.next()?;
        let path = parts.next()?;
        let hit = match controller {
            None => ctrls.is_empty(),
            Some(c) => ctrls.split(',').any(|x| x == c),
        };
        hit.then(|| path.to_string())
    })
}

/// `base` and every directory between it and `base/<path>`, deepest first.
fn dirs_up(base: &Path, path: Option<&str>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(p) = path {
        let mut cur = base.to_path_buf();
        let mut chain = Vec::new();
        for comp in p
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".." && *c != ".")
        {
            cur.push(comp);
            chain.push(cur.clone());
        }
        chain.reverse();
        dirs.extend(chain);
    }
    dirs.push(base.to_path_buf());
    dirs
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn min_f64(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn min_u64(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Reads the limits under `root` (normally [`CGROUP_ROOT`]) for the process described by
/// `proc_self_cgroup` (the text of `/proc/self/cgroup`).
pub fn read_limits(root: &Path, proc_self_cgroup: &str) -> CgroupLimits {
    if root.join("cgroup.controllers").exists() {
        let mut lim = CgroupLimits {
            version: Some(2),
            ..Default::default()
        };
        for dir in dirs_up(root, self_path(proc_self_cgroup, None).as_deref()) {
            lim.memory_max_bytes = min_u64(
                lim.memory_max_bytes,
                read(&dir.join("memory.max")).and_then(|t| parse_max(&t)),
            );
            lim.cpu_max = min_f64(
                lim.cpu_max,
                read(&dir.join("cpu.max")).and_then(|t| parse_cpu_max(&t)),
            );
            lim.pids_max = min_u64(
                lim.pids_max,
                read(&dir.join("pids.max")).and_then(|t| parse_max(&t)),
            );
        }
        return lim;
    }
    let v1 = ["memory", "cpu", "pids"]
        .iter()
        .any(|c| root.join(c).is_dir());
    if !v1 {
        return CgroupLimits::default();
    }
    let mut lim = CgroupLimits {
        version: Some(1),
        ..Default::default()
    };
    let mem_base = root.join("memory");
    for dir in dirs_up(
        &mem_base,
        self_path(proc_self_cgroup, Some("memory")).as_deref(),
    ) {
        lim.memory_max_bytes = min_u64(
            lim.memory_max_bytes,
            read(&dir.join("memory.limit_in_bytes")).and_then(|t| parse_v1_memory(&t)),
        );
    }
    let cpu_base = root.join("cpu");
    for dir in dirs_up(
        &cpu_base,
        self_path(proc_self_cgroup, Some("cpu")).as_deref(),
    ) {
        let cpu = match (
            read(&dir.join("cpu.cfs_quota_us")),
            read(&dir.join("cpu.cfs_period_us")),
        ) {
            (Some(q), Some(p)) => parse_v1_cpu(&q, &p),
            _ => None,
        };
        lim.cpu_max = min_f64(lim.cpu_max, cpu);
    }
    let pids_base = root.join("pids");
    for dir in dirs_up(
        &pids_base,
        self_path(proc_self_cgroup, Some("pids")).as_deref(),
    ) {
        lim.pids_max = min_u64(
            lim.pids_max,
            read(&dir.join("pids.max")).and_then(|t| parse_max(&t)),
        );
    }
    lim
}

/// The limits of the current process from the real `/sys/fs/cgroup` and `/proc/self/cgroup`.
pub fn current() -> CgroupLimits {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    read_limits(Path::new(CGROUP_ROOT), &own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_values() {
        assert_eq!(parse_max("max\n"), None);
        assert_eq!(parse_max("2147483648\n"), Some(2_147_483_648));
        assert_eq!(parse_max("256"), Some(256));
        assert_eq!(parse_max("garbage"), None);
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2.0));
        assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
        assert_eq!(parse_cpu_max(""), None);
    }

    #[test]
    fn v1_values() {
        assert_eq!(parse_v1_memory("9223372036854771712\n"), None);
        assert_eq!(parse_v1_memory("536870912\n"), Some(536_870_912));
        assert_eq!(parse_v1_cpu("-1\n", "100000\n"), None);
        assert_eq!(parse_v1_cpu("150000\n", "100000\n"), Some(1.5));
        assert_eq!(parse_v1_cpu("x", "100000"), None);
    }

    #[test]
    fn self_paths() {
        let v2 = "0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            self_path(v2, None).as_deref(),
            Some("/system.slice/docker-abc.scope")
        );
        let v1 = "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n1:name=systemd:/docker/abc\n0::/\n";
        assert_eq!(self_path(v1, Some("cpu")).as_deref(), Some("/docker/abc"));
        assert_eq!(
            self_path(v1, Some("cpuacct")).as_deref(),
            Some("/docker/abc")
        );
        assert_eq!(
            self_path(v1, Some("memory")).as_deref(),
            Some("/docker/abc")
        );
        assert_eq!(self_path(v1, None).as_deref(), Some("/"));
        assert_eq!(self_path("", Some("pids")), None);
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("clawdbot-cgroup-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn reads_v2_tree_taking_tightest_ancestor() {
        let root = tmp("v2");
        write(&root.join("cgroup.controllers"), "cpu memory pids\n");
        // Container view: the limits sit at the root.
        write(&root.join("memory.max"), "2147483648\n");
        write(&root.join("cpu.max"), "200000 100000\n");
        write(&root.join("pids.max"), "256\n");
        let lim = read_limits(&root, "0::/\n");
        assert_eq!(
            lim,
            CgroupLimits {
                version: Some(2),
                memory_max_bytes: Some(2_147_483_648),
                cpu_max: Some(2.0),
                pids_max: Some(256)
            }
        );
        // Host view: a leaf with a tighter memory limit and unlimited pids.
        write(&root.join("a/b/memory.max"), "1073741824\n");
        write(&root.join("a/b/pids.max"), "max\n");
        write(&root.join("a/cpu.max"), "max 100000\n");
        let lim = read_limits(&root, "0::/a/b\n");
        assert_eq!(lim.memory_max_bytes, Some(1_073_741_824));
        assert_eq!(lim.cpu_max, Some(2.0));
        assert_eq!(lim.pids_max, Some(256));
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn reads_v1_tree() {
        let root = tmp("v1");
        write(&root.join("memory/memory.limit_in_bytes"), "536870912\n");
        write(&root.join("cpu/cpu.cfs_quota_us"), "150000\n");
        write(&root.join("cpu/cpu.cfs_period_us"), "100000\n");
        write(&root.join("pids/pids.max"), "max\n");
        let lim = read_limits(&root, "");
        assert_eq!(
            lim,
            CgroupLimits {
                version: Some(1),
                memory_max_bytes: Some(536_870_912),
                cpu_max: Some(1.5),
                pids_max: None
            }
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn no_cgroup_fs_is_unknown() {
        let root = tmp("none");
        std::fs::create_dir_all(&root).unwrap();
        assert_eq!(read_limits(&root, ""), CgroupLimits::default());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
