//! A simulated node for the processor's tests: mockall mocks of every component, backed by
//! shared state that behaves as LDK's does, and one ordered trace of every call.
//!
//! The ChannelManager, ChainMonitor, OnionMessenger and LiquidityManager mocks wake the
//! processor through real LDK `Notifier`s, so wake registration follows LDK's rules.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::ln::channelmanager::PaymentId;
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::KVStoreSync;
use lightning::util::wakers::Notifier;
use parking_lot::Mutex;
use vigil_events::{ChangeFlag, Dispatcher};
use vigil_persistence::{FaultyStore, MemoryStore};
use vigil_scheduler::{Clock, DelaySource, ManualClock, Signal, Wake};

use crate::components::{
    MockChainMonitorDriver, MockChannelManagerDriver, MockGossipDriver, MockLiquidityDriver,
    MockOnionMessengerDriver, MockPeerManagerDriver, MockScorerDriver, MockSweeperDriver,
};
use crate::config::Config;
use crate::core::{Components, Core, CoreParts, Dispatch, EventSink};

/// Wall-clock time of the simulated node at start: 2026-01-01.
pub(crate) const WALL_START: Duration = Duration::from_secs(1_767_225_600);

/// One ordered record of calls, shared by every mock, the store and the handler.
#[derive(Clone, Default)]
pub(crate) struct Trace(Arc<Mutex<Vec<String>>>);

impl Trace {
    pub(crate) fn push(&self, entry: impl Into<String>) {
        self.0.lock().push(entry.into());
    }

    pub(crate) fn entries(&self) -> Vec<String> {
        self.0.lock().clone()
    }

    /// Returns the entries and clears the record.
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }

    pub(crate) fn count(&self, entry: &str) -> usize {
        self.0.lock().iter().filter(|e| *e == entry).count()
    }
}

/// Returns a payment-failed event labelled `label` (its payment id is that byte).
pub(crate) fn event(label: char) -> Event {
    Event::PaymentFailed {
        payment_id: PaymentId([label as u8; 32]),
        payment_hash: None,
        reason: None,
    }
}

/// Returns the label of an event made by [`event`].
pub(crate) fn label(event: &Event) -> char {
    match event {
        Event::PaymentFailed { payment_id, .. } => payment_id.0[0] as char,
        _ => '?',
    }
}

/// A source of events with an LDK notifier, as the ChainMonitor and OnionMessenger are.
pub(crate) struct EventSource {
    pub(crate) pending: Mutex<VecDeque<Event>>,
    pub(crate) notifier: Notifier,
    pub(crate) registrations: AtomicUsize,
}

impl Default for EventSource {
    fn default() -> Self {
        Self {
            pending: Mutex::default(),
            notifier: Notifier::new(),
            registrations: AtomicUsize::new(0),
        }
    }
}

impl EventSource {
    pub(crate) fn push(&self, event: Event) {
        self.pending.lock().push_back(event);
        self.notifier.notify();
    }

    fn register(&self, callback: crate::components::WakeCallback) {
        self.registrations.fetch_add(1, Ordering::SeqCst);
        self.notifier
            .get_future()
            .register_callback(Box::new(callback));
    }

    /// Hands out events in order until one is rejected, as LDK's providers do; returns
    /// whether any was rejected. No lock is held while the handler runs.
    fn hand_out(&self, handler: &dyn EventHandler) -> (usize, bool) {
        let events: Vec<Event> = self.pending.lock().iter().cloned().collect();
        let mut handled = 0;
        let mut rejected = false;
        for event in events {
            if handler.handle_event(event).is_err() {
                rejected = true;
                break;
            }
            handled += 1;
        }
        self.pending.lock().drain(..handled);
        (handled, rejected)
    }
}

/// The simulated ChannelManager's state.
#[derive(Default)]
pub(crate) struct ManagerState {
    pub(crate) version: AtomicU64,
    pub(crate) needs_persist: AtomicBool,
    pub(crate) needs_forwards: AtomicBool,
    pub(crate) events: EventSource,
}

impl ManagerState {
    /// Changes the state: a new version that needs a write, and a wake.
    pub(crate) fn change(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        self.needs_persist.store(true, Ordering::SeqCst);
        self.events.notifier.notify();
    }

    /// Queues an event, which also changes the state.
    ///
    /// The event and the needs-persistence flag appear together, under the lock that
    /// hand-outs and encodings take, so no event is seen before its write is owed.
    pub(crate) fn queue(&self, event: Event) {
        let mut pending = self.events.pending.lock();
        pending.push_back(event);
        self.version.fetch_add(1, Ordering::SeqCst);
        self.needs_persist.store(true, Ordering::SeqCst);
        drop(pending);
        self.events.notifier.notify();
    }

    /// Returns the bytes a write stores: the version and the labels of pending events.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let labels: String = self.events.pending.lock().iter().map(label).collect();
        format!("v{} [{}]", self.version.load(Ordering::SeqCst), labels).into_bytes()
    }

    fn process_pending_events(&self, handler: &dyn EventHandler) {
        let had_events = !self.events.pending.lock().is_empty();
        self.events.hand_out(handler);
        // LDK marks the manager as needing a write after handing out any event, so that
        // the removal of handled events is stored.
        if had_events {
            self.needs_persist.store(true, Ordering::SeqCst);
            self.events.notifier.notify();
        }
    }
}

/// A store that records each write attempt in the trace, over a fault-injecting memory
/// store.
pub(crate) struct TracingStore {
    pub(crate) faults: FaultyStore<MemoryStore>,
    trace: Trace,
    written: Mutex<Option<std::sync::mpsc::SyncSender<String>>>,
}

impl TracingStore {
    /// Returns a receiver of the key of every write attempt, sent once the attempt returned.
    pub(crate) fn watch_writes(&self) -> std::sync::mpsc::Receiver<String> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1024);
        *self.written.lock() = Some(sender);
        receiver
    }

    /// Returns the value stored under `key` as text, if any.
    pub(crate) fn value(&self, key: &str) -> Option<String> {
        self.faults
            .inner()
            .read("", "", key)
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }
}

impl KVStoreSync for TracingStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        self.faults.read(primary, secondary, key)
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        let text = String::from_utf8_lossy(&buf).into_owned();
        let result = self.faults.write(primary, secondary, key, buf);
        match &result {
            Ok(()) if key == "manager" => self.trace.push(format!("write manager {text}")),
            Ok(()) => self.trace.push(format!("write {key}")),
            Err(_) => self.trace.push(format!("write {key} failed")),
        }
        if let Some(written) = &*self.written.lock() {
            let _ = written.try_send(key.to_owned());
        }
        result
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        self.faults.remove(primary, secondary, key, lazy)
    }

    fn list(&self, primary: &str, secondary: &str) -> Result<Vec<String>, lightning::io::Error> {
        self.faults.list(primary, secondary)
    }
}

/// A logger that keeps warnings and errors, for tests that count them.
#[derive(Default)]
pub(crate) struct TestLogger {
    pub(crate) lines: Mutex<Vec<(lightning::util::logger::Level, String)>>,
}

impl TestLogger {
    pub(crate) fn count(&self, level: lightning::util::logger::Level, needle: &str) -> usize {
        self.lines
            .lock()
            .iter()
            .filter(|(l, line)| *l == level && line.contains(needle))
            .count()
    }
}

impl Logger for TestLogger {
    fn log(&self, record: Record) {
        self.lines
            .lock()
            .push((record.level, record.args.to_string()));
    }
}

/// Delays that are always the same, for forward batching.
pub(crate) struct FixedDelays(pub(crate) Vec<Duration>);

impl DelaySource for FixedDelays {
    fn next_delay(&mut self) -> Duration {
        if self.0.len() > 1 {
            self.0.remove(0)
        } else {
            self.0[0]
        }
    }
}

/// The optional components of a test node.
#[derive(Clone, Copy, Default)]
pub(crate) struct Optional {
    pub(crate) messenger: bool,
    pub(crate) liquidity: bool,
    pub(crate) gossip: Option<GossipKind>,
    pub(crate) scorer: bool,
    pub(crate) sweeper: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum GossipKind {
    P2p,
    Rapid,
}

/// A simulated node: shared state, the trace, the store, the clock and the logger.
pub(crate) struct Node {
    pub(crate) trace: Trace,
    pub(crate) manager: Arc<ManagerState>,
    pub(crate) monitor: Arc<EventSource>,
    pub(crate) messenger: Arc<EventSource>,
    pub(crate) liquidity: Arc<EventSource>,
    pub(crate) rapid_sync_complete: Arc<AtomicBool>,
    pub(crate) store: Arc<TracingStore>,
    pub(crate) clock: ManualClock,
    pub(crate) start: Instant,
    pub(crate) logger: Arc<TestLogger>,
    pub(crate) scorer_changes: ChangeFlag,
    pub(crate) optional: Optional,
}

impl Node {
    pub(crate) fn new(optional: Optional) -> Self {
        let trace = Trace::default();
        let start = Instant::now();
        Self {
            manager: Arc::default(),
            monitor: Arc::default(),
            messenger: Arc::default(),
            liquidity: Arc::default(),
            rapid_sync_complete: Arc::default(),
            store: Arc::new(TracingStore {
                faults: FaultyStore::new(MemoryStore::new()),
                trace: trace.clone(),
                written: Mutex::new(None),
            }),
            trace,
            clock: ManualClock::new(start, Some(WALL_START)),
            start,
            logger: Arc::default(),
            scorer_changes: ChangeFlag::new(),
            optional,
        }
    }

    /// Returns a handler that records `handle X` for each event and accepts it.
    pub(crate) fn recording_handler(
        &self,
    ) -> impl Fn(Event) -> Result<(), ReplayEvent> + Send + Sync + 'static {
        let trace = self.trace.clone();
        move |event: Event| {
            trace.push(format!("handle {}", label(&event)));
            Ok(())
        }
    }

    /// Returns the mocks of every component this node has.
    pub(crate) fn components(&self) -> Components {
        let optional = self.optional;
        Components {
            channel_manager: Arc::new(self.channel_manager_mock()),
            chain_monitor: Arc::new(self.chain_monitor_mock()),
            peer_manager: Arc::new(self.peer_manager_mock(|| {})),
            onion_messenger: optional
                .messenger
                .then(|| Arc::new(self.messenger_mock()) as _),
            gossip: optional
                .gossip
                .map(|kind| Arc::new(self.gossip_mock(kind)) as _),
            scorer: optional.scorer.then(|| Arc::new(self.scorer_mock()) as _),
            sweeper: optional.sweeper.then(|| Arc::new(self.sweeper_mock()) as _),
            liquidity: optional
                .liquidity
                .then(|| Arc::new(self.liquidity_mock()) as _),
        }
    }

    /// Returns the parts of a core over this node, with `handler` behind a dispatcher.
    pub(crate) fn parts<H>(&self, handler: H, components: Components, config: Config) -> CoreParts
    where
        H: EventHandler + Send + Sync + 'static,
    {
        let sink: Arc<dyn EventSink> = Arc::new(Dispatcher::new(handler));
        CoreParts {
            components,
            store: self.store.clone(),
            sink,
            scorer_changes: self.optional.scorer.then(|| self.scorer_changes.clone()),
            clock: Arc::new(self.clock.clone()),
            logger: self.logger.clone(),
            config,
            delays: Box::new(FixedDelays(vec![
                Duration::from_secs(2),
                Duration::from_millis(50),
            ])),
        }
    }

    /// Returns an inline core over every component, with the recording handler.
    pub(crate) fn core(&self, config: Config) -> Core {
        let parts = self.parts(self.recording_handler(), self.components(), config);
        Core::new(parts, Dispatch::Inline, self.start).expect("the test config is valid")
    }

    /// Returns the current virtual instant.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Moves virtual time to `start + at`.
    pub(crate) fn advance_to(&self, at: Duration) {
        let target = self.start + at;
        let now = self.clock.now();
        assert!(
            target >= now,
            "virtual time cannot go back from {:?} to {at:?}",
            now - self.start
        );
        self.clock.advance(target - now);
    }

    pub(crate) fn channel_manager_mock(&self) -> MockChannelManagerDriver {
        let mut mock = MockChannelManagerDriver::new();
        let state = Arc::clone(&self.manager);
        mock.expect_process_pending_events()
            .returning(move |handler| state.process_pending_events(handler));
        let state = Arc::clone(&self.manager);
        mock.expect_register_wake()
            .returning(move |callback| state.events.register(callback));
        let state = Arc::clone(&self.manager);
        mock.expect_get_and_clear_needs_persistence()
            .returning(move || state.needs_persist.swap(false, Ordering::SeqCst));
        let state = Arc::clone(&self.manager);
        mock.expect_encode().returning(move || state.encode());
        let trace = self.trace.clone();
        mock.expect_timer_tick_occurred()
            .returning(move || trace.push("cm.timer_tick"));
        let state = Arc::clone(&self.manager);
        mock.expect_needs_pending_htlc_processing()
            .returning(move || state.needs_forwards.load(Ordering::SeqCst));
        let (state, trace) = (Arc::clone(&self.manager), self.trace.clone());
        mock.expect_process_pending_htlc_forwards()
            .returning(move || {
                trace.push("cm.forwards");
                state.needs_forwards.store(false, Ordering::SeqCst);
            });
        mock
    }

    pub(crate) fn chain_monitor_mock(&self) -> MockChainMonitorDriver {
        let mut mock = MockChainMonitorDriver::new();
        let monitor = Arc::clone(&self.monitor);
        mock.expect_process_pending_events_unlocked()
            .returning(move |handler| {
                if monitor.hand_out(handler).1 {
                    monitor.notifier.notify();
                }
            });
        let monitor = Arc::clone(&self.monitor);
        mock.expect_register_wake()
            .returning(move |callback| monitor.register(callback));
        let trace = self.trace.clone();
        mock.expect_rebroadcast_pending_claims()
            .returning(move || trace.push("monitor.rebroadcast"));
        let trace = self.trace.clone();
        mock.expect_archive_fully_resolved_channel_monitors()
            .returning(move || trace.push("monitor.archive"));
        mock
    }

    /// Returns a PeerManager mock that runs `on_process_events` inside `process_events`.
    pub(crate) fn peer_manager_mock(
        &self,
        on_process_events: impl Fn() + Send + 'static,
    ) -> MockPeerManagerDriver {
        let mut mock = MockPeerManagerDriver::new();
        let trace = self.trace.clone();
        mock.expect_process_events().returning(move || {
            trace.push("pm.process_events");
            on_process_events();
        });
        let trace = self.trace.clone();
        mock.expect_timer_tick_occurred()
            .returning(move || trace.push("pm.timer_tick"));
        let trace = self.trace.clone();
        mock.expect_disconnect_all_peers()
            .returning(move || trace.push("pm.disconnect"));
        mock
    }

    pub(crate) fn messenger_mock(&self) -> MockOnionMessengerDriver {
        let mut mock = MockOnionMessengerDriver::new();
        let messenger = Arc::clone(&self.messenger);
        mock.expect_process_pending_events_unlocked()
            .returning(move |handler| {
                messenger.hand_out(handler);
            });
        let messenger = Arc::clone(&self.messenger);
        mock.expect_register_wake()
            .returning(move |callback| messenger.register(callback));
        let trace = self.trace.clone();
        mock.expect_timer_tick_occurred()
            .returning(move || trace.push("om.timer_tick"));
        mock
    }

    pub(crate) fn liquidity_mock(&self) -> MockLiquidityDriver {
        let mut mock = MockLiquidityDriver::new();
        let liquidity = Arc::clone(&self.liquidity);
        mock.expect_register_wake()
            .returning(move |callback| liquidity.register(callback));
        let trace = self.trace.clone();
        mock.expect_persist().returning(move || {
            trace.push("liquidity.persist");
            Ok(true)
        });
        mock
    }

    pub(crate) fn gossip_mock(&self, kind: GossipKind) -> MockGossipDriver {
        let mut mock = MockGossipDriver::new();
        mock.expect_waits_for_initial_sync()
            .return_const(kind == GossipKind::Rapid);
        let complete = Arc::clone(&self.rapid_sync_complete);
        mock.expect_is_initial_sync_complete()
            .returning(move || kind == GossipKind::P2p || complete.load(Ordering::SeqCst));
        let trace = self.trace.clone();
        mock.expect_remove_stale_channels_and_tracking_with_time()
            .returning(move |_| trace.push("graph.prune"));
        mock.expect_encode_graph().returning(|| b"graph".to_vec());
        mock
    }

    pub(crate) fn scorer_mock(&self) -> MockScorerDriver {
        let mut mock = MockScorerDriver::new();
        let trace = self.trace.clone();
        mock.expect_time_passed()
            .returning(move |_| trace.push("scorer.decay"));
        mock.expect_encode_scorer().returning(|| b"scorer".to_vec());
        mock
    }

    pub(crate) fn sweeper_mock(&self) -> MockSweeperDriver {
        let mut mock = MockSweeperDriver::new();
        let trace = self.trace.clone();
        mock.expect_regenerate_and_broadcast_spend_if_necessary()
            .returning(move || {
                trace.push("sweeper.run");
                Ok(())
            });
        mock
    }
}

/// A clock over a [`ManualClock`] that reports each wait of the processor thread, so a
/// test advances virtual time only once the thread is waiting.
#[derive(Clone)]
pub(crate) struct ObservedClock {
    pub(crate) inner: ManualClock,
    waits: std::sync::mpsc::SyncSender<Instant>,
}

impl ObservedClock {
    pub(crate) fn new(inner: ManualClock) -> (Self, std::sync::mpsc::Receiver<Instant>) {
        let (waits, receiver) = std::sync::mpsc::sync_channel(1024);
        (Self { inner, waits }, receiver)
    }
}

impl Clock for ObservedClock {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn since_epoch(&self) -> Option<Duration> {
        self.inner.since_epoch()
    }

    fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake {
        if std::thread::current().name() == Some("vigil-processor") {
            let _ = self.waits.try_send(deadline);
        }
        self.inner.wait_until(signal, deadline)
    }

    fn deadline_future(
        &self,
        deadline: Instant,
    ) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>> {
        self.inner.deadline_future(deadline)
    }
}
