//! The async runner for tokio: one future that turns the core and awaits in between, and an
//! event task that hands out events.
//!
//! The same [`Core`] as the thread runner does the work; this runner differs in how it waits
//! and how it writes:
//! - Between turns it awaits, at once, the next deadline (the clock's
//!   [`deadline_future`](vigil_scheduler::Clock::deadline_future), or tokio's timer for the
//!   system clock), the core's signal (raised by the LDK wake callbacks and by a stop), and
//!   the writes in flight. An idle node wakes only when a job is due.
//! - Writes go to LDK's async `KVStore`. A turn issues them and returns. The ChannelManager
//!   write is issued before any job of that turn runs (a prune, for example). The writes of
//!   different keys complete concurrently. Each result goes back to the core, which opens
//!   the event gate, schedules a retry or stops, as after a blocking write.
//! - Events are handed out by a separate tokio task through `process_pending_events_async`.
//!   Before each event the task awaits the gate, so an event reaches the user only after
//!   every ChannelManager write owed at that moment is stored, and a slow handler never
//!   holds back a write: the task awaits writes, the writes never await the task.

mod builder;
mod events;
mod handle;
mod sources;
mod wait;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use vigil_scheduler::Clock;

pub use builder::AsyncBuilder;
pub use handle::{Stopper, TokioProcessor};
pub use sources::{
    AsyncEventHandler, ChainMonitorEvents, ChannelManagerEvents, EventsFuture, HandlerFuture,
    OnionMessengerEvents,
};

use crate::core::{Core, Step};
use crate::error::Error;
use crate::stats::Stats;
use events::EventTask;
use wait::{wait_for_work, WaitEnd, WritesInFlight};

/// A processor built for the async runner, not yet running; returned by
/// [`AsyncBuilder::build`].
///
/// Await [`run`](Self::run) on a tokio runtime, or spawn it, and keep a [`Stopper`] from
/// [`stopper`](Self::stopper) to end it. [`AsyncBuilder::spawn`] does both.
///
/// # Examples
///
/// ```no_run
/// # use std::sync::Arc;
/// # use lightning::events::Event;
/// # use vigil_processor::{BackgroundProcessor, ChainMonitorEvents, ChannelManagerEvents};
/// # use vigil_processor::components::PeerManagerDriver;
/// # use lightning::util::logger::{Logger, Record};
/// # struct StdoutLogger;
/// # impl Logger for StdoutLogger { fn log(&self, record: Record) { println!("{}", record.args); } }
/// # async fn example<CM, CMon, PM>(
/// #     channel_manager: Arc<CM>, chain_monitor: Arc<CMon>, peer_manager: Arc<PM>,
/// # ) -> Result<(), vigil_processor::Error>
/// # where
/// #     CM: ChannelManagerEvents + 'static,
/// #     CMon: ChainMonitorEvents + 'static,
/// #     PM: PeerManagerDriver + 'static,
/// # {
/// let store = Arc::new(vigil_persistence::MemoryStore::new());
/// let handler = |event: Event| async move {
///     println!("handling {event:?}");
///     Ok(())
/// };
/// let processor = BackgroundProcessor::async_builder(
///     store, handler, chain_monitor, channel_manager, peer_manager, Arc::new(StdoutLogger),
/// )
/// .build()?;
///
/// let stopper = processor.stopper();
/// let task = tokio::spawn(processor.run());
/// // ... run the node ...
/// stopper.request_stop();
/// task.await.expect("the processor task did not panic")?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a processor does nothing until run() is awaited"]
pub struct AsyncProcessor {
    core: Core,
    events: Arc<EventTask>,
    clock: Arc<dyn Clock>,
    /// Caps every wait at the suspend threshold, for platforms that suspend the process.
    mobile: bool,
}

impl AsyncProcessor {
    /// Returns a handle that stops the processor and reads its counters from anywhere.
    pub fn stopper(&self) -> Stopper {
        Stopper::new(&self.core)
    }

    /// Returns a snapshot of the processor's counters.
    pub fn stats(&self) -> Stats {
        self.core.stats()
    }

    /// Runs the processor until it is stopped or fails, and returns why it ended.
    ///
    /// The future must be polled on a tokio runtime: it spawns the event task with
    /// `tokio::spawn`, and with the system clock it waits on tokio's timer. It is `Send` and
    /// `'static`, so it can be spawned itself.
    ///
    /// Dropping the future before it completes ends the work at once, as a crash would, but
    /// leaves no torn value. A write whose future was dropped either completed or never
    /// reached the store. The event task hands out no further event, and LDK hands out again
    /// every event whose handling did not complete. Peers are
    /// not disconnected and no final write is made, so prefer [`Stopper::request_stop`] and
    /// awaiting the future.
    ///
    /// # Errors
    ///
    /// Returns the same errors as the thread runner's `stop()`: [`Error::Persist`] after a
    /// ChannelManager write failed for good, [`Error::HandlerPanicked`] after a handler
    /// panic, and [`Error::ShutdownTimeout`] when the handler was still running after the
    /// final writes and the shutdown timeout.
    pub fn run(self) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let Self {
            core,
            events,
            clock,
            mobile,
        } = self;
        async move {
            // The event task ends on its own once the core signals it to stop. A task stuck
            // in the user's handler past the shutdown timeout is left to finish, as the
            // thread runner leaves its event thread.
            drop(tokio::spawn(events.run()));
            drive(core, clock, mobile).await
        }
    }
}

/// Turns the core, starts its writes and waits, until it finishes.
async fn drive(mut core: Core, clock: Arc<dyn Clock>, mobile: bool) -> Result<(), Error> {
    let signal = core.signal();
    let mut writes = WritesInFlight::default();
    loop {
        let now = clock.now();
        let step = core.turn(now);
        writes.extend(core.take_started_writes());
        let deadline = match step {
            Step::Wait(deadline) => deadline,
            Step::Finished(result) => {
                finish_writes(&mut core, &*clock, &mut writes).await;
                return result;
            }
        };

        // A turn that ran past its own deadline makes the wait return at once. Lateness
        // counts from when the wait began, so a slow turn is not taken for a suspend.
        let wait_start = clock.now();
        let deadline = wait_limit(&core, deadline, wait_start, mobile);
        let end = wait_for_work(&*clock, &signal, deadline, &mut writes).await;
        if let WaitEnd::Writes(done) = end {
            let now = clock.now();
            for (ticket, result) in done {
                core.complete_write(ticket, result, now);
            }
        }
        core.record_wait(deadline.max(wait_start), clock.now());
    }
}

/// Returns how long to wait: until `deadline`, or on a mobile platform at most the suspend
/// threshold, so that a suspend is noticed when the process resumes.
///
/// A suspended process that resumes before its deadline cannot tell the wait was late, so
/// a capped wait is what lets [`Core::record_wait`] see every suspend longer than the
/// threshold.
fn wait_limit(core: &Core, deadline: Instant, now: Instant, mobile: bool) -> Instant {
    match core.suspend_threshold().filter(|_| mobile) {
        Some(threshold) => deadline.min(now + threshold),
        None => deadline,
    }
}

/// Awaits the writes still in flight when the core finished, such as the final graph and
/// scorer writes, so that nothing is written after the run future returns.
async fn finish_writes(core: &mut Core, clock: &dyn Clock, writes: &mut WritesInFlight) {
    while !writes.is_empty() {
        let done = writes.completed().await;
        let now = clock.now();
        for (ticket, result) in done {
            core.complete_write(ticket, result, now);
        }
    }
}
