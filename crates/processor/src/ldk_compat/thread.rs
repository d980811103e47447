//! The reference API's `BackgroundProcessor`, on Vigil's thread runner.

use std::ops::Deref;
use std::sync::Arc;

use lightning::chain;
use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::events::EventHandler;
use lightning::ln::channelmanager::AChannelManager;
use lightning::ln::peer_handler::APeerManager;
use lightning::onion_message::messenger::AOnionMessenger;
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::scoring::WriteableScore;
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{ChangeDestinationSourceSync, EntropySource, OutputSpender};
use lightning::util::logger::Logger;
use lightning::util::persist::KVStoreSync;
use lightning::util::sweep::OutputSweeperSync;
use lightning_liquidity::ALiquidityManagerSync;
use lightning_rapid_gossip_sync::RapidGossipSync;
use parking_lot::Mutex;

use super::adapters::{Handle, ScorerHandle, SerialHandler};
use super::{into_io_error, GossipSync};
use crate::error::Error;
use crate::runner::thread::BackgroundProcessor as VigilProcessor;

/// The background processor of `lightning-background-processor` 0.2, run by Vigil.
///
/// [`start`](Self::start) takes the same arguments, in the same order and with the same
/// types, as the reference's `BackgroundProcessor::start`, and [`join`](Self::join),
/// [`stop`](Self::stop) and `Drop` behave as the reference's, except as follows:
/// - `stop()` wakes the processor at once instead of at its next 100 ms poll, and an idle
///   processor does not poll at all.
/// - ChannelManager writes do not wait for a slow event handler: events are handed out on a
///   second thread, each only after the ChannelManager write owed at that moment is stored.
/// - A failed ChannelManager write is retried (three attempts by default) before the
///   processor stops. `join()` and `stop()` then return the store's last `io::Error` with
///   its kind, which the reference reports as `Other` for kinds such as `StorageFull`.
/// - The scorer is written at most once a second after events change it, plus every five
///   minutes after decay, instead of once per payment event.
/// - Peers are disconnected after the process was suspended for more than a second.
/// - Panics do not cross into the caller: a panicking event handler ends the processor with
///   an error of kind `Other` that names the event, and dropping a processor that ended
///   with an error logs the error instead of panicking.
/// - A failed final write of the network graph or the scorer is logged, not returned.
/// - When the OS refuses to start a thread, the reference's `start` panics. This `start`
///   returns a processor whose `join()` or `stop()` returns the error.
/// - The ChannelManager is written once at start, even when LDK does not request a write,
///   because an earlier processor may have cleared LDK's flag and failed before writing.
/// - The stop disconnects every peer before the final ChannelManager write, so that no peer
///   message changes the ChannelManager after it. The reference leaves peers connected.
/// - Fully resolved ChannelMonitors are archived through
///   `ChainMonitor::archive_fully_resolved_channel_monitors` 15 s after start and every
///   10 minutes. The reference 0.2.3 does not call it.
/// - HTLC forwards are processed only while `needs_pending_htlc_processing` returns `true`.
///   The reference also calls `process_pending_htlc_forwards` when nothing is pending, which
///   then only frees channel holding cells, as the next `PeerManager::process_events` does.
///   The delays between forward batches (2 s first, then random) come from a log-normal
///   distribution with the median (50 ms) and maximum (200 ms) of the reference's table of
///   samples, not from the table itself.
#[must_use = "the processor stops when dropped; keep it until shutdown"]
pub struct BackgroundProcessor {
    /// The running processor; `None` after `join()` or `stop()` took it, or when it could
    /// not start.
    processor: Option<VigilProcessor>,
    /// The error that kept the processor from starting. `join()` or `stop()` returns it,
    /// and a drop logs it.
    start_error: Option<Error>,
    logger: Arc<dyn Logger + Send + Sync>,
}

impl BackgroundProcessor {
    /// Starts the processor on a thread named `vigil-processor`, with events handed out on
    /// a thread named `vigil-events`.
    ///
    /// It runs until [`stop`](Self::stop) is called or it is dropped, or until a
    /// ChannelManager write fails on every attempt; [`join`](Self::join) or `stop` then
    /// return that error.
    ///
    /// `kv_store` stores the ChannelManager, the network graph of `gossip_sync` and the
    /// scorer. `event_handler` receives the events of the ChannelManager, the ChainMonitor
    /// and the OnionMessenger, after the network graph and the scorer have seen them.
    ///
    /// Beyond the reference's bounds, the component handles `M`, `CM`, `OM`, `PGS`, `RGS`,
    /// `PM`, `LM`, `OS`, `K` and `L` must be `Sync`, because the processor thread and the
    /// event thread share them. Every `Arc<T>` and `&'static T` that is `Send` is also
    /// `Sync`, so the usual wirings compile unchanged.
    #[allow(clippy::too_many_arguments, reason = "the reference API's signature")]
    pub fn start<
        'a,
        UL: 'static + Deref,
        CF: 'static + Deref,
        T: 'static + Deref,
        F: 'static + Deref + Send,
        G: 'static + Deref<Target = NetworkGraph<L>>,
        L: 'static + Deref + Send + Sync,
        P: 'static + Deref,
        EH: 'static + EventHandler + Send,
        ES: 'static + Deref + Send,
        M: 'static
            + Deref<
                Target = ChainMonitor<<CM::Target as AChannelManager>::Signer, CF, T, F, L, P, ES>,
            >
            + Send
            + Sync,
        CM: 'static + Deref + Send + Sync,
        OM: 'static + Deref + Send + Sync,
        PGS: 'static + Deref<Target = P2PGossipSync<G, UL, L>> + Send + Sync,
        RGS: 'static + Deref<Target = RapidGossipSync<G, L>> + Send + Sync,
        PM: 'static + Deref + Send + Sync,
        LM: 'static + Deref + Send + Sync,
        S: 'static + Deref<Target = SC> + Send + Sync,
        SC: for<'b> WriteableScore<'b> + 'static,
        D: 'static + Deref,
        O: 'static + Deref,
        K: 'static + Deref + Send + Sync,
        OS: 'static + Deref<Target = OutputSweeperSync<T, D, F, CF, K, L, O>> + Send + Sync,
    >(
        kv_store: K,
        event_handler: EH,
        chain_monitor: M,
        channel_manager: CM,
        onion_messenger: Option<OM>,
        gossip_sync: GossipSync<PGS, RGS, G, UL, L>,
        peer_manager: PM,
        liquidity_manager: Option<LM>,
        sweeper: Option<OS>,
        logger: L,
        scorer: Option<S>,
    ) -> Self
    where
        UL::Target: 'static + UtxoLookup,
        CF::Target: 'static + chain::Filter,
        T::Target: 'static + BroadcasterInterface,
        F::Target: 'static + FeeEstimator,
        L::Target: 'static + Logger,
        P::Target: 'static + Persist<<CM::Target as AChannelManager>::Signer>,
        ES::Target: 'static + EntropySource,
        CM::Target: AChannelManager,
        OM::Target: AOnionMessenger,
        PM::Target: APeerManager,
        LM::Target: ALiquidityManagerSync,
        D::Target: ChangeDestinationSourceSync,
        O::Target: 'static + OutputSpender,
        K::Target: 'static + KVStoreSync,
    {
        let logger = Handle::shared(logger);
        let mut builder = VigilProcessor::builder(
            Handle::shared(kv_store),
            SerialHandler(Mutex::new(event_handler)),
            Handle::shared(chain_monitor),
            Handle::shared(channel_manager),
            Handle::shared(peer_manager),
            Arc::clone(&logger),
        )
        .gossip(gossip_sync.into_gossip());
        if let Some(messenger) = onion_messenger {
            builder = builder.onion_messenger(Handle::shared(messenger));
        }
        if let Some(liquidity) = liquidity_manager {
            builder = builder.liquidity_manager(Handle::shared(liquidity));
        }
        if let Some(sweeper) = sweeper {
            builder = builder.sweeper(Handle::shared(sweeper));
        }
        if let Some(scorer) = scorer {
            builder = builder.scorer(Arc::new(ScorerHandle(scorer)));
        }
        let logger_for_drop: Arc<dyn Logger + Send + Sync> = logger;
        let (processor, start_error) = match builder.start() {
            Ok(processor) => (Some(processor), None),
            Err(error) => (None, Some(error)),
        };
        Self {
            processor,
            start_error,
            logger: logger_for_drop,
        }
    }

    /// Waits for the processor to end on its own and returns the error that ended it.
    ///
    /// # Errors
    ///
    /// Returns the store's `io::Error` when a ChannelManager write, the final one included,
    /// failed on every attempt. Returns an error of kind `Other` when a handler panicked,
    /// when the handler was still running 30 s after a stop, or when the processor could not
    /// start.
    pub fn join(mut self) -> Result<(), std::io::Error> {
        match self.processor.take() {
            Some(processor) => processor.join().map_err(into_io_error),
            None => self.take_start_error(),
        }
    }

    /// Stops the processor after its final writes and returns the error that ended it, if
    /// any.
    ///
    /// # Errors
    ///
    /// The same as [`join`](Self::join).
    pub fn stop(mut self) -> Result<(), std::io::Error> {
        match self.processor.take() {
            Some(processor) => processor.stop().map_err(into_io_error),
            None => self.take_start_error(),
        }
    }

    fn take_start_error(&mut self) -> Result<(), std::io::Error> {
        match self.start_error.take() {
            Some(error) => Err(into_io_error(error)),
            None => Ok(()),
        }
    }
}

impl Drop for BackgroundProcessor {
    /// Logs the error of a processor that could not start. A running processor is stopped
    /// and waited for by the drop of Vigil's processor inside, which logs the error that
    /// ended it instead of panicking.
    fn drop(&mut self) {
        if let Some(error) = &self.start_error {
            lightning::log_error!(
                self.logger,
                "Background processor could not start: {}",
                error
            );
        }
    }
}
