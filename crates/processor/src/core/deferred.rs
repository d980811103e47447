//! Writes through an async store, for the async runner.
//!
//! In this mode a write encodes the value, issues the store's write and returns at once. The
//! store fixes the order of writes to one key when a write is issued. The runner polls the
//! started writes together with its other wake sources and hands each result back through
//! [`Core::complete_write`], which does what the blocking path does right after its write:
//! open the event gate, schedule a retry, or stop with the final error.
//!
//! At most one ChannelManager write is in flight. A write owed meanwhile stays recorded in
//! the ledger and starts on the first turn after the one in flight completed, so a failed
//! attempt is retried with the same backoff as in the blocking path.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::util::persist::KVStore;
use parking_lot::Mutex;
use vigil_persistence::{AsyncPersister, PersistError};

use super::persist::{Encoded, WriteOutcome, GRAPH_KEY, MANAGER_KEY};
use super::shutdown::StopStep;
use super::{Core, Phase};

/// How long a stop step waits for an in-flight write at most before it looks again; the
/// write's completion wakes the runner sooner.
const IN_FLIGHT_WAIT: Duration = Duration::from_secs(3600);

/// The store write of a started write, as LDK's async `KVStore` returns it.
pub(crate) type WriteFuture = Pin<Box<dyn Future<Output = Result<(), PersistError>> + Send>>;

/// The key, generation and size of a started write, handed back when it completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WriteTicket {
    pub(crate) key: &'static str,
    /// The ledger generation a ChannelManager write completes.
    generation: Option<u64>,
    len: usize,
    /// Whether the stop sequence started this write as its final ChannelManager write.
    final_write: bool,
}

/// A write issued to the async store, for the runner to poll.
#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "used only by the async runner")
)]
pub(crate) struct StartedWrite {
    pub(crate) ticket: WriteTicket,
    pub(crate) future: WriteFuture,
}

/// The async store and the writes issued since the runner last took them.
pub(super) struct DeferredWrites {
    persister: AsyncPersister<Arc<dyn KVStore + Send + Sync>>,
    started: Mutex<Vec<StartedWrite>>,
    manager_in_flight: AtomicBool,
    /// Set when the LiquidityManager's future fired, until the runner takes the request.
    liquidity_requested: AtomicBool,
}

#[cfg_attr(
    not(feature = "tokio"),
    allow(dead_code, reason = "used only by the async runner")
)]
impl Core {
    /// Sends every later write to `store` instead of the blocking store; the caller polls
    /// them from [`take_started_writes`](Self::take_started_writes).
    pub(crate) fn defer_writes(&mut self, store: Arc<dyn KVStore + Send + Sync>) {
        let retry_policy = self.config.retry_policy.clone();
        self.deferred = Some(DeferredWrites {
            persister: AsyncPersister::new(store, retry_policy),
            started: Mutex::new(Vec::new()),
            manager_in_flight: AtomicBool::new(false),
            liquidity_requested: AtomicBool::new(false),
        });
    }

    /// Returns the writes issued since the last call.
    pub(crate) fn take_started_writes(&self) -> Vec<StartedWrite> {
        match &self.deferred {
            Some(deferred) => std::mem::take(&mut *deferred.started.lock()),
            None => Vec::new(),
        }
    }

    /// Records the result of a started write that finished at `now`.
    ///
    /// A ChannelManager write that failed for good ends the processor, as it does in the
    /// blocking path; the next turn returns the error.
    pub(crate) fn complete_write(
        &mut self,
        ticket: WriteTicket,
        result: Result<(), PersistError>,
        now: Instant,
    ) {
        let Some(generation) = ticket.generation else {
            self.record_write(ticket.key, ticket.len, result, self.clock.now().max(now));
            return;
        };
        if let Some(deferred) = &self.deferred {
            deferred.manager_in_flight.store(false, Ordering::Release);
        }
        match self.record_manager_write(generation, ticket.len, result, now) {
            Ok(WriteOutcome::Written) if ticket.final_write => self.after_final_write(),
            Ok(_) => {}
            Err(error) => match self.phase {
                Phase::Running => self.begin_stop(Some(error), now),
                Phase::Stopping { .. } => self.end_stop(Err(error)),
                Phase::Finished(_) => {
                    lightning::log_error!(self.logger, "Write after stop failed: {}", error)
                }
            },
        }
    }

    /// Returns whether the LiquidityManager asked to persist since the last call, and clears
    /// the request; the runner persists it through its async form.
    pub(crate) fn take_liquidity_request(&self) -> bool {
        self.deferred
            .as_ref()
            .is_some_and(|deferred| deferred.liquidity_requested.swap(false, Ordering::AcqRel))
    }

    pub(super) fn request_liquidity_persist(&self) {
        if let Some(deferred) = &self.deferred {
            deferred.liquidity_requested.store(true, Ordering::Release);
        }
    }

    /// Returns whether the core is running, neither stopping nor finished.
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running)
    }

    /// Returns the configured suspend threshold, which caps the waits of a mobile runner.
    pub(crate) fn suspend_threshold(&self) -> Option<Duration> {
        self.config.suspend_threshold
    }

    /// Returns whether a ChannelManager write was issued and has not completed.
    pub(super) fn manager_write_in_flight(&self) -> bool {
        self.deferred
            .as_ref()
            .is_some_and(|deferred| deferred.manager_in_flight.load(Ordering::Acquire))
    }

    /// Returns the instant a stop step waits for while a write is in flight.
    pub(super) fn in_flight_wait(&self, now: Instant) -> Instant {
        now + IN_FLIGHT_WAIT
    }

    /// Issues a write of `bytes` under `key` to the async store; `generation` is set for a
    /// ChannelManager write.
    pub(super) fn start_deferred(
        &self,
        key: &'static str,
        generation: Option<u64>,
        bytes: Vec<u8>,
    ) {
        let final_write = generation.is_some() && self.is_at_stop_step(StopStep::FinalManagerWrite);
        let Some(deferred) = &self.deferred else {
            return;
        };
        let encoded = Encoded(&bytes);
        let future: WriteFuture = match key {
            MANAGER_KEY => Box::pin(deferred.persister.persist_manager(&encoded)),
            GRAPH_KEY => Box::pin(deferred.persister.persist_graph(&encoded)),
            _ => Box::pin(deferred.persister.persist_scorer(&encoded)),
        };
        if generation.is_some() {
            deferred.manager_in_flight.store(true, Ordering::Release);
        }
        let ticket = WriteTicket {
            key,
            generation,
            len: bytes.len(),
            final_write,
        };
        deferred
            .started
            .lock()
            .push(StartedWrite { ticket, future });
    }

    /// Moves the stop sequence on once its final ChannelManager write is stored. The next
    /// turn then makes the other final writes, as after a blocking write.
    fn after_final_write(&mut self) {
        if self.is_at_stop_step(StopStep::FinalManagerWrite) {
            self.set_stop_step(StopStep::FinalOtherWrites);
        }
    }

    fn is_at_stop_step(&self, at: StopStep) -> bool {
        matches!(self.phase, Phase::Stopping { step, .. } if step == at)
    }
}
