//! Waiting on a `Signal` with `SystemClock` and `ManualClock`: lost and spurious wake-ups,
//! wake-ups across threads, and the async futures.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::task::{Context, Poll, Wake as TaskWake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use vigil_scheduler::{Clock, ManualClock, Signal, SystemClock, Wake};

/// How long a test waits for another thread before it fails instead of hanging. It bounds a
/// failure only, and no assertion depends on how long anything took.
const HANG_GUARD: Duration = Duration::from_secs(10);

const HOUR: Duration = Duration::from_secs(3600);

fn manual_clock() -> ManualClock {
    ManualClock::new(Instant::now(), Some(Duration::from_secs(1_700_000_000)))
}

/// Starts a thread that waits on `clock` and sends back the reason and the clock's time when
/// the wait returned.
fn wait_in_thread<C: Clock + Clone + 'static>(
    clock: &C,
    signal: &Signal,
    deadline: Instant,
) -> Receiver<(Wake, Instant)> {
    let (sender, receiver) = mpsc::channel();
    let clock = clock.clone();
    let signal = signal.clone();
    thread::spawn(move || {
        let wake = clock.wait_until(&signal, deadline);
        sender
            .send((wake, clock.now()))
            .expect("the test keeps the receiver until the waiter reports");
    });
    receiver
}

fn receive(receiver: &Receiver<(Wake, Instant)>) -> (Wake, Instant) {
    receiver
        .recv_timeout(HANG_GUARD)
        .expect("the waiter should have returned")
}

/// A waker that unparks the thread that polls, for a minimal `block_on`.
struct UnparkWaker(Thread);

impl TaskWake for UnparkWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(UnparkWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}

/// A waker that counts how often it was woken.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl TaskWake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CountingWaker {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

#[test]
fn system_raise_before_wait_returns_at_once() {
    let signal = Signal::new();
    signal.raise();

    let wake = SystemClock.wait_until(&signal, Instant::now() + HOUR);

    assert_eq!(wake, Wake::Signalled);
    assert!(
        !signal.is_raised(),
        "the wait should have consumed the raise"
    );
}

#[test]
fn manual_raise_before_wait_returns_at_once() {
    let clock = manual_clock();
    let signal = Signal::new();
    signal.raise();

    let wake = clock.wait_until(&signal, clock.now() + HOUR);

    assert_eq!(wake, Wake::Signalled);
    assert!(
        !signal.is_raised(),
        "the wait should have consumed the raise"
    );
}

#[test]
fn system_two_raises_give_one_early_return() {
    let signal = Signal::new();
    signal.raise();
    signal.raise();

    let first = SystemClock.wait_until(&signal, Instant::now() + HOUR);
    // A deadline that has passed returns at once, so the result shows whether a raise was
    // still pending.
    let second = SystemClock.wait_until(&signal, Instant::now());

    assert_eq!(first, Wake::Signalled);
    assert_eq!(second, Wake::Deadline);
}

#[test]
fn manual_two_raises_then_wait_blocks_until_deadline() {
    let clock = manual_clock();
    let signal = Signal::new();
    signal.raise();
    signal.raise();
    assert_eq!(
        clock.wait_until(&signal, clock.now() + HOUR),
        Wake::Signalled
    );

    let deadline = clock.now() + Duration::from_secs(10);
    let waiter = wait_in_thread(&clock, &signal, deadline);
    clock.wait_for_waiters(1);
    // Half way: the waiter wakes, finds its deadline ahead and waits again.
    clock.advance(Duration::from_secs(5));
    clock.advance(Duration::from_secs(5));

    let (wake, returned_at) = receive(&waiter);
    assert_eq!(wake, Wake::Deadline);
    assert_eq!(returned_at, deadline);
}

#[test]
fn manual_deadline_return_keeps_later_raise() {
    let clock = manual_clock();
    let signal = Signal::new();
    let deadline = clock.now() + Duration::from_secs(10);
    let waiter = wait_in_thread(&clock, &signal, deadline);
    clock.wait_for_waiters(1);
    clock.advance(Duration::from_secs(10));
    let (wake, _) = receive(&waiter);
    assert_eq!(wake, Wake::Deadline);

    // The first waiter has given up, so this raise must wait for the next wait.
    signal.raise();

    assert!(signal.is_raised(), "the raise should still be pending");
    let next = wait_in_thread(&clock, &signal, clock.now() + HOUR);
    let (wake, _) = receive(&next);
    assert_eq!(wake, Wake::Signalled);
}

#[test]
fn system_deadline_return_keeps_later_raise() {
    let signal = Signal::new();
    assert_eq!(
        SystemClock.wait_until(&signal, Instant::now()),
        Wake::Deadline
    );

    signal.raise();

    let waiter = wait_in_thread(&SystemClock, &signal, Instant::now() + HOUR);
    let (wake, _) = receive(&waiter);
    assert_eq!(wake, Wake::Signalled);
}

#[test]
fn system_waiter_wakes_on_raise() {
    let signal = Signal::new();
    let (ready_sender, ready_receiver) = mpsc::channel();
    let (result_sender, result_receiver) = mpsc::channel();
    let waiter_signal = signal.clone();
    thread::spawn(move || {
        ready_sender
            .send(())
            .expect("the test waits for this message");
        let wake = SystemClock.wait_until(&waiter_signal, Instant::now() + HOUR);
        result_sender
            .send(wake)
            .expect("the test waits for the result");
    });
    ready_receiver
        .recv_timeout(HANG_GUARD)
        .expect("the waiter thread should have started");

    signal.raise();

    let wake = result_receiver
        .recv_timeout(HANG_GUARD)
        .expect("the raise should have woken the waiter");
    assert_eq!(wake, Wake::Signalled);
    assert!(
        !signal.is_raised(),
        "the waiter should have consumed the raise"
    );
}

#[test]
fn manual_waiter_wakes_on_advance() {
    let clock = manual_clock();
    let signal = Signal::new();
    let deadline = clock.now() + HOUR;
    let waiter = wait_in_thread(&clock, &signal, deadline);
    clock.wait_for_waiters(1);

    clock.advance(HOUR);

    let (wake, returned_at) = receive(&waiter);
    assert_eq!(wake, Wake::Deadline);
    assert_eq!(returned_at, deadline);
    assert_eq!(clock.waiters(), 0, "the waiter should have unregistered");
}

#[test]
fn manual_waiter_wakes_on_raise() {
    let clock = manual_clock();
    let signal = Signal::new();
    let start = clock.now();
    let waiter = wait_in_thread(&clock, &signal, start + HOUR);
    clock.wait_for_waiters(1);

    signal.raise();

    let (wake, returned_at) = receive(&waiter);
    assert_eq!(wake, Wake::Signalled);
    assert_eq!(returned_at, start, "virtual time should not have moved");
}

#[test]
fn manual_advance_wakes_every_waiter() {
    let clock = manual_clock();
    let start = clock.now();
    let near = wait_in_thread(&clock, &Signal::new(), start + Duration::from_secs(1));
    let far = wait_in_thread(&clock, &Signal::new(), start + Duration::from_secs(2));
    clock.wait_for_waiters(2);

    clock.advance(Duration::from_secs(2));

    assert_eq!(receive(&near).0, Wake::Deadline);
    assert_eq!(receive(&far).0, Wake::Deadline);
}

#[test]
fn manual_zero_advance_keeps_waiting() {
    let clock = manual_clock();
    let signal = Signal::new();
    let deadline = clock.now() + Duration::from_secs(1);
    let waiter = wait_in_thread(&clock, &signal, deadline);
    clock.wait_for_waiters(1);

    clock.advance(Duration::ZERO);
    clock.advance(Duration::from_secs(1));

    let (wake, returned_at) = receive(&waiter);
    assert_eq!(wake, Wake::Deadline);
    assert_eq!(returned_at, deadline);
}

#[test]
fn signal_future_completes_on_raise() {
    let signal = Signal::new();
    let waiter_signal = signal.clone();
    let handle = thread::spawn(move || block_on(waiter_signal.raised()));

    signal.raise();

    handle
        .join()
        .expect("the future should complete without panicking");
    assert!(
        !signal.is_raised(),
        "the future should have consumed the raise"
    );
}

#[test]
fn signal_future_consumes_one_raise() {
    let signal = Signal::new();
    signal.raise();
    signal.raise();

    block_on(signal.raised());

    assert!(!signal.is_raised(), "two raises should count as one");
    assert_eq!(
        SystemClock.wait_until(&signal, Instant::now()),
        Wake::Deadline
    );
}

#[test]
fn signal_future_wakes_registered_waker() {
    let signal = Signal::new();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut context = Context::from_waker(&waker);
    let mut raised = pin!(signal.raised());

    assert!(raised.as_mut().poll(&mut context).is_pending());
    assert!(raised.as_mut().poll(&mut context).is_pending());
    signal.raise();

    assert_eq!(
        counter.count(),
        1,
        "a re-polled future should register one waker"
    );
    assert_eq!(raised.as_mut().poll(&mut context), Poll::Ready(()));
}

#[test]
fn dropped_signal_future_keeps_raise() {
    let signal = Signal::new();
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    let mut context = Context::from_waker(&waker);
    {
        let mut raised = pin!(signal.raised());
        assert!(raised.as_mut().poll(&mut context).is_pending());
    }

    signal.raise();

    assert!(signal.is_raised(), "nothing consumed the raise");
    assert_eq!(
        SystemClock.wait_until(&signal, Instant::now() + HOUR),
        Wake::Signalled
    );
}

#[test]
fn manual_deadline_future_woken_by_advance() {
    let clock = manual_clock();
    let counter = Arc::new(CountingWaker::default());
    let waker = Waker::from(counter.clone());
    let mut context = Context::from_waker(&waker);
    let mut future = clock
        .deadline_future(clock.now() + Duration::from_secs(10))
        .expect("a virtual clock returns its own deadline future");

    assert!(future.as_mut().poll(&mut context).is_pending());
    clock.advance(Duration::from_secs(9));
    assert_eq!(counter.count(), 0, "the deadline is still 1 s ahead");
    assert!(future.as_mut().poll(&mut context).is_pending());

    clock.advance(Duration::from_secs(1));

    assert_eq!(counter.count(), 1);
    assert_eq!(future.as_mut().poll(&mut context), Poll::Ready(()));
}

#[test]
fn manual_deadline_future_in_thread() {
    let clock = manual_clock();
    let future = clock
        .deadline_future(clock.now() + HOUR)
        .expect("a virtual clock returns its own deadline future");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        block_on(future);
        sender.send(()).expect("the test waits for this message");
    });

    clock.advance(HOUR);

    receiver
        .recv_timeout(HANG_GUARD)
        .expect("the advance should have completed the deadline future");
}

#[test]
fn manual_past_deadline_future_ready() {
    let clock = manual_clock();
    let future = clock
        .deadline_future(clock.now())
        .expect("a virtual clock returns its own deadline future");

    block_on(future);
}

#[test]
fn system_clock_has_no_deadline_future() {
    assert!(SystemClock.deadline_future(Instant::now() + HOUR).is_none());
}

#[test]
fn manual_clock_moves_only_on_advance() {
    let start = Instant::now();
    let clock = ManualClock::new(start, Some(Duration::from_secs(100)));
    let other = clock.clone();

    assert_eq!(clock.now(), start);
    other.advance(Duration::from_secs(5));

    assert_eq!(
        clock.now(),
        start + Duration::from_secs(5),
        "clones share the time"
    );
    assert_eq!(clock.since_epoch(), Some(Duration::from_secs(105)));
}

#[test]
fn manual_wall_time_can_be_set_and_unknown() {
    let start = Instant::now();
    let clock = ManualClock::new(start, None);
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        clock.since_epoch(),
        None,
        "an unknown wall time stays unknown"
    );

    clock.set_wall_time(Some(Duration::from_secs(42)));
    assert_eq!(clock.since_epoch(), Some(Duration::from_secs(42)));
    assert_eq!(
        clock.now(),
        start + Duration::from_secs(1),
        "setting the wall time leaves now"
    );

    clock.set_wall_time(None);
    assert_eq!(clock.since_epoch(), None);
}

#[test]
fn manual_advance_saturates() {
    let start = Instant::now();
    let clock = ManualClock::new(start, Some(Duration::from_secs(1)));

    clock.advance(Duration::MAX);

    assert!(
        clock.now() > start,
        "time should have moved to the latest instant"
    );
    assert_eq!(
        clock.since_epoch(),
        None,
        "an overflowing wall time becomes unknown"
    );
}

#[test]
fn system_clock_is_monotonic() {
    let first = SystemClock.now();
    let second = SystemClock.now();
    assert!(second >= first, "{second:?} is before {first:?}");
    assert!(SystemClock.since_epoch().is_some());
}

/// Fails to compile if `Clock` stops being object safe.
fn shared_clock(clock: Arc<dyn Clock>) -> Arc<dyn Clock> {
    clock
}

#[test]
fn arc_dyn_clock_delegates() {
    let manual = manual_clock();
    let clock = shared_clock(Arc::new(manual.clone()));
    let signal = Signal::new();

    manual.advance(Duration::from_secs(3));
    signal.raise();

    assert_eq!(clock.now(), manual.now());
    assert_eq!(clock.since_epoch(), manual.since_epoch());
    assert_eq!(
        clock.wait_until(&signal, clock.now() + HOUR),
        Wake::Signalled
    );
    assert_eq!(clock.wait_until(&signal, clock.now()), Wake::Deadline);
    assert!(clock.deadline_future(clock.now()).is_some());
}

#[test]
fn raise_racing_wait_never_lost() {
    // Each round races a raise against a waiter that may or may not be asleep yet. A lost
    // wake-up would leave the waiter blocked for an hour and trip the hang guard.
    for round in 0..500 {
        let signal = Signal::new();
        let waiter = wait_in_thread(&SystemClock, &signal, Instant::now() + HOUR);

        signal.raise();

        let (wake, _) = waiter
            .recv_timeout(HANG_GUARD)
            .unwrap_or_else(|error| panic!("round {round}: the waiter missed the raise: {error}"));
        assert_eq!(wake, Wake::Signalled, "round {round}");
    }
}

#[test]
fn advance_racing_wait_never_lost() {
    // Like the raise race, with the advance racing the waiter's registration on the clock.
    for round in 0..500 {
        let clock = manual_clock();
        let deadline = clock.now() + Duration::from_secs(1);
        let waiter = wait_in_thread(&clock, &Signal::new(), deadline);

        clock.advance(Duration::from_secs(1));

        let (wake, _) = waiter.recv_timeout(HANG_GUARD).unwrap_or_else(|error| {
            panic!("round {round}: the waiter missed the advance: {error}")
        });
        assert_eq!(wake, Wake::Deadline, "round {round}");
    }
}
