//! The timer of the async functions. It waits through the caller's sleeper until a sleep
//! requests the exit, and through deadlines of its own after that.
//!
//! `lightning-background-processor` 0.2.3 stops calling the sleeper once a sleep completed
//! with `true`, and its
//! documentation lets the sleeper complete early from then on. The stop sequence still has
//! waits with deadlines (a ChannelManager write retry, the event handler), so after the
//! exit request they use the clock's deadline future or, for the system clock, a thread
//! that sleeps until the deadline.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use vigil_scheduler::{Clock, DeadlineFuture, Signal, SystemClock};

use crate::runner::tokio::Timer;

/// The maximum duration passed to the caller's sleeper in one call.
///
/// With the default intervals the core's deadlines are at most an hour away. The cap only
/// keeps a sleeper from receiving a duration its timer cannot represent.
const MAX_SLEEP: Duration = Duration::from_secs(24 * 60 * 60);

/// A timer that waits through the caller's sleeper until a sleep completes with `true`,
/// which requests a stop of the processor, and through its own deadlines after that.
pub(super) struct SleeperTimer<Sleeper> {
    sleeper: Sleeper,
    /// Set once a sleep of the caller's sleeper completed with `true`.
    exit_requested: Arc<AtomicBool>,
}

impl<Sleeper> SleeperTimer<Sleeper> {
    pub(super) fn new(sleeper: Sleeper) -> Self {
        Self {
            sleeper,
            exit_requested: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl<Sleeper, SleepFuture> Timer for SleeperTimer<Sleeper>
where
    Sleeper: Fn(Duration) -> SleepFuture,
    SleepFuture: Future<Output = bool> + Unpin,
{
    type Sleep = Sleep<SleepFuture>;

    fn sleep_until(&self, clock: &dyn Clock, deadline: Instant) -> Self::Sleep {
        if self.exit_requested.load(Ordering::Acquire) {
            let wait = clock
                .deadline_future(deadline)
                .unwrap_or_else(|| Box::pin(ThreadDeadline::start(deadline)));
            return Sleep::Deadline(wait);
        }
        let duration = deadline.saturating_duration_since(clock.now());
        Sleep::Caller {
            sleep: (self.sleeper)(duration.min(MAX_SLEEP)),
            exit_requested: Arc::clone(&self.exit_requested),
        }
    }
}

/// One wait of a [`SleeperTimer`]. Its output is `true` when it requests a stop.
pub(super) enum Sleep<SleepFuture> {
    /// A sleep of the caller's sleeper, which records an exit request in the timer.
    Caller {
        sleep: SleepFuture,
        exit_requested: Arc<AtomicBool>,
    },
    /// A wait after the exit request, which completes with `false` at its deadline.
    Deadline(DeadlineFuture),
}

impl<SleepFuture> Future for Sleep<SleepFuture>
where
    SleepFuture: Future<Output = bool> + Unpin,
{
    type Output = bool;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<bool> {
        match self.get_mut() {
            Sleep::Caller {
                sleep,
                exit_requested,
            } => {
                let exit = std::task::ready!(Pin::new(sleep).poll(context));
                if exit {
                    exit_requested.store(true, Ordering::Release);
                }
                Poll::Ready(exit)
            }
            Sleep::Deadline(wait) => wait.as_mut().poll(context).map(|()| false),
        }
    }
}

/// A future that completes at a deadline of the system clock, timed by a thread of its own,
/// for a caller that has no runtime timer. Dropping it ends the thread.
pub(super) struct ThreadDeadline {
    state: Arc<Mutex<DeadlineState>>,
    /// Raised on drop, so that the thread returns before the deadline.
    cancel: Signal,
}

#[derive(Default)]
struct DeadlineState {
    passed: bool,
    waker: Option<Waker>,
}

impl ThreadDeadline {
    /// Starts the thread that completes the future at `deadline`.
    pub(super) fn start(deadline: Instant) -> Self {
        let state = Arc::new(Mutex::new(DeadlineState::default()));
        let cancel = Signal::new();
        let thread_state = Arc::clone(&state);
        let thread_cancel = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name("vigil-stop-timer".to_owned())
            .spawn(move || {
                SystemClock.wait_until(&thread_cancel, deadline);
                let waker = {
                    let mut state = thread_state.lock();
                    state.passed = true;
                    state.waker.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
        if spawned.is_err() {
            // NOTE: without a thread the future completes at once, so the runner turns again
            // at once each time until the stop step it waits for is done.
            state.lock().passed = true;
        }
        Self { state, cancel }
    }
}

impl Future for ThreadDeadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.passed {
            return Poll::Ready(());
        }
        state.waker = Some(context.waker().clone());
        Poll::Pending
    }
}

impl Drop for ThreadDeadline {
    fn drop(&mut self) {
        self.cancel.raise();
    }
}
