//! The ChainMonitor as the processor sees it.

use std::ops::Deref;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::Filter;
use lightning::events::EventHandler;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::EntropySource;
use lightning::util::logger::Logger;

use super::block_on::{block_on, handle_when_polled};
use super::{register_on, WakeCallback};

/// The ChainMonitor duties the processor drives.
///
/// Implemented for LDK's `ChainMonitor<..>`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait ChainMonitorDriver: Send + Sync {
    /// Hands every pending monitor event (spendable outputs, fee bumps) to `handler`, holding
    /// no lock of the ChainMonitor while `handler` runs.
    ///
    /// The processor's gate inside `handler` can block until the processor thread has written
    /// the ChannelManager, and that thread may need the ChainMonitor's locks first, so an
    /// implementation that held one would deadlock. As with LDK's `process_pending_events`,
    /// an event stays pending unless `handler` returned `Ok`.
    fn process_pending_events_unlocked(&self, handler: &dyn EventHandler);

    /// Registers `callback` on the current update future.
    fn register_wake(&self, callback: WakeCallback);

    /// Rebroadcasts the pending claims of every monitor, bumping fees where allowed.
    fn rebroadcast_pending_claims(&self);

    /// Archives the monitors of channels that are closed and fully resolved on chain.
    fn archive_fully_resolved_channel_monitors(&self);
}

impl<ChannelSigner, C, T, F, L, P, ES> ChainMonitorDriver
    for ChainMonitor<ChannelSigner, C, T, F, L, P, ES>
where
    ChannelSigner: EcdsaChannelSigner + Send + Sync,
    C: Deref + Send + Sync,
    T: Deref + Send + Sync,
    F: Deref + Send + Sync,
    L: Deref + Send + Sync,
    P: Deref + Send + Sync,
    ES: Deref + Send + Sync,
    C::Target: Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<ChannelSigner>,
    ES::Target: EntropySource,
{
    /// Runs LDK's `process_pending_events_async` to completion on this thread. LDK 0.2.7's
    /// blocking form holds the monitors lock while the handler runs, and `watch_channel` and
    /// every block connection take that lock for writing. The async form takes it only to
    /// copy a monitor's pending events and to remove the handled ones.
    fn process_pending_events_unlocked(&self, handler: &dyn EventHandler) {
        let events = ChainMonitor::process_pending_events_async(self, |event| {
            handle_when_polled(handler, event)
        });
        block_on(events);
    }

    fn register_wake(&self, callback: WakeCallback) {
        register_on(&self.get_update_future(), callback);
    }

    fn rebroadcast_pending_claims(&self) {
        ChainMonitor::rebroadcast_pending_claims(self);
    }

    fn archive_fully_resolved_channel_monitors(&self) {
        ChainMonitor::archive_fully_resolved_channel_monitors(self);
    }
}
