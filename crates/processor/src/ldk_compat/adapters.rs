//! Adapters from the `Deref` handles that `lightning-background-processor`'s signatures take
//! to the component traits of Vigil's core.
//!
//! The reference API takes each component as any `Deref` to it, while the core keeps
//! `Arc<dyn ...>`. [`Handle`] owns such a `Deref` and implements the component trait by
//! calling LDK through it, so no component needs to be cloned or moved.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::Filter;
use lightning::events::{Event, EventHandler, EventsProvider, ReplayEvent};
use lightning::ln::channelmanager::AChannelManager;
use lightning::ln::msgs::OnionMessageHandler;
use lightning::ln::peer_handler::APeerManager;
use lightning::onion_message::messenger::AOnionMessenger;
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::scoring::LockableScore;
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::{ChangeDestinationSourceSync, EntropySource, OutputSpender};
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::{KVStore, KVStoreSync};
use lightning::util::ser::{Writeable, Writer};
use lightning::util::sweep::OutputSweeperSync;
use lightning_liquidity::ALiquidityManagerSync;
use lightning_rapid_gossip_sync::RapidGossipSync;
use parking_lot::Mutex;

use crate::components::{
    block_on, handle_when_polled, ChainMonitorDriver, ChannelManagerDriver, GossipDriver,
    LiquidityDriver, OnionMessengerDriver, PeerManagerDriver, SweeperDriver, WakeCallback,
};

/// A component reached through a `Deref` handle such as `Arc<T>` or `&'static T`.
pub(crate) struct Handle<D>(pub(crate) D);

impl<D> Handle<D> {
    /// Wraps `handle` in an `Arc`, the form the core keeps components in.
    pub(crate) fn shared(handle: D) -> Arc<Self> {
        Arc::new(Self(handle))
    }
}

impl<D> ChannelManagerDriver for Handle<D>
where
    D: Deref + Send + Sync,
    D::Target: AChannelManager,
{
    fn process_pending_events(&self, handler: &dyn EventHandler) {
        self.0.get_cm().process_pending_events(handler);
    }

    fn register_wake(&self, callback: WakeCallback) {
        let future = self.0.get_cm().get_event_or_persistence_needed_future();
        future.register_callback(Box::new(callback));
    }

    fn get_and_clear_needs_persistence(&self) -> bool {
        self.0.get_cm().get_and_clear_needs_persistence()
    }

    fn encode(&self) -> Vec<u8> {
        self.0.get_cm().encode()
    }

    fn timer_tick_occurred(&self) {
        self.0.get_cm().timer_tick_occurred();
    }

    fn needs_pending_htlc_processing(&self) -> bool {
        self.0.get_cm().needs_pending_htlc_processing()
    }

    fn process_pending_htlc_forwards(&self) {
        self.0.get_cm().process_pending_htlc_forwards();
    }
}

impl<D, S, C, T, F, L, P, ES> ChainMonitorDriver for Handle<D>
where
    D: Deref<Target = ChainMonitor<S, C, T, F, L, P, ES>> + Send + Sync,
    S: EcdsaChannelSigner,
    C: Deref,
    T: Deref,
    F: Deref,
    L: Deref,
    P: Deref,
    ES: Deref,
    C::Target: Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<S>,
    ES::Target: EntropySource,
{
    fn process_pending_events_unlocked(&self, handler: &dyn EventHandler) {
        let events = self
            .0
            .process_pending_events_async(|event| handle_when_polled(handler, event));
        block_on(events);
    }

    fn register_wake(&self, callback: WakeCallback) {
        self.0
            .get_update_future()
            .register_callback(Box::new(callback));
    }

    fn rebroadcast_pending_claims(&self) {
        self.0.rebroadcast_pending_claims();
    }

    fn archive_fully_resolved_channel_monitors(&self) {
        self.0.archive_fully_resolved_channel_monitors();
    }
}

impl<D> PeerManagerDriver for Handle<D>
where
    D: Deref + Send + Sync,
    D::Target: APeerManager,
{
    fn process_events(&self) {
        self.0.as_ref().process_events();
    }

    fn timer_tick_occurred(&self) {
        self.0.as_ref().timer_tick_occurred();
    }

    fn disconnect_all_peers(&self) {
        self.0.as_ref().disconnect_all_peers();
    }
}

impl<D> OnionMessengerDriver for Handle<D>
where
    D: Deref + Send + Sync,
    D::Target: AOnionMessenger,
{
    fn process_pending_events_unlocked(&self, handler: &dyn EventHandler) {
        let events = self
            .0
            .get_om()
            .process_pending_events_async(|event| handle_when_polled(handler, event));
        block_on(events);
    }

    fn register_wake(&self, callback: WakeCallback) {
        self.0
            .get_om()
            .get_update_future()
            .register_callback(Box::new(callback));
    }

    fn timer_tick_occurred(&self) {
        OnionMessageHandler::timer_tick_occurred(self.0.get_om());
    }
}

impl<D> LiquidityDriver for Handle<D>
where
    D: Deref + Send + Sync,
    D::Target: ALiquidityManagerSync,
{
    fn register_wake(&self, callback: WakeCallback) {
        let future = self.0.get_lm().get_pending_msgs_or_needs_persist_future();
        future.register_callback(Box::new(callback));
    }

    fn persist(&self) -> Result<bool, std::io::Error> {
        self.0.get_lm().persist().map_err(std::io::Error::from)
    }
}

impl<D, B, CD, E, F, K, L, O> SweeperDriver for Handle<D>
where
    D: Deref<Target = OutputSweeperSync<B, CD, E, F, K, L, O>> + Send + Sync,
    B: Deref,
    CD: Deref,
    E: Deref,
    F: Deref,
    K: Deref,
    L: Deref,
    O: Deref,
    B::Target: BroadcasterInterface,
    CD::Target: ChangeDestinationSourceSync,
    E::Target: FeeEstimator,
    F::Target: Filter,
    K::Target: KVStoreSync,
    L::Target: Logger,
    O::Target: OutputSpender,
{
    fn regenerate_and_broadcast_spend_if_necessary(&self) -> Result<(), ()> {
        self.0.regenerate_and_broadcast_spend_if_necessary()
    }
}

/// The network graph of a gossip source, reached through the source's handle.
///
/// The reference API does not require the graph handle `G` to be `Clone`, so the processor
/// keeps the gossip source and reaches the graph through it.
pub(crate) trait GraphSource<L>: Send + Sync
where
    L: Deref,
    L::Target: Logger,
{
    fn graph(&self) -> &NetworkGraph<L>;
}

impl<D, G, U, L> GraphSource<L> for Handle<D>
where
    D: Deref<Target = P2PGossipSync<G, U, L>> + Send + Sync,
    G: Deref<Target = NetworkGraph<L>> + 'static,
    U: Deref + 'static,
    L: Deref,
    U::Target: UtxoLookup,
    L::Target: Logger,
{
    fn graph(&self) -> &NetworkGraph<L> {
        self.0.network_graph()
    }
}

/// A rapid gossip sync reached through its handle. It is a separate type from [`Handle`],
/// so that its graph and its initial-sync flag have impls of their own.
pub(crate) struct RapidHandle<D>(pub(crate) D);

impl<D, G, L> GraphSource<L> for RapidHandle<D>
where
    D: Deref<Target = RapidGossipSync<G, L>> + Send + Sync,
    G: Deref<Target = NetworkGraph<L>> + 'static,
    L: Deref,
    L::Target: Logger,
{
    fn graph(&self) -> &NetworkGraph<L> {
        self.0.network_graph()
    }
}

/// A graph reached through its gossip source, as the graph observer takes it.
pub(crate) struct GraphRef<S, L> {
    source: Arc<S>,
    // `fn() -> L` keeps the logger type out of `Send` and `Sync`, which depend on the source.
    logger: PhantomData<fn() -> L>,
}

impl<S, L> GraphRef<S, L> {
    pub(crate) fn new(source: Arc<S>) -> Self {
        Self {
            source,
            logger: PhantomData,
        }
    }
}

impl<S, L> Deref for GraphRef<S, L>
where
    S: GraphSource<L>,
    L: Deref,
    L::Target: Logger,
{
    type Target = NetworkGraph<L>;

    fn deref(&self) -> &NetworkGraph<L> {
        self.source.graph()
    }
}

impl<D, G, U, L> GossipDriver for Handle<D>
where
    D: Deref<Target = P2PGossipSync<G, U, L>> + Send + Sync,
    G: Deref<Target = NetworkGraph<L>> + 'static,
    U: Deref + 'static,
    L: Deref,
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
        self.graph()
            .remove_stale_channels_and_tracking_with_time(current_time_unix);
    }

    fn encode_graph(&self) -> Vec<u8> {
        self.graph().encode()
    }
}

impl<D, G, L> GossipDriver for RapidHandle<D>
where
    D: Deref<Target = RapidGossipSync<G, L>> + Send + Sync,
    G: Deref<Target = NetworkGraph<L>> + 'static,
    L: Deref,
    L::Target: Logger,
{
    fn waits_for_initial_sync(&self) -> bool {
        true
    }

    fn is_initial_sync_complete(&self) -> bool {
        self.0.is_initial_sync_complete()
    }

    fn remove_stale_channels_and_tracking_with_time(&self, current_time_unix: u64) {
        self.graph()
            .remove_stale_channels_and_tracking_with_time(current_time_unix);
    }

    fn encode_graph(&self) -> Vec<u8> {
        self.graph().encode()
    }
}

/// A scorer reached through its handle: locks and encodes the scorer behind it.
pub(crate) struct ScorerHandle<D>(pub(crate) D);

impl<'a, D, S> LockableScore<'a> for ScorerHandle<D>
where
    D: Deref<Target = S>,
    S: LockableScore<'a> + 'a,
{
    type ScoreUpdate = S::ScoreUpdate;
    type ScoreLookUp = S::ScoreLookUp;
    type WriteLocked = S::WriteLocked;
    type ReadLocked = S::ReadLocked;

    fn read_lock(&'a self) -> Self::ReadLocked {
        self.0.read_lock()
    }

    fn write_lock(&'a self) -> Self::WriteLocked {
        self.0.write_lock()
    }
}

impl<D> Writeable for ScorerHandle<D>
where
    D: Deref,
    D::Target: Writeable,
{
    fn write<W: Writer>(&self, writer: &mut W) -> Result<(), lightning::io::Error> {
        self.0.write(writer)
    }
}

/// A logger reached through its handle.
impl<D> Logger for Handle<D>
where
    D: Deref,
    D::Target: Logger,
{
    fn log(&self, record: Record) {
        self.0.log(record);
    }
}

/// A blocking store reached through its handle.
impl<D> KVStoreSync for Handle<D>
where
    D: Deref,
    D::Target: KVStoreSync,
{
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        self.0.read(primary_namespace, secondary_namespace, key)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        self.0
            .write(primary_namespace, secondary_namespace, key, buf)
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        self.0
            .remove(primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, lightning::io::Error> {
        self.0.list(primary_namespace, secondary_namespace)
    }
}

/// An async store reached through its handle.
impl<D> KVStore for Handle<D>
where
    D: Deref,
    D::Target: KVStore,
{
    fn read(&self, primary: &str, secondary: &str, key: &str) -> StoreFuture<Vec<u8>> {
        self.0.read(primary, secondary, key)
    }

    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> StoreFuture<()> {
        self.0.write(primary, secondary, key, buf)
    }

    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> StoreFuture<()> {
        self.0.remove(primary, secondary, key, lazy)
    }

    fn list(&self, primary: &str, secondary: &str) -> StoreFuture<Vec<String>> {
        self.0.list(primary, secondary)
    }
}

/// The future of one call of LDK's async `KVStore`.
pub(crate) type StoreFuture<T> =
    Pin<Box<dyn Future<Output = Result<T, lightning::io::Error>> + Send + 'static>>;

/// An event handler that is `Send` but not necessarily `Sync`, made shareable by a lock.
///
/// Only the processor's event thread calls it, one event at a time, so the lock is never
/// contended.
pub(crate) struct SerialHandler<H>(pub(crate) Mutex<H>);

impl<H: EventHandler> EventHandler for SerialHandler<H> {
    fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        self.0.lock().handle_event(event)
    }
}
