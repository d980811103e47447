//! Drivers for the async processors, each on its own tokio runtime: Vigil's tokio runner,
//! and `process_events_async` of LDK and of `vigil_processor::ldk_compat`.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::util::persist::KVStoreSyncWrapper;
use tokio::runtime::Runtime;
use tokio::sync::watch;
use vigil_simnet::{
    DriverError, NodeEventHandler, NodeParts, ProcessorDriver, RunningProcessor, SimAsyncSweeper,
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

/// The module whose `process_events_async` an [`LdkTokioDriver`] calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsyncApi {
    /// `lightning_background_processor`, LDK's own.
    Reference,
    /// `vigil_processor::ldk_compat`, the same API on Vigil's core.
    Compat,
}

impl AsyncApi {
    fn driver_name(self) -> &'static str {
        match self {
            AsyncApi::Reference => "ldk-tokio",
            AsyncApi::Compat => "ldk-compat-async",
        }
    }

    /// Returns the name of the runtime's threads, at most 15 bytes as Linux keeps it.
    fn thread_name(self) -> &'static str {
        match self {
            AsyncApi::Reference => "ldk-tokio",
            AsyncApi::Compat => "compat-async",
        }
    }
}

/// Expands to a call of `process_events_async` from the module given, with `node`'s parts
/// written as an application of LDK's async processor writes them.
///
/// Both [`AsyncApi`]s expand it, so the two calls differ only in the module their names come
/// from, as in an application that switches with one `use` line.
macro_rules! call_process_events_async {
    ($($module:ident)::+, $node:expr, $handler:expr, $sleeper:expr) => {{
        use $($module)::+::{process_events_async, GossipSync, NO_LIQUIDITY_MANAGER};

        let node: &NodeParts = $node;
        process_events_async(
            KVStoreSyncWrapper(Arc::clone(&node.store)),
            $handler,
            Arc::clone(&node.chain_monitor),
            Arc::clone(&node.channel_manager),
            Some(Arc::clone(&node.onion_messenger)),
            GossipSync::p2p(Arc::clone(&node.gossip_sync)),
            Arc::clone(&node.peer_manager),
            NO_LIQUIDITY_MANAGER,
            Some(SimAsyncSweeper(Arc::clone(&node.sweeper))),
            Arc::clone(&node.logger),
            Some(Arc::clone(&node.scorer)),
            $sleeper,
            false,
            || SystemTime::now().duration_since(UNIX_EPOCH).ok(),
        )
    }};
}

/// A driver running each node's processor with the `process_events_async` of `api`, on a
/// runtime of its own.
pub struct LdkTokioDriver {
    api: AsyncApi,
    runtime: Runtime,
    slow: Arc<AtomicBool>,
}

impl LdkTokioDriver {
    /// Returns a driver whose runtime threads are named `ldk-tokio` (`compat-async` for
    /// [`AsyncApi::Compat`]), and whose handlers await [`SLOW_HANDLER_DELAY`] after each
    /// event while `slow` is set.
    ///
    /// # Errors
    ///
    /// Returns the error of the runtime's start.
    pub fn new(api: AsyncApi, slow: Arc<AtomicBool>) -> Result<Self, std::io::Error> {
        Ok(Self {
            api,
            runtime: runtime(api.thread_name())?,
            slow,
        })
    }
}

struct LdkTokioProcessor {
    driver: &'static str,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), lightning::io::Error>>,
    runtime: tokio::runtime::Handle,
}

impl RunningProcessor for LdkTokioProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        let stop_error = |source: Box<dyn std::error::Error + Send + Sync>| DriverError::Stop {
            driver: self.driver.to_string(),
            source,
        };
        // Every sleeper the processor awaits then returns `true`, which makes it exit.
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
        self.api.driver_name()
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
        let task = match self.api {
            AsyncApi::Reference => self.runtime.spawn(async move {
                call_process_events_async!(lightning_background_processor, &node, handler, sleeper)
                    .await
            }),
            AsyncApi::Compat => self.runtime.spawn(async move {
                call_process_events_async!(vigil_processor::ldk_compat, &node, handler, sleeper)
                    .await
            }),
        };
        Ok(Box::new(LdkTokioProcessor {
            driver: self.api.driver_name(),
            stop,
            task,
            runtime: self.runtime.handle().clone(),
        }))
    }
}
