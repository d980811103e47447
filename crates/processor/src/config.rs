//! Intervals, delays and policies of the processor.

use std::time::Duration;

use vigil_persistence::RetryPolicy;

/// Every interval, delay and policy of the processor.
///
/// The defaults equal those of LDK's `lightning-background-processor` 0.2.3, plus the
/// settings that crate does not have (monitor archiving, scorer coalescing, suspend
/// detection, shutdown timeout). Every field is public, so a config is built with struct
/// update syntax:
///
/// ```
/// use std::time::Duration;
/// use vigil_processor::Config;
///
/// let config = Config { suspend_threshold: None, ..Config::default() };
/// assert_eq!(config.freshness_interval, Duration::from_secs(60));
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Interval of `ChannelManager::timer_tick_occurred`, which also runs at start (60 s).
    pub freshness_interval: Duration,
    /// Interval of `PeerManager::timer_tick_occurred`, the ping timer (10 s; 30 s in debug
    /// builds, where signing is slow enough that peers would miss their pongs).
    pub ping_interval: Duration,
    /// Interval of the OnionMessenger's `timer_tick_occurred` (10 s).
    pub onion_message_interval: Duration,
    /// Interval of `ChainMonitor::rebroadcast_pending_claims`, which also runs at start (30 s).
    pub rebroadcast_interval: Duration,
    /// Delay from start to the first `archive_fully_resolved_channel_monitors` (15 s).
    pub first_archive_delay: Duration,
    /// Interval of `archive_fully_resolved_channel_monitors` after the first (10 min).
    pub archive_interval: Duration,
    /// Delay from start to the first network-graph prune and write (60 s).
    pub first_prune_delay: Duration,
    /// Interval of network-graph prunes and writes after the first (1 h).
    pub prune_interval: Duration,
    /// How often to check whether rapid gossip sync finished its first sync, until it has
    /// (1 s). LDK offers no notification for it, so the processor has to ask.
    pub initial_sync_check_interval: Duration,
    /// Interval of scorer decay and write; the decay also runs at start (5 min).
    pub scorer_persist_interval: Duration,
    /// Minimum time between two scorer writes caused by payment and probe results (1 s), so
    /// that a burst of payments costs one write instead of one per payment.
    pub scorer_coalesce_interval: Duration,
    /// Interval of the OutputSweeper's `regenerate_and_broadcast_spend_if_necessary` (30 s).
    pub sweeper_interval: Duration,
    /// How often and how fast a failed ChannelManager write is retried before the processor
    /// stops with the error.
    pub retry_policy: RetryPolicy,
    /// How late a wait may return past its deadline before the processor assumes the
    /// process was suspended and disconnects all peers (1 s); `None` turns detection off.
    pub suspend_threshold: Option<Duration>,
    /// How long `stop()` waits, after the final writes, for a user event handler that is
    /// still running (30 s), measured on the processor's clock.
    pub shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            freshness_interval: Duration::from_secs(60),
            ping_interval: default_ping_interval(),
            onion_message_interval: Duration::from_secs(10),
            rebroadcast_interval: Duration::from_secs(30),
            first_archive_delay: Duration::from_secs(15),
            archive_interval: Duration::from_secs(10 * 60),
            first_prune_delay: Duration::from_secs(60),
            prune_interval: Duration::from_secs(60 * 60),
            initial_sync_check_interval: Duration::from_secs(1),
            scorer_persist_interval: Duration::from_secs(5 * 60),
            scorer_coalesce_interval: Duration::from_secs(1),
            sweeper_interval: Duration::from_secs(30),
            retry_policy: RetryPolicy::default(),
            suspend_threshold: Some(Duration::from_secs(1)),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// An invalid [`Config`] field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// An interval that must be positive is zero.
    #[error("config field {field} is zero (set it to a positive duration)")]
    ZeroInterval {
        /// The name of the field.
        field: &'static str,
    },
}

impl Config {
    /// Checks that every interval is positive.
    ///
    /// # Errors
    ///
    /// Returns [`ConfigError::ZeroInterval`] naming the first zero interval. First delays,
    /// the coalescing interval, the shutdown timeout and the suspend threshold may be zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let intervals = [
            ("freshness_interval", self.freshness_interval),
            ("ping_interval", self.ping_interval),
            ("onion_message_interval", self.onion_message_interval),
            ("rebroadcast_interval", self.rebroadcast_interval),
            ("archive_interval", self.archive_interval),
            ("prune_interval", self.prune_interval),
            (
                "initial_sync_check_interval",
                self.initial_sync_check_interval,
            ),
            ("scorer_persist_interval", self.scorer_persist_interval),
            ("sweeper_interval", self.sweeper_interval),
        ];
        match intervals.iter().find(|(_, interval)| interval.is_zero()) {
            Some((field, _)) => Err(ConfigError::ZeroInterval { field }),
            None => Ok(()),
        }
    }
}

fn default_ping_interval() -> Duration {
    if cfg!(debug_assertions) {
        Duration::from_secs(30)
    } else {
        Duration::from_secs(10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_ldk() {
        let config = Config::default();
        assert_eq!(config.freshness_interval, Duration::from_secs(60));
        assert_eq!(config.onion_message_interval, Duration::from_secs(10));
        assert_eq!(config.rebroadcast_interval, Duration::from_secs(30));
        assert_eq!(config.first_prune_delay, Duration::from_secs(60));
        assert_eq!(config.prune_interval, Duration::from_secs(3600));
        assert_eq!(config.scorer_persist_interval, Duration::from_secs(300));
        assert_eq!(config.sweeper_interval, Duration::from_secs(30));
        assert_eq!(config.first_archive_delay, Duration::from_secs(15));
        assert_eq!(config.archive_interval, Duration::from_secs(600));
        assert_eq!(config.scorer_coalesce_interval, Duration::from_secs(1));
        assert_eq!(config.suspend_threshold, Some(Duration::from_secs(1)));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(30));
    }

    #[test]
    fn ping_default_depends_on_build() {
        let expected = if cfg!(debug_assertions) { 30 } else { 10 };
        assert_eq!(
            Config::default().ping_interval,
            Duration::from_secs(expected)
        );
    }

    #[test]
    fn validate_rejects_zero_interval() {
        let config = Config {
            prune_interval: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(
            config.validate(),
            Err(ConfigError::ZeroInterval {
                field: "prune_interval"
            })
        );
    }

    #[test]
    fn validate_accepts_zero_first_delay() {
        let config = Config {
            first_prune_delay: Duration::ZERO,
            scorer_coalesce_interval: Duration::ZERO,
            ..Config::default()
        };
        assert_eq!(config.validate(), Ok(()));
    }
}
