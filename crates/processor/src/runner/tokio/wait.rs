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
    /// This work completed.
    Done(Vec<Done>),
}

/// Waits until `deadline` on `clock`, a raise of `signal`, or the completion of work in
/// flight.
pub(crate) async fn wait_for_work(
    clock: &dyn Clock,
    signal: &Signal,
    deadline: Instant,
    in_flight: &mut InFlight,
) -> WaitEnd {
    let timer = deadline_future(clock, deadline);
    tokio::select! {
        biased;
        done = in_flight.completed() => WaitEnd::Done(done),
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
