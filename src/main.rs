use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = clawdbot::cli::Cli::parse();
    clawdbot::cli::run(cli)
}
