//! A counter of things that happened in a simnet, for helpers that wait for progress.

use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Counts events recorded and bytes sent in a simnet, and wakes the threads waiting for the
/// count to move.
///
/// The simnet's helpers wait on it between checks of their condition, so that they neither
/// spin nor sleep for a fixed time.
///
/// # Example
///
/// ```
/// use std::time::{Duration, Instant};
///
/// use vigil_simnet::Activity;
///
/// let activity = Activity::default();
/// let seen = activity.count();
/// activity.bump();
/// assert!(activity.wait_past(seen, Instant::now() + Duration::from_secs(1)));
/// ```
#[derive(Debug, Default)]
pub struct Activity {
    count: Mutex<u64>,
    moved: Condvar,
}

impl Activity {
    /// Returns the current count.
    pub fn count(&self) -> u64 {
        *self.count.lock()
    }

    /// Adds one to the count and wakes every waiter.
    pub fn bump(&self) {
        *self.count.lock() += 1;
        self.moved.notify_all();
    }

    /// Blocks until the count is past `seen` or `deadline` passed, and returns whether it moved.
    pub fn wait_past(&self, seen: u64, deadline: Instant) -> bool {
        let mut count = self.count.lock();
        while *count == seen {
            if self.moved.wait_until(&mut count, deadline).timed_out() {
                return *count != seen;
            }
        }
        true
    }
}
