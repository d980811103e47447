//! Calls from the processor's `'static` parts into work that runs in the caller's task.
//!
//! The reference's async functions take an event handler, a LiquidityManager and an
//! OutputSweeper whose futures need not be `Send` or `'static`, and await them inside the
//! caller's future. Vigil's async runner keeps its parts as `'static` trait objects, so
//! each such call goes through a channel: the runner's side sends a request and awaits the
//! reply, and [`serve`] runs the work in the caller's future and replies.

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::{mpsc, oneshot};

/// A request and the channel its reply goes back on.
pub(crate) type Request<In, Out> = (In, oneshot::Sender<Out>);

/// The runner's side of a bridge.
pub(crate) struct Caller<In, Out>(mpsc::UnboundedSender<Request<In, Out>>);

impl<In, Out> Clone for Caller<In, Out> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The caller's side of a bridge, consumed by [`serve`].
pub(crate) type Server<In, Out> = mpsc::UnboundedReceiver<Request<In, Out>>;

/// Returns the two sides of a new bridge.
pub(crate) fn bridge<In, Out>() -> (Caller<In, Out>, Server<In, Out>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    (Caller(sender), receiver)
}

impl<In, Out> Caller<In, Out>
where
    In: Send + 'static,
    Out: Send + 'static,
{
    /// Sends `input` to the serving side and returns its reply, or `None` when the serving
    /// side is gone (the caller's future was dropped).
    pub(crate) fn call(&self, input: In) -> impl Future<Output = Option<Out>> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let sent = self.0.send((input, reply)).is_ok();
        async move {
            if sent {
                answer.await.ok()
            } else {
                None
            }
        }
    }
}

/// Runs `work` for each request, one at a time, and replies with its output. Ends when
/// every caller is gone.
pub(crate) async fn serve<In, Out, W, F>(mut server: Server<In, Out>, mut work: W)
where
    W: FnMut(In) -> F,
    F: Future<Output = Out>,
{
    while let Some((input, reply)) = server.recv().await {
        let output = work(input).await;
        // The caller may have given up because its processor stopped. The output is unused.
        let _ = reply.send(output);
    }
}

/// The outcome of a future that may panic: its output or the panic's payload.
pub(crate) type Caught<T> = Result<T, Box<dyn Any + Send>>;

/// Polls `future` and catches a panic in it, so that the panic can be handed to the
/// runner's side instead of unwinding through the caller's future.
pub(crate) struct CatchPanic<F>(pub(crate) Pin<Box<F>>);

impl<F: Future> Future for CatchPanic<F> {
    type Output = Caught<F::Output>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.0.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| future.poll(context))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
