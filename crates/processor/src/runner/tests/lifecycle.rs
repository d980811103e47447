//! Start, stop, drop, restart and the errors that end the thread runner.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::Duration;

use lightning::events::{Event, ReplayEvent};
use vigil_persistence::RetryPolicy;

use super::{config, on_thread, Rig, FAILURE_TIMEOUT};
use crate::config::Config;
use crate::error::Error;
use crate::runner::thread::BackgroundProcessor;
use crate::testing::{event, label, Node, ObservedClock, Optional};

#[test]
fn stop_wakes_far_waiter() {
    let rig = Rig::new();
    let processor = rig.start(rig.node.recording_handler(), config());
    assert_eq!(rig.next_write(), "manager", "the start write");
    rig.wait_for_idle(Duration::from_secs(1));

    // Virtual time never moves, so only the stop signal can end the wait.
    let result = on_thread(move || processor.stop());

    assert!(result.is_ok(), "{result:?}");
    let entries = rig.node.trace.entries();
    assert_eq!(
        entries.last().map(String::as_str),
        Some("write manager v0 []")
    );
}

#[test]
fn drop_stops_processor() {
    let rig = Rig::new();
    let processor = rig.start(rig.node.recording_handler(), config());
    rig.wait_for_idle(Duration::from_secs(1));
    rig.node.trace.take();

    on_thread(move || drop(processor));

    let entries = rig.node.trace.entries();
    let disconnect = entries
        .iter()
        .position(|e| e == "pm.disconnect")
        .expect("peers disconnected");
    assert_eq!(
        entries[disconnect..],
        ["pm.disconnect", "write manager v0 []"]
    );
}

#[test]
fn stop_right_after_change_writes_newest_state() {
    // A change made just before stop() used to be lost when the final write was skipped or
    // made from an older encoding.
    let rig = Rig::new();
    let processor = rig.start(rig.node.recording_handler(), config());
    rig.wait_for_idle(Duration::from_secs(1));
    rig.node.trace.take();

    rig.node.manager.change();
    let result = on_thread(move || processor.stop());

    assert!(result.is_ok(), "{result:?}");
    let entries = rig.node.trace.entries();
    let disconnect = entries
        .iter()
        .position(|e| e == "pm.disconnect")
        .expect("peers disconnected");
    assert_eq!(
        entries[disconnect + 1],
        "write manager v1 []",
        "the first final write: {entries:?}"
    );
    assert_eq!(
        entries.last().map(String::as_str),
        Some("write manager v1 []")
    );
    let writes_at_stop = rig.node.store.faults.total_writes();
    assert_eq!(rig.node.store.value("manager").as_deref(), Some("v1 []"));
    assert_eq!(
        rig.node.store.faults.total_writes(),
        writes_at_stop,
        "nothing written after stop"
    );
}

#[test]
fn third_write_fails_for_good() {
    let rig = Rig::new();
    rig.node
        .store
        .faults
        .fail_nth_write(3, ErrorKind::StorageFull);
    let processor = rig.start(
        rig.node.recording_handler(),
        Config {
            retry_policy: RetryPolicy::no_retry(),
            ..config()
        },
    );
    assert_eq!(rig.next_write(), "manager");
    rig.node.manager.change();
    assert_eq!(rig.next_write(), "manager");
    rig.wait_for_idle(Duration::from_secs(1));
    rig.node.trace.take();

    // The third write fails while an event waits for it.
    rig.node.manager.queue(event('Z'));
    assert_eq!(rig.next_write(), "manager");

    // NOTE: the thread ends just after the failed write. Yielding until it has ended is the
    // only way to see `is_finished` turn true without blocking in `join`.
    let started = std::time::Instant::now();
    while !processor.is_finished() {
        assert!(
            started.elapsed() < FAILURE_TIMEOUT,
            "the processor thread ended"
        );
        std::thread::yield_now();
    }
    let error = processor
        .join()
        .expect_err("the processor ended with an error");

    assert_eq!(error.key(), Some("manager"));
    assert_eq!(error.io_kind(), Some(ErrorKind::StorageFull));
    assert!(
        matches!(error, Error::Persist { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(rig.node.store.faults.writes("manager"), 3);
    let entries = rig.node.trace.entries();
    assert_eq!(
        entries.last().map(String::as_str),
        Some("write manager failed"),
        "{entries:?}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e.contains("timer_tick") || e.starts_with("handle")),
        "no tick, no handler call: {entries:?}"
    );
}

#[test]
fn restart_after_error_works() {
    let rig = Rig::new();
    rig.node
        .store
        .faults
        .fail_key("manager", ErrorKind::StorageFull);
    rig.node.manager.queue(event('Z'));
    let processor = rig.start(
        rig.node.recording_handler(),
        Config {
            retry_policy: RetryPolicy::no_retry(),
            ..config()
        },
    );
    let error = on_thread(move || processor.join()).expect_err("the write failed");
    assert_eq!(error.key(), Some("manager"));
    assert_eq!(rig.node.trace.count("handle Z"), 0);

    rig.node.store.faults.heal();
    let (handled_sender, handled) = sync_channel(16);
    let trace = rig.node.trace.clone();
    let handler = move |event: Event| -> Result<(), ReplayEvent> {
        trace.push(format!("handle {}", label(&event)));
        let _ = handled_sender.try_send(label(&event));
        Ok(())
    };
    let processor = rig.start(handler, config());
    let replayed = handled.recv_timeout(FAILURE_TIMEOUT);
    assert_eq!(
        replayed,
        Ok('Z'),
        "the new processor hands out the pending event"
    );
    let result = on_thread(move || processor.stop());

    assert!(result.is_ok(), "{result:?}");
    let entries = rig.node.trace.entries();
    let write = entries.iter().position(|e| e == "write manager v1 [Z]");
    let handle = entries.iter().position(|e| e == "handle Z");
    assert!(write.is_some(), "the start write: {entries:?}");
    assert!(write < handle, "the write before the event: {entries:?}");
}

#[test]
fn wakes_on_real_ldk_notifier() {
    // The ChannelManager mock hands out futures of a real `lightning::util::wakers::Notifier`;
    // virtual time never moves, so only its callback can wake the processor.
    let rig = Rig::new();
    let processor = rig.start(rig.node.recording_handler(), config());
    assert_eq!(rig.next_write(), "manager");
    rig.wait_for_idle(Duration::from_secs(1));

    rig.node.manager.change();
    assert_eq!(rig.next_write(), "manager");

    rig.node.manager.change();
    assert_eq!(rig.next_write(), "manager");
    on_thread(move || processor.stop()).expect("stops cleanly");
}

#[test]
fn builder_needs_no_annotations() {
    let node = Node::new(Optional::default());
    let processor = BackgroundProcessor::builder(
        node.store.clone(),
        |_event: Event| Ok(()),
        Arc::new(node.chain_monitor_mock()),
        Arc::new(node.channel_manager_mock()),
        Arc::new(node.peer_manager_mock(|| {})),
        node.logger.clone(),
    )
    .clock(Arc::new(node.clock.clone()))
    .start()
    .expect("the processor starts");
    let stopped = AtomicBool::new(on_thread(move || processor.stop()).is_ok());
    assert!(stopped.load(Ordering::SeqCst));
}

#[test]
fn drop_after_error_logs_it() {
    let rig = Rig::new();
    rig.node
        .store
        .faults
        .fail_key("manager", ErrorKind::PermissionDenied);
    let processor = rig.start(
        rig.node.recording_handler(),
        Config {
            retry_policy: RetryPolicy::no_retry(),
            ..config()
        },
    );
    assert_eq!(rig.next_write(), "manager");

    on_thread(move || drop(processor));

    let logged = rig.node.logger.count(
        lightning::util::logger::Level::Error,
        "Background processor ended with an error",
    );
    assert_eq!(logged, 1);
}

#[test]
fn slow_turn_is_not_a_suspend() {
    // A turn that ran past its own deadline used to look like a suspended process, and the
    // processor disconnected every peer.
    let node = Node::new(Optional::default());
    let clock = node.clock.clone();
    let (observed, waits) = ObservedClock::new(node.clock.clone());
    let slowed = AtomicBool::new(false);
    let processor = BackgroundProcessor::builder(
        node.store.clone(),
        node.recording_handler(),
        Arc::new(node.chain_monitor_mock()),
        Arc::new(node.channel_manager_mock()),
        Arc::new(node.peer_manager_mock(move || {
            if !slowed.swap(true, Ordering::SeqCst) {
                clock.advance(Duration::from_secs(20));
            }
        })),
        node.logger.clone(),
    )
    .clock(Arc::new(observed))
    .config(config())
    .start()
    .expect("the processor starts");

    // The first turn's wait ends at once, because its deadline passed during the turn; the
    // first wait with a deadline ahead follows the next turn.
    loop {
        let deadline = waits
            .recv_timeout(FAILURE_TIMEOUT)
            .expect("the processor thread reached a wait");
        if deadline > node.now() {
            break;
        }
    }

    let stats = processor.stats();
    on_thread(move || processor.stop()).expect("stops cleanly");

    assert_eq!(stats.suspends, 0);
    assert_eq!(
        node.trace.count("pm.disconnect"),
        1,
        "only the stop disconnects"
    );
}
