//! The runner's wait: for the next deadline, the core's signal, or a started write.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use vigil_persistence::PersistError;
use vigil_scheduler::{Clock, Signal};

use crate::core::{StartedWrite, WriteTicket};

/// The writes issued to the async store that have not completed yet.
#[derive(Default)]
pub(crate) struct WritesInFlight {
    writes: Vec<StartedWrite>,
}

/// A write that completed, with its result.
pub(crate) type Completed = (WriteTicket, Result<(), PersistError>);

impl WritesInFlight {
    pub(crate) fn extend(&mut self, started: Vec<StartedWrite>) {
        self.writes.extend(started);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Returns every write that completes at the next poll that completes any; never
    /// returns while none is in flight.
    pub(crate) async fn completed(&mut self) -> Vec<Completed> {
        poll_fn(|context| {
            let mut done = Vec::new();
            let mut index = 0;
            while index < self.writes.len() {
                match self.writes[index].future.as_mut().poll(context) {
                    Poll::Ready(result) => {
                        let write = self.writes.swap_remove(index);
                        done.push((write.ticket, result));
                    }
                    Poll::Pending => index += 1,
                }
            }
            if done.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(done)
            }
        })
        .await
    }
}

/// Why a wait ended.
pub(crate) enum WaitEnd {
    /// The deadline passed or the signal was raised.
    DeadlineOrSignal,
    /// These writes completed.
    Writes(Vec<Completed>),
}

/// Waits until `deadline` on `clock`, a raise of `signal`, or the completion of a write.
pub(crate) async fn wait_for_work(
    clock: &dyn Clock,
    signal: &Signal,
    deadline: Instant,
    writes: &mut WritesInFlight,
) -> WaitEnd {
    let timer = deadline_future(clock, deadline);
    tokio::select! {
        biased;
        done = writes.completed() => WaitEnd::Writes(done),
        () = signal.raised() => WaitEnd::DeadlineOrSignal,
        () = timer => WaitEnd::DeadlineOrSignal,
    }
}

/// Returns a future that completes at `deadline`: the clock's own for a virtual clock,
/// tokio's timer otherwise.
fn deadline_future(
    clock: &dyn Clock,
    deadline: Instant,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    match clock.deadline_future(deadline) {
        Some(future) => future,
        None => Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
            deadline,
        ))),
    }
}
