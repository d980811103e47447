//! The observer that feeds payment and probe outcomes to the scorer.

use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning::events::Event;
use lightning::routing::router::Path;
use lightning::routing::scoring::{LockableScore, ScoreUpdate};
use lightning::util::logger::Logger;
use lightning::{log_trace, log_warn};

use crate::change_flag::ChangeFlag;
use crate::kind::event_kind;
use crate::observer::Observer;

/// Function that returns the wall-clock time since the Unix epoch, or `None` when unknown.
type WallClock = Box<dyn Fn() -> Option<Duration> + Send + Sync>;

/// The scorer update that one event calls for, with the cases of `lightning-background-processor`
/// 0.2.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScoreOutcome<'a> {
    /// A payment path failed at the channel `short_channel_id`.
    PaymentPathFailed {
        /// The path that failed.
        path: &'a Path,
        /// The channel at which it failed.
        short_channel_id: u64,
    },
    /// A payment path reached the destination: it succeeded, or the destination rejected it
    /// permanently, which still shows there was enough liquidity along the path.
    ProbeSuccessful {
        /// The path that reached the destination.
        path: &'a Path,
    },
    /// A payment path succeeded.
    PaymentPathSuccessful {
        /// The path that succeeded.
        path: &'a Path,
    },
    /// A probe failed at the channel `short_channel_id`.
    ProbeFailed {
        /// The path that failed.
        path: &'a Path,
        /// The channel at which it failed.
        short_channel_id: u64,
    },
}

impl<'a> ScoreOutcome<'a> {
    /// Returns what `event` teaches the scorer, or `None` for an event the scorer ignores.
    ///
    /// A failed payment path that names no channel and was not rejected permanently by the
    /// destination teaches nothing, and neither does a failed probe that names no channel.
    pub fn from_event(event: &'a Event) -> Option<Self> {
        match event {
            Event::PaymentPathFailed {
                path,
                short_channel_id: Some(short_channel_id),
                ..
            } => Some(Self::PaymentPathFailed {
                path,
                short_channel_id: *short_channel_id,
            }),
            Event::PaymentPathFailed {
                path,
                payment_failed_permanently: true,
                ..
            } => Some(Self::ProbeSuccessful { path }),
            Event::PaymentPathSuccessful { path, .. } => Some(Self::PaymentPathSuccessful { path }),
            Event::ProbeSuccessful { path, .. } => Some(Self::ProbeSuccessful { path }),
            Event::ProbeFailed {
                path,
                short_channel_id: Some(short_channel_id),
                ..
            } => Some(Self::ProbeFailed {
                path,
                short_channel_id: *short_channel_id,
            }),
            _ => None,
        }
    }

    /// Applies the outcome to `scorer` as happening `since_epoch` after the Unix epoch.
    pub fn apply<S: ScoreUpdate + ?Sized>(&self, scorer: &mut S, since_epoch: Duration) {
        match *self {
            Self::PaymentPathFailed {
                path,
                short_channel_id,
            } => scorer.payment_path_failed(path, short_channel_id, since_epoch),
            Self::ProbeSuccessful { path } => scorer.probe_successful(path, since_epoch),
            Self::PaymentPathSuccessful { path } => {
                scorer.payment_path_successful(path, since_epoch)
            }
            Self::ProbeFailed {
                path,
                short_channel_id,
            } => scorer.probe_failed(path, short_channel_id, since_epoch),
        }
    }
}

/// An observer that feeds payment and probe outcomes to a scorer and marks it as changed.
///
/// For each event that [`ScoreOutcome::from_event`] maps to an outcome, the observer:
/// - reads the wall-clock time from the injected function, and skips the update with a log
///   record when that returns `None` (the scorer's time-based decay needs a real time);
/// - takes the scorer's write lock and applies the outcome;
/// - sets its [`ChangeFlag`], and never writes the scorer itself, so that the processor can
///   write once for many payments.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, RwLock};
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
///
/// use lightning::events::Event;
/// use lightning::routing::gossip::NetworkGraph;
/// use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringDecayParameters};
/// use lightning::util::logger::{Logger, Record};
/// use vigil_events::{Dispatcher, ScorerObserver};
///
/// struct Silent;
/// impl Logger for Silent {
///     fn log(&self, _record: Record) {}
/// }
///
/// let logger = Arc::new(Silent);
/// let graph = Arc::new(NetworkGraph::new(bitcoin::Network::Regtest, Arc::clone(&logger)));
/// let scorer = Arc::new(RwLock::new(ProbabilisticScorer::new(
///     ProbabilisticScoringDecayParameters::default(),
///     graph,
///     Arc::clone(&logger),
/// )));
/// let wall_clock = || SystemTime::now().duration_since(UNIX_EPOCH).ok();
///
/// let observer = ScorerObserver::new(Arc::clone(&scorer), wall_clock, logger);
/// let scorer_changed = observer.change_flag();
/// let dispatcher = Dispatcher::new(|_event: Event| Ok(())).observe(observer);
///
/// // After dispatching events, the processor writes the scorer if `scorer_changed.take()`.
/// assert!(!scorer_changed.take());
/// # let _ = dispatcher;
/// ```
pub struct ScorerObserver<S> {
    scorer: S,
    wall_clock: WallClock,
    logger: Arc<dyn Logger + Send + Sync>,
    changed: ChangeFlag,
    skipped: AtomicU64,
}

impl<S> ScorerObserver<S>
where
    S: Deref,
    S::Target: for<'b> LockableScore<'b>,
{
    /// Returns an observer that updates `scorer` at the time `wall_clock` returns.
    ///
    /// `wall_clock` returns the time since the Unix epoch, or `None` when it is unknown.
    pub fn new(
        scorer: S,
        wall_clock: impl Fn() -> Option<Duration> + Send + Sync + 'static,
        logger: Arc<dyn Logger + Send + Sync>,
    ) -> Self {
        Self {
            scorer,
            wall_clock: Box::new(wall_clock),
            logger,
            changed: ChangeFlag::new(),
            skipped: AtomicU64::new(0),
        }
    }

    /// Replaces the flag set after each update by `flag`, to share one the caller already has.
    pub fn with_change_flag(mut self, flag: ChangeFlag) -> Self {
        self.changed = flag;
        self
    }

    /// Returns a handle to the flag that the observer sets after each scorer update.
    pub fn change_flag(&self) -> ChangeFlag {
        self.changed.clone()
    }

    /// Returns how many updates were skipped because the wall-clock time was unknown.
    pub fn skipped_updates(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Returns the scorer handle.
    pub fn get_ref(&self) -> &S {
        &self.scorer
    }

    /// Logs a skipped update, at warn for the first one and at trace after that.
    fn record_skip(&self, kind: &'static str) {
        let skipped = self.skipped.fetch_add(1, Ordering::Relaxed) + 1;
        if skipped == 1 {
            log_warn!(
                self.logger,
                "Skipped scorer update for a {} event because the wall-clock time is unknown; \
                 provide a wall clock to keep the scorer learning",
                kind
            );
            return;
        }
        log_trace!(
            self.logger,
            "Skipped scorer update for a {} event because the wall-clock time is unknown ({} skipped so far)",
            kind,
            skipped
        );
    }
}

impl<S> Observer for ScorerObserver<S>
where
    S: Deref + Send + Sync,
    S::Target: for<'b> LockableScore<'b>,
{
    fn observe(&self, event: &Event) {
        let Some(outcome) = ScoreOutcome::from_event(event) else {
            return;
        };
        let kind = event_kind(event);

        let Some(since_epoch) = (self.wall_clock)() else {
            self.record_skip(kind);
            return;
        };

        {
            let mut scorer = self.scorer.write_lock();
            outcome.apply(&mut *scorer, since_epoch);
        }
        self.changed.set();
        log_trace!(self.logger, "Updated scorer from a {} event", kind);
    }
}
