//! The payment and restart scenarios with every node under Vigil's async runner on tokio.

use crate::payments::check_twenty_payments;
use crate::restart::check_restart;
use crate::support::drivers::TokioVigilDriver;
use crate::support::{line_of_three, short_intervals, within_limit};

#[test]
fn tokio_line_forwards_payments() {
    within_limit(|| {
        let simnet = line_of_three(TokioVigilDriver::new(short_intervals()));
        check_twenty_payments(&simnet);
        let handled = simnet
            .with_processor(0, |running| {
                let stopper = running
                    .as_any()
                    .and_then(|any| any.downcast_ref::<vigil_processor::Stopper>())
                    .expect("the tokio driver exposes the processor's Stopper");
                stopper.stats().events.values().sum::<u64>()
            })
            .unwrap();
        assert!(handled > 0, "the async runner handed out node 0's events");
    });
}

#[test]
fn tokio_restart_keeps_channels_and_payments() {
    within_limit(|| check_restart(TokioVigilDriver::new(short_intervals())));
}
