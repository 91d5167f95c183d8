//! The in-memory sessions store: one transcript per session key, bounded in sessions
//! (least recently used evicted first), in messages and in bytes per session.
//!
//! Sessions belong to this process (there is no replication; see docs/production.md).
//! Keys are canonical OpenClaw session keys `agent:<agentId>:<name>`; the only agent is
//! [`AGENT_ID`]. A bare name (`main`) means `agent:main:<name>`.

mod limits;
pub mod persist;

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

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
        }
    }
}

/// The store. Every method takes the lock briefly; nothing awaits while holding it.
#[derive(Debug)]
pub struct Store {
    limits: SessionLimits,
    inner: Mutex<Inner>,
    /// `--sessions-dir`: where sessions are saved (None: memory only, the default).
    persist: Option<persist::Persist>,
    /// Serializes saves, so the last snapshot of a session is the last one written.
    saving: Mutex<()>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    tick: u64,
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
            inner: Mutex::new(Inner::default()),
            persist: None,
            saving: Mutex::new(()),
        }
    }

    /// A store saved in `dir`, loaded from what is there (at most `max_sessions`, the
    /// most recently updated; each within the per-session bounds).
    pub fn open(limits: SessionLimits, dir: &std::path::Path) -> anyhow::Result<Store> {
        let p = persist::Persist::open(dir)?;
        let mut loaded = p.load((limits.max_session_bytes as u64).saturating_mul(4) + 64 * 1024);
        loaded.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
        let mut inner = Inner::default();
        for (i, mut s) in loaded.into_iter().enumerate() {
            if i >= limits.max_sessions
                || canonical_key(&s.key).ok().as_deref() != Some(s.key.as_str())
            {
                p.remove(&s.key);
                continue;
            }
            s.bytes = s.messages.iter().map(Message::bytes).sum();
            while s.messages.len() > limits.max_messages
                || (s.bytes > limits.max_session_bytes && s.messages.len() > 1)
            {
                if let Some(old) = s.messages.pop_front() {
                    s.bytes -= old.bytes();
                    s.dropped += 1;
                }
            }
            inner.sessions.insert(s.key.clone(), s);
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
        Ok(Store {
            limits,
            inner: Mutex::new(inner),
            persist: Some(p),
            saving: Mutex::new(()),
        })
    }

    /// Saves the current state of `key` (or removes its file when it is gone).
    fn save(&self, key: &str) {
        let Some(p) = &self.persist else { return };
        let _saving = lock(&self.saving);
        match self.get(key) {
            Some(s) => {
                if let Err(e) = p.save(&s) {
                    tracing::warn!(error = format!("{e:#}"), "session not saved");
                }
            }
            None => p.remove(key),
        }
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

    /// All sessions, most recently updated first.
    pub fn list(&self) -> Vec<Session> {
        let mut all: Vec<Session> = self.lock().sessions.values().cloned().collect();
        all.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(&b.key)));
        all
    }

    /// Returns the session, creating it (and evicting the least recently used idle
    /// session when full). `created` tells whether it was new; `evicted` names the
    /// session that made room.
    pub fn ensure(&self, key: &str) -> Result<Ensured, SessionError> {
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
        if inner.sessions.len() >= self.limits.max_sessions {
            let victim = inner
                .sessions
                .values()
                .filter(|s| !s.busy)
                .min_by_key(|s| s.last_used)
                .map(|s| s.key.clone());
            match victim {
                Some(v) => {
                    inner.sessions.remove(&v);
                    evicted = Some(v);
                }
                None => return Err(SessionError::Full(inner.sessions.len())),
            }
        }
        let s = Session::new(key.to_string(), crate::protocol::now_ms(), tick);
        inner.sessions.insert(key.to_string(), s.clone());
        drop(inner);
        if let Some(v) = &evicted {
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
        let out = f(s);
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
            .sessions
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
            sessions_dir: None,
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
        // Eviction removes the evicted session's file too: the least recently updated
        // (main) goes.
        s.ensure("agent:main:third").unwrap();
        assert_eq!(s.len(), 2);
        assert!(s.get(MAIN_KEY).is_none());
        // Two sessions, plus the unreadable file (skipped, left for inspection).
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
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
