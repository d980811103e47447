//! Tests of the thread runner over the simulated node, in virtual time.
//!
//! The threads block on channels with a generous failure timeout; no test sleeps or asserts
//! a duration.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning::events::{Event, ReplayEvent};
use vigil_persistence::RetryPolicy;

use crate::components::{MockChainMonitorDriver, MockChannelManagerDriver, MockPeerManagerDriver};
use crate::config::Config;
use crate::error::Error;
use crate::runner::thread::BackgroundProcessor;
use crate::testing::{event, label, FixedDelays, Node, ObservedClock, Optional};

/// How long a test waits for a thread before it fails; never reached when the code works.
const FAILURE_TIMEOUT: Duration = Duration::from_secs(60);

/// A simulated node with its mocks kept, so that a second processor can reuse them.
struct Rig {
    node: Node,
    clock: ObservedClock,
    waits: Receiver<Instant>,
    writes: Receiver<String>,
    manager: Arc<MockChannelManagerDriver>,
    monitor: Arc<MockChainMonitorDriver>,
    peers: Arc<MockPeerManagerDriver>,
}

impl Rig {
    fn new() -> Self {
        let node = Node::new(Optional::default());
        let (clock, waits) = ObservedClock::new(node.clock.clone());
        let writes = node.store.watch_writes();
        Self {
            manager: Arc::new(node.channel_manager_mock()),
            monitor: Arc::new(node.chain_monitor_mock()),
            peers: Arc::new(node.peer_manager_mock(|| {})),
            node,
            clock,
            waits,
            writes,
        }
    }

    fn start<H>(&self, handler: H, config: Config) -> BackgroundProcessor
    where
        H: Fn(Event) -> Result<(), ReplayEvent> + Send + Sync + 'static,
    {
        BackgroundProcessor::builder(
            Arc::clone(&self.node.store),
            handler,
            Arc::clone(&self.monitor),
            Arc::clone(&self.manager),
            Arc::clone(&self.peers),
            Arc::clone(&self.node.logger),
        )
        .clock(Arc::new(self.clock.clone()))
        .config(config)
        .delays(Box::new(FixedDelays(vec![Duration::from_secs(2)])))
        .start()
        .expect("the processor starts")
    }

    /// Blocks until the processor thread waits for a deadline at least `ahead` from now.
    fn wait_for_idle(&self, ahead: Duration) -> Instant {
        loop {
            let deadline = self
                .waits
                .recv_timeout(FAILURE_TIMEOUT)
                .expect("the processor thread reached a wait");
            if deadline >= self.node.now() + ahead {
                return deadline;
            }
        }
    }

    /// Blocks until a write attempt returned, and returns its key.
    fn next_write(&self) -> String {
        self.writes
            .recv_timeout(FAILURE_TIMEOUT)
            .expect("the processor wrote a key")
    }
}

fn config() -> Config {
    Config {
        ping_interval: Duration::from_secs(10),
        ..Config::default()
    }
}

/// Runs `f` on another thread and returns its result, failing after the failure timeout.
fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = sync_channel(1);
    std::thread::spawn(move || {
        let _ = sender.send(f());
    });
    receiver
        .recv_timeout(FAILURE_TIMEOUT)
        .expect("the call returned")
}

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

/// Releases a blocked handler when dropped, also when a test fails, so that dropping the
/// processor does not wait for it.
struct Release(std::sync::mpsc::SyncSender<()>);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.0.try_send(());
    }
}

/// A handler that blocks on each event until released, and reports when it entered.
struct BlockingHandler {
    trace: crate::testing::Trace,
    entered: Mutex<std::sync::mpsc::SyncSender<()>>,
    release: Mutex<Receiver<()>>,
}

#[test]
fn slow_handler_does_not_delay_write() {
    let rig = Rig::new();
    let (entered_sender, entered) = sync_channel(1);
    let (release_sender, release) = sync_channel(1);
    let blocking = Arc::new(BlockingHandler {
        trace: rig.node.trace.clone(),
        entered: Mutex::new(entered_sender),
        release: Mutex::new(release),
    });
    let handler = move |event: Event| -> Result<(), ReplayEvent> {
        blocking.trace.push(format!("handle {}", label(&event)));
        blocking.entered.lock().unwrap().send(()).unwrap();
        blocking.release.lock().unwrap().recv().unwrap();
        Ok(())
    };
    let processor = rig.start(handler, config());
    let _release = Release(release_sender);
    assert_eq!(rig.next_write(), "manager");
    rig.node.manager.queue(event('S'));
    assert_eq!(rig.next_write(), "manager", "the write the event waits for");
    entered
        .recv_timeout(FAILURE_TIMEOUT)
        .expect("the handler runs");

    // A change while the handler blocks is written without waiting for it.
    rig.node.manager.change();
    assert_eq!(rig.next_write(), "manager");
    assert_eq!(rig.node.store.value("manager").as_deref(), Some("v2 [S]"));

    drop(_release);
    on_thread(move || processor.stop()).expect("stops cleanly");
}

#[test]
fn stuck_handler_times_out_stop() {
    let rig = Rig::new();
    let (entered_sender, entered) = sync_channel(1);
    let (release_sender, release) = sync_channel(1);
    let blocking = Arc::new(BlockingHandler {
        trace: rig.node.trace.clone(),
        entered: Mutex::new(entered_sender),
        release: Mutex::new(release),
    });
    let handler = move |event: Event| -> Result<(), ReplayEvent> {
        blocking.trace.push(format!("handle {}", label(&event)));
        blocking.entered.lock().unwrap().send(()).unwrap();
        blocking.release.lock().unwrap().recv().unwrap();
        Ok(())
    };
    let processor = rig.start(handler, config());
    let _release = Release(release_sender);
    rig.node.manager.queue(event('S'));
    entered
        .recv_timeout(FAILURE_TIMEOUT)
        .expect("the handler runs");
    rig.wait_for_idle(Duration::from_secs(1));
    rig.node.trace.take();

    let (result_sender, result) = sync_channel(1);
    std::thread::spawn(move || {
        let _ = result_sender.send(processor.stop());
    });
    let deadline = rig.wait_for_idle(Duration::from_secs(30));
    rig.node.clock.advance(deadline - rig.node.now());
    let result = result.recv_timeout(FAILURE_TIMEOUT).expect("stop returned");

    assert!(
        matches!(result, Err(Error::ShutdownTimeout { waited }) if waited == Duration::from_secs(30)),
        "{result:?}"
    );
    let entries = rig.node.trace.entries();
    let disconnect = entries
        .iter()
        .position(|e| e == "pm.disconnect")
        .expect("peers disconnected");
    assert_eq!(
        entries[disconnect..],
        ["pm.disconnect", "write manager v1 [S]"]
    );
    // The stored state still contains the unfinished event, so the next start hands it out.
    assert_eq!(rig.node.store.value("manager").as_deref(), Some("v1 [S]"));
}

#[test]
fn handler_panic_stops_processor() {
    let rig = Rig::new();
    let handler = |event: Event| -> Result<(), ReplayEvent> {
        if label(&event) == 'P' {
            panic!("handler bug");
        }
        Ok(())
    };
    let processor = rig.start(handler, config());
    rig.node.manager.queue(event('P'));

    let error = on_thread(move || processor.join()).expect_err("the panic ended the processor");

    match error {
        Error::HandlerPanicked {
            event_kind,
            message,
        } => {
            assert_eq!(event_kind, "PaymentFailed");
            assert!(message.contains("handler bug"), "{message}");
        }
        other => panic!("expected a handler panic, got {other:?}"),
    }
    assert_eq!(
        rig.node.store.value("manager").as_deref(),
        Some("v1 [P]"),
        "final write made, with the event still pending"
    );
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
fn locked_source_does_not_deadlock() {
    // A gate that blocked inside the ChainMonitor's handler call held the monitors lock
    // while waiting for a write, and the processor needed that lock to reach the write.
    let node = Node::new(Optional::default());
    let monitors = Arc::new(parking_lot::Mutex::new(()));
    // Whether the processor thread is inside `PeerManager::process_events`, waiting for
    // the monitors lock or holding it.
    let in_peers = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));

    let mut monitor = MockChainMonitorDriver::new();
    let (source, lock) = (Arc::clone(&node.monitor), Arc::clone(&monitors));
    monitor
        .expect_process_pending_events()
        .returning(move |handler| {
            let _monitors = lock.lock();
            let events: Vec<Event> = source.pending.lock().iter().cloned().collect();
            let mut handled = 0;
            for event in events {
                if handler.handle_event(event).is_err() {
                    source.notifier.notify();
                    break;
                }
                handled += 1;
            }
            source.pending.lock().drain(..handled);
        });
    let source = Arc::clone(&node.monitor);
    monitor.expect_register_wake().returning(move |callback| {
        source
            .notifier
            .get_future()
            .register_callback(Box::new(callback))
    });
    monitor.expect_rebroadcast_pending_claims().return_const(());
    monitor
        .expect_archive_fully_resolved_channel_monitors()
        .return_const(());

    let mut peers = MockPeerManagerDriver::new();
    let lock = Arc::clone(&monitors);
    let inside = Arc::clone(&in_peers);
    peers.expect_process_events().returning(move || {
        *inside.0.lock() = true;
        inside.1.notify_all();
        drop(lock.lock());
        *inside.0.lock() = false;
    });
    peers.expect_timer_tick_occurred().return_const(());
    peers.expect_disconnect_all_peers().return_const(());

    // The first monitor event changes the ChannelManager once the processor waits for the
    // monitors lock, so the second event finds a write owed that the processor cannot make
    // until the lock is released.
    let manager = Arc::clone(&node.manager);
    let trace = node.trace.clone();
    let handler = move |event: Event| -> Result<(), ReplayEvent> {
        if label(&event) == '1' {
            manager.change();
            let mut inside = in_peers.0.lock();
            while !*inside {
                let waited = in_peers.1.wait_for(&mut inside, FAILURE_TIMEOUT);
                assert!(!waited.timed_out(), "the processor reached the PeerManager");
            }
            drop(inside);
            manager.change();
        }
        trace.push(format!("handle {}", label(&event)));
        Ok(())
    };
    let (handled_sender, handled) = sync_channel(16);
    let handler = move |event: Event| {
        let is_last = label(&event) == '2';
        let outcome = handler(event);
        if is_last && outcome.is_ok() {
            let _ = handled_sender.try_send(());
        }
        outcome
    };

    let processor = BackgroundProcessor::builder(
        node.store.clone(),
        handler,
        Arc::new(monitor),
        Arc::new(node.channel_manager_mock()),
        Arc::new(peers),
        node.logger.clone(),
    )
    .clock(Arc::new(node.clock.clone()))
    .config(config())
    .start()
    .expect("the processor starts");
    node.monitor.push(event('1'));
    node.monitor.push(event('2'));

    handled
        .recv_timeout(FAILURE_TIMEOUT)
        .expect("both monitor events were handled");
    on_thread(move || processor.stop()).expect("stops cleanly");

    let entries = node.trace.entries();
    let second_event = entries.iter().position(|e| e == "handle 2");
    let write = entries.iter().position(|e| e == "write manager v2 []");
    assert!(
        write.is_some(),
        "the change made by event 1 was written: {entries:?}"
    );
    assert!(
        write < second_event,
        "the write came before event 2: {entries:?}"
    );
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
