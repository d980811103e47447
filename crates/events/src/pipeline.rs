//! The work shared by the blocking and the async dispatcher around the handler call.
//!
//! Both dispatchers hand an event through the same steps:
//! 1. count the event under its kind;
//! 2. run each observer in the order added, each under its own panic guard;
//! 3. call the handler under a panic guard and time it (this part differs between the two);
//! 4. record the outcome and return `Ok(())` or `Err(ReplayEvent())` to LDK.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::events::{Event, ReplayEvent};
use lightning::util::logger::{Logger, Record};
use lightning::{log_error, log_trace, log_warn};
use parking_lot::Mutex;

use crate::counters::{CounterSnapshot, Counters};
use crate::error::DispatchError;
use crate::kind::event_kind;
use crate::observer::Observer;
use crate::panic_guard;

/// A monotonic time source, used to time the handler.
pub(crate) type MonotonicClock = Box<dyn Fn() -> Instant + Send + Sync>;

/// Observers, counters, the logger and the failure slot of one dispatcher.
pub(crate) struct Pipeline {
    observers: Vec<Box<dyn Observer>>,
    logger: OptionalLogger,
    counters: Counters,
    failure: Mutex<Option<DispatchError>>,
    clock: MonotonicClock,
}

impl Pipeline {
    pub(crate) fn new() -> Self {
        Self {
            observers: Vec::new(),
            logger: OptionalLogger(None),
            counters: Counters::default(),
            failure: Mutex::new(None),
            clock: Box::new(Instant::now),
        }
    }

    pub(crate) fn push_observer(&mut self, observer: Box<dyn Observer>) {
        self.observers.push(observer);
    }

    pub(crate) fn set_logger(&mut self, logger: Arc<dyn Logger + Send + Sync>) {
        self.logger = OptionalLogger(Some(logger));
    }

    pub(crate) fn set_clock(&mut self, clock: MonotonicClock) {
        self.clock = clock;
    }

    pub(crate) fn observer_count(&self) -> usize {
        self.observers.len()
    }

    pub(crate) fn now(&self) -> Instant {
        (self.clock)()
    }

    pub(crate) fn counters(&self) -> CounterSnapshot {
        self.counters.snapshot()
    }

    pub(crate) fn take_failure(&self) -> Option<DispatchError> {
        self.failure.lock().take()
    }

    /// Counts the event and runs every observer on it.
    ///
    /// Returns the event's kind, or `Err(ReplayEvent())` if an observer panicked, in which
    /// case the remaining observers and the handler must not run.
    pub(crate) fn observe(&self, event: &Event) -> Result<&'static str, ReplayEvent> {
        let kind = event_kind(event);
        self.counters.record_event(kind);
        log_trace!(self.logger, "Dispatching {} event", kind);

        for (position, observer) in self.observers.iter().enumerate() {
            if let Err(message) = panic_guard::catch(|| observer.observe(event)) {
                let failure = DispatchError::ObserverPanicked {
                    event_kind: kind,
                    position,
                    message,
                };
                self.record_panic(failure);
                return Err(ReplayEvent());
            }
        }
        Ok(kind)
    }

    /// Records how the handler finished and returns the result for LDK.
    ///
    /// `outcome` is the handler's result, or the panic message if it panicked.
    pub(crate) fn finish(
        &self,
        kind: &'static str,
        outcome: Result<Result<(), ReplayEvent>, String>,
        started: Instant,
    ) -> Result<(), ReplayEvent> {
        let elapsed: Duration = self.now().saturating_duration_since(started);
        self.counters.record_handler_time(elapsed);

        match outcome {
            Ok(Ok(())) => {
                log_trace!(self.logger, "Handled {} event", kind);
                Ok(())
            }
            Ok(Err(replay)) => {
                self.counters.record_replay();
                log_warn!(
                    self.logger,
                    "Event handler requested a replay of a {} event",
                    kind
                );
                Err(replay)
            }
            Err(message) => {
                self.record_panic(DispatchError::HandlerPanicked {
                    event_kind: kind,
                    message,
                });
                Err(ReplayEvent())
            }
        }
    }

    /// Counts a panic, logs it and keeps it unless an earlier failure is still untaken.
    fn record_panic(&self, failure: DispatchError) {
        self.counters.record_panic();
        log_error!(self.logger, "{}", failure);

        let mut slot = self.failure.lock();
        if slot.is_none() {
            *slot = Some(failure);
        }
    }
}

/// A logger that drops records when none was configured.
struct OptionalLogger(Option<Arc<dyn Logger + Send + Sync>>);

impl Logger for OptionalLogger {
    fn log(&self, record: Record) {
        if let Some(logger) = &self.0 {
            logger.log(record);
        }
    }
}
