//! Simnet nodes driven by the test itself, with no background processor.

use vigil_simnet::{ManualDriver, Simnet, SimnetConfig};

#[test]
fn two_nodes_open_channel_and_pay() {
    let simnet = Simnet::start(SimnetConfig::default(), ManualDriver).unwrap();
    simnet.connect(0, 1).unwrap();
    let channel = simnet.open_channel(0, 1, 100_000, 0).unwrap();

    let payment = simnet.pay(0, 1, 10_000_000).unwrap();

    let payer = simnet.recorder(0).unwrap();
    let payee = simnet.recorder(1).unwrap();
    assert_eq!(payer.count("PaymentSent"), 1);
    assert_eq!(payee.count("PaymentClaimable"), 1);
    assert_eq!(payee.count("PaymentClaimed"), 1);
    assert_eq!(payer.count("ChannelReady"), 1);
    assert_eq!(payee.count("ChannelReady"), 1);
    let details = simnet.node(1).unwrap().channel_manager().list_channels();
    let channel_details = details.iter().find(|c| c.channel_id == channel).unwrap();
    assert!(
        channel_details.outbound_capacity_msat > 0,
        "the payee now has funds on its side"
    );
    assert_eq!(payment.payer, 0);
}
