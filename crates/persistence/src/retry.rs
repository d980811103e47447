//! How many times a write is tried and how long the caller waits between tries.

use std::time::Duration;

/// The number of attempts a write gets and the backoff between them.
///
/// The policy only computes delays: [`RetryPolicy::delay_before_attempt`] returns the wait
/// before attempt `n`, and the caller waits on its own clock, so tests run in virtual time.
/// Backoff starts at the initial delay before the second attempt and doubles before each further
/// attempt, up to the maximum backoff.
///
/// The default allows 3 attempts, waiting 100 ms and then 200 ms, with a cap of 5 s.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vigil_persistence::RetryPolicy;
///
/// let policy = RetryPolicy::new(4, Duration::from_millis(100), Duration::from_millis(150))?;
/// assert_eq!(policy.delay_before_attempt(1), Some(Duration::ZERO));
/// assert_eq!(policy.delay_before_attempt(2), Some(Duration::from_millis(100)));
/// assert_eq!(policy.delay_before_attempt(3), Some(Duration::from_millis(150)));
/// assert_eq!(policy.delay_before_attempt(4), Some(Duration::from_millis(150)));
/// assert_eq!(policy.delay_before_attempt(5), None);
/// # Ok::<(), vigil_persistence::RetryPolicyError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

/// A retry policy that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryPolicyError {
    /// The policy would allow no attempt at all.
    #[error("max_attempts is 0, but a write needs at least 1 attempt; use 1 for no retries")]
    ZeroAttempts,
}

impl RetryPolicy {
    /// Returns a policy of `max_attempts` attempts, waiting `initial_backoff` before the second
    /// and doubling the wait before each further attempt, never waiting longer than
    /// `max_backoff`. If `initial_backoff` exceeds `max_backoff`, every wait is `max_backoff`.
    ///
    /// # Errors
    ///
    /// Returns [`RetryPolicyError::ZeroAttempts`] if `max_attempts` is 0.
    pub fn new(
        max_attempts: u32,
        initial_backoff: Duration,
        max_backoff: Duration,
    ) -> Result<Self, RetryPolicyError> {
        if max_attempts == 0 {
            return Err(RetryPolicyError::ZeroAttempts);
        }
        Ok(RetryPolicy {
            max_attempts,
            initial_backoff,
            max_backoff,
        })
    }

    /// Returns a policy of exactly one attempt: the first error is final.
    pub fn no_retry() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    /// Returns the number of attempts, at least 1.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Returns the wait before the 1-based `attempt`, or `None` when the policy allows no such
    /// attempt and the last error is final.
    ///
    /// Attempt 1 (and 0, treated as 1) gets `Some(Duration::ZERO)`, attempt 2 the initial backoff,
    /// and each later attempt twice the previous wait, capped at the maximum backoff.
    pub fn delay_before_attempt(&self, attempt: u32) -> Option<Duration> {
        if attempt > self.max_attempts {
            return None;
        }
        if attempt <= 1 {
            return Some(Duration::ZERO);
        }

        // Attempt 2 waits initial_backoff * 2^0, attempt 3 initial_backoff * 2^1, and so on.
        let doublings = attempt - 2;
        let factor = 2u32.checked_pow(doublings).unwrap_or(u32::MAX);
        let delay = self
            .initial_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff);
        Some(delay.min(self.max_backoff))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_waits_100_then_200_ms() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_attempts(), 3);
        assert_eq!(policy.delay_before_attempt(1), Some(Duration::ZERO));
        assert_eq!(
            policy.delay_before_attempt(2),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            policy.delay_before_attempt(3),
            Some(Duration::from_millis(200))
        );
        assert_eq!(policy.delay_before_attempt(4), None);
    }

    #[test]
    fn no_retry_allows_one_attempt() {
        let policy = RetryPolicy::no_retry();
        assert_eq!(policy.max_attempts(), 1);
        assert_eq!(policy.delay_before_attempt(1), Some(Duration::ZERO));
        assert_eq!(policy.delay_before_attempt(2), None);
    }

    #[test]
    fn zero_attempts_rejected() {
        let result = RetryPolicy::new(0, Duration::from_millis(1), Duration::from_secs(1));
        assert_eq!(result, Err(RetryPolicyError::ZeroAttempts));
    }

    #[test]
    fn doubling_stops_at_cap() {
        let policy =
            RetryPolicy::new(u32::MAX, Duration::from_millis(100), Duration::from_secs(5)).unwrap();
        assert_eq!(
            policy.delay_before_attempt(7),
            Some(Duration::from_millis(3200))
        );
        assert_eq!(policy.delay_before_attempt(8), Some(Duration::from_secs(5)));
        assert_eq!(
            policy.delay_before_attempt(40),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            policy.delay_before_attempt(u32::MAX),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn initial_above_cap_uses_cap() {
        let policy = RetryPolicy::new(3, Duration::from_secs(10), Duration::from_secs(1)).unwrap();
        assert_eq!(policy.delay_before_attempt(2), Some(Duration::from_secs(1)));
    }

    #[test]
    fn attempt_zero_counts_as_first() {
        assert_eq!(
            RetryPolicy::default().delay_before_attempt(0),
            Some(Duration::ZERO)
        );
    }
}
