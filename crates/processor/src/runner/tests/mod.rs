//! Tests of the thread runner over the simulated node, in virtual time.
//!
//! The threads block on channels with a generous failure timeout; no test sleeps or asserts
//! a duration.

mod handlers;
mod lifecycle;

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::events::{Event, ReplayEvent};

use crate::components::{MockChainMonitorDriver, MockChannelManagerDriver, MockPeerManagerDriver};
use crate::config::Config;
use crate::runner::thread::BackgroundProcessor;
use crate::testing::{FixedDelays, Node, ObservedClock, Optional};

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
