//! Random delays: the [`DelaySource`] trait and the default HTLC forward delays.

use std::time::Duration;

use crate::rng::Rng;

/// A source of delays, such as the wait before forwarding a batch of HTLCs.
///
/// Code that waits a random time takes the delay from a `DelaySource` instead of drawing it
/// itself, so a test can supply fixed or seeded delays.
///
/// # Examples
///
/// A source that returns the same delay every time:
///
/// ```
/// use std::time::Duration;
/// use vigil_scheduler::DelaySource;
///
/// struct Always(Duration);
///
/// impl DelaySource for Always {
///     fn next_delay(&mut self) -> Duration {
///         self.0
///     }
/// }
///
/// let mut source: Box<dyn DelaySource> = Box::new(Always(Duration::from_millis(5)));
/// assert_eq!(source.next_delay(), Duration::from_millis(5));
/// ```
pub trait DelaySource: Send {
    /// Returns the next delay.
    fn next_delay(&mut self) -> Duration;
}

impl<D: DelaySource + ?Sized> DelaySource for Box<D> {
    fn next_delay(&mut self) -> Duration {
        (**self).next_delay()
    }
}

/// The delay before the first forward after start: 2 s.
pub const FIRST_FORWARD_DELAY: Duration = Duration::from_secs(2);

/// The median of the log-normal part of later forward delays, in milliseconds.
const MEDIAN_MILLIS: f64 = 50.0;

/// The standard deviation of the log-normal part, in log space.
const LOG_STANDARD_DEVIATION: f64 = 0.5;

/// The upper clip of the log-normal part, in milliseconds.
const MAX_MILLIS: f64 = 200.0;

/// The exclusive upper bound of the uniform part, in microseconds.
const JITTER_MICROS: u64 = 1000;

/// The default delays before processing pending HTLC forwards.
///
/// Batching forwards behind a short random delay makes it harder for an observer to match an
/// incoming HTLC with the outgoing one by their timing. The delays are:
/// - the first call: [`FIRST_FORWARD_DELAY`] (2 s), which lets peers reconnect after start;
/// - every later call: a log-normal number of milliseconds with median 50 ms and standard
///   deviation 0.5 in log space, clipped to at most 200 ms, plus a uniform 0 to 999 µs.
///   So each lies in (0, 201 ms).
///
/// These follow the distribution that LDK's `lightning-background-processor` 0.2 draws from,
/// but are computed here rather than taken from its table of samples.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use vigil_scheduler::{DelaySource, ForwardDelays};
///
/// let mut delays = ForwardDelays::seeded(42);
/// assert_eq!(delays.next_delay(), Duration::from_secs(2));
///
/// let next = delays.next_delay();
/// assert!(next > Duration::ZERO && next < Duration::from_millis(201));
///
/// // The same seed gives the same sequence.
/// let mut again = ForwardDelays::seeded(42);
/// again.next_delay();
/// assert_eq!(again.next_delay(), next);
/// ```
#[derive(Debug, Clone)]
pub struct ForwardDelays {
    rng: Rng,
    first_returned: bool,
}

impl ForwardDelays {
    /// Creates a source seeded from the operating system's entropy and the time.
    pub fn new() -> Self {
        Self::seeded(Rng::entropy_seed())
    }

    /// Creates a source whose sequence of delays is determined by `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self {
            rng: Rng::seeded(seed),
            first_returned: false,
        }
    }

    /// Draws one delay after the first: the log-normal milliseconds plus the uniform jitter.
    fn draw(&mut self) -> Duration {
        let log_millis =
            MEDIAN_MILLIS.ln() + LOG_STANDARD_DEVIATION * self.rng.next_standard_normal();
        // The exponential is positive, and the normal draw is bounded by about 8.6 (it uses
        // 53-bit uniforms), so the log-normal part is at least about 0.7 ms before clipping.
        let millis = log_millis.exp().min(MAX_MILLIS);
        let jitter = Duration::from_micros(self.rng.below(JITTER_MICROS));
        Duration::from_secs_f64(millis / 1000.0) + jitter
    }
}

impl Default for ForwardDelays {
    fn default() -> Self {
        Self::new()
    }
}

impl DelaySource for ForwardDelays {
    fn next_delay(&mut self) -> Duration {
        if !self.first_returned {
            self.first_returned = true;
            return FIRST_FORWARD_DELAY;
        }
        self.draw()
    }
}
