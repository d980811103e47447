//! The user's handler against the processor thread: slow, stuck, panicking, or waiting in the
//! gate while the processor thread takes a component's lock.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning::events::{Event, EventHandler, ReplayEvent};

use super::{config, on_thread, Rig, FAILURE_TIMEOUT};
use crate::components::{
    ChannelManagerDriver, MockChainMonitorDriver, MockChannelManagerDriver, MockPeerManagerDriver,
    WakeCallback,
};
use crate::error::Error;
use crate::runner::thread::BackgroundProcessor;
use crate::testing::{event, label, Node, ObservedClock, Optional};

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

/// The processor thread's position: whether it is inside `PeerManager::process_events`.
type InPeers = Arc<(parking_lot::Mutex<bool>, parking_lot::Condvar)>;

/// Returns a ChainMonitor that takes `monitors` only to copy its pending events and again to
/// remove the handled ones, as LDK 0.2.7's `process_pending_events_async` does, and records
/// each event it offers to the handler as "offer <label>".
fn monitor_releasing_lock(
    node: &Node,
    monitors: Arc<parking_lot::Mutex<()>>,
) -> MockChainMonitorDriver {
    let mut monitor = MockChainMonitorDriver::new();
    let (source, trace) = (Arc::clone(&node.monitor), node.trace.clone());
    monitor
        .expect_process_pending_events_unlocked()
        .returning(move |handler| {
            let events: Vec<Event> = {
                let _monitors = monitors.lock();
                source.pending.lock().iter().cloned().collect()
            };
            let mut handled = 0;
            for event in events {
                trace.push(format!("offer {}", label(&event)));
                if handler.handle_event(event).is_err() {
                    source.notifier.notify();
                    break;
                }
                handled += 1;
            }
            let _monitors = monitors.lock();
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
    monitor
}

/// Returns a PeerManager whose next `process_events` after `armed` is set reports in
/// `in_peers`, stays inside until the event thread took LDK's flag, and then takes
/// `monitors`, as LDK's `PeerManager::process_events` does through the ChannelManager's
/// `release_pending_monitor_events`.
fn peers_waiting_for_gate(
    node: &Node,
    monitors: Arc<parking_lot::Mutex<()>>,
    armed: Arc<std::sync::atomic::AtomicBool>,
    in_peers: InPeers,
    gate_took_flag: Receiver<()>,
) -> MockPeerManagerDriver {
    let gate_took_flag = Mutex::new(gate_took_flag);
    node.peer_manager_mock(move || {
        if !armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        *in_peers.0.lock() = true;
        in_peers.1.notify_all();
        let reached = gate_took_flag.lock().unwrap().recv_timeout(FAILURE_TIMEOUT);
        assert!(reached.is_ok(), "the event thread reached the gate");
        let locked = monitors.try_lock_for(FAILURE_TIMEOUT);
        assert!(
            locked.is_some(),
            "the monitors lock was free while the gate waited"
        );
        drop(locked);
        *in_peers.0.lock() = false;
    })
}

/// Returns a handler for monitor events 1 and 2. Event 1 changes the ChannelManager, waits
/// until the processor thread, woken by that change, is inside `process_events`, and changes
/// it again. So event 2 finds a write owed that the processor makes only after it took the
/// monitors lock.
fn changing_handler(
    node: &Node,
    armed: Arc<std::sync::atomic::AtomicBool>,
    in_peers: InPeers,
) -> impl Fn(Event) -> Result<(), ReplayEvent> + Send + Sync + 'static {
    let manager = Arc::clone(&node.manager);
    let trace = node.trace.clone();
    move |event: Event| -> Result<(), ReplayEvent> {
        if label(&event) == '1' {
            armed.store(true, std::sync::atomic::Ordering::SeqCst);
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
    }
}

#[test]
fn monitor_event_waits_in_gate() {
    // A ChainMonitor event whose ChannelManager write became owed used to be rejected and
    // offered again, because LDK's blocking event processing held the monitors lock while
    // the gate would have waited. The gate now waits inside the handler call, while the
    // processor thread takes the monitors lock and writes.
    let node = Node::new(Optional::default());
    let monitors = Arc::new(parking_lot::Mutex::new(()));
    let in_peers: InPeers = Arc::new((parking_lot::Mutex::new(false), parking_lot::Condvar::new()));
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (gate_sender, gate_took_flag) = sync_channel(16);
    let manager = GateWatchedManager {
        inner: node.channel_manager_mock(),
        gate_took_flag: gate_sender,
    };
    let monitor = monitor_releasing_lock(&node, Arc::clone(&monitors));
    let peers = peers_waiting_for_gate(
        &node,
        Arc::clone(&monitors),
        Arc::clone(&armed),
        Arc::clone(&in_peers),
        gate_took_flag,
    );

    let handler = changing_handler(&node, armed, in_peers);
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
        Arc::new(manager),
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
        "the changes made by event 1 were written: {entries:?}"
    );
    assert!(
        write < second_event,
        "the write came before event 2: {entries:?}"
    );
    assert_eq!(
        node.trace.count("offer 2"),
        1,
        "event 2 waited in the gate instead of being offered again: {entries:?}"
    );
}

#[test]
fn worker_panic_stops_processor() {
    // A panic in a component's event processing, outside the user's handler, used to end
    // the event thread silently while the processor thread kept running.
    let node = Node::new(Optional::default());
    let mut monitor = MockChainMonitorDriver::new();
    let source = Arc::clone(&node.monitor);
    monitor
        .expect_process_pending_events_unlocked()
        .returning(move |_handler| {
            if !source.pending.lock().is_empty() {
                panic!("monitor bug");
            }
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
    let processor = BackgroundProcessor::builder(
        node.store.clone(),
        node.recording_handler(),
        Arc::new(monitor),
        Arc::new(node.channel_manager_mock()),
        Arc::new(node.peer_manager_mock(|| {})),
        node.logger.clone(),
    )
    .clock(Arc::new(node.clock.clone()))
    .config(config())
    .start()
    .expect("the processor starts");
    node.monitor.push(event('M'));

    let error = on_thread(move || processor.join()).expect_err("the panic ended the processor");

    match error {
        Error::ProcessorPanicked { message } => {
            assert!(message.contains("monitor bug"), "{message}");
        }
        other => panic!("expected a processor panic, got {other:?}"),
    }
    assert_eq!(
        node.trace.entries().last().map(String::as_str),
        Some("write manager v0 []"),
        "the final write was made"
    );
}

/// A ChannelManager that reports each time the event thread takes LDK's flag and finds a
/// write owed, which happens in the gate.
struct GateWatchedManager {
    inner: MockChannelManagerDriver,
    gate_took_flag: std::sync::mpsc::SyncSender<()>,
}

impl ChannelManagerDriver for GateWatchedManager {
    fn process_pending_events(&self, handler: &dyn EventHandler) {
        self.inner.process_pending_events(handler);
    }
    fn register_wake(&self, callback: WakeCallback) {
        self.inner.register_wake(callback);
    }
    fn get_and_clear_needs_persistence(&self) -> bool {
        let needs_write = self.inner.get_and_clear_needs_persistence();
        if needs_write && std::thread::current().name() == Some("vigil-events") {
            let _ = self.gate_took_flag.try_send(());
        }
        needs_write
    }
    fn encode(&self) -> Vec<u8> {
        self.inner.encode()
    }
    fn timer_tick_occurred(&self) {
        self.inner.timer_tick_occurred();
    }
    fn needs_pending_htlc_processing(&self) -> bool {
        self.inner.needs_pending_htlc_processing()
    }
    fn process_pending_htlc_forwards(&self) {
        self.inner.process_pending_htlc_forwards();
    }
}

/// Returns a PeerManager whose next `process_events` after `armed` is set queues event X
/// and stays inside until the event thread took LDK's flag for it.
fn peers_queueing_event(
    node: &Node,
    armed: Arc<std::sync::atomic::AtomicBool>,
    gate_took_flag: Receiver<()>,
) -> MockPeerManagerDriver {
    let state = Arc::clone(&node.manager);
    let gate_took_flag = Mutex::new(gate_took_flag);
    node.peer_manager_mock(move || {
        if armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            state.queue(event('X'));
            let reached = gate_took_flag.lock().unwrap().recv_timeout(FAILURE_TIMEOUT);
            assert!(reached.is_ok(), "the event thread reached the gate");
        }
    })
}

#[test]
fn peer_block_change_written_before_event() {
    // An event queued by a PeerManager call that blocked the processor thread could reach
    // the handler on the event thread before the processor wrote the change behind it.
    let node = Node::new(Optional::default());
    let (observed, waits) = ObservedClock::new(node.clock.clone());
    let (gate_sender, gate_took_flag) = sync_channel(16);
    let manager = GateWatchedManager {
        inner: node.channel_manager_mock(),
        gate_took_flag: gate_sender,
    };
    let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peers = peers_queueing_event(&node, Arc::clone(&armed), gate_took_flag);
    let (store, trace) = (Arc::clone(&node.store), node.trace.clone());
    let (handled_sender, handled) = sync_channel(16);
    let handler = move |event: Event| -> Result<(), ReplayEvent> {
        let stored = store.value("manager");
        trace.push(format!("handle {} over {stored:?}", label(&event)));
        let _ = handled_sender.try_send(());
        Ok(())
    };
    let processor = BackgroundProcessor::builder(
        node.store.clone(),
        handler,
        Arc::new(node.chain_monitor_mock()),
        Arc::new(manager),
        Arc::new(peers),
        node.logger.clone(),
    )
    .clock(Arc::new(observed))
    .config(config())
    .start()
    .expect("the processor starts");
    waits
        .recv_timeout(FAILURE_TIMEOUT)
        .expect("the processor thread waits after its first turn");

    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    node.manager.change();
    handled
        .recv_timeout(FAILURE_TIMEOUT)
        .expect("the event was handled");
    on_thread(move || processor.stop()).expect("stops cleanly");

    let entries = node.trace.entries();
    let handle = entries.iter().position(|e| e.starts_with("handle X"));
    let write = entries.iter().position(|e| e == "write manager v2 [X]");
    assert!(write.is_some(), "the change was written: {entries:?}");
    assert!(
        write < handle,
        "the write came before the event: {entries:?}"
    );
    assert!(
        entries.contains(&"handle X over Some(\"v2 [X]\")".to_owned()),
        "the handler saw the change stored: {entries:?}"
    );
}
