//! The periodic jobs and what each one does.
//!
//! Every job is a [`Schedule`] entry with a first delay and an interval from [`Config`]. An
//! overdue job fires once, however many intervals a long wait skipped:
//!
//! ```text
//! ping interval 10 s, the process sleeps from 5 s to 37 s
//! due:    10   20   30   40   50
//! runs:               37     47   57
//! ```

use std::time::{Duration, Instant};

use vigil_scheduler::Schedule;

use super::{Components, Core};
use crate::config::Config;
use crate::error::Error;

/// A periodic duty of the processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Job {
    /// `ChannelManager::timer_tick_occurred`, at start and every minute.
    ChannelManagerTick,
    /// `PeerManager::timer_tick_occurred`, the ping timer.
    PeerTick,
    /// The OnionMessenger's `timer_tick_occurred`.
    OnionMessageTick,
    /// `ChainMonitor::rebroadcast_pending_claims`, at start and every 30 s.
    Rebroadcast,
    /// `ChainMonitor::archive_fully_resolved_channel_monitors`.
    Archive,
    /// Network-graph prune and write.
    Prune,
    /// Checks whether rapid gossip sync finished its first sync, until it has.
    InitialSyncCheck,
    /// Scorer decay and write.
    ScorerPersist,
    /// The OutputSweeper's `regenerate_and_broadcast_spend_if_necessary`.
    Sweep,
}

/// Builds the schedule of the jobs that apply to `components`, starting at `start`.
pub(super) fn build_schedule(
    config: &Config,
    components: &Components,
    start: Instant,
) -> Result<Schedule<Job>, Error> {
    let mut jobs: Vec<(Job, Duration, Duration)> = vec![
        (
            Job::ChannelManagerTick,
            Duration::ZERO,
            config.freshness_interval,
        ),
        (Job::PeerTick, config.ping_interval, config.ping_interval),
        (
            Job::Rebroadcast,
            Duration::ZERO,
            config.rebroadcast_interval,
        ),
        (
            Job::Archive,
            config.first_archive_delay,
            config.archive_interval,
        ),
    ];
    if components.onion_messenger.is_some() {
        let interval = config.onion_message_interval;
        jobs.push((Job::OnionMessageTick, interval, interval));
    }
    if let Some(gossip) = &components.gossip {
        if gossip.waits_for_initial_sync() {
            let interval = config.initial_sync_check_interval;
            jobs.push((Job::InitialSyncCheck, Duration::ZERO, interval));
        } else {
            jobs.push((Job::Prune, config.first_prune_delay, config.prune_interval));
        }
    }
    if components.scorer.is_some() {
        let interval = config.scorer_persist_interval;
        jobs.push((Job::ScorerPersist, interval, interval));
    }
    if components.sweeper.is_some() {
        let interval = config.sweeper_interval;
        jobs.push((Job::Sweep, interval, interval));
    }

    let mut schedule = Schedule::new();
    for (job, first_delay, interval) in jobs {
        schedule
            .add(job, start, first_delay, interval)
            .map_err(|_| crate::config::ConfigError::ZeroInterval {
                field: job.interval_field(),
            })?;
    }
    Ok(schedule)
}

impl Job {
    /// Returns the name of the config field that sets this job's interval.
    fn interval_field(self) -> &'static str {
        match self {
            Job::ChannelManagerTick => "freshness_interval",
            Job::PeerTick => "ping_interval",
            Job::OnionMessageTick => "onion_message_interval",
            Job::Rebroadcast => "rebroadcast_interval",
            Job::Archive => "archive_interval",
            Job::Prune => "prune_interval",
            Job::InitialSyncCheck => "initial_sync_check_interval",
            Job::ScorerPersist => "scorer_persist_interval",
            Job::Sweep => "sweeper_interval",
        }
    }
}

impl Core {
    /// Runs every job due at `now`, each once, then retries a failed LiquidityManager
    /// persist if a job ran.
    pub(super) fn run_due_jobs(&mut self, now: Instant) {
        let due = self.schedule.due(now);
        if due.is_empty() {
            return;
        }
        for job in due {
            self.run_job(job, now);
        }
        if std::mem::take(&mut self.liquidity_retry) {
            self.persist_liquidity();
        }
    }

    fn run_job(&mut self, job: Job, now: Instant) {
        let components = &self.components;
        lightning::log_trace!(self.logger, "Running job {:?}", job);
        match job {
            Job::ChannelManagerTick => components.channel_manager.timer_tick_occurred(),
            Job::PeerTick => components.peer_manager.timer_tick_occurred(),
            Job::OnionMessageTick => {
                if let Some(messenger) = &components.onion_messenger {
                    messenger.timer_tick_occurred();
                }
            }
            Job::Rebroadcast => components.chain_monitor.rebroadcast_pending_claims(),
            Job::Archive => components
                .chain_monitor
                .archive_fully_resolved_channel_monitors(),
            Job::Prune => self.prune_and_persist_graph(),
            Job::InitialSyncCheck => self.check_initial_sync(now),
            Job::ScorerPersist => {
                self.decay_scorer();
                self.persist_scorer(now);
            }
            Job::Sweep => {
                if let Some(sweeper) = &components.sweeper {
                    if sweeper
                        .regenerate_and_broadcast_spend_if_necessary()
                        .is_err()
                    {
                        lightning::log_warn!(self.logger, "OutputSweeper failed to regenerate its spend; it retries on its next run");
                    }
                }
            }
        }
    }

    /// Prunes the graph to the clock's wall time, or warns when there is none, then writes it.
    fn prune_and_persist_graph(&self) {
        let Some(gossip) = &self.components.gossip else {
            return;
        };
        match self.clock.since_epoch() {
            Some(since_epoch) => {
                lightning::log_trace!(self.logger, "Pruning the network graph");
                gossip.remove_stale_channels_and_tracking_with_time(since_epoch.as_secs());
            }
            None => lightning::log_warn!(
                self.logger,
                "No wall-clock time available, skipping network graph prune (check the system clock)"
            ),
        }
        self.persist_graph();
    }

    /// Once rapid gossip sync completed its first sync, prunes at once and then hourly.
    fn check_initial_sync(&mut self, now: Instant) {
        let Some(gossip) = &self.components.gossip else {
            return;
        };
        if !gossip.is_initial_sync_complete() {
            return;
        }
        lightning::log_trace!(self.logger, "Rapid gossip sync completed its first sync");
        self.schedule.remove(Job::InitialSyncCheck);
        self.prune_and_persist_graph();
        let interval = self.config.prune_interval;
        // The interval was validated with the config, and the job was just removed.
        let added = self.schedule.add(Job::Prune, now, interval, interval);
        debug_assert!(added.is_ok(), "prune job could not be added: {added:?}");
    }

    /// Returns whether the graph may be written: not before rapid sync's first sync.
    pub(super) fn graph_is_writable(&self) -> bool {
        self.components.gossip.as_ref().is_some_and(|gossip| {
            !gossip.waits_for_initial_sync() || gossip.is_initial_sync_complete()
        })
    }
}
