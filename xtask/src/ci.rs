//! `cargo xtask ci`: every check CI runs, stopping at the first failure.

use crate::process::{cargo, Failure};

/// Runs the format check, clippy, the test suite, the docs build and a short
/// benchmark smoke run, in that order.
pub fn run(args: &[String]) -> Result<(), Failure> {
    if let Some(extra) = args.first() {
        return Err(format!("`ci` takes no arguments, got `{extra}`").into());
    }

    cargo("fmt", &["fmt", "--all", "--check"], &[])?;
    cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo("test", &["test", "--workspace"], &[])?;
    cargo(
        "doc",
        &["doc", "--workspace", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    crate::bench::smoke()?;

    println!("==> ci passed");
    Ok(())
}
