//! Parsers for `/proc/self/status` (ids, capabilities, NoNewPrivs, Seccomp) and
//! `/etc/passwd`. Pure functions over text.

/// Capability names by bit number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE).
pub const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Names of the capabilities set in `mask` (unknown bits as `CAP_<n>`), by bit order.
pub fn cap_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match CAP_NAMES.get(bit) {
            Some(name) => (*name).to_string(),
            None => format!("CAP_{bit}"),
        })
        .collect()
}

/// The fields of `/proc/self/status` that self-check reads. `None` when absent/invalid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProcStatus {
    /// Effective uid and gid (second column of `Uid:`/`Gid:`).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Capability sets as the 16-digit hex text and the parsed mask.
    pub cap_eff: Option<(String, u64)>,
    pub cap_prm: Option<(String, u64)>,
    pub cap_bnd: Option<(String, u64)>,
    pub no_new_privs: Option<bool>,
    /// `Seccomp:` 0, 1 or 2.
    pub seccomp: Option<u8>,
}

fn cap_field(value: &str) -> Option<(String, u64)> {
    let v = value.trim();
    let mask = u64::from_str_radix(v, 16).ok()?;
    Some((format!("{mask:016x}"), mask))
}

fn effective_id(value: &str) -> Option<u32> {
    value.split_whitespace().nth(1)?.parse().ok()
}

/// Parses the text of `/proc/self/status`.
pub fn parse_status(text: &str) -> ProcStatus {
    let mut st = ProcStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "Uid" => st.uid = effective_id(value),
            "Gid" => st.gid = effective_id(value),
            "CapEff" => st.cap_eff = cap_field(value),
            "CapPrm" => st.cap_prm = cap_field(value),
            "CapBnd" => st.cap_bnd = cap_field(value),
            "NoNewPrivs" => {
                st.no_new_privs = match value.trim() {
                    "0" => Some(false),
                    "1" => Some(true),
                    _ => None,
                }
            }
            "Seccomp" => st.seccomp = value.trim().parse().ok(),
            _ => {}
        }
    }
    st
}

/// `disabled|strict|filter|unknown` for the `Seccomp:` value.
pub fn seccomp_mode(value: Option<u8>) -> &'static str {
    match value {
        Some(0) => "disabled",
        Some(1) => "strict",
        Some(2) => "filter",
        _ => "unknown",
    }
}

/// The user name for `uid` in `/etc/passwd` text.
pub fn user_name(passwd: &str, uid: u32) -> Option<String> {
    passwd
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let _password = fields.next()?;
            let id: u32 = fields.next()?.trim().parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_ROOT: &str = "Name:\tclawdbot\nUmask:\t0022\nState:\tR (running)\n\
Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\n\
CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n\
NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n";

    const HARDENED: &str = "Name:\tclawdbot\nUid:\t1000\t1000\t1000\t1000\n\
Gid:\t1000\t1000\t1000\t1000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n\
CapBnd:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t1\n";

    #[test]
    fn parses_host_root_status() {
        let st = parse_status(HOST_ROOT);
        assert_eq!(st.uid, Some(0));
        assert_eq!(st.gid, Some(0));
        let (hex, mask) = st.cap_eff.clone().unwrap();
        assert_eq!(hex, "000001ffffffffff");
        assert_eq!(cap_names(mask).len(), 41);
        assert_eq!(st.no_new_privs, Some(false));
        assert_eq!(seccomp_mode(st.seccomp), "disabled");
    }

    #[test]
    fn parses_hardened_status() {
        let st = parse_status(HARDENED);
        assert_eq!((st.uid, st.gid), (Some(1000), Some(1000)));
        assert_eq!(st.cap_eff.as_ref().map(|c| c.1), Some(0));
        assert_eq!(st.no_new_privs, Some(true));
        assert_eq!(seccomp_mode(st.seccomp), "filter");
    }

    #[test]
    fn decodes_docker_default_caps() {
        // Docker's default capability set.
        let names = cap_names(u64::from_str_radix("00000000a80425fb", 16).unwrap());
        assert_eq!(
            names,
            [
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_KILL",
                "CAP_SETGID",
                "CAP_SETUID",
                "CAP_SETPCAP",
                "CAP_NET_BIND_SERVICE",
                "CAP_NET_RAW",
                "CAP_SYS_CHROOT",
                "CAP_MKNOD",
                "CAP_AUDIT_WRITE",
                "CAP_SETFCAP"
            ]
        );
        assert_eq!(cap_names(0x400), ["CAP_NET_BIND_SERVICE"]);
        assert_eq!(cap_names(1 << 45), ["CAP_45"]);
        assert_eq!(CAP_NAMES[40], "CAP_CHECKPOINT_RESTORE");
    }

    #[test]
    fn bad_fields_are_unknown() {
        let st = parse_status("CapEff:\tzz\nNoNewPrivs:\t7\nSeccomp:\tx\nUid:\t\n");
        assert_eq!(st, ProcStatus::default());
        assert_eq!(seccomp_mode(Some(9)), "unknown");
    }

    #[test]
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\n# comment\nclawdbot:x:1000:1000::/:/sbin/nologin\nbroken\n";
        assert_eq!(user_name(passwd, 1000).as_deref(), Some("clawdbot"));
        assert_eq!(user_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(user_name(passwd, 42), None);
    }
}
