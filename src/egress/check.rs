//! `clawdbot egress-check` (hidden, diagnostic): tries to reach `HOST:PORT` through the
//! CONNECT proxy in `--proxy` (default `HTTPS_PROXY`), or directly with `--direct`, and
//! optionally sends `GET PATH` through the connection. Prints one line; exit 0 when the
//! target was reached (and the GET answered 2xx), 1 otherwise. A scratch image has no
//! curl, so the end-to-end test uses this inside the gateway container.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::allow::Destination;

#[derive(Debug, clap::Args)]
pub struct EgressCheckArgs {
    /// Destination HOST:PORT.
    #[arg(long)]
    pub target: String,
    /// Proxy URL (`http://HOST:PORT`). Default: HTTPS_PROXY / https_proxy.
    #[arg(long)]
    pub proxy: Option<String>,
    /// Connect to the target directly instead of through the proxy.
    #[arg(long)]
    pub direct: bool,
    /// After connecting, send `GET PATH` and require a 2xx answer.
    #[arg(long)]
    pub get: Option<String>,
    /// Overall deadline in milliseconds.
    #[arg(long = "timeout-ms", default_value_t = 5000)]
    pub timeout_ms: u64,
}

pub fn run(args: EgressCheckArgs) -> anyhow::Result<ExitCode> {
    let target = Destination::parse(&args.target)
        .map_err(|e| anyhow::anyhow!("--target {e} (use HOST:PORT)"))?;
    let deadline = Instant::now() + Duration::from_millis(args.timeout_ms.max(1));
    let proxy = if args.direct {
        None
    } else {
        let url = args
            .proxy
            .clone()
            .or_else(|| std::env::var("HTTPS_PROXY").ok())
            .or_else(|| std::env::var("https_proxy").ok())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "no proxy: pass --proxy http://HOST:PORT, set HTTPS_PROXY, or use --direct"
                )
            })?;
        Some(proxy_destination(&url)?)
    };
    let via = match &proxy {
        Some(p) => format!("via proxy {p}"),
        None => "direct".to_string(),
    };
    let result = reach(&target, proxy.as_ref(), deadline).and_then(|mut stream| match &args.get {
        None => Ok("reached".to_string()),
        Some(path) => http_get(&mut stream, &target, path, deadline),
    });
    match result {
        Ok(what) => {
            println!("egress-check: {target} {via}: {what}");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            println!("egress-check: {target} {via}: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `http://host:port` (or `host:port`) → destination. Only plain-http proxies.
fn proxy_destination(url: &str) -> anyhow::Result<Destination> {
    let rest = url.trim().strip_prefix("http://").unwrap_or(url.trim());
    let authority = rest.split('/').next().unwrap_or("");
    anyhow::ensure!(
        !authority.contains('@'),
        "proxy URL must not carry credentials"
    );
    Destination::parse(authority).map_err(|e| anyhow::anyhow!("proxy {e} (use http://HOST:PORT)"))
}

fn left(deadline: Instant) -> Result<Duration, String> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "timed out".to_string())
}

fn dial(dest: &Destination, deadline: Instant) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = (dest.resolver_host(), dest.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", dest.host))?
        .collect();
    let mut last = format!("no address for {}", dest.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left(deadline)?) {
            Ok(s) => {
                let t = left(deadline)?;
                let _ = s.set_read_timeout(Some(t));
                let _ = s.set_write_timeout(Some(t));
                return Ok(s);
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Reads a response head (up to the blank line); returns its status code and line.
fn read_head(stream: &mut TcpStream) -> Result<(u16, String), String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if buf.len() > super::bounds::CHECK_MAX_HEAD {
            return Err("response head too large".into());
        }
        match stream.read(&mut byte) {
            Ok(0) => return Err("connection closed before a response".into()),
            Ok(_) => buf.push(byte[0]),
            Err(e) => return Err(format!("reading the response: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let line = text.lines().next().unwrap_or("").to_string();
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {line:?}"))?;
    Ok((code, line))
}

fn reach(
    target: &Destination,
    proxy: Option<&Destination>,
    deadline: Instant,
) -> Result<TcpStream, String> {
    let Some(proxy) = proxy else {
        return dial(target, deadline);
    };
    let mut s = dial(proxy, deadline).map_err(|e| format!("proxy: {e}"))?;
    let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("proxy: {e}"))?;
    let (code, line) = read_head(&mut s)?;
    if code == 200 {
        Ok(s)
    } else {
        Err(format!("refused: CONNECT -> {code} ({line})"))
    }
}

fn http_get(
    stream: &mut TcpStream,
    target: &Destination,
    path: &str,
    deadline: Instant,
) -> Result<String, String> {
    left(deadline)?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("sending GET: {e}"))?;
    let (code, _) = read_head(stream)?;
    if (200..300).contains(&code) {
        Ok(format!("reached; GET {path} -> {code}"))
    } else {
        Err(format!("reached, but GET {path} -> {code}"))
    }
}
