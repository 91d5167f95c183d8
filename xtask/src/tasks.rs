//! The ordered task runner shared by `build`, `demo` and `test`.
//!
//! A task is a number, a name, the exact command line it runs (printed, and all that
//! `--dry-run` shows) and a step function. A task that runs one external program is a
//! [`Command`] value (`Plan::command`): the line printed and the process started come
//! from that one value, so the plan cannot say something else than what runs. A task
//! that runs several programs (`Plan::commands`) holds them as values the same way and
//! hands them to its step. Only in-process work (writing a file, probing a socket) is
//! described in words (`Plan::task`). The runner prints the plan, runs the steps in
//! order (a spinner on a terminal, plain lines otherwise), times each, stops at the first
//! failure, prints a summary table and always runs the cleanups that steps registered: after
//! success, after a failure, on Ctrl-C/SIGTERM (a handler turns them into a flag so the
//! runner regains control) and on panic (the cleanup list runs from `Drop`).
//!
//! [`Command`] (`tasks/command.rs`) is the xtask's one way to run a program, in a plan
//! or not (bench included). A command a step runs that its plan line does not show (a
//! probe such as `docker inspect`, a fallback) is printed as its own `$` line and listed
//! in [`Outcome::unplanned`]. The plan declares such commands beside the task
//! ([`Plan::probes`]; `<word>` in a declared argument stands for a value known only at
//! run time), so `--dry-run` lists every command a run may start, and a run lists in
//! [`Outcome::undeclared`] any it started that the dry run did not show.

use std::cell::RefCell;
use std::fmt::Display;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};

mod command;
pub use command::{remember_exe, tail, tail_text, Command};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Only async-signal-safe work here: set a flag. Children in the same process group got
    // the signal too and stop; the runner then runs the cleanups.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Turns SIGINT and SIGTERM into a flag checked by the runner and by waiting loops.
pub fn install_interrupt_handler() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing a handler that only stores to an atomic is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// True once Ctrl-C or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Fails when the run was interrupted (for polling loops inside steps).
pub fn check_interrupted() -> Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleeps in small slices, failing early on Ctrl-C.
pub fn sleep_interruptible(total: Duration) -> Result<()> {
    let end = Instant::now() + total;
    while Instant::now() < end {
        check_interrupted()?;
        std::thread::sleep(Duration::from_millis(100).min(end - Instant::now()));
    }
    check_interrupted()
}

/// True when progress may use a spinner and color: stderr is a terminal and we are not
/// in CI (`clawdbot_facts::ci::in_ci`).
pub fn fancy_output() -> bool {
    std::io::stderr().is_terminal() && !crate::defaults::ci::in_ci()
}

/// The step running on this thread: its plan line and the commands it ran that the
/// line does not show.
struct Running {
    line: String,
    probes: Vec<String>,
    unplanned: Vec<String>,
    undeclared: Vec<String>,
}

thread_local! {
    static RUNNING: RefCell<Option<Running>> = const { RefCell::new(None) };
}

/// Called by every [`Command`] as it starts: inside a plan step, a command its plan line
/// does not show word for word is printed as a `$` line of its own (plain output) and
/// listed in [`Outcome::unplanned`], so the log shows every external command a step
/// runs. Outside a plan, nothing.
fn trace(command: &Command) {
    RUNNING.with(|running| {
        if let Some(step) = running.borrow_mut().as_mut() {
            let shown = command.to_string();
            if !step.line.contains(&shown) {
                if !fancy_output() {
                    println!("    $ {shown}");
                }
                if !step.probes.iter().any(|p| matches_declared(p, &shown)) {
                    step.undeclared.push(shown.clone());
                }
                step.unplanned.push(shown);
            }
        }
    });
}

/// True when `shown` is the declared command `declared`, where `<…>` (a container id,
/// a path made at run time) stands for any text without a space, and a declared line ending in ` …`
/// for any further arguments.
fn matches_declared(declared: &str, shown: &str) -> bool {
    let (declared, open_end) = match declared.strip_suffix(" …") {
        Some(d) => (d, true),
        None => (declared, false),
    };
    let mut pattern = String::from("^");
    let mut rest = declared;
    while let Some(open) = rest.find('<') {
        match rest[open..].find('>') {
            Some(len) if len > 1 && !rest[open + 1..open + len].contains(' ') => {
                pattern.push_str(&regex::escape(&rest[..open]));
                pattern.push_str(r"\S+");
                rest = &rest[open + len + 1..];
            }
            _ => {
                pattern.push_str(&regex::escape(&rest[..=open]));
                rest = &rest[open + 1..];
            }
        }
    }
    pattern.push_str(&regex::escape(rest));
    pattern.push_str(if open_end { "( .*)?$" } else { "$" });
    regex::Regex::new(&pattern).is_ok_and(|re| re.is_match(shown))
}

/// Runs `f` and returns with its result every command it started (as shown), in order:
/// what a test compares with a task's dry run. Prints nothing of its own.
#[cfg(test)]
pub fn recorded<T>(f: impl FnOnce() -> T) -> (T, Vec<String>) {
    RUNNING.with(|r| {
        *r.borrow_mut() = Some(Running {
            line: String::new(),
            probes: Vec::new(),
            unplanned: Vec::new(),
            undeclared: Vec::new(),
        })
    });
    let result = f();
    let ran = RUNNING.with(|r| r.borrow_mut().take());
    (result, ran.map(|r| r.unplanned).unwrap_or_default())
}

/// What `--dry-run` prints for a task that runs its commands without a plan (`audit`,
/// `sbom`): each command, with when it runs.
pub fn dry_run_text(title: &str, commands: &[(Command, &str)]) -> String {
    let mut out = format!("{title}: the commands it runs\n");
    for (command, when) in commands {
        out.push_str(&format!("      $ {command}"));
        if !when.is_empty() {
            out.push_str(&format!("  ({when})"));
        }
        out.push('\n');
    }
    out.push_str("(dry run: nothing was run)\n");
    out
}

/// Between the commands of one task in a plan: each on its own `$` line.
const COMMAND_SEPARATOR: &str = "\n      $ ";

type StepFn<C> = Box<dyn FnOnce(&mut C, &mut Step) -> Result<()>>;

/// One task of a plan.
pub struct Task<C> {
    pub name: String,
    pub command: String,
    /// Commands the step may run beyond its plan line (shown by `--dry-run` only).
    pub probes: Vec<String>,
    run: StepFn<C>,
}

impl<C> Task<C> {
    pub fn new(
        name: impl Into<String>,
        command: impl Into<String>,
        run: impl FnOnce(&mut C, &mut Step) -> Result<()> + 'static,
    ) -> Task<C> {
        Task {
            name: name.into(),
            command: command.into(),
            probes: Vec::new(),
            run: Box::new(run),
        }
    }
}

struct Cleanup {
    name: String,
    command: String,
    run: Box<dyn FnOnce() -> Result<()>>,
}

/// Cleanups registered by steps; run newest first, exactly once, from `run_all` or `Drop`.
#[derive(Default)]
pub struct Cleanups {
    items: Vec<Cleanup>,
    rows: Vec<Row>,
}

impl Cleanups {
    fn run_all(&mut self, fancy: bool) {
        while let Some(c) = self.items.pop() {
            let start = Instant::now();
            let label = format!("cleanup: {}", c.name);
            if !fancy {
                println!("[cleanup] {}\n    $ {}", c.name, c.command);
            }
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(c.run));
            let secs = start.elapsed().as_secs_f64();
            let status = match result {
                Ok(Ok(())) => Status::Ok,
                Ok(Err(e)) => {
                    eprintln!("    cleanup {} failed: {e:#}", c.name);
                    Status::Failed
                }
                Err(_) => Status::Failed,
            };
            if fancy {
                println!(
                    "{} [cleanup] {} ({secs:.1}s)  $ {}",
                    status.styled_mark(),
                    c.name,
                    c.command
                );
            } else {
                println!("    {} ({secs:.1}s)", status.word());
            }
            self.rows.push(Row {
                number: 0,
                name: label,
                status,
                seconds: secs,
            });
        }
    }
}

impl Drop for Cleanups {
    fn drop(&mut self) {
        // Reached with items left only when a step panicked.
        if !self.items.is_empty() {
            eprintln!("running cleanups after a panic");
            self.run_all(false);
        }
    }
}

/// What a step can do besides its work: print notes and register cleanups.
pub struct Step<'a> {
    bar: Option<&'a ProgressBar>,
    cleanups: &'a mut Cleanups,
}

impl Step<'_> {
    /// Prints an indented note under the task line (above the spinner on a terminal).
    pub fn note(&self, msg: impl Display) {
        let text = msg
            .to_string()
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        match self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    /// Registers a cleanup that runs after the plan, whatever happens.
    pub fn on_cleanup(
        &mut self,
        name: impl Into<String>,
        command: impl Into<String>,
        run: impl FnOnce() -> Result<()> + 'static,
    ) {
        self.cleanups.items.push(Cleanup {
            name: name.into(),
            command: command.into(),
            run: Box::new(run),
        });
    }

    /// Updates the spinner's message (no-op without a terminal).
    pub fn progress(&self, msg: impl Display) {
        if let Some(bar) = self.bar {
            bar.set_message(msg.to_string());
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed,
    NotRun,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "FAILED",
            Status::NotRun => "not run",
        }
    }
    /// The mark, colored on a terminal unless `NO_COLOR` is set.
    fn styled_mark(self) -> String {
        if std::env::var_os("NO_COLOR").is_some() || !fancy_output() {
            return self.mark().to_string();
        }
        let style = match self {
            Status::Ok => console::Style::new().green(),
            Status::Failed => console::Style::new().red().bold(),
            Status::NotRun => console::Style::new().dim(),
        };
        style.force_styling(true).apply_to(self.mark()).to_string()
    }

    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "ok  ",
            Status::Failed => "FAIL",
            Status::NotRun => "--  ",
        }
    }
}

/// One line of the summary table.
#[derive(Debug, Clone)]
pub struct Row {
    pub number: usize,
    pub name: String,
    pub status: Status,
    pub seconds: f64,
}

/// Result of a run.
#[derive(Debug)]
pub struct Outcome {
    pub rows: Vec<Row>,
    /// Commands steps ran that their plan line does not show: (step number, command).
    pub unplanned: Vec<(usize, String)>,
    /// Of those, the ones the plan did not declare either ([`Plan::probes`]): commands
    /// a dry run would not have shown (a test keeps this empty).
    pub undeclared: Vec<(usize, String)>,
    pub error: Option<anyhow::Error>,
    pub interrupted: bool,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.rows.iter().all(|r| r.status == Status::Ok)
    }

    /// Exit code: 0 green, 130 interrupted, 1 otherwise.
    pub fn exit_code(&self) -> std::process::ExitCode {
        if self.interrupted {
            std::process::ExitCode::from(130)
        } else if self.ok() {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(1)
        }
    }
}

/// An ordered list of tasks plus the cleanups they may register (listed for `--dry-run`).
pub struct Plan<C> {
    pub title: String,
    tasks: Vec<Task<C>>,
    planned_cleanups: Vec<(String, String)>,
    summary: bool,
}

impl<C> Plan<C> {
    pub fn new(title: impl Into<String>) -> Plan<C> {
        Plan {
            title: title.into(),
            tasks: Vec::new(),
            planned_cleanups: Vec::new(),
            summary: true,
        }
    }

    /// A task whose step does more than run one program; `description` says what, with
    /// the commands it runs.
    pub fn task(
        &mut self,
        name: impl Into<String>,
        description: impl Into<String>,
        run: impl FnOnce(&mut C, &mut Step) -> Result<()> + 'static,
    ) -> &mut Self {
        self.tasks.push(Task::new(name, description, run));
        self
    }

    /// A task that runs exactly `command` ([`Command::stream`]); the plan prints it.
    pub fn command(&mut self, name: impl Into<String>, command: Command) -> &mut Self {
        let shown = command.to_string();
        self.tasks
            .push(Task::new(name, shown, move |_, _| command.stream()));
        self
    }

    /// A task that runs several commands, with in-process work between them (writing a
    /// file, reading an output): the plan prints every command, and the step receives
    /// exactly those values to run, so the two cannot differ.
    pub fn commands(
        &mut self,
        name: impl Into<String>,
        commands: Vec<Command>,
        run: impl FnOnce(&mut C, &mut Step, &[Command]) -> Result<()> + 'static,
    ) -> &mut Self {
        let shown = commands
            .iter()
            .map(Command::to_string)
            .collect::<Vec<_>>()
            .join(COMMAND_SEPARATOR);
        self.tasks.push(Task::new(name, shown, move |ctx, step| {
            run(ctx, step, &commands)
        }));
        self
    }

    /// Declares the commands the last task's step may run beyond its plan line (probes,
    /// fallbacks, what a failure collects), so that the dry run lists them. A declared
    /// argument `<word>` stands for a value known only at run time.
    pub fn probes(&mut self, commands: impl IntoIterator<Item = Command>) -> &mut Self {
        if let Some(task) = self.tasks.last_mut() {
            // Placeholders are shown bare, not quoted as shell words.
            let quoted = regex::Regex::new("'(<[^'\\s]+>|…)'").expect("a valid pattern");
            task.probes.extend(
                commands
                    .into_iter()
                    .map(|c| quoted.replace_all(&c.to_string(), "$1").into_owned()),
            );
        }
        self
    }

    /// Declares a cleanup a task will register, so the plan can show it.
    pub fn planned_cleanup(
        &mut self,
        name: impl Into<String>,
        command: impl Into<String>,
    ) -> &mut Self {
        self.planned_cleanups.push((name.into(), command.into()));
        self
    }

    /// Total number of numbered steps: tasks, the summary and (if any) the cleanup.
    pub fn step_count(&self) -> usize {
        self.tasks.len() + 1 + usize::from(!self.planned_cleanups.is_empty())
    }

    /// The plan as text: every step with its number, name and exact command.
    pub fn render(&self) -> String {
        let total = self.step_count();
        let mut out = format!("{} ({} steps)\n", self.title, total);
        for (i, t) in self.tasks.iter().enumerate() {
            out.push_str(&format!(
                "{:>2}. {}\n      $ {}\n",
                i + 1,
                t.name,
                t.command
            ));
            // One the plan line shows already is not repeated.
            for probe in t.probes.iter().filter(|p| !t.command.contains(p.as_str())) {
                out.push_str(&format!("      $ {probe}  (as needed)\n"));
            }
        }
        out.push_str(&format!(
            "{:>2}. summary\n      (table of step, result, seconds)\n",
            self.tasks.len() + 1
        ));
        for (name, command) in &self.planned_cleanups {
            out.push_str(&format!(
                "{:>2}. cleanup: {name} (always, also after a failure or Ctrl-C)\n      $ {command}\n",
                total
            ));
        }
        out
    }

    /// Runs every task in order with `ctx`, then the cleanups, then prints the summary.
    pub fn run(self, ctx: &mut C) -> Outcome {
        let fancy = fancy_output();
        let total = self.step_count();
        println!("==> {} ({total} steps)", self.title);
        let mut cleanups = Cleanups::default();
        let mut rows = Vec::new();
        let mut unplanned_all = Vec::new();
        let mut undeclared_all = Vec::new();
        let mut error = None;
        let mut tasks = self.tasks.into_iter().enumerate();
        for (i, task) in tasks.by_ref() {
            let number = i + 1;
            let label = format!("[{number}/{total}] {}", task.name);
            let bar = fancy.then(|| {
                let bar = ProgressBar::new_spinner();
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(format!(
                    "{label}  $ {}",
                    task.command.replace(COMMAND_SEPARATOR, "; ")
                ));
                bar.enable_steady_tick(Duration::from_millis(100));
                bar
            });
            if !fancy {
                println!(
                    "{label}\n    $ {}",
                    task.command.replace(COMMAND_SEPARATOR, "\n    $ ")
                );
            }
            let start = Instant::now();
            let result = {
                let mut step = Step {
                    bar: bar.as_ref(),
                    cleanups: &mut cleanups,
                };
                RUNNING.with(|r| {
                    *r.borrow_mut() = Some(Running {
                        line: task.command.clone(),
                        probes: task.probes.clone(),
                        unplanned: Vec::new(),
                        undeclared: Vec::new(),
                    })
                });
                let result = (task.run)(ctx, &mut step);
                let ran = RUNNING.with(|r| r.borrow_mut().take());
                let ran = ran.map(|r| (r.unplanned, r.undeclared));
                (result, ran.unwrap_or_default())
            };
            let (result, (unplanned, undeclared)) = result;
            let seconds = start.elapsed().as_secs_f64();
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let result = result.and_then(|()| check_interrupted());
            let status = if result.is_ok() {
                Status::Ok
            } else {
                Status::Failed
            };
            if fancy {
                println!(
                    "{} {label} ({seconds:.1}s)  $ {}",
                    status.styled_mark(),
                    task.command
                );
            } else {
                println!("    {} ({seconds:.1}s)", status.word());
            }
            rows.push(Row {
                number,
                name: task.name,
                status,
                seconds,
            });
            unplanned_all.extend(unplanned.into_iter().map(|c| (number, c)));
            undeclared_all.extend(undeclared.into_iter().map(|c| (number, c)));
            if let Err(e) = result {
                eprintln!("error: step {number} ({}) failed: {e:#}", rows[i].name);
                error = Some(e);
                break;
            }
        }
        for (i, task) in tasks {
            rows.push(Row {
                number: i + 1,
                name: task.name,
                status: Status::NotRun,
                seconds: 0.0,
            });
        }
        cleanups.run_all(fancy);
        for mut row in std::mem::take(&mut cleanups.rows) {
            row.number = total;
            rows.push(row);
        }
        let outcome = Outcome {
            rows,
            unplanned: unplanned_all,
            undeclared: undeclared_all,
            error,
            interrupted: interrupted(),
        };
        if self.summary {
            if !outcome.unplanned.is_empty() {
                println!("\ncommands the steps ran beyond their plan lines:");
                for (number, command) in &outcome.unplanned {
                    let missing = outcome
                        .undeclared
                        .iter()
                        .any(|(n, c)| n == number && c == command);
                    let mark = if missing { "  (not in --dry-run)" } else { "" };
                    println!("  step {number}: $ {command}{mark}");
                }
            }
            println!("\n{}", summary_table(&outcome.rows));
            println!(
                "{}: {}",
                self.title,
                if outcome.ok() {
                    "all steps passed"
                } else if outcome.interrupted {
                    "interrupted (cleanups ran)"
                } else {
                    "FAILED"
                }
            );
        }
        outcome
    }
}

/// The summary table: step, result, seconds.
pub fn summary_table(rows: &[Row]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "{:>3}  {:<width$}  {:<7}  {:>7}\n",
        "#", "step", "result", "seconds"
    );
    for r in rows {
        out.push_str(&format!(
            "{:>3}  {:<width$}  {:<7}  {:>7.2}\n",
            r.number,
            r.name,
            r.status.word(),
            r.seconds
        ));
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    #[test]
    fn stops_at_first_failure_and_still_runs_cleanups_newest_first() {
        let log = Rc::new(RefCell::new(Vec::<String>::new()));
        let mut plan: Plan<Vec<String>> = Plan::new("t");
        let l1 = log.clone();
        plan.task("one", "echo 1", move |ctx, step| {
            ctx.push("one".into());
            let l = l1.clone();
            step.on_cleanup("c1", "rm a", move || {
                l.borrow_mut().push("c1".into());
                Ok(())
            });
            Ok(())
        });
        let l2 = log.clone();
        plan.task("two", "false", move |ctx, step| {
            ctx.push("two".into());
            let l = l2.clone();
            step.on_cleanup("c2", "rm b", move || {
                l.borrow_mut().push("c2".into());
                Ok(())
            });
            bail!("boom")
        });
        plan.task("three", "echo 3", |ctx, _| {
            ctx.push("three".into());
            Ok(())
        });
        plan.planned_cleanup("c", "rm");
        let mut ctx = Vec::new();
        let outcome = plan.run(&mut ctx);
        assert_eq!(ctx, ["one", "two"]);
        assert_eq!(*log.borrow(), ["c2", "c1"]);
        assert!(!outcome.ok());
        let statuses: Vec<_> = outcome.rows.iter().map(|r| r.status).collect();
        assert_eq!(
            statuses,
            [
                Status::Ok,
                Status::Failed,
                Status::NotRun,
                Status::Ok,
                Status::Ok
            ]
        );
        assert_eq!(outcome.rows[3].number, 5);
        assert_eq!(format!("{:#}", outcome.error.unwrap()), "boom");
    }

    #[test]
    fn cleanups_run_when_a_step_panics() {
        let log = Rc::new(RefCell::new(Vec::<String>::new()));
        let l = log.clone();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let mut plan: Plan<()> = Plan::new("p");
            plan.task("panics", "x", move |_, step| {
                let l = l.clone();
                step.on_cleanup("c", "rm", move || {
                    l.borrow_mut().push("cleaned".into());
                    Ok(())
                });
                panic!("step panicked");
            });
            plan.run(&mut ());
        }));
        assert!(result.is_err());
        assert_eq!(*log.borrow(), ["cleaned"]);
    }

    #[test]
    fn plan_render_lists_every_step_with_its_command() {
        let mut plan: Plan<()> = Plan::new("demo");
        plan.task("preflight", "docker version", |_, _| Ok(()));
        plan.task("up", "docker compose up -d", |_, _| Ok(()));
        plan.planned_cleanup("down", "docker compose down -v");
        let text = plan.render();
        assert!(text.starts_with("demo (4 steps)"), "{text}");
        assert!(
            text.contains(" 1. preflight\n      $ docker version"),
            "{text}"
        );
        assert!(text.contains(" 3. summary"), "{text}");
        assert!(text.contains(" 4. cleanup: down"), "{text}");
        assert!(text.contains("$ docker compose down -v"), "{text}");
    }

    #[test]
    fn a_command_shows_what_it_runs() {
        let c = Command::cargo(&["clippy", "--", "-D", "warnings"]).env("RUSTFLAGS", "-C x=1");
        assert_eq!(
            c.to_string(),
            "RUSTFLAGS='-C x=1' cargo clippy -- -D warnings"
        );
        assert_eq!(
            Command::xtask(&["verify", "--project", "a b", "it's"]).to_string(),
            "cargo xtask verify --project 'a b' 'it'\\''s'"
        );
        // What runs is the displayed program with the displayed arguments.
        let c =
            Command::program("sh", &["-c", "printf '%s|' \"$0\" \"$X\"", "arg"]).env("X", "y z");
        let out = c.capture().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "arg|y z|");
    }

    #[test]
    fn a_command_task_fails_with_the_install_hint_when_the_program_is_missing() {
        let mut plan: Plan<()> = Plan::new("t");
        plan.command(
            "missing",
            Command::program("clawdbot-no-such-tool", &["x"]).install_hint("apt-get install it"),
        );
        plan.command("ok", Command::program("true", &[]));
        assert!(
            plan.render().contains("$ clawdbot-no-such-tool x\n"),
            "{}",
            plan.render()
        );
        let outcome = plan.run(&mut ());
        let err = format!("{:#}", outcome.error.unwrap());
        assert_eq!(
            err,
            "clawdbot-no-such-tool is not installed (apt-get install it)"
        );
        assert_eq!(outcome.rows[1].status, Status::NotRun);
    }

    #[test]
    fn a_commands_task_prints_every_command_and_runs_those_values() {
        let mut plan: Plan<Vec<String>> = Plan::new("t");
        let planned = vec![
            Command::program("sh", &["-c", "printf one"]),
            Command::program("printf", &["two 2"]),
        ];
        plan.commands("pair", planned, |ctx, _, commands| {
            for c in commands {
                let out = c.capture()?;
                ctx.push(String::from_utf8_lossy(&out.stdout).into_owned());
            }
            Ok(())
        });
        let text = plan.render();
        assert!(
            text.contains(" 1. pair\n      $ sh -c 'printf one'\n      $ printf 'two 2'\n"),
            "{text}"
        );
        let mut ran = Vec::new();
        assert!(plan.run(&mut ran).ok());
        assert_eq!(ran, ["one", "two 2"]);
    }

    #[test]
    fn the_dry_run_lists_every_command_a_real_run_starts() {
        let mut plan: Plan<()> = Plan::new("t");
        let planned = Command::program("true", &["planned"]);
        plan.task("probing", planned.to_string(), move |_, _| {
            planned.capture()?;
            // A probe whose argument is known only now, and one with more words.
            let id = std::process::id().to_string();
            Command::program("echo", &["probe", &id]).capture()?;
            Command::program("echo", &["tail", "a", "b"]).capture()?;
            Ok(())
        });
        plan.probes([
            Command::program("echo", &["probe", "<pid>"]),
            Command::program("echo", &["tail", "…"]),
        ]);
        plan.command("one", Command::program("true", &["x"]));
        let dry = plan.render();
        assert!(
            dry.contains(" 1. probing\n      $ true planned\n      $ echo probe <pid>  (as needed)\n      $ echo tail …  (as needed)\n"),
            "{dry}"
        );
        let outcome = plan.run(&mut ());
        assert!(outcome.ok());
        // Every command of the run is in the dry run; the probes as declared.
        assert_eq!(outcome.unplanned.len(), 2, "{:?}", outcome.unplanned);
        assert_eq!(outcome.undeclared, []);
    }

    #[test]
    fn declared_probes_match_word_for_word_with_placeholders() {
        assert!(matches_declared(
            "docker inspect <id>",
            "docker inspect abc"
        ));
        assert!(!matches_declared(
            "docker inspect <id>",
            "docker inspect a b"
        ));
        assert!(!matches_declared("docker inspect <id>", "docker rm abc"));
        assert!(matches_declared("docker logs …", "docker logs --tail 5 c"));
        assert!(!matches_declared("docker logs …", "docker ps"));
        assert!(matches_declared("true", "true"));
    }

    #[test]
    fn summary_table_aligns_columns() {
        let t = summary_table(&[
            Row {
                number: 1,
                name: "preflight".into(),
                status: Status::Ok,
                seconds: 0.25,
            },
            Row {
                number: 2,
                name: "build".into(),
                status: Status::Failed,
                seconds: 12.0,
            },
        ]);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("preflight  ok"), "{t}");
        assert!(lines[2].contains("build      FAILED"), "{t}");
        assert!(lines[1].ends_with("0.25"), "{t}");
        assert!(lines[2].ends_with("12.00"), "{t}");
    }

    #[test]
    fn commands_a_step_runs_beyond_its_plan_line_are_traced() {
        let mut plan: Plan<()> = Plan::new("t");
        let planned = Command::program("true", &[]);
        plan.task("probe", planned.to_string(), move |_, _| {
            planned.capture()?;
            Command::program("sh", &["-c", "exit 0"]).capture()?;
            Ok(())
        });
        plan.command("one", Command::program("true", &["x"]));
        let outcome = plan.run(&mut ());
        assert!(outcome.ok());
        assert_eq!(outcome.unplanned, [(1, "sh -c 'exit 0'".to_string())]);
        assert_eq!(outcome.undeclared, outcome.unplanned);
        // Outside a plan nothing is recorded (and nothing breaks).
        Command::program("true", &[]).capture().unwrap();
    }
}
