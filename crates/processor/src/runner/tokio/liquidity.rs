//! The LiquidityManager as the async runner drives it: its wake future and its async
//! `persist`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::ops::Deref;

use lightning::chain::chaininterface::BroadcasterInterface;
use lightning::chain::Filter;
use lightning::ln::channelmanager::AChannelManager;
use lightning::sign::{EntropySource, NodeSigner};
use lightning::util::persist::KVStore;
use lightning_liquidity::utils::time::TimeProvider;
use lightning_liquidity::LiquidityManager;

use crate::components::{LiquidityDriver, WakeCallback};

/// The future of one async LiquidityManager persist; it returns whether anything was written.
pub type LiquidityPersistFuture =
    Pin<Box<dyn Future<Output = Result<bool, std::io::Error>> + Send>>;

/// The LiquidityManager duties the async runner drives.
///
/// Implemented for LDK's async `LiquidityManager<..>`, which writes its state through its
/// async `KVStore`.
pub trait AsyncLiquidityDriver: Send + Sync {
    /// Registers `callback` on the current pending-messages-or-needs-persist future.
    fn register_wake(&self, callback: WakeCallback);

    /// Writes the LiquidityManager's state if it changed, and returns whether it wrote.
    ///
    /// # Errors
    ///
    /// The future returns the store's error when a write failed; the state stays marked as
    /// changed, so the next call writes it again.
    fn persist_async(self: Arc<Self>) -> LiquidityPersistFuture;
}

impl<ES, NS, CM, C, K, TP, T> AsyncLiquidityDriver for LiquidityManager<ES, NS, CM, C, K, TP, T>
where
    ES: Deref + Clone + Send + Sync + 'static,
    NS: Deref + Clone + Send + Sync + 'static,
    CM: Deref + Clone + Send + Sync + 'static,
    C: Deref + Clone + Send + Sync + 'static,
    K: Deref + Clone + Send + Sync + 'static,
    TP: Deref + Clone + Send + Sync + 'static,
    T: Deref + Clone + Send + Sync + 'static,
    ES::Target: EntropySource,
    NS::Target: NodeSigner,
    CM::Target: AChannelManager,
    C::Target: Filter,
    K::Target: KVStore,
    TP::Target: TimeProvider,
    T::Target: BroadcasterInterface,
{
    fn register_wake(&self, callback: WakeCallback) {
        self.get_pending_msgs_or_needs_persist_future()
            .register_callback(Box::new(callback));
    }

    fn persist_async(self: Arc<Self>) -> LiquidityPersistFuture {
        Box::pin(async move { self.persist().await.map_err(std::io::Error::from) })
    }
}

/// The async LiquidityManager in the core's component slot, for its wake future.
///
/// A core with deferred writes never calls [`LiquidityDriver::persist`]: it records a
/// request that the runner serves with [`AsyncLiquidityDriver::persist_async`].
pub(crate) struct DeferredLiquidity(pub(crate) Arc<dyn AsyncLiquidityDriver>);

impl LiquidityDriver for DeferredLiquidity {
    fn register_wake(&self, callback: WakeCallback) {
        self.0.register_wake(callback);
    }

    fn persist(&self) -> Result<bool, std::io::Error> {
        Err(std::io::Error::other(
            "blocking LiquidityManager persist in a processor that persists it asynchronously",
        ))
    }
}
