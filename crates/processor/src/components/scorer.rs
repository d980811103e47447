//! The scorer as the processor sees it.

use std::time::Duration;

use lightning::routing::scoring::{ScoreUpdate, WriteableScore};
use lightning::util::ser::Writeable;

/// The scorer duties the processor drives: decay and persistence.
///
/// Feeding payment and probe results to the scorer happens on the event path, before the
/// user's handler. Implemented for every LDK type that implements [`WriteableScore`], such as
/// `Mutex<ProbabilisticScorer<..>>` or `RwLock<..>`.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait ScorerDriver: Send + Sync {
    /// Decays the scorer's knowledge, given the time since the Unix epoch.
    fn time_passed(&self, duration_since_epoch: Duration);

    /// Returns the serialized scorer, the bytes stored under key `scorer`.
    fn encode_scorer(&self) -> Vec<u8>;
}

impl<S> ScorerDriver for S
where
    S: for<'a> WriteableScore<'a> + Send + Sync,
{
    fn time_passed(&self, duration_since_epoch: Duration) {
        let mut score = self.write_lock();
        ScoreUpdate::time_passed(&mut *score, duration_since_epoch);
    }

    fn encode_scorer(&self) -> Vec<u8> {
        Writeable::encode(self)
    }
}
