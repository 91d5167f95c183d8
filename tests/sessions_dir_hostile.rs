//! A hostile sessions directory against the real gateway binary (`clawdbot serve
//! --sessions-dir`): planted links are never followed (no truncation, no chmod, no read
//! through them), a FIFO does not hang start-up, at most `--max-sessions` files (the
//! newest) are loaded and the others are set aside, never deleted; whatever the
//! gateway writes (text of control characters escaped six-fold) it loads again; and
//! `health`, `status`, `sessions.list` and `connect` read a large store without copying
//! it (peak memory stays put).

mod gateway_support;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gateway_support::*;
use serde_json::json;

fn temp_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("clawdbot-hostile-dir-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// The file name the gateway uses for `key` (its bytes in hex).
fn file_name(key: &str) -> String {
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex}.json")
}

/// A valid session file for `agent:main:<name>` holding one message `text`.
fn session_json(name: &str, text: &str) -> String {
    json!({
        "key": format!("agent:main:{name}"), "sessionId": format!("id-{name}"),
        "createdAt": 1, "updatedAt": 2, "bytes": 0, "dropped": 0,
        "messages": [{"id": "m1", "role": "user", "text": text, "timestamp": 1}]
    })
    .to_string()
}

fn write_session(dir: &Path, name: &str, text: &str, age_s: u64) -> PathBuf {
    let path = dir.join(file_name(&format!("agent:main:{name}")));
    std::fs::write(&path, session_json(name, text)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(age_s))
        .unwrap();
    path
}

async fn session_keys(server: &Server) -> Vec<String> {
    let mut ws = connected(&server.url()).await;
    let res = call(&mut ws, "l", "sessions.list", Some(json!({}))).await;
    assert_eq!(res["ok"], true, "{res}");
    let mut keys: Vec<String> = res["payload"]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap_or("").to_string())
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn planted_links_and_fifos_are_never_followed_nor_waited_on() {
    let dir = temp_dir("links");
    let outside = temp_dir("links-outside");
    // A file the gateway must not truncate, chmod or load through a link.
    let victim = outside.join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    symlink(&victim, dir.join(".write-test")).unwrap();
    let linked_session = outside.join("linked.json");
    std::fs::write(&linked_session, session_json("linked", "via a link")).unwrap();
    std::fs::set_permissions(&linked_session, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link_name = file_name("agent:main:linked");
    symlink(&linked_session, dir.join(&link_name)).unwrap();
    let fifo = dir.join(file_name("agent:main:fifo"));
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    write_session(&dir, "plain", "hello", 10);

    let started = Server::try_start_with_env(
        &["--sessions-dir", dir.to_str().unwrap()],
        &env_with_token(),
    );
    let server = match started {
        Ok(s) => s,
        Err((status, logs)) => panic!("start-up hung or failed ({status:?}): {logs}"),
    };
    let (status, _) = http_get(server.health, "/health").await;
    assert_eq!(status, 200);
    assert_eq!(session_keys(&server).await, ["agent:main:plain"]);
    // Nothing happened to what the links point to; the links and the FIFO are still there.
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    for f in [&victim, &linked_session] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{} was chmod'ed through a link", f.display());
    }
    assert!(std::fs::symlink_metadata(dir.join(&link_name)).is_ok());
    assert!(std::fs::symlink_metadata(&fifo).is_ok());
    let logs = server.logs();
    assert!(
        logs.contains("not a regular file"),
        "no reason logged for the link and the FIFO: {logs}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&outside);
}

#[tokio::test]
async fn only_the_newest_max_sessions_are_loaded_and_nothing_is_deleted() {
    let dir = temp_dir("excess");
    // s0 is the newest, s4 the oldest.
    for i in 0..5 {
        write_session(&dir, &format!("s{i}"), &format!("text {i}"), 100 * (i + 1));
    }
    std::fs::write(dir.join(file_name("agent:main:junk")), "not json").unwrap();
    let server = Server::start(&[
        "--sessions-dir",
        dir.to_str().unwrap(),
        "--max-sessions",
        "3",
    ]);
    assert_eq!(
        session_keys(&server).await,
        ["agent:main:s0", "agent:main:s1", "agent:main:s2"]
    );
    let logs = server.logs();
    assert!(logs.contains("beyond --max-sessions"), "{logs}");
    assert!(logs.contains("not a valid session file"), "{logs}");
    drop(server);
    // Every file is still there: the loaded ones as they were, the rest set aside.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    for (i, kept) in [(3, false), (4, false), (0, true), (1, true), (2, true)] {
        let name = file_name(&format!("agent:main:s{i}"));
        let want = if kept {
            name
        } else {
            format!("{name}.skipped")
        };
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_transcript_of_control_characters_survives_a_restart() {
    let dir = temp_dir("roundtrip");
    let dir_arg = dir.to_str().unwrap().to_string();
    let limits = [
        "--sessions-dir",
        &dir_arg,
        "--session-max-bytes",
        "65536",
        "--max-message-bytes",
        "65536",
    ];
    let mut server = Server::start(&limits);
    let mut ws = connected_writer(&server.url()).await;
    // Every byte escapes to six (`\u0001`): the file is about six times the transcript.
    let nasty = "\u{1}".repeat(65_000);
    for i in 0..2 {
        let (res, _, end) = chat_send(&mut ws, &format!("r{i}"), "main", &nasty).await;
        assert_eq!(res["ok"], true, "{res}");
        assert_eq!(end["state"], "final", "{end}");
    }
    let before = call(
        &mut ws,
        "h",
        "chat.history",
        Some(json!({"sessionKey": "main"})),
    )
    .await;
    drop(ws);
    let (status, _) = server.signal_and_wait(libc::SIGTERM, Duration::from_secs(10));
    assert!(status.success());

    let server = Server::start(&limits);
    let mut ws = connected(&server.url()).await;
    let after = call(
        &mut ws,
        "h",
        "chat.history",
        Some(json!({"sessionKey": "main"})),
    )
    .await;
    let texts = |v: &serde_json::Value| -> Vec<String> {
        v["payload"]["messages"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| m["content"][0]["text"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(texts(&before).iter().any(|t| t == &nasty), "{before}");
    assert_eq!(
        texts(&after),
        texts(&before),
        "the session did not survive the restart"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sessions of 8 messages of 32 000 characters each (the default bounds: 256 KiB).
const BIG_SESSIONS: usize = 96;

#[tokio::test]
async fn a_large_store_is_not_copied_by_health_status_list_or_connect() {
    let dir = temp_dir("big");
    let text = "a".repeat(32_000);
    for i in 0..BIG_SESSIONS {
        let name = format!("big{i}");
        let messages: Vec<serde_json::Value> = (0..8)
            .map(|m| json!({"id": format!("m{m}"), "role": "user", "text": text, "timestamp": 1}))
            .collect();
        let session = json!({
            "key": format!("agent:main:{name}"), "sessionId": format!("id-{name}"),
            "createdAt": 1, "updatedAt": 2 + i, "bytes": 0, "dropped": 0, "messages": messages
        });
        let path = dir.join(file_name(&format!("agent:main:{name}")));
        std::fs::write(&path, session.to_string()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let server = Server::start(&["--sessions-dir", dir.to_str().unwrap()]);
    let mut ws = connected(&server.url()).await;
    let res = call(&mut ws, "h0", "health", None).await;
    assert_eq!(res["payload"]["sessions"]["count"], BIG_SESSIONS, "{res}");
    let before = server.peak_rss_kib();
    // Several clients at once, each reading summaries of the whole store.
    let mut tasks = Vec::new();
    for c in 0..6 {
        let url = server.url();
        tasks.push(tokio::spawn(async move {
            let mut ws = connected(&url).await;
            for i in 0..5 {
                for method in ["health", "status", "sessions.list"] {
                    let res = call(
                        &mut ws,
                        &format!("{c}-{i}-{method}"),
                        method,
                        Some(json!({})),
                    )
                    .await;
                    assert_eq!(res["ok"], true, "{res}");
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let after = server.peak_rss_kib();
    // One copy of the store is 24 MiB: the peak must not grow by anything like it.
    assert!(
        after < before + 12 * 1024,
        "peak memory grew from {before} KiB to {after} KiB: the store was copied"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
