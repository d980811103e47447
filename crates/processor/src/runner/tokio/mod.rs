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
//!   every ChannelManager write owed at that moment is stored. A slow handler never holds
//!   back a write, because the task awaits writes and the writes never await the task.

mod builder;
mod events;
mod handle;
mod liquidity;
mod sources;
mod sweeper;
mod wait;

#[cfg(test)]
pub(crate) mod tests;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use lightning::util::logger::Logger;
use vigil_scheduler::Clock;

pub use builder::AsyncBuilder;
pub use handle::{Stopper, TokioProcessor};
pub use liquidity::{AsyncLiquidityDriver, LiquidityPersistFuture};
pub use sources::{
    AsyncEventHandler, ChainMonitorEvents, ChannelManagerEvents, EventsFuture, HandlerFuture,
    OnionMessengerEvents,
};
pub use sweeper::{AsyncSweeperDriver, SweepFuture};

use crate::core::{Core, Step};
use crate::error::Error;
use crate::stats::Stats;
#[cfg(feature = "ldk-compat")]
pub(crate) use events::record_panic;
pub(crate) use events::EventTask;
use sweeper::DeferredSweeper;
pub(crate) use wait::Timer;
use wait::{wait_for_work, Done, InFlight, TokioTimer, WaitEnd};

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
    liquidity: Option<Arc<dyn AsyncLiquidityDriver>>,
    sweeper: Option<AsyncSweeper>,
    logger: Arc<dyn Logger + Send + Sync>,
}

/// An async OutputSweeper and the request flag the core's sweep job sets.
#[derive(Clone)]
struct AsyncSweeper {
    driver: Arc<dyn AsyncSweeperDriver>,
    requests: Arc<DeferredSweeper>,
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
    /// leaves no torn value: the stores write each key atomically, so a write whose future
    /// was dropped leaves the old value or the new one. The event task hands out no further
    /// event, and LDK hands out again every event whose handling did not complete. Peers are
    /// not disconnected and no final write is made, so prefer [`Stopper::request_stop`] and
    /// awaiting the future.
    ///
    /// The event task is a task of its own, so dropping or aborting this future does not
    /// cancel it. It lets the user's handler call in progress complete and then ends
    /// (`abort_in_handler_replays_later_events`). Until then LDK 0.2.7 marks the component
    /// whose event is being handled as busy, so a new processor on the same components
    /// receives that component's events only after the call has completed, and never if the
    /// handler never completes.
    ///
    /// NOTE: `SystemClock` reads the operating system's time, which tokio's paused test time
    /// does not move. Under paused time, give the builder a virtual clock such as
    /// `ManualClock`; otherwise every wait returns at once and the runner spins.
    ///
    /// # Errors
    ///
    /// Returns the same errors as the thread runner's `stop()`: [`Error::Persist`] after a
    /// ChannelManager write failed for good, [`Error::HandlerPanicked`] after a handler
    /// panic, and [`Error::ShutdownTimeout`] when the handler was still running after the
    /// final writes and the shutdown timeout.
    pub fn run(self) -> impl Future<Output = Result<(), Error>> + Send + 'static {
        let (turning, events) = self.into_inline_parts(TokioTimer);
        async move {
            // The event task ends on its own once the core signals it to stop. A task stuck
            // in the user's handler past the shutdown timeout is left to finish, as the
            // thread runner leaves its event thread.
            drop(tokio::spawn(events.run_recording_panic()));
            turning.await
        }
    }

    /// Splits the processor into the future that turns the core, waiting on `timer`, and the
    /// event task, for a caller that polls both in one task of its own.
    ///
    /// The caller drives the event task's loop with its own dispatch; the turning future
    /// needs no tokio runtime unless `timer` does.
    pub(crate) fn into_inline_parts<T: Timer>(
        self,
        timer: T,
    ) -> (impl Future<Output = Result<(), Error>>, Arc<EventTask>) {
        let Self {
            core,
            events,
            clock,
            mobile,
            liquidity,
            sweeper,
            logger,
        } = self;
        let driver = Driver {
            clock,
            mobile,
            liquidity,
            sweeper,
            logger,
        };
        let turning = async move { driver.drive(core, &timer).await };
        (turning, events)
    }
}

/// State of the runner's loop besides the core.
struct Driver {
    clock: Arc<dyn Clock>,
    mobile: bool,
    liquidity: Option<Arc<dyn AsyncLiquidityDriver>>,
    sweeper: Option<AsyncSweeper>,
    logger: Arc<dyn Logger + Send + Sync>,
}

impl Driver {
    /// Turns the core, starts its writes and waits, until it finishes.
    async fn drive<T: Timer>(&self, mut core: Core, timer: &T) -> Result<(), Error> {
        let signal = core.signal();
        let mut in_flight = InFlight::default();
        loop {
            let now = self.clock.now();
            let step = core.turn(now);
            self.start_work(&core, &mut in_flight);
            let deadline = match step {
                Step::Wait(deadline) => deadline,
                Step::Finished(result) => {
                    self.finish_work(&mut core, &mut in_flight).await;
                    return result;
                }
            };

            // A turn that ran past its own deadline makes the wait return at once. Lateness
            // counts from when the wait began, so a slow turn is not taken for a suspend.
            let wait_start = self.clock.now();
            let deadline = wait_limit(&core, deadline, wait_start, self.mobile);
            let sleep = timer.sleep_until(&*self.clock, deadline);
            match wait_for_work(&signal, sleep, &mut in_flight).await {
                WaitEnd::Done(done) => self.record_done(&mut core, done),
                WaitEnd::StopRequested => core.request_stop(),
                WaitEnd::DeadlineOrSignal => {}
            }
            core.record_wait(deadline.max(wait_start), self.clock.now());
        }
    }

    /// Takes the writes the turn issued, and starts a LiquidityManager persist or a sweep if
    /// one was requested and none is in flight. No sweep starts once the core is stopping.
    fn start_work(&self, core: &Core, in_flight: &mut InFlight) {
        in_flight.extend(core.take_started_writes());
        self.start_liquidity(core, in_flight);
        if let Some(sweeper) = self.sweeper.as_ref().filter(|_| core.is_running()) {
            if !in_flight.has_sweep() && sweeper.requests.take_request() {
                let sweep = Arc::clone(&sweeper.driver).regenerate_and_broadcast_spend_async();
                in_flight.set_sweep(sweep);
            }
        }
    }

    /// Starts a LiquidityManager persist if one was requested and none is in flight.
    fn start_liquidity(&self, core: &Core, in_flight: &mut InFlight) {
        if let Some(liquidity) = &self.liquidity {
            if !in_flight.has_liquidity() && core.take_liquidity_request() {
                in_flight.set_liquidity(Arc::clone(liquidity).persist_async());
            }
        }
    }

    /// Hands completed writes back to the core and logs a LiquidityManager persist.
    fn record_done(&self, core: &mut Core, done: Vec<Done>) {
        let now = self.clock.now();
        for item in done {
            match item {
                Done::Write(ticket, result) => core.complete_write(ticket, result, now),
                Done::Liquidity(Ok(wrote)) => lightning::log_trace!(
                    self.logger,
                    "Persisted the LiquidityManager (wrote: {})",
                    wrote
                ),
                // It stays marked as changed; the next periodic job persists it again.
                Done::Liquidity(Err(error)) => {
                    lightning::log_error!(
                        self.logger,
                        "Failed to persist the LiquidityManager, retrying with the next periodic job: {}",
                        error
                    );
                    core.retry_liquidity_later();
                }
                Done::Sweep(Ok(())) => {
                    lightning::log_trace!(self.logger, "OutputSweeper run completed")
                }
                Done::Sweep(Err(())) => lightning::log_warn!(
                    self.logger,
                    "OutputSweeper failed to regenerate its spend; it retries on its next run"
                ),
            }
        }
    }

    /// Awaits the work still in flight when the core finished, such as the final graph and
    /// scorer writes, so that nothing is written after the run future returns.
    ///
    /// A final LiquidityManager persist requested while an earlier one was in flight starts
    /// once that one completed. A sweep still waiting does not start.
    async fn finish_work(&self, core: &mut Core, in_flight: &mut InFlight) {
        loop {
            self.start_liquidity(core, in_flight);
            if in_flight.is_empty() {
                return;
            }
            let done = in_flight.completed().await;
            self.record_done(core, done);
        }
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
