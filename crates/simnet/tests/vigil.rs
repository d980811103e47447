//! Simnet nodes driven by Vigil's background processor.
#![cfg(feature = "vigil")]

use std::collections::HashSet;
use std::time::Duration;

use lightning::events::Event;
use vigil_simnet::{Simnet, SimnetConfig, VigilDriver, VigilProcessor};

fn short_intervals() -> vigil_processor::Config {
    vigil_processor::Config {
        sweeper_interval: Duration::from_millis(200),
        rebroadcast_interval: Duration::from_millis(200),
        ..vigil_processor::Config::default()
    }
}

fn start(nodes: usize) -> Simnet {
    let config = SimnetConfig {
        nodes,
        ..SimnetConfig::default()
    };
    Simnet::start(config, VigilDriver::new(short_intervals())).unwrap()
}

#[test]
fn vigil_forwards_payments_in_line() {
    let simnet = start(3);
    simnet.connect(0, 1).unwrap();
    simnet.connect(1, 2).unwrap();
    simnet.open_channel(0, 1, 1_000_000, 0).unwrap();
    simnet.open_channel(1, 2, 1_000_000, 0).unwrap();
    simnet.wait_for_graph(2).unwrap();

    for _ in 0..5 {
        simnet.pay(0, 2, 2_000_000).unwrap();
    }

    assert_eq!(simnet.recorder(0).unwrap().count("PaymentSent"), 5);
    let middle = simnet.recorder(1).unwrap();
    simnet
        .wait_for("five forwards at the middle node", || {
            middle.count("PaymentForwarded") >= 5
        })
        .unwrap();
    let writes = simnet.node(0).unwrap().store().writes("manager");
    assert!(
        writes > 0,
        "the processor should have written the ChannelManager"
    );
    let handled = simnet
        .with_processor(0, |running| {
            let vigil = running
                .as_any()
                .and_then(|any| any.downcast_ref::<VigilProcessor>())
                .expect("the Vigil driver starts VigilProcessor");
            vigil.processor().stats().turns
        })
        .unwrap();
    assert!(handled > 0, "the processor should have run turns");
}

#[test]
fn vigil_node_restarts_from_disk() {
    let simnet = start(2);
    simnet.connect(0, 1).unwrap();
    let channel = simnet.open_channel(0, 1, 1_000_000, 0).unwrap();
    simnet.pay(0, 1, 4_000_000).unwrap();

    simnet.stop_node(1).unwrap();
    let restarted = simnet.restart_node(1).unwrap();
    simnet
        .wait_for("the channel to be usable again", || {
            restarted
                .channel_manager()
                .list_usable_channels()
                .iter()
                .any(|c| c.channel_id == channel)
        })
        .unwrap();
    drop(restarted);
    simnet.pay(0, 1, 4_000_000).unwrap();

    let claimed: HashSet<_> = simnet
        .recorder(1)
        .unwrap()
        .of_kind("PaymentClaimed")
        .into_iter()
        .filter_map(|event| match event {
            Event::PaymentClaimed { payment_hash, .. } => Some(payment_hash),
            _ => None,
        })
        .collect();
    assert_eq!(claimed.len(), 2);
    assert_eq!(simnet.recorder(1).unwrap().count("ChannelClosed"), 0);
}

/// Runs `scenario` on its own thread and fails if it has not finished within `limit`, so that
/// a deadlock fails the test instead of hanging the test binary.
fn within(limit: Duration, scenario: impl FnOnce() + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        scenario();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => worker.join().expect("the scenario thread should not panic"),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The scenario panicked: join to report its panic.
            worker.join().expect("the scenario thread should not panic");
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the scenario did not finish within {limit:?}; a deadlock is likely")
        }
    }
}

#[test]
fn vigil_sweeps_after_force_close() {
    within(Duration::from_secs(60), sweep_after_force_close);
}

fn sweep_after_force_close() {
    let simnet = start(2);
    simnet.connect(0, 1).unwrap();
    let channel = simnet.open_channel(0, 1, 1_000_000, 0).unwrap();
    simnet.pay(0, 1, 30_000_000).unwrap();

    simnet.force_close(1, channel).unwrap();
    simnet.mine_and_sweep(160).unwrap();

    // The processor hands SpendableOutputs to the sweeper on its own thread, possibly after
    // the block that matured the output, so keep mining until both sweeps are confirmed.
    simnet
        .wait_for("both wallets to hold their swept outputs", || {
            simnet.mine_and_sweep(1).unwrap();
            (0..2).all(|index| {
                let node = simnet.node(index).unwrap();
                node.parts().wallet.balance(simnet.chain()).to_sat() > 0
            })
        })
        .unwrap();
    for index in 0..2 {
        assert_eq!(simnet.recorder(index).unwrap().count("SpendableOutputs"), 1);
    }
}
