//! The observer that applies payment failures to the network graph.

use std::marker::PhantomData;
use std::ops::Deref;

use lightning::events::{Event, PathFailure};
use lightning::routing::gossip::{NetworkGraph, NetworkUpdate};
use lightning::util::logger::Logger;

use crate::observer::Observer;

/// An observer that applies the network update carried by a failed payment path to a
/// [`NetworkGraph`].
///
/// When an `Event::PaymentPathFailed` failed on the path (`PathFailure::OnPath`) and carries a
/// network update, the observer passes it to [`NetworkGraph::handle_network_update`]. In
/// `lightning` 0.2 that removes the channel or node only when the failure is permanent. Every
/// other event is left alone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use lightning::events::Event;
/// use lightning::routing::gossip::NetworkGraph;
/// use lightning::util::logger::{Logger, Record};
/// use vigil_events::{Dispatcher, NetworkGraphObserver};
///
/// struct Silent;
/// impl Logger for Silent {
///     fn log(&self, _record: Record) {}
/// }
///
/// let graph = Arc::new(NetworkGraph::new(bitcoin::Network::Regtest, Arc::new(Silent)));
/// let dispatcher = Dispatcher::new(|_event: Event| Ok(()))
///     .observe(NetworkGraphObserver::new(Arc::clone(&graph)));
/// assert_eq!(dispatcher.observer_count(), 1);
/// ```
pub struct NetworkGraphObserver<G, L>
where
    G: Deref<Target = NetworkGraph<L>>,
    L: Deref,
    L::Target: Logger,
{
    graph: G,
    // `fn() -> L` keeps the logger type out of the observer's `Send` and `Sync`, which only
    // depend on the graph handle.
    logger: PhantomData<fn() -> L>,
}

impl<G, L> NetworkGraphObserver<G, L>
where
    G: Deref<Target = NetworkGraph<L>>,
    L: Deref,
    L::Target: Logger,
{
    /// Returns an observer that updates `graph`.
    pub fn new(graph: G) -> Self {
        Self {
            graph,
            logger: PhantomData,
        }
    }

    /// Returns the graph handle.
    pub fn get_ref(&self) -> &G {
        &self.graph
    }

    /// Returns the network update that `event` carries for the graph, if any.
    pub fn network_update(event: &Event) -> Option<&NetworkUpdate> {
        match event {
            Event::PaymentPathFailed {
                failure:
                    PathFailure::OnPath {
                        network_update: Some(update),
                    },
                ..
            } => Some(update),
            _ => None,
        }
    }
}

impl<G, L> Observer for NetworkGraphObserver<G, L>
where
    G: Deref<Target = NetworkGraph<L>> + Send + Sync,
    L: Deref,
    L::Target: Logger,
{
    fn observe(&self, event: &Event) {
        if let Some(update) = Self::network_update(event) {
            self.graph.handle_network_update(update);
        }
    }
}
