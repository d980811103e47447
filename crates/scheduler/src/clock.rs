//! The [`Clock`] trait and the production clock, [`SystemClock`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::Signal;

/// A boxed future that completes once a clock reaches a deadline.
pub type DeadlineFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The reason why [`Clock::wait_until`] returned.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use vigil_scheduler::{Clock, ManualClock, Signal, Wake};
///
/// let clock = ManualClock::new(Instant::now(), None);
/// let signal = Signal::new();
///
/// // A deadline that has already passed returns at once.
/// assert_eq!(clock.wait_until(&signal, clock.now()), Wake::Deadline);
///
/// signal.raise();
/// assert_eq!(clock.wait_until(&signal, clock.now()), Wake::Signalled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wake {
    /// The clock reached the deadline.
    Deadline,
    /// The signal was raised, and the wait consumed that raise.
    Signalled,
}

/// A source of time that can also wait for a deadline.
///
/// Everything in Vigil that reads the time or waits goes through this trait, so that tests can swap
/// [`SystemClock`] for [`ManualClock`](crate::ManualClock) and drive time themselves. The trait
/// is object safe and is usually shared as `Arc<dyn Clock>`.
///
/// # Contract
///
/// - [`now`](Clock::now) is monotonic: it never returns an instant before one it returned
///   earlier.
/// - [`since_epoch`](Clock::since_epoch) is the wall-clock time since the Unix epoch. It may
///   jump in either direction and is `None` when the clock does not know the time (a wall
///   clock set before 1970, or a virtual clock started without one).
/// - [`wait_until`](Clock::wait_until) blocks until `now() >= deadline` or until the signal
///   is raised, whichever comes first. A pending raise, including one made before the call,
///   makes it return [`Wake::Signalled`] at once and consumes the raise. When both hold, the
///   raise wins and is consumed. A return on the deadline leaves the signal untouched.
/// - [`deadline_future`](Clock::deadline_future) is the async counterpart of waiting for a
///   deadline, for clocks whose time a runtime timer cannot follow.
///
/// # Examples
///
/// A clock that wraps another one and reports a fixed wall time:
///
/// ```
/// use std::time::{Duration, Instant};
/// use vigil_scheduler::{Clock, DeadlineFuture, Signal, SystemClock, Wake};
///
/// struct FixedWallTime(SystemClock);
///
/// impl Clock for FixedWallTime {
///     fn now(&self) -> Instant {
///         self.0.now()
///     }
///
///     fn since_epoch(&self) -> Option<Duration> {
///         Some(Duration::from_secs(1_700_000_000))
///     }
///
///     fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake {
///         self.0.wait_until(signal, deadline)
///     }
///
///     fn deadline_future(&self, deadline: Instant) -> Option<DeadlineFuture> {
///         self.0.deadline_future(deadline)
///     }
/// }
///
/// let clock: std::sync::Arc<dyn Clock> = std::sync::Arc::new(FixedWallTime(SystemClock));
/// assert_eq!(clock.since_epoch(), Some(Duration::from_secs(1_700_000_000)));
/// assert_eq!(clock.wait_until(&Signal::new(), clock.now()), Wake::Deadline);
/// ```
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// Returns the current monotonic time, never earlier than a previous return.
    fn now(&self) -> Instant;

    /// Returns the wall-clock time since the Unix epoch, or `None` when it is unknown.
    fn since_epoch(&self) -> Option<Duration>;

    /// Blocks until the clock reaches `deadline` or `signal` is raised, and returns which.
    ///
    /// A raise that is pending when the call starts returns [`Wake::Signalled`] at once. A
    /// `Signalled` return consumes the raise. A `Deadline` return leaves it in place.
    fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake;

    /// Returns a future that completes once `now() >= deadline`, if this clock needs one.
    ///
    /// Virtual clocks return `Some`, because only they know when their time moves.
    /// [`SystemClock`] returns `None`, and an async caller then uses its runtime's timer (for
    /// example `tokio::time::sleep_until`) instead.
    fn deadline_future(&self, deadline: Instant) -> Option<DeadlineFuture>;
}

/// The operating system's clocks: [`Instant::now`] and [`SystemTime::now`].
///
/// [`wait_until`](Clock::wait_until) sleeps on a condition variable with the deadline as its
/// timeout, so a raise wakes the waiter at once and an idle waiter uses no CPU. It wakes again
/// only on a spurious wake-up of the condition variable.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use vigil_scheduler::{Clock, Signal, SystemClock, Wake};
///
/// let clock = SystemClock;
/// let signal = Signal::new();
/// signal.raise();
///
/// // The raise was made before the wait, so the wait returns at once.
/// let deadline = clock.now() + Duration::from_secs(3600);
/// assert_eq!(clock.wait_until(&signal, deadline), Wake::Signalled);
/// assert!(clock.since_epoch().is_some());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn since_epoch(&self) -> Option<Duration> {
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .ok()
    }

    fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake {
        signal.block_until(|| Instant::now() >= deadline, Some(deadline))
    }

    fn deadline_future(&self, _deadline: Instant) -> Option<DeadlineFuture> {
        None
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }

    fn since_epoch(&self) -> Option<Duration> {
        (**self).since_epoch()
    }

    fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake {
        (**self).wait_until(signal, deadline)
    }

    fn deadline_future(&self, deadline: Instant) -> Option<DeadlineFuture> {
        (**self).deadline_future(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile if `Clock` stops being object safe.
    fn boxed(clock: Box<dyn Clock>) -> Box<dyn Clock> {
        clock
    }

    #[test]
    fn mock_clock_scripts_a_wait() {
        let start = Instant::now();
        let mut mock = MockClock::new();
        mock.expect_now().return_const(start);
        mock.expect_since_epoch().return_const(None);
        mock.expect_wait_until()
            .withf(move |_, deadline| *deadline == start + Duration::from_secs(5))
            .times(1)
            .return_const(Wake::Signalled);
        let clock = boxed(Box::new(mock));

        let wake = clock.wait_until(&Signal::new(), clock.now() + Duration::from_secs(5));

        assert_eq!(wake, Wake::Signalled);
        assert_eq!(clock.since_epoch(), None);
    }

    #[test]
    fn system_clock_waits_for_past_deadline() {
        let signal = Signal::new();
        let past = SystemClock.now();

        assert_eq!(SystemClock.wait_until(&signal, past), Wake::Deadline);
    }
}
