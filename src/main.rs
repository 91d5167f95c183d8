use clap::Parser;
/// Fast `memcpy`/`memmove`/`memcmp`/`bcmp` for the static musl build (see the crate).
use clawdbot_mem as _;

fn main() -> std::process::ExitCode {
    let cli = clawdbot::cli::Cli::parse();
    clawdbot::cli::run(cli)
}
