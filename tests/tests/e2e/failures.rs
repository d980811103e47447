//! A ChannelManager write that keeps failing stops the processor with an error naming the key.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use bitcoin::secp256k1::PublicKey;
use vigil_persistence::{FaultyStore, RetryPolicy};
use vigil_simnet::{DiskStore, ProcessorDriver, Simnet, SimnetConfig};

use crate::support::drivers::{JoinableVigilDriver, TokioVigilDriver};
use crate::support::stores::faulty_opener;
use crate::support::{pay_settled, short_intervals, within_limit, CHANNEL_SATS};

const ATTEMPTS: u32 = 3;

#[test]
fn failing_manager_write_stops_processor() {
    within_limit(|| {
        let driver = JoinableVigilDriver::new(retrying_config());
        let joiner = driver.clone();
        check_failing_manager_write(driver, move |node_id| {
            let processor = joiner.take(node_id).expect("node 0 runs a processor");
            processor.join()
        });
    });
}

#[test]
fn tokio_failing_manager_write_stops_processor() {
    within_limit(|| {
        let driver = TokioVigilDriver::new(retrying_config());
        let joiner = driver.clone();
        check_failing_manager_write(driver, move |node_id| {
            let processor = joiner.take(node_id).expect("node 0 runs a processor");
            joiner.runtime().block_on(processor.join())
        });
    });
}

/// Returns the test config with a retry policy of [`ATTEMPTS`] attempts and short backoffs.
fn retrying_config() -> vigil_processor::Config {
    vigil_processor::Config {
        retry_policy: RetryPolicy::new(
            ATTEMPTS,
            Duration::from_millis(10),
            Duration::from_millis(20),
        )
        .unwrap(),
        ..short_intervals()
    }
}

/// Runs two nodes under `driver`, node 0 on a `FaultyStore`, makes every write of node 0's
/// ChannelManager fail, and checks the error that `join` (the processor's own join, given
/// node 0's id) returns.
fn check_failing_manager_write(
    driver: impl ProcessorDriver + 'static,
    join: impl FnOnce(&PublicKey) -> Result<(), vigil_processor::Error>,
) {
    let (simnet, store, writes_before) = start_failing_manager_write(driver);
    let error = join(&simnet.node_id(0).unwrap())
        .expect_err("the processor stops after its last failed attempt");

    assert_eq!(error.key(), Some("manager"));
    assert_eq!(error.io_kind(), Some(ErrorKind::StorageFull));
    match &error {
        vigil_processor::Error::Persist { key, attempts, .. } => {
            assert_eq!(key, "manager");
            assert_eq!(*attempts, ATTEMPTS);
        }
        other => panic!("expected a persist error, got {other:?}"),
    }
    assert!(error.to_string().contains("manager"), "message: {error}");

    // A write issued between the count above and `fail_key` succeeded and counts too.
    let attempts_after_fault = store.writes("manager") - writes_before;
    let expected = ATTEMPTS as usize..=ATTEMPTS as usize + 1;
    assert!(
        expected.contains(&attempts_after_fault),
        "{attempts_after_fault} manager writes after the fault, expected one per attempt"
    );
}

/// Runs two nodes under `driver` with node 0 on a `FaultyStore`, pays once, makes every
/// later write of node 0's ChannelManager fail with `StorageFull`, and sends a payment that
/// needs such a write.
///
/// Returns the simnet, node 0's store and the count of its ChannelManager writes before the
/// fault.
pub fn start_failing_manager_write(
    driver: impl ProcessorDriver + 'static,
) -> (Simnet, Arc<FaultyStore<DiskStore>>, usize) {
    let (opener, faulty) = faulty_opener();
    let simnet = Simnet::start_with(SimnetConfig::default(), driver, |index, node| {
        if index == 0 {
            node.store = Some(Arc::clone(&opener));
        }
    })
    .unwrap();
    simnet.connect(0, 1).unwrap();
    simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
    pay_settled(&simnet, 0, 1, 5_000_000);

    let store = faulty
        .lock()
        .unwrap()
        .clone()
        .expect("node 0 opened its store through the opener");
    let writes_before = store.writes("manager");
    assert!(writes_before > 0, "the processor wrote the ChannelManager");
    store.fail_key("manager", ErrorKind::StorageFull);

    // A new payment changes the payer's ChannelManager, so the processor must write it.
    simnet.send_payment(0, 1, 5_000_000).unwrap();
    (simnet, store, writes_before)
}
