//! The demo's command line.

use std::path::{Path, PathBuf};

/// The help text printed by `--help`.
pub const HELP: &str = "\
vigil-demo: real LDK nodes in one process, each driven by Vigil's background processor

Starts a line of nodes (node-0 -> node-1 -> ... -> the last node), opens and confirms a
channel between each neighbour pair on a simulated chain, pays the last node from the
first, stops the middle node and starts it again from its data directory halfway through,
then prints what every node did. Exits with 1 if the nodes could not start or a payment
or a check failed, 2 on bad arguments. No socket is opened. A release build takes about
10 s at the defaults; each payment takes about 0.2 s, more with more nodes.

Usage: vigil-demo [--nodes N] [--payments N] [--data-dir PATH]

Each option may be given once.

Options:
  --nodes N          nodes in the line, from 2 to 10 (default 3)
  --payments N       payments from the first node to the last, from 1 to 200 (default 50)
  --data-dir PATH    keep the nodes' data in PATH, a writable directory that is empty or
                     does not exist yet (default: a temporary directory, removed at exit)
  -h, --help         print this help
";

/// The smallest and largest line of nodes the demo accepts.
const NODES: (usize, usize) = (2, 10);
/// The minimum and maximum number of payments. At the maximum the payments fit in the
/// channels' capacity, and three nodes finish in about a minute.
const PAYMENTS: (usize, usize) = (1, 200);

/// The demo's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    /// Nodes in the line.
    pub nodes: usize,
    /// Payments from the first node to the last.
    pub payments: usize,
    /// The directory for the nodes' data, or `None` for a temporary directory.
    pub data_dir: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Self {
            nodes: 3,
            payments: 50,
            data_dir: None,
        }
    }
}

/// The outcome of parsing the command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Run the demo.
    Run(Args),
    /// Print the help text.
    Help,
}

/// A command-line argument the demo cannot use.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArgsError {
    /// An argument that is not an option of the demo.
    #[error("unknown argument `{0}`; run with --help to list the options")]
    Unknown(String),
    /// An option given without its value.
    #[error("missing value for {option}: expected {expected}")]
    MissingValue {
        /// The option.
        option: &'static str,
        /// The form of the value.
        expected: String,
    },
    /// An option whose value has the wrong form or is out of range.
    #[error("invalid value `{value}` for {option}: expected {expected}")]
    InvalidValue {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// The form of the value.
        expected: String,
    },
    /// An option given more than once.
    #[error("{option} is given more than once (`{first}`, then `{second}`); pass it once")]
    Repeated {
        /// The option.
        option: &'static str,
        /// The value given first.
        first: String,
        /// The value given next.
        second: String,
    },
    /// A data directory that is a file, already contains something or cannot be written.
    #[error(
        "invalid value `{path}` for --data-dir: {reason}; pass an empty or new directory \
         that you can write to"
    )]
    DataDir {
        /// The path given.
        path: String,
        /// The reason it cannot be used.
        reason: String,
    },
}

/// Parses the arguments after the program name.
///
/// # Errors
///
/// Returns an [`ArgsError`] naming the argument and the expected form.
pub fn parse(arguments: impl IntoIterator<Item = String>) -> Result<Command, ArgsError> {
    let mut args = Args::default();
    // The value each option was given, to reject an option given twice.
    let mut given_values: Vec<(&'static str, String)> = Vec::new();
    let mut arguments = arguments.into_iter();
    while let Some(argument) = arguments.next() {
        // Both `--nodes 3` and `--nodes=3` are accepted.
        let (name, inline_value) = match argument.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name.to_string(), Some(value)),
            _ => (argument.clone(), None),
        };
        let mut value = |option: &'static str, expected: String| {
            let value = match inline_value {
                Some(value) => value.to_string(),
                None => arguments
                    .next()
                    .ok_or(ArgsError::MissingValue { option, expected })?,
            };
            if let Some((_, first)) = given_values.iter().find(|(name, _)| *name == option) {
                return Err(ArgsError::Repeated {
                    option,
                    first: first.clone(),
                    second: value,
                });
            }
            given_values.push((option, value.clone()));
            Ok(value)
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--nodes" => {
                let expected = range_form(NODES);
                args.nodes = parse_count("--nodes", &value("--nodes", expected)?, NODES)?;
            }
            "--payments" => {
                let expected = range_form(PAYMENTS);
                args.payments =
                    parse_count("--payments", &value("--payments", expected)?, PAYMENTS)?;
            }
            "--data-dir" => {
                let path = value("--data-dir", "a directory path".to_string())?;
                args.data_dir = Some(check_data_dir(&path)?);
            }
            _ => return Err(ArgsError::Unknown(argument)),
        }
    }
    Ok(Command::Run(args))
}

fn range_form((min, max): (usize, usize)) -> String {
    format!("a whole number from {min} to {max}")
}

fn parse_count(
    option: &'static str,
    value: &str,
    (min, max): (usize, usize),
) -> Result<usize, ArgsError> {
    match value.parse::<usize>() {
        Ok(count) if (min..=max).contains(&count) => Ok(count),
        _ => Err(ArgsError::InvalidValue {
            option,
            value: value.to_string(),
            expected: range_form((min, max)),
        }),
    }
}

/// Accepts a path that does not exist yet or is an empty directory, because the simulated
/// chain starts from genesis on every run and cannot continue an earlier run's nodes.
///
/// Returns the path made absolute, so that the summary names the directory wherever the
/// demo was started from. The directory, or the nearest existing directory above it, must
/// be writable. The check creates a file in it and removes it again, because permission
/// bits alone do not tell: root ignores them, and a read-only mount overrides them.
fn check_data_dir(path: &str) -> Result<PathBuf, ArgsError> {
    let reject = |reason: String| ArgsError::DataDir {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() {
        return Err(reject("the path is empty".to_string()));
    }
    let dir = std::path::absolute(path)
        .map_err(|error| reject(format!("it cannot be made absolute ({error})")))?;

    // The directory the nodes' directories will be created in, or the one `dir` itself
    // will be created in.
    let writable_dir = match std::fs::metadata(&dir) {
        Ok(metadata) if !metadata.is_dir() => {
            return Err(reject("it is not a directory".to_string()))
        }
        Ok(_) => {
            let empty = std::fs::read_dir(&dir)
                .map_err(|error| reject(format!("it cannot be read ({error})")))?
                .next()
                .is_none();
            if !empty {
                return Err(reject(
                    "it is not empty (an earlier run's nodes cannot continue on a new chain)"
                        .to_string(),
                ));
            }
            dir.clone()
        }
        Err(error) if is_missing(&error) => nearest_existing_ancestor(&dir).map_err(reject)?,
        Err(error) => return Err(reject(format!("it cannot be inspected ({error})"))),
    };

    tempfile::tempfile_in(&writable_dir).map_err(|error| {
        reject(format!(
            "no file can be created in {} ({error})",
            writable_dir.display()
        ))
    })?;
    Ok(dir)
}

/// Returns whether `error` means that the path does not exist yet and could be created.
fn is_missing(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Returns the nearest directory above `path` that exists, or why there is none.
fn nearest_existing_ancestor(path: &Path) -> Result<PathBuf, String> {
    for ancestor in path.ancestors().skip(1) {
        match std::fs::metadata(ancestor) {
            Ok(metadata) if metadata.is_dir() => return Ok(ancestor.to_path_buf()),
            Ok(_) => return Err(format!("{} is not a directory", ancestor.display())),
            Err(error) if is_missing(&error) => continue,
            Err(error) => {
                return Err(format!(
                    "{} cannot be inspected ({error})",
                    ancestor.display()
                ))
            }
        }
    }
    Err("no directory above it exists".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(arguments: &[&str]) -> Result<Command, ArgsError> {
        parse(arguments.iter().map(|argument| argument.to_string()))
    }

    #[test]
    fn no_arguments_give_defaults() {
        assert_eq!(parse_all(&[]), Ok(Command::Run(Args::default())));
    }

    #[test]
    fn options_take_separate_or_inline_values() {
        let command = parse_all(&["--nodes", "4", "--payments=7"]).unwrap();
        let expected = Args {
            nodes: 4,
            payments: 7,
            data_dir: None,
        };
        assert_eq!(command, Command::Run(expected));
    }

    #[test]
    fn help_wins_over_other_options() {
        assert_eq!(parse_all(&["--nodes", "3", "--help"]), Ok(Command::Help));
        assert_eq!(parse_all(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn out_of_range_count_is_rejected() {
        let error = parse_all(&["--nodes", "1"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid value `1` for --nodes: expected a whole number from 2 to 10"
        );
        let error = parse_all(&["--payments", "many"]).unwrap_err();
        assert!(error.to_string().contains("`many`"), "{error}");
    }

    #[test]
    fn missing_value_is_rejected() {
        let error = parse_all(&["--payments"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "missing value for --payments: expected a whole number from 1 to 200"
        );
    }

    #[test]
    fn unknown_argument_is_rejected() {
        let error = parse_all(&["--fast"]).unwrap_err();
        assert_eq!(error, ArgsError::Unknown("--fast".to_string()));
    }

    #[test]
    fn data_dir_must_be_new_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        let fresh_arg = fresh.to_str().unwrap();
        assert!(parse_all(&["--data-dir", fresh_arg]).is_ok());
        assert!(parse_all(&["--data-dir", dir.path().to_str().unwrap()]).is_ok());

        std::fs::write(dir.path().join("file"), b"x").unwrap();
        let error = parse_all(&["--data-dir", dir.path().to_str().unwrap()]).unwrap_err();
        assert!(error.to_string().contains("is not empty"), "{error}");
        let file = dir.path().join("file");
        let error = parse_all(&["--data-dir", file.to_str().unwrap()]).unwrap_err();
        assert!(error.to_string().contains("not a directory"), "{error}");
    }

    #[test]
    fn repeated_option_is_rejected() {
        let error = parse_all(&["--nodes", "3", "--nodes=4"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "--nodes is given more than once (`3`, then `4`); pass it once"
        );
        let error = parse_all(&["--payments=5", "--payments", "5"]).unwrap_err();
        assert!(matches!(error, ArgsError::Repeated { .. }), "{error}");

        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first");
        let second = dir.path().join("second");
        let error = parse_all(&[
            "--data-dir",
            first.to_str().unwrap(),
            "--data-dir",
            second.to_str().unwrap(),
        ])
        .unwrap_err();
        assert!(matches!(error, ArgsError::Repeated { .. }), "{error}");
    }

    #[test]
    fn data_dir_is_made_absolute() {
        let Command::Run(args) = parse_all(&["--data-dir", "vigil-demo-data"]).unwrap() else {
            panic!("expected Command::Run");
        };
        let data_dir = args.data_dir.unwrap();
        assert!(data_dir.is_absolute(), "{}", data_dir.display());
        assert!(
            data_dir.ends_with("vigil-demo-data"),
            "{}",
            data_dir.display()
        );
        assert!(!data_dir.exists(), "parsing created {}", data_dir.display());
    }

    #[test]
    fn data_dir_under_a_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let below_file = file.join("data");

        let error = parse_all(&["--data-dir", below_file.to_str().unwrap()]).unwrap_err();
        let expected = format!("{} is not a directory", file.display());
        assert!(error.to_string().contains(&expected), "{error}");
    }

    #[test]
    fn unwritable_data_dir_is_rejected() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let read_only = dir.path().join("read-only");
        std::fs::create_dir(&read_only).unwrap();
        std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
        if tempfile::tempfile_in(&read_only).is_ok() {
            // NOTE: root ignores the mode, so under root this test checks nothing.
            eprintln!("skipped: this user can write to a directory with mode 555");
            return;
        }

        for path in [read_only.clone(), read_only.join("data")] {
            let error = parse_all(&["--data-dir", path.to_str().unwrap()]).unwrap_err();
            assert!(
                error.to_string().contains("no file can be created in"),
                "{error}"
            );
        }
    }
}
