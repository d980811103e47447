//! Helpers for this crate's unit tests.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on the current thread until it completes, parking between polls.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        thread::park();
    }
}

/// A logger that keeps every line as "LEVEL message".
#[derive(Default)]
pub(crate) struct RecordingLogger {
    lines: parking_lot::Mutex<Vec<String>>,
}

impl RecordingLogger {
    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.lock().clone()
    }
}

impl lightning::util::logger::Logger for RecordingLogger {
    fn log(&self, record: lightning::util::logger::Record) {
        self.lines
            .lock()
            .push(format!("{} {}", record.level, record.args));
    }
}
