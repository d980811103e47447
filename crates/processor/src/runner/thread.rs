//! The thread runner: a `vigil-processor` thread that turns the core and waits, and a
//! `vigil-events` thread that hands out events.
//!
//! The processor thread is the only one that writes. The event thread blocks in the gate
//! before each event while a ChannelManager write is owed, so the user never sees an event
//! before the state that produced it is stored. The processor does not wait for the user's
//! handler. The event thread hands out ChainMonitor and OnionMessenger events through LDK's
//! async event processing, polled to completion on that thread, because LDK's blocking form
//! keeps locks during the handler call that the processor thread may need before it writes.
//! `docs/ARCHITECTURE.md` describes the ordering in full.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use lightning::events::EventHandler;
use lightning::util::logger::Logger;
use lightning::util::persist::KVStoreSync;
use vigil_scheduler::{Clock, Signal};

use crate::builder::Builder;
use crate::components::{ChainMonitorDriver, ChannelManagerDriver, PeerManagerDriver};
use crate::core::{Core, EventPump, Step, WorkerLink};
use crate::error::{panic_message, Error};
use crate::stats::{Stats, StatsRecorder};

/// How long the event thread waits for a signal before it checks again. It is only a safety
/// net, because every event source and `stop()` raise the signal.
const WORKER_IDLE_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// Runs the background work of an LDK node on its own threads, until stopped.
///
/// Duties:
/// - hands the events of the ChannelManager, the ChainMonitor and the OnionMessenger to the
///   event handler, after the network graph and the scorer have seen them;
/// - writes the ChannelManager whenever it needs it, without waiting for the handler;
/// - calls the timers of the ChannelManager, the PeerManager, the OnionMessenger and the
///   ChainMonitor, prunes and writes the network graph, decays and writes the scorer, runs
///   the OutputSweeper, writes the LiquidityManager and processes HTLC forwards;
/// - disconnects all peers after a suspended process resumes;
/// - on [`stop`](Self::stop) or drop, disconnects all peers and writes the ChannelManager,
///   the scorer and the network graph one last time, and persists the LiquidityManager.
///
/// The thread sleeps until the next job is due, an LDK component signals work, or `stop()`
/// is called; it never polls.
///
/// # Note
///
/// A ChannelManager write that fails on every attempt of the retry policy stops the
/// processor; [`join`](Self::join) and [`stop`](Self::stop) then return [`Error::Persist`].
/// The stored ChannelManager is then older than the one in memory, and restarting from it
/// may force-close channels.
///
/// # Examples
///
/// Starting the processor for a node built from LDK's `SimpleArc` type aliases:
///
/// ```no_run
/// use std::sync::{Arc, RwLock};
///
/// use lightning::events::{Event, ReplayEvent};
/// use lightning::routing::scoring::ProbabilisticScorer;
/// use vigil_persistence::MemoryStore;
/// use vigil_processor::{BackgroundProcessor, Gossip};
/// # use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
/// # use lightning::chain::chainmonitor::{ChainMonitor, Persist};
/// # use lightning::chain::Filter;
/// # use lightning::ln::channelmanager::SimpleArcChannelManager;
/// # use lightning::ln::peer_handler::{SimpleArcPeerManager, SocketDescriptor};
/// # use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
/// # use lightning::routing::utxo::UtxoLookup;
/// # use lightning::sign::{InMemorySigner, KeysManager};
/// # use lightning::util::logger::{Logger, Record};
/// # #[derive(Clone, PartialEq, Eq, Hash)]
/// # struct Socket;
/// # impl SocketDescriptor for Socket {
/// #     fn send_data(&mut self, _: &[u8], _: bool) -> usize { 0 }
/// #     fn disconnect_socket(&mut self) {}
/// # }
/// # struct StdoutLogger;
/// # impl Logger for StdoutLogger {
/// #     fn log(&self, record: Record) { println!("{}", record.args); }
/// # }
/// # type Broadcaster = dyn BroadcasterInterface + Send + Sync;
/// # type Fees = dyn FeeEstimator + Send + Sync;
/// # type ChainSource = dyn Filter + Send + Sync;
/// # type MonitorStore = dyn Persist<InMemorySigner> + Send + Sync;
/// # type Utxos = dyn UtxoLookup + Send + Sync;
/// # type Monitor = ChainMonitor<InMemorySigner, Arc<ChainSource>, Arc<Broadcaster>, Arc<Fees>,
/// #     Arc<StdoutLogger>, Arc<MonitorStore>, Arc<KeysManager>>;
/// # type Manager = SimpleArcChannelManager<Monitor, Broadcaster, Fees, StdoutLogger>;
/// # type Peers = SimpleArcPeerManager<Socket, Monitor, Broadcaster, Fees, Arc<Utxos>, StdoutLogger,
/// #     ChainSource, MonitorStore>;
/// # type Graph = NetworkGraph<Arc<StdoutLogger>>;
/// # type GossipSync = P2PGossipSync<Arc<Graph>, Arc<Utxos>, Arc<StdoutLogger>>;
/// # type Scorer = RwLock<ProbabilisticScorer<Arc<Graph>, Arc<StdoutLogger>>>;
///
/// fn run_node(
///     channel_manager: Arc<Manager>,
///     chain_monitor: Arc<Monitor>,
///     peer_manager: Arc<Peers>,
///     gossip_sync: Arc<GossipSync>,
///     scorer: Arc<Scorer>,
///     logger: Arc<StdoutLogger>,
/// ) -> Result<(), vigil_processor::Error> {
///     let store = Arc::new(MemoryStore::new());
///     let handler = |event: Event| -> Result<(), ReplayEvent> {
///         println!("handling {event:?}");
///         Ok(())
///     };
///
///     let processor = BackgroundProcessor::builder(
///         store, handler, chain_monitor, channel_manager, peer_manager, logger,
///     )
///     .gossip(Gossip::p2p(gossip_sync))
///     .scorer(scorer)
///     .start()?;
///
///     // ... run the node until shutdown ...
///
///     processor.stop()
/// }
///
/// // Every optional part can be left out, still with no type annotation.
/// fn run_minimal(
///     channel_manager: Arc<Manager>,
///     chain_monitor: Arc<Monitor>,
///     peer_manager: Arc<Peers>,
///     logger: Arc<StdoutLogger>,
/// ) -> Result<(), vigil_processor::Error> {
///     let store = Arc::new(MemoryStore::new());
///     let handler = |_event: Event| -> Result<(), ReplayEvent> { Ok(()) };
///     BackgroundProcessor::builder(store, handler, chain_monitor, channel_manager, peer_manager, logger)
///         .start()?
///         .stop()
/// }
/// ```
#[must_use = "the processor stops when this value is dropped; keep it until shutdown"]
pub struct BackgroundProcessor {
    stop: StopHandle,
    stats: Arc<StatsRecorder>,
    logger: Arc<dyn Logger + Send + Sync>,
    processor: Option<JoinHandle<Result<(), Error>>>,
    worker: Option<(JoinHandle<()>, Arc<WorkerLink>)>,
}

/// The stop flag and signal through which `stop()` reaches the processor thread.
struct StopHandle {
    requested: Arc<std::sync::atomic::AtomicBool>,
    signal: Signal,
}

impl StopHandle {
    fn request(&self) {
        self.requested.store(true, Ordering::Release);
        self.signal.raise();
    }
}

impl BackgroundProcessor {
    /// Returns a builder with the required parts; optional parts and [`Builder::start`]
    /// follow.
    ///
    /// The components are the LDK objects themselves behind `Arc`s (any type implementing
    /// the [component traits](crate::components)), so no type annotation is needed.
    pub fn builder<S, H, M, C, P, L>(
        store: Arc<S>,
        event_handler: H,
        chain_monitor: Arc<M>,
        channel_manager: Arc<C>,
        peer_manager: Arc<P>,
        logger: Arc<L>,
    ) -> Builder
    where
        S: KVStoreSync + Send + Sync + 'static,
        H: EventHandler + Send + Sync + 'static,
        M: ChainMonitorDriver + 'static,
        C: ChannelManagerDriver + 'static,
        P: PeerManagerDriver + 'static,
        L: Logger + Send + Sync + 'static,
    {
        Builder::new(
            store,
            event_handler,
            chain_monitor,
            channel_manager,
            peer_manager,
            logger,
        )
    }

    pub(crate) fn spawn(
        core: Core,
        clock: Arc<dyn Clock>,
        logger: Arc<dyn Logger + Send + Sync>,
    ) -> Result<Self, Error> {
        let stop = StopHandle {
            requested: core.stop_handle(),
            signal: core.signal(),
        };
        let stats = core.stats_recorder();
        let link = core
            .worker_link()
            .expect("a core built for the thread runner has an event worker");

        let worker = spawn_worker(
            core.pump(),
            Arc::clone(&link),
            Arc::clone(&clock),
            core.signal(),
        )?;
        let processor = thread::Builder::new()
            .name("vigil-processor".to_owned())
            .spawn(move || run_processor(core, clock));
        let processor = match processor {
            Ok(handle) => handle,
            Err(source) => {
                link.stop.store(true, Ordering::Release);
                link.signal.raise();
                return Err(Error::Spawn {
                    name: "vigil-processor",
                    source,
                });
            }
        };
        Ok(Self {
            stop,
            stats,
            logger,
            processor: Some(processor),
            worker: Some((worker, link)),
        })
    }

    /// Stops the processor and waits for its final writes.
    ///
    /// Returns as soon as the ChannelManager, the network graph, the scorer and the
    /// LiquidityManager are written and the event handler has returned. Nothing is written after it returns.
    ///
    /// # Errors
    ///
    /// Returns the error that ended the processor: [`Error::Persist`] if a ChannelManager
    /// write failed for good, [`Error::HandlerPanicked`] after a handler panic, or
    /// [`Error::ShutdownTimeout`] if the handler was still running after the final writes
    /// and the shutdown timeout.
    pub fn stop(mut self) -> Result<(), Error> {
        self.stop.request();
        self.join_threads()
    }

    /// Waits until the processor ends on its own, after an error.
    ///
    /// # Errors
    ///
    /// Returns the error that ended the processor, as [`stop`](Self::stop) does.
    pub fn join(mut self) -> Result<(), Error> {
        self.join_threads()
    }

    /// Returns whether the processor thread has ended, without waiting.
    pub fn is_finished(&self) -> bool {
        self.processor.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Returns a snapshot of the processor's counters.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    fn join_threads(&mut self) -> Result<(), Error> {
        let Some(processor) = self.processor.take() else {
            return Ok(());
        };
        let result = processor.join().unwrap_or_else(|payload| {
            Err(Error::ProcessorPanicked {
                message: panic_message(payload.as_ref()),
            })
        });

        // The event thread has left the user's handler unless the shutdown timed out. A
        // thread still inside the handler is detached and finishes on its own.
        if let Some((worker, link)) = self.worker.take() {
            if link.done.load(Ordering::Acquire) {
                let _ = worker.join();
            }
        }
        result
    }
}

impl Drop for BackgroundProcessor {
    fn drop(&mut self) {
        if self.processor.is_none() {
            return;
        }
        self.stop.request();
        if let Err(error) = self.join_threads() {
            lightning::log_error!(
                self.logger,
                "Background processor ended with an error: {}",
                error
            );
        }
    }
}

/// Turns the core and waits in between until it finishes; a panic becomes an error.
fn run_processor(mut core: Core, clock: Arc<dyn Clock>) -> Result<(), Error> {
    let signal = core.signal();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| loop {
        let now = clock.now();
        match core.turn(now) {
            Step::Wait(deadline) => {
                // A slow turn can end past its own deadline, and the wait then returns at
                // once. Lateness counts from when the wait began, so that is not a suspend.
                let expected_end = deadline.max(clock.now());
                clock.wait_until(&signal, deadline);
                core.record_wait(expected_end, clock.now());
            }
            Step::Finished(result) => return result,
        }
    }));
    outcome.unwrap_or_else(|payload| {
        Err(Error::ProcessorPanicked {
            message: panic_message(payload.as_ref()),
        })
    })
}

fn spawn_worker(
    pump: Arc<EventPump>,
    link: Arc<WorkerLink>,
    clock: Arc<dyn Clock>,
    processor: Signal,
) -> Result<JoinHandle<()>, Error> {
    thread::Builder::new()
        .name("vigil-events".to_owned())
        .spawn(move || run_worker(&pump, &link, &*clock, &processor))
        .map_err(|source| Error::Spawn {
            name: "vigil-events",
            source,
        })
}

/// Hands out events whenever a source signals, until the core requests a stop.
///
/// A panic outside the user's handler, which the dispatcher does not catch, is recorded in
/// `link`, so that the core stops with it instead of running on without an event worker.
fn run_worker(pump: &EventPump, link: &WorkerLink, clock: &dyn Clock, processor: &Signal) {
    // Marks the worker done and wakes the processor on every exit, after a panic was recorded.
    struct Done<'a>(&'a WorkerLink, &'a Signal);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.done.store(true, Ordering::Release);
            self.1.raise();
        }
    }
    let _done = Done(link, processor);

    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        worker_loop(pump, link, clock, processor);
    }));
    if let Err(payload) = outcome {
        link.record_panic(panic_message(payload.as_ref()));
    }
}

fn worker_loop(pump: &EventPump, link: &WorkerLink, clock: &dyn Clock, processor: &Signal) {
    while !link.stop.load(Ordering::Acquire) {
        let round = pump.dispatch_all();

        // Handled events may have changed the scorer, and a panic stops the processor.
        if round.handled > 0 || pump.failure().is_some() {
            processor.raise();
        }
        if link.stop.load(Ordering::Acquire) {
            break;
        }
        clock.wait_until(&link.signal, clock.now() + WORKER_IDLE_WAIT);
    }
}
