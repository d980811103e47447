//! A flag that any thread can raise to wake a waiter early.
//!
//! # Lost wake-ups
//!
//! The raised flag, the list of async wakers and the condition variable share one mutex.
//! A blocking waiter checks the flag and its deadline while holding that mutex and releases
//! it only inside [`Condvar::wait`], and everyone who wakes it ([`Signal::raise`], and
//! [`ManualClock::advance`] through [`Signal::notify_waiters`]) takes the same mutex before
//! notifying. So a notification can never fall between a waiter's check and its sleep.
//!
//! [`ManualClock::advance`]: crate::ManualClock::advance

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::Wake;

/// A wake-up flag shared between the threads or tasks that raise it and the one that waits.
///
/// Clones share the same flag. [`Signal::raise`] only takes a short internal lock and never
/// blocks on a waiter, so it may be called from any thread, including from a callback
/// registered on another library's future (for example LDK's
/// `lightning::util::wakers::Future::register_callback`).
///
/// # Consumption rules
///
/// A signal holds at most one pending raise:
/// - a raise made while nobody waits stays pending, so the next wait returns at once;
/// - several raises before a wait collapse into one, so they cause one early return;
/// - only a wait that returns [`Wake::Signalled`] (or a [`SignalFuture`] that completes)
///   consumes the raise, so a waiter that returned on its deadline leaves a later raise
///   pending for the next wait.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use vigil_scheduler::{Clock, SystemClock, Signal, Wake};
///
/// let signal = Signal::new();
/// let raiser = signal.clone();
/// std::thread::spawn(move || raiser.raise());
///
/// // Returns as soon as the other thread raises the signal, far before the deadline.
/// let far_future = Instant::now() + Duration::from_secs(3600);
/// assert_eq!(SystemClock.wait_until(&signal, far_future), Wake::Signalled);
/// assert!(!signal.is_raised(), "the wait consumed the raise");
/// ```
#[derive(Clone, Default)]
pub struct Signal {
    inner: Arc<Inner>,
}

/// A future that completes once its [`Signal`] is raised, consuming the raise.
///
/// Returned by [`Signal::raised`]. It works with any executor because it keeps its own
/// [`Waker`] with the signal and needs no runtime timer. Dropping it before it completes
/// leaves any raise pending.
///
/// # Examples
///
/// ```
/// use std::future::Future;
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
/// use vigil_scheduler::Signal;
///
/// let signal = Signal::new();
/// let mut raised = pin!(signal.raised());
/// let mut context = Context::from_waker(Waker::noop());
///
/// assert!(raised.as_mut().poll(&mut context).is_pending());
/// signal.raise();
/// assert_eq!(raised.as_mut().poll(&mut context), Poll::Ready(()));
/// assert!(!signal.is_raised(), "the future consumed the raise");
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct SignalFuture {
    signal: Signal,
    /// Key of this future's entry in the signal's waker list, once it has registered.
    waker_key: Option<u64>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    condvar: Condvar,
}

#[derive(Default)]
struct State {
    raised: bool,
    /// Wakers of pending [`SignalFuture`]s, keyed so that a future can replace or remove its own.
    wakers: Vec<(u64, Waker)>,
    next_waker_key: u64,
}

impl Signal {
    /// Creates a signal that is not raised.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the signal and wakes every waiter.
    ///
    /// One waiter consumes the raise. If no thread or future waits, the raise stays pending until the next
    /// wait, and raising an already raised signal changes nothing.
    pub fn raise(&self) {
        let wakers = {
            let mut state = self.inner.state.lock();
            state.raised = true;
            self.inner.condvar.notify_all();
            std::mem::take(&mut state.wakers)
        };
        // Wake the async waiters after releasing the lock: a waker may poll the future inline,
        // and that poll takes the same lock, which would deadlock if we still held it.
        for (_, waker) in wakers {
            waker.wake();
        }
    }

    /// Returns whether a raise is pending, without consuming it.
    pub fn is_raised(&self) -> bool {
        self.inner.state.lock().raised
    }

    /// Returns a future that completes once the signal is raised and consumes that raise.
    ///
    /// If a raise is already pending, the future completes on its first poll.
    pub fn raised(&self) -> SignalFuture {
        SignalFuture {
            signal: self.clone(),
            waker_key: None,
        }
    }

    /// Blocks the calling thread until the signal is raised or `deadline_passed` returns true.
    ///
    /// A raise is checked first and consumed. `deadline_passed` runs with the signal's lock
    /// held, so it must not raise or notify this signal. With `timeout`, each sleep ends at
    /// that instant at the latest. Without it, the caller must call
    /// [`Signal::notify_waiters`] whenever the result of `deadline_passed` may have changed.
    pub(crate) fn block_until(
        &self,
        mut deadline_passed: impl FnMut() -> bool,
        timeout: Option<Instant>,
    ) -> Wake {
        let mut state = self.inner.state.lock();
        loop {
            if std::mem::take(&mut state.raised) {
                return Wake::Signalled;
            }
            if deadline_passed() {
                return Wake::Deadline;
            }

            // Both arms may return early on a spurious wake-up. The loop then checks again.
            match timeout {
                Some(timeout) => {
                    self.inner.condvar.wait_until(&mut state, timeout);
                }
                None => self.inner.condvar.wait(&mut state),
            }
        }
    }

    /// Wakes the blocked waiters so that they check their deadline again.
    ///
    /// Taking the lock before notifying makes sure that a waiter is either still before its
    /// check (and will see the new state) or already asleep (and receives the notification).
    pub(crate) fn notify_waiters(&self) {
        let _state = self.inner.state.lock();
        self.inner.condvar.notify_all();
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal")
            .field("raised", &self.is_raised())
            .finish()
    }
}

impl Future for SignalFuture {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut state = this.signal.inner.state.lock();

        if std::mem::take(&mut state.raised) {
            if let Some(key) = this.waker_key.take() {
                state.wakers.retain(|(entry, _)| *entry != key);
            }
            return Poll::Ready(());
        }

        // `raise` drains the list, so the entry may be gone even though this future is pending.
        let key = match this.waker_key {
            Some(key) => key,
            None => {
                let key = state.next_waker_key;
                state.next_waker_key += 1;
                this.waker_key = Some(key);
                key
            }
        };
        match state.wakers.iter_mut().find(|(entry, _)| *entry == key) {
            Some((_, waker)) => waker.clone_from(context.waker()),
            None => state.wakers.push((key, context.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for SignalFuture {
    fn drop(&mut self) {
        if let Some(key) = self.waker_key {
            let mut state = self.signal.inner.state.lock();
            state.wakers.retain(|(entry, _)| *entry != key);
        }
    }
}

impl fmt::Debug for SignalFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignalFuture")
            .field("signal", &self.signal)
            .finish()
    }
}
