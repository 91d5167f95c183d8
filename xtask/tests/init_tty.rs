//! The interactive path in a real pseudo-terminal (tmux): a file that differs is shown as
//! a diff and the dialoguer prompt is answered both ways (overwrite, skip), plus "show the
//! full file" then quit. tmux missing: skipped loudly (fails under CI).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{have_tool, rendered, TempDir};

/// One private tmux server running `xtask init` in a pseudo-terminal.
struct Tty {
    socket: String,
    exit_file: PathBuf,
}

impl Tty {
    fn start(tag: &str, root: &Path, scratch: &TempDir) -> Tty {
        Tty::start_with(tag, root, scratch, "", "--only docker-compose.yml")
    }

    /// Runs `env -u CI <env> xtask init --root <root> <args>` in a fresh pty.
    fn start_with(tag: &str, root: &Path, scratch: &TempDir, env: &str, args: &str) -> Tty {
        let socket = format!("xtask-init-{tag}-{}", std::process::id());
        let exit_file = scratch.join("exit-code");
        // The shell line runs in the pty; CI is unset so the prompt is allowed.
        let script = format!(
            "env -u CI -u NO_COLOR {env} '{bin}' init --root '{root}' {args}; echo $? > '{exit}'; sleep 60",
            bin = env!("CARGO_BIN_EXE_xtask"),
            root = root.display(),
            exit = exit_file.display(),
        );
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "50",
            ])
            .arg(script)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .status()
            .expect("tmux")
            .success();
        assert!(ok, "tmux new-session failed");
        Tty { socket, exit_file }
    }

    fn screen(&self) -> String {
        self.capture(false)
    }

    /// The pane's text; with `escapes`, including the color escape sequences.
    fn capture(&self, escapes: bool) -> String {
        let mut args = vec!["-L", &self.socket, "capture-pane", "-p", "-S", "-200"];
        if escapes {
            args.push("-e");
        }
        let out = Command::new("tmux")
            .args(args)
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "timed out waiting for {needle:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &[&str]) {
        for key in keys {
            let ok = Command::new("tmux")
                .args(["-L", &self.socket, "send-keys", key])
                .status()
                .expect("tmux send-keys")
                .success();
            assert!(ok);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn exit_code(&self) -> i32 {
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&self.exit_file) {
                if let Ok(code) = text.trim().parse() {
                    return code;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "init did not finish; screen:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tty {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

const PROMPT: &str = "differs from the rendered file";

fn edited_project(tag: &str) -> (TempDir, String, String) {
    let dir = rendered(tag, "local");
    let good = dir.read("docker-compose.yml");
    let edited = good.replace("cap_drop:\n      - ALL", "cap_drop:\n      - NET_RAW");
    assert_ne!(good, edited);
    dir.write("docker-compose.yml", &edited);
    (dir, good, edited)
}

#[test]
fn tty_prompt_answered_overwrite() {
    if !have_tool("tmux", &["-V"]) {
        return;
    }
    let (dir, good, _) = edited_project("tty-over");
    let scratch = TempDir::new("tty-over-scratch");
    let tty = Tty::start("over", dir.path(), &scratch);
    let screen = tty.wait_for(PROMPT);
    assert!(
        screen.contains("-      - NET_RAW"),
        "diff shown first:\n{screen}"
    );
    // The default is "skip"; move up to "overwrite".
    tty.keys(&["Up", "Enter"]);
    assert_eq!(tty.exit_code(), 0, "{}", tty.screen());
    assert_eq!(dir.read("docker-compose.yml"), good);
    assert!(tty.screen().contains("1 updated"), "{}", tty.screen());
}

#[test]
fn tty_prompt_answered_skip() {
    if !have_tool("tmux", &["-V"]) {
        return;
    }
    let (dir, _, edited) = edited_project("tty-skip");
    let scratch = TempDir::new("tty-skip-scratch");
    let tty = Tty::start("skip", dir.path(), &scratch);
    tty.wait_for(PROMPT);
    tty.keys(&["Enter"]);
    assert_eq!(
        tty.exit_code(),
        1,
        "left different: exit 1\n{}",
        tty.screen()
    );
    assert_eq!(dir.read("docker-compose.yml"), edited);
    assert!(tty.screen().contains("1 skipped"), "{}", tty.screen());
}

#[test]
fn tty_prompt_show_full_file_then_quit() {
    if !have_tool("tmux", &["-V"]) {
        return;
    }
    let (dir, _, edited) = edited_project("tty-show");
    let scratch = TempDir::new("tty-show-scratch");
    let tty = Tty::start("show", dir.path(), &scratch);
    tty.wait_for(PROMPT);
    tty.keys(&["Down", "Enter"]);
    tty.wait_for("end of");
    tty.keys(&["Down", "Down", "Enter"]);
    assert_eq!(tty.exit_code(), 1, "{}", tty.screen());
    assert_eq!(dir.read("docker-compose.yml"), edited);
    assert!(tty.screen().contains("(quit)"), "{}", tty.screen());
}

#[test]
fn tty_diff_is_colored_unless_no_color() {
    if !have_tool("tmux", &["-V"]) {
        return;
    }
    for (tag, env, colored) in [("color", "", true), ("nocolor", "NO_COLOR=1", false)] {
        let (dir, _, _) = edited_project(&format!("tty-{tag}"));
        let scratch = TempDir::new(&format!("tty-{tag}-scratch"));
        let tty = Tty::start_with(tag, dir.path(), &scratch, env, "--check");
        assert_eq!(tty.exit_code(), 1, "{}", tty.screen());
        let raw = tty.capture(true);
        assert!(raw.contains("- NET_RAW"), "{raw}");
        assert_eq!(
            raw.contains('\u{1b}'),
            colored,
            "{tag}: escape sequences expected: {colored}\n{raw:?}"
        );
    }
}
