//! The ChainMonitor as the processor sees it.

use std::ops::Deref;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::Filter;
use lightning::events::{EventHandler, EventsProvider};
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::EntropySource;
use lightning::util::logger::Logger;

use super::{register_on, WakeCallback};

/// The ChainMonitor duties the processor drives.
///
/// Implemented for LDK's `ChainMonitor<..>`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait ChainMonitorDriver: Send + Sync {
    /// Hands every pending monitor event (spendable outputs, fee bumps) to `handler`.
    fn process_pending_events(&self, handler: &dyn EventHandler);

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
    fn process_pending_events(&self, handler: &dyn EventHandler) {
        EventsProvider::process_pending_events(self, handler);
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
