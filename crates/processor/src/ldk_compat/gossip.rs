//! The gossip source argument of the reference API.

use std::ops::Deref;

use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::utxo::UtxoLookup;
use lightning::util::logger::Logger;
use lightning_rapid_gossip_sync::RapidGossipSync;
use vigil_events::NetworkGraphObserver;

use super::adapters::{GraphRef, Handle, RapidHandle};
use crate::builder::Gossip;

/// Either [`P2PGossipSync`] or [`RapidGossipSync`], or neither: the source of the network
/// graph that the processor prunes and writes.
///
/// The same type, with the same parameters and variants, as `lightning-background-processor`
/// 0.2's `GossipSync`. Vigil applies the network update of a failed payment to the graph
/// before the event handler receives the event, as the reference does, and prunes a rapid-sync
/// graph only after its first sync completed.
///
/// Unlike the reference, Vigil does not write a rapid-sync graph at stop before its first
/// sync completed, so that the store keeps its graph until rapid sync has filled the one in
/// memory. Network updates from payments that failed before then are not stored. The
/// reference writes the graph at every stop.
pub enum GossipSync<
    P: Deref<Target = P2PGossipSync<G, U, L>>,
    R: Deref<Target = RapidGossipSync<G, L>>,
    G: Deref<Target = NetworkGraph<L>>,
    U: Deref,
    L: Deref,
> where
    U::Target: UtxoLookup,
    L::Target: Logger,
{
    /// Gossip from the lightning peer-to-peer network (BOLT 7).
    P2P(P),
    /// Gossip from a rapid gossip sync server.
    Rapid(R),
    /// No gossip: no graph to prune or write.
    None,
}

impl<P, G, U, L> GossipSync<P, &RapidGossipSync<G, L>, G, U, L>
where
    P: Deref<Target = P2PGossipSync<G, U, L>>,
    G: Deref<Target = NetworkGraph<L>>,
    U: Deref,
    L: Deref,
    U::Target: UtxoLookup,
    L::Target: Logger,
{
    /// Returns the [`GossipSync::P2P`] variant; the rapid-sync type is fixed so that the
    /// caller needs no annotation.
    pub fn p2p(gossip_sync: P) -> Self {
        GossipSync::P2P(gossip_sync)
    }
}

impl<'a, R, G, L>
    GossipSync<
        &P2PGossipSync<G, &'a (dyn UtxoLookup + Send + Sync), L>,
        R,
        G,
        &'a (dyn UtxoLookup + Send + Sync),
        L,
    >
where
    R: Deref<Target = RapidGossipSync<G, L>>,
    G: Deref<Target = NetworkGraph<L>>,
    L: Deref,
    L::Target: Logger,
{
    /// Returns the [`GossipSync::Rapid`] variant; the peer-to-peer type is fixed so that the
    /// caller needs no annotation.
    pub fn rapid(gossip_sync: R) -> Self {
        GossipSync::Rapid(gossip_sync)
    }
}

impl<'a, L>
    GossipSync<
        &P2PGossipSync<&'a NetworkGraph<L>, &'a (dyn UtxoLookup + Send + Sync), L>,
        &RapidGossipSync<&'a NetworkGraph<L>, L>,
        &'a NetworkGraph<L>,
        &'a (dyn UtxoLookup + Send + Sync),
        L,
    >
where
    L: Deref,
    L::Target: Logger,
{
    /// Returns the [`GossipSync::None`] variant with every type fixed.
    pub fn none() -> Self {
        GossipSync::None
    }
}

impl<P, R, G, U, L> GossipSync<P, R, G, U, L>
where
    P: Deref<Target = P2PGossipSync<G, U, L>> + Send + Sync + 'static,
    R: Deref<Target = RapidGossipSync<G, L>> + Send + Sync + 'static,
    G: Deref<Target = NetworkGraph<L>> + 'static,
    U: Deref + 'static,
    L: Deref + 'static,
    U::Target: UtxoLookup,
    L::Target: Logger,
{
    /// Converts the source into the builder's [`Gossip`], with the graph observer that
    /// applies payment failures to the graph.
    pub(crate) fn into_gossip(self) -> Gossip {
        match self {
            GossipSync::P2P(sync) => {
                let source = Handle::shared(sync);
                let observer = NetworkGraphObserver::new(GraphRef::new(source.clone()));
                Gossip::with_observer(source, Box::new(observer))
            }
            GossipSync::Rapid(sync) => {
                let source = std::sync::Arc::new(RapidHandle(sync));
                let observer = NetworkGraphObserver::new(GraphRef::new(source.clone()));
                Gossip::with_observer(source, Box::new(observer))
            }
            GossipSync::None => Gossip::none(),
        }
    }
}
