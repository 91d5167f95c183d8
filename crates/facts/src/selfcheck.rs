//! The checks of `clawdbot self-check` and the checklist item each counts against.

/// The checks of `clawdbot self-check`, in report order. Their ids are part of the
/// `self-check --json` contract (`SELFCHECK_SCHEMA`); runtime verify counts a failed
/// check against the hardening checklist item (1-10) given here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SelfCheckId {
    NonRoot,
    CapsEmpty,
    NoNewPrivs,
    Seccomp,
    RootfsReadOnly,
    EtcReadOnly,
    MemoryLimit,
    CpuLimit,
    PidsLimit,
    NoDockerSocket,
    NoEnvFile,
    NoSecretsInSessions,
}

impl SelfCheckId {
    /// Every check, in the order the service reports them.
    pub const ALL: [SelfCheckId; 12] = [
        SelfCheckId::NonRoot,
        SelfCheckId::CapsEmpty,
        SelfCheckId::NoNewPrivs,
        SelfCheckId::Seccomp,
        SelfCheckId::RootfsReadOnly,
        SelfCheckId::EtcReadOnly,
        SelfCheckId::MemoryLimit,
        SelfCheckId::CpuLimit,
        SelfCheckId::PidsLimit,
        SelfCheckId::NoDockerSocket,
        SelfCheckId::NoEnvFile,
        SelfCheckId::NoSecretsInSessions,
    ];

    /// [`SelfCheckId::ALL`]'s ids, in the same order.
    pub const ALL_IDS: [&'static str; 12] = {
        let mut ids = [""; 12];
        let mut i = 0;
        while i < ids.len() {
            ids[i] = SelfCheckId::ALL[i].as_str();
            i += 1;
        }
        ids
    };

    /// The id in the JSON report (`"id": "non-root"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            SelfCheckId::NonRoot => "non-root",
            SelfCheckId::CapsEmpty => "caps-empty",
            SelfCheckId::NoNewPrivs => "no-new-privs",
            SelfCheckId::Seccomp => "seccomp",
            SelfCheckId::RootfsReadOnly => "rootfs-read-only",
            SelfCheckId::EtcReadOnly => "etc-read-only",
            SelfCheckId::MemoryLimit => "memory-limit",
            SelfCheckId::CpuLimit => "cpu-limit",
            SelfCheckId::PidsLimit => "pids-limit",
            SelfCheckId::NoDockerSocket => "no-docker-socket",
            SelfCheckId::NoEnvFile => "no-env-file",
            SelfCheckId::NoSecretsInSessions => "no-secrets-in-sessions",
        }
    }

    /// The item of the guide's hardening checklist a failed check counts against.
    pub const fn checklist_item(self) -> u8 {
        match self {
            SelfCheckId::NonRoot => 1,
            SelfCheckId::RootfsReadOnly
            | SelfCheckId::EtcReadOnly
            | SelfCheckId::NoDockerSocket => 2,
            SelfCheckId::CapsEmpty => 3,
            SelfCheckId::NoNewPrivs | SelfCheckId::Seccomp => 4,
            SelfCheckId::MemoryLimit | SelfCheckId::CpuLimit | SelfCheckId::PidsLimit => 6,
            SelfCheckId::NoEnvFile | SelfCheckId::NoSecretsInSessions => 7,
        }
    }

    /// The check with this id, if the service has one.
    pub fn from_id(id: &str) -> Option<SelfCheckId> {
        SelfCheckId::ALL.into_iter().find(|c| c.as_str() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::SelfCheckId;

    /// The ids are an output contract (self-check's report, runtime verify, docs): they
    /// are written out once, here.
    #[test]
    fn ids_are_the_documented_strings_in_report_order() {
        assert_eq!(
            SelfCheckId::ALL_IDS,
            [
                "non-root",
                "caps-empty",
                "no-new-privs",
                "seccomp",
                "rootfs-read-only",
                "etc-read-only",
                "memory-limit",
                "cpu-limit",
                "pids-limit",
                "no-docker-socket",
                "no-env-file",
                "no-secrets-in-sessions",
            ]
        );
        for id in SelfCheckId::ALL {
            assert_eq!(SelfCheckId::from_id(id.as_str()), Some(id));
        }
    }
}
