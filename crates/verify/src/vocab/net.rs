//! Addresses as verify reads them (compose ports, Kubernetes hostIP, engine bindings,
//! host listeners).

use std::net::IpAddr;

/// True for a loopback IP (`127.0.0.0/8`, `::1`, also bracketed `[::1]`); empty (all
/// interfaces), a wildcard or anything unparsable is not loopback.
pub fn is_loopback(ip: &str) -> bool {
    ip.trim()
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for ip in ["127.0.0.1", "::1", "[::1]", "127.0.0.2"] {
            assert!(is_loopback(ip), "{ip}");
        }
        for ip in ["", "0.0.0.0", "::", "192.168.1.4", "garbage"] {
            assert!(!is_loopback(ip), "{ip}");
        }
    }
}
