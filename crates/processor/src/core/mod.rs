//! The processor's logic, as a value that owns no thread and never sleeps.
//!
//! [`Core::turn`] does one turn of work at a given instant and returns when it wants the
//! next one. A runner waits until then, or until the [`Signal`] from [`Core::signal`] is
//! raised, and calls it again. The steps of a running turn, in order:
//!
//! 1. re-register wake callbacks on the components whose LDK future completed;
//! 2. write the ChannelManager if a write is owed (before anything slow, such as a prune);
//! 3. hand out pending events, when the core dispatches inline (no event worker);
//! 4. write the LiquidityManager if its future fired;
//! 5. `PeerManager::process_events`, then the ChannelManager write again if that changed it;
//! 6. the due periodic jobs, the HTLC forwards, then a coalesced scorer write.
//!
//! See `docs/ARCHITECTURE.md` for the ordering of events against writes, and `shutdown.rs`
//! for the stop sequence.

#[cfg(feature = "tokio")]
mod async_gate;
mod deferred;
mod events;
mod jobs;
mod ledger;
mod persist;
mod shutdown;
mod wake;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::util::logger::Logger;
use lightning::util::persist::KVStoreSync;
use vigil_events::ChangeFlag;
use vigil_persistence::Persister;
use vigil_scheduler::{Clock, DelaySource, Schedule, Signal};

use crate::components::{
    ChainMonitorDriver, ChannelManagerDriver, GossipDriver, LiquidityDriver, OnionMessengerDriver,
    PeerManagerDriver, ScorerDriver, SweeperDriver,
};
use crate::config::Config;
use crate::error::Error;
use crate::stats::{Stats, StatsRecorder};

#[cfg(feature = "tokio")]
pub(crate) use async_gate::AsyncGate;
#[cfg(feature = "tokio")]
pub(crate) use deferred::{StartedWrite, WriteTicket};
pub(crate) use events::{EventPump, EventSink};
use jobs::Job;
use ledger::{GateMode, ManagerLedger};
use persist::ManagerRetry;
use shutdown::Phase;
use wake::{WakeKind, WakeSources};

/// The components a core drives; the first three are required.
#[derive(Clone)]
pub(crate) struct Components {
    pub(crate) channel_manager: Arc<dyn ChannelManagerDriver>,
    pub(crate) chain_monitor: Arc<dyn ChainMonitorDriver>,
    pub(crate) peer_manager: Arc<dyn PeerManagerDriver>,
    pub(crate) onion_messenger: Option<Arc<dyn OnionMessengerDriver>>,
    pub(crate) gossip: Option<Arc<dyn GossipDriver>>,
    pub(crate) scorer: Option<Arc<dyn ScorerDriver>>,
    pub(crate) sweeper: Option<Arc<dyn SweeperDriver>>,
    pub(crate) liquidity: Option<Arc<dyn LiquidityDriver>>,
}

/// Everything a core is built from.
pub(crate) struct CoreParts {
    pub(crate) components: Components,
    pub(crate) store: Arc<dyn KVStoreSync + Send + Sync>,
    pub(crate) sink: Arc<dyn EventSink>,
    /// Set by the scorer observer when an event changed the scorer.
    pub(crate) scorer_changes: Option<ChangeFlag>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) logger: Arc<dyn Logger + Send + Sync>,
    pub(crate) config: Config,
    pub(crate) delays: Box<dyn DelaySource>,
}

/// The thread on which events are handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dispatch {
    /// Inside [`Core::turn`], on the caller's thread.
    Inline,
    /// On an event worker thread, which runs the core's event pump.
    Worker,
}

/// The runner's next action after a turn.
#[derive(Debug)]
#[must_use]
pub enum Step {
    /// Wait until this instant, or until the core's signal is raised, then turn again.
    Wait(Instant),
    /// The processor ended with this result; later turns do nothing.
    Finished(Result<(), Error>),
}

/// The shared state between a core and its event worker.
pub(crate) struct WorkerLink {
    /// Raised when events may be pending or the worker must stop.
    pub(crate) signal: Signal,
    pub(crate) stop: AtomicBool,
    pub(crate) done: AtomicBool,
    /// The message of a panic that ended the worker, recorded before `done` is set.
    panic: parking_lot::Mutex<Option<String>>,
}

impl WorkerLink {
    fn new() -> Self {
        Self {
            signal: Signal::new(),
            stop: AtomicBool::new(false),
            done: AtomicBool::new(false),
            panic: parking_lot::Mutex::new(None),
        }
    }

    /// Records the message of a panic that ended the worker outside the user's handler.
    pub(crate) fn record_panic(&self, message: String) {
        self.panic.lock().get_or_insert(message);
    }
}

/// One processor's state and logic, driven one turn at a time.
///
/// A `Core` owns no thread, never sleeps and never reads the monotonic clock: the caller
/// passes the current instant to [`turn`](Self::turn). It reads the clock's wall time, for
/// pruning and scorer decay, only through [`Clock::since_epoch`].
pub struct Core {
    components: Components,
    config: Config,
    clock: Arc<dyn Clock>,
    logger: Arc<dyn Logger + Send + Sync>,
    persister: Persister<Arc<dyn KVStoreSync + Send + Sync>>,
    schedule: Schedule<Job>,
    signal: Signal,
    wakes: WakeSources,
    ledger: Arc<ManagerLedger>,
    pump: Arc<EventPump>,
    dispatch: Dispatch,
    worker: Option<Arc<WorkerLink>>,
    stop_requested: Arc<AtomicBool>,
    manager_retry: ManagerRetry,
    delays: Box<dyn DelaySource>,
    next_forward: Instant,
    scorer_changes: Option<ChangeFlag>,
    last_scorer_write: Option<Instant>,
    /// Set after a failed LiquidityManager persist, which the next periodic job retries.
    liquidity_retry: bool,
    started: bool,
    phase: Phase,
    stats: Arc<StatsRecorder>,
    /// Set for an async runner: writes go to its async store and complete later.
    deferred: Option<deferred::DeferredWrites>,
}

impl Core {
    /// Builds a core whose schedule starts at `start`.
    pub(crate) fn new(parts: CoreParts, dispatch: Dispatch, start: Instant) -> Result<Self, Error> {
        parts.config.validate()?;
        let stats = Arc::new(StatsRecorder::default());
        let signal = Signal::new();
        let worker = (dispatch == Dispatch::Worker).then(|| Arc::new(WorkerLink::new()));

        // A previous processor may have taken LDK's flag and failed before writing, so the
        // first turn always writes the ChannelManager.
        let ledger = Arc::new(ManagerLedger::new(
            true,
            Arc::clone(&parts.clock),
            Arc::clone(&stats),
        ));
        let gate = match dispatch {
            Dispatch::Inline => GateMode::Reject,
            Dispatch::Worker => GateMode::Wait(signal.clone()),
        };
        let components = parts.components;
        let pump = Arc::new(EventPump::for_components(
            &components,
            parts.sink,
            Arc::clone(&ledger),
            gate,
            Arc::clone(&stats),
        ));

        let mut wake_signals = vec![signal.clone()];
        wake_signals.extend(worker.as_ref().map(|link| link.signal.clone()));
        let wakes = wake_sources(&components, wake_signals, Arc::clone(&stats));
        let schedule = jobs::build_schedule(&parts.config, &components, start)?;
        let mut delays = parts.delays;
        let next_forward = start + delays.next_delay();

        Ok(Self {
            persister: Persister::new(parts.store, parts.config.retry_policy.clone()),
            components,
            config: parts.config,
            clock: parts.clock,
            logger: parts.logger,
            schedule,
            signal,
            wakes,
            ledger,
            pump,
            dispatch,
            worker,
            stop_requested: Arc::new(AtomicBool::new(false)),
            manager_retry: ManagerRetry::default(),
            delays,
            next_forward,
            scorer_changes: parts.scorer_changes,
            last_scorer_write: None,
            liquidity_retry: false,
            started: false,
            phase: Phase::Running,
            stats,
            deferred: None,
        })
    }

    /// Returns the signal that ends a runner's wait early; wake callbacks raise it.
    pub fn signal(&self) -> Signal {
        self.signal.clone()
    }

    /// Returns a snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// Requests a stop: the next turn starts the stop sequence, and the signal is raised so
    /// that a waiting runner turns at once.
    pub fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::Release);
        self.signal.raise();
    }

    pub(crate) fn stop_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop_requested)
    }

    pub(crate) fn stats_recorder(&self) -> Arc<StatsRecorder> {
        Arc::clone(&self.stats)
    }

    pub(crate) fn worker_link(&self) -> Option<Arc<WorkerLink>> {
        self.worker.clone()
    }

    pub(crate) fn pump(&self) -> Arc<EventPump> {
        Arc::clone(&self.pump)
    }

    /// Does one turn of work at `now` and returns what the runner does next.
    ///
    /// `now` must not go backwards between calls.
    pub fn turn(&mut self, now: Instant) -> Step {
        if matches!(self.phase, Phase::Running) {
            self.stats.turn();
            if let Err(error) = self.running_turn(now) {
                self.begin_stop(Some(error), now);
            }
        }
        self.after_turn(now)
    }

    /// Records the return of a wait for `deadline` at `now`, and handles a suspend.
    ///
    /// Pass as `deadline` the later of the turn's deadline and the instant the wait began:
    /// a turn that itself ran past its deadline is slow, not suspended.
    ///
    /// A wait that returns later than its deadline by more than the suspend threshold means
    /// the process was suspended (a laptop lid, a phone in the background, a debugger).
    /// Peer connections are then likely dead without either side knowing, so every peer is
    /// disconnected and the ping timer restarts from `now`.
    pub fn record_wait(&mut self, deadline: Instant, now: Instant) {
        self.stats.wakeup();
        let Some(threshold) = self.config.suspend_threshold else {
            return;
        };
        let overrun = now.saturating_duration_since(deadline);
        if overrun <= threshold || !matches!(self.phase, Phase::Running) {
            return;
        }
        lightning::log_info!(
            self.logger,
            "Wait overran its deadline by {:?}, assuming the process was suspended; disconnecting all peers",
            overrun
        );
        self.stats.suspended();
        self.components.peer_manager.disconnect_all_peers();
        self.schedule.reset(Job::PeerTick, now);
    }

    fn running_turn(&mut self, now: Instant) -> Result<(), Error> {
        if self.stop_requested.load(Ordering::Acquire) {
            self.begin_stop(None, now);
            return Ok(());
        }
        self.wakes.rearm();
        if !self.started {
            self.start_duties(now);
        }

        self.persist_manager_if_owed(now)?;
        if self.dispatch == Dispatch::Inline {
            self.dispatch_inline(now)?;
        }
        self.check_dispatch_failure()?;
        self.check_worker()?;
        if self.wakes.take_fired(WakeKind::Liquidity) {
            self.persist_liquidity();
        }

        self.components.peer_manager.process_events();
        self.persist_manager_if_owed(now)?;

        self.run_due_jobs(now);
        self.process_forwards(now);
        self.persist_scorer_changes(now);
        Ok(())
    }

    fn start_duties(&mut self, now: Instant) {
        self.started = true;
        lightning::log_info!(self.logger, "Background processor started");
        if self.components.scorer.is_some() {
            self.decay_scorer();
        }
        self.last_scorer_write = Some(now);
    }

    /// Hands out events on this thread, writing between rounds when the gate asked for it.
    fn dispatch_inline(&mut self, now: Instant) -> Result<(), Error> {
        // Each round ends at the first event that found a write owed; the write is then made
        // and the next round resumes at that event. Every round hands out at least that
        // event, so a few rounds suffice in one turn; what is left waits for the next turn.
        const MAX_ROUNDS: usize = 8;
        for _ in 0..MAX_ROUNDS {
            let round = self.pump.dispatch_all();
            if !round.gate_rejected || self.pump.failure().is_some() {
                break;
            }
            self.persist_manager_if_owed(now)?;
            if self.ledger.is_owed() {
                break;
            }
        }
        Ok(())
    }

    fn check_dispatch_failure(&self) -> Result<(), Error> {
        let Some(failure) = self.pump.failure() else {
            return Ok(());
        };
        let message = match &failure {
            vigil_events::DispatchError::ObserverPanicked {
                position, message, ..
            } => format!("observer {position} panicked: {message}"),
            other => format!("handler panicked: {}", other.message()),
        };
        Err(Error::HandlerPanicked {
            event_kind: failure.event_kind(),
            message,
        })
    }

    /// Returns an error when the event worker ended although no stop was requested, so
    /// that no event would be handed out any more.
    fn check_worker(&self) -> Result<(), Error> {
        let Some(link) = &self.worker else {
            return Ok(());
        };
        if !link.done.load(Ordering::Acquire) || link.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let cause = link.panic.lock().clone();
        let message = match cause {
            Some(message) => format!("event worker panicked: {message}"),
            None => "event worker ended before a stop was requested".to_owned(),
        };
        Err(Error::ProcessorPanicked { message })
    }

    fn process_forwards(&mut self, now: Instant) {
        let manager = &self.components.channel_manager;
        if now >= self.next_forward && manager.needs_pending_htlc_processing() {
            lightning::log_trace!(self.logger, "Processing pending HTLC forwards");
            manager.process_pending_htlc_forwards();
            self.next_forward = now + self.delays.next_delay();
        }
    }

    /// Returns the earliest instant at which the running core has work.
    fn next_deadline(&self, now: Instant) -> Instant {
        let mut deadline = self
            .schedule
            .next_deadline()
            .unwrap_or(now + Duration::from_secs(3600));
        if let Some(retry_at) = self.manager_retry.retry_at() {
            deadline = deadline.min(retry_at);
        }
        if self
            .components
            .channel_manager
            .needs_pending_htlc_processing()
        {
            deadline = deadline.min(self.next_forward);
        }
        if let Some(scorer_at) = self.scorer_write_deadline() {
            deadline = deadline.min(scorer_at);
        }
        deadline.max(now)
    }
}

fn wake_sources(
    components: &Components,
    signals: Vec<Signal>,
    stats: Arc<StatsRecorder>,
) -> WakeSources {
    let mut wakes = WakeSources::new(signals, stats);
    let manager = Arc::clone(&components.channel_manager);
    wakes.add(
        WakeKind::ChannelManager,
        Box::new(move |callback| manager.register_wake(callback)),
    );
    let monitor = Arc::clone(&components.chain_monitor);
    wakes.add(
        WakeKind::ChainMonitor,
        Box::new(move |callback| monitor.register_wake(callback)),
    );
    if let Some(messenger) = components.onion_messenger.clone() {
        wakes.add(
            WakeKind::OnionMessenger,
            Box::new(move |callback| messenger.register_wake(callback)),
        );
    }
    if let Some(liquidity) = components.liquidity.clone() {
        wakes.add(
            WakeKind::Liquidity,
            Box::new(move |callback| liquidity.register_wake(callback)),
        );
    }
    wakes
}
