//! Latency figures computed from what the nodes recorded, for the demo and the benchmark.

use std::time::{Duration, Instant};

use lightning::events::Event;
use lightning::types::payment::PaymentHash;

use crate::recorder::EventRecorder;
use crate::store::NodeStore;

/// Returns the `quantile` (0.0 to 1.0) of `samples` by the nearest-rank method, or `None` for
/// no samples or a quantile outside that range.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use vigil_simnet::percentile;
///
/// let samples: Vec<_> = (1..=100).map(Duration::from_millis).collect();
/// assert_eq!(percentile(&samples, 0.5), Some(Duration::from_millis(50)));
/// assert_eq!(percentile(&samples, 0.99), Some(Duration::from_millis(99)));
/// assert_eq!(percentile(&[], 0.5), None);
/// ```
pub fn percentile(samples: &[Duration], quantile: f64) -> Option<Duration> {
    if samples.is_empty() || !(0.0..=1.0).contains(&quantile) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(sorted.len() - 1)])
}

/// Returns, per payment the node claimed, the time from the return of `claim_funds` in its
/// handler to the handler's call with the `PaymentClaimed` event: the dispatch latency of
/// that event.
///
/// A payment whose `PaymentClaimed` was handed out again after a restart counts once, with
/// its first delivery.
pub fn dispatch_latencies(recorder: &EventRecorder) -> Vec<Duration> {
    dispatch_latencies_of(recorder, None)
}

/// Returns the dispatch latencies of [`dispatch_latencies`] for the payments claimed at or
/// after `since` only, so that one phase of a run can be measured apart from the others.
pub fn dispatch_latencies_since(recorder: &EventRecorder, since: Instant) -> Vec<Duration> {
    dispatch_latencies_of(recorder, Some(since))
}

fn dispatch_latencies_of(recorder: &EventRecorder, since: Option<Instant>) -> Vec<Duration> {
    let events = recorder.events();
    claims_since(recorder, since)
        .into_iter()
        .filter_map(|(hash, claimed_at)| {
            let delivered = events.iter().find(|recorded| {
                matches!(&recorded.event, Event::PaymentClaimed { payment_hash, .. }
                    if *payment_hash == hash)
            })?;
            Some(delivered.received_at.saturating_duration_since(claimed_at))
        })
        .collect()
}

/// Returns, per payment the node claimed, the time from the return of `claim_funds` to the
/// completion of the first ChannelManager write (key `manager`) after it: the persistence lag
/// of that change.
///
/// NOTE: the store sees a write only once the ChannelManager was encoded, so a write whose
/// encoding began just before the claim can count, and a figure may read short by up to one
/// write.
pub fn persist_lags(recorder: &EventRecorder, store: &NodeStore) -> Vec<Duration> {
    persist_lags_of(recorder, store, None)
}

/// Returns the persistence lags of [`persist_lags`] for the payments claimed at or after
/// `since` only.
pub fn persist_lags_since(
    recorder: &EventRecorder,
    store: &NodeStore,
    since: Instant,
) -> Vec<Duration> {
    persist_lags_of(recorder, store, Some(since))
}

fn persist_lags_of(
    recorder: &EventRecorder,
    store: &NodeStore,
    since: Option<Instant>,
) -> Vec<Duration> {
    let writes = store.completed_writes(lightning::util::persist::CHANNEL_MANAGER_PERSISTENCE_KEY);
    claims_since(recorder, since)
        .into_iter()
        .filter_map(|(_, claimed_at)| {
            let written = writes.iter().find(|written| **written >= claimed_at)?;
            Some(written.saturating_duration_since(claimed_at))
        })
        .collect()
}

/// Returns the node's claims, only those made at or after `since` when it is given.
fn claims_since(recorder: &EventRecorder, since: Option<Instant>) -> Vec<(PaymentHash, Instant)> {
    let mut claims = recorder.claims();
    if let Some(since) = since {
        claims.retain(|(_, claimed_at)| *claimed_at >= since);
    }
    claims
}
