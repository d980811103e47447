//! The same scenario through the blocking writes of the thread runner and the deferred
//! writes of the async runner: each virtual instant must see the same duties and writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::support::{config, Rig};
use crate::core::{Core, Dispatch, Step};
use crate::testing::{GossipKind, Optional};

/// The sorted trace entries of each virtual instant. Within a turn the two modes issue and
/// complete writes in a different order, but never at another instant.
type Record = BTreeMap<Duration, Vec<String>>;

fn every_component() -> Optional {
    Optional {
        messenger: true,
        gossip: Some(GossipKind::P2p),
        scorer: true,
        sweeper: true,
        liquidity: false,
    }
}

/// Turns `core` at each deadline it requests until `end`, then stops it, completing every
/// deferred write right after the turn that issued it.
///
/// ```text
/// blocking: turn [issue+complete write] ...          wait
/// deferred: turn [issue write] ... complete write    turn (same instant)  wait
/// ```
fn record(rig: &Rig, mut core: Core, end: Duration) -> Record {
    let mut record = Record::new();
    let mut stop_requested = false;
    for _ in 0..100_000 {
        let now = rig.node.now();
        let step = core.turn(now);
        let started = core.take_started_writes();
        let completed_any = !started.is_empty();
        for mut write in started {
            let mut context = Context::from_waker(Waker::noop());
            let Poll::Ready(result) = write.future.as_mut().poll(&mut context) else {
                panic!("an unheld write of the test store completes at once");
            };
            core.complete_write(write.ticket, result, now);
        }
        let at = now - rig.node.start;
        let mut entries: Vec<String> = rig
            .node
            .trace
            .take()
            .into_iter()
            // `process_events` runs on every turn, and the deferred mode turns once more
            // after each completed write, so only the duties and writes are compared.
            .filter(|entry| !entry.starts_with("issue ") && entry != "pm.process_events")
            .collect();
        record.entry(at).or_default().append(&mut entries);

        match step {
            Step::Finished(result) => {
                assert!(result.is_ok(), "{result:?}");
                for entries in record.values_mut() {
                    entries.sort();
                }
                record.retain(|_, entries| !entries.is_empty());
                return record;
            }
            // As in the runner, a completed write ends the wait and the core turns again.
            Step::Wait(_) if completed_any => {}
            Step::Wait(deadline) if deadline - rig.node.start > end && !stop_requested => {
                rig.node.advance_to(end);
                core.request_stop();
                stop_requested = true;
            }
            Step::Wait(deadline) => {
                if deadline > rig.node.now() {
                    rig.node.advance_to(deadline - rig.node.start);
                }
            }
        }
    }
    panic!("the core asked for a hundred thousand turns");
}

#[test]
fn deferred_writes_match_blocking_writes() {
    let blocking = Rig::with(every_component());
    let deferred = Rig::with(every_component());
    let blocking_core = blocking.node.core(config());
    let mut deferred_core = Core::new(
        deferred.node.parts(
            deferred.node.recording_handler(),
            deferred.node.components(),
            config(),
        ),
        Dispatch::Inline,
        deferred.node.start,
    )
    .expect("the test config is valid");
    deferred_core.defer_writes(Arc::clone(&deferred.store) as _);
    blocking.node.scorer_changes.set();
    deferred.node.scorer_changes.set();

    let end = Duration::from_secs(3700);
    let expected = record(&blocking, blocking_core, end);
    let actual = record(&deferred, deferred_core, end);

    assert!(
        expected.len() > 370,
        "the scenario ran: {} instants",
        expected.len()
    );
    for (at, entries) in &expected {
        assert_eq!(actual.get(at), Some(entries), "at {at:?}");
    }
    assert_eq!(actual.len(), expected.len());
    let last = expected.values().last().expect("the stop was recorded");
    assert!(
        last.contains(&"write manager v0 []".to_owned())
            && last.contains(&"write scorer".to_owned()),
        "the final writes: {last:?}"
    );
}
