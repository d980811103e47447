//! `cargo xtask demo`: the three-node demo, built in release mode.

use std::process::Command;

use crate::process::{self, project_root, Failure};

/// Runs `vigil-demo`, passing `args` through.
///
/// # Errors
///
/// Returns a [`Failure`] with the demo's exit code when the build or the demo fails.
pub fn run(args: &[String]) -> Result<(), Failure> {
    process::run("demo", demo_command(args)?)
}

/// Builds the `cargo run` command of the demo. It runs in the caller's working directory,
/// not the project root, so that a relative `--data-dir` names the directory the caller
/// means.
fn demo_command(args: &[String]) -> Result<Command, Failure> {
    let working_dir = std::env::current_dir()
        .map_err(|error| format!("the current directory cannot be read: {error}"))?;
    let manifest = project_root().join("Cargo.toml");
    let manifest = manifest
        .to_str()
        .ok_or_else(|| format!("the project path {} is not UTF-8", manifest.display()))?;

    let mut cargo_args = vec![
        "run",
        "--release",
        "--manifest-path",
        manifest,
        "--package",
        "vigil-simnet",
        "--bin",
        "vigil-demo",
        "--",
    ];
    cargo_args.extend(args.iter().map(String::as_str));
    Ok(process::command(&working_dir, &cargo_args, &[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_runs_in_callers_directory() {
        let command = demo_command(&[]).unwrap();
        let working_dir = std::env::current_dir().unwrap();
        assert_eq!(command.get_current_dir(), Some(working_dir.as_path()));
    }

    #[test]
    fn demo_command_names_manifest_and_arguments() {
        let args = ["--data-dir".to_string(), "out".to_string()];
        let command = demo_command(&args).unwrap();
        let cargo_args: Vec<&str> = command
            .get_args()
            .map(|arg| arg.to_str().unwrap())
            .collect();

        let manifest = project_root().join("Cargo.toml");
        let manifest_at = cargo_args
            .iter()
            .position(|arg| *arg == "--manifest-path")
            .expect("--manifest-path is passed");
        assert_eq!(cargo_args[manifest_at + 1], manifest.to_str().unwrap());
        assert_eq!(
            cargo_args[cargo_args.len() - 3..],
            ["--", "--data-dir", "out"]
        );
    }
}
