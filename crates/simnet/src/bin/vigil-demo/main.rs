//! `vigil-demo`: a line of real LDK nodes in one process, each driven by Vigil's background
//! processor, paying through each other while the middle node restarts from disk.
//!
//! Run it with `cargo xtask demo` or `cargo run --release -p vigil-simnet --bin vigil-demo`;
//! `--help` lists the options. It prints progress on stderr and a summary on stdout, and
//! exits with 0 when every payment and check passed, 1 when the nodes could not start or a
//! payment or check failed, and 2 on bad arguments.

/// Writes to stderr like `eprint!`, but ignores a failed write. Progress and errors are
/// for a person watching, and a reader that went away (`2>&1 | head -1`) must not turn a
/// run into a panic.
macro_rules! status {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
}

/// Writes a line to stderr like `eprintln!`, but ignores a failed write, as `status!` does.
macro_rules! status_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod args;
mod progress;
mod report;
mod run;

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(args::Command::Run(args)) => args,
        Ok(args::Command::Help) => {
            let _ = std::io::stdout().write_all(args::HELP.as_bytes());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            status_line!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match run::run(&args) {
        Ok(report) => {
            let _ = std::io::stdout().write_all(report::render(&report).as_bytes());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            status_line!("error: the demo could not set up its nodes: {error}");
            ExitCode::FAILURE
        }
    }
}
