#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod clock;
mod delay;
mod instant;
mod manual;
mod rng;
mod schedule;
mod signal;

#[cfg(any(test, feature = "mock"))]
pub use clock::MockClock;
pub use clock::{Clock, DeadlineFuture, SystemClock, Wake};
pub use delay::{DelaySource, ForwardDelays, FIRST_FORWARD_DELAY};
pub use manual::ManualClock;
pub use schedule::{Schedule, ScheduleError};
pub use signal::{Signal, SignalFuture};
