//! Stopping every node and processor, reading all back from disk, and carrying on.

use std::collections::{BTreeMap, HashSet};

use lightning::events::Event;
use lightning::ln::channelmanager::RecentPaymentDetails;
use lightning::ln::types::ChannelId;
use lightning::types::payment::PaymentHash;
use vigil_simnet::{ProcessorDriver, Simnet, VigilDriver};

use crate::support::{
    line_of_three, pay_settled, payment_hashes, short_intervals, wait_for_idle_channels,
    within_limit,
};

const AMOUNT_MSAT: u64 = 3_000_000;

/// What a node's channels look like: capacity, outbound and inbound capacity, per channel.
type ChannelView = BTreeMap<ChannelId, (u64, u64, u64)>;

#[test]
fn restart_keeps_channels_and_payments() {
    within_limit(|| check_restart(VigilDriver::new(short_intervals())));
}

/// Pays along a line of three nodes under `driver`, restarts every node from disk, checks that
/// nothing was lost or force-closed, and pays again.
pub fn check_restart(driver: impl ProcessorDriver + 'static) {
    let simnet = line_of_three(driver);
    let mut sent = HashSet::new();
    for _ in 0..3 {
        sent.insert(pay_settled(&simnet, 0, 2, AMOUNT_MSAT).payment_hash);
    }
    // The forwards and the removal of the HTLCs from the second channel go on after the
    // payer's path is resolved, so wait for them before taking the view, or a channel's
    // balances could still move.
    let middle = simnet.recorder(1).unwrap();
    simnet
        .wait_for("three forwards at the middle node", || {
            middle.count("PaymentForwarded") >= 3
        })
        .unwrap();
    wait_for_idle_channels(&simnet);
    let before = channel_views(&simnet);
    let funding_spends_before = funding_spends(&simnet);
    assert_eq!(funding_spends_before, 0);

    simnet.stop_all().unwrap();
    for index in 0..3 {
        simnet.restart_node(index).unwrap();
    }
    simnet
        .wait_for("every channel to be usable again", || {
            (0..3).all(|index| {
                let node = simnet.node(index).unwrap();
                let manager = node.channel_manager();
                manager.list_usable_channels().len() == manager.list_channels().len()
            })
        })
        .unwrap();

    assert_eq!(channel_views(&simnet), before);
    assert_eq!(fulfilled_payments(&simnet), sent);
    check_no_force_close(&simnet);

    let again = pay_settled(&simnet, 0, 2, AMOUNT_MSAT);
    assert!(payment_hashes(&simnet, 2, "PaymentClaimed").contains(&again.payment_hash));
    assert_eq!(payment_hashes(&simnet, 0, "PaymentSent").len(), 4);
    check_no_force_close(&simnet);
}

/// Returns each node's channels, by node index.
fn channel_views(simnet: &Simnet) -> Vec<ChannelView> {
    (0..simnet.len())
        .map(|index| {
            simnet
                .node(index)
                .unwrap()
                .channel_manager()
                .list_channels()
                .into_iter()
                .map(|channel| {
                    let balances = (
                        channel.channel_value_satoshis,
                        channel.outbound_capacity_msat,
                        channel.inbound_capacity_msat,
                    );
                    (channel.channel_id, balances)
                })
                .collect()
        })
        .collect()
}

/// Returns the payments node 0's ChannelManager lists as fulfilled, read back from disk.
fn fulfilled_payments(simnet: &Simnet) -> HashSet<PaymentHash> {
    simnet
        .node(0)
        .unwrap()
        .channel_manager()
        .list_recent_payments()
        .into_iter()
        .filter_map(|payment| match payment {
            RecentPaymentDetails::Fulfilled {
                payment_hash: Some(hash),
                ..
            } => Some(hash),
            _ => None,
        })
        .collect()
}

/// Returns how many transactions in the mempool or on chain spend a channel's funding output.
fn funding_spends(simnet: &Simnet) -> usize {
    let node = simnet.node(1).unwrap();
    node.channel_manager()
        .list_channels()
        .into_iter()
        .filter_map(|channel| channel.funding_txo)
        .map(|funding| funding.into_bitcoin_outpoint())
        .filter(|funding| {
            let in_mempool = simnet.chain().mempool().iter().any(|tx| {
                tx.input
                    .iter()
                    .any(|input| input.previous_output == *funding)
            });
            in_mempool || simnet.chain().spender(funding).is_some()
        })
        .count()
}

fn check_no_force_close(simnet: &Simnet) {
    for index in 0..simnet.len() {
        let closed = simnet.recorder(index).unwrap().of_kind("ChannelClosed");
        let reasons: Vec<_> = closed
            .iter()
            .filter_map(|event| match event {
                Event::ChannelClosed { reason, .. } => Some(format!("{reason:?}")),
                _ => None,
            })
            .collect();
        assert!(
            reasons.is_empty(),
            "node {index} closed channels: {reasons:?}"
        );
    }
    assert_eq!(
        funding_spends(simnet),
        0,
        "a commitment or closing transaction spends a funding output"
    );
}
