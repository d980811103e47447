//! Arithmetic on [`Instant`] that cannot panic.

use std::time::{Duration, Instant};

/// Returns `instant + by`, or the latest instant after `instant` that the platform can
/// represent when the sum overflows.
pub(crate) fn saturating_add(instant: Instant, by: Duration) -> Instant {
    if let Some(sum) = instant.checked_add(by) {
        return sum;
    }

    // Binary search for the largest addable duration. Only reached on overflow, which takes
    // durations of hundreds of years or more.
    let mut addable = Duration::ZERO;
    let mut too_large = by;
    while too_large - addable > Duration::from_nanos(1) {
        let middle = addable + (too_large - addable) / 2;
        match instant.checked_add(middle) {
            Some(_) => addable = middle,
            None => too_large = middle,
        }
    }
    instant + addable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_add_without_overflow() {
        let start = Instant::now();
        let by = Duration::from_secs(86_400);
        assert_eq!(saturating_add(start, by), start + by);
    }

    #[test]
    fn saturating_add_stops_at_latest_instant() {
        let start = Instant::now();
        let latest = saturating_add(start, Duration::MAX);

        assert!(
            latest > start,
            "latest {latest:?} is not after start {start:?}"
        );
        assert_eq!(
            latest.checked_add(Duration::from_nanos(1)),
            None,
            "latest {latest:?} is not the last representable instant"
        );
    }
}
