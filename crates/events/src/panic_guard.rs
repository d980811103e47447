//! Containment of panics raised by observers and handlers.
//!
//! A panic in user code must not unwind through LDK's event processing, which holds locks
//! while it calls the handler. Every call into an observer or a handler goes through
//! [`catch`] or [`catch_future`], which turn the panic into its message.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::task::Poll;

/// Message recorded when a panic payload is neither a `&str` nor a `String`.
pub(crate) const NON_STRING_PAYLOAD: &str = "panic payload is not a string";

/// Runs `f` and returns its result, or the panic message if it panicked.
///
/// `AssertUnwindSafe` is sound here because no caller reads state that the panicking code
/// may have left half-updated: each records the failure and returns `Err(ReplayEvent())`.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

/// Polls `future` to completion and returns its output, or the panic message if a poll panicked.
///
/// After a panic the future is dropped without being polled again.
pub(crate) async fn catch_future<F: Future>(future: F) -> Result<F::Output, String> {
    let mut future = pin!(future);
    std::future::poll_fn(move |cx| {
        match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
        }
    })
    .await
}

/// Returns the message of a panic payload, which `panic!` makes a `&str` or a `String`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        return (*message).to_owned();
    }
    if let Some(message) = payload.downcast_ref::<String>() {
        return message.clone();
    }
    NON_STRING_PAYLOAD.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catch_returns_value() {
        assert_eq!(catch(|| 7), Ok(7));
    }

    #[test]
    fn catch_returns_str_message() {
        assert_eq!(
            catch(|| panic!("static text")),
            Err::<(), _>("static text".to_owned())
        );
    }

    #[test]
    fn catch_returns_formatted_message() {
        let value = 42;
        assert_eq!(
            catch(|| panic!("value {value}")),
            Err::<(), _>("value 42".to_owned())
        );
    }

    #[test]
    fn catch_names_non_string_payload() {
        let result = catch(|| std::panic::panic_any(17_u32));
        assert_eq!(result, Err::<(), _>(NON_STRING_PAYLOAD.to_owned()));
    }

    #[test]
    fn catch_future_returns_output() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let output = runtime.block_on(catch_future(async { 5 }));
        assert_eq!(output, Ok(5));
    }

    #[test]
    fn catch_future_contains_panic_after_yield() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let output = runtime.block_on(catch_future(async {
            tokio::task::yield_now().await;
            panic!("after a yield");
        }));
        assert_eq!(output, Err::<(), _>("after a yield".to_owned()));
    }
}
