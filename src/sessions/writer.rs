//! The thread that writes session files, off the async runtime's threads.
//!
//! The store marks a key dirty after each change ([`Writer::mark`], which never blocks
//! on I/O); the thread takes every dirty key at once, snapshots each session (a copy
//! taken under the store lock, serialised and written outside it) and saves it, or
//! removes its file when the session is gone. The queue is the set of dirty keys: one
//! entry per key however often it changes (the last state is what is written), so it
//! is bounded by the keys in the store plus those deleted since the last pass.
//! [`Writer::flush`] waits (bounded) until everything marked is on disk; dropping the
//! writer flushes and stops the thread.

use std::collections::BTreeSet;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::persist::Persist;
use super::Session;

/// Reads the current state of a session (`None`: it is gone).
pub(super) type Snapshot = Box<dyn Fn(&str) -> Option<Session> + Send>;

#[derive(Default)]
struct State {
    dirty: BTreeSet<String>,
    /// The thread is writing a batch taken from `dirty`.
    writing: bool,
    stop: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Handle on the writer thread.
pub(super) struct Writer {
    shared: Shared,
    thread: Option<JoinHandle<()>>,
    persist: Arc<Persist>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("dir", &self.persist.dir())
            .finish()
    }
}

impl Writer {
    /// Starts the thread writing into `persist`, reading sessions with `snapshot`.
    pub fn start(persist: Arc<Persist>, snapshot: Snapshot) -> std::io::Result<Writer> {
        let shared: Shared = Arc::default();
        let (s, p) = (shared.clone(), persist.clone());
        let thread = std::thread::Builder::new()
            .name("sessions-writer".into())
            .spawn(move || run(&s, &p, &snapshot))?;
        Ok(Writer {
            shared,
            thread: Some(thread),
            persist,
        })
    }

    pub fn persist(&self) -> &Persist {
        &self.persist
    }

    /// Marks `key` for writing (its state at write time is what is saved).
    pub fn mark(&self, key: &str) {
        let (m, cv) = &*self.shared;
        let mut st = lock(m);
        if !st.dirty.contains(key) {
            st.dirty.insert(key.to_string());
        }
        cv.notify_all();
    }

    /// Waits until every key marked so far is written, at most `within`; false when
    /// the time ran out.
    pub fn flush(&self, within: Duration) -> bool {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + within;
        let mut st = lock(m);
        while !st.dirty.is_empty() || st.writing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = cv
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }
}

/// Longest a drop waits for pending writes.
const DROP_FLUSH: Duration = Duration::from_secs(30);

impl Drop for Writer {
    fn drop(&mut self) {
        if !self.flush(DROP_FLUSH) {
            tracing::warn!("sessions not all saved within {} s", DROP_FLUSH.as_secs());
        }
        let (m, cv) = &*self.shared;
        lock(m).stop = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Shared, persist: &Persist, snapshot: &Snapshot) {
    let (m, cv) = &**shared;
    loop {
        let batch = {
            let mut st = lock(m);
            while st.dirty.is_empty() && !st.stop {
                st = cv.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            if st.dirty.is_empty() {
                return;
            }
            st.writing = true;
            std::mem::take(&mut st.dirty)
        };
        for key in &batch {
            match snapshot(key) {
                Some(s) => {
                    if let Err(e) = persist.save(&s) {
                        tracing::warn!(error = format!("{e:#}"), "session not saved");
                    }
                }
                None => persist.remove(key),
            }
        }
        lock(m).writing = false;
        cv.notify_all();
    }
}
