//! Driving LDK's async event processing to completion on the calling thread.
//!
//! LDK 0.2.7's blocking `process_pending_events` of the ChainMonitor and the OnionMessenger
//! calls the handler while it holds a lock that other threads need (the monitors lock, and the
//! recipients lock for `ConnectionNeeded`). Their `process_pending_events_async` releases those
//! locks before it polls a handler future. [`handle_when_polled`] makes a future that calls a
//! blocking handler only when polled, and [`block_on`] polls the whole call on this thread,
//! so the blocking handler runs with none of those locks held.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use lightning::events::{Event, EventHandler, ReplayEvent};

/// The future of one handler call, boxed so that it is `Unpin`, as
/// `OnionMessenger::process_pending_events_async` requires.
pub(crate) type HandlerCall<'a> = Pin<Box<dyn Future<Output = Result<(), ReplayEvent>> + 'a>>;

/// Returns a future that hands `event` to `handler` on its first poll.
///
/// Nothing runs when the future is created, because LDK creates some handler futures while it
/// still holds a lock and polls them only after releasing it.
pub(crate) fn handle_when_polled(handler: &dyn EventHandler, event: Event) -> HandlerCall<'_> {
    Box::pin(async move { handler.handle_event(event) })
}

/// Polls `future` on the calling thread until it completes, parking the thread while it is
/// pending, and returns its output.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // An unpark that came before this call makes it return at once, so no wake is lost.
        // A spurious return only polls once more.
        thread::park();
    }
}

/// A waker that unparks the thread blocked in [`block_on`].
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use lightning::ln::channelmanager::PaymentId;

    use super::*;

    #[test]
    fn block_on_returns_ready_output() {
        assert_eq!(block_on(async { 7 }), 7);
    }

    /// A future that is pending until a thread it starts on its first poll sets `done` and
    /// wakes it.
    struct WokenFromThread {
        done: Arc<AtomicBool>,
        waker_thread: Option<thread::JoinHandle<()>>,
        polls: usize,
    }

    impl Future for WokenFromThread {
        type Output = usize;

        fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.done.load(Ordering::Acquire) {
                if let Some(waker_thread) = self.waker_thread.take() {
                    waker_thread
                        .join()
                        .expect("the waking thread did not panic");
                }
                return Poll::Ready(self.polls);
            }
            if self.waker_thread.is_none() {
                let done = Arc::clone(&self.done);
                let waker = context.waker().clone();
                self.waker_thread = Some(thread::spawn(move || {
                    done.store(true, Ordering::Release);
                    waker.wake();
                }));
            }
            Poll::Pending
        }
    }

    #[test]
    fn block_on_completes_future_woken_from_other_thread() {
        let future = WokenFromThread {
            done: Arc::new(AtomicBool::new(false)),
            waker_thread: None,
            polls: 0,
        };

        let polls = block_on(future);

        assert!(polls >= 2, "polled again after the wake, {polls} polls");
    }

    /// A handler that records the payment id byte of every event it is handed.
    struct RecordingHandler(Mutex<Vec<u8>>);

    impl EventHandler for RecordingHandler {
        fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
            if let Event::PaymentFailed { payment_id, .. } = event {
                self.0.lock().unwrap().push(payment_id.0[0]);
            }
            Ok(())
        }
    }

    fn payment_failed(id: u8) -> Event {
        Event::PaymentFailed {
            payment_id: PaymentId([id; 32]),
            payment_hash: None,
            reason: None,
        }
    }

    #[test]
    fn handler_runs_on_first_poll_not_creation() {
        let handler = RecordingHandler(Mutex::new(Vec::new()));

        let call = handle_when_polled(&handler, payment_failed(1));
        let handled_at_creation = handler.0.lock().unwrap().len();
        let outcome = block_on(call);

        assert_eq!(handled_at_creation, 0, "nothing handled before the poll");
        assert!(outcome.is_ok(), "the handler's result is the output");
        assert_eq!(*handler.0.lock().unwrap(), [1]);
    }

    #[test]
    fn handler_result_is_future_output() {
        struct Rejecting(Cell<usize>);
        impl EventHandler for Rejecting {
            fn handle_event(&self, _event: Event) -> Result<(), ReplayEvent> {
                self.0.set(self.0.get() + 1);
                Err(ReplayEvent())
            }
        }
        let handler = Rejecting(Cell::new(0));

        let outcome = block_on(handle_when_polled(&handler, payment_failed(2)));

        assert!(outcome.is_err(), "the rejection is the output");
        assert_eq!(handler.0.get(), 1, "called once");
    }
}
