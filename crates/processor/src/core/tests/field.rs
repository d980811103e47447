//! Cases that went wrong in other background processors, each with one ordered trace.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning::events::{Event, ReplayEvent};
use lightning::util::logger::Level;
use vigil_scheduler::{Clock, Signal, Wake};

use super::{run_until, seconds_of, secs, turn};
use crate::config::Config;
use crate::core::{Core, Dispatch, Step};
use crate::testing::{event, label, GossipKind, Node, Optional};

fn config() -> Config {
    Config {
        ping_interval: secs(10),
        ..Config::default()
    }
}

/// Asserts that `signal` is raised and consumes the raise.
fn consume_raise(node: &Node, signal: &Signal) {
    assert!(
        signal.is_raised(),
        "the wake source raised the processor's signal"
    );
    let far = node.now() + secs(3600);
    assert_eq!(node.clock.wait_until(signal, far), Wake::Signalled);
}

fn index_of(entries: &[String], entry: &str) -> usize {
    entries
        .iter()
        .position(|e| e == entry)
        .unwrap_or_else(|| panic!("{entry:?} missing from {entries:?}"))
}

#[test]
fn peer_block_change_written_before_next_event() {
    // A PeerManager call that blocked for seconds, changed the ChannelManager and queued an
    // event used to let the event reach the handler before the change was written.
    let node = Node::new(Optional::default());
    let manager = Arc::clone(&node.manager);
    let clock = node.clock.clone();
    let blocked = AtomicBool::new(false);
    let mut components = node.components();
    components.peer_manager = Arc::new(node.peer_manager_mock(move || {
        if !blocked.swap(true, Ordering::SeqCst) {
            clock.advance(secs(3));
            manager.queue(event('X'));
        }
    }));
    let parts = node.parts(node.recording_handler(), components, config());
    let mut core = Core::new(parts, Dispatch::Inline, node.start).expect("valid config");

    turn(&mut core, &node);
    turn(&mut core, &node);

    let entries = node.trace.entries();
    let write = index_of(&entries, "write manager v1 [X]");
    let handle = index_of(&entries, "handle X");
    assert!(write < handle, "{entries:?}");
}

#[test]
fn graph_and_scorer_failures_are_not_fatal() {
    let node = Node::new(Optional {
        gossip: Some(GossipKind::P2p),
        scorer: true,
        ..Optional::default()
    });
    node.store
        .faults
        .fail_key("network_graph", ErrorKind::Other);
    node.store.faults.fail_key("scorer", ErrorKind::Other);
    let mut core = node.core(config());

    let mut record = run_until(&mut core, &node, Duration::ZERO);
    for change in 1..=12u64 {
        let at = secs(change * 600);
        record.extend(run_until(&mut core, &node, at - Duration::from_millis(1)));
        node.advance_to(at);
        node.manager.change();
        record.extend(run_until(&mut core, &node, at));
        let written = format!("write manager v{change} []");
        assert_eq!(
            seconds_of(&record, &written),
            [at.as_secs()],
            "change {change} written at once"
        );
    }
    record.extend(run_until(&mut core, &node, secs(2 * 3600)));

    let stats = core.stats();
    assert_eq!(
        stats.key("manager").writes,
        13,
        "the start write and one per change"
    );
    assert_eq!(stats.key("manager").failures, 0);
    assert_eq!(
        stats.key("network_graph").failures,
        2,
        "prunes at 60 s and 3660 s"
    );
    assert_eq!(
        stats.key("scorer").failures,
        24,
        "every 5 minutes for 2 hours"
    );
    assert!(
        matches!(core.turn(node.now()), Step::Wait(_)),
        "the processor still runs"
    );
}

#[test]
fn peers_disconnected_before_final_write() {
    // Peers that kept talking during stop used to change the ChannelManager after its
    // final write.
    let node = Node::new(Optional::default());
    let disconnected = Arc::new(AtomicBool::new(false));
    let mut peers = crate::components::MockPeerManagerDriver::new();
    let (manager, trace, gone) = (
        Arc::clone(&node.manager),
        node.trace.clone(),
        Arc::clone(&disconnected),
    );
    peers.expect_process_events().returning(move || {
        if !gone.load(Ordering::SeqCst) {
            trace.push("peer message changes manager");
            manager.change();
        }
    });
    peers.expect_timer_tick_occurred().return_const(());
    let (trace, gone) = (node.trace.clone(), Arc::clone(&disconnected));
    peers.expect_disconnect_all_peers().returning(move || {
        trace.push("pm.disconnect");
        gone.store(true, Ordering::SeqCst);
    });
    let mut components = node.components();
    components.peer_manager = Arc::new(peers);
    let parts = node.parts(node.recording_handler(), components, config());
    let mut core = Core::new(parts, Dispatch::Inline, node.start).expect("valid config");
    turn(&mut core, &node);
    node.trace.take();

    core.request_stop();
    assert!(matches!(core.turn(node.now()), Step::Finished(Ok(()))));

    let entries = node.trace.entries();
    let final_version = node.manager.version.load(Ordering::SeqCst);
    assert_eq!(entries[0], "pm.disconnect", "{entries:?}");
    let final_write = format!("write manager v{final_version} []");
    assert_eq!(
        entries.last(),
        Some(&final_write),
        "the final write holds the last change"
    );
    assert_eq!(node.trace.count("peer message changes manager"), 0);
}

fn run_suspended(suspend_threshold: Option<Duration>) -> (Node, Vec<(Duration, String)>) {
    let node = Node::new(Optional::default());
    let mut core = node.core(Config {
        suspend_threshold,
        ..config()
    });
    let mut record = run_until(&mut core, &node, secs(5));

    // The wait for the ping at 10 s returns 30 s late.
    let deadline = node.start + secs(10);
    node.advance_to(secs(40));
    core.record_wait(deadline, node.now());
    record.extend(run_until(&mut core, &node, secs(55)));
    (node, record)
}

#[test]
fn suspend_disconnects_peers_once() {
    let (node, record) = run_suspended(Some(secs(1)));

    assert_eq!(seconds_of(&record, "pm.disconnect"), [40]);
    assert_eq!(
        seconds_of(&record, "pm.timer_tick"),
        [50],
        "the ping timer restarted at 40 s"
    );
    assert_eq!(
        node.logger
            .count(Level::Info, "assuming the process was suspended"),
        1
    );
}

#[test]
fn suspend_detection_off_ticks_once() {
    let (_, record) = run_suspended(None);

    assert_eq!(seconds_of(&record, "pm.disconnect"), Vec::<u64>::new());
    assert_eq!(
        seconds_of(&record, "pm.timer_tick"),
        [40, 50],
        "one late tick, not three"
    );
}

/// A wake source's name, how to fire it, and the trace entry that shows it was served.
type WakeCase<'a> = (&'static str, Box<dyn Fn() + 'a>, &'static str);

#[test]
fn wake_sources_served_at_once() {
    let node = Node::new(Optional {
        messenger: true,
        liquidity: true,
        ..Optional::default()
    });
    let mut core = node.core(config());
    let signal = core.signal();
    turn(&mut core, &node);
    node.advance_to(secs(3));
    turn(&mut core, &node);
    if signal.is_raised() {
        consume_raise(&node, &signal);
    }
    node.trace.take();

    let cases: [WakeCase; 4] = [
        (
            "channel manager",
            Box::new(|| node.manager.change()),
            "write manager v1 []",
        ),
        (
            "chain monitor",
            Box::new(|| node.monitor.push(event('M'))),
            "handle M",
        ),
        (
            "onion messenger",
            Box::new(|| node.messenger.push(event('O'))),
            "handle O",
        ),
        (
            "liquidity manager",
            Box::new(|| node.liquidity.notifier.notify()),
            "liquidity.persist",
        ),
    ];
    for (name, fire, served) in cases {
        fire();
        consume_raise(&node, &signal);
        let at = node.now();
        turn(&mut core, &node);
        assert_eq!(node.now(), at);
        assert!(
            node.trace.take().iter().any(|e| e == served),
            "{name} served in the same instant"
        );
        // Writing after the events may raise the signal once more.
        if signal.is_raised() {
            consume_raise(&node, &signal);
            turn(&mut core, &node);
            node.trace.take();
        }
    }
}

#[test]
fn rapid_sync_gates_first_prune() {
    let node = Node::new(Optional {
        gossip: Some(GossipKind::Rapid),
        ..Optional::default()
    });
    let mut core = node.core(config());

    let mut record = run_until(&mut core, &node, Duration::from_millis(4999));
    assert_eq!(seconds_of(&record, "graph.prune"), Vec::<u64>::new());
    assert_eq!(
        seconds_of(&record, "write network_graph"),
        Vec::<u64>::new()
    );

    node.rapid_sync_complete.store(true, Ordering::SeqCst);
    record.extend(run_until(&mut core, &node, secs(2 * 3600 + 10)));

    assert_eq!(seconds_of(&record, "graph.prune"), [5, 3605, 7205]);
    assert_eq!(seconds_of(&record, "write network_graph"), [5, 3605, 7205]);
}

#[test]
fn rapid_sync_never_complete_never_prunes() {
    let node = Node::new(Optional {
        gossip: Some(GossipKind::Rapid),
        ..Optional::default()
    });
    let mut core = node.core(config());

    let record = run_until(&mut core, &node, secs(2 * 3600));
    assert_eq!(seconds_of(&record, "graph.prune"), Vec::<u64>::new());
    assert_eq!(
        seconds_of(&record, "write network_graph"),
        Vec::<u64>::new()
    );

    core.request_stop();
    assert!(matches!(core.turn(node.now()), Step::Finished(Ok(()))));
    assert_eq!(
        node.trace.count("write network_graph"),
        0,
        "an unsynced graph is not written at stop either"
    );
}

#[test]
fn no_wall_clock_skips_prune_and_decay() {
    let node = Node::new(Optional {
        gossip: Some(GossipKind::P2p),
        scorer: true,
        ..Optional::default()
    });
    node.clock.set_wall_time(None);
    let mut core = node.core(config());

    let record = run_until(&mut core, &node, secs(3700));

    assert_eq!(seconds_of(&record, "graph.prune"), Vec::<u64>::new());
    assert_eq!(seconds_of(&record, "scorer.decay"), Vec::<u64>::new());
    assert_eq!(seconds_of(&record, "write network_graph"), [60, 3660]);
    assert_eq!(
        node.logger
            .count(Level::Warn, "skipping network graph prune"),
        2
    );
    assert_eq!(node.logger.count(Level::Warn, "skipping scorer decay"), 13);
}

#[test]
fn manager_write_starts_before_slow_prune() {
    let node = Node::new(Optional::default());
    let mut gossip = node.gossip_mock(GossipKind::P2p);
    gossip.checkpoint();
    gossip.expect_waits_for_initial_sync().return_const(false);
    gossip.expect_is_initial_sync_complete().return_const(true);
    gossip.expect_encode_graph().returning(|| b"graph".to_vec());
    let (trace, clock) = (node.trace.clone(), node.clock.clone());
    gossip
        .expect_remove_stale_channels_and_tracking_with_time()
        .returning(move |_| {
            trace.push("graph.prune started");
            clock.advance(secs(4));
            trace.push("graph.prune finished");
        });
    let mut components = node.components();
    components.gossip = Some(Arc::new(gossip));
    let parts = node.parts(node.recording_handler(), components, config());
    let mut core = Core::new(parts, Dispatch::Inline, node.start).expect("valid config");
    run_until(&mut core, &node, secs(59));

    node.advance_to(secs(60));
    node.manager.change();
    turn(&mut core, &node);

    let entries = node.trace.entries();
    let write = index_of(&entries, "write manager v1 []");
    let prune = index_of(&entries, "graph.prune started");
    assert!(write < prune, "{entries:?}");
}

#[test]
fn replayed_event_keeps_order() {
    let node = Node::new(Optional::default());
    let trace = node.trace.clone();
    let rejected_once = AtomicBool::new(false);
    let handler = move |event: Event| -> Result<(), ReplayEvent> {
        let label = label(&event);
        if label == 'B' && !rejected_once.swap(true, Ordering::SeqCst) {
            trace.push("reject B");
            return Err(ReplayEvent());
        }
        trace.push(format!("handle {label}"));
        Ok(())
    };
    let parts = node.parts(handler, node.components(), config());
    let mut core = Core::new(parts, Dispatch::Inline, node.start).expect("valid config");
    for label in ['A', 'B', 'C'] {
        node.manager.queue(event(label));
    }

    let mut record = Vec::new();
    for _ in 0..3 {
        turn(&mut core, &node);
        record.extend(node.trace.take());
    }

    let handled: Vec<&str> = record
        .iter()
        .filter(|e| e.starts_with("handle") || e.starts_with("reject"))
        .map(String::as_str)
        .collect();
    assert_eq!(handled, ["handle A", "reject B", "handle B", "handle C"]);
}

#[test]
fn claims_rebroadcast_every_30_seconds() {
    let node = Node::new(Optional::default());
    let mut core = node.core(config());

    let record = run_until(&mut core, &node, secs(95));

    assert_eq!(seconds_of(&record, "monitor.rebroadcast"), [0, 30, 60, 90]);
}

#[test]
fn first_event_waits_for_start_write() {
    // An event pending at start reaches the handler only after a write that contains it.
    let node = Node::new(Optional::default());
    node.manager.queue(event('A'));
    let mut core = node.core(config());

    turn(&mut core, &node);

    let entries = node.trace.entries();
    let write = index_of(&entries, "write manager v1 [A]");
    let handle = index_of(&entries, "handle A");
    assert!(write < handle, "{entries:?}");
}
