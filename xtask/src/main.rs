//! Project automation for Vigil, run as `cargo xtask <command>` from anywhere in the
//! workspace. Each command lives in its own module with a `run` function.

mod bench;
mod ci;
mod demo;
mod process;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [arguments]

commands:
  ci                   format check, clippy, tests, docs and a benchmark smoke run, as CI runs them
  bench [persistence|processor] [--smoke]
                       run the benchmarks (both when no name is given); --smoke runs a short
                       version in a debug build
  demo [arguments]     run the three-node demo; arguments go to vigil-demo (try --help)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();

    let result = match command.as_deref() {
        Some("ci") => ci::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("demo") => demo::run(&rest),
        Some("help" | "--help" | "-h") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}").into()),
        None => Err(format!("missing command\n\n{USAGE}").into()),
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("xtask: {}", failure.message);
            ExitCode::from(failure.exit_code)
        }
    }
}
