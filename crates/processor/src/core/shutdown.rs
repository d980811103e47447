//! The stop sequence.
//!
//! On `stop()`, on drop, or after a panic, the core stops in this order:
//!
//! 1. close the event gate, so no event is handed out from now on (an event that is
//!    rejected stays pending in LDK and is handed out again after the next start);
//! 2. disconnect every peer, so no peer message changes the ChannelManager afterwards;
//! 3. write the ChannelManager, always, retrying per the retry policy;
//! 4. write the scorer, then the network graph, once each, in the order of
//!    `lightning-background-processor` 0.2.3, then persist the LiquidityManager;
//! 5. wait for the event worker to leave the user's handler, up to the shutdown timeout;
//! 6. if the worker left and that changed the ChannelManager, write it again.
//!
//! After a ChannelManager write failed for good the core does none of this: it stops at
//! once, because a further write would only fail again after more work.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::persist::WriteOutcome;
use super::{Core, Step};
use crate::error::Error;

/// Stage of a core's life.
pub(super) enum Phase {
    Running,
    Stopping {
        step: StopStep,
        /// The error that started the stop, returned once the stop completes.
        cause: Option<Error>,
    },
    Finished(Option<Result<(), Error>>),
}

/// A step of the stop sequence, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StopStep {
    /// Write the ChannelManager, always, with retries.
    FinalManagerWrite,
    /// Write the scorer and the network graph, once each, and persist the LiquidityManager.
    FinalOtherWrites,
    /// Wait for the event worker to leave the user's handler.
    AwaitWorker { deadline: Instant },
    /// Write the ChannelManager again if the worker changed it on its way out.
    Rewrite,
}

impl Core {
    /// Starts the stop sequence, or ends at once after a failed ChannelManager write.
    pub(super) fn begin_stop(&mut self, cause: Option<Error>, _now: Instant) {
        if !matches!(self.phase, super::Phase::Running) {
            return;
        }
        if matches!(cause, Some(Error::Persist { .. })) {
            self.finish(Err(cause.expect("matched Some above")));
            return;
        }
        lightning::log_info!(self.logger, "Stopping the background processor");
        self.ledger.close();
        self.stop_worker();
        self.components.peer_manager.disconnect_all_peers();
        self.phase = Phase::Stopping {
            step: StopStep::FinalManagerWrite,
            cause,
        };
    }

    /// Returns the step that follows a turn in the current phase.
    pub(super) fn after_turn(&mut self, now: Instant) -> Step {
        loop {
            match &mut self.phase {
                Phase::Running => return Step::Wait(self.next_deadline(now)),
                Phase::Finished(result) => return Step::Finished(result.take().unwrap_or(Ok(()))),
                Phase::Stopping { step, .. } => {
                    let step = *step;
                    if let Some(wait_until) = self.stop_step(step, now) {
                        return Step::Wait(wait_until);
                    }
                }
            }
        }
    }

    /// Runs one stop step; returns an instant to wait for, or `None` to go on at once.
    fn stop_step(&mut self, step: StopStep, now: Instant) -> Option<Instant> {
        if let Some(retry_at) = self.manager_retry.retry_at().filter(|at| now < *at) {
            return Some(retry_at);
        }
        if self.manager_write_in_flight() {
            return Some(self.in_flight_wait(now));
        }
        match step {
            StopStep::FinalManagerWrite => {
                let generation = self.ledger.claim_forced(&*self.components.channel_manager);
                let outcome = self.write_manager(generation, now);
                self.follow_stop_write(outcome, now, Some(StopStep::FinalOtherWrites))
            }
            StopStep::FinalOtherWrites => {
                self.final_other_writes(now);
                None
            }
            StopStep::AwaitWorker { deadline } => self.await_worker(deadline, now),
            StopStep::Rewrite => {
                let outcome = match self.ledger.claim(&*self.components.channel_manager) {
                    Some(generation) => self.write_manager(generation, now),
                    None => Ok(WriteOutcome::Written),
                };
                self.follow_stop_write(outcome, now, None)
            }
        }
    }

    /// Moves on after a ChannelManager write of the stop sequence: to `next` once it is
    /// written, or to the end of the stop when `next` is `None`. Returns an instant to wait
    /// for while the write is retried or in flight.
    fn follow_stop_write(
        &mut self,
        outcome: Result<WriteOutcome, Error>,
        now: Instant,
        next: Option<StopStep>,
    ) -> Option<Instant> {
        match outcome {
            Ok(WriteOutcome::Written) => {
                match next {
                    Some(step) => self.set_stop_step(step),
                    None => self.end_stop(Ok(())),
                }
                None
            }
            Ok(WriteOutcome::RetryAt(at)) => Some(at),
            // `complete_write` records the result, and the next turn goes on from there.
            Ok(WriteOutcome::Started) => Some(self.in_flight_wait(now)),
            Err(error) => {
                self.end_stop(Err(error));
                None
            }
        }
    }

    /// Writes the scorer and the network graph and persists the LiquidityManager, then
    /// starts the wait for the event worker.
    fn final_other_writes(&mut self, now: Instant) {
        self.persist_scorer(now);
        if self.graph_is_writable() {
            self.persist_graph();
        }
        self.persist_liquidity();
        let deadline = now + self.config.shutdown_timeout;
        self.set_stop_step(StopStep::AwaitWorker { deadline });
    }

    /// Goes on once the event worker left the user's handler, or ends the stop with
    /// [`Error::ShutdownTimeout`] at `deadline`; returns the instant to wait for meanwhile.
    fn await_worker(&mut self, deadline: Instant, now: Instant) -> Option<Instant> {
        if self.worker_is_done() {
            self.set_stop_step(StopStep::Rewrite);
            return None;
        }
        if now < deadline {
            return Some(deadline);
        }
        lightning::log_error!(
            self.logger,
            "Event handler still running {:?} after stop; the unfinished event will be handed out again on the next start",
            self.config.shutdown_timeout
        );
        let waited = self.config.shutdown_timeout;
        self.end_stop(Err(Error::ShutdownTimeout { waited }));
        None
    }

    pub(super) fn set_stop_step(&mut self, next: StopStep) {
        if let Phase::Stopping { step, .. } = &mut self.phase {
            *step = next;
        }
    }

    /// Ends the stop sequence; the error that started the stop takes precedence.
    pub(super) fn end_stop(&mut self, result: Result<(), Error>) {
        let cause = match &mut self.phase {
            Phase::Stopping { cause, .. } => cause.take(),
            _ => None,
        };
        let result = match (cause, result) {
            (Some(cause), Err(later)) => {
                lightning::log_error!(self.logger, "Error during stop: {}", later);
                Err(cause)
            }
            (Some(cause), Ok(())) => Err(cause),
            (None, result) => result,
        };
        self.finish(result);
    }

    fn finish(&mut self, result: Result<(), Error>) {
        self.ledger.close();
        self.stop_worker();
        match &result {
            Ok(()) => lightning::log_info!(self.logger, "Background processor stopped"),
            Err(error) => {
                lightning::log_error!(self.logger, "Background processor stopped: {}", error)
            }
        }
        self.phase = Phase::Finished(Some(result));
    }

    fn stop_worker(&self) {
        if let Some(link) = &self.worker {
            link.stop.store(true, Ordering::Release);
            link.signal.raise();
        }
    }

    fn worker_is_done(&self) -> bool {
        self.worker
            .as_ref()
            .is_none_or(|link| link.done.load(Ordering::Acquire))
    }
}

impl Drop for Core {
    /// Releases an event worker waiting in the gate, even when the core is dropped by a
    /// panic, so that it cannot wait forever for a write that will not come.
    fn drop(&mut self) {
        self.ledger.close();
        self.stop_worker();
    }
}
