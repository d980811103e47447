//! The builder of a [`BackgroundProcessor`](crate::BackgroundProcessor).

use std::ops::Deref;
use std::sync::Arc;

use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::scoring::WriteableScore;
use lightning::routing::utxo::UtxoLookup;
use lightning::util::logger::Logger;
use lightning::util::persist::KVStoreSync;
use lightning_rapid_gossip_sync::RapidGossipSync;
use vigil_events::{ChangeFlag, Dispatcher, NetworkGraphObserver, Observer, ScorerObserver};
use vigil_scheduler::{Clock, DelaySource, ForwardDelays, SystemClock};

use crate::components::{
    ChainMonitorDriver, ChannelManagerDriver, GossipDriver, LiquidityDriver, OnionMessengerDriver,
    PeerManagerDriver, SweeperDriver,
};
use crate::config::Config;
use crate::core::{Components, Core, CoreParts, Dispatch, EventSink};
use crate::error::Error;
use crate::runner::thread::BackgroundProcessor;

/// The gossip source whose network graph the processor prunes and writes.
///
/// With [`Gossip::p2p`] and [`Gossip::rapid`] the processor also applies the network
/// updates of failed payments to the graph, before the user's handler receives the event.
pub struct Gossip {
    driver: Option<Arc<dyn GossipDriver>>,
    observer: Option<Box<dyn Observer>>,
}

impl Gossip {
    /// Returns gossip from the peer-to-peer network: first prune 60 s after start.
    pub fn p2p<G, U, L>(sync: Arc<P2PGossipSync<G, U, L>>) -> Self
    where
        G: Deref<Target = NetworkGraph<L>> + Clone + Send + Sync + 'static,
        U: Deref + Send + Sync + 'static,
        L: Deref + Send + Sync + 'static,
        U::Target: UtxoLookup,
        L::Target: Logger,
    {
        let observer = NetworkGraphObserver::new(sync.network_graph().clone());
        Self {
            driver: Some(sync),
            observer: Some(Box::new(observer)),
        }
    }

    /// Returns rapid gossip sync: no prune and no graph write until its first sync
    /// completed, then a prune at once and hourly.
    pub fn rapid<G, L>(sync: Arc<RapidGossipSync<G, L>>) -> Self
    where
        G: Deref<Target = NetworkGraph<L>> + Clone + Send + Sync + 'static,
        L: Deref + Send + Sync + 'static,
        L::Target: Logger,
    {
        let observer = NetworkGraphObserver::new(sync.network_graph().clone());
        Self {
            driver: Some(sync),
            observer: Some(Box::new(observer)),
        }
    }

    /// Returns a gossip source from any [`GossipDriver`], with no graph observer.
    pub fn from_driver(driver: Arc<dyn GossipDriver>) -> Self {
        Self {
            driver: Some(driver),
            observer: None,
        }
    }

    /// Returns a gossip source from a driver and the observer that applies payment failures
    /// to its graph.
    #[cfg_attr(
        not(feature = "ldk-compat"),
        allow(dead_code, reason = "used only by the ldk_compat module")
    )]
    pub(crate) fn with_observer(
        driver: Arc<dyn GossipDriver>,
        observer: Box<dyn Observer>,
    ) -> Self {
        Self {
            driver: Some(driver),
            observer: Some(observer),
        }
    }

    /// Returns no gossip: no graph to prune or write.
    pub fn none() -> Self {
        Self {
            driver: None,
            observer: None,
        }
    }

    /// Returns the driver and the graph observer, for a builder of another runner.
    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "used only by the async runner")
    )]
    pub(crate) fn into_parts(self) -> GossipParts {
        (self.driver, self.observer)
    }
}

/// The gossip driver and its graph observer, each optional.
type GossipParts = (Option<Arc<dyn GossipDriver>>, Option<Box<dyn Observer>>);

/// Builds a scorer observer once the clock and logger are known.
type ScorerObserverFactory = Box<
    dyn FnOnce(Arc<dyn Clock>, Arc<dyn Logger + Send + Sync>) -> (Box<dyn Observer>, ChangeFlag)
        + Send,
>;

/// The user's handler behind a box, so that the builder needs no type parameter.
struct BoxedHandler(Box<dyn EventHandler + Send + Sync>);

impl EventHandler for BoxedHandler {
    fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        self.0.handle_event(event)
    }
}

/// Collects the parts of a processor; returned by [`BackgroundProcessor::builder`].
///
/// The optional parts default to: no gossip, no scorer, no onion messenger, no sweeper, no
/// liquidity manager, [`SystemClock`], [`Config::default`] and [`ForwardDelays::new`].
#[must_use = "a builder does nothing until start() is called"]
pub struct Builder {
    store: Arc<dyn KVStoreSync + Send + Sync>,
    handler: Box<dyn EventHandler + Send + Sync>,
    components: Components,
    logger: Arc<dyn Logger + Send + Sync>,
    graph_observer: Option<Box<dyn Observer>>,
    scorer_observer: Option<ScorerObserverFactory>,
    clock: Arc<dyn Clock>,
    config: Config,
    delays: Box<dyn DelaySource>,
}

impl Builder {
    pub(crate) fn new<S, H, M, C, P, L>(
        store: Arc<S>,
        event_handler: H,
        chain_monitor: Arc<M>,
        channel_manager: Arc<C>,
        peer_manager: Arc<P>,
        logger: Arc<L>,
    ) -> Self
    where
        S: KVStoreSync + Send + Sync + 'static,
        H: EventHandler + Send + Sync + 'static,
        M: ChainMonitorDriver + 'static,
        C: ChannelManagerDriver + 'static,
        P: PeerManagerDriver + 'static,
        L: Logger + Send + Sync + 'static,
    {
        Self {
            store,
            handler: Box::new(event_handler),
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
            logger,
            graph_observer: None,
            scorer_observer: None,
            clock: Arc::new(SystemClock),
            config: Config::default(),
            delays: Box::new(ForwardDelays::new()),
        }
    }

    /// Sets the gossip source whose graph is pruned and written.
    pub fn gossip(mut self, gossip: Gossip) -> Self {
        self.components.gossip = gossip.driver;
        self.graph_observer = gossip.observer;
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
    pub fn onion_messenger<O: OnionMessengerDriver + 'static>(mut self, messenger: Arc<O>) -> Self {
        self.components.onion_messenger = Some(messenger);
        self
    }

    /// Sets the OutputSweeper, run every 30 s by default.
    pub fn sweeper<W: SweeperDriver + 'static>(mut self, sweeper: Arc<W>) -> Self {
        self.components.sweeper = Some(sweeper);
        self
    }

    /// Sets the LiquidityManager, written whenever its future signals.
    pub fn liquidity_manager<Q: LiquidityDriver + 'static>(mut self, liquidity: Arc<Q>) -> Self {
        self.components.liquidity = Some(liquidity);
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

    /// Starts the processor on a thread named `vigil-processor`, with events handed out on
    /// a second thread named `vigil-events`.
    ///
    /// # Errors
    ///
    /// Returns [`Error::Config`] for an invalid config and [`Error::Spawn`] when a thread
    /// cannot be started.
    pub fn start(self) -> Result<BackgroundProcessor, Error> {
        let clock = Arc::clone(&self.clock);
        let logger = Arc::clone(&self.logger);
        let core = self.into_core(Dispatch::Worker)?;
        BackgroundProcessor::spawn(core, clock, logger)
    }

    /// Returns a core that hands out events inside its own turns, for a runner of your own.
    ///
    /// # Errors
    ///
    /// Returns [`Error::Config`] for an invalid config.
    pub fn build_core(self) -> Result<Core, Error> {
        self.into_core(Dispatch::Inline)
    }

    fn into_core(self, dispatch: Dispatch) -> Result<Core, Error> {
        let start = self.clock.now();
        let mut dispatcher =
            Dispatcher::new(BoxedHandler(self.handler)).with_logger(Arc::clone(&self.logger));
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
        let sink: Arc<dyn EventSink> = Arc::new(dispatcher);
        let parts = CoreParts {
            components: self.components,
            store: self.store,
            sink,
            scorer_changes,
            clock: self.clock,
            logger: self.logger,
            config: self.config,
            delays: self.delays,
        };
        Core::new(parts, dispatch, start)
    }
}
