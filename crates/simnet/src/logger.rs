//! The LDK logger of a simnet node.

use std::fmt::Write as _;
use std::sync::Arc;

use lightning::util::logger::{Level, Logger, Record};
use parking_lot::Mutex;

/// The destinations and minimum levels of a node's log lines.
///
/// The default is quiet: only errors are printed (a test shows them only when it fails), and
/// warnings and errors are kept in memory for [`NodeLogger::lines`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The lowest level printed to standard error, or `None` to print nothing.
    pub print_level: Option<Level>,
    /// The lowest level kept in memory, or `None` to keep nothing.
    pub keep_level: Option<Level>,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            print_level: Some(Level::Error),
            keep_level: Some(Level::Warn),
        }
    }
}

impl LogConfig {
    /// Returns a configuration that prints every line at `level` or above and keeps the same.
    pub fn printing(level: Level) -> Self {
        Self {
            print_level: Some(level),
            keep_level: Some(level),
        }
    }

    /// Returns the default configuration, or a printing one when the environment variable
    /// `VIGIL_SIMNET_LOG` names a level (`gossip`, `trace`, `debug`, `info`, `warn`, `error`).
    ///
    /// An unknown level in the variable leaves the default in place.
    pub fn from_env() -> Self {
        let Ok(value) = std::env::var("VIGIL_SIMNET_LOG") else {
            return Self::default();
        };
        match parse_level(&value) {
            Some(level) => Self::printing(level),
            None => Self::default(),
        }
    }
}

/// Returns the LDK level named by `name`, ignoring case.
pub fn parse_level(name: &str) -> Option<Level> {
    let level = match name.to_ascii_lowercase().as_str() {
        "gossip" => Level::Gossip,
        "trace" => Level::Trace,
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => return None,
    };
    Some(level)
}

/// One line kept by a [`NodeLogger`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// The level LDK gave the line.
    pub level: Level,
    /// The module that logged it.
    pub module_path: &'static str,
    /// The message.
    pub message: String,
}

/// An LDK [`Logger`] for one node that prints and keeps lines per its [`LogConfig`].
///
/// Printed lines carry the node's name so that the output of several nodes in one process can
/// be distinguished.
///
/// # Example
///
/// ```
/// use lightning::util::logger::{Level, Logger};
/// use vigil_simnet::{LogConfig, NodeLogger};
///
/// let logger = NodeLogger::new("alice", LogConfig::default());
/// lightning::log_warn!(logger, "fee estimate {} is low", 253);
/// lightning::log_trace!(logger, "not kept at the default level");
/// let lines = logger.lines();
/// assert_eq!(lines.len(), 1);
/// assert_eq!(lines[0].level, Level::Warn);
/// assert_eq!(lines[0].message, "fee estimate 253 is low");
/// ```
#[derive(Debug)]
pub struct NodeLogger {
    name: String,
    config: LogConfig,
    lines: Mutex<Vec<LogLine>>,
}

impl NodeLogger {
    /// Returns a logger for the node called `name`.
    pub fn new(name: impl Into<String>, config: LogConfig) -> Self {
        Self {
            name: name.into(),
            config,
            lines: Mutex::new(Vec::new()),
        }
    }

    /// Returns a shared logger for the node called `name`.
    pub fn shared(name: impl Into<String>, config: LogConfig) -> Arc<Self> {
        Arc::new(Self::new(name, config))
    }

    /// Returns the node's name as printed before each line.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns a copy of the lines kept so far, oldest first.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines.lock().clone()
    }

    /// Returns how many kept lines have `level`.
    pub fn count_at(&self, level: Level) -> usize {
        self.lines
            .lock()
            .iter()
            .filter(|line| line.level == level)
            .count()
    }
}

impl Logger for NodeLogger {
    fn log(&self, record: Record) {
        let print = self
            .config
            .print_level
            .is_some_and(|min| record.level >= min);
        let keep = self
            .config
            .keep_level
            .is_some_and(|min| record.level >= min);
        if !print && !keep {
            return;
        }

        let mut message = String::new();
        let _ = write!(message, "{}", record.args);
        if print {
            eprintln!(
                "{} {:<5} [{}:{}] {}",
                self.name, record.level, record.module_path, record.line, message
            );
        }
        if keep {
            self.lines.lock().push(LogLine {
                level: record.level,
                module_path: record.module_path,
                message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_logger_keeps_nothing() {
        let logger = NodeLogger::new(
            "quiet",
            LogConfig {
                print_level: None,
                keep_level: None,
            },
        );
        lightning::log_error!(logger, "dropped");
        assert!(logger.lines().is_empty());
    }

    #[test]
    fn level_names_parse() {
        assert_eq!(parse_level("TRACE"), Some(Level::Trace));
        assert_eq!(parse_level("warn"), Some(Level::Warn));
        assert_eq!(parse_level("loud"), None);
    }
}
