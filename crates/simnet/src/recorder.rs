//! A per-node record of the events handed to the node's event handler.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::events::Event;
use lightning::types::payment::PaymentHash;
use parking_lot::{Condvar, Mutex};

use crate::activity::Activity;

/// One event as the node's handler received it.
#[derive(Clone, Debug)]
pub struct RecordedEvent {
    /// The variant name, such as `"PaymentSent"` (see [`event_kind`]).
    pub kind: &'static str,
    /// The event itself.
    pub event: Event,
    /// When the handler was called with it.
    pub received_at: Instant,
}

/// The events a node's handler received, in order, with a way to wait for more.
///
/// An event that a handler rejects with `ReplayEvent` is handed out again by LDK and then
/// recorded again.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use lightning::events::Event;
/// use lightning::ln::types::ChannelId;
/// use vigil_simnet::EventRecorder;
///
/// let recorder = EventRecorder::new();
/// recorder.record(&Event::DiscardFunding {
///     channel_id: ChannelId::new_zero(),
///     funding_info: lightning::events::FundingInfo::OutPoint {
///         outpoint: lightning::chain::transaction::OutPoint {
///             txid: bitcoin::Txid::from_raw_hash(bitcoin::hashes::Hash::all_zeros()),
///             index: 0,
///         },
///     },
/// });
/// assert_eq!(recorder.kinds(), vec!["DiscardFunding"]);
/// assert!(recorder.wait_for_count("DiscardFunding", 1, Duration::from_secs(1)).is_ok());
/// ```
#[derive(Debug, Default)]
pub struct EventRecorder {
    events: Mutex<Vec<RecordedEvent>>,
    // When the node's handler returned from `claim_funds`, per payment.
    claims: Mutex<HashMap<PaymentHash, Instant>>,
    changed: Condvar,
    activity: Option<Arc<Activity>>,
}

/// The wait for events ended at its deadline.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {expected}; events recorded so far: {recorded:?}")]
pub struct WaitTimeout {
    /// The condition the caller waited for.
    pub expected: String,
    /// How long it waited.
    pub waited: Duration,
    /// The kinds of the events recorded by then, in order.
    pub recorded: Vec<&'static str>,
}

impl EventRecorder {
    /// Returns an empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns an empty recorder that also bumps `activity` on every event.
    pub fn with_activity(activity: Arc<Activity>) -> Self {
        Self {
            activity: Some(activity),
            ..Self::default()
        }
    }

    /// Appends `event` and wakes every waiter.
    pub fn record(&self, event: &Event) {
        let recorded = RecordedEvent {
            kind: event_kind(event),
            event: event.clone(),
            received_at: Instant::now(),
        };
        self.events.lock().push(recorded);
        self.changed.notify_all();
        if let Some(activity) = &self.activity {
            activity.bump();
        }
    }

    /// Notes that `claim_funds` for `payment_hash` just returned; the first note counts.
    pub fn mark_claimed(&self, payment_hash: PaymentHash) {
        self.claims
            .lock()
            .entry(payment_hash)
            .or_insert_with(Instant::now);
    }

    /// Returns when the node's handler returned from `claim_funds` for `payment_hash`.
    ///
    /// With the time the `PaymentClaimed` event reached the handler, this gives the event's
    /// dispatch latency: from the change that made the event pending to the handler call.
    pub fn claimed_at(&self, payment_hash: &PaymentHash) -> Option<Instant> {
        self.claims.lock().get(payment_hash).copied()
    }

    /// Returns every payment the node's handler claimed, with when `claim_funds` returned.
    pub fn claims(&self) -> Vec<(PaymentHash, Instant)> {
        self.claims
            .lock()
            .iter()
            .map(|(hash, at)| (*hash, *at))
            .collect()
    }

    /// Returns how many events were recorded.
    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    /// Returns whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.lock().is_empty()
    }

    /// Returns a copy of every event recorded so far, oldest first.
    pub fn events(&self) -> Vec<RecordedEvent> {
        self.events.lock().clone()
    }

    /// Returns the kinds of all events recorded so far, oldest first.
    pub fn kinds(&self) -> Vec<&'static str> {
        self.events.lock().iter().map(|event| event.kind).collect()
    }

    /// Returns the events of `kind`, oldest first.
    pub fn of_kind(&self, kind: &str) -> Vec<Event> {
        self.events
            .lock()
            .iter()
            .filter(|event| event.kind == kind)
            .map(|event| event.event.clone())
            .collect()
    }

    /// Returns how many events of `kind` were recorded.
    pub fn count(&self, kind: &str) -> usize {
        self.events
            .lock()
            .iter()
            .filter(|event| event.kind == kind)
            .count()
    }

    /// Returns the number of events recorded per kind.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for event in self.events.lock().iter() {
            *counts.entry(event.kind).or_insert(0) += 1;
        }
        counts
    }

    /// Blocks until `condition` holds for the recorded events or `timeout` passed.
    ///
    /// The timeout is a guard against a test hanging, not a measure: pick it generously.
    ///
    /// # Errors
    ///
    /// Returns [`WaitTimeout`], naming `expected` and the kinds recorded, when the condition
    /// still fails at the deadline.
    pub fn wait_until(
        &self,
        expected: &str,
        timeout: Duration,
        condition: impl Fn(&[RecordedEvent]) -> bool,
    ) -> Result<(), WaitTimeout> {
        let deadline = Instant::now() + timeout;
        let mut events = self.events.lock();
        while !condition(&events) {
            if self.changed.wait_until(&mut events, deadline).timed_out() && !condition(&events) {
                return Err(WaitTimeout {
                    expected: expected.to_string(),
                    waited: timeout,
                    recorded: events.iter().map(|event| event.kind).collect(),
                });
            }
        }
        Ok(())
    }

    /// Blocks until at least `count` events of `kind` were recorded or `timeout` passed.
    ///
    /// # Errors
    ///
    /// Returns [`WaitTimeout`] when fewer were recorded by the deadline.
    pub fn wait_for_count(
        &self,
        kind: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<(), WaitTimeout> {
        let expected = format!("{count} {kind} events");
        self.wait_until(&expected, timeout, |events| {
            events.iter().filter(|event| event.kind == kind).count() >= count
        })
    }
}

pub use vigil_events::event_kind;
