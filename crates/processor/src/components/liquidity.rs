//! The LiquidityManager as the processor sees it.

use lightning_liquidity::ALiquidityManagerSync;

use super::{register_on, WakeCallback};

/// The LiquidityManager duties the processor drives.
///
/// Implemented for every type that implements [`ALiquidityManagerSync`], such as
/// `LiquidityManagerSync<..>`, which writes its own state through its `KVStoreSync`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait LiquidityDriver: Send + Sync {
    /// Registers `callback` on the current pending-messages-or-needs-persist future.
    fn register_wake(&self, callback: WakeCallback);

    /// Writes the LiquidityManager's state if it changed.
    ///
    /// Returns whether anything was written.
    ///
    /// # Errors
    ///
    /// Returns the store's error when a write failed; the state stays marked as changed, so
    /// the next call writes it again.
    fn persist(&self) -> Result<bool, std::io::Error>;
}

impl<M> LiquidityDriver for M
where
    M: ALiquidityManagerSync + Send + Sync + ?Sized,
{
    fn register_wake(&self, callback: WakeCallback) {
        register_on(
            &self.get_lm().get_pending_msgs_or_needs_persist_future(),
            callback,
        );
    }

    fn persist(&self) -> Result<bool, std::io::Error> {
        self.get_lm().persist().map_err(std::io::Error::from)
    }
}
