//! Gossip sync and its network graph as the processor sees them.

use std::ops::Deref;

use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::utxo::UtxoLookup;
use lightning::util::logger::Logger;
use lightning::util::ser::Writeable;
use lightning_rapid_gossip_sync::RapidGossipSync;

/// The network-graph duties the processor drives for a gossip source.
///
/// Implemented for LDK's `P2PGossipSync<..>`, `RapidGossipSync<..>` and for a bare
/// `NetworkGraph<..>` (a graph kept up to date some other way).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait GossipDriver: Send + Sync {
    /// Returns whether pruning must wait until [`is_initial_sync_complete`] returns `true`.
    ///
    /// Only rapid gossip sync returns `true`: its first snapshot replaces most of the graph,
    /// so pruning before it would throw away channels that are about to come back.
    ///
    /// [`is_initial_sync_complete`]: Self::is_initial_sync_complete
    fn waits_for_initial_sync(&self) -> bool;

    /// Returns whether the first sync completed; always `true` for peer-to-peer gossip.
    fn is_initial_sync_complete(&self) -> bool;

    /// Removes channels and nodes with no update for two weeks, given the Unix time in seconds.
    fn remove_stale_channels_and_tracking_with_time(&self, current_time_unix: u64);

    /// Returns the serialized graph, the bytes stored under key `network_graph`.
    fn encode_graph(&self) -> Vec<u8>;
}

impl<G, U, L> GossipDriver for P2PGossipSync<G, U, L>
where
    G: Deref<Target = NetworkGraph<L>> + Send + Sync,
    U: Deref + Send + Sync,
    L: Deref + Send + Sync,
    U::Target: UtxoLookup,
    L::Target: Logger,
{
    fn waits_for_initial_sync(&self) -> bool {
        false
    }

    fn is_initial_sync_complete(&self) -> bool {
        true
    }

    fn remove_stale_channels_and_tracking_with_time(&self, current_time_unix: u64) {
        self.network_graph()
            .remove_stale_channels_and_tracking_with_time(current_time_unix);
    }

    fn encode_graph(&self) -> Vec<u8> {
        self.network_graph().encode()
    }
}

impl<G, L> GossipDriver for RapidGossipSync<G, L>
where
    G: Deref<Target = NetworkGraph<L>> + Send + Sync,
    L: Deref + Send + Sync,
    L::Target: Logger,
{
    fn waits_for_initial_sync(&self) -> bool {
        true
    }

    fn is_initial_sync_complete(&self) -> bool {
        RapidGossipSync::is_initial_sync_complete(self)
    }

    fn remove_stale_channels_and_tracking_with_time(&self, current_time_unix: u64) {
        self.network_graph()
            .remove_stale_channels_and_tracking_with_time(current_time_unix);
    }

    fn encode_graph(&self) -> Vec<u8> {
        self.network_graph().encode()
    }
}

impl<L> GossipDriver for NetworkGraph<L>
where
    L: Deref + Send + Sync,
    L::Target: Logger,
{
    fn waits_for_initial_sync(&self) -> bool {
        false
    }

    fn is_initial_sync_complete(&self) -> bool {
        true
    }

    fn remove_stale_channels_and_tracking_with_time(&self, current_time_unix: u64) {
        NetworkGraph::remove_stale_channels_and_tracking_with_time(self, current_time_unix);
    }

    fn encode_graph(&self) -> Vec<u8> {
        self.encode()
    }
}
