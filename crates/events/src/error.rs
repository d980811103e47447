//! Failures that a dispatcher records for the processor to stop on.

/// A failure that a dispatcher caught while handing out an event.
///
/// The dispatcher returns `Err(ReplayEvent())` to LDK for the event involved, so LDK keeps it
/// and hands it out again, and stores this error until [`Dispatcher::take_failure`] takes it.
/// A processor should stop when it finds one: the code that panicked is likely to panic again
/// on the same event.
///
/// [`Dispatcher::take_failure`]: crate::Dispatcher::take_failure
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The user's event handler panicked.
    #[error(
        "event handler panicked on a {event_kind} event: {message} (the event is kept for replay; \
         fix the handler and restart the node)"
    )]
    HandlerPanicked {
        /// Name of the event's variant, as returned by [`event_kind`](crate::event_kind).
        event_kind: &'static str,
        /// The panic message, or a placeholder when the panic payload is not a string.
        message: String,
    },
    /// An observer panicked, so the handler was not called for this event.
    #[error(
        "observer {position} panicked on a {event_kind} event: {message} (the event is kept for \
         replay; fix or remove the observer and restart the node)"
    )]
    ObserverPanicked {
        /// Name of the event's variant, as returned by [`event_kind`](crate::event_kind).
        event_kind: &'static str,
        /// Zero-based position of the observer in the order it was added.
        position: usize,
        /// The panic message, or a placeholder when the panic payload is not a string.
        message: String,
    },
}

impl DispatchError {
    /// Returns the name of the event that was being handed out when the failure happened.
    pub fn event_kind(&self) -> &'static str {
        match self {
            Self::HandlerPanicked { event_kind, .. } => event_kind,
            Self::ObserverPanicked { event_kind, .. } => event_kind,
        }
    }

    /// Returns the panic message.
    pub fn message(&self) -> &str {
        match self {
            Self::HandlerPanicked { message, .. } => message,
            Self::ObserverPanicked { message, .. } => message,
        }
    }
}
