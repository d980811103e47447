//! The duties of the core, run through the async runner.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::support::{config, within, Rig};
use crate::config::Config;
use crate::stats::EventSource;
use crate::testing::{event, GossipKind, Optional};

const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test]
async fn events_from_each_source_reach_handler() {
    let rig = Rig::with(Optional {
        messenger: true,
        ..Optional::default()
    });
    rig.node.manager.queue(event('A'));
    rig.node.monitor.push(event('B'));
    rig.node.messenger.push(event('C'));
    let (handled_sender, mut handled) = tokio::sync::mpsc::unbounded_channel();
    let trace = rig.node.trace.clone();
    let handler = move |event: lightning::events::Event| {
        trace.push(format!("handle {}", crate::testing::label(&event)));
        let _ = handled_sender.send(());
        std::future::ready(Ok(()))
    };
    let processor = rig.builder(handler, config()).spawn().expect("spawns");

    for _ in 0..3 {
        within("an event is handled", handled.recv()).await;
    }
    processor.stop().await.expect("stops cleanly");

    assert_eq!(
        rig.entries_starting("handle"),
        ["handle A", "handle B", "handle C"]
    );
}

#[tokio::test]
async fn stats_count_events_per_source() {
    let rig = Rig::with(Optional {
        messenger: true,
        ..Optional::default()
    });
    rig.node.manager.queue(event('A'));
    rig.node.monitor.push(event('B'));
    rig.node.messenger.push(event('C'));
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    let stopper = processor.stopper();
    within("every event is handled", async {
        while rig.entries_starting("handle").len() < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    let stats = stopper.stats();
    assert_eq!(stats.events_from(EventSource::ChannelManager), 1);
    assert_eq!(stats.events_from(EventSource::ChainMonitor), 1);
    assert_eq!(stats.events_from(EventSource::OnionMessenger), 1);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn manager_written_only_when_needed() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");

    // A new processor writes once at start, in case an earlier one took LDK's flag and
    // failed before writing.
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(secs(1)).await;
    rig.node.advance_to(secs(5));
    rig.wait_for_idle(secs(1)).await;
    assert_eq!(rig.entries_starting("write"), ["write manager v0 []"]);

    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(secs(1)).await;
    rig.node.advance_to(secs(6));
    rig.wait_for_idle(secs(1)).await;

    assert_eq!(
        rig.entries_starting("write"),
        ["write manager v0 []", "write manager v1 []"]
    );
    assert_eq!(processor.stats().key("manager").writes, 2);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn timers_fire_at_first_delay_and_interval() {
    let mut rig = Rig::with(Optional {
        messenger: true,
        gossip: Some(GossipKind::P2p),
        sweeper: true,
        ..Optional::default()
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");

    rig.run_until(secs(3700)).await;
    rig.wait_for_idle(secs(1)).await;
    let count = |entry: &str| rig.node.trace.count(entry);

    // Due at 0, 60, ..., 3660 s for the ChannelManager; every 10 s from 10 s for pings.
    assert_eq!(count("cm.timer_tick"), 62);
    assert_eq!(count("monitor.rebroadcast"), 124);
    assert_eq!(count("pm.timer_tick"), 370);
    assert_eq!(count("om.timer_tick"), 370);
    assert_eq!(count("sweeper.run"), 123);
    assert_eq!(count("monitor.archive"), 7);
    assert_eq!(count("graph.prune"), 2);
    assert_eq!(count("write network_graph"), 2);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn idle_node_wakes_only_for_due_jobs() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");

    rig.run_until(secs(600)).await;
    rig.wait_for_idle(secs(1)).await;

    // In 10 minutes jobs are due at every 10 s (pings; the 30 s and 60 s jobs fall on the
    // same instants) and at 15 s (archive): 61 instants. The only other wake-up is the
    // completion of the start write.
    let stats = processor.stats();
    assert_eq!(stats.wakeups, 62, "{stats:?}");
    // One registration per source at start, and none since: no future completed.
    assert_eq!(stats.wake_registrations, 2, "{stats:?}");
    assert_eq!(
        rig.node.manager.events.registrations.load(Ordering::SeqCst),
        1
    );
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn failed_write_is_retried_after_backoff() {
    let mut rig = Rig::new();
    rig.node
        .store
        .faults
        .fail_nth_write(1, std::io::ErrorKind::TimedOut);
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");

    assert_eq!(rig.next_write().await, "manager");
    let retry_at = loop {
        let deadline = rig.wait_for_idle(Duration::ZERO).await;
        if deadline - rig.node.start < secs(1) {
            break deadline;
        }
    };
    assert_eq!(
        retry_at - rig.node.start,
        Duration::from_millis(100),
        "the default policy's first backoff"
    );
    rig.node.advance_to(Duration::from_millis(100));
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(secs(1)).await;

    assert_eq!(
        rig.entries_starting("write"),
        ["write manager failed", "write manager v0 []"]
    );
    let stats = processor.stats();
    assert_eq!(stats.key("manager").failures, 1);
    assert_eq!(stats.key("manager").writes, 1);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn mobile_flag_detects_suspend() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .mobile(true)
        .spawn()
        .expect("spawns");
    let first = rig.wait_for_idle(Duration::ZERO).await;
    assert!(
        first - rig.node.now() <= secs(1),
        "a mobile runner waits at most the suspend threshold"
    );

    // The process is suspended for 5 s in the middle of a 10 s ping wait.
    rig.node.advance_to(secs(5));
    within("the suspend is noticed", async {
        while processor.stats().suspends == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    assert_eq!(rig.node.trace.count("pm.disconnect"), 1);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn suspend_inside_long_wait_is_missed_without_mobile_flag() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    let deadline = rig.wait_for_idle(secs(1)).await;
    assert_eq!(deadline - rig.node.start, secs(10), "the first ping");

    // The wait still ends on time, so nothing shows the runner that the process was suspended.
    rig.node.advance_to(secs(5));
    rig.node.advance_to(secs(10));
    rig.wait_for_idle(secs(1)).await;

    assert_eq!(processor.stats().suspends, 0);
    assert_eq!(rig.node.trace.count("pm.disconnect"), 0);

    // A wait that overran its deadline by more than the threshold is a suspend either way.
    rig.node.advance_to(secs(25));
    rig.wait_for_idle(secs(1)).await;
    assert_eq!(processor.stats().suspends, 1);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn config_error_is_returned_by_build() {
    let rig = Rig::new();
    let result = rig
        .builder(
            rig.recording_handler(),
            Config {
                ping_interval: Duration::ZERO,
                ..config()
            },
        )
        .build();

    assert!(
        matches!(result, Err(crate::Error::Config(_))),
        "an invalid config is an error, not a panic"
    );
}

#[tokio::test]
async fn slow_turn_is_not_a_suspend() {
    // A turn that itself ran past its deadline used to count as a suspend, because lateness
    // was measured from the deadline rather than from the start of the wait.
    let mut rig = Rig::new();
    let clock = rig.node.clock.clone();
    let slow = Arc::new(AtomicBool::new(false));
    let armed = Arc::clone(&slow);
    rig.peers = Arc::new(rig.node.peer_manager_mock(move || {
        if armed.swap(false, Ordering::SeqCst) {
            clock.advance(secs(15));
        }
    }));
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    rig.wait_for_idle(secs(1)).await;

    slow.store(true, Ordering::SeqCst);
    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    rig.forget_waits();
    rig.wait_for_idle(secs(1)).await;

    assert!(!slow.load(Ordering::SeqCst), "the slow turn ran");
    assert_eq!(processor.stats().suspends, 0);
    assert_eq!(rig.node.trace.count("pm.disconnect"), 0);
    processor.stop().await.expect("stops cleanly");
}

/// Advances virtual time to each deadline the runner waits for, from `next` up to `end`
/// since start. Returns the first deadline past `end` once the runner waits for it, so every
/// turn up to `end` has run.
async fn step_through(rig: &mut Rig, mut next: Instant, end: Duration) -> Instant {
    while next <= rig.node.start + end {
        if next > rig.node.now() {
            rig.node.advance_to(next - rig.node.start);
        }
        next = rig.wait_for_idle(Duration::ZERO).await;
    }
    next
}

#[tokio::test]
async fn rapid_sync_gates_first_prune() {
    let mut rig = Rig::with(Optional {
        gossip: Some(GossipKind::Rapid),
        ..Optional::default()
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    let count = |rig: &Rig, entry: &str| rig.node.trace.count(entry);
    let mut next = rig.wait_for_idle(Duration::ZERO).await;

    next = step_through(&mut rig, next, Duration::from_millis(4999)).await;
    assert_eq!(count(&rig, "graph.prune"), 0);
    assert_eq!(count(&rig, "write network_graph"), 0);

    // The sync is checked every second. Once it is complete, the graph is pruned and written hourly.
    rig.node.rapid_sync_complete.store(true, Ordering::SeqCst);
    for (end, prunes) in [(5, 1), (3604, 1), (3605, 2), (7204, 2), (7205, 3)] {
        next = step_through(&mut rig, next, secs(end)).await;
        assert_eq!(count(&rig, "graph.prune"), prunes, "by {end} s");
        assert_eq!(count(&rig, "write network_graph"), prunes, "by {end} s");
    }
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn rapid_sync_never_complete_never_prunes() {
    let mut rig = Rig::with(Optional {
        gossip: Some(GossipKind::Rapid),
        ..Optional::default()
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");

    rig.run_until(secs(2 * 3600)).await;
    rig.wait_for_idle(secs(1)).await;
    assert_eq!(rig.node.trace.count("graph.prune"), 0);
    assert_eq!(rig.node.trace.count("write network_graph"), 0);

    processor.stop().await.expect("stops cleanly");
    assert_eq!(
        rig.node.trace.count("write network_graph"),
        0,
        "an unsynced graph is not written at stop either"
    );
}
