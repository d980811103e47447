//! Runs blocking store work on its own thread for the async `KVStore` implementations, so that
//! an fsync never stalls the executor that polls the future. No runtime is assumed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;

use lightning::util::async_poll::AsyncResult;
use parking_lot::Mutex;

type Job<T> = Box<dyn FnOnce() -> T + Send>;

/// Returns an already completed future, the shape LDK's async `KVStore` methods return.
pub(crate) fn ready<T: Send + 'static>(
    result: Result<T, lightning::io::Error>,
) -> AsyncResult<'static, T, lightning::io::Error> {
    Box::pin(std::future::ready(result))
}

/// A future that runs its job on a new thread when first polled and completes with its result.
pub(crate) struct Blocking<T> {
    job: Option<Job<T>>,
    shared: Arc<Mutex<Shared<T>>>,
}

struct Shared<T> {
    result: Option<T>,
    waker: Option<Waker>,
}

/// Returns a future that runs `job` on a new thread once polled.
pub(crate) fn run_blocking<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Blocking<T> {
    Blocking {
        job: Some(Box::new(job)),
        shared: Arc::new(Mutex::new(Shared {
            result: None,
            waker: None,
        })),
    }
}

impl<T: Send + 'static> Blocking<T> {
    fn start(&mut self, waker: &Waker) {
        let Some(job) = self.job.take() else {
            return;
        };
        self.shared.lock().waker = Some(waker.clone());

        // The job moves into the thread through a shared slot, so that it can still run here
        // if the thread cannot be spawned (for example when the process hit its thread limit).
        let slot = Arc::new(Mutex::new(Some(job)));
        let thread_slot = Arc::clone(&slot);
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name("vigil-store-io".into())
            .spawn(move || {
                if let Some(job) = thread_slot.lock().take() {
                    finish(&shared, job());
                }
            });
        if spawned.is_err() {
            if let Some(job) = slot.lock().take() {
                finish(&self.shared, job());
            }
        }
    }
}

fn finish<T>(shared: &Mutex<Shared<T>>, result: T) {
    let waker = {
        let mut shared = shared.lock();
        shared.result = Some(result);
        shared.waker.take()
    };
    // Wake outside the lock so that an executor polling at once does not wait on it.
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T: Send + 'static> Future for Blocking<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        this.start(cx.waker());

        let mut shared = this.shared.lock();
        if let Some(result) = shared.result.take() {
            return Poll::Ready(result);
        }
        shared.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::block_on;

    #[test]
    fn result_arrives_through_block_on() {
        let value = block_on(run_blocking(|| 40 + 2));
        assert_eq!(value, 42);
    }

    #[test]
    fn job_does_not_run_before_poll() {
        let (sender, receiver) = std::sync::mpsc::channel::<()>();
        let future = run_blocking(move || sender.send(()).is_ok());
        assert!(receiver.try_recv().is_err());
        assert!(block_on(future));
        assert!(receiver.try_recv().is_ok());
    }
}
