//! The OutputSweeper as the processor sees it.

use std::ops::Deref;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::Filter;
use lightning::sign::{ChangeDestinationSourceSync, OutputSpender};
use lightning::util::logger::Logger;
use lightning::util::persist::KVStoreSync;
use lightning::util::sweep::OutputSweeperSync;

/// The sweeper duty the processor drives.
///
/// Implemented for LDK's blocking `OutputSweeperSync<..>`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait SweeperDriver: Send + Sync {
    /// Regenerates and broadcasts the spending transaction of tracked outputs when needed.
    ///
    /// # Errors
    ///
    /// Returns `Err(())` when the sweeper could not build or persist the spend; it tries
    /// again on its next call.
    #[allow(
        clippy::result_unit_err,
        reason = "the signature of LDK's OutputSweeperSync, whose error carries no detail"
    )]
    fn regenerate_and_broadcast_spend_if_necessary(&self) -> Result<(), ()>;
}

impl<B, D, E, F, K, L, O> SweeperDriver for OutputSweeperSync<B, D, E, F, K, L, O>
where
    B: Deref + Send + Sync,
    D: Deref + Send + Sync,
    E: Deref + Send + Sync,
    F: Deref + Send + Sync,
    K: Deref + Send + Sync,
    L: Deref + Send + Sync,
    O: Deref + Send + Sync,
    B::Target: BroadcasterInterface,
    D::Target: ChangeDestinationSourceSync,
    E::Target: FeeEstimator,
    F::Target: Filter,
    K::Target: KVStoreSync,
    L::Target: Logger,
    O::Target: OutputSpender,
{
    fn regenerate_and_broadcast_spend_if_necessary(&self) -> Result<(), ()> {
        OutputSweeperSync::regenerate_and_broadcast_spend_if_necessary(self)
    }
}
