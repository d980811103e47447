//! `vigil-demo`: a line of real LDK nodes in one process, each driven by Vigil's background
//! processor, paying through each other while the middle node restarts from disk.
//!
//! Run it with `cargo xtask demo` or `cargo run --release -p vigil-simnet --bin vigil-demo`;
//! `--help` lists the options. It prints progress on stderr and a summary on stdout, and
//! exits with 0 when every payment and check passed, 1 when the nodes could not start or a
//! payment or check failed, and 2 on bad arguments.

mod args;
mod progress;
mod report;
mod run;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(args::Command::Run(args)) => args,
        Ok(args::Command::Help) => {
            print!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match run::run(&args) {
        Ok(report) => {
            print!("{}", report::render(&report));
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("error: the demo could not set up its nodes: {error}");
            ExitCode::FAILURE
        }
    }
}
