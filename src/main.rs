//! `magpie`: the front door. Parses the command line, sets up logging, loads the config file and
//! hands each subcommand to the crate that does the work. Everything substantive lives in the
//! workspace crates; this binary only wires them together and turns their typed errors into
//! `anyhow` reports at the edge.

mod cmd;
mod config;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cmd::Cli::parse();
    // A server must survive clients that hang up; every other command writes to a pipe.
    if !matches!(cli.command, cmd::Command::Serve(_)) {
        restore_sigpipe();
    }
    init_logging(cli.global.verbose, cli.global.quiet);
    match cmd::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `magpie search … | head` should end quietly when `head` has read enough, as other Unix tools
/// do, instead of panicking on the failed write: Rust ignores SIGPIPE by default.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr so that `--json` output on stdout stays machine-readable.
fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,magpie=info",
        (false, 1) => "info",
        (false, 2) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("MAGPIE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in log files or CI output.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}
