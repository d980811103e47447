//! A handler that never returns makes `stop()` time out, after the final ChannelManager write,
//! and the event it held is handed out again when the node starts from disk.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning::events::Event;
use lightning::types::payment::PaymentHash;
use vigil_simnet::{Simnet, SimnetConfig, UserHandler};

use crate::support::drivers::JoinableVigilDriver;
use crate::support::{payment_hashes, short_intervals, within_limit, CHANNEL_SATS};

const PAYER: usize = 0;
const PAYEE: usize = 1;
const AMOUNT_MSAT: u64 = 5_000_000;
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

#[test]
fn stuck_handler_times_out_and_replays() {
    within_limit(check_stuck_handler);
}

fn check_stuck_handler() {
    let driver = JoinableVigilDriver::new(vigil_processor::Config {
        shutdown_timeout: SHUTDOWN_TIMEOUT,
        ..short_intervals()
    });
    let (entered_sender, entered) = mpsc::channel();
    let (release, release_receiver) = mpsc::channel();
    let handler = blocking_handler(entered_sender, release_receiver);
    let simnet = Simnet::start_with(SimnetConfig::default(), driver.clone(), |index, node| {
        if index == PAYEE {
            node.user_handler = Some(Arc::clone(&handler));
        }
    })
    .unwrap();
    simnet.connect(PAYER, PAYEE).unwrap();
    simnet.open_channel(PAYER, PAYEE, CHANNEL_SATS, 0).unwrap();

    let payment = simnet.send_payment(PAYER, PAYEE, AMOUNT_MSAT).unwrap();
    let blocked_hash = entered
        .recv()
        .expect("the payee's handler receives PaymentClaimable");
    assert_eq!(blocked_hash, payment.payment_hash);

    let (writes_before, old_manager) = {
        let node = simnet.node(PAYEE).unwrap();
        (
            node.store().writes("manager"),
            Arc::downgrade(node.channel_manager()),
        )
    };
    let processor = driver
        .take(&simnet.node_id(PAYEE).unwrap())
        .expect("the payee runs a processor");
    let error = processor
        .stop()
        .expect_err("stop times out while the handler blocks");
    match error {
        vigil_processor::Error::ShutdownTimeout { waited } => {
            assert_eq!(waited, SHUTDOWN_TIMEOUT);
        }
        other => panic!("expected a shutdown timeout, got {other:?}"),
    }
    let writes_after = simnet.node(PAYEE).unwrap().store().writes("manager");
    assert!(
        writes_after > writes_before,
        "no ChannelManager write after the handler blocked ({writes_before} writes before stop)"
    );
    assert_eq!(claimable_count(&simnet, payment.payment_hash), 1);
    // The node's own handler claimed the payment before the blocking handler ran, but
    // PaymentClaimed waits in LDK's queue behind the event that never finished.
    assert!(!payment_hashes(&simnet, PAYEE, "PaymentClaimed").contains(&payment.payment_hash));

    simnet.stop_node(PAYEE).unwrap();
    // The event worker still runs the handler and holds the node's parts, the store among
    // them, and the store keeps the node's directory locked. Releasing the handler lets the
    // worker drop them. Nothing writes the ChannelManager that the worker then changes.
    release.send(()).unwrap();
    simnet
        .wait_for("the old node's ChannelManager to be dropped", || {
            old_manager.strong_count() == 0
        })
        .unwrap();

    simnet.restart_node(PAYEE).unwrap();
    simnet
        .wait_for("PaymentClaimable to be handed out again", || {
            claimable_count(&simnet, payment.payment_hash) >= 2
        })
        .unwrap();
    simnet.wait_for_payment(&payment).unwrap();
    assert!(payment_hashes(&simnet, PAYEE, "PaymentClaimed").contains(&payment.payment_hash));
    assert!(payment_hashes(&simnet, PAYER, "PaymentSent").contains(&payment.payment_hash));
}

/// Returns a handler that, on the first PaymentClaimable only, sends its payment hash to
/// `entered` and then blocks until `release` receives a message or its sender is dropped.
fn blocking_handler(entered: Sender<PaymentHash>, release: Receiver<()>) -> UserHandler {
    let entered = Mutex::new(entered);
    let release = Mutex::new(release);
    let blocked_once = AtomicBool::new(false);
    Arc::new(move |event: &Event| {
        let Event::PaymentClaimable { payment_hash, .. } = event else {
            return Ok(());
        };
        if blocked_once.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _ = entered.lock().unwrap().send(*payment_hash);
        // A dropped sender ends the wait too, so a failing test leaves no blocked thread.
        let _ = release.lock().unwrap().recv();
        Ok(())
    })
}

/// Returns how many PaymentClaimable events with `payment_hash` the payee received, over all
/// its starts.
fn claimable_count(simnet: &Simnet, payment_hash: PaymentHash) -> usize {
    simnet
        .recorder(PAYEE)
        .unwrap()
        .of_kind("PaymentClaimable")
        .iter()
        .filter(|event| {
            matches!(event, Event::PaymentClaimable { payment_hash: hash, .. }
                if *hash == payment_hash)
        })
        .count()
}
