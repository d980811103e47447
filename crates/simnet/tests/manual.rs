//! Simnet nodes driven by the test itself, with no background processor.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lightning::events::{ClosureReason, Event, ReplayEvent};
use lightning::util::sweep::OutputSpendStatus;
use vigil_simnet::{ManualDriver, PipeConfig, Simnet, SimnetConfig};

fn two_connected_nodes() -> Simnet {
    let simnet = Simnet::start(SimnetConfig::default(), ManualDriver).unwrap();
    simnet.connect(0, 1).unwrap();
    simnet
}

#[test]
fn two_nodes_open_channel_and_pay() {
    let simnet = two_connected_nodes();
    let channel = simnet.open_channel(0, 1, 100_000, 0).unwrap();

    let payment = simnet.pay(0, 1, 10_000_000).unwrap();

    let payer = simnet.recorder(0).unwrap();
    let payee = simnet.recorder(1).unwrap();
    assert_eq!(payer.count("ChannelReady"), 1);
    assert_eq!(payee.count("ChannelReady"), 1);
    assert_eq!(payer.count("PaymentSent"), 1);
    assert_eq!(payee.count("PaymentClaimable"), 1);
    assert_eq!(payee.count("PaymentClaimed"), 1);
    let claimed_at = payee.claimed_at(&payment.payment_hash);
    assert!(
        claimed_at.is_some(),
        "the payee's handler should have claimed the payment"
    );
    let manager_writes = simnet.node(1).unwrap().store().completed_writes("manager");
    assert!(
        manager_writes
            .iter()
            .any(|written| *written > claimed_at.unwrap()),
        "the ChannelManager should have been written after the claim"
    );
    assert_eq!(vigil_simnet::dispatch_latencies(&payee).len(), 1);
    let store = simnet.node(1).unwrap().store().clone();
    assert_eq!(vigil_simnet::persist_lags(&payee, &store).len(), 1);
    let channels = simnet.node(1).unwrap().channel_manager().list_channels();
    let details = channels.iter().find(|c| c.channel_id == channel).unwrap();
    assert!(
        details.outbound_capacity_msat > 0,
        "the payee should hold funds on its side after the payment"
    );
}

#[test]
fn tiny_pipes_still_carry_payments() {
    // Outboxes of 100 bytes force short writes and write_buffer_space_avail on every message.
    let config = SimnetConfig {
        pipe: PipeConfig {
            capacity: 100,
            chunk: 37,
        },
        ..SimnetConfig::default()
    };
    let simnet = Simnet::start(config, ManualDriver).unwrap();
    simnet.connect(0, 1).unwrap();
    simnet.open_channel(0, 1, 100_000, 0).unwrap();
    for _ in 0..3 {
        simnet.pay(0, 1, 1_000_000).unwrap();
    }
    assert_eq!(simnet.recorder(1).unwrap().count("PaymentClaimed"), 3);
}

#[test]
fn restarted_node_keeps_channel_and_pays() {
    let simnet = two_connected_nodes();
    let channel = simnet.open_channel(0, 1, 100_000, 0).unwrap();
    simnet.pay(0, 1, 10_000_000).unwrap();
    let before = simnet.node(1).unwrap().channel_manager().list_channels();
    let balance_before = before[0].outbound_capacity_msat;

    simnet.stop_node(1).unwrap();
    assert!(
        simnet.node(1).is_err(),
        "a stopped node should not be returned"
    );
    simnet.mine_blocks(3).unwrap();
    let restarted = simnet.restart_node(1).unwrap();

    assert_eq!(restarted.height(), simnet.chain().height());
    let after = restarted.channel_manager().list_channels();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].channel_id, channel);
    assert_eq!(after[0].outbound_capacity_msat, balance_before);
    simnet
        .wait_for("the channel to be usable again", || {
            restarted
                .channel_manager()
                .list_usable_channels()
                .iter()
                .any(|c| c.channel_id == channel)
        })
        .unwrap();
    simnet.pay(0, 1, 5_000_000).unwrap();
    simnet.pay(1, 0, 1_000_000).unwrap();
    // LDK may hand out PaymentClaimed again after a restart, so count distinct payments.
    let recorder = simnet.recorder(1).unwrap();
    let claimed: HashSet<_> = recorder
        .of_kind("PaymentClaimed")
        .into_iter()
        .map(|event| match event {
            Event::PaymentClaimed { payment_hash, .. } => payment_hash,
            _ => unreachable!("of_kind returns only PaymentClaimed events"),
        })
        .collect();
    assert_eq!(claimed.len(), 2);
    assert_eq!(recorder.count("ChannelClosed"), 0);
}

#[test]
fn cooperative_close_confirms() {
    let simnet = two_connected_nodes();
    let channel = simnet.open_channel(0, 1, 1_000_000, 0).unwrap();
    simnet.pay(0, 1, 20_000_000).unwrap();

    let closing = simnet.close_channel(0, channel).unwrap();

    assert!(simnet.chain().confirmations(&closing) >= 1);
    for index in 0..2 {
        let closed = simnet.recorder(index).unwrap().of_kind("ChannelClosed");
        assert_eq!(
            closed.len(),
            1,
            "node {index} should report one closed channel"
        );
    }
    assert!(simnet
        .node(0)
        .unwrap()
        .channel_manager()
        .list_channels()
        .is_empty());
}

#[test]
fn force_close_outputs_are_swept() {
    let simnet = two_connected_nodes();
    let channel = simnet.open_channel(0, 1, 1_000_000, 0).unwrap();
    simnet.pay(0, 1, 30_000_000).unwrap();

    let commitment = simnet.force_close(0, channel).unwrap();
    assert!(simnet.chain().confirmations(&commitment) >= 1);
    let closed = simnet.recorder(0).unwrap().of_kind("ChannelClosed");
    assert!(matches!(
        closed[0],
        Event::ChannelClosed {
            reason: ClosureReason::HolderForceClosed { .. },
            ..
        }
    ));

    // The peer's output is spendable at once; the closer's waits for its 144-block delay.
    simnet.mine_and_sweep(160).unwrap();

    for index in 0..2 {
        let node = simnet.node(index).unwrap();
        assert_eq!(
            simnet.recorder(index).unwrap().count("SpendableOutputs"),
            1,
            "node {index} should have been handed its output"
        );
        let balance = node.parts().wallet.balance(simnet.chain());
        assert!(
            balance.to_sat() > 0,
            "node {index}'s wallet should hold its swept output"
        );
        let swept = node.parts().sweeper.tracked_spendable_outputs();
        assert!(
            swept.iter().all(|output| matches!(
                output.status,
                OutputSpendStatus::PendingThresholdConfirmations { .. }
            )),
            "every tracked output of node {index} should be spent by a confirmed sweep"
        );
    }
}

#[test]
fn user_handler_replay_is_recorded() {
    // The user handler of node 1 rejects the first ChannelReady, so LDK hands it out again.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&calls);
    let simnet = Simnet::start_with(
        SimnetConfig::default(),
        ManualDriver,
        move |index, config| {
            if index != 1 {
                return;
            }
            let seen = Arc::clone(&seen);
            config.user_handler = Some(Arc::new(move |event: &Event| {
                if !matches!(event, Event::ChannelReady { .. }) {
                    return Ok(());
                }
                match seen.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(ReplayEvent()),
                    _ => Ok(()),
                }
            }));
        },
    )
    .unwrap();
    simnet.connect(0, 1).unwrap();
    simnet.open_channel(0, 1, 100_000, 0).unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(simnet.recorder(1).unwrap().count("ChannelReady"), 2);
    assert_eq!(simnet.recorder(0).unwrap().count("ChannelReady"), 1);
}
