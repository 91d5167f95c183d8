//! End-to-end on the real Docker engine: the `isolated` topology with throwaway
//! containers of our own binary.
//!
//! - an internal network (no route out) and an egress bridge, with unique names;
//! - two targets (`clawdbot serve`) on the egress bridge only;
//! - the proxy (`clawdbot egress-proxy`, allowing only target A) on both networks, also
//!   forwarding a loopback-published port to the gateway;
//! - a "gateway" (`clawdbot serve` with `HTTPS_PROXY`) on the internal network only.
//!
//! From inside the gateway container (`docker exec … clawdbot egress-check`): target A is
//! reachable through the proxy, target B is refused with 403 (and the proxy logs it), and
//! a direct connection to A fails. From the host, the gateway's health port is reachable
//! through the proxy's loopback-published forward. Everything is removed by a guard and
//! the test checks that nothing is left.
//!
//! Like the other engine tests, the binary is mounted read-only into an empty image
//! (imported from an empty tar: nothing is pulled) with the shared libraries it links.
//! No engine: a loud SKIPPED, or a failure when `CI` is set.

mod engine_support;

use engine_support::{docker, docker_ok, engine_available, mounts, HARDENED};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOKEN: &str = "egress-e2e-token-0123456789abcdefghij";

/// Everything the test created; removed on drop (also after a failed assertion).
struct Guard {
    id: String,
    image: String,
    dir: PathBuf,
    containers: Vec<String>,
    networks: Vec<String>,
}

impl Guard {
    fn new() -> Guard {
        let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let dir = std::env::temp_dir().join(format!("clawdbot-egress-e2e-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let image = format!("clawdbot-egress-e2e:{id}");
        let tar = dir.join("empty.tar");
        // An empty tar archive is two 512-byte zero blocks.
        std::fs::write(&tar, vec![0u8; 1024]).unwrap();
        let mut g = Guard {
            id,
            image: String::new(),
            dir,
            containers: Vec::new(),
            networks: Vec::new(),
        };
        docker_ok(&["import", tar.to_str().unwrap(), &image]);
        g.image = image;
        g
    }

    fn name(&self, what: &str) -> String {
        format!("egress-e2e-{what}-{}", self.id)
    }

    fn network(&mut self, what: &str, internal: bool) -> String {
        let name = self.name(what);
        let mut args = vec!["network", "create", "--driver", "bridge"];
        if internal {
            args.push("--internal");
        }
        args.push(&name);
        docker_ok(&args);
        self.networks.push(name.clone());
        name
    }

    /// Starts a hardened container running `clawdbot ARGS` on `network`.
    fn run(
        &mut self,
        what: &str,
        network: &str,
        extra: &[&str],
        env: &[(&str, &str)],
        args: &[&str],
    ) -> String {
        let name = self.name(what);
        let mut cmd: Vec<String> = ["run", "-d", "--name", &name, "--network", network]
            .iter()
            .chain(HARDENED)
            .map(|s| s.to_string())
            .collect();
        for m in mounts(&self.dir) {
            cmd.extend(["-v".to_string(), m]);
        }
        for (k, v) in env {
            cmd.extend(["-e".to_string(), format!("{k}={v}")]);
        }
        cmd.extend(extra.iter().map(|s| s.to_string()));
        cmd.extend([
            "--entrypoint".to_string(),
            "/usr/local/bin/clawdbot".to_string(),
            self.image.clone(),
        ]);
        cmd.extend(args.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = cmd.iter().map(String::as_str).collect();
        self.containers.push(name.clone());
        docker_ok(&refs);
        name
    }

    fn logs(&self, name: &str) -> String {
        let out = docker(&["logs", name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// Waits until `needle` appears in a container's logs.
    fn wait_log(&self, name: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let logs = self.logs(name);
            if logs.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: no {needle:?} in its logs:\n{logs}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn leftovers(id: &str) -> (String, String) {
        let filter = format!("name={id}");
        (
            docker_ok(&["ps", "-a", "-q", "--filter", &filter]),
            docker_ok(&["network", "ls", "-q", "--filter", &filter]),
        )
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in self.containers.iter().rev() {
            let _ = docker(&["rm", "-f", "-v", c]);
        }
        for n in self.networks.iter().rev() {
            let _ = docker(&["network", "rm", n]);
        }
        if !self.image.is_empty() {
            let _ = docker(&["rmi", "-f", &self.image]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `docker exec <gateway> clawdbot egress-check ARGS`: (exit code, output).
fn egress_check(gateway: &str, args: &[&str]) -> (i32, String) {
    let mut cmd = vec!["exec", gateway, "/usr/local/bin/clawdbot", "egress-check"];
    cmd.extend_from_slice(args);
    let out = docker(&cmd);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(
        &format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(3),
    )
    .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    Ok(text)
}

#[test]
fn engine_isolated_gateway_reaches_only_allowlisted_targets_through_the_proxy() {
    if !engine_available("egress_engine") {
        return;
    }
    let id;
    {
        let mut g = Guard::new();
        id = g.id.clone();
        let internal = g.network("int", true);
        let outside = g.network("out", false);
        let serve = [
            "serve",
            "--bind",
            "0.0.0.0",
            "--port",
            "18789",
            "--health-port",
            "8080",
        ];
        let token = [("CLAWDBOT_GATEWAY_TOKEN", TOKEN)];
        let a = g.run("target-a", &outside, &[], &token, &serve);
        let b = g.run("target-b", &outside, &[], &token, &serve);
        let gateway_name = g.name("gateway");
        let allow_a = format!("{a}:8080");
        let forward = format!("8080={gateway_name}:8080");
        let proxy = g.run(
            "proxy",
            &internal,
            &["-p", "127.0.0.1::8080"],
            &[],
            &[
                "egress-proxy",
                "--bind",
                "0.0.0.0",
                "--port",
                "3128",
                "--allow",
                &allow_a,
                "--forward",
                &forward,
            ],
        );
        docker_ok(&["network", "connect", &outside, &proxy]);
        let proxy_url = format!("http://{proxy}:3128");
        let gateway = g.run(
            "gateway",
            &internal,
            &[],
            &[
                ("CLAWDBOT_GATEWAY_TOKEN", TOKEN),
                ("HTTPS_PROXY", &proxy_url),
            ],
            &serve,
        );
        for c in [&a, &b, &gateway] {
            g.wait_log(c, "clawdbot gateway listening");
        }
        g.wait_log(&proxy, "clawdbot egress proxy listening");

        // Through the proxy (HTTPS_PROXY): the allowlisted target answers.
        let (code, out) = egress_check(&gateway, &["--target", &allow_a, "--get", "/health"]);
        assert_eq!(code, 0, "target A through the proxy:\n{out}");
        assert!(out.contains("GET /health -> 200"), "{out}");

        // Not allowlisted: 403 from the proxy, logged with the destination.
        let deny_b = format!("{b}:8080");
        let (code, out) = egress_check(&gateway, &["--target", &deny_b]);
        assert_eq!(code, 1, "target B must be refused:\n{out}");
        assert!(out.contains("CONNECT -> 403"), "{out}");
        g.wait_log(&proxy, &format!("destination={deny_b}"));
        assert!(g.logs(&proxy).contains("egress refused"));
        // Allowed host, other port: refused too.
        let (code, out) = egress_check(&gateway, &["--target", &format!("{a}:18789")]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("403"), "{out}");

        // Direct, by name and by address: the internal network has no route to A.
        let (code, out) = egress_check(&gateway, &["--direct", "--target", &allow_a]);
        assert_eq!(code, 1, "a direct connection by name must fail:\n{out}");
        let a_ip = docker_ok(&[
            "inspect",
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{outside}\").IPAddress}}}}"),
            &a,
        ]);
        assert!(!a_ip.is_empty(), "no address for target A");
        let (code, out) = egress_check(
            &gateway,
            &[
                "--direct",
                "--target",
                &format!("{a_ip}:8080"),
                "--timeout-ms",
                "3000",
            ],
        );
        assert_eq!(code, 1, "a direct connection by address must fail:\n{out}");
        assert!(
            out.contains("cannot connect") || out.contains("timed out"),
            "{out}"
        );
        // The same address through the proxy is refused too: the allowlist is by name.
        let (code, out) = egress_check(&gateway, &["--target", &format!("{a_ip}:8080")]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains("403"), "{out}");

        // The host reaches the gateway's health port through the proxy's loopback forward.
        let mapped = docker_ok(&["port", &proxy, "8080/tcp"]);
        assert!(mapped.starts_with("127.0.0.1:"), "published on {mapped}");
        let port: u16 = mapped
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .expect("host port");
        let deadline = Instant::now() + Duration::from_secs(10);
        let health = loop {
            match http_get(port, "/health") {
                Ok(text) if text.starts_with("HTTP/1.1 200") => break text,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "no /health through the forward: {other:?}\nproxy logs:\n{}",
                        g.logs(&proxy)
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        };
        assert!(health.contains("\"status\":\"ok\""), "{health}");
        let metrics = http_get(port, "/metrics").unwrap();
        assert!(metrics.contains("clawdbot_connections_open 0"), "{metrics}");
        // The token never reached a log.
        for c in [&proxy, &gateway] {
            assert!(!g.logs(c).contains(TOKEN), "{c} logged the token");
        }
    }
    let (containers, networks) = Guard::leftovers(&id);
    assert!(containers.is_empty(), "containers left: {containers}");
    assert!(networks.is_empty(), "networks left: {networks}");
    let images = docker_ok(&["images", "-q", &format!("clawdbot-egress-e2e:{id}")]);
    assert!(images.is_empty(), "image left: {images}");
}
