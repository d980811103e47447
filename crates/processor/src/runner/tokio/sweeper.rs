//! LDK's async OutputSweeper as the async runner drives it.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::Filter;
use lightning::sign::{ChangeDestinationSource, OutputSpender};
use lightning::util::logger::Logger;
use lightning::util::persist::KVStore;
use lightning::util::sweep::OutputSweeper;

use crate::components::SweeperDriver;

/// The future of one async sweep; `Err(())` means the sweeper could not build or persist
/// its spend and tries again on its next run.
pub type SweepFuture = Pin<Box<dyn Future<Output = Result<(), ()>> + Send>>;

/// The OutputSweeper duty the async runner drives.
///
/// Implemented for LDK's async `OutputSweeper<..>`, which writes through its async `KVStore`.
pub trait AsyncSweeperDriver: Send + Sync {
    /// Regenerates and broadcasts the spending transaction of tracked outputs when needed.
    ///
    /// # Errors
    ///
    /// The future returns `Err(())` when the sweeper could not build or persist its spend;
    /// it tries again on its next run.
    fn regenerate_and_broadcast_spend_async(self: Arc<Self>) -> SweepFuture;
}

impl<B, D, E, F, K, L, O> AsyncSweeperDriver for OutputSweeper<B, D, E, F, K, L, O>
where
    B: Deref + Send + Sync + 'static,
    D: Deref + Send + Sync + 'static,
    E: Deref + Send + Sync + 'static,
    F: Deref + Send + Sync + 'static,
    K: Deref + Send + Sync + 'static,
    L: Deref + Send + Sync + 'static,
    O: Deref + Send + Sync + 'static,
    B::Target: BroadcasterInterface,
    D::Target: ChangeDestinationSource,
    E::Target: FeeEstimator,
    F::Target: Filter,
    K::Target: KVStore,
    L::Target: Logger,
    O::Target: OutputSpender,
{
    fn regenerate_and_broadcast_spend_async(self: Arc<Self>) -> SweepFuture {
        Box::pin(async move { self.regenerate_and_broadcast_spend_if_necessary().await })
    }
}

/// The async sweeper in the core's component slot: the core's sweep job records a request,
/// which the runner serves with
/// [`AsyncSweeperDriver::regenerate_and_broadcast_spend_async`] after the turn.
pub(crate) struct DeferredSweeper {
    pub(crate) requested: AtomicBool,
}

impl DeferredSweeper {
    /// Returns whether a sweep was requested since the last call, clearing the request.
    pub(crate) fn take_request(&self) -> bool {
        self.requested.swap(false, Ordering::AcqRel)
    }
}

impl SweeperDriver for DeferredSweeper {
    fn regenerate_and_broadcast_spend_if_necessary(&self) -> Result<(), ()> {
        self.requested.store(true, Ordering::Release);
        Ok(())
    }
}
