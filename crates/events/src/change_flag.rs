//! A shared flag that records that some state changed and is owed a write.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag, shared between clones, that records that some state changed since it was last written.
///
/// [`ScorerObserver`](crate::ScorerObserver) sets it after each scorer update, and the processor
/// takes it when it decides whether the scorer needs writing, so that many payments cost one
/// write instead of one each.
///
/// # Examples
///
/// ```
/// use vigil_events::ChangeFlag;
///
/// let flag = ChangeFlag::default();
/// let writer_side = flag.clone();
///
/// flag.set();
/// assert!(writer_side.is_set());
/// assert!(writer_side.take());
/// assert!(!flag.take(), "take clears the flag for every clone");
/// ```
#[derive(Clone, Debug, Default)]
pub struct ChangeFlag {
    changed: Arc<AtomicBool>,
}

impl ChangeFlag {
    /// Returns a new flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the state as changed.
    pub fn set(&self) {
        self.changed.store(true, Ordering::Release);
    }

    /// Clears the flag and returns whether it was set.
    ///
    /// A caller that takes `true` and then fails to write should call [`set`](Self::set) again,
    /// so that the write is retried.
    pub fn take(&self) -> bool {
        self.changed.swap(false, Ordering::AcqRel)
    }

    /// Returns whether the flag is set, without clearing it.
    pub fn is_set(&self) -> bool {
        self.changed.load(Ordering::Acquire)
    }
}
