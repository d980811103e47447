//! Handles to a running async processor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lightning::util::logger::Logger;
use tokio::task::JoinHandle;
use vigil_scheduler::Signal;

use crate::core::Core;
use crate::error::Error;
use crate::stats::{Stats, StatsRecorder};

/// Stops an async processor and reads its counters; cheap to clone and usable from any
/// thread or task.
#[derive(Clone)]
pub struct Stopper {
    requested: Arc<AtomicBool>,
    signal: Signal,
    stats: Arc<StatsRecorder>,
}

impl Stopper {
    pub(super) fn new(core: &Core) -> Self {
        Self {
            requested: core.stop_handle(),
            signal: core.signal(),
            stats: core.stats_recorder(),
        }
    }

    /// Asks the processor to stop; its run future then makes the final writes and returns.
    ///
    /// Returns at once. The processor sees the request without waiting for a timer.
    pub fn request_stop(&self) {
        self.requested.store(true, Ordering::Release);
        self.signal.raise();
    }

    /// Returns a snapshot of the processor's counters.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }
}

/// An async processor running as a tokio task; returned by
/// [`AsyncBuilder::spawn`](super::AsyncBuilder::spawn).
///
/// Dropping the handle asks the processor to stop; the task then makes the final writes on
/// its own. Await [`stop`](Self::stop) to know when they are done.
///
/// # Examples
///
/// ```no_run
/// # use std::sync::Arc;
/// # use lightning::events::{Event, ReplayEvent};
/// # use lightning::util::logger::{Logger, Record};
/// # use vigil_processor::components::PeerManagerDriver;
/// # use vigil_processor::{BackgroundProcessor, ChainMonitorEvents, ChannelManagerEvents};
/// # struct StdoutLogger;
/// # impl Logger for StdoutLogger { fn log(&self, record: Record) { println!("{}", record.args); } }
/// # async fn example<CM, CMon, PM>(
/// #     channel_manager: Arc<CM>, chain_monitor: Arc<CMon>, peer_manager: Arc<PM>,
/// # ) -> Result<(), Box<dyn std::error::Error>>
/// # where
/// #     CM: ChannelManagerEvents + 'static,
/// #     CMon: ChainMonitorEvents + 'static,
/// #     PM: PeerManagerDriver + 'static,
/// # {
/// let store = Arc::new(vigil_persistence::FilesystemStore::open("/var/lib/node")?);
/// let handler = |event: Event| async move {
///     println!("handling {event:?}");
///     Ok::<(), ReplayEvent>(())
/// };
/// let processor = BackgroundProcessor::async_builder(
///     store, handler, chain_monitor, channel_manager, peer_manager, Arc::new(StdoutLogger),
/// )
/// .mobile(true)
/// .spawn()?;
///
/// // ... run the node ...
///
/// println!("{:?}", processor.stats().persist_lag);
/// processor.stop().await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "the processor stops when this value is dropped; keep it until shutdown"]
pub struct TokioProcessor {
    stopper: Stopper,
    task: Option<JoinHandle<Result<(), Error>>>,
    logger: Arc<dyn Logger + Send + Sync>,
}

impl TokioProcessor {
    pub(super) fn new(
        stopper: Stopper,
        task: JoinHandle<Result<(), Error>>,
        logger: Arc<dyn Logger + Send + Sync>,
    ) -> Self {
        Self {
            stopper,
            task: Some(task),
            logger,
        }
    }

    /// Stops the processor and waits for its final writes.
    ///
    /// Returns once the ChannelManager, the network graph, the scorer and the LiquidityManager
    /// are written and the event handler has returned. Nothing is written after it returns.
    ///
    /// # Errors
    ///
    /// Returns the error that ended the processor, as the thread runner's `stop()` does, and
    /// [`Error::ProcessorPanicked`] if the task panicked or the runtime shut down under it.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.stopper.request_stop();
        self.join_task().await
    }

    /// Waits until the processor ends on its own, after an error.
    ///
    /// # Errors
    ///
    /// Returns the error that ended the processor, as [`stop`](Self::stop) does.
    pub async fn join(mut self) -> Result<(), Error> {
        self.join_task().await
    }

    /// Returns whether the processor task has ended, without waiting.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Returns a snapshot of the processor's counters.
    pub fn stats(&self) -> Stats {
        self.stopper.stats()
    }

    /// Returns a stopper for this processor, to stop it from elsewhere.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    async fn join_task(&mut self) -> Result<(), Error> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result,
            Err(error) if error.is_panic() => Err(Error::ProcessorPanicked {
                message: crate::error::panic_message(error.into_panic().as_ref()),
            }),
            Err(_) => Err(Error::ProcessorPanicked {
                message: "the processor task was cancelled because its runtime shut down"
                    .to_owned(),
            }),
        }
    }
}

impl Drop for TokioProcessor {
    fn drop(&mut self) {
        if self.task.is_some() {
            lightning::log_info!(
                self.logger,
                "Processor handle dropped; the task stops after its final writes"
            );
            self.stopper.request_stop();
        }
    }
}
