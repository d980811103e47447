//! The network graph and the scorer the processor writes read back with LDK's readers.

use std::sync::Arc;
use std::time::Duration;

use lightning::io::Cursor;
use lightning::routing::gossip::{NetworkGraph, NodeId};
use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringDecayParameters};
use lightning::util::persist::{
    KVStoreSync, NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
    SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::ReadableArgs;
use vigil_simnet::{LogConfig, Node, NodeLogger, Simnet, VigilDriver};

use crate::support::{line_of_three, pay_settled, short_intervals, within_limit};

/// Returns a config that prunes and writes the graph, and decays and writes the scorer, every
/// 200 ms.
fn frequent_writes() -> vigil_processor::Config {
    vigil_processor::Config {
        first_prune_delay: Duration::from_millis(200),
        prune_interval: Duration::from_millis(200),
        scorer_persist_interval: Duration::from_millis(200),
        ..short_intervals()
    }
}

#[test]
fn graph_and_scorer_read_back() {
    within_limit(check_graph_and_scorer);
}

fn check_graph_and_scorer() {
    let simnet = line_of_three(VigilDriver::new(frequent_writes()));
    pay_settled(&simnet, 0, 2, 4_000_000);
    let node = simnet.node(0).unwrap();
    let channels = short_channel_ids(&simnet);
    let logger = Arc::new(NodeLogger::new("reader", LogConfig::default()));

    // The scorer learns of the payment's path from PaymentPathSuccessful, which came before
    // `pay_settled` returned. The store counts a write when it starts, and the processor
    // encodes a value before it writes it, so the first write counted from here may still
    // carry older bytes. Every later write was encoded after that one started, so wait for
    // two.
    let graph_writes = node.store().writes("network_graph");
    let scorer_writes = node.store().writes("scorer");
    simnet
        .wait_for("two new graph and scorer writes", || {
            node.store().writes("network_graph") >= graph_writes + 2
                && node.store().writes("scorer") >= scorer_writes + 2
        })
        .unwrap();

    let graph = Arc::new(read_graph(&node, &logger));
    let read_only = graph.read_only();
    for scid in &channels {
        let channel = read_only
            .channel(*scid)
            .unwrap_or_else(|| panic!("the stored graph lacks channel {scid}"));
        assert!(
            channel.one_to_two.is_some(),
            "channel {scid} lacks one direction"
        );
        assert!(
            channel.two_to_one.is_some(),
            "channel {scid} lacks the other direction"
        );
    }
    assert_eq!(read_only.channels().len(), channels.len());
    drop(read_only);

    // The scorer keeps estimates for the channels of paths it saw. Every channel the live
    // scorer has an estimate for must have one in the stored scorer, and the first hop of
    // the payment must be among them.
    let scorer = read_scorer(&node, &graph, &logger);
    let directions = [(channels[0], 1), (channels[1], 2)];
    for (scid, towards) in directions {
        let target = NodeId::from_pubkey(&simnet.node_id(towards).unwrap());
        let stored = scorer.estimated_channel_liquidity_range(scid, &target);
        // The lock is released before the assertion, so that a failure does not poison it
        // for the processor.
        let known = {
            let live = node.parts().scorer.lock().unwrap();
            live.estimated_channel_liquidity_range(scid, &target)
        };
        assert_eq!(
            stored.is_some(),
            known.is_some(),
            "estimates of channel {scid}: stored {stored:?}, live {known:?}"
        );
    }
    let first_hop = NodeId::from_pubkey(&simnet.node_id(1).unwrap());
    assert!(
        scorer
            .estimated_channel_liquidity_range(channels[0], &first_hop)
            .is_some(),
        "the stored scorer has no estimate for channel {}",
        channels[0]
    );
}

/// Returns the short channel ids of the channels 0 - 1 and 1 - 2, in that order.
fn short_channel_ids(simnet: &Simnet) -> Vec<u64> {
    let middle = simnet.node(1).unwrap();
    [0, 2]
        .iter()
        .map(|&peer| {
            let peer = simnet.node_id(peer).unwrap();
            middle
                .channel_manager()
                .list_channels()
                .into_iter()
                .find(|channel| channel.counterparty.node_id == peer)
                .and_then(|channel| channel.short_channel_id)
                .expect("every channel of the line is confirmed")
        })
        .collect()
}

fn read_graph(node: &Node, logger: &Arc<NodeLogger>) -> NetworkGraph<Arc<NodeLogger>> {
    let bytes = node
        .store()
        .read(
            NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
            NETWORK_GRAPH_PERSISTENCE_KEY,
        )
        .expect("the processor wrote the network graph");
    NetworkGraph::read(&mut Cursor::new(bytes), Arc::clone(logger)).expect("the graph decodes")
}

fn read_scorer(
    node: &Node,
    graph: &Arc<NetworkGraph<Arc<NodeLogger>>>,
    logger: &Arc<NodeLogger>,
) -> ProbabilisticScorer<Arc<NetworkGraph<Arc<NodeLogger>>>, Arc<NodeLogger>> {
    let bytes = node
        .store()
        .read(
            SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
            SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
            SCORER_PERSISTENCE_KEY,
        )
        .expect("the processor wrote the scorer");
    let args = (
        ProbabilisticScoringDecayParameters::default(),
        Arc::clone(graph),
        Arc::clone(logger),
    );
    ProbabilisticScorer::read(&mut Cursor::new(bytes), args).expect("the scorer decodes")
}
