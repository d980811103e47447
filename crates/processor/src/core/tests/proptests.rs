//! Property tests of the ordering of events against ChannelManager writes.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use lightning::events::{Event, ReplayEvent};
use parking_lot::Mutex;
use proptest::prelude::*;
use vigil_persistence::RetryPolicy;

use super::turn;
use crate::config::Config;
use crate::core::{Core, Dispatch};
use crate::testing::{event, label, Node, Optional};

/// One thing that happens to the node between two turns.
#[derive(Clone, Debug)]
enum Step {
    Change,
    QueueManagerEvent,
    PushMonitorEvent,
    PushMessengerEvent,
    FailNextWrite,
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        Just(Step::Change),
        Just(Step::QueueManagerEvent),
        Just(Step::PushMonitorEvent),
        Just(Step::PushMessengerEvent),
        Just(Step::FailNextWrite),
        (1u64..5_000).prop_map(Step::Advance),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(step(), 1..40)
}

/// What the handler saw at each call: the event, the state it would store now, and the
/// state last stored.
type Observed = Arc<Mutex<Vec<(char, Vec<u8>, Option<String>)>>>;

fn core_over(node: &Node, observed: &Observed) -> Core {
    let (manager, store, seen) = (
        Arc::clone(&node.manager),
        Arc::clone(&node.store),
        Arc::clone(observed),
    );
    let handler = move |event: Event| -> Result<(), ReplayEvent> {
        seen.lock()
            .push((label(&event), manager.encode(), store.value("manager")));
        Ok(())
    };
    // Enough attempts that injected failures never end the processor.
    let retry_policy = RetryPolicy::new(100, Duration::from_millis(100), Duration::from_secs(1))
        .expect("valid policy");
    let config = Config {
        ping_interval: Duration::from_secs(10),
        retry_policy,
        ..Config::default()
    };
    let parts = node.parts(handler, node.components(), config);
    Core::new(parts, Dispatch::Inline, node.start).expect("valid config")
}

fn apply(node: &Node, step: &Step, next_label: &mut u8) {
    let mut fresh_label = || {
        let label = char::from(b'!' + *next_label);
        *next_label += 1;
        label
    };
    match step {
        Step::Change => node.manager.change(),
        Step::QueueManagerEvent => node.manager.queue(event(fresh_label())),
        Step::PushMonitorEvent => node.monitor.push(event(fresh_label())),
        Step::PushMessengerEvent => node.messenger.push(event(fresh_label())),
        Step::FailNextWrite => {
            let next = node.store.faults.total_writes() + 1;
            node.store
                .faults
                .fail_nth_write(next, ErrorKind::Interrupted);
        }
        Step::Advance(millis) => node.clock.advance(Duration::from_millis(*millis)),
    }
}

proptest! {
    #[test]
    fn events_follow_owed_writes(steps in steps()) {
        let node = Node::new(Optional { messenger: true, ..Optional::default() });
        let observed = Observed::default();
        let mut core = core_over(&node, &observed);
        let mut next_label = 0;

        for step in &steps {
            apply(&node, step, &mut next_label);
            turn(&mut core, &node);
        }
        // Let the retries of any failed write run out their backoff and finish.
        for _ in 0..20 {
            node.clock.advance(Duration::from_secs(1));
            turn(&mut core, &node);
        }

        let observed = observed.lock();
        for (label, current, stored) in observed.iter() {
            let current = String::from_utf8_lossy(current).into_owned();
            prop_assert_eq!(
                Some(&current),
                stored.as_ref(),
                "event {} was handed out before the state it came with was stored",
                label
            );
        }
        let mut handled: Vec<char> = observed.iter().map(|(label, _, _)| *label).collect();
        handled.sort_unstable();
        let queued: Vec<char> = (0..next_label).map(|n| char::from(b'!' + n)).collect();
        prop_assert_eq!(handled, queued, "every event was handed out exactly once");
    }
}
