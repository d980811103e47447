//! The payment and restart scenarios with every node under
//! `ldk_compat::process_events_async`, the drop-in for LDK's async background processor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning::events::Event;
use vigil_simnet::{Simnet, SimnetConfig};

use crate::payments::check_twenty_payments;
use crate::restart::check_restart;
use crate::support::compat_async::{AfterEvent, CompatAsyncDriver};
use crate::support::stores::{tracing_opener, Trace, TraceEntry};
use crate::support::{line_of_three, within_limit, CHANNEL_SATS};

/// How long the handler waits for a ChannelManager write before it gives up.
const WRITE_GUARD: Duration = Duration::from_secs(30);

#[test]
fn compat_async_line_forwards_payments() {
    within_limit(|| {
        let simnet = line_of_three(CompatAsyncDriver::new());
        check_twenty_payments(&simnet);
    });
}

#[test]
fn compat_async_restart_keeps_channels() {
    within_limit(|| check_restart(CompatAsyncDriver::new()));
}

/// The handler of `PaymentClaimable` waits, without blocking its thread, for a
/// ChannelManager write made after its start. LDK's `process_events_async` writes only
/// after the handler returns, so there the wait runs into its guard (checked by hand with
/// that function in place of the compat one: the test fails after 30 s). The compat function
/// writes meanwhile.
#[test]
fn compat_async_writes_while_handler_waits() {
    within_limit(|| {
        let trace = Arc::new(Trace::default());
        let waiting_trace = Arc::clone(&trace);
        let after_event: AfterEvent = Arc::new(move |event: Event| {
            let trace = Arc::clone(&waiting_trace);
            Box::pin(async move {
                if !matches!(event, Event::PaymentClaimable { .. }) {
                    return;
                }
                trace.push(TraceEntry::HandlerStarted("PaymentClaimable"));
                let start = trace.entries().len();
                let waiting = Arc::clone(&trace);
                let written = tokio::task::spawn_blocking(move || {
                    waiting.wait_for(&TraceEntry::ManagerWritten, start, WRITE_GUARD)
                })
                .await
                .expect("the waiting task does not panic");
                if written {
                    trace.push(TraceEntry::HandlerReturned("PaymentClaimable"));
                }
            })
        });
        let opener = tracing_opener(Arc::clone(&trace));
        let simnet = Simnet::start_with(
            SimnetConfig::default(),
            CompatAsyncDriver::with_after_event(after_event),
            |index, node| {
                if index == 1 {
                    node.store = Some(Arc::clone(&opener));
                }
            },
        )
        .unwrap();
        simnet.connect(0, 1).unwrap();
        simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();

        simnet.pay(0, 1, 5_000_000).unwrap();

        let returned = TraceEntry::HandlerReturned("PaymentClaimable");
        assert!(
            trace.wait_for(&returned, 0, WRITE_GUARD),
            "no ChannelManager write completed while the handler waited: {:?}",
            trace.entries()
        );
    });
}

/// An application that stops by dropping the `process_events_async` future (a
/// `tokio::select!` on a shutdown signal) while its handler is inside `PaymentClaimable`.
/// LDK 0.2.7 marks the ChannelManager as busy while its async event processing runs, so the
/// drop must let that call complete: the next call on the same node then hands the cut-off
/// event out again, and later events flow.
#[test]
fn compat_async_drop_replays_event() {
    within_limit(|| {
        // Only the first `PaymentClaimable` hangs; `hanging` records that it does.
        let hang_next = Arc::new(AtomicBool::new(true));
        let hanging = Arc::new(AtomicBool::new(false));
        let (hang_next_in_handler, hanging_in_handler) =
            (Arc::clone(&hang_next), Arc::clone(&hanging));
        let after_event: AfterEvent = Arc::new(move |event: Event| {
            let hang = matches!(event, Event::PaymentClaimable { .. })
                && hang_next_in_handler.swap(false, Ordering::AcqRel);
            if hang {
                hanging_in_handler.store(true, Ordering::Release);
            }
            Box::pin(async move {
                if hang {
                    std::future::pending::<()>().await;
                }
            })
        });
        let simnet = Simnet::start(
            SimnetConfig::default(),
            CompatAsyncDriver::dropping_on_stop(after_event),
        )
        .unwrap();
        simnet.connect(0, 1).unwrap();
        simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
        let payee = simnet.recorder(1).unwrap();
        let claimable_count = || {
            payee
                .events()
                .iter()
                .filter(|recorded| matches!(recorded.event, Event::PaymentClaimable { .. }))
                .count()
        };

        let first = simnet.send_payment(0, 1, 5_000_000).unwrap();
        simnet
            .wait_for("the payee's handler to hang in PaymentClaimable", || {
                hanging.load(Ordering::Acquire)
            })
            .unwrap();
        assert_eq!(claimable_count(), 1);
        simnet.stop_processor(1).unwrap();
        simnet.start_processor(1).unwrap();

        simnet
            .wait_for("PaymentClaimable to be handed out again", || {
                claimable_count() == 2
            })
            .unwrap();
        simnet.wait_for_payment(&first).unwrap();
        simnet.pay(0, 1, 5_000_000).unwrap();
        assert_eq!(claimable_count(), 3);
    });
}
