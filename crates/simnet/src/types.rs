//! The concrete LDK types of a simnet node.

use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::PublicKey;
use lightning::chain::chainmonitor::ChainMonitor;
use lightning::ln::channelmanager::ChannelManager;
use lightning::ln::peer_handler::{IgnoringMessageHandler, PeerManager};
use lightning::onion_message::messenger::{DefaultMessageRouter, OnionMessenger};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringFeeParameters};
use lightning::sign::{InMemorySigner, KeysManager};
use lightning::util::sweep::OutputSweeperSync;

use crate::broadcast::NodeBroadcaster;
use crate::chain::Chain;
use crate::fees::FixedFeeEstimator;
use crate::logger::NodeLogger;
use crate::pipe::{ConnectionClosed, PeerEndpoint, PipeDescriptor};
use crate::store::NodeStore;
use crate::wallet::Wallet;

/// The ChainMonitor of a node, persisting monitors through the node's store.
pub type SimChainMonitor = ChainMonitor<
    InMemorySigner,
    Arc<Chain>,
    Arc<NodeBroadcaster>,
    Arc<FixedFeeEstimator>,
    Arc<NodeLogger>,
    Arc<NodeStore>,
    Arc<KeysManager>,
>;

/// The network graph of a node.
pub type SimNetworkGraph = NetworkGraph<Arc<NodeLogger>>;

/// The scorer of a node.
pub type SimScorer = ProbabilisticScorer<Arc<SimNetworkGraph>, Arc<NodeLogger>>;

/// The scorer of a node behind the lock that its router and background processor share.
pub type SimLockedScorer = Mutex<SimScorer>;

/// The payment router of a node.
pub type SimRouter = DefaultRouter<
    Arc<SimNetworkGraph>,
    Arc<NodeLogger>,
    Arc<KeysManager>,
    Arc<SimLockedScorer>,
    ProbabilisticScoringFeeParameters,
    SimScorer,
>;

/// The onion message router of a node.
pub type SimMessageRouter =
    DefaultMessageRouter<Arc<SimNetworkGraph>, Arc<NodeLogger>, Arc<KeysManager>>;

/// The ChannelManager of a node.
pub type SimChannelManager = ChannelManager<
    Arc<SimChainMonitor>,
    Arc<NodeBroadcaster>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<FixedFeeEstimator>,
    Arc<SimRouter>,
    Arc<SimMessageRouter>,
    Arc<NodeLogger>,
>;

/// The OnionMessenger of a node.
pub type SimOnionMessenger = OnionMessenger<
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<NodeLogger>,
    Arc<SimChannelManager>,
    Arc<SimMessageRouter>,
    Arc<SimChannelManager>,
    Arc<SimChannelManager>,
    IgnoringMessageHandler,
    IgnoringMessageHandler,
>;

/// The gossip handler of a node, checking announced channels against the simulated chain.
pub type SimGossipSync = P2PGossipSync<Arc<SimNetworkGraph>, Arc<Chain>, Arc<NodeLogger>>;

/// The PeerManager of a node.
pub type SimPeerManager = PeerManager<
    PipeDescriptor,
    Arc<SimChannelManager>,
    Arc<SimGossipSync>,
    Arc<SimOnionMessenger>,
    Arc<NodeLogger>,
    IgnoringMessageHandler,
    Arc<KeysManager>,
    Arc<SimChainMonitor>,
>;

/// The OutputSweeper of a node, in its blocking form.
pub type SimSweeper = OutputSweeperSync<
    Arc<NodeBroadcaster>,
    Arc<Wallet>,
    Arc<FixedFeeEstimator>,
    Arc<Chain>,
    Arc<NodeStore>,
    Arc<NodeLogger>,
    Arc<KeysManager>,
>;

/// A PeerManager with its node's id: the network's handle on a node.
pub(crate) struct PeerManagerEndpoint {
    pub(crate) node_id: PublicKey,
    pub(crate) peer_manager: Arc<SimPeerManager>,
}

impl PeerEndpoint for PeerManagerEndpoint {
    fn node_id(&self) -> PublicKey {
        self.node_id
    }

    fn new_outbound_connection(
        &self,
        their_node_id: PublicKey,
        descriptor: PipeDescriptor,
    ) -> Result<Vec<u8>, ConnectionClosed> {
        self.peer_manager
            .new_outbound_connection(their_node_id, descriptor, None)
            .map_err(|_| ConnectionClosed)
    }

    fn new_inbound_connection(&self, descriptor: PipeDescriptor) -> Result<(), ConnectionClosed> {
        self.peer_manager
            .new_inbound_connection(descriptor, None)
            .map_err(|_| ConnectionClosed)
    }

    fn read_event(
        &self,
        descriptor: &mut PipeDescriptor,
        data: &[u8],
    ) -> Result<(), ConnectionClosed> {
        self.peer_manager
            .read_event(descriptor, data)
            .map_err(|_| ConnectionClosed)
    }

    fn process_events(&self) {
        self.peer_manager.process_events();
    }

    fn write_buffer_space_avail(
        &self,
        descriptor: &mut PipeDescriptor,
    ) -> Result<(), ConnectionClosed> {
        self.peer_manager
            .write_buffer_space_avail(descriptor)
            .map_err(|_| ConnectionClosed)
    }

    fn socket_disconnected(&self, descriptor: &PipeDescriptor) {
        self.peer_manager.socket_disconnected(descriptor);
    }
}

/// The async form of a node's sweeper, as LDK's `process_events_async` takes it: derefs to
/// the `OutputSweeper` inside the node's `OutputSweeperSync`.
pub struct SimAsyncSweeper(pub Arc<SimSweeper>);

/// The async `OutputSweeper` inside a [`SimSweeper`].
pub type SimAsyncSweeperTarget = lightning::util::sweep::OutputSweeper<
    Arc<NodeBroadcaster>,
    lightning::sign::ChangeDestinationSourceSyncWrapper<Arc<Wallet>>,
    Arc<FixedFeeEstimator>,
    Arc<Chain>,
    lightning::util::persist::KVStoreSyncWrapper<Arc<NodeStore>>,
    Arc<NodeLogger>,
    Arc<KeysManager>,
>;

impl std::ops::Deref for SimAsyncSweeper {
    type Target = SimAsyncSweeperTarget;

    fn deref(&self) -> &SimAsyncSweeperTarget {
        self.0.sweeper_async()
    }
}
