//! The in-memory sessions store: one transcript per session key, bounded in sessions
//! (least recently used evicted first), in messages and in bytes per session.
//!
//! Sessions belong to this process (there is no replication; see docs/production.md).
//! Keys are canonical OpenClaw session keys `agent:<agentId>:<name>`; the only agent is
//! [`AGENT_ID`]. A bare name (`main`) means `agent:main:<name>`.

mod limits;
pub mod persist;
mod writer;

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::lock::lock;

pub use limits::SessionLimits;

/// The single agent this gateway exposes.
pub const AGENT_ID: &str = "main";
/// The default session of the agent.
pub const MAIN_KEY: &str = "agent:main:main";

/// Why a store operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("invalid session key {0:?} (expected agent:main:<name> or <name>)")]
    InvalidKey(String),
    #[error("unknown agent id {0:?} (this gateway has one agent: main)")]
    UnknownAgent(String),
    #[error("session not found: {0}")]
    NotFound(String),
    #[error("message too large: {size} bytes (at most {max} bytes per message)")]
    TooLarge { size: usize, max: usize },
    #[error("too many sessions with a run in progress ({0}); retry when one finishes")]
    Full(usize),
}

/// One transcript entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub id: String,
    pub role: String,
    pub text: String,
    pub timestamp: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

impl Message {
    pub fn new(role: &str, text: impl Into<String>, run_id: Option<&str>) -> Message {
        Message {
            id: uuid::Uuid::new_v4().to_string(),
            role: role.to_string(),
            text: text.into(),
            timestamp: crate::protocol::now_ms(),
            run_id: run_id.map(str::to_string),
            stop_reason: None,
        }
    }
    fn bytes(&self) -> usize {
        self.text.len() + self.role.len() + 64
    }
}

/// A session as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub key: String,
    pub session_id: String,
    pub created_at: u64,
    pub updated_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    pub messages: VecDeque<Message>,
    /// Bytes held by `messages` (as counted against the limit).
    pub bytes: usize,
    /// Messages dropped from the front to stay within the limits (or by compaction).
    pub dropped: u64,
    /// True while a run is in progress: such a session is never evicted.
    #[serde(skip)]
    pub busy: bool,
    #[serde(skip)]
    last_used: u64,
    /// The connection that created it (`None`: loaded from disk or made in code).
    #[serde(skip)]
    owner: Option<String>,
    /// The scope rank of its creator ([`Creator::rank`]); loaded sessions count as
    /// written by a writer.
    #[serde(skip, default = "writer_rank")]
    rank: u8,
}

/// Rank of sessions whose creator is unknown (loaded from disk).
fn writer_rank() -> u8 {
    Creator::WRITE
}

/// Who creates a session, for eviction: a session is only evicted for a creator of
/// the same or a higher rank, and its file is only deleted by an eviction its own
/// connection caused (another client's saved file is never deleted).
#[derive(Debug, Clone, Copy)]
pub struct Creator<'a> {
    pub conn_id: &'a str,
    pub rank: u8,
}

impl Creator<'_> {
    pub const READ: u8 = 0;
    pub const WRITE: u8 = 1;
    pub const ADMIN: u8 = 2;
}

impl Session {
    fn new(key: String, now: u64, tick: u64) -> Session {
        Session {
            key,
            session_id: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            updated_at: now,
            label: None,
            model: None,
            messages: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            busy: false,
            last_used: tick,
            owner: None,
            rank: Creator::ADMIN,
        }
    }
}

/// The store. Every method takes the lock briefly; nothing awaits, serialises or
/// writes a file while holding it. Counts and the most recent keys come from an index
/// ([`Store::summaries`]), never from a copy of the whole store.
#[derive(Debug)]
pub struct Store {
    limits: SessionLimits,
    inner: Arc<Mutex<Inner>>,
    /// `--sessions-dir`: the thread that saves sessions there (None: memory only).
    writer: Option<writer::Writer>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    /// Keys by last update, newest first (ties by key).
    by_updated: BTreeSet<(Reverse<u64>, String)>,
    tick: u64,
}

impl Inner {
    fn insert(&mut self, s: Session) {
        self.remove(&s.key);
        self.by_updated
            .insert((Reverse(s.updated_at), s.key.clone()));
        self.sessions.insert(s.key.clone(), s);
    }

    fn remove(&mut self, key: &str) -> Option<Session> {
        let s = self.sessions.remove(key)?;
        self.by_updated
            .remove(&(Reverse(s.updated_at), s.key.clone()));
        Some(s)
    }

    /// Keeps the index right after a session's `updated_at` went from `old`.
    fn reindex(&mut self, key: &str, old: u64) {
        let Some(now) = self.sessions.get(key).map(|s| s.updated_at) else {
            return;
        };
        if now != old {
            self.by_updated.remove(&(Reverse(old), key.to_string()));
            self.by_updated.insert((Reverse(now), key.to_string()));
        }
    }
}

/// What lists and summaries show of a session: everything but its transcript.
#[derive(Debug, Clone)]
pub struct Summary {
    pub key: String,
    pub session_id: String,
    pub created_at: u64,
    pub updated_at: u64,
    pub label: Option<String>,
    pub model: Option<String>,
    pub message_count: usize,
    pub busy: bool,
    /// The last message's text, cut to [`PREVIEW_CHARS`] characters.
    pub last_preview: Option<String>,
}

/// Characters of the last message shown in a summary.
pub const PREVIEW_CHARS: usize = 120;

impl Summary {
    pub fn of(s: &Session) -> Summary {
        Summary {
            key: s.key.clone(),
            session_id: s.session_id.clone(),
            created_at: s.created_at,
            updated_at: s.updated_at,
            label: s.label.clone(),
            model: s.model.clone(),
            message_count: s.messages.len(),
            busy: s.busy,
            last_preview: s
                .messages
                .back()
                .map(|m| crate::providers::truncate(&m.text, PREVIEW_CHARS)),
        }
    }
}

/// Canonical form of a session key: `agent:main:<name>`, lower-cased name.
pub fn canonical_key(raw: &str) -> Result<String, SessionError> {
    let key = raw.trim();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.len() <= 128
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    };
    if let Some(rest) = key.strip_prefix("agent:") {
        let (agent, name) = rest
            .split_once(':')
            .ok_or_else(|| SessionError::InvalidKey(short(key)))?;
        if !agent.eq_ignore_ascii_case(AGENT_ID) {
            return Err(SessionError::UnknownAgent(short(agent)));
        }
        if !valid_name(name) {
            return Err(SessionError::InvalidKey(short(key)));
        }
        return Ok(format!("agent:{AGENT_ID}:{}", name.to_ascii_lowercase()));
    }
    if !valid_name(key) {
        return Err(SessionError::InvalidKey(short(key)));
    }
    Ok(format!("agent:{AGENT_ID}:{}", key.to_ascii_lowercase()))
}

fn short(s: &str) -> String {
    crate::providers::truncate(s, 64)
}

impl Store {
    /// A memory-only store.
    pub fn new(limits: SessionLimits) -> Store {
        Store {
            limits,
            inner: Arc::default(),
            writer: None,
        }
    }

    /// A store saved in `dir`, loaded from what is there (at most `max_sessions`, the
    /// most recently modified files; each within the per-session bounds). Files that are
    /// not loaded are set aside, never deleted (see [`persist`]).
    pub fn open(limits: SessionLimits, dir: &std::path::Path) -> anyhow::Result<Store> {
        let p = persist::Persist::open(dir, limits.max_file_bytes())?;
        let mut loaded = p.load(limits.max_sessions, |s| {
            canonical_key(&s.key).ok().as_deref() == Some(s.key.as_str())
        });
        loaded.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
        let mut inner = Inner::default();
        for mut s in loaded {
            s.bytes = s.messages.iter().map(Message::bytes).sum();
            while s.messages.len() > limits.max_messages
                || (s.bytes > limits.max_session_bytes && s.messages.len() > 1)
            {
                if let Some(old) = s.messages.pop_front() {
                    s.bytes -= old.bytes();
                    s.dropped += 1;
                }
            }
            inner.insert(s);
        }
        // Least recently used = least recently updated; later uses count above these.
        let mut by_age: Vec<(u64, String)> = inner
            .sessions
            .values()
            .map(|s| (s.updated_at, s.key.clone()))
            .collect();
        by_age.sort();
        for (i, (_, key)) in by_age.iter().enumerate() {
            if let Some(s) = inner.sessions.get_mut(key) {
                s.last_used = i as u64 + 1;
            }
        }
        inner.tick = by_age.len() as u64;
        tracing::info!(dir = %dir.display(), sessions = inner.sessions.len(), "sessions loaded");
        let inner = Arc::new(Mutex::new(inner));
        let reader = inner.clone();
        let snapshot: writer::Snapshot = Box::new(move |key| {
            reader
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .sessions
                .get(key)
                .cloned()
        });
        let writer = writer::Writer::start(Arc::new(p), snapshot)
            .with_context(|| format!("starting the sessions writer for {}", dir.display()))?;
        Ok(Store {
            limits,
            inner,
            writer: Some(writer),
        })
    }

    /// Marks `key` to be saved (or its file removed when it is gone) by the writer
    /// thread; returns at once.
    fn save(&self, key: &str) {
        if let Some(w) = &self.writer {
            w.mark(key);
        }
    }

    /// Waits (at most `within`) until every change so far is on disk; true when done
    /// (always, without `--sessions-dir`). Blocking: call it off the runtime threads.
    pub fn flush(&self, within: std::time::Duration) -> bool {
        self.writer.as_ref().is_none_or(|w| w.flush(within))
    }

    /// The directory sessions are saved in, if any.
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.writer.as_ref().map(|w| w.persist().dir())
    }

    pub fn limits(&self) -> &SessionLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// A copy of a session, if it exists (does not count as a use).
    pub fn get(&self, key: &str) -> Option<Session> {
        self.lock().sessions.get(key).cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Summaries of the sessions `keep` accepts, most recently updated first, at most
    /// `limit`: read from the index, without copying any transcript.
    pub fn summaries(&self, limit: usize, keep: impl Fn(&Session) -> bool) -> Vec<Summary> {
        let inner = self.lock();
        inner
            .by_updated
            .iter()
            .filter_map(|(_, key)| inner.sessions.get(key))
            .filter(|s| keep(s))
            .take(limit)
            .map(Summary::of)
            .collect()
    }

    /// The most recently updated session `keep` accepts.
    pub fn find(&self, keep: impl Fn(&Session) -> bool) -> Option<Summary> {
        self.summaries(1, keep).pop()
    }

    /// True when a session of this key is in memory.
    pub fn contains(&self, key: &str) -> bool {
        self.lock().sessions.contains_key(key)
    }

    /// [`Store::ensure_as`] by the gateway itself (the highest rank, no connection).
    pub fn ensure(&self, key: &str) -> Result<Ensured, SessionError> {
        self.ensure_as(key, None)
    }

    /// Returns the session, creating it (and evicting the least recently used idle
    /// session of the creator's rank or lower when full). `created` tells whether it
    /// was new; `evicted` names the session that made room. An evicted session's file
    /// is deleted only when the creator's own connection had created it.
    pub fn ensure_as(
        &self,
        key: &str,
        creator: Option<Creator<'_>>,
    ) -> Result<Ensured, SessionError> {
        let rank = creator.map_or(Creator::ADMIN, |c| c.rank);
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(s) = inner.sessions.get_mut(key) {
            s.last_used = tick;
            return Ok(Ensured {
                session: s.clone(),
                created: false,
                evicted: None,
            });
        }
        let mut evicted = None;
        let mut forget_file = false;
        if inner.sessions.len() >= self.limits.max_sessions {
            let victim = inner
                .sessions
                .values()
                .filter(|s| !s.busy && s.rank <= rank)
                .min_by_key(|s| s.last_used)
                .map(|s| s.key.clone());
            match victim {
                Some(v) => {
                    let gone = inner.remove(&v);
                    forget_file = gone.is_some_and(|g| {
                        g.owner.is_some() && g.owner.as_deref() == creator.map(|c| c.conn_id)
                    });
                    evicted = Some(v);
                }
                None => return Err(SessionError::Full(inner.sessions.len())),
            }
        }
        let mut s = Session::new(key.to_string(), crate::protocol::now_ms(), tick);
        s.rank = rank;
        s.owner = creator.map(|c| c.conn_id.to_string());
        inner.insert(s.clone());
        drop(inner);
        if let (Some(v), true) = (&evicted, forget_file) {
            self.save(v);
        }
        self.save(key);
        Ok(Ensured {
            session: s,
            created: true,
            evicted,
        })
    }

    /// Checks a message against the per-message bound before anything is stored.
    pub fn check_message(&self, text: &str) -> Result<(), SessionError> {
        if text.len() > self.limits.max_message_bytes {
            return Err(SessionError::TooLarge {
                size: text.len(),
                max: self.limits.max_message_bytes,
            });
        }
        Ok(())
    }

    /// Appends a message, dropping the oldest ones to stay within the per-session
    /// bounds. Returns the stored message.
    pub fn append(&self, key: &str, msg: Message) -> Result<Message, SessionError> {
        self.check_message(&msg.text)?;
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let s = inner
            .sessions
            .get_mut(key)
            .ok_or_else(|| SessionError::NotFound(key.to_string()))?;
        let old = s.updated_at;
        s.bytes += msg.bytes();
        s.messages.push_back(msg.clone());
        while s.messages.len() > self.limits.max_messages
            || (s.bytes > self.limits.max_session_bytes && s.messages.len() > 1)
        {
            if let Some(old) = s.messages.pop_front() {
                s.bytes -= old.bytes();
                s.dropped += 1;
            }
        }
        s.updated_at = crate::protocol::now_ms();
        s.last_used = tick;
        inner.reindex(key, old);
        drop(inner);
        self.save(key);
        Ok(msg)
    }

    /// Applies `f` to an existing session.
    pub fn update<T>(
        &self,
        key: &str,
        f: impl FnOnce(&mut Session) -> T,
    ) -> Result<T, SessionError> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let s = inner
            .sessions
            .get_mut(key)
            .ok_or_else(|| SessionError::NotFound(key.to_string()))?;
        s.last_used = tick;
        let old = s.updated_at;
        let out = f(s);
        inner.reindex(key, old);
        drop(inner);
        self.save(key);
        Ok(out)
    }

    /// Marks a session busy (a run started) or idle; false when it was already busy.
    pub fn set_busy(&self, key: &str, busy: bool) -> bool {
        let mut inner = self.lock();
        match inner.sessions.get_mut(key) {
            Some(s) if busy && s.busy => false,
            Some(s) => {
                s.busy = busy;
                true
            }
            None => !busy,
        }
    }

    /// Whether `key` still holds the session instance `session_id` (not deleted, reset
    /// or recreated since): a run acts on the instance it started in.
    pub fn is_instance(&self, key: &str, session_id: &str) -> bool {
        self.lock()
            .sessions
            .get(key)
            .is_some_and(|s| s.session_id == session_id)
    }

    /// Clears the transcript and gives the session a new id (`sessions.reset`).
    pub fn reset(&self, key: &str) -> Result<Session, SessionError> {
        self.update(key, |s| {
            s.messages.clear();
            s.bytes = 0;
            s.dropped = 0;
            s.session_id = uuid::Uuid::new_v4().to_string();
            s.updated_at = crate::protocol::now_ms();
            s.clone()
        })
    }

    /// Keeps only the last `keep` messages (`sessions.compact`); returns how many went.
    pub fn compact(&self, key: &str, keep: usize) -> Result<usize, SessionError> {
        self.update(key, |s| {
            let mut removed = 0;
            while s.messages.len() > keep {
                if let Some(old) = s.messages.pop_front() {
                    s.bytes -= old.bytes();
                    s.dropped += 1;
                    removed += 1;
                }
            }
            if removed > 0 {
                s.updated_at = crate::protocol::now_ms();
            }
            removed
        })
    }

    pub fn delete(&self, key: &str) -> Result<Session, SessionError> {
        let gone = self
            .lock()
            .remove(key)
            .ok_or_else(|| SessionError::NotFound(key.to_string()))?;
        self.save(key);
        Ok(gone)
    }
}

/// The result of [`Store::ensure`].
#[derive(Debug, Clone)]
pub struct Ensured {
    pub session: Session,
    pub created: bool,
    pub evicted: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(max_sessions: usize, max_messages: usize, max_bytes: usize) -> Store {
        Store::new(SessionLimits {
            max_sessions,
            max_messages,
            max_session_bytes: max_bytes,
            max_message_bytes: 1000,
            ..Default::default()
        })
    }

    #[test]
    fn keys_are_canonical() {
        assert_eq!(canonical_key("main").unwrap(), MAIN_KEY);
        assert_eq!(canonical_key("agent:main:Main").unwrap(), MAIN_KEY);
        assert_eq!(canonical_key(" work ").unwrap(), "agent:main:work");
        assert!(matches!(
            canonical_key("agent:ops:main"),
            Err(SessionError::UnknownAgent(_))
        ));
        assert!(canonical_key("").is_err());
        assert!(canonical_key("a b").is_err());
        assert!(canonical_key(&"x".repeat(200)).is_err());
    }

    #[test]
    fn least_recently_used_idle_session_is_evicted() {
        let s = store(2, 10, 10_000);
        s.ensure("agent:main:a").unwrap();
        s.ensure("agent:main:b").unwrap();
        s.ensure("agent:main:a").unwrap(); // a used after b
        let e = s.ensure("agent:main:c").unwrap();
        assert_eq!(e.evicted.as_deref(), Some("agent:main:b"));
        assert!(s.get("agent:main:a").is_some() && s.get("agent:main:b").is_none());
        // A busy session is never evicted; when all are busy, creation is refused.
        assert!(s.set_busy("agent:main:a", true));
        assert!(!s.set_busy("agent:main:a", true));
        assert!(s.set_busy("agent:main:c", true));
        assert!(matches!(
            s.ensure("agent:main:d"),
            Err(SessionError::Full(2))
        ));
    }

    #[test]
    fn a_lower_scope_never_evicts_a_higher_scopes_session() {
        let s = store(2, 10, 10_000);
        let admin = Creator {
            conn_id: "admin",
            rank: Creator::ADMIN,
        };
        let writer = Creator {
            conn_id: "writer",
            rank: Creator::WRITE,
        };
        s.ensure_as("agent:main:a1", Some(admin)).unwrap();
        s.ensure_as("agent:main:w1", Some(writer)).unwrap();
        // The writer's own session goes, never the admin's.
        let e = s.ensure_as("agent:main:w2", Some(writer)).unwrap();
        assert_eq!(e.evicted.as_deref(), Some("agent:main:w1"));
        s.ensure_as("agent:main:a1", Some(admin)).unwrap(); // used after w2
        let e = s.ensure_as("agent:main:a2", Some(admin)).unwrap();
        assert_eq!(e.evicted.as_deref(), Some("agent:main:w2"));
        // Only admin sessions left: the writer is refused.
        assert!(matches!(
            s.ensure_as("agent:main:w3", Some(writer)),
            Err(SessionError::Full(2))
        ));
        assert!(s.get("agent:main:a1").is_some() && s.get("agent:main:a2").is_some());
    }

    #[test]
    fn transcripts_are_bounded_in_messages_and_bytes() {
        let s = store(4, 3, 10_000);
        s.ensure(MAIN_KEY).unwrap();
        for i in 0..5 {
            s.append(MAIN_KEY, Message::new("user", format!("m{i}"), None))
                .unwrap();
        }
        let got = s.get(MAIN_KEY).unwrap();
        let texts: Vec<&str> = got.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["m2", "m3", "m4"]);
        assert_eq!(got.dropped, 2);

        let s = store(4, 100, 400);
        s.ensure(MAIN_KEY).unwrap();
        for _ in 0..10 {
            s.append(MAIN_KEY, Message::new("user", "x".repeat(100), None))
                .unwrap();
        }
        let got = s.get(MAIN_KEY).unwrap();
        assert!(got.bytes <= 400, "{}", got.bytes);
        assert!(!got.messages.is_empty());
        assert!(matches!(
            s.append(MAIN_KEY, Message::new("user", "x".repeat(1001), None)),
            Err(SessionError::TooLarge { .. })
        ));
        assert!(matches!(
            s.append("agent:main:nope", Message::new("user", "x", None)),
            Err(SessionError::NotFound(_))
        ));
    }

    #[test]
    fn a_persisted_store_survives_a_restart_with_0600_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("clawdbot-sessions-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let limits = SessionLimits {
            max_sessions: 2,
            ..Default::default()
        };
        {
            let s = Store::open(limits.clone(), &dir).unwrap();
            s.ensure(MAIN_KEY).unwrap();
            s.append(MAIN_KEY, Message::new("user", "remember me", None))
                .unwrap();
            s.ensure("agent:main:gone").unwrap();
            s.delete("agent:main:gone").unwrap();
            s.ensure("agent:main:other").unwrap();
            s.update("agent:main:other", |x| x.label = Some("L".into()))
                .unwrap();
        }
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(files.len(), 2, "{files:?}");
        for f in &files {
            assert_eq!(f.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        // A leftover temporary file of an interrupted write is cleaned up, junk skipped.
        std::fs::write(dir.join(".tmp-1-1"), b"partial").unwrap();
        std::fs::write(dir.join("zz.json"), b"not json").unwrap();
        let s = Store::open(limits.clone(), &dir).unwrap();
        assert_eq!(s.len(), 2);
        let main = s.get(MAIN_KEY).unwrap();
        assert_eq!(main.messages[0].text, "remember me");
        assert_eq!(
            s.get("agent:main:other").unwrap().label.as_deref(),
            Some("L")
        );
        assert!(!dir.join(".tmp-1-1").exists());
        // Eviction keeps the evicted session's file (no connection of ours created
        // it): the least recently updated (main) leaves memory only.
        s.ensure("agent:main:third").unwrap();
        assert!(s.flush(std::time::Duration::from_secs(10)));
        assert_eq!(s.len(), 2);
        assert!(s.get(MAIN_KEY).is_none());
        // Three sessions, plus the unreadable file (skipped, left for inspection).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 4);
        // A connection's eviction of a session it created itself deletes its file.
        let me = Creator {
            conn_id: "c1",
            rank: Creator::ADMIN,
        };
        s.ensure_as("agent:main:mine", Some(me)).unwrap();
        s.ensure_as("agent:main:next", Some(me)).unwrap();
        let e = s.ensure_as("agent:main:last", Some(me)).unwrap();
        assert_eq!(e.evicted.as_deref(), Some("agent:main:mine"));
        assert!(s.flush(std::time::Duration::from_secs(10)));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 6);
        drop(s);
        let s = Store::open(limits, &dir).unwrap();
        assert_eq!(s.len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reset_compact_delete() {
        let s = store(4, 10, 10_000);
        let id = s.ensure(MAIN_KEY).unwrap().session.session_id;
        for i in 0..4 {
            s.append(MAIN_KEY, Message::new("user", format!("m{i}"), None))
                .unwrap();
        }
        assert_eq!(s.compact(MAIN_KEY, 2).unwrap(), 2);
        let reset = s.reset(MAIN_KEY).unwrap();
        assert!(reset.messages.is_empty() && reset.session_id != id);
        s.delete(MAIN_KEY).unwrap();
        assert!(matches!(s.delete(MAIN_KEY), Err(SessionError::NotFound(_))));
    }
}
