//! Host side: which addresses the project's published ports really listen on, read from
//! `/proc/net/tcp` and `/proc/net/tcp6` (the engine's proxy binds the binding's host IP).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::finding;
use super::inspect::Container;
use crate::vocab::catalog::RuleId;
use crate::vocab::net::is_loopback;
use crate::Finding;

/// One TCP socket in LISTEN state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
}

/// Parses the text of `/proc/net/tcp` or `/proc/net/tcp6`, keeping LISTEN (`0A`) rows.
/// Malformed rows are skipped.
pub fn parse_proc_net_tcp(text: &str) -> Vec<Listener> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let local = cols.nth(1)?;
            let state = cols.nth(1)?;
            if state != "0A" {
                return None;
            }
            let (addr, port) = local.split_once(':')?;
            Some(Listener {
                addr: parse_hex_addr(addr)?,
                port: u16::from_str_radix(port, 16).ok()?,
            })
        })
        .collect()
}

/// The kernel prints each 32-bit word of the address as a native-endian integer in hex,
/// so the word's native-endian bytes are the address bytes.
fn parse_hex_addr(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let w = word(hex.get(i * 8..i * 8 + 8)?)?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w);
            }
            let v6 = Ipv6Addr::from(bytes);
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            })
        }
        _ => None,
    }
}

/// Reads both tables; a missing table (no IPv6) counts as empty.
pub fn read_listeners() -> Vec<Listener> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| parse_proc_net_tcp(&t))
        .collect()
}

/// A finding for every published host port of a running container that some host
/// socket listens on beyond loopback.
pub fn findings(containers: &[Container], listeners: &[Listener]) -> Vec<Finding> {
    let mut out = Vec::new();
    for c in containers.iter().filter(|c| c.is_running()) {
        let mut ports: Vec<u16> = c
            .published()
            .iter()
            .filter_map(|(_, b)| b.host_port.parse().ok())
            .collect();
        ports.sort_unstable();
        ports.dedup();
        for port in ports {
            let mut public: Vec<String> = listeners
                .iter()
                .filter(|l| l.port == port && !is_loopback(&l.addr.to_string()))
                .map(|l| l.addr.to_string())
                .collect();
            public.sort();
            public.dedup();
            if !public.is_empty() {
                out.push(finding(
                    RuleId::RuntimeHostListenerPublic,
                    None,
                    c.name(),
                    format!(
                        "host port {port} listens on {} (reachable from other machines), not on loopback only",
                        public.join(", ")
                    ),
                    Some(
                        public
                            .iter()
                            .map(|a| format!("LISTEN {a}:{port}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ));
            }
        }
    }
    out
}

/// The host name when `DOCKER_HOST` points at another machine, whose sockets this
/// host's `/proc/net` cannot show (only the host, never user or password).
pub fn remote_engine(docker_host: Option<&str>) -> Option<String> {
    let h = docker_host.map(str::trim).filter(|h| !h.is_empty())?;
    if h.starts_with("unix://") || h.starts_with("npipe://") || h.starts_with("fd://") {
        return None;
    }
    let rest = h.split_once("://").map_or(h, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let host = if let Some(v6) = rest.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        rest.split([':', '/']).next().unwrap_or("")
    };
    (!(host == "localhost" || is_loopback(host))).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::inspect::tests::sample;

    fn testdata(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/src/runtime/testdata/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    fn recorded() -> Vec<Listener> {
        let mut l = parse_proc_net_tcp(&testdata("proc_net_tcp"));
        l.extend(parse_proc_net_tcp(&testdata("proc_net_tcp6")));
        l
    }

    #[test]
    fn parses_recorded_tables() {
        let l = recorded();
        let shown: Vec<String> = l.iter().map(|l| format!("{}:{}", l.addr, l.port)).collect();
        assert_eq!(
            shown,
            [
                "0.0.0.0:28794",
                "127.0.0.1:28789",
                "0.0.0.0:2024",
                ":::28794",
                "::1:28795"
            ]
        );
        assert!(parse_proc_net_tcp("header\n0: zz:zz 00 0A\n\n  1: short").is_empty());
        let mapped = "h\n 0: 0000000000000000FFFF00000100007F:0050 0:0 0A\n";
        assert_eq!(parse_proc_net_tcp(mapped)[0].addr.to_string(), "127.0.0.1");
    }

    #[test]
    fn public_listener_on_a_published_port_is_an_error() {
        let fs = findings(
            &[sample("public-unhealthy"), sample("hardened")],
            &recorded(),
        );
        assert_eq!(fs.len(), 1, "{fs:?}");
        assert_eq!(fs[0].rule, RuleId::RuntimeHostListenerPublic);
        assert_eq!(fs[0].location.file, "container:rtdevweak-public-1");
        assert!(fs[0].message.contains("28794") && fs[0].message.contains("0.0.0.0, ::"));
        // Not-running containers have no listeners to check.
        assert!(findings(&[sample("privileged-created")], &recorded()).is_empty());
    }

    #[test]
    fn remote_engines_are_recognised() {
        for local in [
            None,
            Some(""),
            Some("unix:///var/run/docker.sock"),
            Some("tcp://127.0.0.1:2375"),
            Some("tcp://localhost:2375"),
            Some("tcp://[::1]:2375"),
        ] {
            assert_eq!(remote_engine(local), None, "{local:?}");
        }
        assert_eq!(
            remote_engine(Some("tcp://10.0.0.5:2376")).as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            remote_engine(Some("ssh://me:secret@build-box:22")).as_deref(),
            Some("build-box")
        );
    }
}
