//! One simnet node: its LDK parts, how it follows the chain, and how a test drives it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bitcoin::block::Block;
use bitcoin::secp256k1::PublicKey;
use lightning::chain::Confirm;
use lightning::events::EventsProvider;
use lightning::ln::msgs::OnionMessageHandler;
use lightning::sign::KeysManager;
use lightning::util::config::UserConfig;
use lightning::util::logger::Logger as _;
use lightning::util::persist::KVStoreSync;
use lightning::util::ser::Writeable;
use parking_lot::Mutex;

use crate::broadcast::NodeBroadcaster;
use crate::build::BaseParts;
use crate::chain::Chain;
use crate::error::SimnetError;
use crate::fees::FixedFeeEstimator;
use crate::handler::{NodeEventHandler, UserHandler};
use crate::logger::{LogConfig, NodeLogger};
use crate::recorder::EventRecorder;
use crate::store::NodeStore;
use crate::types::{
    PeerManagerEndpoint, SimChainMonitor, SimChannelManager, SimGossipSync, SimLockedScorer,
    SimNetworkGraph, SimOnionMessenger, SimPeerManager, SimSweeper,
};
use crate::wallet::Wallet;
use crate::PeerEndpoint;

/// Opens the key-value store of a node in its data directory.
///
/// A test uses it to put a store of its own, such as a fault-injecting wrapper, under a node.
pub type StoreOpener = Arc<
    dyn Fn(
            &Path,
        )
            -> Result<Arc<dyn KVStoreSync + Send + Sync>, Box<dyn std::error::Error + Send + Sync>>
        + Send
        + Sync,
>;

/// How to build a node; kept by the simnet to start the node again from its data directory.
#[derive(Clone)]
pub struct NodeConfig {
    /// The node's name, printed in logs and reports.
    pub name: String,
    /// The seed of the node's `KeysManager` and wallet.
    pub seed: [u8; 32],
    /// The directory holding the node's store.
    pub data_dir: PathBuf,
    /// LDK's configuration of the node's channels.
    pub user_config: UserConfig,
    /// The destinations and levels of the node's log lines.
    pub log: LogConfig,
    /// A handler called after the node's own handling of each event.
    pub user_handler: Option<UserHandler>,
    /// Opens the store; `None` opens a [`DiskStore`](crate::DiskStore) in `data_dir`.
    pub store: Option<StoreOpener>,
}

impl std::fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeConfig")
            .field("name", &self.name)
            .field("data_dir", &self.data_dir)
            .field("log", &self.log)
            .field("user_handler", &self.user_handler.is_some())
            .field("store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl NodeConfig {
    /// Returns the configuration of a node called `name` with data under `data_dir`.
    ///
    /// Channels are announced (so that other nodes route through them), need the default six
    /// confirmations, and private channels accept forwards.
    pub fn new(name: impl Into<String>, seed: [u8; 32], data_dir: impl Into<PathBuf>) -> Self {
        let mut user_config = UserConfig::default();
        user_config.channel_handshake_config.announce_for_forwarding = true;
        user_config.accept_forwards_to_priv_channels = true;
        Self {
            name: name.into(),
            seed,
            data_dir: data_dir.into(),
            user_config,
            log: LogConfig::from_env(),
            user_handler: None,
            store: None,
        }
    }
}

/// Every part of a running node, as a background processor needs them.
#[derive(Clone)]
pub struct NodeParts {
    /// The node's id (its public key).
    pub node_id: PublicKey,
    /// The ChannelManager.
    pub channel_manager: Arc<SimChannelManager>,
    /// The ChainMonitor.
    pub chain_monitor: Arc<SimChainMonitor>,
    /// The PeerManager.
    pub peer_manager: Arc<SimPeerManager>,
    /// The OnionMessenger.
    pub onion_messenger: Arc<SimOnionMessenger>,
    /// The P2P gossip handler.
    pub gossip_sync: Arc<SimGossipSync>,
    /// The network graph.
    pub network_graph: Arc<SimNetworkGraph>,
    /// The scorer, behind the lock its router uses.
    pub scorer: Arc<SimLockedScorer>,
    /// The OutputSweeper.
    pub sweeper: Arc<SimSweeper>,
    /// The store every part writes to.
    pub store: Arc<NodeStore>,
    /// The logger.
    pub logger: Arc<NodeLogger>,
    /// The keys.
    pub keys_manager: Arc<KeysManager>,
    /// The broadcaster.
    pub broadcaster: Arc<NodeBroadcaster>,
    /// The fee estimator, shared by all nodes of a simnet.
    pub fee_estimator: Arc<FixedFeeEstimator>,
    /// The on-chain wallet.
    pub wallet: Arc<Wallet>,
    /// The event handler to give the processor.
    pub event_handler: NodeEventHandler,
    /// The record of events the handler received.
    pub recorder: Arc<EventRecorder>,
}

/// The chain and fee estimator that all nodes of a simnet share.
#[derive(Clone, Debug)]
pub struct NodeEnv {
    /// The chain.
    pub chain: Arc<Chain>,
    /// The fee estimator.
    pub fee_estimator: Arc<FixedFeeEstimator>,
}

/// A running simnet node.
///
/// Built by [`Simnet`](crate::Simnet), which starts it with a [`ProcessorDriver`] and hands
/// it every block. A node started on a data directory that contains a ChannelManager is read
/// back from it (see the `restart` module).
///
/// [`ProcessorDriver`]: crate::ProcessorDriver
pub struct Node {
    config: NodeConfig,
    parts: NodeParts,
    // The height of the last block handed to the ChannelManager, ChainMonitor and sweeper.
    height: Mutex<u32>,
}

impl Node {
    /// Starts a node from `config`: new if its store contains no ChannelManager, read back from
    /// the store otherwise. The node follows the chain up to its tip before it returns, and its
    /// handler appends to `recorder`, which may hold the events of an earlier run.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::OpenStore`] when the store cannot be opened (a store still open
    /// on the same directory locks it) and [`SimnetError::Read`] when stored state cannot be
    /// read back.
    pub fn open(
        config: NodeConfig,
        env: &NodeEnv,
        recorder: Arc<EventRecorder>,
    ) -> Result<Self, SimnetError> {
        let base = BaseParts::build(&config, env)?;
        let (channel_manager, sweeper, height) = if crate::restart::has_channel_manager(&base)? {
            crate::restart::read_node_state(&base, &config)?
        } else {
            let (channel_manager, sweeper) = crate::build::new_node_state(&base, &config);
            (channel_manager, sweeper, env.chain.height())
        };
        let parts = crate::build::finish_parts(base, channel_manager, sweeper, &config, recorder);
        Ok(Self {
            config,
            parts,
            height: Mutex::new(height),
        })
    }

    /// Returns the node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Returns the node's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Returns the node's id.
    pub fn node_id(&self) -> PublicKey {
        self.parts.node_id
    }

    /// Returns the node's parts.
    pub fn parts(&self) -> &NodeParts {
        &self.parts
    }

    /// Returns the ChannelManager.
    pub fn channel_manager(&self) -> &Arc<SimChannelManager> {
        &self.parts.channel_manager
    }

    /// Returns the record of events the node's handler received.
    pub fn recorder(&self) -> &Arc<EventRecorder> {
        &self.parts.recorder
    }

    /// Returns the node's store.
    pub fn store(&self) -> &Arc<NodeStore> {
        &self.parts.store
    }

    /// Returns the height of the last block the node processed.
    pub fn height(&self) -> u32 {
        *self.height.lock()
    }

    /// Returns the node's PeerManager as a network endpoint.
    pub(crate) fn endpoint(&self) -> Arc<dyn PeerEndpoint> {
        Arc::new(PeerManagerEndpoint {
            node_id: self.parts.node_id,
            peer_manager: Arc::clone(&self.parts.peer_manager),
        })
    }

    /// Hands every block above the node's height up to `chain`'s tip to the ChannelManager,
    /// the ChainMonitor and the sweeper, through `Confirm`.
    pub fn sync_to_tip(&self, chain: &Chain) {
        let mut height = self.height.lock();
        while let Some(block) = chain.block(*height + 1) {
            *height += 1;
            let confirmables: [&dyn Confirm; 3] = [
                &*self.parts.channel_manager,
                &*self.parts.chain_monitor,
                &*self.parts.sweeper,
            ];
            connect_block(&confirmables, &block, *height);
        }
    }

    /// Does one round of the background work in the calling thread, for nodes whose driver is
    /// manual, and returns whether it handled an event, forwarded HTLCs or wrote state.
    ///
    /// The round: let the PeerManager send, hand out the events of the ChannelManager, the
    /// ChainMonitor and the OnionMessenger, process pending HTLC forwards, write the
    /// ChannelManager if it needs it, and let the PeerManager send what all that queued.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Write`] when writing the ChannelManager fails.
    pub fn drive_once(&self) -> Result<bool, SimnetError> {
        let parts = &self.parts;
        parts.peer_manager.process_events();

        let before = parts.recorder.len();
        parts
            .channel_manager
            .process_pending_events(&parts.event_handler);
        parts
            .chain_monitor
            .process_pending_events(&parts.event_handler);
        parts
            .onion_messenger
            .process_pending_events(&parts.event_handler);
        let mut did_work = parts.recorder.len() > before;

        if parts.channel_manager.needs_pending_htlc_processing() {
            parts.channel_manager.process_pending_htlc_forwards();
            did_work = true;
        }
        if parts.channel_manager.get_and_clear_needs_persistence() {
            self.persist_channel_manager()?;
            did_work = true;
        }
        parts.peer_manager.process_events();
        Ok(did_work)
    }

    /// Runs every timer-driven duty once: the ticks of the ChannelManager, PeerManager and
    /// OnionMessenger, rebroadcast of pending claims, and the sweeper's spend.
    pub fn tick(&self) {
        let parts = &self.parts;
        parts.channel_manager.timer_tick_occurred();
        parts.peer_manager.timer_tick_occurred();
        parts.onion_messenger.timer_tick_occurred();
        parts.chain_monitor.rebroadcast_pending_claims();
        self.sweep();
    }

    /// Asks the sweeper to broadcast a spend of the outputs it tracks, if one is due.
    pub fn sweep(&self) {
        if self
            .parts
            .sweeper
            .regenerate_and_broadcast_spend_if_necessary()
            .is_err()
        {
            lightning::log_error!(self.parts.logger, "the sweeper failed to build a spend");
        }
    }

    /// Writes the ChannelManager under LDK's key `manager`.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Write`] with the key when the store fails.
    pub fn persist_channel_manager(&self) -> Result<(), SimnetError> {
        use lightning::util::persist::{
            CHANNEL_MANAGER_PERSISTENCE_KEY as KEY,
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE as PRIMARY,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE as SECONDARY,
        };
        let bytes = self.parts.channel_manager.encode();
        self.write(PRIMARY, SECONDARY, KEY, bytes)
    }

    /// Writes the network graph and the scorer under LDK's keys `network_graph` and `scorer`.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Write`] with the key when the store fails.
    pub fn persist_graph_and_scorer(&self) -> Result<(), SimnetError> {
        use lightning::util::persist::{
            NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
        };
        let graph = self.parts.network_graph.encode();
        self.write(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
            graph,
        )?;
        let scorer = self
            .parts
            .scorer
            .lock()
            .map_err(|_| SimnetError::Poisoned { what: "scorer" })?
            .encode();
        self.write(
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
            scorer,
        )
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<(), SimnetError> {
        self.parts
            .store
            .write(primary, secondary, key, bytes)
            .map_err(|error| {
                lightning::log_error!(self.parts.logger, "failed to write {}: {}", key, error);
                SimnetError::Write {
                    node: self.config.name.clone(),
                    key: crate::store::key_label(primary, secondary, key),
                    source: std::io::Error::from(error),
                }
            })
    }
}

/// Hands `block` at `height` to each of `confirmables`: its transactions, then the new tip.
pub(crate) fn connect_block(confirmables: &[&dyn Confirm], block: &Block, height: u32) {
    let txdata: Vec<_> = block.txdata.iter().enumerate().collect();
    for confirmable in confirmables {
        confirmable.transactions_confirmed(&block.header, &txdata, height);
        confirmable.best_block_updated(&block.header, height);
    }
}

/// Returns the seconds since the Unix epoch, for LDK's start times.
pub(crate) fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
