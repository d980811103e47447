//! Step-by-step tests of the core in virtual time, over the simulated node of
//! `crate::testing`.

mod duties;
mod failures;
mod field;
mod proptests;

use std::time::{Duration, Instant};

use crate::core::{Core, Step};
use crate::testing::Node;

/// Turns the core at the node's current virtual time and returns the deadline it asks for.
fn turn(core: &mut Core, node: &Node) -> Instant {
    match core.turn(node.now()) {
        Step::Wait(deadline) => deadline,
        Step::Finished(result) => panic!("the core finished unexpectedly: {result:?}"),
    }
}

/// Drives the core as the thread runner does, advancing virtual time to each deadline it
/// returns, until the next deadline is past `end`. Returns every trace entry with the
/// virtual time since start at which it happened.
fn run_until(core: &mut Core, node: &Node, end: Duration) -> Vec<(Duration, String)> {
    let mut record = Vec::new();
    for _ in 0..1_000_000 {
        let deadline = turn(core, node);
        let at = node.now() - node.start;
        record.extend(node.trace.take().into_iter().map(|entry| (at, entry)));
        if deadline - node.start > end {
            node.advance_to(end);
            return record;
        }
        node.advance_to(deadline - node.start);
    }
    panic!("the core asked for a million turns before {end:?}");
}

/// Returns the whole seconds at which `entry` appears in `record`.
fn seconds_of(record: &[(Duration, String)], entry: &str) -> Vec<u64> {
    record
        .iter()
        .filter(|(_, e)| e == entry)
        .map(|(at, _)| at.as_secs())
        .collect()
}

/// Returns the entries of `record` that start with `prefix`.
fn entries_starting(record: &[(Duration, String)], prefix: &str) -> Vec<String> {
    record
        .iter()
        .filter(|(_, e)| e.starts_with(prefix))
        .map(|(_, e)| e.clone())
        .collect()
}

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}
