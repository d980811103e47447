//! The builder of an async processor.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;

use lightning::events::{Event, ReplayEvent};
use lightning::routing::scoring::WriteableScore;
use lightning::util::logger::Logger;
use lightning::util::persist::{KVStore, KVStoreSync};
use vigil_events::{AsyncDispatcher, ChangeFlag, DispatchError, Observer, ScorerObserver};
use vigil_scheduler::{Clock, DelaySource, ForwardDelays, SystemClock};

use super::events::{EventSources, EventTask, UserHandler};
use super::handle::{Stopper, TokioProcessor};
use super::liquidity::{AsyncLiquidityDriver, DeferredLiquidity};
use super::sources::{ChainMonitorEvents, ChannelManagerEvents, OnionMessengerEvents};
use super::sweeper::{AsyncSweeperDriver, DeferredSweeper};
use super::{AsyncProcessor, AsyncSweeper};
use crate::builder::Gossip;
use crate::components::{
    ChainMonitorDriver, ChannelManagerDriver, OnionMessengerDriver, PeerManagerDriver,
    SweeperDriver,
};
use crate::config::Config;
use crate::core::{Components, Core, CoreParts, Dispatch, EventSink};
use crate::error::Error;
use crate::runner::thread::BackgroundProcessor;

impl BackgroundProcessor {
    /// Returns a builder for the async runner, with the required parts; optional parts and
    /// [`AsyncBuilder::spawn`] or [`AsyncBuilder::build`] follow.
    ///
    /// The store is any LDK async [`KVStore`], and the handler is a closure that returns a
    /// future, as for LDK's `process_pending_events_async`. The components are the LDK
    /// objects themselves behind `Arc`s, so no type annotation is needed.
    pub fn async_builder<S, H, Fut, M, C, P, L>(
        store: Arc<S>,
        event_handler: H,
        chain_monitor: Arc<M>,
        channel_manager: Arc<C>,
        peer_manager: Arc<P>,
        logger: Arc<L>,
    ) -> AsyncBuilder
    where
        S: KVStore + Send + Sync + 'static,
        H: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ReplayEvent>> + Send + 'static,
        M: ChainMonitorEvents + 'static,
        C: ChannelManagerEvents + 'static,
        P: PeerManagerDriver + 'static,
        L: Logger + Send + Sync + 'static,
    {
        let handler: UserHandler = Box::new(move |event| Box::pin(event_handler(event)));
        let mut builder = AsyncBuilder::with_external_events(
            store,
            handler,
            chain_monitor.clone(),
            channel_manager.clone(),
            peer_manager,
            logger,
        );
        builder.sources = Some(EventSources {
            channel_manager,
            chain_monitor,
            onion_messenger: None,
        });
        builder
    }
}

impl AsyncBuilder {
    /// Returns a builder whose event task hands out no events by itself. The caller then sets
    /// its event sources or runs the task's loop with a dispatch of its own.
    ///
    /// `ldk_compat` does the latter, because it keeps the components behind their own
    /// `Deref` handles and awaits their event futures in the caller's task.
    pub(crate) fn with_external_events(
        store: Arc<dyn KVStore + Send + Sync>,
        handler: UserHandler,
        chain_monitor: Arc<dyn ChainMonitorDriver>,
        channel_manager: Arc<dyn ChannelManagerDriver>,
        peer_manager: Arc<dyn PeerManagerDriver>,
        logger: Arc<dyn Logger + Send + Sync>,
    ) -> Self {
        AsyncBuilder {
            store,
            handler,
            components: Components {
                channel_manager,
                chain_monitor,
                peer_manager,
                onion_messenger: None,
                gossip: None,
                scorer: None,
                sweeper: None,
                liquidity: None,
            },
            sources: None,
            logger,
            graph_observer: None,
            scorer_observer: None,
            clock: Arc::new(SystemClock),
            config: Config::default(),
            delays: Box::new(ForwardDelays::new()),
            mobile: false,
            liquidity: None,
            sweeper: None,
        }
    }
}

/// Builds a scorer observer once the clock and logger are known.
type ScorerObserverFactory = Box<
    dyn FnOnce(Arc<dyn Clock>, Arc<dyn Logger + Send + Sync>) -> (Box<dyn Observer>, ChangeFlag)
        + Send,
>;

/// Collects the parts of an async processor; returned by
/// [`BackgroundProcessor::async_builder`].
///
/// The optional parts and their defaults are those of the thread runner's
/// [`Builder`](crate::Builder), plus [`mobile`](Self::mobile).
#[must_use = "a builder does nothing until spawn() or build() is called"]
pub struct AsyncBuilder {
    store: Arc<dyn KVStore + Send + Sync>,
    handler: UserHandler,
    components: Components,
    /// The components the event task hands events out from; `None` for a builder from
    /// [`AsyncBuilder::with_external_events`].
    sources: Option<EventSources>,
    logger: Arc<dyn Logger + Send + Sync>,
    graph_observer: Option<Box<dyn Observer>>,
    scorer_observer: Option<ScorerObserverFactory>,
    clock: Arc<dyn Clock>,
    config: Config,
    delays: Box<dyn DelaySource>,
    mobile: bool,
    liquidity: Option<Arc<dyn AsyncLiquidityDriver>>,
    sweeper: Option<AsyncSweeper>,
}

impl AsyncBuilder {
    /// Sets the gossip source whose graph is pruned and written.
    pub fn gossip(mut self, gossip: Gossip) -> Self {
        let (driver, observer) = gossip.into_parts();
        self.components.gossip = driver;
        self.graph_observer = observer;
        self
    }

    /// Sets the scorer: fed from payment and probe events, decayed and written.
    pub fn scorer<S>(mut self, scorer: Arc<S>) -> Self
    where
        S: for<'a> WriteableScore<'a> + Send + Sync + 'static,
    {
        let observed = Arc::clone(&scorer);
        self.scorer_observer = Some(Box::new(move |clock, logger| {
            let wall_clock = move || clock.since_epoch();
            let observer = ScorerObserver::new(observed, wall_clock, logger);
            let changes = observer.change_flag();
            (Box::new(observer) as Box<dyn Observer>, changes)
        }));
        self.components.scorer = Some(scorer);
        self
    }

    /// Sets the OnionMessenger: its events, wake future and timer.
    pub fn onion_messenger<O: OnionMessengerEvents + 'static>(mut self, messenger: Arc<O>) -> Self {
        self.components.onion_messenger = Some(messenger.clone());
        if let Some(sources) = &mut self.sources {
            sources.onion_messenger = Some(messenger);
        }
        self
    }

    /// Sets the OnionMessenger's wake future and timer, for a builder whose caller hands out
    /// its events.
    #[cfg_attr(
        not(feature = "ldk-compat"),
        allow(dead_code, reason = "used only by the ldk_compat module")
    )]
    pub(crate) fn onion_messenger_driver(
        mut self,
        messenger: Arc<dyn OnionMessengerDriver>,
    ) -> Self {
        self.components.onion_messenger = Some(messenger);
        self
    }

    /// Sets a blocking OutputSweeper (`OutputSweeperSync`), run every 30 s by default.
    ///
    /// It runs inside the turn, so its store writes block a runtime thread meanwhile; prefer
    /// [`async_sweeper`](Self::async_sweeper) with LDK's async `OutputSweeper`.
    pub fn sweeper<W: SweeperDriver + 'static>(mut self, sweeper: Arc<W>) -> Self {
        self.components.sweeper = Some(sweeper);
        self.sweeper = None;
        self
    }

    /// Sets LDK's async OutputSweeper, run every 30 s by default beside the writes in flight.
    pub fn async_sweeper<W: AsyncSweeperDriver + 'static>(mut self, sweeper: Arc<W>) -> Self {
        let requests = Arc::new(DeferredSweeper {
            requested: AtomicBool::new(false),
        });
        self.components.sweeper = Some(Arc::clone(&requests) as Arc<dyn SweeperDriver>);
        self.sweeper = Some(AsyncSweeper {
            driver: sweeper,
            requests,
        });
        self
    }

    /// Sets the LiquidityManager, persisted through its async `persist` whenever its future
    /// signals, concurrently with the processor's own writes.
    pub fn liquidity_manager<Q: AsyncLiquidityDriver + 'static>(
        mut self,
        liquidity: Arc<Q>,
    ) -> Self {
        let liquidity: Arc<dyn AsyncLiquidityDriver> = liquidity;
        self.components.liquidity = Some(Arc::new(DeferredLiquidity(Arc::clone(&liquidity))));
        self.liquidity = Some(liquidity);
        self
    }

    /// Sets the clock; tests pass a `ManualClock` to run in virtual time.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the intervals, delays and policies.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Sets where the HTLC forward delays come from.
    pub fn delays(mut self, delays: Box<dyn DelaySource>) -> Self {
        self.delays = delays;
        self
    }

    /// Sets whether the process runs on a platform that suspends it, such as a phone.
    ///
    /// When set, no wait lasts longer than [`Config::suspend_threshold`], so a suspend of
    /// any length is noticed when the process resumes and every peer is disconnected, as
    /// their connections are likely dead. It costs a wake-up per threshold (one per second
    /// by default) while idle. Without a threshold the flag has no effect.
    pub fn mobile(mut self, mobile: bool) -> Self {
        self.mobile = mobile;
        self
    }

    /// Builds the processor without running it, for a caller that spawns
    /// [`AsyncProcessor::run`] itself.
    ///
    /// # Errors
    ///
    /// Returns [`Error::Config`] for an invalid config.
    pub fn build(self) -> Result<AsyncProcessor, Error> {
        let start = self.clock.now();
        let mut dispatcher =
            AsyncDispatcher::new(self.handler).with_logger(Arc::clone(&self.logger));
        let clock = Arc::clone(&self.clock);
        dispatcher = dispatcher.with_clock(move || clock.now());
        if let Some(observer) = self.graph_observer {
            dispatcher = dispatcher.observe(move |event: &Event| observer.observe(event));
        }
        let mut scorer_changes = None;
        if let Some(factory) = self.scorer_observer {
            let (observer, changes) = factory(Arc::clone(&self.clock), Arc::clone(&self.logger));
            dispatcher = dispatcher.observe(move |event: &Event| observer.observe(event));
            scorer_changes = Some(changes);
        }
        let dispatcher = Arc::new(dispatcher);

        let parts = CoreParts {
            components: self.components,
            store: Arc::new(AsyncOnlyStore),
            sink: Arc::new(AsyncSink(Arc::clone(&dispatcher))),
            scorer_changes,
            clock: Arc::clone(&self.clock),
            logger: Arc::clone(&self.logger),
            config: self.config,
            delays: self.delays,
        };
        let mut core = Core::new(parts, Dispatch::Worker, start)?;
        core.defer_writes(self.store);

        let link = core
            .worker_link()
            .expect("a core built with Dispatch::Worker has an event worker link");
        let events = Arc::new(EventTask {
            sources: self.sources,
            dispatcher,
            gate: core.async_gate(),
            pump: core.pump(),
            stats: core.stats_recorder(),
            link,
            processor: core.signal(),
            handled: AtomicU64::new(0),
        });
        Ok(AsyncProcessor {
            core,
            events,
            clock: self.clock,
            mobile: self.mobile,
            liquidity: self.liquidity,
            sweeper: self.sweeper,
            logger: self.logger,
        })
    }

    /// Builds the processor and runs it as a task on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// Returns [`Error::Config`] for an invalid config and [`Error::NoRuntime`] when called
    /// outside a tokio runtime.
    pub fn spawn(self) -> Result<TokioProcessor, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let logger = Arc::clone(&self.logger);
        let processor = self.build()?;
        let stopper: Stopper = processor.stopper();
        let task = runtime.spawn(processor.run());
        Ok(TokioProcessor::new(stopper, task, logger))
    }
}

/// The blocking store of a core whose writes all go to an async store.
///
/// NOTE: `Core::defer_writes` routes every processor write to the async store, so no call
/// reaches this store. Should one, it fails with an error naming the key instead of
/// blocking the runtime.
struct AsyncOnlyStore;

impl AsyncOnlyStore {
    fn error(key: &str) -> lightning::io::Error {
        lightning::io::Error::new(
            lightning::io::ErrorKind::Other,
            format!("blocking access to key {key} in a processor that uses an async store"),
        )
    }
}

impl KVStoreSync for AsyncOnlyStore {
    fn read(&self, _: &str, _: &str, key: &str) -> Result<Vec<u8>, lightning::io::Error> {
        Err(Self::error(key))
    }

    fn write(&self, _: &str, _: &str, key: &str, _: Vec<u8>) -> Result<(), lightning::io::Error> {
        Err(Self::error(key))
    }

    fn remove(&self, _: &str, _: &str, key: &str, _: bool) -> Result<(), lightning::io::Error> {
        Err(Self::error(key))
    }

    fn list(&self, primary: &str, _: &str) -> Result<Vec<String>, lightning::io::Error> {
        Err(Self::error(primary))
    }
}

/// The async dispatcher behind the core's blocking event pump.
///
/// The async runner's core hands out no events itself, so only failures pass through here.
struct AsyncSink(Arc<AsyncDispatcher<UserHandler>>);

impl EventSink for AsyncSink {
    fn handle(&self, _event: Event) -> Result<(), ReplayEvent> {
        // The event task hands out every event; an event offered here stays in LDK.
        Err(ReplayEvent())
    }

    fn take_failure(&self) -> Option<DispatchError> {
        self.0.take_failure()
    }
}
