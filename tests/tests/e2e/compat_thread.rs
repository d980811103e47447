//! The payment, restart and slow-handler scenarios with every node under
//! `ldk_compat::BackgroundProcessor`, started with the arguments LDK's own processor takes.

use vigil_simnet::CompatDriver;

use crate::payments::check_twenty_payments;
use crate::restart::check_restart;
use crate::slow_handler::check_slow_handler;
use crate::support::{line_of_three, within_limit};

#[test]
fn compat_line_forwards_payments() {
    within_limit(|| {
        let simnet = line_of_three(CompatDriver);
        check_twenty_payments(&simnet);
    });
}

#[test]
fn compat_restart_keeps_channels_and_payments() {
    within_limit(|| check_restart(CompatDriver));
}

#[test]
fn compat_slow_handler_does_not_delay_manager_write() {
    within_limit(|| check_slow_handler(CompatDriver));
}
