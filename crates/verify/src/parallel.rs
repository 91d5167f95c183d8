//! When and how verify splits work over two threads: the YAML fast path reads the second
//! half of a large mapping (the services) on a second thread, and the per-service rules
//! run their second half there. One threshold, one answer to "are there two CPUs", and
//! one way to start the second thread.

use std::sync::OnceLock;
use std::thread::{Scope, ScopedJoinHandle};

/// Entries (services) from which work is split over two threads: below it, starting a
/// thread (~0.1 ms with [`spawn_beside`]) costs more than the half it takes over saves.
pub const SPLIT_FROM: usize = 128;

/// Whether the process may use two threads at once (the affinity mask and cgroup quota
/// allow two CPUs). Asked once: the answer reads `/proc` and cgroup files.
pub fn two_threads() -> bool {
    static TWO: OnceLock<bool> = OnceLock::new();
    *TWO.get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() >= 2))
}

/// Runs `a` here and `b` on a second thread started beside this one ([`spawn_beside`]),
/// and returns both results; a panic in `b` goes on in the caller.
pub fn join<RA, RB: Send>(a: impl FnOnce() -> RA, b: impl FnOnce() -> RB + Send) -> (RA, RB) {
    std::thread::scope(|scope| {
        let other = spawn_beside(scope, b);
        let ra = a();
        match other.join() {
            Ok(rb) => (ra, rb),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// Starts `f` on a second thread of `scope`, running beside the caller at once.
///
/// Linux often queues a new thread on its parent's CPU, and wakes a thread on the CPU of
/// the thread that woke it. While the parent keeps that CPU busy (it goes on with its
/// own half), the new thread waits for the load balancer to move one of them: 0.5 to 5
/// ms on the 2-CPU machines measured, as long as the work it was started for (two 5 ms
/// halves took 7.9 ms). So the placement is made, not hoped for: the caller pins itself
/// to its CPU (it stays there), starts the thread (which inherits that one-CPU mask) and
/// waits; the thread, running on the caller's CPU while the caller waits, moves itself
/// to the other allowed CPUs, puts its mask back and says so; the caller, woken on its
/// own CPU, puts its mask back too. Both then run at once (two 5 ms halves: 5.3 ms, the
/// thread started 0.2-0.3 ms after the call); neither keeps a narrowed CPU set. Where
/// that cannot be done (one allowed CPU, a refused call) the thread is started plainly.
pub fn spawn_beside<'scope, T: Send + 'scope>(
    scope: &'scope Scope<'scope, '_>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> ScopedJoinHandle<'scope, T> {
    #[cfg(target_os = "linux")]
    if let Some(placed) = Placement::pin_caller() {
        let (moved, on_its_cpu) = std::sync::mpsc::sync_channel(1);
        let handle = scope.spawn(move || {
            placed.move_away();
            let _ = moved.send(());
            f()
        });
        let _ = on_its_cpu.recv();
        placed.unpin();
        return handle;
    }
    scope.spawn(f)
}

/// The caller's CPU set, and the same without the CPU it runs on.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy)]
struct Placement {
    all: libc::cpu_set_t,
    elsewhere: libc::cpu_set_t,
}

#[cfg(target_os = "linux")]
impl Placement {
    const SIZE: usize = std::mem::size_of::<libc::cpu_set_t>();

    /// Pins the calling thread to the CPU it runs on; `None` (nothing changed) when no
    /// other CPU is allowed or the kernel refuses.
    fn pin_caller() -> Option<Placement> {
        // SAFETY: `cpu_set_t` is plain data (all zeros is the empty set); the calls read
        // and write only the sets passed, for the calling thread (pid 0).
        unsafe {
            let mut all: libc::cpu_set_t = std::mem::zeroed();
            if libc::sched_getaffinity(0, Self::SIZE, &mut all) != 0 {
                return None;
            }
            let here = usize::try_from(libc::sched_getcpu()).ok()?;
            let mut elsewhere = all;
            libc::CPU_CLR(here, &mut elsewhere);
            if libc::CPU_COUNT(&elsewhere) == 0 {
                return None;
            }
            let mut pin: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(here, &mut pin);
            (libc::sched_setaffinity(0, Self::SIZE, &pin) == 0)
                .then_some(Placement { all, elsewhere })
        }
    }

    /// In the new thread: moves to another allowed CPU, then allows them all again.
    fn move_away(&self) {
        // SAFETY: as in `pin_caller`, for the calling thread.
        unsafe {
            if libc::sched_setaffinity(0, Self::SIZE, &self.elsewhere) == 0 {
                libc::sched_setaffinity(0, Self::SIZE, &self.all);
            }
        }
    }

    /// In the caller: its CPU set as it was.
    fn unpin(&self) {
        // SAFETY: as in `pin_caller`, for the calling thread.
        unsafe {
            libc::sched_setaffinity(0, Self::SIZE, &self.all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the calling thread's CPU set (0 off Linux).
    fn cpus() -> usize {
        #[cfg(target_os = "linux")]
        // SAFETY: reads the calling thread's set into a zeroed one.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            libc::CPU_COUNT(&set) as usize
        }
        #[cfg(not(target_os = "linux"))]
        0
    }

    /// The second thread runs the work and hands back its result, and both it and the
    /// caller end with the CPU set the caller had.
    #[test]
    fn spawn_beside_runs_the_work_and_leaves_cpu_sets_as_they_were() {
        let before = cpus();
        let data = [1u64, 2, 3];
        let (sum, its) = std::thread::scope(|s| {
            let h = spawn_beside(s, || (data.iter().sum::<u64>(), cpus()));
            h.join().expect("joined")
        });
        assert_eq!(sum, 6);
        assert_eq!(its, before);
        assert_eq!(cpus(), before);
    }

    /// `join` hands back both results, and a panic on the second thread reaches the
    /// caller.
    #[test]
    fn join_returns_both_results_and_passes_a_panic_on() {
        let data = [1u64, 2, 3, 4];
        let (a, b) = join(
            || data[..2].iter().sum::<u64>(),
            || data[2..].iter().sum::<u64>(),
        );
        assert_eq!((a, b), (3, 7));
        let caught = std::panic::catch_unwind(|| join(|| 1, || -> u8 { panic!("second half") }));
        assert!(caught.is_err());
    }
}
