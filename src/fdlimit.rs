//! The open-files limit: raise the soft `RLIMIT_NOFILE` at start so that every socket a
//! service's budgets allow fits, with headroom for listeners, the runtime and a health
//! answer, and say so when the hard limit does not allow it.

/// Descriptors kept free beyond the budgets: listeners, stdio, the runtime's epoll and
/// eventfds, a health probe being accepted while every budget is full.
pub const HEADROOM: u64 = 64;

/// The soft and hard limits after [`raise`], and what was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub soft: u64,
    pub hard: u64,
    /// Budgets plus [`HEADROOM`].
    pub needed: u64,
}

impl OpenFiles {
    /// Whether every budget fits under the soft limit.
    pub fn fits(&self) -> bool {
        self.soft >= self.needed
    }
}

/// Raises the soft open-files limit to `budget + HEADROOM` (never lowers it, never above
/// the hard limit). `None` when the limits cannot be read.
pub fn raise(budget: u64) -> Option<OpenFiles> {
    let needed = budget.saturating_add(HEADROOM);
    let (mut soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
    let wanted = needed.min(hard);
    if soft < wanted && rlimit::Resource::NOFILE.set(wanted, hard).is_ok() {
        soft = wanted;
    }
    Some(OpenFiles { soft, hard, needed })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_to_the_current_limit_changes_nothing_and_never_lowers() {
        let before = raise(0).expect("limits readable");
        assert!(before.soft >= HEADROOM.min(before.hard));
        let again = raise(0).expect("limits readable");
        assert_eq!(again.soft, before.soft, "raise(0) must not lower the limit");
        assert_eq!(again.needed, HEADROOM);
        let huge = raise(u64::MAX).expect("limits readable");
        assert_eq!(huge.needed, u64::MAX);
        assert!(huge.soft <= huge.hard && huge.soft >= before.soft);
    }
}
