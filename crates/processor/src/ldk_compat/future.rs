//! The reference API's async functions, on Vigil's async runner.

use std::future::{poll_fn, Future, Ready};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use lightning::chain;
use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::events::{Event, ReplayEvent};
use lightning::ln::channelmanager::AChannelManager;
use lightning::ln::peer_handler::APeerManager;
use lightning::onion_message::messenger::AOnionMessenger;
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::scoring::WriteableScore;
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{
    ChangeDestinationSource, ChangeDestinationSourceSync, EntropySource, OutputSpender,
};
use lightning::util::logger::Logger;
use lightning::util::persist::{KVStore, KVStoreSync, KVStoreSyncWrapper};
use lightning::util::sweep::{OutputSweeper, OutputSweeperSync};
use lightning_liquidity::ALiquidityManager;
use lightning_rapid_gossip_sync::RapidGossipSync;
use parking_lot::Mutex;
use vigil_scheduler::{Clock, DeadlineFuture, Signal, SystemClock, Wake};

use super::adapters::{Handle, ScorerHandle};
use super::bridge::{bridge, serve, Caller, CatchPanic, Caught, Server};
use super::sleep::SleeperTimer;
use super::{into_io_error, GossipSync};
use crate::components::WakeCallback;
use crate::error::Error;
use crate::runner::tokio::{record_panic, EventTask};
use crate::runner::tokio::{
    AsyncBuilder, AsyncLiquidityDriver, AsyncProcessor, AsyncSweeperDriver, LiquidityPersistFuture,
    SweepFuture,
};
use crate::stats::EventSource;

/// The system clock, with the wall-clock time read from the caller's `fetch_time`.
///
/// The caller's `fetch_time` need not be `Send` or `'static`, so the processor's future
/// reads it each time it is polled and stores the result here.
pub(super) struct FetchedTimeClock {
    pub(super) since_epoch: Mutex<Option<Duration>>,
}

impl Clock for FetchedTimeClock {
    fn now(&self) -> Instant {
        SystemClock.now()
    }

    fn since_epoch(&self) -> Option<Duration> {
        *self.since_epoch.lock()
    }

    fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake {
        SystemClock.wait_until(signal, deadline)
    }

    fn deadline_future(&self, _deadline: Instant) -> Option<DeadlineFuture> {
        // The runner waits through the caller's sleeper instead.
        None
    }
}

/// The components whose events the caller's future hands out, through LDK's async event
/// processing, so that no event future has to be `Send`.
pub(super) struct EventComponents<CM, M, OM> {
    pub(super) channel_manager: Arc<Handle<CM>>,
    pub(super) chain_monitor: Arc<Handle<M>>,
    pub(super) onion_messenger: Option<Arc<Handle<OM>>>,
}

/// Hands out the pending events of every component through an event task.
pub(super) trait DispatchAll {
    /// Hands out the pending events of the ChannelManager, then of the ChainMonitor, each
    /// through the event task's gate and dispatcher.
    async fn dispatch_all(&self, task: &EventTask);
}

/// Hands out the pending events of the OnionMessenger through the event task.
///
/// NOTE: a generic `async fn` rather than part of [`DispatchAll`]: with the OnionMessenger
/// behind a trait method, rustc 1.95 could not prove the caller's future `Send` for the
/// type of `NO_ONION_MESSENGER`, whose associated types contain `&'static` references.
async fn dispatch_onion_messages<OM>(messenger: Option<&Handle<OM>>, task: &EventTask)
where
    OM: Deref,
    OM::Target: AOnionMessenger,
{
    if let Some(messenger) = messenger {
        // The OnionMessenger takes only `Unpin` handler futures.
        let handler = |event| Box::pin(task.handle(EventSource::OnionMessenger, event));
        messenger
            .0
            .get_om()
            .process_pending_events_async(handler)
            .await;
    }
}

impl<CM, M, OM, SG, CF, T, F, L, P, ES> DispatchAll for EventComponents<CM, M, OM>
where
    CM: Deref,
    CM::Target: AChannelManager<Signer = SG>,
    M: Deref<Target = ChainMonitor<SG, CF, T, F, L, P, ES>>,
    SG: lightning::sign::ecdsa::EcdsaChannelSigner,
    CF: Deref,
    T: Deref,
    F: Deref,
    L: Deref,
    P: Deref,
    ES: Deref,
    CF::Target: chain::Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<SG>,
    ES::Target: EntropySource,
{
    async fn dispatch_all(&self, task: &EventTask) {
        let channel_manager = self.channel_manager.0.get_cm();
        channel_manager
            .process_pending_events_async(|event| task.handle(EventSource::ChannelManager, event))
            .await;
        self.chain_monitor
            .0
            .process_pending_events_async(|event| task.handle(EventSource::ChainMonitor, event))
            .await;
    }
}

/// The runner's view of the LiquidityManager: its wake future, read through its handle,
/// and its async persist, which runs in the caller's future.
struct LiquidityBridge<LM> {
    manager: Arc<Handle<LM>>,
    persist: Caller<(), Result<bool, std::io::Error>>,
}

impl<LM> AsyncLiquidityDriver for LiquidityBridge<LM>
where
    LM: Deref + Send + Sync + 'static,
    LM::Target: ALiquidityManager,
{
    fn register_wake(&self, callback: WakeCallback) {
        let future = self
            .manager
            .0
            .get_lm()
            .get_pending_msgs_or_needs_persist_future();
        future.register_callback(Box::new(callback));
    }

    fn persist_async(self: Arc<Self>) -> LiquidityPersistFuture {
        let reply = self.persist.call(());
        Box::pin(async move {
            reply.await.unwrap_or_else(|| {
                Err(std::io::Error::other(
                    "LiquidityManager persist not run: the processor's future was dropped",
                ))
            })
        })
    }
}

/// The runner's view of the async OutputSweeper. Each run happens in the caller's future.
struct SweepBridge(Caller<(), Result<(), ()>>);

impl AsyncSweeperDriver for SweepBridge {
    fn regenerate_and_broadcast_spend_async(self: Arc<Self>) -> SweepFuture {
        let reply = self.0.call(());
        Box::pin(async move { reply.await.unwrap_or(Err(())) })
    }
}

/// The caller's end of the LiquidityManager persist bridge.
pub(super) type LiquidityServer = Server<(), Result<bool, std::io::Error>>;

/// The caller's end of the OutputSweeper bridge.
pub(super) type SweepServer = Server<(), Result<(), ()>>;

/// The sweep work of a processor whose sweeper runs inside its turns.
type NoSweep = fn(()) -> Ready<Result<(), ()>>;

/// The reply to an event: the handler's result, or the payload of its panic.
pub(super) type EventReply = Caught<Result<(), ReplayEvent>>;

/// Returns the handler the runner's dispatcher calls: it hands each event to the caller's
/// future and returns the user's result, resuming a panic of the user's handler so that
/// the dispatcher records it.
pub(super) fn forwarding_handler(
    events: Caller<Event, EventReply>,
) -> impl Fn(Event) -> Pin<Box<dyn Future<Output = Result<(), ReplayEvent>> + Send>> + Send + Sync {
    move |event| {
        let reply = events.call(event);
        Box::pin(async move {
            match reply.await {
                Some(Ok(result)) => result,
                Some(Err(payload)) => std::panic::resume_unwind(payload),
                // The caller's future is gone; LDK hands the event out again next time.
                None => Err(ReplayEvent()),
            }
        })
    }
}

/// The caller-side work of a processor: the user's handler, and the LiquidityManager and
/// OutputSweeper runs, each awaited in the caller's future.
pub(super) struct CallerWork<HandlerWork, LiquidityWork, SweepWork> {
    pub(super) events: (Server<Event, EventReply>, HandlerWork),
    pub(super) liquidity: Option<(LiquidityServer, LiquidityWork)>,
    pub(super) sweep: Option<(SweepServer, SweepWork)>,
}

/// Polls, in the caller's future, the runner's `turning` future, the event `task` with the
/// events of `components`, and the caller-side `work`, until `turning` completes.
///
/// `fetch_time` is read on every poll, so the processor's wall-clock time is never older
/// than the poll it is used in.
pub(super) async fn run_in_caller<
    CM,
    M,
    OM,
    HandlerWork,
    HF,
    LiquidityWork,
    LF,
    SweepWork,
    SF,
    FetchTime,
>(
    turning: impl Future<Output = Result<(), Error>>,
    task: Arc<EventTask>,
    components: EventComponents<CM, M, OM>,
    work: CallerWork<HandlerWork, LiquidityWork, SweepWork>,
    clock: Arc<FetchedTimeClock>,
    fetch_time: FetchTime,
) -> Result<(), Error>
where
    EventComponents<CM, M, OM>: DispatchAll,
    OM: Deref,
    OM::Target: AOnionMessenger,
    HandlerWork: FnMut(Event) -> HF,
    HF: Future<Output = EventReply>,
    LiquidityWork: FnMut(()) -> LF,
    LF: Future<Output = Result<bool, std::io::Error>>,
    SweepWork: FnMut(()) -> SF,
    SF: Future<Output = Result<(), ()>>,
    FetchTime: Fn() -> Option<Duration>,
{
    let dispatch = || async {
        components.dispatch_all(&task).await;
        dispatch_onion_messages(components.onion_messenger.as_deref(), &task).await;
    };
    let events = record_panic(&task.link, task.run_loop(dispatch));
    let (event_server, handler_work) = work.events;
    let handlers = serve(event_server, handler_work);
    let liquidity = async {
        if let Some((server, persist)) = work.liquidity {
            serve(server, persist).await;
        }
    };
    let sweeps = async {
        if let Some((server, sweep)) = work.sweep {
            serve(server, sweep).await;
        }
    };

    let mut parts = InCallerParts {
        turning: Some(Box::pin(turning)),
        events: Box::pin(events),
        events_ended: false,
        caller_work: Some(Box::pin(async {
            tokio::join!(handlers, liquidity, sweeps);
        })),
    };
    poll_fn(|context| {
        *clock.since_epoch.lock() = fetch_time();
        parts.poll_turning(context)
    })
    .await
}

/// The futures that [`run_in_caller`] polls, and what it does when they end or are dropped.
///
/// LDK 0.2.7's `process_pending_events_async` marks its component as busy until the call
/// completes, and returns at once from every later call while that mark is set. Dropping
/// the event future while it awaits a handler would leave the mark set, so no later
/// processor on the same components would receive their events. Dropping these parts
/// therefore first drops the processor and the user's pending handler futures, which makes
/// every pending event return `ReplayEvent`, and then polls the event future until LDK's
/// calls have completed.
struct InCallerParts<Turning, Events, CallerSide>
where
    Events: Future<Output = ()>,
{
    turning: Option<Pin<Box<Turning>>>,
    events: Pin<Box<Events>>,
    events_ended: bool,
    /// The user's handler futures and the LiquidityManager and OutputSweeper runs.
    caller_work: Option<Pin<Box<CallerSide>>>,
}

/// The maximum number of polls of the event future while its parts are dropped. Once the
/// core is gone, every event's future returns at its first poll, so one poll is enough;
/// the rest are a margin.
const MAX_UNWIND_POLLS: usize = 8;

impl<Turning, Events, CallerSide> InCallerParts<Turning, Events, CallerSide>
where
    Turning: Future<Output = Result<(), Error>>,
    Events: Future<Output = ()>,
    CallerSide: Future<Output = ()>,
{
    /// Polls the event future and the caller-side work, then the turning future, and
    /// returns the latter's result.
    fn poll_turning(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if !self.events_ended {
            self.events_ended = self.events.as_mut().poll(context).is_ready();
        }
        // The caller-side work ends only when the processor's parts are gone.
        if let Some(work) = &mut self.caller_work {
            let _ = work.as_mut().poll(context);
        }
        match &mut self.turning {
            Some(turning) => turning.as_mut().poll(context),
            None => Poll::Pending,
        }
    }
}

impl<Turning, Events, CallerSide> Drop for InCallerParts<Turning, Events, CallerSide>
where
    Events: Future<Output = ()>,
{
    fn drop(&mut self) {
        // The core's drop closes the gate and sets the event loop's stop flag.
        self.turning = None;
        // Each event waiting for a dropped handler future or a closed gate returns
        // `ReplayEvent`, so LDK keeps it and hands it out again.
        self.caller_work = None;
        let mut context = Context::from_waker(Waker::noop());
        for _ in 0..MAX_UNWIND_POLLS {
            if self.events_ended {
                return;
            }
            self.events_ended = self.events.as_mut().poll(&mut context).is_ready();
        }
    }
}

/// A processor built from the reference's arguments, with the caller-side ends of its
/// bridges, ready to run in the caller's future.
struct Prepared<CM, M, OM, LM> {
    processor: AsyncProcessor,
    components: EventComponents<CM, M, OM>,
    events: Server<Event, EventReply>,
    liquidity: Option<(LiquidityServer, Arc<Handle<LM>>)>,
    clock: Arc<FetchedTimeClock>,
}

/// Builds the processor of both async functions, which differ only in their store and
/// sweeper.
///
/// It runs before the caller's future is created: the components become `'static` trait
/// objects here, because proving `'static` inside an async body fails for handles whose
/// types contain references, such as the reference's `NO_ONION_MESSENGER`.
#[allow(
    clippy::too_many_arguments,
    reason = "the reference API's arguments, passed on"
)]
fn prepare<UL, CF, T, F, G, L, P, ES, M, CM, OM, PGS, RGS, PM, LM, S, SC>(
    store: Arc<dyn KVStore + Send + Sync>,
    chain_monitor: M,
    channel_manager: CM,
    onion_messenger: Option<OM>,
    gossip_sync: GossipSync<PGS, RGS, G, UL, L>,
    peer_manager: PM,
    liquidity_manager: Option<LM>,
    configure_sweeper: impl FnOnce(AsyncBuilder) -> AsyncBuilder,
    logger: L,
    scorer: Option<S>,
    mobile_interruptable_platform: bool,
    since_epoch: Option<Duration>,
) -> Result<Prepared<CM, M, OM, LM>, Error>
where
    UL: Deref + 'static,
    CF: Deref,
    T: Deref,
    F: Deref,
    G: Deref<Target = NetworkGraph<L>> + 'static,
    L: Deref + Send + Sync + 'static,
    P: Deref,
    ES: Deref,
    M: Deref<Target = ChainMonitor<<CM::Target as AChannelManager>::Signer, CF, T, F, L, P, ES>>
        + Send
        + Sync
        + 'static,
    CM: Deref + Send + Sync + 'static,
    OM: Deref + Send + Sync + 'static,
    PGS: Deref<Target = P2PGossipSync<G, UL, L>> + Send + Sync + 'static,
    RGS: Deref<Target = RapidGossipSync<G, L>> + Send + Sync + 'static,
    PM: Deref + Send + Sync + 'static,
    LM: Deref + Send + Sync + 'static,
    S: Deref<Target = SC> + Send + Sync + 'static,
    SC: for<'b> WriteableScore<'b> + 'static,
    UL::Target: UtxoLookup,
    CF::Target: chain::Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<<CM::Target as AChannelManager>::Signer>,
    ES::Target: EntropySource,
    CM::Target: AChannelManager,
    OM::Target: AOnionMessenger,
    PM::Target: APeerManager,
    LM::Target: ALiquidityManager,
{
    let clock = Arc::new(FetchedTimeClock {
        since_epoch: Mutex::new(since_epoch),
    });
    let (event_calls, events) = bridge();
    let channel_manager = Handle::shared(channel_manager);
    let chain_monitor = Handle::shared(chain_monitor);
    let onion_messenger = onion_messenger.map(Handle::shared);

    let mut builder = AsyncBuilder::with_external_events(
        store,
        Box::new(forwarding_handler(event_calls)),
        chain_monitor.clone(),
        channel_manager.clone(),
        Handle::shared(peer_manager),
        Handle::shared(logger),
    )
    .gossip(gossip_sync.into_gossip())
    .clock(clock.clone())
    .mobile(mobile_interruptable_platform);
    if let Some(messenger) = &onion_messenger {
        builder = builder.onion_messenger_driver(messenger.clone());
    }
    if let Some(scorer) = scorer {
        builder = builder.scorer(Arc::new(ScorerHandle(scorer)));
    }
    builder = configure_sweeper(builder);
    let mut liquidity = None;
    if let Some(manager) = liquidity_manager {
        let manager = Handle::shared(manager);
        let (persist, server) = bridge();
        builder = builder.liquidity_manager(Arc::new(LiquidityBridge {
            manager: manager.clone(),
            persist,
        }));
        liquidity = Some((server, manager));
    }

    Ok(Prepared {
        processor: builder.build()?,
        components: EventComponents {
            channel_manager,
            chain_monitor,
            onion_messenger,
        },
        events,
        liquidity,
        clock,
    })
}

impl<CM, M, OM, LM> Prepared<CM, M, OM, LM>
where
    EventComponents<CM, M, OM>: DispatchAll,
    OM: Deref,
    OM::Target: AOnionMessenger,
    LM: Deref,
    LM::Target: ALiquidityManager,
{
    /// Runs the processor in the caller's future until it ends.
    async fn run<EH, EHF, Sleeper, SleepFuture, FetchTime, SweepWork, SWF>(
        self,
        event_handler: EH,
        sweep: Option<(SweepServer, SweepWork)>,
        sleeper: Sleeper,
        fetch_time: FetchTime,
    ) -> Result<(), lightning::io::Error>
    where
        EH: Fn(Event) -> EHF,
        EHF: Future<Output = Result<(), ReplayEvent>>,
        SleepFuture: Future<Output = bool> + Unpin,
        Sleeper: Fn(Duration) -> SleepFuture,
        FetchTime: Fn() -> Option<Duration>,
        SweepWork: FnMut(()) -> SWF,
        SWF: Future<Output = Result<(), ()>>,
    {
        let (turning, task) = self.processor.into_inline_parts(SleeperTimer::new(sleeper));
        let liquidity = self.liquidity.map(|(server, manager)| {
            let persist = move |()| {
                let manager = manager.clone();
                async move {
                    let result = manager.0.get_lm().persist().await;
                    result.map_err(std::io::Error::from)
                }
            };
            (server, persist)
        });
        let handler_work = |event| CatchPanic(Box::pin(event_handler(event)));
        let work = CallerWork {
            events: (self.events, handler_work),
            liquidity,
            sweep,
        };
        run_in_caller(turning, task, self.components, work, self.clock, fetch_time)
            .await
            .map_err(into_ldk_io_error)
    }
}

/// Converts the error that ended a processor into LDK's `io::Error`, which the reference's
/// async functions return.
fn into_ldk_io_error(error: Error) -> lightning::io::Error {
    lightning::io::Error::from(into_io_error(error))
}

/// Runs the processor in the caller's future until `sleeper` returns a future that
/// completes with `true`, as the reference's `process_events_async`.
///
/// It takes the same arguments, in the same order and with the same types, as
/// `lightning_background_processor::process_events_async` 0.2.3. The returned future does
/// all the work in the caller's task and needs no tokio runtime: it waits through `sleeper`
/// and reads the wall-clock time through `fetch_time`, as the reference does. Its
/// behaviour differs from the reference's as follows:
/// - A stop takes effect as soon as the current `sleeper` future completes with `true`.
///   As in the reference, `sleeper` is not called after that. The waits of the stop
///   sequence (for a write retry or the event handler) are timed by a thread of their own.
///   An idle processor calls `sleeper` once per wait, for the time until its next due job
///   (with `mobile_interruptable_platform`, for at most a second). The reference calls it
///   for each of its timers, and waits at most 100 ms per loop with
///   `mobile_interruptable_platform` and at most 10 s (30 s in debug builds) without.
/// - ChannelManager writes do not wait for a slow event handler: the handler's future is
///   awaited beside the writes, and each event is handed out only after the ChannelManager
///   write owed at that moment is stored.
/// - A failed ChannelManager write is retried (three attempts by default) before the future
///   returns the store's last error.
/// - The scorer is written at most once a second after events change it, plus every five
///   minutes after decay, instead of once per payment event.
/// - Peers are disconnected after the process was suspended for more than a second, also
///   without `mobile_interruptable_platform`.
/// - A panic of `event_handler` does not unwind through the caller: the future returns an
///   error of kind `Other` that names the event.
/// - The OutputSweeper and the LiquidityManager persist run concurrently with the writes.
/// - A failed LiquidityManager persist is logged and retried with the next periodic job,
///   where the reference's future returns its error. The LiquidityManager is also persisted
///   once more at stop.
/// - It is a plain function that returns a future, not an `async fn`: the processor is
///   built when the function is called, and `fetch_time` is read once then. Its work, from
///   the first ChannelManager timer tick on, starts when the future is first polled.
/// - A failed final write of the network graph or the scorer is logged, not returned.
/// - The items shared with [`BackgroundProcessor`](super::BackgroundProcessor): the
///   ChannelManager write at start, the peers disconnected at stop, the archiving of
///   ChannelMonitors and the HTLC forward delays.
///
/// Beyond the reference's bounds, the component handles (`kv_store`, the ChainMonitor,
/// ChannelManager, OnionMessenger, gossip sync, PeerManager, LiquidityManager, logger and
/// scorer) must be `Send + Sync + 'static`, as `Arc`s are, because Vigil's runner keeps them
/// as shared trait objects. The sweeper, `event_handler`, `sleeper` and `fetch_time` keep
/// the reference's bounds: they run in the returned future, may borrow and need not be
/// `Send`.
///
/// # Cancellation
///
/// Dropping the returned future stops the processor at once, as in the reference: no peer
/// is disconnected and no final write is made, so a `sleeper` that completes with `true` is
/// the clean way to stop. The drop drops the pending `event_handler` future, LiquidityManager
/// persist and sweep. LDK hands out again every event whose handling the drop cut off,
/// except the OnionMessenger's `ConnectionNeeded`, which LDK 0.2.7 never replays. A
/// ChannelManager write already passed to `kv_store` may still complete afterwards, but a
/// new call on the same components writes the ChannelManager again at its start. The same
/// holds when the future completes while `event_handler` still runs, after the 30 s
/// shutdown timeout: its future is dropped and its event is handed out again later.
///
/// NOTE: a drop during a LiquidityManager persist leaves the LSPS2 and LSPS5 service
/// handlers of lightning-liquidity 0.2.7 marked as persisting, so they skip every later
/// persist in this process. The reference's future has the same limit.
///
/// # Errors
///
/// Returns the store's `io::Error` when a ChannelManager write, the final one included,
/// failed on every attempt, and an error of kind `Other` when the handler panicked or was
/// still running 30 s after a stop.
#[allow(clippy::too_many_arguments, reason = "the reference API's signature")]
#[allow(
    clippy::multiple_bound_locations,
    reason = "the reference's bounds stay in its order; Vigil's own are listed apart, last"
)]
pub fn process_events_async<
    'a,
    UL: Deref,
    CF: Deref,
    T: Deref,
    F: Deref,
    G: Deref<Target = NetworkGraph<L>>,
    L: Deref,
    P: Deref,
    EventHandlerFuture: Future<Output = Result<(), ReplayEvent>>,
    EventHandler: Fn(Event) -> EventHandlerFuture,
    ES: Deref,
    M: Deref<Target = ChainMonitor<<CM::Target as AChannelManager>::Signer, CF, T, F, L, P, ES>>,
    CM: Deref,
    OM: Deref,
    PGS: Deref<Target = P2PGossipSync<G, UL, L>>,
    RGS: Deref<Target = RapidGossipSync<G, L>>,
    PM: Deref,
    LM: Deref,
    D: Deref,
    O: Deref,
    K: Deref,
    OS: Deref<Target = OutputSweeper<T, D, F, CF, K, L, O>>,
    S: Deref<Target = SC>,
    SC: for<'b> WriteableScore<'b>,
    SleepFuture: Future<Output = bool> + Unpin,
    Sleeper: Fn(Duration) -> SleepFuture,
    FetchTime: Fn() -> Option<Duration>,
>(
    kv_store: K,
    event_handler: EventHandler,
    chain_monitor: M,
    channel_manager: CM,
    onion_messenger: Option<OM>,
    gossip_sync: GossipSync<PGS, RGS, G, UL, L>,
    peer_manager: PM,
    liquidity_manager: Option<LM>,
    sweeper: Option<OS>,
    logger: L,
    scorer: Option<S>,
    sleeper: Sleeper,
    mobile_interruptable_platform: bool,
    fetch_time: FetchTime,
) -> impl Future<Output = Result<(), lightning::io::Error>>
where
    UL::Target: UtxoLookup,
    CF::Target: chain::Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<<CM::Target as AChannelManager>::Signer>,
    ES::Target: EntropySource,
    CM::Target: AChannelManager,
    OM::Target: AOnionMessenger,
    PM::Target: APeerManager,
    LM::Target: ALiquidityManager,
    O::Target: OutputSpender,
    D::Target: ChangeDestinationSource,
    K::Target: KVStore,
    UL: 'static,
    G: 'static,
    L: Send + Sync + 'static,
    M: Send + Sync + 'static,
    CM: Send + Sync + 'static,
    OM: Send + Sync + 'static,
    PGS: Send + Sync + 'static,
    RGS: Send + Sync + 'static,
    PM: Send + Sync + 'static,
    LM: Send + Sync + 'static,
    K: Send + Sync + 'static,
    S: Send + Sync + 'static,
    SC: 'static,
{
    let (sweeps, sweep_server) = bridge();
    let has_sweeper = sweeper.is_some();
    let prepared = prepare(
        Handle::shared(kv_store),
        chain_monitor,
        channel_manager,
        onion_messenger,
        gossip_sync,
        peer_manager,
        liquidity_manager,
        |builder| match has_sweeper {
            true => builder.async_sweeper(Arc::new(SweepBridge(sweeps))),
            false => builder,
        },
        logger,
        scorer,
        mobile_interruptable_platform,
        fetch_time(),
    );
    async move {
        let prepared = prepared.map_err(into_ldk_io_error)?;
        // Each sweep runs in this future and borrows `sweeper`, which outlives it.
        let sweep = sweeper.as_ref().map(|sweeper| {
            let run = move |()| sweeper.regenerate_and_broadcast_spend_if_necessary();
            (sweep_server, run)
        });
        prepared
            .run(event_handler, sweep, sleeper, fetch_time)
            .await
    }
}

/// Runs the processor in the caller's future with a blocking store, as the reference's
/// `process_events_async_with_kv_store_sync`.
///
/// It takes the same arguments, in the same order and with the same types, as
/// `lightning_background_processor::process_events_async_with_kv_store_sync` 0.2.3, and
/// behaves as [`process_events_async`] does, with these differences of its own:
/// - Each store call blocks the caller's task until it returns, as in the reference.
/// - The blocking OutputSweeper runs inside the processor's turn, as the reference runs it.
///
/// The bounds are those of [`process_events_async`], and the sweeper handle too must be
/// `Send + Sync + 'static`, because its blocking runs happen inside the processor's turns.
///
/// # Cancellation
///
/// The same as for [`process_events_async`], except that no write is outstanding when the
/// future is dropped, because each store call completes inside a poll.
///
/// # Errors
///
/// The same as [`process_events_async`].
#[allow(clippy::too_many_arguments, reason = "the reference API's signature")]
#[allow(
    clippy::multiple_bound_locations,
    reason = "the reference's bounds stay in its order; Vigil's own are listed apart, last"
)]
pub fn process_events_async_with_kv_store_sync<
    UL: Deref,
    CF: Deref,
    T: Deref,
    F: Deref,
    G: Deref<Target = NetworkGraph<L>>,
    L: Deref,
    P: Deref,
    EventHandlerFuture: Future<Output = Result<(), ReplayEvent>>,
    EventHandler: Fn(Event) -> EventHandlerFuture,
    ES: Deref,
    M: Deref<Target = ChainMonitor<<CM::Target as AChannelManager>::Signer, CF, T, F, L, P, ES>>,
    CM: Deref,
    OM: Deref,
    PGS: Deref<Target = P2PGossipSync<G, UL, L>>,
    RGS: Deref<Target = RapidGossipSync<G, L>>,
    PM: Deref,
    LM: Deref,
    D: Deref,
    O: Deref,
    K: Deref,
    OS: Deref<Target = OutputSweeperSync<T, D, F, CF, K, L, O>>,
    S: Deref<Target = SC>,
    SC: for<'b> WriteableScore<'b>,
    SleepFuture: Future<Output = bool> + Unpin,
    Sleeper: Fn(Duration) -> SleepFuture,
    FetchTime: Fn() -> Option<Duration>,
>(
    kv_store: K,
    event_handler: EventHandler,
    chain_monitor: M,
    channel_manager: CM,
    onion_messenger: Option<OM>,
    gossip_sync: GossipSync<PGS, RGS, G, UL, L>,
    peer_manager: PM,
    liquidity_manager: Option<LM>,
    sweeper: Option<OS>,
    logger: L,
    scorer: Option<S>,
    sleeper: Sleeper,
    mobile_interruptable_platform: bool,
    fetch_time: FetchTime,
) -> impl Future<Output = Result<(), lightning::io::Error>>
where
    UL::Target: UtxoLookup,
    CF::Target: chain::Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<<CM::Target as AChannelManager>::Signer>,
    ES::Target: EntropySource,
    CM::Target: AChannelManager,
    OM::Target: AOnionMessenger,
    PM::Target: APeerManager,
    LM::Target: ALiquidityManager,
    O::Target: OutputSpender,
    D::Target: ChangeDestinationSourceSync,
    K::Target: KVStoreSync,
    UL: 'static,
    G: 'static,
    L: Send + Sync + 'static,
    M: Send + Sync + 'static,
    CM: Send + Sync + 'static,
    OM: Send + Sync + 'static,
    PGS: Send + Sync + 'static,
    RGS: Send + Sync + 'static,
    PM: Send + Sync + 'static,
    LM: Send + Sync + 'static,
    K: Send + Sync + 'static,
    OS: Send + Sync + 'static,
    S: Send + Sync + 'static,
    SC: 'static,
{
    let prepared = prepare(
        // Each store call completes before it returns, as in the reference.
        Arc::new(KVStoreSyncWrapper(kv_store)),
        chain_monitor,
        channel_manager,
        onion_messenger,
        gossip_sync,
        peer_manager,
        liquidity_manager,
        |builder| match sweeper {
            Some(sweeper) => builder.sweeper(Handle::shared(sweeper)),
            None => builder,
        },
        logger,
        scorer,
        mobile_interruptable_platform,
        fetch_time(),
    );
    async move {
        let prepared = prepared.map_err(into_ldk_io_error)?;
        let no_sweep: Option<(SweepServer, NoSweep)> = None;
        prepared
            .run(event_handler, no_sweep, sleeper, fetch_time)
            .await
    }
}
