//! Child processes for tests, with one behaviour on every timeout: the child is
//! killed and reaped, what it wrote is drained, and the caller gets its exit status
//! (when it exited by itself) with everything it logged, never a hang or a zombie.
//!
//! - [`LoggedChild`]: a long-running child (a server) whose stderr is collected into a
//!   log line by line; killed on drop.
//! - [`run_within`]: a child run to completion with its output captured.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a child that closed its stderr gets to exit, and how long the log reader
/// gets to reach the end of stderr, before we stop waiting.
const GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(10);

/// A child that ended (or was killed) before doing what was awaited.
#[derive(Debug)]
pub struct Ended {
    /// `Some` when it exited by itself; `None` when it hung and was killed.
    pub status: Option<ExitStatus>,
    /// Everything it wrote to stderr.
    pub logs: String,
}

/// A running child whose stderr lines are collected into a log; killed on drop.
pub struct LoggedChild {
    child: Child,
    logs: Arc<Mutex<String>>,
    /// In a mutex only so that a `LoggedChild` is `Sync` (shared by async tasks).
    lines: Mutex<Receiver<String>>,
    reader_done: Arc<AtomicBool>,
}

impl LoggedChild {
    /// Spawns `cmd` with stdout discarded and stderr collected.
    pub fn spawn(cmd: &mut Command) -> std::io::Result<LoggedChild> {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let logs = Arc::new(Mutex::new(String::new()));
        let reader_done = Arc::new(AtomicBool::new(false));
        let (tx, lines) = mpsc::channel();
        let (sink, done) = (logs.clone(), reader_done.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                {
                    let mut l = sink.lock().unwrap_or_else(|e| e.into_inner());
                    l.push_str(&line);
                    l.push('\n');
                }
                let _ = tx.send(line);
            }
            done.store(true, Ordering::SeqCst);
        });
        Ok(LoggedChild {
            child,
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

    /// Kills and reaps the child (no-op when it already exited).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
