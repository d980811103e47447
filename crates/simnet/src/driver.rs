//! Drivers of a node's background work: a background processor, or the test itself.

use crate::node::NodeParts;

/// Starts the background processor of a node.
///
/// A simnet calls [`ProcessorDriver::start`] whenever a node starts, including after a restart
/// from its data directory, and [`RunningProcessor::stop`] before the node stops. The same
/// nodes can so run with any processor: [`ReferenceDriver`] runs LDK's own
/// `lightning-background-processor`, and [`ManualDriver`] runs none, leaving the work to the
/// test (see [`Node::drive_once`](crate::Node::drive_once)).
///
/// # Example
///
/// A driver that counts starts and runs nothing:
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// use vigil_simnet::{DriverError, NodeParts, ProcessorDriver, RunningProcessor};
///
/// struct CountingDriver(AtomicUsize);
/// struct Idle;
///
/// impl RunningProcessor for Idle {
///     fn stop(self: Box<Self>) -> Result<(), DriverError> {
///         Ok(())
///     }
/// }
///
/// impl ProcessorDriver for CountingDriver {
///     fn name(&self) -> &str {
///         "counting"
///     }
///     fn start(&self, _node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(Box::new(Idle))
///     }
///     fn is_manual(&self) -> bool {
///         true
///     }
/// }
///
/// let driver = CountingDriver(AtomicUsize::new(0));
/// assert_eq!(driver.name(), "counting");
/// ```
pub trait ProcessorDriver: Send + Sync {
    /// Returns a short name for reports, such as `"ldk"` or `"vigil"`.
    fn name(&self) -> &str;

    /// Starts processing `node`'s background work and returns the running processor.
    ///
    /// # Errors
    ///
    /// Returns [`DriverError::Start`] when the processor cannot start.
    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError>;

    /// Returns whether the test drives the node itself, so that the simnet's helpers must
    /// process its events and write its state while they wait.
    fn is_manual(&self) -> bool {
        false
    }
}

/// A background processor started by a [`ProcessorDriver`].
pub trait RunningProcessor: Send {
    /// Stops the processor after its final writes.
    ///
    /// # Errors
    ///
    /// Returns [`DriverError::Stop`] with the processor's own error, for example the write of
    /// the ChannelManager that failed for good.
    fn stop(self: Box<Self>) -> Result<(), DriverError>;

    /// Returns the processor as [`Any`](std::any::Any), so that a test can reach the concrete
    /// type (such as `VigilProcessor`) for its statistics; `None` by default.
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// A background processor failed to start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The processor could not start.
    #[error("failed to start the {driver} background processor: {source}")]
    Start {
        /// The driver's name.
        driver: String,
        /// The processor's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The processor stopped with an error.
    #[error("the {driver} background processor stopped with an error: {source}")]
    Stop {
        /// The driver's name.
        driver: String,
        /// The processor's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A driver that starts no processor: the test processes events and writes state itself.
///
/// The simnet's helpers then call [`Node::drive_once`](crate::Node::drive_once) on the node
/// while they wait, so tests of the simnet itself do not depend on any processor.
#[derive(Clone, Copy, Debug, Default)]
pub struct ManualDriver;

struct NoProcessor;

impl RunningProcessor for NoProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        Ok(())
    }
}

impl ProcessorDriver for ManualDriver {
    fn name(&self) -> &str {
        "manual"
    }

    fn start(&self, _node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        Ok(Box::new(NoProcessor))
    }

    fn is_manual(&self) -> bool {
        true
    }
}

/// Expands to a call of `BackgroundProcessor::start` from the module given, with every part
/// of `node` written as a user of `lightning-background-processor` writes them.
///
/// [`ReferenceDriver`] and `CompatDriver` both expand it, so the two processors get the same
/// argument expressions and differ only in the module their names come from, as they
/// would in an application that switches with one `use` line.
macro_rules! start_background_processor {
    ($($module:ident)::+, $node:expr) => {{
        use std::sync::Arc;

        use $($module)::+::{BackgroundProcessor, GossipSync, NO_LIQUIDITY_MANAGER_SYNC};

        let node: &$crate::NodeParts = $node;
        BackgroundProcessor::start(
            Arc::clone(&node.store),
            node.event_handler.clone(),
            Arc::clone(&node.chain_monitor),
            Arc::clone(&node.channel_manager),
            Some(Arc::clone(&node.onion_messenger)),
            GossipSync::p2p(Arc::clone(&node.gossip_sync)),
            Arc::clone(&node.peer_manager),
            NO_LIQUIDITY_MANAGER_SYNC,
            Some(Arc::clone(&node.sweeper)),
            Arc::clone(&node.logger),
            Some(Arc::clone(&node.scorer)),
        )
    }};
}
#[cfg(feature = "vigil")]
pub(crate) use start_background_processor;

/// Returns the [`DriverError::Stop`] of the driver named `driver` for the `io::Error` that
/// `stop()` of a `lightning-background-processor` style processor returned.
pub(crate) fn stop_error(driver: &str, error: std::io::Error) -> DriverError {
    DriverError::Stop {
        driver: driver.to_string(),
        source: Box::new(error),
    }
}

/// A driver running LDK's `BackgroundProcessor` from `lightning-background-processor` 0.2,
/// the reference Vigil is measured against.
///
/// It hands the processor every part of the node: the store, the node's event handler, the
/// ChainMonitor, the ChannelManager, the OnionMessenger, P2P gossip, the PeerManager, the
/// OutputSweeper, the logger and the scorer. No LiquidityManager is given.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferenceDriver;

struct ReferenceProcessor(lightning_background_processor::BackgroundProcessor);

impl RunningProcessor for ReferenceProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        self.0.stop().map_err(|error| stop_error("ldk", error))
    }
}

impl ProcessorDriver for ReferenceDriver {
    fn name(&self) -> &str {
        "ldk"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let processor = start_background_processor!(lightning_background_processor, node);
        Ok(Box::new(ReferenceProcessor(processor)))
    }
}
