//! The blocking dispatcher, an LDK `EventHandler` that runs observers before the user's handler.

use std::sync::Arc;
use std::time::Instant;

use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::util::logger::Logger;

use crate::counters::CounterSnapshot;
use crate::error::DispatchError;
use crate::observer::Observer;
use crate::panic_guard;
use crate::pipeline::Pipeline;

/// An LDK [`EventHandler`] that shows each event to a stack of observers and then hands it to
/// the user's handler.
///
/// A dispatcher:
/// - runs its observers in the order they were added, then the handler;
/// - counts events per kind, replays the handler requested, panics and handler time
///   (see [`counters`](Self::counters));
/// - catches a panic in an observer or in the handler, returns `Err(ReplayEvent())` to LDK so
///   the event is kept, and stores a [`DispatchError`] for [`take_failure`](Self::take_failure).
///
/// Pass it by reference wherever LDK takes an event handler:
/// `channel_manager.process_pending_events(&dispatcher)`, and the same for a `ChainMonitor` or an
/// `OnionMessenger`.
///
/// # Order
///
/// Each call to [`observe`](Self::observe) adds an observer after those already added, so
/// `Dispatcher::new(handler).observe(a).observe(b)` runs `a`, then `b`, then `handler`. Put
/// observers that update routing state (the network graph, then the scorer) first, so that the
/// handler sees the node's view after the event, as LDK's background processor does.
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// use lightning::events::{Event, EventHandler};
/// use lightning::ln::channelmanager::PaymentId;
/// use vigil_events::Dispatcher;
///
/// let calls = Arc::new(Mutex::new(Vec::new()));
/// let (first, second, handler) = (Arc::clone(&calls), Arc::clone(&calls), Arc::clone(&calls));
///
/// let dispatcher = Dispatcher::new(move |_event: Event| {
///     handler.lock().unwrap().push("handler");
///     Ok(())
/// })
/// .observe(move |_event: &Event| first.lock().unwrap().push("first observer"))
/// .observe(move |_event: &Event| second.lock().unwrap().push("second observer"));
///
/// let event = Event::PaymentFailed { payment_id: PaymentId([0; 32]), payment_hash: None, reason: None };
/// dispatcher.handle_event(event).unwrap();
///
/// assert_eq!(*calls.lock().unwrap(), ["first observer", "second observer", "handler"]);
/// ```
///
/// # Note
///
/// A stored failure means that user code panicked on an event that LDK will hand out again.
/// The processor should stop when [`take_failure`](Self::take_failure) returns one, or the same
/// panic repeats on every attempt.
pub struct Dispatcher<H> {
    handler: H,
    pipeline: Pipeline,
}

impl<H: EventHandler> Dispatcher<H> {
    /// Returns a dispatcher with no observers and no logger that hands events to `handler`.
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            pipeline: Pipeline::new(),
        }
    }

    /// Adds an observer that runs after those already added and before the handler.
    pub fn observe(mut self, observer: impl Observer + 'static) -> Self {
        self.pipeline.push_observer(Box::new(observer));
        self
    }

    /// Sets the logger for dispatch records: trace per event, warn per replay, error per panic.
    ///
    /// Records name the event's kind and never its fields.
    pub fn with_logger(mut self, logger: Arc<dyn Logger + Send + Sync>) -> Self {
        self.pipeline.set_logger(logger);
        self
    }

    /// Sets the monotonic time source used to time the handler, [`Instant::now`] by default.
    pub fn with_clock(mut self, now: impl Fn() -> Instant + Send + Sync + 'static) -> Self {
        self.pipeline.set_clock(Box::new(now));
        self
    }

    /// Removes and returns the first failure recorded since the last call, if any.
    ///
    /// Later failures before the call are counted in [`CounterSnapshot::panics`] but not kept.
    pub fn take_failure(&self) -> Option<DispatchError> {
        self.pipeline.take_failure()
    }

    /// Returns a copy of the counters.
    pub fn counters(&self) -> CounterSnapshot {
        self.pipeline.counters()
    }

    /// Returns the number of observers added.
    pub fn observer_count(&self) -> usize {
        self.pipeline.observer_count()
    }

    /// Returns the user's handler.
    pub fn get_ref(&self) -> &H {
        &self.handler
    }

    /// Returns the user's handler, mutably.
    pub fn get_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Drops the observers and counters and returns the user's handler.
    pub fn into_inner(self) -> H {
        self.handler
    }
}

impl<H: EventHandler> EventHandler for Dispatcher<H> {
    /// Runs the observers and then the handler on `event`.
    ///
    /// Returns the handler's result, or `Err(ReplayEvent())` if an observer or the handler
    /// panicked.
    fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        let kind = self.pipeline.observe(&event)?;

        let started = self.pipeline.now();
        let outcome = panic_guard::catch(|| self.handler.handle_event(event));
        self.pipeline.finish(kind, outcome, started)
    }
}
