//! Writes of the ChannelManager (with retries), the network graph and the scorer.

use std::io;
use std::time::Instant;

use lightning::util::ser::{Writeable, Writer};
use vigil_persistence::PersistError;

use super::Core;
use crate::error::Error;

pub(super) const MANAGER_KEY: &str = "manager";
pub(super) const GRAPH_KEY: &str = "network_graph";
pub(super) const SCORER_KEY: &str = "scorer";

/// Bytes already encoded by a component, written as they are.
pub(super) struct Encoded<'a>(pub(super) &'a [u8]);

impl Writeable for Encoded<'_> {
    fn write<W: Writer>(&self, writer: &mut W) -> Result<(), lightning::io::Error> {
        writer.write_all(self.0)
    }

    fn serialized_length(&self) -> usize {
        self.0.len()
    }
}

/// The retry state of the ChannelManager write.
#[derive(Debug, Default)]
pub(super) struct ManagerRetry {
    /// Failed attempts since the last success.
    failed_attempts: u32,
    /// When the next attempt may run, while a retry is pending.
    retry_at: Option<Instant>,
}

impl ManagerRetry {
    pub(super) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }
}

/// Outcome of a ChannelManager write attempt.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum WriteOutcome {
    Written,
    /// Handed to the async store; the result arrives through
    /// [`Core::complete_write`](super::Core::complete_write).
    Started,
    /// Failed; the next attempt is due at `retry_at` or later.
    RetryAt(Instant),
}

impl Core {
    /// Writes the ChannelManager if a write is owed and no retry backoff is running.
    ///
    /// # Errors
    ///
    /// Returns [`Error::Persist`] when the retry policy allows no further attempt.
    pub(super) fn persist_manager_if_owed(&mut self, now: Instant) -> Result<(), Error> {
        if self.manager_retry.retry_at.is_some_and(|at| now < at) || self.manager_write_in_flight()
        {
            return Ok(());
        }
        match self.ledger.claim(&*self.components.channel_manager) {
            Some(generation) => self.write_manager(generation, now).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Encodes and writes the ChannelManager once, completing `generation` on success.
    ///
    /// The encoding happens after the generation was recorded, so it contains every change
    /// that set LDK's flag up to that moment.
    pub(super) fn write_manager(
        &mut self,
        generation: u64,
        now: Instant,
    ) -> Result<WriteOutcome, Error> {
        let bytes = self.components.channel_manager.encode();
        if self.deferred.is_some() {
            self.start_deferred(MANAGER_KEY, Some(generation), bytes);
            return Ok(WriteOutcome::Started);
        }
        let result = self.persister.persist_manager(&Encoded(&bytes));
        self.record_manager_write(generation, bytes.len(), result, now)
    }

    /// Records the result of a ChannelManager write that completes `generation`: on success
    /// the gate opens, on failure a retry is scheduled or the error is final.
    ///
    /// # Errors
    ///
    /// Returns [`Error::Persist`] when the retry policy allows no further attempt.
    pub(super) fn record_manager_write(
        &mut self,
        generation: u64,
        len: usize,
        result: Result<(), PersistError>,
        now: Instant,
    ) -> Result<WriteOutcome, Error> {
        let error = match result {
            Ok(()) => {
                let done_at = self.clock.now().max(now);
                self.ledger.complete(generation);
                self.manager_retry = ManagerRetry::default();
                self.stats.write_succeeded(MANAGER_KEY, done_at);
                lightning::log_trace!(self.logger, "Wrote the ChannelManager ({} bytes)", len);
                return Ok(WriteOutcome::Written);
            }
            Err(error) => error,
        };

        self.stats.write_failed(MANAGER_KEY);
        self.manager_retry.failed_attempts += 1;
        let attempts = self.manager_retry.failed_attempts;
        let policy = self.persister.retry_policy();
        match policy.delay_before_attempt(attempts + 1) {
            Some(delay) => {
                let retry_at = now + delay;
                self.manager_retry.retry_at = Some(retry_at);
                lightning::log_warn!(
                    self.logger,
                    "Failed to write key {} (attempt {} of {}), retrying in {:?}: {}",
                    MANAGER_KEY,
                    attempts,
                    policy.max_attempts(),
                    delay,
                    error
                );
                Ok(WriteOutcome::RetryAt(retry_at))
            }
            None => {
                lightning::log_error!(
                    self.logger,
                    "Failed to write key {} after {} attempts, stopping: {}",
                    MANAGER_KEY,
                    attempts,
                    error
                );
                let (key, source) = split_persist_error(error);
                Err(Error::Persist {
                    key,
                    attempts,
                    source,
                })
            }
        }
    }

    /// Writes the network graph; a failure is logged and left for the next prune.
    pub(super) fn persist_graph(&self) {
        let Some(gossip) = &self.components.gossip else {
            return;
        };
        let bytes = gossip.encode_graph();
        if self.deferred.is_some() {
            self.start_deferred(GRAPH_KEY, None, bytes);
            return;
        }
        let result = self.persister.persist_graph(&Encoded(&bytes));
        self.record_write(GRAPH_KEY, bytes.len(), result, self.clock.now());
    }

    /// Records the result of a network graph or scorer write, finished at `at`.
    pub(super) fn record_write(
        &self,
        key: &'static str,
        len: usize,
        result: Result<(), PersistError>,
        at: Instant,
    ) {
        match result {
            Ok(()) => {
                self.stats.write_succeeded(key, at);
                lightning::log_trace!(self.logger, "Wrote key {} ({} bytes)", key, len);
            }
            Err(error) => {
                self.stats.write_failed(key);
                lightning::log_error!(self.logger, "Failed to write key {}: {}", key, error);
            }
        }
    }

    /// Writes the scorer; a failure is logged and left for the next scorer write.
    pub(super) fn persist_scorer(&mut self, now: Instant) {
        let Some(scorer) = &self.components.scorer else {
            return;
        };
        if let Some(changes) = &self.scorer_changes {
            changes.take();
        }
        self.last_scorer_write = Some(now);
        let bytes = scorer.encode_scorer();
        if self.deferred.is_some() {
            self.start_deferred(SCORER_KEY, None, bytes);
            return;
        }
        let result = self.persister.persist_scorer(&Encoded(&bytes));
        self.record_write(SCORER_KEY, bytes.len(), result, self.clock.now().max(now));
    }

    /// Writes the scorer if events changed it and the coalescing interval has passed.
    pub(super) fn persist_scorer_changes(&mut self, now: Instant) {
        if self.scorer_write_deadline().is_some_and(|at| now >= at) {
            self.persist_scorer(now);
        }
    }

    /// Returns when the next coalesced scorer write is due, if events changed the scorer.
    pub(super) fn scorer_write_deadline(&self) -> Option<Instant> {
        let changes = self.scorer_changes.as_ref()?;
        if self.components.scorer.is_none() || !changes.is_set() {
            return None;
        }
        let interval = self.config.scorer_coalesce_interval;
        Some(match self.last_scorer_write {
            Some(last) => last + interval,
            None => self.clock.now(),
        })
    }

    /// Decays the scorer to the clock's wall time, or warns when there is none.
    pub(super) fn decay_scorer(&self) {
        let Some(scorer) = &self.components.scorer else {
            return;
        };
        match self.clock.since_epoch() {
            Some(since_epoch) => {
                lightning::log_trace!(self.logger, "Decaying the scorer");
                scorer.time_passed(since_epoch);
            }
            None => lightning::log_warn!(
                self.logger,
                "No wall-clock time available, skipping scorer decay (check the system clock)"
            ),
        }
    }

    /// Lets the LiquidityManager write its state. A failure is logged and retried with the
    /// next periodic job, or on its next signal if that comes first.
    pub(super) fn persist_liquidity(&mut self) {
        let Some(liquidity) = &self.components.liquidity else {
            return;
        };
        if self.deferred.is_some() {
            self.request_liquidity_persist();
            return;
        }
        match liquidity.persist() {
            Ok(wrote) => {
                self.liquidity_retry = false;
                lightning::log_trace!(
                    self.logger,
                    "Persisted the LiquidityManager (wrote: {})",
                    wrote
                );
            }
            Err(error) => {
                lightning::log_error!(
                    self.logger,
                    "Failed to persist the LiquidityManager, retrying with the next periodic job: {}",
                    error
                );
                self.liquidity_retry = true;
            }
        }
    }

    /// Records that a LiquidityManager persist failed, so that the next periodic job
    /// retries it.
    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "used only by the async runner")
    )]
    pub(crate) fn retry_liquidity_later(&mut self) {
        self.liquidity_retry = true;
    }
}

/// Returns the key and the `io::Error` of a persist error.
fn split_persist_error(error: PersistError) -> (String, io::Error) {
    match error {
        PersistError::Write { key, source } => (key, source),
        other => (
            other.key().to_owned(),
            io::Error::new(other.kind(), other.to_string()),
        ),
    }
}
