//! A slow event handler does not hold back the ChannelManager's writes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lightning::events::Event;
use vigil_simnet::{event_kind, ProcessorDriver, Simnet, SimnetConfig, UserHandler, VigilDriver};

use crate::support::stores::{tracing_opener, Trace, TraceEntry};
use crate::support::{short_intervals, within_limit, CHANNEL_SATS};

/// How long the handler works on each event.
const HANDLER_WORK: Duration = Duration::from_millis(500);

/// How long a handler keeps waiting for a ChannelManager write after its work, as a guard
/// against a processor that never writes while the handler runs.
const WRITE_GUARD: Duration = Duration::from_secs(30);

#[test]
fn slow_handler_does_not_delay_manager_write() {
    within_limit(|| check_slow_handler(VigilDriver::new(short_intervals())));
}

/// Runs two nodes under `driver`, node 1 with a handler that takes [`HANDLER_WORK`] per
/// event, pays node 1 and checks that a ChannelManager write completed while the handler
/// worked on `PaymentClaimable`.
pub fn check_slow_handler(driver: impl ProcessorDriver + 'static) {
    let trace = Arc::new(Trace::default());
    let armed = Arc::new(AtomicBool::new(false));
    let opener = tracing_opener(Arc::clone(&trace));
    let handler = slow_handler(Arc::clone(&trace), Arc::clone(&armed));
    let simnet = Simnet::start_with(SimnetConfig::default(), driver, |index, node| {
        if index == 1 {
            node.store = Some(Arc::clone(&opener));
            node.user_handler = Some(Arc::clone(&handler));
        }
    })
    .unwrap();
    simnet.connect(0, 1).unwrap();
    simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();

    armed.store(true, Ordering::Release);
    simnet.pay(0, 1, 5_000_000).unwrap();
    // `pay` returns once the node's own handler recorded PaymentClaimed, before the slow
    // handler has seen it.
    let claimed_handled = TraceEntry::HandlerReturned("PaymentClaimed");
    assert!(
        trace.wait_for(&claimed_handled, 0, WRITE_GUARD),
        "the slow handler did not return from PaymentClaimed: {:?}",
        trace.entries()
    );

    // The node's own handler claims the payment before the slow handler runs, so the
    // ChannelManager needs a write while the slow handler still works on PaymentClaimable.
    let entries = trace.entries();
    let started = position(&entries, &TraceEntry::HandlerStarted("PaymentClaimable"));
    let returned = position(&entries, &TraceEntry::HandlerReturned("PaymentClaimable"));
    assert!(started < returned);
    let written_meanwhile = entries[started..returned].contains(&TraceEntry::ManagerWritten);
    assert!(
        written_meanwhile,
        "no ChannelManager write completed while the handler ran: {entries:?}"
    );
    let claimed = position(&entries, &TraceEntry::HandlerStarted("PaymentClaimed"));
    assert!(
        returned < claimed,
        "events reach the handler one at a time: {entries:?}"
    );
}

/// Returns a handler that, once `armed`, records its start, works for [`HANDLER_WORK`] on each
/// event, and on `PaymentClaimable` also waits for a ChannelManager write made since its
/// start, before recording its return.
fn slow_handler(trace: Arc<Trace>, armed: Arc<AtomicBool>) -> UserHandler {
    Arc::new(move |event: &Event| {
        if !armed.load(Ordering::Acquire) {
            return Ok(());
        }
        let kind = event_kind(event);
        trace.push(TraceEntry::HandlerStarted(kind));
        let start = trace.entries().len();
        std::thread::sleep(HANDLER_WORK);
        if kind == "PaymentClaimable" {
            trace.wait_for(&TraceEntry::ManagerWritten, start, WRITE_GUARD);
        }
        trace.push(TraceEntry::HandlerReturned(kind));
        Ok(())
    })
}

fn position(entries: &[TraceEntry], entry: &TraceEntry) -> usize {
    entries
        .iter()
        .position(|seen| seen == entry)
        .unwrap_or_else(|| panic!("{entry:?} is missing from the trace: {entries:?}"))
}
