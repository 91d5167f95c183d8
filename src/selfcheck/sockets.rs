//! Listening TCP sockets from `/proc/net/tcp{,6}` and the Docker socket probe.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// State `0A` in `/proc/net/tcp`: TCP_LISTEN.
const TCP_LISTEN: &str = "0A";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Listener {
    /// `tcp` (from `/proc/net/tcp`) or `tcp6` (from `/proc/net/tcp6`).
    pub proto: String,
    pub address: String,
    pub port: u16,
}

/// Decodes a `/proc/net/tcp{,6}` address (`0100007F` or 32 hex digits). The kernel prints
/// each 32-bit word in host byte order; only little-endian hosts are supported.
pub fn decode_addr(hex: &str) -> Option<String> {
    fn word(h: &str) -> Option<[u8; 4]> {
        Some(u32::from_str_radix(h, 16).ok()?.to_le_bytes())
    }
    match hex.len() {
        8 => Some(Ipv4Addr::from(word(hex)?).to_string()),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            Some(Ipv6Addr::from(bytes).to_string())
        }
        _ => None,
    }
}

/// The listening sockets in `/proc/net/tcp` or `tcp6` text; malformed lines are skipped.
pub fn parse_listeners(text: &str, proto: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let _sl = f.next()?;
            let local = f.next()?;
            let _remote = f.next()?;
            let state = f.next()?;
            if state != TCP_LISTEN {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            Some(Listener {
                proto: proto.to_string(),
                address: decode_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
            })
        })
        .collect()
}

/// Listening sockets of this network namespace, sorted, without duplicates.
pub fn current_listeners() -> Vec<Listener> {
    let mut all = Vec::new();
    for (path, proto) in [("/proc/net/tcp", "tcp"), ("/proc/net/tcp6", "tcp6")] {
        if let Ok(text) = std::fs::read_to_string(path) {
            all.extend(parse_listeners(&text, proto));
        }
    }
    all.sort();
    all.dedup();
    all
}

/// Where a Docker engine socket is usually found.
pub const DOCKER_SOCKETS: &[&str] = &["/var/run/docker.sock", "/run/docker.sock"];

/// What was found at one Docker socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerSocket {
    pub path: String,
    /// `Ok(())` when a connect succeeded, else the error text.
    pub connect: Result<(), String>,
}

/// Docker sockets that exist (as any file type) among `paths`, with a connect attempt.
pub fn docker_sockets(paths: &[&str]) -> Vec<DockerSocket> {
    let mut found: Vec<DockerSocket> = Vec::new();
    for p in paths {
        let path = Path::new(p);
        if path.symlink_metadata().is_err() {
            continue;
        }
        // /var/run is usually a symlink to /run: report one socket once.
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if found
            .iter()
            .any(|d| std::fs::canonicalize(&d.path).ok().as_deref() == Some(canonical.as_path()))
        {
            continue;
        }
        let connect = std::os::unix::net::UnixStream::connect(path)
            .map(drop)
            .map_err(|e| e.to_string());
        found.push(DockerSocket {
            path: p.to_string(),
            connect,
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41234 1 0000000000000000 100 0 0 10 0
   1: 00000000:4965 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41235 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 41236 1 0000000000000000 20 4 30 10 -1
   3: garbage
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:4965 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 100 0 0 10 0
   3: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 06 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
";

    fn l(proto: &str, address: &str, port: u16) -> Listener {
        Listener {
            proto: proto.into(),
            address: address.into(),
            port,
        }
    }

    #[test]
    fn parses_tcp4_listeners_only() {
        assert_eq!(
            parse_listeners(TCP, "tcp"),
            [l("tcp", "127.0.0.1", 8080), l("tcp", "0.0.0.0", 18789)]
        );
    }

    #[test]
    fn parses_tcp6_including_v4_mapped() {
        assert_eq!(
            parse_listeners(TCP6, "tcp6"),
            [
                l("tcp6", "::", 18789),
                l("tcp6", "::1", 631),
                l("tcp6", "::ffff:127.0.0.1", 8080)
            ]
        );
    }

    #[test]
    fn decodes_addresses() {
        assert_eq!(decode_addr("0100007F").as_deref(), Some("127.0.0.1"));
        assert_eq!(decode_addr("0101A8C0").as_deref(), Some("192.168.1.1"));
        assert_eq!(
            decode_addr("B80D0120000000000000000001000000").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(decode_addr("XYZ"), None);
        assert_eq!(decode_addr("0100007G"), None);
    }

    #[test]
    fn missing_docker_socket_is_not_reported() {
        assert!(docker_sockets(&["/nonexistent/docker.sock"]).is_empty());
    }

    #[test]
    fn docker_socket_connect_is_attempted() {
        let dir = std::env::temp_dir().join(format!("clawdbot-sock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("docker.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let p = path.to_str().unwrap();
        let found = docker_sockets(&[p]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].connect, Ok(()));
        drop(listener);
        std::fs::write(dir.join("plain"), "").unwrap();
        let plain = dir.join("plain");
        let found = docker_sockets(&[plain.to_str().unwrap()]);
        assert!(found[0].connect.is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
