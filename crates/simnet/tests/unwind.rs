//! A simnet dropped while its test panics, whose stop panics too.

use vigil_simnet::{
    DriverError, NodeParts, ProcessorDriver, RunningProcessor, Simnet, SimnetConfig,
};

/// A manual driver whose processors panic on stop, as LDK's processor does when its thread
/// has panicked.
struct PanickingStopDriver;
struct PanickingStop;

impl RunningProcessor for PanickingStop {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        panic!("the processor thread panicked earlier");
    }
}

impl ProcessorDriver for PanickingStopDriver {
    fn name(&self) -> &str {
        "panicking-stop"
    }

    fn start(&self, _node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        Ok(Box::new(PanickingStop))
    }

    fn is_manual(&self) -> bool {
        true
    }
}

// Before the drop caught the second panic, the test binary aborted here.
#[test]
#[should_panic(expected = "the test's own failure")]
fn drop_during_panic_does_not_abort() {
    let simnet = Simnet::start(SimnetConfig::default(), PanickingStopDriver).unwrap();
    simnet.connect(0, 1).unwrap();
    panic!("the test's own failure");
}
