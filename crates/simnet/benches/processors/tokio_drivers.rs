//! Drivers for the async processors, each on its own tokio runtime: Vigil's tokio runner and
//! LDK's `process_events_async`.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::sign::ChangeDestinationSourceSyncWrapper;
use lightning::util::persist::KVStoreSyncWrapper;
use lightning::util::sweep::OutputSweeper;
use lightning_background_processor::{process_events_async, GossipSync, NO_LIQUIDITY_MANAGER};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use vigil_simnet::{
    Chain, DriverError, FixedFeeEstimator, NodeBroadcaster, NodeEventHandler, NodeLogger,
    NodeParts, NodeStore, ProcessorDriver, RunningProcessor, SimSweeper, Wallet,
};

use crate::contender::SLOW_HANDLER_DELAY;

/// Worker threads of each runtime, which runs the processors of both nodes of a contender:
/// two, so that one node's event handler never keeps the other node's processor waiting.
const WORKER_THREADS: usize = 2;

/// Returns an async handler that hands each event to `handler`, then awaits
/// [`SLOW_HANDLER_DELAY`] if `slow` is set.
fn async_handler(
    handler: NodeEventHandler,
    slow: Arc<AtomicBool>,
) -> impl Fn(Event) -> Pin<Box<dyn Future<Output = Result<(), ReplayEvent>> + Send>>
       + Send
       + Sync
       + 'static {
    move |event| {
        let handler = handler.clone();
        let slow = Arc::clone(&slow);
        Box::pin(async move {
            let result = handler.handle_event(event);
            if slow.load(Ordering::Acquire) {
                tokio::time::sleep(SLOW_HANDLER_DELAY).await;
            }
            result
        })
    }
}

/// Returns a multi-thread runtime whose threads are all named `name`.
fn runtime(name: &str) -> Result<Runtime, std::io::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name(name)
        .enable_all()
        .build()
}

/// A driver running each node's processor with Vigil's tokio runner, on a runtime of its own.
pub struct VigilTokioDriver {
    runtime: Runtime,
    config: vigil_processor::Config,
    slow: Arc<AtomicBool>,
}

impl VigilTokioDriver {
    /// Returns a driver whose runtime threads are named `vigil-tokio`, and whose handlers
    /// await [`SLOW_HANDLER_DELAY`] after each event while `slow` is set.
    ///
    /// # Errors
    ///
    /// Returns the error of the runtime's start.
    pub fn new(
        config: vigil_processor::Config,
        slow: Arc<AtomicBool>,
    ) -> Result<Self, std::io::Error> {
        Ok(Self {
            runtime: runtime("vigil-tokio")?,
            config,
            slow,
        })
    }
}

struct VigilTokioProcessor {
    processor: vigil_processor::TokioProcessor,
    runtime: tokio::runtime::Handle,
}

impl RunningProcessor for VigilTokioProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        self.runtime
            .block_on(self.processor.stop())
            .map_err(|error| DriverError::Stop {
                driver: "vigil-tokio".to_string(),
                source: Box::new(error),
            })
    }
}

impl ProcessorDriver for VigilTokioDriver {
    fn name(&self) -> &str {
        "vigil-tokio"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let _entered = self.runtime.enter();
        let store = Arc::new(KVStoreSyncWrapper(Arc::clone(&node.store)));
        let processor = vigil_processor::BackgroundProcessor::async_builder(
            store,
            async_handler(node.event_handler.clone(), Arc::clone(&self.slow)),
            Arc::clone(&node.chain_monitor),
            Arc::clone(&node.channel_manager),
            Arc::clone(&node.peer_manager),
            Arc::clone(&node.logger),
        )
        .gossip(vigil_processor::Gossip::p2p(Arc::clone(&node.gossip_sync)))
        .scorer(Arc::clone(&node.scorer))
        .onion_messenger(Arc::clone(&node.onion_messenger))
        .sweeper(Arc::clone(&node.sweeper))
        .config(self.config.clone())
        .spawn()
        .map_err(|error| DriverError::Start {
            driver: "vigil-tokio".to_string(),
            source: Box::new(error),
        })?;
        Ok(Box::new(VigilTokioProcessor {
            processor,
            runtime: self.runtime.handle().clone(),
        }))
    }
}

/// A driver running each node's processor with LDK's `process_events_async`, on a runtime of
/// its own.
pub struct LdkTokioDriver {
    runtime: Runtime,
    slow: Arc<AtomicBool>,
}

impl LdkTokioDriver {
    /// Returns a driver whose runtime threads are named `ldk-tokio`, and whose handlers
    /// await [`SLOW_HANDLER_DELAY`] after each event while `slow` is set.
    ///
    /// # Errors
    ///
    /// Returns the error of the runtime's start.
    pub fn new(slow: Arc<AtomicBool>) -> Result<Self, std::io::Error> {
        Ok(Self {
            runtime: runtime("ldk-tokio")?,
            slow,
        })
    }
}

/// The async form of a node's sweeper, which `process_events_async` takes.
struct AsyncSweeper(Arc<SimSweeper>);

type AsyncSweeperTarget = OutputSweeper<
    Arc<NodeBroadcaster>,
    ChangeDestinationSourceSyncWrapper<Arc<Wallet>>,
    Arc<FixedFeeEstimator>,
    Arc<Chain>,
    KVStoreSyncWrapper<Arc<NodeStore>>,
    Arc<NodeLogger>,
    Arc<lightning::sign::KeysManager>,
>;

impl Deref for AsyncSweeper {
    type Target = AsyncSweeperTarget;

    fn deref(&self) -> &Self::Target {
        self.0.sweeper_async()
    }
}

struct LdkTokioProcessor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), lightning::io::Error>>,
    runtime: tokio::runtime::Handle,
}

impl RunningProcessor for LdkTokioProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        let stop_error = |source: Box<dyn std::error::Error + Send + Sync>| DriverError::Stop {
            driver: "ldk-tokio".to_string(),
            source,
        };
        // Every sleeper LDK awaits then returns `true`, which makes it exit.
        let _ = self.stop.send(true);
        match self.runtime.block_on(self.task) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(stop_error(Box::new(std::io::Error::from(error)))),
            Err(error) => Err(stop_error(Box::new(error))),
        }
    }
}

impl ProcessorDriver for LdkTokioDriver {
    fn name(&self) -> &str {
        "ldk-tokio"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let (stop, stopped) = watch::channel(false);
        let sleeper = move |duration: Duration| {
            let mut stopped = stopped.clone();
            Box::pin(async move {
                tokio::select! {
                    _ = tokio::time::sleep(duration) => false,
                    _ = stopped.wait_for(|stop| *stop) => true,
                }
            })
        };
        let handler = async_handler(node.event_handler.clone(), Arc::clone(&self.slow));
        let node = node.clone();
        let task = self.runtime.spawn(async move {
            process_events_async(
                KVStoreSyncWrapper(Arc::clone(&node.store)),
                handler,
                Arc::clone(&node.chain_monitor),
                Arc::clone(&node.channel_manager),
                Some(Arc::clone(&node.onion_messenger)),
                GossipSync::p2p(Arc::clone(&node.gossip_sync)),
                Arc::clone(&node.peer_manager),
                NO_LIQUIDITY_MANAGER,
                Some(AsyncSweeper(Arc::clone(&node.sweeper))),
                Arc::clone(&node.logger),
                Some(Arc::clone(&node.scorer)),
                sleeper,
                false,
                || SystemTime::now().duration_since(UNIX_EPOCH).ok(),
            )
            .await
        });
        Ok(Box::new(LdkTokioProcessor {
            stop,
            task,
            runtime: self.runtime.handle().clone(),
        }))
    }
}
