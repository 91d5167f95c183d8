//! Host paths whose mount exposes the host: one list for compose volumes, Kubernetes
//! `hostPath` volumes and the running containers' bind mounts.

/// Container engine sockets: mounting one gives full control of the host.
const ENGINE_SOCKETS: &[&str] = &["docker.sock", "containerd.sock", "podman.sock", "crio.sock"];

/// Host trees that are sensitive as a whole and anywhere below.
const SENSITIVE_TREES: &[&str] = &[
    "/etc",
    "/root",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/var/run",
    "/run",
    "/var/lib/docker",
];

/// Host directories that are sensitive as a whole (a project below them is not).
const SENSITIVE_EXACT: &[&str] = &["/", "/home", "/var", "/usr"];

/// Host files that are safe to mount read-only: time zone and locale data.
const BENIGN_READONLY: &[&str] = &[
    "/etc/localtime",
    "/etc/timezone",
    "/etc/locale.conf",
    "/etc/default/locale",
    "/usr/share/zoneinfo",
];

/// True for a read-only mount source that exposes nothing (`/etc/localtime`, a file
/// below `/usr/share/zoneinfo`); written to, the same paths are sensitive.
pub fn is_benign_readonly(path: &str) -> bool {
    let p = normalize(path);
    !p.contains("..")
        && BENIGN_READONLY
            .iter()
            .any(|b| p == *b || p.starts_with(&format!("{b}/")))
}

/// Trailing slashes removed (`/` stays `/`).
pub fn normalize(path: &str) -> &str {
    let t = path.trim_end_matches('/');
    if t.is_empty() && path.starts_with('/') {
        "/"
    } else {
        t
    }
}

/// True for a path to a container engine's socket.
pub fn is_engine_socket(path: &str) -> bool {
    let p = normalize(path);
    ENGINE_SOCKETS.iter().any(|s| p.ends_with(s))
}

/// True for a host path whose mount exposes the host (`/`, `/etc/...`, a home directory).
pub fn is_sensitive(path: &str) -> bool {
    let p = normalize(path);
    SENSITIVE_EXACT.contains(&p)
        || p.strip_prefix("/home/").is_some_and(|r| !r.contains('/'))
        || SENSITIVE_TREES
            .iter()
            .any(|t| p == *t || p.starts_with(&format!("{t}/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_paths() {
        for p in [
            "/",
            "/etc",
            "/etc/ssl/",
            "/home",
            "/home/u",
            "/proc/1",
            "/var/run",
            "/usr",
        ] {
            assert!(is_sensitive(p), "{p}");
        }
        for p in [
            "/home/u/project",
            "/srv/data",
            "/var/lib/app",
            "/tmp/x",
            "./data",
        ] {
            assert!(!is_sensitive(p), "{p}");
        }
        assert!(is_engine_socket("/var/run/docker.sock"));
        assert!(is_engine_socket("/run/containerd/containerd.sock"));
        assert!(!is_engine_socket("/var/run"));
        for p in [
            "/etc/localtime",
            "/etc/timezone",
            "/usr/share/zoneinfo/Europe/Berlin",
        ] {
            assert!(is_benign_readonly(p), "{p}");
        }
        for p in [
            "/etc",
            "/etc/localtime.d/../shadow",
            "/etc/passwd",
            "/usr/share",
        ] {
            assert!(!is_benign_readonly(p), "{p}");
        }
    }
}
