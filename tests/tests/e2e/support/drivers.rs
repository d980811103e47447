//! Processor drivers written for these tests: one that lets a test take a node's Vigil
//! processor out of the simnet to `join()` it, and one that runs Vigil's async runner on a
//! multi-threaded tokio runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bitcoin::secp256k1::PublicKey;
use lightning::events::{Event, EventHandler};
use lightning::util::persist::KVStoreSyncWrapper;
use vigil_processor::{BackgroundProcessor, Gossip, Stopper, TokioProcessor};
use vigil_simnet::{DriverError, NodeParts, ProcessorDriver, RunningProcessor};

/// The slot of one running processor; a test that takes the processor leaves it empty.
pub type Slot<P> = Arc<Mutex<Option<P>>>;

/// The running processors of a driver by node id, so that a test can take one out of the
/// simnet's reach, to `join()` it for example. The simnet's later stop of that node then
/// stops no processor.
pub struct KeptProcessors<P>(Arc<Mutex<HashMap<PublicKey, Slot<P>>>>);

impl<P> Clone for KeptProcessors<P> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<P> Default for KeptProcessors<P> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<P> KeptProcessors<P> {
    /// Keeps `processor` as the running processor of `node_id` and returns its slot.
    pub fn keep(&self, node_id: PublicKey, processor: P) -> Slot<P> {
        let slot = Arc::new(Mutex::new(Some(processor)));
        self.0.lock().unwrap().insert(node_id, Arc::clone(&slot));
        slot
    }

    /// Removes the running processor of `node_id` from its slot and returns it.
    pub fn take(&self, node_id: &PublicKey) -> Option<P> {
        let slot = self.0.lock().unwrap().get(node_id).cloned()?;
        let processor = slot.lock().unwrap().take();
        processor
    }
}

/// Runs Vigil's thread runner on each node, as `VigilDriver` does, and keeps every running
/// processor reachable by node id, so that a test can take one out and `join()` it.
#[derive(Clone)]
pub struct JoinableVigilDriver {
    config: vigil_processor::Config,
    running: KeptProcessors<BackgroundProcessor>,
}

impl JoinableVigilDriver {
    pub fn new(config: vigil_processor::Config) -> Self {
        Self {
            config,
            running: KeptProcessors::default(),
        }
    }

    /// Removes the running processor of `node_id` from the simnet's reach and returns it.
    ///
    /// The simnet's later stop of that node then stops no processor.
    pub fn take(&self, node_id: &PublicKey) -> Option<BackgroundProcessor> {
        self.running.take(node_id)
    }
}

struct JoinableProcessor(Slot<BackgroundProcessor>);

impl RunningProcessor for JoinableProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        let Some(processor) = self.0.lock().unwrap().take() else {
            return Ok(());
        };
        processor.stop().map_err(|error| DriverError::Stop {
            driver: "vigil".to_string(),
            source: Box::new(error),
        })
    }
}

impl ProcessorDriver for JoinableVigilDriver {
    fn name(&self) -> &str {
        "vigil"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let processor = BackgroundProcessor::builder(
            Arc::clone(&node.store),
            node.event_handler.clone(),
            Arc::clone(&node.chain_monitor),
            Arc::clone(&node.channel_manager),
            Arc::clone(&node.peer_manager),
            Arc::clone(&node.logger),
        )
        .gossip(Gossip::p2p(Arc::clone(&node.gossip_sync)))
        .scorer(Arc::clone(&node.scorer))
        .onion_messenger(Arc::clone(&node.onion_messenger))
        .sweeper(Arc::clone(&node.sweeper))
        .config(self.config.clone())
        .start()
        .map_err(|error| DriverError::Start {
            driver: "vigil".to_string(),
            source: Box::new(error),
        })?;
        let slot = self.running.keep(node.node_id, processor);
        Ok(Box::new(JoinableProcessor(slot)))
    }
}

/// Runs Vigil's async runner on each node, as a task on a multi-threaded tokio runtime that
/// all nodes share.
///
/// The node's store goes to the runner through LDK's `KVStoreSyncWrapper`, and the node's
/// blocking event handler is called inside the async handler's future.
#[derive(Clone)]
pub struct TokioVigilDriver {
    config: vigil_processor::Config,
    runtime: Arc<tokio::runtime::Runtime>,
    running: KeptProcessors<TokioProcessor>,
}

impl TokioVigilDriver {
    pub fn new(config: vigil_processor::Config) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("vigil-tests-tokio")
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        Self {
            config,
            runtime: Arc::new(runtime),
            running: KeptProcessors::default(),
        }
    }

    /// Returns the runtime the processors run on.
    pub fn runtime(&self) -> &tokio::runtime::Runtime {
        &self.runtime
    }

    /// Removes the running processor of `node_id` from the simnet's reach and returns it.
    ///
    /// The simnet's later stop of that node then stops no processor.
    pub fn take(&self, node_id: &PublicKey) -> Option<TokioProcessor> {
        self.running.take(node_id)
    }
}

/// A processor started by [`TokioVigilDriver`]. [`RunningProcessor::as_any`] reaches its
/// [`Stopper`], which reads its counters.
struct TokioRunning {
    slot: Slot<TokioProcessor>,
    stopper: Stopper,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl RunningProcessor for TokioRunning {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        let Some(processor) = self.slot.lock().unwrap().take() else {
            return Ok(());
        };
        self.runtime
            .block_on(processor.stop())
            .map_err(|error| DriverError::Stop {
                driver: "vigil-tokio".to_string(),
                source: Box::new(error),
            })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(&self.stopper)
    }
}

impl ProcessorDriver for TokioVigilDriver {
    fn name(&self) -> &str {
        "vigil-tokio"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let store = Arc::new(KVStoreSyncWrapper(Arc::clone(&node.store)));
        let node_handler = node.event_handler.clone();
        let handler = move |event: Event| {
            let node_handler = node_handler.clone();
            async move { node_handler.handle_event(event) }
        };

        let _entered = self.runtime.enter();
        let processor = BackgroundProcessor::async_builder(
            store,
            handler,
            Arc::clone(&node.chain_monitor),
            Arc::clone(&node.channel_manager),
            Arc::clone(&node.peer_manager),
            Arc::clone(&node.logger),
        )
        .gossip(Gossip::p2p(Arc::clone(&node.gossip_sync)))
        .scorer(Arc::clone(&node.scorer))
        .onion_messenger(Arc::clone(&node.onion_messenger))
        .sweeper(Arc::clone(&node.sweeper))
        .config(self.config.clone())
        .spawn()
        .map_err(|error| DriverError::Start {
            driver: "vigil-tokio".to_string(),
            source: Box::new(error),
        })?;

        let stopper = processor.stopper();
        let slot = self.running.keep(node.node_id, processor);
        Ok(Box::new(TokioRunning {
            slot,
            stopper,
            runtime: Arc::clone(&self.runtime),
        }))
    }
}
