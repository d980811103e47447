//! [`ManualClock`], a virtual clock that moves only when a test moves it.
//!
//! # Waking waiters
//!
//! The clock keeps two registries in its state:
//! - the [`Signal`]s of threads blocked in [`Clock::wait_until`]. [`ManualClock::advance`]
//!   notifies each of them, and each waiter then compares the new time with its own deadline;
//! - the [`Waker`]s of pending deadline futures with their deadlines. `advance` wakes those
//!   whose deadline the new time reached.
//!
//! Lock order: a blocked waiter reads the time while it holds its signal's lock, so the clock
//! never takes a signal's lock while holding its own. `advance` updates the time, copies the
//! registries and releases the clock's lock before it notifies anyone.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::clock::DeadlineFuture;
use crate::instant::saturating_add;
use crate::{Clock, Signal, Wake};

/// A virtual clock for tests: time is fixed until the test calls [`advance`].
///
/// - [`now`](Clock::now) starts at the given instant and moves only in [`advance`].
/// - [`since_epoch`](Clock::since_epoch) starts at the given wall time, moves with
///   [`advance`] and can be set (or made unknown) with [`set_wall_time`].
/// - [`wait_until`](Clock::wait_until) blocks the calling thread until another thread
///   advances the clock to the deadline or raises the signal. It never looks at real time.
/// - [`deadline_future`](Clock::deadline_future) returns a future that [`advance`] wakes.
///
/// Clones share the same time, so a test keeps one clone and hands another to the code under
/// test.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use vigil_scheduler::{Clock, ManualClock, Signal, Wake};
///
/// let clock = ManualClock::new(Instant::now(), Some(Duration::from_secs(1_700_000_000)));
/// let start = clock.now();
/// let deadline = start + Duration::from_secs(60);
///
/// let waiter = {
///     let clock = clock.clone();
///     std::thread::spawn(move || clock.wait_until(&Signal::new(), deadline))
/// };
/// // Time moves only here, and the waiter returns once the clock reaches its deadline.
/// clock.advance(Duration::from_secs(60));
///
/// assert_eq!(waiter.join().unwrap(), Wake::Deadline);
/// assert_eq!(clock.now(), deadline);
/// assert_eq!(clock.since_epoch(), Some(Duration::from_secs(1_700_000_060)));
/// ```
///
/// [`advance`]: ManualClock::advance
/// [`set_wall_time`]: ManualClock::set_wall_time
#[derive(Clone)]
pub struct ManualClock {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    /// Notified whenever a thread starts waiting in `wait_until`.
    waiter_added: Condvar,
}

struct State {
    now: Instant,
    wall: Option<Duration>,
    /// Signals of threads blocked in `wait_until`, keyed by registration.
    waiters: BTreeMap<u64, Signal>,
    /// Deadlines and wakers of pending deadline futures, keyed by future.
    timers: BTreeMap<u64, (Instant, Waker)>,
    next_key: u64,
}

impl ManualClock {
    /// Creates a clock whose monotonic time is `start` and whose wall time is `wall`.
    ///
    /// `wall` is the time since the Unix epoch, or `None` for a clock without wall time.
    pub fn new(start: Instant, wall: Option<Duration>) -> Self {
        let state = State {
            now: start,
            wall,
            waiters: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_key: 0,
        };
        let shared = Shared {
            state: Mutex::new(state),
            waiter_added: Condvar::new(),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Moves the monotonic time and the wall time forward by `by`, and wakes every waiter.
    ///
    /// Blocked [`wait_until`](Clock::wait_until) calls whose deadline is reached return
    /// [`Wake::Deadline`], and deadline futures that are due become ready. A zero `by` still
    /// wakes the waiters, which then find their deadline not reached and wait again.
    ///
    /// The monotonic time stops at the latest instant the platform can represent, and the
    /// wall time becomes unknown if it would overflow a [`Duration`].
    pub fn advance(&self, by: Duration) {
        let (waiters, due_timers) = {
            let mut state = self.shared.state.lock();
            state.now = saturating_add(state.now, by);
            state.wall = state.wall.and_then(|wall| wall.checked_add(by));

            let now = state.now;
            let due_keys: Vec<u64> = state
                .timers
                .iter()
                .filter(|(_, (deadline, _))| *deadline <= now)
                .map(|(key, _)| *key)
                .collect();
            let due_timers: Vec<Waker> = due_keys
                .iter()
                .filter_map(|key| state.timers.remove(key))
                .map(|(_, waker)| waker)
                .collect();
            let waiters: Vec<Signal> = state.waiters.values().cloned().collect();
            (waiters, due_timers)
        };

        // Notify with the clock's lock released: a blocked waiter holds its signal's lock while
        // it reads the time, so notifying under our lock could deadlock against it.
        for signal in waiters {
            signal.notify_waiters();
        }
        for waker in due_timers {
            waker.wake();
        }
    }

    /// Sets the wall time reported by [`since_epoch`](Clock::since_epoch).
    ///
    /// The monotonic time does not change, so no waiter wakes. `None` makes the wall time
    /// unknown, as on a machine whose clock was never set.
    pub fn set_wall_time(&self, wall: Option<Duration>) {
        self.shared.state.lock().wall = wall;
    }

    /// Returns the number of threads currently waiting in [`wait_until`](Clock::wait_until).
    pub fn waiters(&self) -> usize {
        self.shared.state.lock().waiters.len()
    }

    /// Blocks until at least `count` threads are waiting in
    /// [`wait_until`](Clock::wait_until) on this clock.
    ///
    /// A test calls it before [`advance`](ManualClock::advance) to make sure that the thread
    /// under test has reached its wait, so that the advance exercises the wake-up path
    /// rather than racing with the thread's start. A thread counts as waiting from the moment
    /// it enters `wait_until`. Any advance from then on reaches it.
    pub fn wait_for_waiters(&self, count: usize) {
        let mut state = self.shared.state.lock();
        while state.waiters.len() < count {
            self.shared.waiter_added.wait(&mut state);
        }
    }

    /// Registers `signal` so that `advance` notifies it, and returns the registration key.
    fn register_waiter(&self, signal: &Signal) -> u64 {
        let mut state = self.shared.state.lock();
        let key = state.allocate_key();
        state.waiters.insert(key, signal.clone());
        self.shared.waiter_added.notify_all();
        key
    }

    fn unregister_waiter(&self, key: u64) {
        self.shared.state.lock().waiters.remove(&key);
    }
}

impl State {
    fn allocate_key(&mut self) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        key
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.shared.state.lock().now
    }

    fn since_epoch(&self) -> Option<Duration> {
        self.shared.state.lock().wall
    }

    fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake {
        // The guard removes the registration even if the wait unwinds.
        let registration = WaiterRegistration {
            clock: self,
            key: self.register_waiter(signal),
        };
        let wake = signal.block_until(|| self.now() >= deadline, None);
        drop(registration);
        wake
    }

    fn deadline_future(&self, deadline: Instant) -> Option<DeadlineFuture> {
        let key = self.shared.state.lock().allocate_key();
        Some(Box::pin(ManualDeadline {
            clock: self.clone(),
            deadline,
            key,
        }))
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.shared.state.lock();
        f.debug_struct("ManualClock")
            .field("now", &state.now)
            .field("wall", &state.wall)
            .field("waiters", &state.waiters.len())
            .field("timers", &state.timers.len())
            .finish()
    }
}

struct WaiterRegistration<'a> {
    clock: &'a ManualClock,
    key: u64,
}

impl Drop for WaiterRegistration<'_> {
    fn drop(&mut self) {
        self.clock.unregister_waiter(self.key);
    }
}

/// The future returned by [`ManualClock`]'s `deadline_future`.
struct ManualDeadline {
    clock: ManualClock,
    deadline: Instant,
    key: u64,
}

impl Future for ManualDeadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut state = self.clock.shared.state.lock();
        if state.now >= self.deadline {
            state.timers.remove(&self.key);
            return Poll::Ready(());
        }

        // Replacing the entry keeps one waker per future however often it is polled.
        state
            .timers
            .insert(self.key, (self.deadline, context.waker().clone()));
        Poll::Pending
    }
}

impl Drop for ManualDeadline {
    fn drop(&mut self) {
        self.clock.shared.state.lock().timers.remove(&self.key);
    }
}
