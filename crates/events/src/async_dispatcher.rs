//! The async dispatcher, for LDK's `process_pending_events_async`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use lightning::events::{Event, ReplayEvent};
use lightning::util::logger::Logger;

use crate::counters::CounterSnapshot;
use crate::error::DispatchError;
use crate::observer::Observer;
use crate::panic_guard;
use crate::pipeline::Pipeline;

/// The async twin of [`Dispatcher`](crate::Dispatcher): observers run in the order added, then
/// the user's async handler, a `Fn(Event) -> impl Future<Output = Result<(), ReplayEvent>>`.
///
/// LDK's `process_pending_events_async` takes a closure that returns a future, so pass one
/// that calls [`handle_event`](Self::handle_event):
///
/// ```text
/// channel_manager.process_pending_events_async(|event| dispatcher.handle_event(event)).await;
/// // `OnionMessenger` requires an `Unpin` future:
/// onion_messenger.process_pending_events_async(|event| dispatcher.handle_event_boxed(event)).await;
/// ```
///
/// Observers are synchronous and run before the handler's future is created. A panic while
/// the handler is called or while its future is polled is caught like in the blocking
/// dispatcher, and the handler time is measured from the call to the future's completion.
///
/// # Examples
///
/// ```
/// use lightning::events::{Event, ReplayEvent};
/// use lightning::ln::channelmanager::PaymentId;
/// use vigil_events::AsyncDispatcher;
///
/// let dispatcher = AsyncDispatcher::new(|event: Event| async move {
///     match event {
///         Event::PaymentFailed { .. } => Err(ReplayEvent()),
///         _ => Ok(()),
///     }
/// });
///
/// let event = Event::PaymentFailed { payment_id: PaymentId([0; 32]), payment_hash: None, reason: None };
/// let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let result = runtime.block_on(dispatcher.handle_event(event));
///
/// assert!(result.is_err());
/// assert_eq!(dispatcher.counters().replays, 1);
/// ```
pub struct AsyncDispatcher<F> {
    handler: F,
    pipeline: Pipeline,
}

impl<F, Fut> AsyncDispatcher<F>
where
    F: Fn(Event) -> Fut,
    Fut: Future<Output = Result<(), ReplayEvent>>,
{
    /// Returns a dispatcher with no observers and no logger that hands events to `handler`.
    pub fn new(handler: F) -> Self {
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
    pub fn get_ref(&self) -> &F {
        &self.handler
    }

    /// Returns the user's handler, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.handler
    }

    /// Drops the observers and counters and returns the user's handler.
    pub fn into_inner(self) -> F {
        self.handler
    }

    /// Runs the observers and then awaits the handler on `event`.
    ///
    /// Returns the handler's result, or `Err(ReplayEvent())` if an observer or the handler
    /// panicked.
    pub async fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        let kind = self.pipeline.observe(&event)?;

        let started = self.pipeline.now();
        let outcome = match panic_guard::catch(|| (self.handler)(event)) {
            Ok(future) => panic_guard::catch_future(future).await,
            Err(message) => Err(message),
        };
        self.pipeline.finish(kind, outcome, started)
    }

    /// Returns [`handle_event`](Self::handle_event) as a boxed future, which is `Unpin` as
    /// `OnionMessenger::process_pending_events_async` requires.
    pub fn handle_event_boxed<'a>(
        &'a self,
        event: Event,
    ) -> Pin<Box<dyn Future<Output = Result<(), ReplayEvent>> + Send + 'a>>
    where
        F: Sync,
        Fut: Send + 'a,
    {
        Box::pin(self.handle_event(event))
    }
}
