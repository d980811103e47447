//! Building the parts of a node, new or around state read back from its store.

use std::sync::{Arc, Mutex as StdMutex};

use lightning::chain::chainmonitor::ChainMonitor;
use lightning::chain::BestBlock;
use lightning::ln::channelmanager::{ChainParameters, ChannelManager};
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler, PeerManager};
use lightning::onion_message::messenger::{DefaultMessageRouter, OnionMessenger};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{EntropySource, KeysManager, NodeSigner, Recipient};
use lightning::util::persist::KVStoreSync;
use lightning::util::sweep::OutputSweeperSync;

use crate::broadcast::NodeBroadcaster;
use crate::chain::Chain;
use crate::error::SimnetError;
use crate::fees::FixedFeeEstimator;
use crate::handler::NodeEventHandler;
use crate::keys;
use crate::logger::NodeLogger;
use crate::node::{unix_now, NodeConfig, NodeEnv, NodeParts};
use crate::recorder::EventRecorder;
use crate::store::NodeStore;
use crate::types::{
    SimChainMonitor, SimChannelManager, SimLockedScorer, SimMessageRouter, SimNetworkGraph,
    SimRouter, SimSweeper,
};
use crate::wallet::Wallet;

/// The parts a node has before its ChannelManager and sweeper exist, whether they are built
/// new or read from the store.
pub(crate) struct BaseParts {
    pub(crate) logger: Arc<NodeLogger>,
    pub(crate) store: Arc<NodeStore>,
    pub(crate) keys_manager: Arc<KeysManager>,
    pub(crate) broadcaster: Arc<NodeBroadcaster>,
    pub(crate) fee_estimator: Arc<FixedFeeEstimator>,
    pub(crate) wallet: Arc<Wallet>,
    pub(crate) network_graph: Arc<SimNetworkGraph>,
    pub(crate) scorer: Arc<SimLockedScorer>,
    pub(crate) router: Arc<SimRouter>,
    pub(crate) message_router: Arc<SimMessageRouter>,
    pub(crate) chain_monitor: Arc<SimChainMonitor>,
    pub(crate) chain: Arc<Chain>,
}

impl BaseParts {
    /// Builds the parts that do not depend on stored channel state, reading the graph and the
    /// scorer back from the store when they are there.
    pub(crate) fn build(config: &NodeConfig, env: &NodeEnv) -> Result<Self, SimnetError> {
        let logger = NodeLogger::shared(config.name.clone(), config.log.clone());
        let backend = open_store(config)?;
        let store = Arc::new(NodeStore::new(backend).with_logger(Arc::clone(&logger) as _));
        let keys_manager = Arc::new(keys::keys_manager(&config.seed));
        let broadcaster = Arc::new(NodeBroadcaster::new(Arc::clone(&env.chain)));
        let wallet = Arc::new(Wallet::new(&config.seed));

        let network_graph = crate::restart::read_network_graph(&store, &logger, &config.name)?;
        let scorer = crate::restart::read_scorer(&store, &network_graph, &logger, &config.name)?;
        let scorer: Arc<SimLockedScorer> = Arc::new(StdMutex::new(scorer));
        let router = Arc::new(DefaultRouter::new(
            Arc::clone(&network_graph),
            Arc::clone(&logger),
            Arc::clone(&keys_manager),
            Arc::clone(&scorer),
            ProbabilisticScoringFeeParameters::default(),
        ));
        let message_router = Arc::new(DefaultMessageRouter::new(
            Arc::clone(&network_graph),
            Arc::clone(&keys_manager),
        ));
        let chain_monitor = Arc::new(ChainMonitor::new(
            None,
            Arc::clone(&broadcaster),
            Arc::clone(&logger),
            Arc::clone(&env.fee_estimator),
            Arc::clone(&store),
            Arc::clone(&keys_manager),
            keys_manager.get_peer_storage_key(),
        ));
        Ok(Self {
            logger,
            store,
            keys_manager,
            broadcaster,
            fee_estimator: Arc::clone(&env.fee_estimator),
            wallet,
            network_graph,
            scorer,
            router,
            message_router,
            chain_monitor,
            chain: Arc::clone(&env.chain),
        })
    }
}

/// Opens the node's store with its configured opener, or a [`DiskStore`] in its data directory.
///
/// [`DiskStore`]: crate::DiskStore
fn open_store(config: &NodeConfig) -> Result<Arc<dyn KVStoreSync + Send + Sync>, SimnetError> {
    let opened = match &config.store {
        Some(open) => open(&config.data_dir),
        None => crate::store::DiskStore::open(&config.data_dir)
            .map(|store| Arc::new(store) as Arc<dyn KVStoreSync + Send + Sync>)
            .map_err(|error| Box::new(error) as Box<dyn std::error::Error + Send + Sync>),
    };
    opened.map_err(|source| SimnetError::OpenStore {
        node: config.name.clone(),
        path: config.data_dir.clone(),
        source,
    })
}

/// Returns a new, empty network graph for the simulated chain.
pub(crate) fn new_network_graph(logger: &Arc<NodeLogger>) -> SimNetworkGraph {
    NetworkGraph::new(bitcoin::Network::Regtest, Arc::clone(logger))
}

/// Returns a new scorer over `graph`.
pub(crate) fn new_scorer(
    graph: &Arc<SimNetworkGraph>,
    logger: &Arc<NodeLogger>,
) -> crate::types::SimScorer {
    ProbabilisticScorer::new(
        ProbabilisticScoringDecayParameters::default(),
        Arc::clone(graph),
        Arc::clone(logger),
    )
}

/// Builds a new ChannelManager and sweeper at the chain's tip.
pub(crate) fn new_node_state(
    base: &BaseParts,
    config: &NodeConfig,
) -> (SimChannelManager, SimSweeper) {
    let (tip_hash, tip_height) = base.chain.tip();
    let best_block = BestBlock::new(tip_hash, tip_height);
    let channel_manager = ChannelManager::new(
        Arc::clone(&base.fee_estimator),
        Arc::clone(&base.chain_monitor),
        Arc::clone(&base.broadcaster),
        Arc::clone(&base.router),
        Arc::clone(&base.message_router),
        Arc::clone(&base.logger),
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.keys_manager),
        config.user_config.clone(),
        ChainParameters {
            network: base.chain.network(),
            best_block,
        },
        unix_now().as_secs() as u32,
    );
    let sweeper = OutputSweeperSync::new(
        best_block,
        Arc::clone(&base.broadcaster),
        Arc::clone(&base.fee_estimator),
        None,
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.wallet),
        Arc::clone(&base.store),
        Arc::clone(&base.logger),
    );
    (channel_manager, sweeper)
}

/// Builds the parts that sit on the ChannelManager: messenger, gossip, PeerManager, handler.
pub(crate) fn finish_parts(
    base: BaseParts,
    channel_manager: SimChannelManager,
    sweeper: SimSweeper,
    config: &NodeConfig,
    recorder: Arc<EventRecorder>,
) -> NodeParts {
    let channel_manager = Arc::new(channel_manager);
    let sweeper = Arc::new(sweeper);
    let onion_messenger = Arc::new(OnionMessenger::new(
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.logger),
        Arc::clone(&channel_manager),
        Arc::clone(&base.message_router),
        Arc::clone(&channel_manager),
        Arc::clone(&channel_manager),
        IgnoringMessageHandler {},
        IgnoringMessageHandler {},
    ));
    let gossip_sync = Arc::new(P2PGossipSync::new(
        Arc::clone(&base.network_graph),
        Some(Arc::clone(&base.chain)),
        Arc::clone(&base.logger),
    ));
    let message_handler = MessageHandler {
        chan_handler: Arc::clone(&channel_manager),
        route_handler: Arc::clone(&gossip_sync),
        onion_message_handler: Arc::clone(&onion_messenger),
        custom_message_handler: IgnoringMessageHandler {},
        send_only_message_handler: Arc::clone(&base.chain_monitor),
    };
    let peer_manager = Arc::new(PeerManager::new(
        message_handler,
        unix_now().as_secs() as u32,
        &base.keys_manager.get_secure_random_bytes(),
        Arc::clone(&base.logger),
        Arc::clone(&base.keys_manager),
    ));
    let event_handler = NodeEventHandler::new(
        Arc::clone(&channel_manager),
        Arc::clone(&sweeper),
        Arc::clone(&base.wallet),
        Arc::clone(&recorder),
        Arc::clone(&base.logger),
        config.user_handler.clone(),
    );
    let node_id = base
        .keys_manager
        .get_node_id(Recipient::Node)
        .expect("a KeysManager always has a node key");
    NodeParts {
        node_id,
        channel_manager,
        chain_monitor: base.chain_monitor,
        peer_manager,
        onion_messenger,
        gossip_sync,
        network_graph: base.network_graph,
        scorer: base.scorer,
        sweeper,
        store: base.store,
        logger: base.logger,
        keys_manager: base.keys_manager,
        broadcaster: base.broadcaster,
        fee_estimator: base.fee_estimator,
        wallet: base.wallet,
        event_handler,
        recorder,
    }
}
