//! The simulated node of `crate::testing`, adapted to the async runner: components with
//! `process_pending_events_async`, an async store whose writes a test can hold, and a clock
//! that reports each wait.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::events::{Event, ReplayEvent};
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync};
use parking_lot::Mutex;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Semaphore;
use vigil_scheduler::{Clock, ManualClock, Signal, Wake};

use super::super::events::UserHandler;
use super::super::sources::{
    AsyncEventHandler, ChainMonitorEvents, ChannelManagerEvents, EventsFuture, OnionMessengerEvents,
};
use super::super::AsyncBuilder;
use crate::components::{
    ChainMonitorDriver, ChannelManagerDriver, MockChainMonitorDriver, MockChannelManagerDriver,
    MockOnionMessengerDriver, MockPeerManagerDriver, OnionMessengerDriver, WakeCallback,
};
use crate::config::Config;
use crate::runner::thread::BackgroundProcessor;
use crate::testing::{label, EventSource, FixedDelays, Node, Optional, Trace, TracingStore};

/// How long a test waits for the runner before it fails; never reached when the code works.
pub(super) const FAILURE_TIMEOUT: Duration = Duration::from_secs(60);

/// Awaits `future`, failing the test with `what` after the failure timeout.
pub(super) async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(FAILURE_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"))
}

/// Hands out the events of `source` to an async handler in order until one is rejected, as
/// LDK's providers do; returns how many were handled. No lock is held across an await.
async fn hand_out(source: &EventSource, handler: &AsyncEventHandler) -> usize {
    let events: Vec<Event> = source.pending.lock().iter().cloned().collect();
    let mut handled = 0;
    for event in events {
        if handler(event).await.is_err() {
            source.notifier.notify();
            break;
        }
        handled += 1;
    }
    source.pending.lock().drain(..handled);
    handled
}

/// The simulated ChannelManager with async event processing.
pub(super) struct AsyncManager {
    mock: MockChannelManagerDriver,
    node_manager: Arc<crate::testing::ManagerState>,
}

impl ChannelManagerDriver for AsyncManager {
    fn process_pending_events(&self, handler: &dyn lightning::events::EventHandler) {
        self.mock.process_pending_events(handler);
    }
    fn register_wake(&self, callback: WakeCallback) {
        self.mock.register_wake(callback);
    }
    fn get_and_clear_needs_persistence(&self) -> bool {
        self.mock.get_and_clear_needs_persistence()
    }
    fn encode(&self) -> Vec<u8> {
        self.mock.encode()
    }
    fn timer_tick_occurred(&self) {
        self.mock.timer_tick_occurred();
    }
    fn needs_pending_htlc_processing(&self) -> bool {
        self.mock.needs_pending_htlc_processing()
    }
    fn process_pending_htlc_forwards(&self) {
        self.mock.process_pending_htlc_forwards();
    }
}

impl ChannelManagerEvents for AsyncManager {
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a> {
        Box::pin(async move {
            let state = &self.node_manager;
            let had_events = !state.events.pending.lock().is_empty();
            hand_out(&state.events, handler).await;
            // LDK marks the manager as needing a write after handing out any event, so that
            // the removal of handled events is stored.
            if had_events {
                state.needs_persist.store(true, Ordering::SeqCst);
                state.events.notifier.notify();
            }
        })
    }
}

/// The simulated ChainMonitor with async event processing.
pub(super) struct AsyncMonitor {
    mock: MockChainMonitorDriver,
    events: Arc<EventSource>,
}

impl ChainMonitorDriver for AsyncMonitor {
    fn process_pending_events_unlocked(&self, handler: &dyn lightning::events::EventHandler) {
        self.mock.process_pending_events_unlocked(handler);
    }
    fn register_wake(&self, callback: WakeCallback) {
        self.mock.register_wake(callback);
    }
    fn rebroadcast_pending_claims(&self) {
        self.mock.rebroadcast_pending_claims();
    }
    fn archive_fully_resolved_channel_monitors(&self) {
        self.mock.archive_fully_resolved_channel_monitors();
    }
}

impl ChainMonitorEvents for AsyncMonitor {
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a> {
        Box::pin(async move {
            hand_out(&self.events, handler).await;
        })
    }
}

/// The simulated OnionMessenger with async event processing.
pub(super) struct AsyncMessenger {
    mock: MockOnionMessengerDriver,
    events: Arc<EventSource>,
}

impl OnionMessengerDriver for AsyncMessenger {
    fn process_pending_events_unlocked(&self, handler: &dyn lightning::events::EventHandler) {
        self.mock.process_pending_events_unlocked(handler);
    }
    fn register_wake(&self, callback: WakeCallback) {
        self.mock.register_wake(callback);
    }
    fn timer_tick_occurred(&self) {
        self.mock.timer_tick_occurred();
    }
}

impl OnionMessengerEvents for AsyncMessenger {
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a> {
        Box::pin(async move {
            hand_out(&self.events, handler).await;
        })
    }
}

/// An async store over the node's tracing store. Each issued write is reported, and the
/// writes of a held key wait for a release before they reach the inner store.
pub(crate) struct AsyncStore {
    inner: Arc<TracingStore>,
    trace: Trace,
    held: Mutex<HashMap<String, Arc<Semaphore>>>,
    issued: UnboundedSender<String>,
}

impl AsyncStore {
    /// Makes every later write of `key` wait for a [`release`](Self::release).
    pub(crate) fn hold(&self, key: &str) {
        self.held
            .lock()
            .insert(key.to_owned(), Arc::new(Semaphore::new(0)));
    }

    /// Lets `count` held writes of `key` through.
    pub(crate) fn release(&self, key: &str, count: usize) {
        if let Some(gate) = self.held.lock().get(key) {
            gate.add_permits(count);
        }
    }
}

impl KVStore for AsyncStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, lightning::io::Error> {
        let result = KVStoreSync::read(&*self.inner, primary, secondary, key);
        Box::pin(std::future::ready(result))
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        self.trace.push(format!("issue {key}"));
        let _ = self.issued.send(key.to_owned());
        let inner = Arc::clone(&self.inner);
        let gate = self.held.lock().get(key).cloned();
        let (primary, secondary, key) = (primary.to_owned(), secondary.to_owned(), key.to_owned());
        Box::pin(async move {
            if let Some(gate) = gate {
                gate.acquire()
                    .await
                    .expect("the gate is never closed")
                    .forget();
            }
            KVStoreSync::write(&*inner, &primary, &secondary, &key, buf)
        })
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        let result = KVStoreSync::remove(&*self.inner, primary, secondary, key, lazy);
        Box::pin(std::future::ready(result))
    }

    fn list(
        &self,
        primary: &str,
        secondary: &str,
    ) -> AsyncResult<'static, Vec<String>, lightning::io::Error> {
        let result = KVStoreSync::list(&*self.inner, primary, secondary);
        Box::pin(std::future::ready(result))
    }
}

/// A clock over a [`ManualClock`] that reports the deadline of each wait of the runner, so
/// a test advances virtual time only once the runner waits.
#[derive(Clone)]
pub(super) struct ObservedClock {
    inner: ManualClock,
    waits: UnboundedSender<Instant>,
}

impl Clock for ObservedClock {
    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn since_epoch(&self) -> Option<Duration> {
        self.inner.since_epoch()
    }

    fn wait_until(&self, signal: &Signal, deadline: Instant) -> Wake {
        self.inner.wait_until(signal, deadline)
    }

    fn deadline_future(
        &self,
        deadline: Instant,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        let _ = self.waits.send(deadline);
        self.inner.deadline_future(deadline)
    }
}

/// A simulated node with async components, its store and its clock.
pub(crate) struct Rig {
    pub(crate) node: Node,
    pub(crate) store: Arc<AsyncStore>,
    pub(super) clock: ObservedClock,
    waits: UnboundedReceiver<Instant>,
    issued: UnboundedReceiver<String>,
    pub(super) manager: Arc<AsyncManager>,
    pub(super) monitor: Arc<AsyncMonitor>,
    pub(super) messenger: Arc<AsyncMessenger>,
    pub(super) peers: Arc<MockPeerManagerDriver>,
}

impl Rig {
    pub(crate) fn new() -> Self {
        Self::with(Optional::default())
    }

    pub(crate) fn with(optional: Optional) -> Self {
        let node = Node::new(optional);
        let (wait_sender, waits) = unbounded_channel();
        let (issue_sender, issued) = unbounded_channel();
        let store = Arc::new(AsyncStore {
            inner: Arc::clone(&node.store),
            trace: node.trace.clone(),
            held: Mutex::default(),
            issued: issue_sender,
        });
        Self {
            manager: Arc::new(AsyncManager {
                mock: node.channel_manager_mock(),
                node_manager: Arc::clone(&node.manager),
            }),
            monitor: Arc::new(AsyncMonitor {
                mock: node.chain_monitor_mock(),
                events: Arc::clone(&node.monitor),
            }),
            messenger: Arc::new(AsyncMessenger {
                mock: node.messenger_mock(),
                events: Arc::clone(&node.messenger),
            }),
            peers: Arc::new(node.peer_manager_mock(|| {})),
            clock: ObservedClock {
                inner: node.clock.clone(),
                waits: wait_sender,
            },
            store,
            node,
            waits,
            issued,
        }
    }

    /// Returns a builder over this node's components with `handler`, in virtual time, with
    /// every optional component the node has.
    pub(crate) fn builder<H, Fut>(&self, handler: H, config: Config) -> AsyncBuilder
    where
        H: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ReplayEvent>> + Send + 'static,
    {
        let mut builder = BackgroundProcessor::async_builder(
            Arc::clone(&self.store),
            handler,
            Arc::clone(&self.monitor),
            Arc::clone(&self.manager),
            Arc::clone(&self.peers),
            Arc::clone(&self.node.logger),
        )
        .clock(Arc::new(self.clock.clone()))
        .config(config)
        .delays(Box::new(FixedDelays(vec![Duration::from_secs(2)])));
        let optional = self.node.optional;
        if optional.messenger {
            builder = builder.onion_messenger(Arc::clone(&self.messenger));
        }
        if let Some(kind) = optional.gossip {
            let driver: Arc<dyn crate::components::GossipDriver> =
                Arc::new(self.node.gossip_mock(kind));
            builder = builder.gossip(crate::builder::Gossip::from_driver(driver));
        }
        if optional.sweeper {
            builder = builder.sweeper(Arc::new(self.node.sweeper_mock()));
        }
        builder
    }

    /// Returns a builder over this node's components whose event task hands out no events by
    /// itself, as `ldk_compat` builds it, in virtual time.
    pub(crate) fn external_events_builder(
        &self,
        handler: UserHandler,
        config: Config,
    ) -> AsyncBuilder {
        AsyncBuilder::with_external_events(
            Arc::clone(&self.store) as Arc<dyn KVStore + Send + Sync>,
            handler,
            Arc::clone(&self.monitor) as Arc<dyn ChainMonitorDriver>,
            Arc::clone(&self.manager) as Arc<dyn ChannelManagerDriver>,
            Arc::clone(&self.peers) as Arc<dyn crate::components::PeerManagerDriver>,
            Arc::clone(&self.node.logger) as Arc<dyn lightning::util::logger::Logger + Send + Sync>,
        )
        .clock(Arc::new(self.clock.clone()))
        .config(config)
        .delays(Box::new(FixedDelays(vec![Duration::from_secs(2)])))
    }

    /// Returns a handler that records `handle X` for each event and accepts it.
    pub(crate) fn recording_handler(
        &self,
    ) -> impl Fn(Event) -> std::future::Ready<Result<(), ReplayEvent>> + Send + Sync + 'static {
        let trace = self.node.trace.clone();
        move |event: Event| {
            trace.push(format!("handle {}", label(&event)));
            std::future::ready(Ok(()))
        }
    }

    /// Waits until the runner waits for a deadline at least `ahead` from now, and returns it.
    pub(super) async fn wait_for_idle(&mut self, ahead: Duration) -> Instant {
        loop {
            let deadline = within("the runner waits", self.waits.recv())
                .await
                .expect("the clock is kept by the rig");
            if deadline >= self.node.now() + ahead {
                return deadline;
            }
        }
    }

    /// Drops the waits reported so far, so that the next one reported follows what the test
    /// does next.
    pub(super) fn forget_waits(&mut self) {
        while self.waits.try_recv().is_ok() {}
    }

    /// Waits until the store is asked to write a key, and returns the key.
    pub(super) async fn next_write(&mut self) -> String {
        within("a write is issued", self.issued.recv())
            .await
            .expect("the store is kept by the rig")
    }

    /// Advances virtual time to each deadline the runner requests, until `end` since start.
    pub(super) async fn run_until(&mut self, end: Duration) {
        loop {
            let deadline = self.wait_for_idle(Duration::ZERO).await;
            let target = (deadline - self.node.start).min(end);
            if target > self.node.now() - self.node.start {
                self.node.advance_to(target);
            }
            if target >= end {
                return;
            }
        }
    }

    /// Returns the trace entries that start with `prefix`.
    pub(super) fn entries_starting(&self, prefix: &str) -> Vec<String> {
        self.node
            .trace
            .entries()
            .into_iter()
            .filter(|entry| entry.starts_with(prefix))
            .collect()
    }
}

/// Returns the default config with the release-build ping interval, so that times do not
/// depend on the build profile.
pub(crate) fn config() -> Config {
    Config {
        ping_interval: Duration::from_secs(10),
        ..Config::default()
    }
}
