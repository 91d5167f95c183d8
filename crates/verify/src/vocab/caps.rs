//! Linux capabilities as verify names them: one normalization and one list of the
//! capabilities whose addition is an error (`caps-added`), for static and runtime verify.

use crate::Severity;

/// Capabilities that are close to root or break container isolation; adding any of
/// them is an error. Other added capabilities are warnings.
pub const DANGEROUS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "DAC_READ_SEARCH",
    "SYS_RAWIO",
    "BPF",
    "PERFMON",
    "SYS_BOOT",
    "SYS_TIME",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "SYSLOG",
    "SETFCAP",
    "DAC_OVERRIDE",
    "NET_RAW",
];

/// `cap_sys_admin`, `CAP_SYS_ADMIN` and `SYS_ADMIN` all name `SYS_ADMIN`.
pub fn name(cap: &str) -> String {
    let up = cap.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

/// True when adding `cap` (any spelling) is an error.
pub fn is_dangerous(cap: &str) -> bool {
    DANGEROUS.contains(&name(cap).as_str())
}

/// Severity of a `caps-added` finding for `cap`: error when dangerous, else warning
/// (documented in the catalog).
pub fn added_severity(cap: &str) -> Severity {
    if is_dangerous(cap) {
        Severity::Error
    } else {
        Severity::Warning
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_normalize_and_danger_is_shared() {
        for c in ["cap_sys_admin", "CAP_SYS_ADMIN", " SYS_ADMIN "] {
            assert_eq!(name(c), "SYS_ADMIN");
            assert!(is_dangerous(c));
        }
        assert!(!is_dangerous("NET_BIND_SERVICE"));
        assert!(!is_dangerous("chown"));
    }
}
