//! The driver running Vigil's own background processor.

use std::sync::Arc;

use crate::driver::{DriverError, ProcessorDriver, RunningProcessor};
use crate::node::NodeParts;

/// A driver running Vigil's [`BackgroundProcessor`](vigil_processor::BackgroundProcessor).
///
/// It hands the processor the same parts as [`ReferenceDriver`](crate::ReferenceDriver) does, with the intervals and
/// policies of `config` and the clock of `clock` (the system clock by default).
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use vigil_simnet::VigilDriver;
///
/// let config = vigil_processor::Config {
///     sweeper_interval: Duration::from_millis(100),
///     ..vigil_processor::Config::default()
/// };
/// let driver = VigilDriver::new(config);
/// assert_eq!(driver.config().sweeper_interval, Duration::from_millis(100));
/// ```
#[derive(Clone, Default)]
pub struct VigilDriver {
    config: vigil_processor::Config,
    clock: Option<Arc<dyn vigil_scheduler::Clock>>,
}

impl VigilDriver {
    /// Returns a driver starting processors with `config` on the system clock.
    pub fn new(config: vigil_processor::Config) -> Self {
        Self {
            config,
            clock: None,
        }
    }

    /// Returns the driver with processors on `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn vigil_scheduler::Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Returns the configuration each processor starts with.
    pub fn config(&self) -> &vigil_processor::Config {
        &self.config
    }
}

impl std::fmt::Debug for VigilDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VigilDriver")
            .field("config", &self.config)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// A running Vigil processor, reachable through [`RunningProcessor::as_any`].
pub struct VigilProcessor(vigil_processor::BackgroundProcessor);

impl VigilProcessor {
    /// Returns the processor, for its [`stats`](vigil_processor::BackgroundProcessor::stats).
    pub fn processor(&self) -> &vigil_processor::BackgroundProcessor {
        &self.0
    }
}

impl RunningProcessor for VigilProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        self.0.stop().map_err(|error| DriverError::Stop {
            driver: "vigil".to_string(),
            source: Box::new(error),
        })
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

impl ProcessorDriver for VigilDriver {
    fn name(&self) -> &str {
        "vigil"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let mut builder = vigil_processor::BackgroundProcessor::builder(
            Arc::clone(&node.store),
            node.event_handler.clone(),
            Arc::clone(&node.chain_monitor),
            Arc::clone(&node.channel_manager),
            Arc::clone(&node.peer_manager),
            Arc::clone(&node.logger),
        )
        .gossip(vigil_processor::Gossip::p2p(Arc::clone(&node.gossip_sync)))
        .scorer(Arc::clone(&node.scorer))
        .onion_messenger(Arc::clone(&node.onion_messenger))
        .sweeper(Arc::clone(&node.sweeper))
        .config(self.config.clone());
        if let Some(clock) = &self.clock {
            builder = builder.clock(Arc::clone(clock));
        }
        let processor = builder.start().map_err(|error| DriverError::Start {
            driver: "vigil".to_string(),
            source: Box::new(error),
        })?;
        Ok(Box::new(VigilProcessor(processor)))
    }
}
