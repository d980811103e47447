//! The errors that end a processor.

use std::time::Duration;

use crate::config::ConfigError;

/// The reason a processor ended, or could not start.
///
/// `stop()` and `join()` return the error that ended the processor. After any of these, a
/// new processor can be started on the same components.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A ChannelManager write failed on every attempt the retry policy allowed.
    ///
    /// The processor did no further work after the last attempt. The stored ChannelManager
    /// is older than the one in memory, so restarting from it may force-close channels.
    #[error("failed to write key {key} after {attempts} attempts (check free space and permissions of the store, then start a new processor)")]
    Persist {
        /// The store key that could not be written (`manager`).
        key: String,
        /// How many writes were attempted.
        attempts: u32,
        /// The store's error on the last attempt.
        #[source]
        source: std::io::Error,
    },
    /// The user's event handler or an observer panicked; the event will be handed out again.
    #[error("panic while handling a {event_kind} event: {message} (fix the handler or observer, then start a new processor)")]
    HandlerPanicked {
        /// The kind of the event being handled, such as `PaymentClaimable`.
        event_kind: &'static str,
        /// The code that panicked (the handler or an observer) and the panic message.
        message: String,
    },
    /// The final writes were made, but the user's event handler was still running when the
    /// shutdown timeout ran out. The unfinished event is handed out again on the next start.
    #[error("event handler still running {waited:?} after stop was requested (the final writes were made; check the handler for a blocking call)")]
    ShutdownTimeout {
        /// How long the processor waited for the handler.
        waited: Duration,
    },
    /// A thread or task of the processor panicked outside the user's handler, for example
    /// inside a component.
    #[error("processor panicked: {message} (check the component named in the message, then start a new processor)")]
    ProcessorPanicked {
        /// The panic message.
        message: String,
    },
    /// The configuration is invalid.
    #[error("invalid processor config: {0}")]
    Config(#[from] ConfigError),
    /// The async runner was asked to spawn its task outside a tokio runtime.
    #[error("no tokio runtime is running (call spawn from inside a tokio runtime, or await the run future on one)")]
    NoRuntime,
    /// The operating system refused to start a thread.
    #[error("failed to spawn thread {name} (check the process's thread limit)")]
    Spawn {
        /// The thread's name.
        name: &'static str,
        /// The spawn error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Returns the store key of a [`Error::Persist`] error.
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Persist { key, .. } => Some(key),
            _ => None,
        }
    }

    /// Returns the kind of the underlying I/O error of a [`Error::Persist`] error.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            Error::Persist { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// Returns the message of a caught panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
