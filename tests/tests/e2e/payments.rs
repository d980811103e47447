//! Payments along a line of three nodes under Vigil's thread runner.

use std::collections::HashSet;

use lightning::events::Event;
use vigil_simnet::{Simnet, VigilDriver};

use crate::support::{line_of_three, pay_settled, payment_hashes, short_intervals, within_limit};

const PAYMENTS: usize = 20;
const AMOUNT_MSAT: u64 = 5_000_000;

#[test]
fn line_of_three_forwards_payments() {
    within_limit(|| {
        let simnet = line_of_three(VigilDriver::new(short_intervals()));
        check_twenty_payments(&simnet);
    });
}

/// Pays node 2 from node 0 twenty times through node 1, then checks the events every node's
/// handler received.
pub fn check_twenty_payments(simnet: &Simnet) {
    let mut sent = HashSet::new();
    for _ in 0..PAYMENTS {
        let payment = pay_settled(simnet, 0, 2, AMOUNT_MSAT);
        sent.insert(payment.payment_hash);
    }
    assert_eq!(sent.len(), PAYMENTS);

    let middle = simnet.recorder(1).unwrap();
    simnet
        .wait_for("a forward at the middle node for every payment", || {
            middle.count("PaymentForwarded") >= PAYMENTS
        })
        .unwrap();

    assert_eq!(payment_hashes(simnet, 0, "PaymentSent"), sent);
    assert_eq!(payment_hashes(simnet, 2, "PaymentClaimable"), sent);
    assert_eq!(payment_hashes(simnet, 2, "PaymentClaimed"), sent);
    assert_eq!(simnet.recorder(0).unwrap().count("PaymentFailed"), 0);
    check_forwards(simnet);
    check_channel_events(simnet);
}

/// Checks that node 1 forwarded every payment from its channel with node 0 to its channel
/// with node 2, earning a fee on each.
fn check_forwards(simnet: &Simnet) {
    let channel_with = |index: usize| {
        let peer = simnet.node_id(index).unwrap();
        simnet
            .node(1)
            .unwrap()
            .channel_manager()
            .list_channels()
            .into_iter()
            .find(|channel| channel.counterparty.node_id == peer)
            .map(|channel| channel.channel_id)
            .expect("node 1 has a channel with each neighbour")
    };
    let (inbound, outbound) = (channel_with(0), channel_with(2));
    let forwards = simnet.recorder(1).unwrap().of_kind("PaymentForwarded");
    assert_eq!(forwards.len(), PAYMENTS);
    for forward in forwards {
        let Event::PaymentForwarded {
            prev_channel_id,
            next_channel_id,
            total_fee_earned_msat,
            outbound_amount_forwarded_msat,
            claim_from_onchain_tx,
            ..
        } = forward
        else {
            unreachable!("of_kind returns PaymentForwarded events only");
        };
        assert_eq!(prev_channel_id, Some(inbound));
        assert_eq!(next_channel_id, Some(outbound));
        assert_eq!(outbound_amount_forwarded_msat, Some(AMOUNT_MSAT));
        assert!(total_fee_earned_msat.is_some_and(|fee| fee > 0));
        assert!(!claim_from_onchain_tx);
    }
}

/// Checks the channel events: each node saw each of its channels pending and ready once and
/// none closed, and only the funders (nodes 0 and 1) were asked for a funding transaction.
fn check_channel_events(simnet: &Simnet) {
    let expected_ready = [1, 2, 1];
    let expected_pending = [1, 2, 1];
    for index in 0..3 {
        let recorder = simnet.recorder(index).unwrap();
        assert_eq!(
            recorder.count("ChannelReady"),
            expected_ready[index],
            "ChannelReady events of node {index}"
        );
        assert_eq!(
            recorder.count("ChannelPending"),
            expected_pending[index],
            "ChannelPending events of node {index}"
        );
        assert_eq!(
            recorder.count("ChannelClosed"),
            0,
            "ChannelClosed events of node {index}"
        );
    }
    for funder in [0, 1] {
        let recorder = simnet.recorder(funder).unwrap();
        assert_eq!(
            recorder.count("FundingGenerationReady"),
            1,
            "FundingGenerationReady events of node {funder}"
        );
    }
    assert_eq!(
        simnet.recorder(2).unwrap().count("FundingGenerationReady"),
        0
    );
}
