//! One test per duty of the core.

use std::io::ErrorKind;
use std::sync::atomic::Ordering;
use std::time::Duration;

use vigil_persistence::RetryPolicy;

use super::{entries_starting, run_until, seconds_of, secs, turn};
use crate::config::Config;
use crate::core::Step;
use crate::error::Error;
use crate::stats::EventSource;
use crate::testing::{event, GossipKind, Node, Optional};

/// The default config with the release-build ping interval, so that times do not depend on
/// the build profile.
fn config() -> Config {
    Config {
        ping_interval: secs(10),
        ..Config::default()
    }
}

fn every(interval: u64, from: u64, to: u64) -> Vec<u64> {
    (from..=to).step_by(interval as usize).collect()
}

#[test]
fn events_from_each_source_reach_handler() {
    let node = Node::new(Optional {
        messenger: true,
        ..Optional::default()
    });
    let mut core = node.core(config());
    node.manager.queue(event('A'));
    node.monitor.push(event('B'));
    node.messenger.push(event('C'));

    turn(&mut core, &node);

    let handled: Vec<String> = node
        .trace
        .entries()
        .into_iter()
        .filter(|entry| entry.starts_with("handle"))
        .collect();
    assert_eq!(handled, ["handle A", "handle B", "handle C"]);
    let stats = core.stats();
    assert_eq!(stats.events_from(EventSource::ChannelManager), 1);
    assert_eq!(stats.events_from(EventSource::ChainMonitor), 1);
    assert_eq!(stats.events_from(EventSource::OnionMessenger), 1);
}

#[test]
fn manager_written_only_when_needed() {
    let node = Node::new(Optional::default());
    let mut core = node.core(config());

    // A new core writes once at start, in case an earlier one took LDK's flag and failed.
    turn(&mut core, &node);
    assert_eq!(node.trace.count("write manager v0 []"), 1);
    node.trace.take();

    node.advance_to(secs(5));
    turn(&mut core, &node);
    assert_eq!(
        node.trace
            .entries()
            .iter()
            .filter(|e| e.starts_with("write"))
            .count(),
        0
    );

    node.manager.change();
    turn(&mut core, &node);
    assert_eq!(
        entries_starting(&tagged(&node), "write"),
        ["write manager v1 []"]
    );

    node.advance_to(secs(6));
    turn(&mut core, &node);
    assert!(entries_starting(&tagged(&node), "write").is_empty());
    assert_eq!(core.stats().key("manager").writes, 2);
}

fn tagged(node: &Node) -> Vec<(Duration, String)> {
    node.trace
        .take()
        .into_iter()
        .map(|e| (Duration::ZERO, e))
        .collect()
}

#[test]
fn timers_fire_at_first_delay_and_interval() {
    let node = Node::new(Optional {
        messenger: true,
        gossip: Some(GossipKind::P2p),
        scorer: true,
        sweeper: true,
        liquidity: false,
    });
    let mut core = node.core(config());

    let record = run_until(&mut core, &node, secs(3700));

    assert_eq!(seconds_of(&record, "cm.timer_tick"), every(60, 0, 3700));
    assert_eq!(
        seconds_of(&record, "monitor.rebroadcast"),
        every(30, 0, 3700)
    );
    assert_eq!(seconds_of(&record, "pm.timer_tick"), every(10, 10, 3700));
    assert_eq!(seconds_of(&record, "om.timer_tick"), every(10, 10, 3700));
    assert_eq!(seconds_of(&record, "sweeper.run"), every(30, 30, 3700));
    assert_eq!(seconds_of(&record, "monitor.archive"), every(600, 15, 3700));
    assert_eq!(seconds_of(&record, "graph.prune"), [60, 3660]);
    assert_eq!(seconds_of(&record, "write network_graph"), [60, 3660]);
    assert_eq!(seconds_of(&record, "scorer.decay"), every(300, 0, 3700));
    assert_eq!(seconds_of(&record, "write scorer"), every(300, 300, 3700));
}

#[test]
fn timers_do_not_fire_early() {
    let node = Node::new(Optional {
        messenger: true,
        gossip: Some(GossipKind::P2p),
        sweeper: true,
        ..Optional::default()
    });
    let mut core = node.core(config());
    turn(&mut core, &node);
    node.trace.take();

    // Just before each first deadline, only the jobs due earlier have fired.
    let first_due = [
        ("pm.timer_tick", 10),
        ("om.timer_tick", 10),
        ("monitor.archive", 15),
        ("sweeper.run", 30),
        ("monitor.rebroadcast", 30),
        ("graph.prune", 60),
        ("cm.timer_tick", 60),
    ];
    for just_before in [9_999, 14_999, 29_999, 59_999] {
        node.advance_to(Duration::from_millis(just_before));
        turn(&mut core, &node);
        let fired = node.trace.entries();
        for (job, due) in first_due {
            if due * 1000 > just_before {
                assert!(
                    !fired.iter().any(|e| e == job),
                    "{job} fired before {due} s, at {just_before} ms"
                );
            }
        }
    }
    let fired = node.trace.entries();
    for (job, _) in first_due.iter().filter(|(_, due)| *due < 60) {
        assert!(fired.iter().any(|e| e == job), "{job} fired by 59.999 s");
    }
}

#[test]
fn overdue_jobs_fire_once_after_jump() {
    // ping every 10 s, no turn between 0 s and 95 s
    // due:    10  20  30  40  50  60  70  80  90
    // runs:                                     95  105
    let node = Node::new(Optional::default());
    let mut core = node.core(Config {
        suspend_threshold: None,
        ..config()
    });
    turn(&mut core, &node);
    node.trace.take();

    node.advance_to(secs(95));
    let deadline = turn(&mut core, &node);

    assert_eq!(node.trace.count("pm.timer_tick"), 1);
    assert_eq!(node.trace.count("monitor.rebroadcast"), 1);
    assert_eq!(node.trace.count("cm.timer_tick"), 1);
    assert_eq!(node.trace.count("monitor.archive"), 1);
    assert_eq!(
        deadline - node.start,
        secs(105),
        "the ping timer re-arms from the late run"
    );
}

#[test]
fn scorer_writes_are_coalesced() {
    let node = Node::new(Optional {
        scorer: true,
        ..Optional::default()
    });
    let mut core = node.core(config());
    turn(&mut core, &node);
    node.trace.take();

    // An event changes the scorer every 100 ms for 3 s.
    let mut writes = Vec::new();
    for step in 1..=30 {
        node.advance_to(Duration::from_millis(100 * step));
        node.scorer_changes.set();
        let deadline = turn(&mut core, &node);
        if node.trace.take().iter().any(|e| e == "write scorer") {
            writes.push(node.now() - node.start);
        } else {
            assert!(
                deadline - node.now() <= secs(1),
                "a pending scorer change is written within the coalescing interval"
            );
        }
    }

    assert_eq!(
        writes,
        [secs(1), secs(2), secs(3)],
        "30 changes, one write a second"
    );
}

#[test]
fn forwards_wait_for_batch_delay() {
    let node = Node::new(Optional::default());
    let mut core = node.core(config());
    node.manager.needs_forwards.store(true, Ordering::SeqCst);

    let deadline = turn(&mut core, &node);
    assert_eq!(
        deadline - node.start,
        secs(2),
        "the first forward batch waits 2 s"
    );
    assert_eq!(node.trace.count("cm.forwards"), 0);

    node.advance_to(secs(2));
    turn(&mut core, &node);
    assert_eq!(node.trace.count("cm.forwards"), 1);

    node.manager.needs_forwards.store(true, Ordering::SeqCst);
    let deadline = turn(&mut core, &node);
    assert_eq!(deadline - node.start, Duration::from_millis(2050));
    node.advance_to(Duration::from_millis(2050));
    turn(&mut core, &node);
    assert_eq!(node.trace.count("cm.forwards"), 2);
}

#[test]
fn forwards_skipped_when_none_pending() {
    // LDK's processor also calls process_pending_htlc_forwards with nothing pending; Vigil
    // does not, and `ldk_compat` documents the difference.
    let node = Node::new(Optional::default());
    let mut core = node.core(config());

    run_until(&mut core, &node, secs(60));

    assert_eq!(node.trace.count("cm.forwards"), 0);
}

#[test]
fn failing_manager_write_retries_then_stops() {
    let node = Node::new(Optional::default());
    let policy = RetryPolicy::new(3, Duration::from_millis(100), secs(5)).expect("valid policy");
    let mut core = node.core(Config {
        retry_policy: policy,
        ..config()
    });
    node.store
        .faults
        .fail_key("manager", ErrorKind::PermissionDenied);

    let first_retry = turn(&mut core, &node);
    assert_eq!(first_retry - node.start, Duration::from_millis(100));
    node.advance_to(Duration::from_millis(100));
    let second_retry = turn(&mut core, &node);
    assert_eq!(second_retry - node.start, Duration::from_millis(300));
    node.advance_to(Duration::from_millis(300));
    node.trace.take();

    let error = match core.turn(node.now()) {
        Step::Finished(Err(error)) => error,
        other => panic!("expected the core to stop with an error, got {other:?}"),
    };
    assert!(
        matches!(&error, Error::Persist { attempts: 3, .. }),
        "{error:?}"
    );
    assert_eq!(error.key(), Some("manager"));
    assert_eq!(error.io_kind(), Some(ErrorKind::PermissionDenied));
    assert_eq!(node.store.faults.writes("manager"), 3);
    assert_eq!(
        node.trace.entries(),
        ["write manager failed"],
        "no work after the last attempt"
    );
}

#[test]
fn retry_succeeds_after_transient_failure() {
    let node = Node::new(Optional::default());
    let mut core = node.core(config());
    node.store.faults.fail_nth_write(1, ErrorKind::Interrupted);
    node.manager.queue(event('A'));

    let retry_at = turn(&mut core, &node);
    assert_eq!(
        node.trace.count("handle A"),
        0,
        "no event before the owed write"
    );
    node.advance_to(retry_at - node.start);
    turn(&mut core, &node);

    let entries = node.trace.entries();
    let write = entries.iter().position(|e| e == "write manager v1 [A]");
    let handle = entries.iter().position(|e| e == "handle A");
    assert!(write.is_some(), "the retried write: {entries:?}");
    assert!(handle.is_some(), "the event after it: {entries:?}");
    assert!(write < handle, "the write before the event: {entries:?}");
    assert_eq!(core.stats().key("manager").failures, 1);
}

#[test]
fn stop_makes_final_writes_in_order() {
    // The order of lightning-background-processor 0.2.3: ChannelManager, scorer, graph.
    let node = Node::new(Optional {
        gossip: Some(GossipKind::P2p),
        scorer: true,
        ..Optional::default()
    });
    let mut core = node.core(config());
    turn(&mut core, &node);
    node.trace.take();

    core.request_stop();
    let step = core.turn(node.now());

    assert!(matches!(step, Step::Finished(Ok(()))), "{step:?}");
    assert_eq!(
        node.trace.entries(),
        [
            "pm.disconnect",
            "write manager v0 []",
            "write scorer",
            "write network_graph"
        ]
    );
    assert!(matches!(core.turn(node.now()), Step::Finished(Ok(()))));
    assert_eq!(
        node.trace.entries().len(),
        4,
        "a finished core does nothing"
    );
}

#[test]
fn stop_persists_liquidity_manager_last() {
    // The stop sequence used to end with the scorer, leaving LiquidityManager changes made
    // since its last signal unwritten.
    let node = Node::new(Optional {
        gossip: Some(GossipKind::P2p),
        scorer: true,
        liquidity: true,
        ..Optional::default()
    });
    let mut core = node.core(config());
    turn(&mut core, &node);
    node.trace.take();

    core.request_stop();
    let step = core.turn(node.now());

    assert!(matches!(step, Step::Finished(Ok(()))), "{step:?}");
    assert_eq!(
        node.trace.entries(),
        [
            "pm.disconnect",
            "write manager v0 []",
            "write scorer",
            "write network_graph",
            "liquidity.persist"
        ]
    );
}

#[test]
fn idle_day_keeps_registrations_bounded() {
    let node = Node::new(Optional {
        messenger: true,
        liquidity: true,
        ..Optional::default()
    });
    let mut core = node.core(config());

    run_until(&mut core, &node, secs(24 * 60 * 60));

    for (name, source) in [
        ("channel manager", &node.manager.events),
        ("chain monitor", &*node.monitor),
        ("onion messenger", &*node.messenger),
        ("liquidity manager", &*node.liquidity),
    ] {
        assert_eq!(
            source.registrations.load(Ordering::SeqCst),
            1,
            "{name}: one callback for a future that never completed"
        );
    }
    // An idle node turns only for due jobs: every 10 s for the ping and onion timers (the
    // 30 s and 60 s jobs share those instants), plus the archive job at 15 s past each
    // 10 minutes, plus the start.
    let idle_turns = 6 * 24 * 60 + 6 * 24 + 1;
    assert_eq!(core.stats().turns, idle_turns);

    for _ in 0..100 {
        node.manager.change();
        turn(&mut core, &node);
    }
    assert_eq!(
        node.manager.events.registrations.load(Ordering::SeqCst),
        101,
        "one registration per completion"
    );
}

#[test]
fn same_scenario_gives_same_record() {
    fn scenario() -> Vec<(Duration, String)> {
        let node = Node::new(Optional {
            messenger: true,
            gossip: Some(GossipKind::P2p),
            scorer: true,
            sweeper: true,
            liquidity: true,
        });
        let mut core = node.core(config());
        let mut record = run_until(&mut core, &node, secs(100));
        node.manager.queue(event('A'));
        node.monitor.push(event('B'));
        record.extend(run_until(&mut core, &node, secs(200)));
        record
    }

    let first = scenario();
    assert!(first.len() > 50, "the scenario did work");
    assert_eq!(first, scenario());
}
