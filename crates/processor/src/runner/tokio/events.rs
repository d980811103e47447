//! The event task: hands out the events of the ChannelManager, the ChainMonitor and the
//! OnionMessenger through their `process_pending_events_async`, each event behind the gate.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;

use lightning::events::{Event, ReplayEvent};
use vigil_events::AsyncDispatcher;
use vigil_scheduler::Signal;

use super::sources::{
    AsyncEventHandler, ChainMonitorEvents, ChannelManagerEvents, HandlerFuture,
    OnionMessengerEvents,
};
use crate::core::{AsyncGate, EventPump, WorkerLink};
use crate::error::panic_message;
use crate::stats::{EventSource, StatsRecorder};

/// The user's async event handler behind a box, so that the processor has no type parameter.
pub(crate) type UserHandler = Box<dyn Fn(Event) -> HandlerFuture + Send + Sync>;

/// The async components that hand out events.
#[derive(Clone)]
pub(crate) struct EventSources {
    pub(crate) channel_manager: Arc<dyn ChannelManagerEvents>,
    pub(crate) chain_monitor: Arc<dyn ChainMonitorEvents>,
    pub(crate) onion_messenger: Option<Arc<dyn OnionMessengerEvents>>,
}

/// Everything the event task shares with the handler futures it creates.
pub(crate) struct EventTask {
    /// The components whose events the task hands out; `None` when the caller runs the
    /// task's loop with its own dispatch, as `ldk_compat` does.
    pub(crate) sources: Option<EventSources>,
    pub(crate) dispatcher: Arc<AsyncDispatcher<UserHandler>>,
    pub(crate) gate: AsyncGate,
    /// Record of a handler panic, which the core's next turn stops with.
    pub(crate) pump: Arc<EventPump>,
    pub(crate) stats: Arc<StatsRecorder>,
    pub(crate) link: Arc<WorkerLink>,
    /// The core's signal.
    pub(crate) processor: Signal,
    pub(crate) handled: AtomicU64,
}

impl EventTask {
    /// Runs [`run`](Self::run), and records a panic outside the user's handler, which the
    /// dispatcher does not catch, so that the core stops with it.
    pub(crate) async fn run_recording_panic(self: Arc<Self>) {
        let link = Arc::clone(&self.link);
        record_panic(&link, self.run()).await;
    }

    /// Hands out events whenever a source signals, until the core tells it to stop.
    async fn run(self: Arc<Self>) {
        self.run_loop(|| self.dispatch_all()).await;
    }

    /// Calls `dispatch_all` whenever a source signals, until the core signals a stop.
    ///
    /// `dispatch_all` hands out the pending events of every source through
    /// [`handle`](Self::handle).
    pub(crate) async fn run_loop<D, F>(&self, mut dispatch_all: D)
    where
        D: FnMut() -> F,
        F: Future<Output = ()>,
    {
        // Marks the task done and wakes the core on every exit, a drop of the future included.
        struct Done<'a>(&'a WorkerLink, &'a Signal);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.done.store(true, Ordering::Release);
                self.1.raise();
            }
        }
        let _done = Done(&self.link, &self.processor);

        while !self.link.stop.load(Ordering::Acquire) {
            let before = self.handled.load(Ordering::Acquire);
            dispatch_all().await;

            // Handled events may have changed the scorer, and a panic stops the processor.
            if self.handled.load(Ordering::Acquire) > before || self.pump.failure().is_some() {
                self.processor.raise();
            }
            if self.link.stop.load(Ordering::Acquire) {
                break;
            }
            self.link.signal.raised().await;
        }
    }

    /// Hands out the pending events of every source, ChannelManager first.
    async fn dispatch_all(self: &Arc<Self>) {
        let Some(sources) = &self.sources else {
            return;
        };
        self.dispatch_from(sources, EventSource::ChannelManager)
            .await;
        self.dispatch_from(sources, EventSource::ChainMonitor).await;
        if sources.onion_messenger.is_some() {
            self.dispatch_from(sources, EventSource::OnionMessenger)
                .await;
        }
    }

    async fn dispatch_from(self: &Arc<Self>, sources: &EventSources, source: EventSource) {
        let task = Arc::clone(self);
        let handler: Box<AsyncEventHandler> = Box::new(move |event| {
            let task = Arc::clone(&task);
            Box::pin(async move { task.handle(source, event).await })
        });
        match source {
            EventSource::ChannelManager => {
                sources
                    .channel_manager
                    .process_pending_events_async(&*handler)
                    .await
            }
            EventSource::ChainMonitor => {
                sources
                    .chain_monitor
                    .process_pending_events_async(&*handler)
                    .await
            }
            EventSource::OnionMessenger => {
                if let Some(messenger) = &sources.onion_messenger {
                    messenger.process_pending_events_async(&*handler).await;
                }
            }
        }
    }

    /// Hands one event to the dispatcher once the gate admits it.
    pub(crate) async fn handle(
        &self,
        source: EventSource,
        event: Event,
    ) -> Result<(), ReplayEvent> {
        // After a panic nothing more is handed out; the processor is stopping.
        if self.pump.failure().is_some() {
            return Err(ReplayEvent());
        }
        self.gate.admit().await?;

        let outcome = self.dispatcher.handle_event(event).await;
        if let Some(failure) = self.dispatcher.take_failure() {
            self.pump.record_failure(failure);
            self.processor.raise();
            return Err(ReplayEvent());
        }
        if outcome.is_ok() {
            self.handled.fetch_add(1, Ordering::AcqRel);
            self.stats.event_handled(source);
        }
        outcome
    }
}

/// Polls `future` to its end, and records a panic in it so that the core stops with it.
pub(crate) async fn record_panic<F: Future<Output = ()>>(link: &WorkerLink, future: F) {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(move |context| {
        match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(context))) {
            Ok(poll) => poll,
            Err(payload) => {
                link.record_panic(panic_message(payload.as_ref()));
                Poll::Ready(())
            }
        }
    })
    .await;
}
