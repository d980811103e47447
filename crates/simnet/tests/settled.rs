//! Payments that `Simnet::pay` returns only once their HTLCs are off every commitment
//! transaction, with nodes under a background processor and a network thread.

use vigil_simnet::{ProcessorDriver, ReferenceDriver, Simnet, SimnetConfig};

const CHANNEL_SATS: u64 = 1_000_000;

fn start(nodes: usize, driver: impl ProcessorDriver + 'static) -> Simnet {
    let config = SimnetConfig {
        nodes,
        ..SimnetConfig::default()
    };
    Simnet::start(config, driver).unwrap()
}

#[cfg(feature = "vigil")]
fn vigil() -> vigil_simnet::VigilDriver {
    vigil_simnet::VigilDriver::new(vigil_processor::Config::default())
}

/// Asserts that no channel of any node still carries an HTLC.
fn assert_no_pending_htlcs(simnet: &Simnet) {
    for index in 0..simnet.len() {
        for channel in simnet
            .node(index)
            .unwrap()
            .channel_manager()
            .list_channels()
        {
            assert!(
                channel.pending_outbound_htlcs.is_empty(),
                "node-{index} has outbound HTLCs on {}: {:?}",
                channel.channel_id,
                channel.pending_outbound_htlcs
            );
            assert!(
                channel.pending_inbound_htlcs.is_empty(),
                "node-{index} has inbound HTLCs on {}: {:?}",
                channel.channel_id,
                channel.pending_inbound_htlcs
            );
        }
    }
}

fn pay_in_line(driver: impl ProcessorDriver + 'static) {
    let simnet = start(3, driver);
    simnet.connect(0, 1).unwrap();
    simnet.connect(1, 2).unwrap();
    simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
    simnet.open_channel(1, 2, CHANNEL_SATS, 0).unwrap();
    simnet.wait_for_graph(2).unwrap();

    for _ in 0..5 {
        simnet.pay(0, 2, 3_000_000).unwrap();
        assert_no_pending_htlcs(&simnet);
    }

    let successful = simnet.recorder(0).unwrap().count("PaymentPathSuccessful");
    assert_eq!(successful, 5);
}

fn pay_back_to_back(driver: impl ProcessorDriver + 'static) {
    let simnet = start(3, driver);
    simnet.connect(0, 1).unwrap();
    simnet.connect(1, 2).unwrap();
    simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
    simnet.open_channel(1, 2, CHANNEL_SATS, 0).unwrap();
    simnet.wait_for_graph(2).unwrap();

    for round in 0..20 {
        if let Err(error) = simnet.pay(0, 2, 3_000_000) {
            panic!("payment {round} failed: {error}");
        }
    }

    assert_eq!(simnet.recorder(2).unwrap().count("PaymentClaimed"), 20);
}

fn force_close_after_pay(driver: impl ProcessorDriver + Clone + 'static) {
    for closer in [1, 0] {
        let simnet = start(2, driver.clone());
        simnet.connect(0, 1).unwrap();
        let channel = simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
        simnet.pay(0, 1, 30_000_000).unwrap();

        simnet.force_close(closer, channel).unwrap();
        simnet.mine_blocks(1).unwrap();

        for index in 0..2 {
            let closed = simnet.recorder(index).unwrap().of_kind("ChannelClosed");
            assert_eq!(closed.len(), 1, "node-{index} closed {closed:?}");
        }
        // Stops explicitly, so that a panic of the network thread fails here.
        simnet.stop_all().unwrap();
    }
}

#[test]
fn ldk_pay_returns_with_no_htlcs() {
    pay_in_line(ReferenceDriver);
}

#[test]
fn ldk_payments_back_to_back() {
    pay_back_to_back(ReferenceDriver);
}

#[test]
fn ldk_force_close_right_after_pay() {
    force_close_after_pay(ReferenceDriver);
}

#[cfg(feature = "vigil")]
#[test]
fn vigil_pay_returns_with_no_htlcs() {
    pay_in_line(vigil());
}

#[cfg(feature = "vigil")]
#[test]
fn vigil_payments_back_to_back() {
    pay_back_to_back(vigil());
}

#[cfg(feature = "vigil")]
#[test]
fn vigil_force_close_right_after_pay() {
    force_close_after_pay(vigil());
}
