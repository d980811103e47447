//! A driver that runs each node's processor through `ldk_compat::process_events_async`,
//! called with the argument expressions an application of LDK's async processor uses.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::util::persist::KVStoreSyncWrapper;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use vigil_processor::ldk_compat::{process_events_async, GossipSync, NO_LIQUIDITY_MANAGER};
use vigil_simnet::{
    DriverError, NodeEventHandler, NodeParts, ProcessorDriver, RunningProcessor, SimAsyncSweeper,
};

/// Async work a test adds to the handler: it runs after the node's own handler returned.
pub type AfterEvent = Arc<dyn Fn(Event) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Runs each node's processor through `ldk_compat::process_events_async` on a tokio
/// runtime of its own, with a sleeper that a watch channel stops, as LDK's sample node does.
pub struct CompatAsyncDriver {
    runtime: Arc<Runtime>,
    after_event: Option<AfterEvent>,
    /// Whether a stop drops the processor's future (by aborting its task) instead of
    /// completing a sleep with `true`.
    drop_on_stop: bool,
}

impl CompatAsyncDriver {
    /// Returns a driver whose handlers await `after_event` after each event.
    pub fn with_after_event(after_event: AfterEvent) -> Self {
        Self {
            after_event: Some(after_event),
            ..Self::new()
        }
    }

    /// Returns a driver whose handlers await `after_event` after each event, and whose stop
    /// drops the processor's future wherever it waits, as an application's
    /// `tokio::select!` on a shutdown signal does.
    pub fn dropping_on_stop(after_event: AfterEvent) -> Self {
        Self {
            drop_on_stop: true,
            ..Self::with_after_event(after_event)
        }
    }

    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("compat-async")
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        Self {
            runtime: Arc::new(runtime),
            after_event: None,
            drop_on_stop: false,
        }
    }
}

/// The node's handler behind an async method, which the processor calls through a
/// borrowing closure, `|event| handler.handle_event(event)`, as LDK Node does.
struct AsyncHandler {
    node: NodeEventHandler,
    after_event: Option<AfterEvent>,
}

impl AsyncHandler {
    async fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        let result = self.node.handle_event(event.clone());
        if let Some(after_event) = &self.after_event {
            after_event(event).await;
        }
        result
    }
}

struct CompatAsyncProcessor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), lightning::io::Error>>,
    runtime: Arc<Runtime>,
    drop_on_stop: bool,
}

impl RunningProcessor for CompatAsyncProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        let stop_error = |source: Box<dyn std::error::Error + Send + Sync>| DriverError::Stop {
            driver: "ldk-compat-async".to_string(),
            source,
        };
        if self.drop_on_stop {
            self.task.abort();
        } else {
            // Every sleeper the processor awaits now returns `true`, which stops it.
            let _ = self.stop.send(true);
        }
        match self.runtime.block_on(self.task) {
            Ok(Ok(())) => Ok(()),
            Err(error) if error.is_cancelled() => Ok(()),
            Ok(Err(error)) => Err(stop_error(Box::new(std::io::Error::from(error)))),
            Err(error) => Err(stop_error(Box::new(error))),
        }
    }
}

/// The future of one sleep: `true` once the driver asked the processor to stop.
type Sleep = Pin<Box<dyn Future<Output = bool> + Send>>;

impl ProcessorDriver for CompatAsyncDriver {
    fn name(&self) -> &str {
        "ldk-compat-async"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let (stop, stopped) = watch::channel(false);
        let sleeper = move |duration: Duration| -> Sleep {
            let mut stopped = stopped.clone();
            Box::pin(async move {
                tokio::select! {
                    _ = tokio::time::sleep(duration) => false,
                    _ = stopped.wait_for(|stop| *stop) => true,
                }
            })
        };
        let node = node.clone();
        let after_event = self.after_event.clone();
        let task = self.runtime.spawn(async move {
            let handler = AsyncHandler {
                node: node.event_handler.clone(),
                after_event,
            };
            process_events_async(
                KVStoreSyncWrapper(Arc::clone(&node.store)),
                |event| handler.handle_event(event),
                Arc::clone(&node.chain_monitor),
                Arc::clone(&node.channel_manager),
                Some(Arc::clone(&node.onion_messenger)),
                GossipSync::p2p(Arc::clone(&node.gossip_sync)),
                Arc::clone(&node.peer_manager),
                NO_LIQUIDITY_MANAGER,
                Some(SimAsyncSweeper(Arc::clone(&node.sweeper))),
                Arc::clone(&node.logger),
                Some(Arc::clone(&node.scorer)),
                sleeper,
                false,
                || SystemTime::now().duration_since(UNIX_EPOCH).ok(),
            )
            .await
        });
        Ok(Box::new(CompatAsyncProcessor {
            stop,
            task,
            runtime: Arc::clone(&self.runtime),
            drop_on_stop: self.drop_on_stop,
        }))
    }
}
