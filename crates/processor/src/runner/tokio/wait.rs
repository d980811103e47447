//! The runner's wait: for the next deadline, the core's signal, or work in flight.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use vigil_persistence::PersistError;
use vigil_scheduler::{Clock, Signal};

use super::liquidity::LiquidityPersistFuture;
use super::sweeper::SweepFuture;
use crate::core::{StartedWrite, WriteTicket};

/// The writes issued to the async store, the LiquidityManager persist and the sweep that
/// have not completed yet.
#[derive(Default)]
pub(crate) struct InFlight {
    writes: Vec<StartedWrite>,
    liquidity: Option<LiquidityPersistFuture>,
    sweep: Option<SweepFuture>,
}

/// Work that completed, with its result.
pub(crate) enum Done {
    Write(WriteTicket, Result<(), PersistError>),
    /// A LiquidityManager persist; `Ok` contains whether it wrote anything.
    Liquidity(Result<bool, std::io::Error>),
    /// An OutputSweeper run.
    Sweep(Result<(), ()>),
}

impl InFlight {
    pub(crate) fn extend(&mut self, started: Vec<StartedWrite>) {
        self.writes.extend(started);
    }

    pub(crate) fn has_liquidity(&self) -> bool {
        self.liquidity.is_some()
    }

    pub(crate) fn set_liquidity(&mut self, persist: LiquidityPersistFuture) {
        self.liquidity = Some(persist);
    }

    pub(crate) fn has_sweep(&self) -> bool {
        self.sweep.is_some()
    }

    pub(crate) fn set_sweep(&mut self, sweep: SweepFuture) {
        self.sweep = Some(sweep);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.liquidity.is_none() && self.sweep.is_none()
    }

    /// Returns everything that completes at the next poll that completes anything; never
    /// returns while nothing is in flight.
    pub(crate) async fn completed(&mut self) -> Vec<Done> {
        poll_fn(|context| self.poll_completed(context)).await
    }

    fn poll_completed(&mut self, context: &mut Context<'_>) -> Poll<Vec<Done>> {
        let mut done = Vec::new();
        let mut index = 0;
        while index < self.writes.len() {
            match self.writes[index].future.as_mut().poll(context) {
                Poll::Ready(result) => {
                    let write = self.writes.swap_remove(index);
                    done.push(Done::Write(write.ticket, result));
                }
                Poll::Pending => index += 1,
            }
        }
        if let Some(persist) = &mut self.liquidity {
            if let Poll::Ready(result) = persist.as_mut().poll(context) {
                self.liquidity = None;
                done.push(Done::Liquidity(result));
            }
        }
        if let Some(sweep) = &mut self.sweep {
            if let Poll::Ready(result) = sweep.as_mut().poll(context) {
                self.sweep = None;
                done.push(Done::Sweep(result));
            }
        }
        if done.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(done)
        }
    }
}

/// The cause that ended a wait.
pub(crate) enum WaitEnd {
    /// The deadline passed or the signal was raised.
    DeadlineOrSignal,
    /// The timer's owner asked the processor to stop.
    StopRequested,
    /// This work completed.
    Done(Vec<Done>),
}

/// The source of the runner's waits for a deadline.
pub(crate) trait Timer {
    /// Completes at the deadline. An output of `true` requests a stop of the processor.
    type Sleep: Future<Output = bool> + Unpin;

    /// Returns a future that completes at `deadline` on `clock`.
    fn sleep_until(&self, clock: &dyn Clock, deadline: Instant) -> Self::Sleep;
}

/// The timer of [`AsyncProcessor::run`](super::AsyncProcessor::run): the clock's own
/// deadline future for a virtual clock, tokio's timer otherwise. It never requests a stop.
pub(crate) struct TokioTimer;

impl Timer for TokioTimer {
    type Sleep = Pin<Box<dyn Future<Output = bool> + Send>>;

    fn sleep_until(&self, clock: &dyn Clock, deadline: Instant) -> Self::Sleep {
        let timer = deadline_future(clock, deadline);
        Box::pin(async move {
            timer.await;
            false
        })
    }
}

/// Waits until `sleep` completes, a raise of `signal`, or the completion of work in
/// flight.
pub(crate) async fn wait_for_work<S>(signal: &Signal, sleep: S, in_flight: &mut InFlight) -> WaitEnd
where
    S: Future<Output = bool> + Unpin,
{
    // The sleep comes before the signal: on a busy node the signal is raised at every
    // wait, and a stop requested through the sleep must still be seen.
    tokio::select! {
        biased;
        done = in_flight.completed() => WaitEnd::Done(done),
        stop = sleep => if stop { WaitEnd::StopRequested } else { WaitEnd::DeadlineOrSignal },
        () = signal.raised() => WaitEnd::DeadlineOrSignal,
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

#[cfg(test)]
mod tests {
    use std::future::ready;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    #[test]
    fn stop_seen_while_signal_raised() {
        let signal = Signal::new();
        signal.raise();
        let mut in_flight = InFlight::default();

        let wait = pin!(wait_for_work(&signal, ready(true), &mut in_flight));
        let end = wait.poll(&mut Context::from_waker(Waker::noop()));

        assert!(
            matches!(end, Poll::Ready(WaitEnd::StopRequested)),
            "a raised signal hid the stop request"
        );
    }
}
