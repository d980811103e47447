//! Counters and timings of a running processor.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How many persist-lag samples [`Stats::persist_lag`] summarises: the most recent ones.
const LAG_SAMPLES: usize = 4096;

/// A component that hands out events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum EventSource {
    /// The ChannelManager.
    ChannelManager,
    /// The ChainMonitor.
    ChainMonitor,
    /// The OnionMessenger.
    OnionMessenger,
}

/// Writes of one store key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// Writes that succeeded.
    pub writes: u64,
    /// Write attempts that failed, retries included.
    pub failures: u64,
    /// When the last successful write finished, on the processor's clock.
    pub last_success: Option<Instant>,
}

/// A summary of the delays from "the ChannelManager needs a write" to "it is written".
///
/// The delay starts when the processor, or the event path, takes LDK's needs-persistence
/// flag, and ends when the write returns. Percentiles are nearest-rank over the most recent
/// 4096 writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LagSummary {
    /// Number of writes measured since start.
    pub count: u64,
    /// Median delay.
    pub p50: Duration,
    /// 99th-percentile delay.
    pub p99: Duration,
    /// Maximum delay since start.
    pub max: Duration,
}

/// A snapshot of a processor's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events handled successfully per source; replayed events count once per hand-out that
    /// succeeded.
    pub events: BTreeMap<EventSource, u64>,
    /// Writes per store key (`manager`, `network_graph`, `scorer`).
    pub keys: BTreeMap<&'static str, KeyStats>,
    /// Turns of the processor's core.
    pub turns: u64,
    /// Returns from a wait, early or on the deadline.
    pub wakeups: u64,
    /// Callbacks registered on LDK wake futures.
    pub wake_registrations: u64,
    /// Waits that overran their deadline by more than the suspend threshold.
    pub suspends: u64,
    /// Delay from "the ChannelManager needs a write" to "it is written".
    pub persist_lag: LagSummary,
}

impl Stats {
    /// Returns the counters of `key`, or zeros if it was never written.
    pub fn key(&self, key: &str) -> KeyStats {
        self.keys.get(key).cloned().unwrap_or_default()
    }

    /// Returns how many events `source` handed out successfully.
    pub fn events_from(&self, source: EventSource) -> u64 {
        self.events.get(&source).copied().unwrap_or(0)
    }
}

/// The shared, thread-safe recorder behind [`Stats`].
#[derive(Default)]
pub(crate) struct StatsRecorder {
    inner: Mutex<Recorded>,
}

#[derive(Default)]
struct Recorded {
    stats: Stats,
    lags: VecDeque<Duration>,
}

impl StatsRecorder {
    pub(crate) fn event_handled(&self, source: EventSource) {
        *self.inner.lock().stats.events.entry(source).or_insert(0) += 1;
    }

    pub(crate) fn write_succeeded(&self, key: &'static str, at: Instant) {
        let mut inner = self.inner.lock();
        let entry = inner.stats.keys.entry(key).or_default();
        entry.writes += 1;
        entry.last_success = Some(at);
    }

    pub(crate) fn write_failed(&self, key: &'static str) {
        self.inner
            .lock()
            .stats
            .keys
            .entry(key)
            .or_default()
            .failures += 1;
    }

    pub(crate) fn turn(&self) {
        self.inner.lock().stats.turns += 1;
    }

    pub(crate) fn wakeup(&self) {
        self.inner.lock().stats.wakeups += 1;
    }

    pub(crate) fn wake_registered(&self) {
        self.inner.lock().stats.wake_registrations += 1;
    }

    pub(crate) fn suspended(&self) {
        self.inner.lock().stats.suspends += 1;
    }

    pub(crate) fn persist_lag(&self, lag: Duration) {
        let mut inner = self.inner.lock();
        if inner.lags.len() == LAG_SAMPLES {
            inner.lags.pop_front();
        }
        inner.lags.push_back(lag);
        let summary = &mut inner.stats.persist_lag;
        summary.count += 1;
        summary.max = summary.max.max(lag);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let inner = self.inner.lock();
        let mut stats = inner.stats.clone();
        let mut sorted: Vec<Duration> = inner.lags.iter().copied().collect();
        sorted.sort_unstable();
        stats.persist_lag.p50 = nearest_rank(&sorted, 50);
        stats.persist_lag.p99 = nearest_rank(&sorted, 99);
        stats
    }
}

/// Returns the nearest-rank `percent` percentile of `sorted`, or zero when it is empty.
fn nearest_rank(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_of_hundred_samples() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(nearest_rank(&sorted, 50), Duration::from_millis(50));
        assert_eq!(nearest_rank(&sorted, 99), Duration::from_millis(99));
    }

    #[test]
    fn nearest_rank_of_one_sample() {
        let sorted = [Duration::from_millis(7)];
        assert_eq!(nearest_rank(&sorted, 50), Duration::from_millis(7));
        assert_eq!(nearest_rank(&sorted, 99), Duration::from_millis(7));
    }

    #[test]
    fn lag_summary_keeps_max_beyond_window() {
        let recorder = StatsRecorder::default();
        recorder.persist_lag(Duration::from_secs(9));
        for _ in 0..LAG_SAMPLES {
            recorder.persist_lag(Duration::from_millis(1));
        }
        let lag = recorder.snapshot().persist_lag;
        assert_eq!(lag.count, LAG_SAMPLES as u64 + 1);
        assert_eq!(lag.max, Duration::from_secs(9));
        assert_eq!(
            lag.p99,
            Duration::from_millis(1),
            "the old sample left the window"
        );
    }

    #[test]
    fn key_stats_count_writes_and_failures() {
        let recorder = StatsRecorder::default();
        let at = Instant::now();
        recorder.write_failed("manager");
        recorder.write_succeeded("manager", at);
        let stats = recorder.snapshot();
        assert_eq!(stats.key("manager").writes, 1);
        assert_eq!(stats.key("manager").failures, 1);
        assert_eq!(stats.key("manager").last_success, Some(at));
        assert_eq!(stats.key("scorer"), KeyStats::default());
    }
}
