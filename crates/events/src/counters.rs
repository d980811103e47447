//! Counts of what a dispatcher handed out and how the handler responded.

use std::collections::BTreeMap;
use std::time::Duration;

use parking_lot::Mutex;

/// A copy of a dispatcher's counters at one instant.
///
/// Each call to the dispatcher counts the event once under its kind, whatever happens to it
/// next, so an event that LDK hands out again is counted again. Each call then ends in exactly
/// one of these ways: the handler accepted the event, the handler requested a replay (counted
/// in `replays`), or an observer or the handler panicked (counted in `panics`). The dispatcher
/// returns `Err(ReplayEvent())` to LDK in the last two cases.
///
/// # Examples
///
/// ```
/// use lightning::events::{Event, EventHandler};
/// use lightning::ln::channelmanager::PaymentId;
/// use vigil_events::Dispatcher;
///
/// let dispatcher = Dispatcher::new(|_event: Event| Ok(()));
/// let event = Event::PaymentFailed { payment_id: PaymentId([1; 32]), payment_hash: None, reason: None };
/// dispatcher.handle_event(event.clone()).unwrap();
/// dispatcher.handle_event(event).unwrap();
///
/// let counters = dispatcher.counters();
/// assert_eq!(counters.per_kind.get("PaymentFailed"), Some(&2));
/// assert_eq!(counters.events(), 2);
/// assert_eq!(counters.replays, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CounterSnapshot {
    /// Events received, by the name [`event_kind`](crate::event_kind) gives their variant.
    pub per_kind: BTreeMap<&'static str, u64>,
    /// Events for which the handler returned `Err(ReplayEvent())`.
    pub replays: u64,
    /// Events on which an observer or the handler panicked.
    pub panics: u64,
    /// Time spent in the handler, summed over all events it was called for.
    pub handler_time_total: Duration,
    /// Maximum time the handler took for one event.
    pub handler_time_max: Duration,
}

impl CounterSnapshot {
    /// Returns the number of events received, over all kinds.
    pub fn events(&self) -> u64 {
        self.per_kind.values().sum()
    }

    /// Returns the number of events received of one kind, zero for a kind never seen.
    pub fn kind(&self, kind: &str) -> u64 {
        self.per_kind.get(kind).copied().unwrap_or(0)
    }
}

/// Counters shared by a dispatcher's calls, which may come from several threads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    snapshot: Mutex<CounterSnapshot>,
}

impl Counters {
    pub(crate) fn record_event(&self, kind: &'static str) {
        *self.snapshot.lock().per_kind.entry(kind).or_insert(0) += 1;
    }

    pub(crate) fn record_handler_time(&self, elapsed: Duration) {
        let mut snapshot = self.snapshot.lock();
        snapshot.handler_time_total = snapshot.handler_time_total.saturating_add(elapsed);
        snapshot.handler_time_max = snapshot.handler_time_max.max(elapsed);
    }

    pub(crate) fn record_replay(&self) {
        self.snapshot.lock().replays += 1;
    }

    pub(crate) fn record_panic(&self) {
        self.snapshot.lock().panics += 1;
    }

    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        self.snapshot.lock().clone()
    }
}
