//! The driver running Vigil through `vigil_processor::ldk_compat`, the API of
//! `lightning-background-processor` on Vigil's core.

use crate::driver::{
    start_background_processor, stop_error, DriverError, ProcessorDriver, RunningProcessor,
};
use crate::node::NodeParts;

/// The name [`CompatDriver`] reports, and the driver name in its errors.
const NAME: &str = "ldk-compat";

/// A driver running [`vigil_processor::ldk_compat::BackgroundProcessor`], the drop-in
/// replacement for LDK's `BackgroundProcessor`.
///
/// It calls `BackgroundProcessor::start` with the same argument expressions that
/// [`ReferenceDriver`](crate::ReferenceDriver) uses, so the two differ only in the module the
/// names come from: the one-line switch an LDK application makes. The processor runs with
/// [`vigil_processor::Config::default()`], because the reference API takes no configuration,
/// so it disconnects all peers after a wait that returned more than a second late.
///
/// # Example
///
/// ```
/// use vigil_simnet::{CompatDriver, ProcessorDriver, Simnet, SimnetConfig};
///
/// let simnet = Simnet::start(SimnetConfig::default(), CompatDriver).unwrap();
/// simnet.connect(0, 1).unwrap();
/// simnet.open_channel(0, 1, 1_000_000, 0).unwrap();
/// simnet.pay(0, 1, 5_000_000).unwrap();
///
/// assert_eq!(CompatDriver.name(), "ldk-compat");
/// assert_eq!(simnet.recorder(1).unwrap().count("PaymentClaimed"), 1);
/// simnet.stop_all().unwrap();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CompatDriver;

impl CompatDriver {
    /// Starts `ldk_compat::BackgroundProcessor` on `node` with the arguments
    /// [`ProcessorDriver::start`] gives it, and returns the processor itself, so that a test
    /// can `join`, `stop` or drop it.
    pub fn start_processor(node: &NodeParts) -> vigil_processor::ldk_compat::BackgroundProcessor {
        start_background_processor!(vigil_processor::ldk_compat, node)
    }
}

struct CompatProcessor(vigil_processor::ldk_compat::BackgroundProcessor);

impl RunningProcessor for CompatProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        self.0.stop().map_err(|error| stop_error(NAME, error))
    }
}

impl ProcessorDriver for CompatDriver {
    fn name(&self) -> &str {
        NAME
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        Ok(Box::new(CompatProcessor(Self::start_processor(node))))
    }
}
