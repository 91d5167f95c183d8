//! Child processes for tests, with one behaviour on every timeout: the child is
//! killed and reaped, what it wrote is drained, and the caller gets its exit status
//! (when it exited by itself) with everything it logged, never a hang or a zombie.
//!
//! - [`LoggedChild`]: a long-running child (a server) whose stderr is collected into a
//!   log line by line; stopped on drop as its [`Stop`] says (SIGKILL at once by default;
//!   SIGTERM, a grace period, then SIGKILL; optionally its whole process group).
//! - [`run_within`]: a child run to completion with its output captured.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a child that closed its stderr gets to exit, and how long the log reader
/// gets to reach the end of stderr, before we stop waiting.
const GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);
/// Most bytes of stderr kept in the log (a server under a bench's load may warn on every
/// refused connection); later lines are still read and shown to waiters, not kept.
pub const LOG_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Most lines queued for [`LoggedChild::wait_for_line`] that nobody has looked at yet;
/// beyond it new lines only go to the log.
const LINES_QUEUED: usize = 16 * 1024;

/// A child that ended (or was killed) before doing what was awaited.
#[derive(Debug)]
pub struct Ended {
    /// `Some` when it exited by itself; `None` when it hung and was killed.
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stderr.
    pub logs: String,
}

/// How a [`LoggedChild`] is stopped (on drop, [`LoggedChild::kill`], a timeout).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stop {
    /// Start the child in a process group of its own and signal the whole group (a
    /// program that starts helpers of its own).
    pub group: bool,
    /// Time between SIGTERM and SIGKILL; zero: SIGKILL at once.
    pub grace: Duration,
}

/// A running child whose stderr lines are collected into a log; stopped on drop.
pub struct LoggedChild {
    child: Child,
    stop: Stop,
    logs: Arc<Mutex<String>>,
    /// In a mutex only so that a `LoggedChild` is `Sync` (shared by async tasks).
    lines: Mutex<Receiver<String>>,
    reader_done: Arc<AtomicBool>,
}

impl LoggedChild {
    /// Spawns `cmd` with stdout discarded and stderr collected; killed (SIGKILL) on drop.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<LoggedChild> {
        LoggedChild::spawn_with(cmd, Stdio::null(), Stop::default())
    }

    /// Spawns `cmd` with this stdout (take a pipe with [`stdout`](Self::stdout)) and
    /// stderr collected, stopped as `stop` says.
    pub fn spawn_with(
        cmd: &mut Command,
        stdout: Stdio,
        stop: Stop,
    ) -> std::io::Result<LoggedChild> {
        if stop.group {
            cmd.process_group(0);
        }
        let mut child = cmd.stdout(stdout).stderr(Stdio::piped()).spawn()?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let logs = Arc::new(Mutex::new(String::new()));
        let reader_done = Arc::new(AtomicBool::new(false));
        let (tx, lines) = mpsc::sync_channel(LINES_QUEUED);
        let (sink, done) = (logs.clone(), reader_done.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                {
                    let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                    if l.len() + line.len() < LOG_MAX_BYTES {
                        l.push_str(&line);
                        l.push('\n');
                    }
                }
                let _ = tx.try_send(line);
            }
            done.store(true, Ordering::SeqCst);
        });
        Ok(LoggedChild {
            child,
            stop,
            logs,
            lines: Mutex::new(lines),
            reader_done,
        })
    }

    /// Shows every new stderr line to `seen` until it returns `true`, and returns that
    /// line. When `within` passes first the child is killed; when it closes stderr it
    /// gets [`GRACE`] to exit. Either way: reaped, log drained, [`Ended`] returned.
    pub fn wait_for_line(
        &mut self,
        within: Duration,
        mut seen: impl FnMut(&str) -> bool,
    ) -> Result<String, Ended> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let lines = self.lines.get_mut().unwrap_or_else(|e| e.into_inner());
            match lines.recv_timeout(left) {
                Ok(line) if seen(&line) => return Ok(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(self.ended(None));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(GRACE);
                    if status.is_none() {
                        self.kill();
                    }
                    return Err(self.ended(status));
                }
            }
        }
    }

    fn ended(&self, status: Option<ExitStatus>) -> Ended {
        self.drain_log();
        Ended {
            status,
            logs: self.logs(),
        }
    }

    /// Everything the child wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdout pipe, when it was spawned with [`Stdio::piped`] (once).
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Its exit status when it has exited, without waiting.
    pub fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Waits up to `within` for the child to exit; on exit, lets the log reader reach
    /// the end of stderr (up to [`GRACE`]). `None` when it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.drain_log();
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    fn drain_log(&self) {
        let deadline = Instant::now() + GRACE;
        while !self.reader_done.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
    }

    /// Stops the child as its [`Stop`] says and reaps it: SIGTERM and up to the grace
    /// period to exit, then SIGKILL (to its group too when it leads one).
    pub fn kill(&mut self) {
        if self.stop.grace > Duration::ZERO && matches!(self.child.try_wait(), Ok(None)) {
            self.signal(libc::SIGTERM);
            let deadline = Instant::now() + self.stop.grace;
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
        }
        if self.stop.group {
            // The group may outlive its leader (helpers it started).
            self.signal(libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn signal(&self, signal: libc::c_int) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        let target = if self.stop.group { -pid } else { pid };
        // SAFETY: kill(2) on our own child (or the process group it leads), not yet
        // reaped, so its pid cannot have been reused.
        unsafe {
            libc::kill(target, signal);
        }
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `cmd` to completion within `within`, capturing stdout and stderr; stdin is a
/// pipe kept open until the child exits (some clients quit when stdin closes). On
/// timeout the child is killed and reaped and `Err` carries what it wrote.
pub fn run_within(cmd: &mut Command, within: Duration) -> std::io::Result<Result<Output, Output>> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdin = child.stdin.take();
    let out = read_all(child.stdout.take());
    let err = read_all(child.stderr.take());
    let deadline = Instant::now() + within;
    let finished = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(POLL);
    };
    let status = match finished {
        Some(status) => status,
        None => child.wait()?,
    };
    drop(stdin);
    let output = Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    Ok(if finished.is_some() {
        Ok(output)
    } else {
        Err(output)
    })
}

fn read_all(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_logged_child_shows_its_lines_and_reports_its_exit() {
        let mut c =
            LoggedChild::spawn(&mut sh("echo one >&2; echo ready >&2; exec sleep 30")).unwrap();
        let line = c.wait_for_line(Duration::from_secs(10), |l| l == "ready");
        assert_eq!(line.unwrap(), "ready");
        assert_eq!(c.logs(), "one\nready\n");

        let mut gone = LoggedChild::spawn(&mut sh("echo bye >&2; exit 3")).unwrap();
        let ended = gone
            .wait_for_line(Duration::from_secs(10), |_| false)
            .unwrap_err();
        assert_eq!(ended.status.and_then(|s| s.code()), Some(3));
        assert_eq!(ended.logs, "bye\n");
    }

    #[test]
    fn a_hung_child_is_killed_with_its_log_kept() {
        let mut c = LoggedChild::spawn(&mut sh("echo stuck >&2; exec sleep 30")).unwrap();
        let ended = c
            .wait_for_line(Duration::from_millis(300), |_| false)
            .unwrap_err();
        assert!(ended.status.is_none());
        assert_eq!(ended.logs, "stuck\n");
        assert!(c.child.try_wait().unwrap().is_some(), "reaped");
    }

    #[test]
    fn a_graceful_stop_lets_the_child_handle_sigterm_and_takes_its_group_down() {
        // The shell reports SIGTERM on stderr (its exit is seen by the reader) and leaves
        // a helper in its group that ignores SIGTERM.
        let script = "trap 'echo term >&2; exit 0' TERM; (trap '' TERM; exec sleep 30) & echo $! >&2; echo up >&2; while :; do sleep 0.05; done";
        let stop = Stop {
            group: true,
            grace: Duration::from_secs(10),
        };
        let mut c = LoggedChild::spawn_with(&mut sh(script), Stdio::null(), stop).unwrap();
        c.wait_for_line(Duration::from_secs(10), |l| l == "up")
            .unwrap();
        let helper: u32 = c.logs().lines().next().unwrap().parse().unwrap();
        c.kill();
        // Reaped; waiting again drains the log.
        assert!(c.wait_exit(Duration::ZERO).is_some(), "reaped");
        assert!(c.logs().ends_with("term\n"), "{}", c.logs());
        // The helper ignored SIGTERM; the group's SIGKILL took it (gone or a zombie).
        let until = Instant::now() + Duration::from_secs(10);
        let running = || {
            std::fs::read_to_string(format!("/proc/{helper}/stat")).is_ok_and(|s| {
                s.rfind(')')
                    .and_then(|i| s[i + 2..].split_whitespace().next())
                    .is_some_and(|state| state != "Z")
            })
        };
        while running() && Instant::now() < until {
            std::thread::sleep(POLL);
        }
        assert!(!running(), "helper {helper} survived");
    }

    #[test]
    fn run_within_captures_output_or_kills_on_timeout() {
        let done = run_within(&mut sh("echo out; echo err >&2"), Duration::from_secs(10)).unwrap();
        let done = done.unwrap();
        assert_eq!(
            (&done.stdout[..], &done.stderr[..]),
            (&b"out\n"[..], &b"err\n"[..])
        );
        let hung = run_within(
            &mut sh("echo partial; exec sleep 30"),
            Duration::from_millis(300),
        );
        let hung = hung.unwrap().unwrap_err();
        assert_eq!(hung.stdout, b"partial\n");
        assert!(!hung.status.success());
    }
}
