//! Destinations (`HOST:PORT`) and the allowlist of `clawdbot egress-proxy`.

use std::fmt;

/// A normalised `HOST:PORT`: lower-case host without a trailing dot, IPv6 in brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub host: String,
    pub port: u16,
}

impl Destination {
    /// Parses `host:port` or `[v6]:port`. The host may contain only letters, digits,
    /// `.`, `-`, `_` (and `:` inside brackets), so a destination is always safe to log.
    pub fn parse(text: &str) -> Result<Destination, String> {
        let text = text.trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (h, p) = rest
                .split_once("]:")
                .ok_or_else(|| format!("{text:?}: expected [IPV6]:PORT"))?;
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("{text:?}: not an IPv6 address in brackets"))?;
            (format!("[{}]", h.to_ascii_lowercase()), p)
        } else {
            let (h, p) = text
                .rsplit_once(':')
                .ok_or_else(|| format!("{text:?}: expected HOST:PORT"))?;
            let h = h.trim_end_matches('.').to_ascii_lowercase();
            if h.is_empty()
                || h.len() > 253
                || !h
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(format!("{text:?}: not a valid host name"));
            }
            (h, p)
        };
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{text:?}: port must be 1..65535"))?;
        Ok(Destination { host, port })
    }

    /// The host as passed to the resolver (IPv6 without brackets).
    pub fn resolver_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Exact `HOST:PORT` matches (no wildcards: every destination is named).
#[derive(Debug, Clone, Default)]
pub struct Allowlist(Vec<Destination>);

impl Allowlist {
    pub fn new(entries: Vec<Destination>) -> Allowlist {
        let mut v: Vec<Destination> = Vec::new();
        for d in entries {
            if !v.contains(&d) {
                v.push(d);
            }
        }
        Allowlist(v)
    }
    pub fn allows(&self, dest: &Destination) -> bool {
        self.0.contains(dest)
    }
    pub fn entries(&self) -> &[Destination] {
        &self.0
    }
}

impl fmt::Display for Allowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let d = Destination::parse("API.Anthropic.com.:443").unwrap();
        assert_eq!(d.to_string(), "api.anthropic.com:443");
        let v6 = Destination::parse("[::1]:8080").unwrap();
        assert_eq!(v6.to_string(), "[::1]:8080");
        assert_eq!(v6.resolver_host(), "::1");
        for bad in [
            "",
            "host",
            "host:0",
            "host:99999",
            ":443",
            "a b:1",
            "evil\n:1",
            "[nope]:1",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn allowlist_matches_host_and_port_exactly() {
        let list = Allowlist::new(vec![
            Destination::parse("api.anthropic.com:443").unwrap(),
            Destination::parse("api.anthropic.com:443").unwrap(),
        ]);
        assert_eq!(list.entries().len(), 1);
        assert!(list.allows(&Destination::parse("API.anthropic.com:443").unwrap()));
        assert!(!list.allows(&Destination::parse("api.anthropic.com:80").unwrap()));
        assert!(!list.allows(&Destination::parse("evil.anthropic.com:443").unwrap()));
        assert!(!list.allows(&Destination::parse("api.anthropic.com.evil.io:443").unwrap()));
    }
}
