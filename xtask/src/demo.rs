//! `cargo xtask demo`: the three-node demo, built in release mode.

use crate::process::cargo;

/// Runs `vigil-demo`, passing `args` through.
pub fn run(args: &[String]) -> Result<(), String> {
    let mut cargo_args = vec![
        "run",
        "--release",
        "--package",
        "vigil-simnet",
        "--bin",
        "vigil-demo",
        "--",
    ];
    cargo_args.extend(args.iter().map(String::as_str));
    cargo("demo", &cargo_args, &[])
}
