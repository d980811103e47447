//! Running cargo as a child process from the project root.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Returns the workspace root: the parent of this crate's manifest directory.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask's manifest directory is inside the workspace root")
        .to_path_buf()
}

/// Runs `cargo` with `args` in the project root, printing the command first.
///
/// Returns an error naming `step` and the exit status when cargo fails or
/// cannot be started.
pub fn cargo(step: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let printed_envs: String = envs.iter().map(|(k, v)| format!("{k}={v} ")).collect();
    println!("==> [{step}] {printed_envs}cargo {}", args.join(" "));

    let status = Command::new(&cargo)
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(project_root())
        .status()
        .map_err(|error| format!("step `{step}` could not start `{cargo}`: {error}"))?;

    if status.success() {
        return Ok(());
    }
    Err(format!("step `{step}` failed with {status}"))
}
