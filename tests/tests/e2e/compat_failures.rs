//! `ldk_compat::BackgroundProcessor` after a ChannelManager write failed for good: `join`
//! and `CompatDriver`'s stop return the store's error, and a drop does not panic, where
//! LDK's processor panics.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use vigil_persistence::FaultyStore;
use vigil_processor::ldk_compat::BackgroundProcessor;
use vigil_simnet::{
    CompatDriver, DiskStore, DriverError, NodeParts, ProcessorDriver, RunningProcessor, Simnet,
    SimnetError,
};

use crate::failures::start_failing_manager_write;
use crate::support::drivers::{KeptProcessors, Slot};
use crate::support::within_limit;

/// Starts `ldk_compat::BackgroundProcessor` on each node with the arguments LDK's processor
/// takes, and keeps each running processor reachable by node id for the test to take.
#[derive(Clone, Default)]
struct KeepingCompatDriver {
    running: KeptProcessors<BackgroundProcessor>,
}

/// A processor the test may have taken away; stopping it then stops nothing.
struct KeptProcessor(Slot<BackgroundProcessor>);

impl RunningProcessor for KeptProcessor {
    fn stop(self: Box<Self>) -> Result<(), DriverError> {
        let Some(processor) = self.0.lock().unwrap().take() else {
            return Ok(());
        };
        processor.stop().map_err(|error| DriverError::Stop {
            driver: "ldk-compat".to_string(),
            source: Box::new(error),
        })
    }
}

impl ProcessorDriver for KeepingCompatDriver {
    fn name(&self) -> &str {
        "ldk-compat"
    }

    fn start(&self, node: &NodeParts) -> Result<Box<dyn RunningProcessor>, DriverError> {
        let processor = CompatDriver::start_processor(node);
        let slot = self.running.keep(node.node_id, processor);
        Ok(Box::new(KeptProcessor(slot)))
    }
}

#[test]
fn compat_join_returns_store_error() {
    within_limit(|| {
        let failing = fail_node_zero_manager_writes();
        let processor = failing
            .driver
            .running
            .take(&failing.node_id)
            .expect("node 0's processor");

        let error = processor
            .join()
            .expect_err("the processor stops after its last failed attempt");

        assert_eq!(error.kind(), ErrorKind::StorageFull);
        let attempts = failing.store.writes("manager") - failing.writes_before;
        assert!(attempts >= ATTEMPTS, "{attempts} attempts after the fault");
    });
}

/// LDK's processor unwraps the error of its thread when dropped, so this drop panics there.
#[test]
fn compat_drop_after_failure_does_not_panic() {
    within_limit(|| {
        let failing = fail_node_zero_manager_writes();
        let processor = failing
            .driver
            .running
            .take(&failing.node_id)
            .expect("node 0's processor");
        let all_failed = failing.writes_before + ATTEMPTS;
        let limit = Instant::now() + ATTEMPTS_LIMIT;
        while failing.store.writes("manager") < all_failed && Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            failing.store.writes("manager") >= all_failed,
            "the processor made every attempt within {ATTEMPTS_LIMIT:?}"
        );

        drop(processor);
    });
}

/// `CompatDriver` maps the processor's `io::Error` into the simnet's stop error, as the
/// driver of LDK's processor does.
#[test]
fn compat_driver_stop_returns_store_error() {
    within_limit(|| {
        let (simnet, store, writes_before) = start_failing_manager_write(CompatDriver);
        simnet
            .wait_for("every attempt of the failing ChannelManager write", || {
                store.writes("manager") - writes_before >= ATTEMPTS
            })
            .unwrap();

        let error = simnet
            .stop_processor(0)
            .expect_err("the processor ended with the failed write");

        let SimnetError::Driver(DriverError::Stop { driver, source }) = &error else {
            panic!("expected the driver's stop error, got {error:?}");
        };
        assert_eq!(driver, "ldk-compat");
        let io_error = source
            .downcast_ref::<std::io::Error>()
            .unwrap_or_else(|| panic!("expected the store's io::Error, got {source:?}"));
        assert_eq!(io_error.kind(), ErrorKind::StorageFull);
    });
}

/// The attempts of the default retry policy.
const ATTEMPTS: usize = 3;

/// How long the default retry policy's attempts may take, with margin for a loaded machine.
const ATTEMPTS_LIMIT: Duration = Duration::from_secs(30);

/// Two nodes whose node 0 can no longer write its ChannelManager, and what the test reads.
struct FailingNode {
    driver: KeepingCompatDriver,
    node_id: PublicKey,
    store: Arc<FaultyStore<DiskStore>>,
    /// The `manager` writes before the fault.
    writes_before: usize,
    /// Kept alive until the test ends, so that the nodes keep running.
    _simnet: Simnet,
}

/// Runs two nodes under [`KeepingCompatDriver`], node 0 on a `FaultyStore`, fails every
/// later write of node 0's ChannelManager with `StorageFull`, and makes one more payment
/// so that the processor must write it.
fn fail_node_zero_manager_writes() -> FailingNode {
    let driver = KeepingCompatDriver::default();
    let (simnet, store, writes_before) = start_failing_manager_write(driver.clone());
    FailingNode {
        driver,
        node_id: simnet.node_id(0).unwrap(),
        store,
        writes_before,
        _simnet: simnet,
    }
}
