//! Simnet nodes driven by LDK's own background processor.

use std::collections::HashSet;

use lightning::events::Event;
use lightning::io::Cursor;
use lightning::routing::gossip::NetworkGraph;
use lightning::util::persist::{
    KVStoreSync, NETWORK_GRAPH_PERSISTENCE_KEY, SCORER_PERSISTENCE_KEY,
};
use lightning::util::ser::ReadableArgs;
use vigil_simnet::{ReferenceDriver, Simnet, SimnetConfig};

const CHANNEL_SATS: u64 = 1_000_000;

/// Starts three nodes in a line, 0 - 1 - 2, with a channel from each to the next, announced to
/// all.
fn line_of_three() -> Simnet {
    let config = SimnetConfig {
        nodes: 3,
        ..SimnetConfig::default()
    };
    let simnet = Simnet::start(config, ReferenceDriver).unwrap();
    simnet.connect(0, 1).unwrap();
    simnet.connect(1, 2).unwrap();
    simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
    simnet.open_channel(1, 2, CHANNEL_SATS, 0).unwrap();
    simnet.wait_for_graph(2).unwrap();
    simnet
}

fn claimed_hashes(simnet: &Simnet, index: usize) -> HashSet<[u8; 32]> {
    simnet
        .recorder(index)
        .unwrap()
        .of_kind("PaymentClaimed")
        .into_iter()
        .filter_map(|event| match event {
            Event::PaymentClaimed { payment_hash, .. } => Some(payment_hash.0),
            _ => None,
        })
        .collect()
}

#[test]
fn payments_forward_through_middle_node() {
    let simnet = line_of_three();

    for _ in 0..5 {
        simnet.pay(0, 2, 2_000_000).unwrap();
    }

    assert_eq!(simnet.recorder(0).unwrap().count("PaymentSent"), 5);
    assert_eq!(claimed_hashes(&simnet, 2).len(), 5);
    let forwarded = simnet.recorder(1).unwrap();
    simnet
        .wait_for("the middle node to report five forwards", || {
            forwarded.count("PaymentForwarded") >= 5
        })
        .unwrap();
    for index in 0..3 {
        assert_eq!(
            simnet.recorder(index).unwrap().count("ChannelClosed"),
            0,
            "node {index} should have no closed channel"
        );
    }
}

#[test]
fn all_nodes_restart_from_disk() {
    let simnet = line_of_three();
    simnet.pay(0, 2, 3_000_000).unwrap();
    let balances: Vec<_> = (0..3)
        .map(|index| {
            let node = simnet.node(index).unwrap();
            let mut channels = node.channel_manager().list_channels();
            channels.sort_by_key(|channel| channel.channel_id);
            channels
                .iter()
                .map(|channel| (channel.channel_id, channel.outbound_capacity_msat))
                .collect::<Vec<_>>()
        })
        .collect();

    simnet.stop_all().unwrap();
    for index in 0..3 {
        simnet.restart_node(index).unwrap();
    }

    for (index, before) in balances.iter().enumerate() {
        let node = simnet.node(index).unwrap();
        let mut channels = node.channel_manager().list_channels();
        channels.sort_by_key(|channel| channel.channel_id);
        let after: Vec<_> = channels
            .iter()
            .map(|channel| (channel.channel_id, channel.outbound_capacity_msat))
            .collect();
        assert_eq!(&after, before, "node {index} should have the same channels");
    }
    simnet
        .wait_for("all channels to be usable again", || {
            (0..3).all(|index| {
                let node = simnet.node(index).unwrap();
                let manager = node.channel_manager();
                manager.list_usable_channels().len() == manager.list_channels().len()
            })
        })
        .unwrap();
    simnet.pay(0, 2, 3_000_000).unwrap();
    assert_eq!(claimed_hashes(&simnet, 2).len(), 2);
    for index in 0..3 {
        assert_eq!(simnet.recorder(index).unwrap().count("ChannelClosed"), 0);
    }
}

#[test]
fn processor_writes_graph_and_scorer() {
    let simnet = line_of_three();
    simnet.pay(0, 2, 1_000_000).unwrap();
    simnet.stop_node(0).unwrap();

    let config = simnet.node_config(0).unwrap();
    let store = vigil_simnet::NodeStore::open(&config.data_dir).unwrap();
    let logger = vigil_simnet::NodeLogger::shared("reader", Default::default());
    let graph_bytes = store.read("", "", NETWORK_GRAPH_PERSISTENCE_KEY).unwrap();
    let graph = NetworkGraph::read(&mut Cursor::new(graph_bytes), logger.clone()).unwrap();
    assert_eq!(graph.read_only().channels().len(), 2);
    let scorer_bytes = store.read("", "", SCORER_PERSISTENCE_KEY).unwrap();
    assert!(
        !scorer_bytes.is_empty(),
        "the scorer should have been written"
    );
}

#[test]
fn processor_restarts_on_running_node() {
    let simnet = Simnet::start(SimnetConfig::default(), ReferenceDriver).unwrap();
    simnet.connect(0, 1).unwrap();
    simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();

    simnet.stop_processor(1).unwrap();
    assert!(matches!(
        simnet.stop_processor(1),
        Err(vigil_simnet::SimnetError::ProcessorStopped { .. })
    ));
    simnet.start_processor(1).unwrap();
    assert!(matches!(
        simnet.start_processor(1),
        Err(vigil_simnet::SimnetError::ProcessorRunning { .. })
    ));

    simnet.pay(0, 1, 1_000_000).unwrap();
    assert_eq!(claimed_hashes(&simnet, 1).len(), 1);
}

#[test]
fn used_data_dir_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimnetConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..SimnetConfig::default()
    };
    let first = Simnet::start(config.clone(), ReferenceDriver).unwrap();
    first.stop_all().unwrap();
    drop(first);

    let second = Simnet::start(config, ReferenceDriver);

    assert!(matches!(
        second,
        Err(vigil_simnet::SimnetError::DataDirInUse { .. })
    ));
}

#[test]
fn reference_sweeps_after_force_close() {
    let simnet = Simnet::start(SimnetConfig::default(), ReferenceDriver).unwrap();
    simnet.connect(0, 1).unwrap();
    let channel = simnet.open_channel(0, 1, CHANNEL_SATS, 0).unwrap();
    simnet.pay(0, 1, 30_000_000).unwrap();

    simnet.force_close(0, channel).unwrap();
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
