//! Shared setup of the end-to-end tests: processor configs, drivers, the watchdog and stores
//! that record what happens to them.

pub mod compat_async;
pub mod drivers;
pub mod stores;

use std::collections::HashSet;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use lightning::events::Event;
use lightning::types::payment::PaymentHash;
use vigil_simnet::{PendingPayment, ProcessorDriver, Simnet, SimnetConfig};

/// How long a whole scenario may run before its test fails as hung.
pub const SCENARIO_LIMIT: Duration = Duration::from_secs(120);

/// The capacity of every channel the tests open, in satoshis.
pub const CHANNEL_SATS: u64 = 1_000_000;

/// Returns a processor config with sweeper and rebroadcast timers short enough for a test.
///
/// Suspend detection is off: on a loaded 2-core machine a wait can return more than a
/// second late, and the disconnect of every peer that follows would break the scenario.
pub fn short_intervals() -> vigil_processor::Config {
    vigil_processor::Config {
        sweeper_interval: Duration::from_millis(200),
        rebroadcast_interval: Duration::from_millis(200),
        suspend_threshold: None,
        ..vigil_processor::Config::default()
    }
}

/// Runs `scenario` on its own thread and fails if it has not finished within
/// [`SCENARIO_LIMIT`], so that a deadlock fails the test instead of hanging the test binary.
pub fn within_limit(scenario: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(SCENARIO_LIMIT) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
            // On a panic the sender was dropped unsent: joining reports the panic.
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("the scenario did not finish within {SCENARIO_LIMIT:?}; a deadlock is likely")
        }
    }
}

/// Starts three nodes in a line, 0 - 1 - 2, with a channel from each to the next, and waits
/// until every graph holds both channels.
pub fn line_of_three(driver: impl ProcessorDriver + 'static) -> Simnet {
    let config = SimnetConfig {
        nodes: 3,
        ..SimnetConfig::default()
    };
    let simnet = Simnet::start(config, driver).unwrap();
    open_line(&simnet);
    simnet
}

/// Connects nodes 0 - 1 - 2 of `simnet`, opens a channel from each to the next and waits
/// until every graph holds both channels.
pub fn open_line(simnet: &Simnet) {
    simnet.connect(0, 1).unwrap();
    simnet.connect(1, 2).unwrap();
    simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
    simnet.open_channel(1, 2, CHANNEL_SATS, 0).unwrap();
    simnet.wait_for_graph(2).unwrap();
}

/// Pays `amount_msat` from `payer` to `payee` and waits until the payment's path is resolved
/// at the payer, which LDK reports with PaymentPathSuccessful after the last
/// revoke_and_ack of the payment.
///
/// `Simnet::pay` returns on PaymentSent, while the HTLC is still being removed from the
/// commitments. Sending the next payment in that state can fail with RouteNotFound, because
/// LDK 0.2.7 then raises the first hop's minimum HTLC (seen at 2,310,000 msat on a channel
/// whose counterparty holds little), and force-closing in that state can make the last
/// revoke_and_ack arrive after the commitment is mined, which LDK 0.2.7 answers with a panic.
pub fn pay_settled(
    simnet: &Simnet,
    payer: usize,
    payee: usize,
    amount_msat: u64,
) -> PendingPayment {
    let payment = simnet
        .pay(payer, payee, amount_msat)
        .unwrap_or_else(|error| {
            panic!("payment from node {payer} to node {payee} failed: {error}")
        });
    let recorder = simnet.recorder(payer).unwrap();
    let resolved = || {
        recorder
            .of_kind("PaymentPathSuccessful")
            .iter()
            .any(|event| {
                matches!(event, Event::PaymentPathSuccessful { payment_id, .. }
                if *payment_id == payment.payment_id)
            })
    };
    let expected = format!(
        "the path of payment {} to be resolved",
        payment.payment_hash
    );
    simnet.wait_for(&expected, resolved).unwrap();
    payment
}

/// Waits until no channel of any running node has an HTLC pending, so that no commitment
/// update is under way and balances stay as they are.
pub fn wait_for_idle_channels(simnet: &Simnet) {
    simnet
        .wait_for("every channel to have no pending HTLC", || {
            (0..simnet.len())
                .filter_map(|index| simnet.node(index).ok())
                .all(|node| {
                    node.channel_manager()
                        .list_channels()
                        .iter()
                        .all(|channel| {
                            channel.pending_inbound_htlcs.is_empty()
                                && channel.pending_outbound_htlcs.is_empty()
                        })
                })
        })
        .unwrap();
}

/// Returns the distinct payment hashes of the events of `kind` that node `index` received.
///
/// LDK may hand out a payment event again after a restart, so tests count hashes, not events.
pub fn payment_hashes(simnet: &Simnet, index: usize, kind: &str) -> HashSet<PaymentHash> {
    simnet
        .recorder(index)
        .unwrap()
        .of_kind(kind)
        .iter()
        .filter_map(payment_hash)
        .collect()
}

fn payment_hash(event: &Event) -> Option<PaymentHash> {
    match event {
        Event::PaymentSent { payment_hash, .. }
        | Event::PaymentClaimable { payment_hash, .. }
        | Event::PaymentClaimed { payment_hash, .. }
        | Event::PaymentPathSuccessful {
            payment_hash: Some(payment_hash),
            ..
        } => Some(*payment_hash),
        _ => None,
    }
}
