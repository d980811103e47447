//! Running cargo as a child process, and the error that ends xtask.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// An error that ends xtask: the message it prints and the code it exits with.
#[derive(Debug, PartialEq, Eq)]
pub struct Failure {
    /// The message, printed on stderr after `xtask: `.
    pub message: String,
    /// The exit code, which is the failed child's own code or 1.
    pub exit_code: u8,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self {
            message,
            exit_code: 1,
        }
    }
}

/// Returns the workspace root: the parent of this crate's manifest directory.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask's manifest directory is inside the workspace root")
        .to_path_buf()
}

/// Runs `cargo` with `args` in the project root, printing the command first.
///
/// # Errors
///
/// Returns a [`Failure`] naming `step` and the exit status when cargo fails or cannot be
/// started. It carries cargo's exit code, so that xtask exits with the same code.
pub fn cargo(step: &str, args: &[&str], envs: &[(&str, &str)]) -> Result<(), Failure> {
    run(step, command(&project_root(), args, envs))
}

/// Builds the `cargo` command that runs with `args` and `envs` in `dir`.
pub fn command(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(dir);
    command
}

/// Runs `command` as the step named `step`, printing it first.
///
/// # Errors
///
/// Returns a [`Failure`] as [`cargo`] does.
pub fn run(step: &str, mut command: Command) -> Result<(), Failure> {
    let program = command.get_program().to_string_lossy().into_owned();
    let printed_envs: String = command
        .get_envs()
        .filter_map(|(key, value)| Some((key, value?)))
        .map(|(key, value)| format!("{}={} ", key.display(), value.display()))
        .collect();
    let printed_args: Vec<String> = command
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    println!(
        "==> [{step}] {printed_envs}cargo {}",
        printed_args.join(" ")
    );

    let status = command
        .status()
        .map_err(|error| format!("step `{step}` could not start `{program}`: {error}"))?;

    if status.success() {
        return Ok(());
    }
    Err(Failure {
        message: format!("step `{step}` failed with {status}"),
        exit_code: exit_code(status),
    })
}

/// Returns the code xtask exits with after a child failed with `status`. That is the
/// child's own exit code, or 1 when it has none, as after a signal.
fn exit_code(status: ExitStatus) -> u8 {
    status
        .code()
        .and_then(|code| u8::try_from(code).ok())
        .filter(|code| *code != 0)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn exit_code_is_the_childs() {
        // A wait status contains the exit code in its second byte.
        assert_eq!(exit_code(ExitStatus::from_raw(2 << 8)), 2);
        assert_eq!(exit_code(ExitStatus::from_raw(101 << 8)), 101);
    }

    #[test]
    fn exit_code_after_a_signal_is_one() {
        // A wait status of 9 means the child was killed by SIGKILL.
        assert_eq!(exit_code(ExitStatus::from_raw(9)), 1);
    }

    #[test]
    fn failed_child_sets_exit_code() {
        let mut command = Command::new("sh");
        command.args(["-c", "exit 2"]);
        let failure = run("exit", command).unwrap_err();
        assert_eq!(failure.exit_code, 2);
        assert!(
            failure.message.contains("step `exit` failed"),
            "{failure:?}"
        );
    }
}
