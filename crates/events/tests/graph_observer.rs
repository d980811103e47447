//! The network graph observer against a real LDK `NetworkGraph`.

mod common;

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lightning::events::{Event, EventHandler, PathFailure};
use lightning::routing::gossip::{NetworkGraph, NetworkUpdate, NodeId};
use lightning::util::errors::APIError;
use vigil_events::{Dispatcher, NetworkGraphObserver, Observer};

use common::{add_channel, hop, node_key, path, path_failed, RecordingLogger};

type Graph = common::Graph;

/// Returns a graph with channels 1 (node 1 to node 2) and 2 (node 2 to node 3), both directions
/// enabled.
fn graph() -> Arc<Graph> {
    let graph = Arc::new(NetworkGraph::new(
        Network::Regtest,
        Arc::new(RecordingLogger::default()),
    ));
    add_channel(&graph, 1, node_key(1), node_key(2));
    add_channel(&graph, 2, node_key(2), node_key(3));
    graph
}

fn has_channel(graph: &Graph, short_channel_id: u64) -> bool {
    graph.read_only().channel(short_channel_id).is_some()
}

fn has_node(graph: &Graph, node: PublicKey) -> bool {
    graph
        .read_only()
        .node(&NodeId::from_pubkey(&node))
        .is_some()
}

fn failure_with(update: NetworkUpdate) -> Event {
    let path = path(vec![
        hop(node_key(2), 1, 1_000),
        hop(node_key(3), 2, 50_000),
    ]);
    path_failed(path, Some(2), false, Some(update))
}

#[test]
fn permanent_channel_failure_removes_channel() {
    let graph = graph();
    let observer = NetworkGraphObserver::new(Arc::clone(&graph));

    observer.observe(&failure_with(NetworkUpdate::ChannelFailure {
        short_channel_id: 2,
        is_permanent: true,
    }));

    assert!(!has_channel(&graph, 2), "channel 2 failed permanently");
    assert!(has_channel(&graph, 1), "channel 1 is untouched");
}

#[test]
fn temporary_channel_failure_keeps_channel() {
    let graph = graph();
    let observer = NetworkGraphObserver::new(Arc::clone(&graph));

    // In lightning 0.2, handle_network_update ignores failures that are not permanent.
    observer.observe(&failure_with(NetworkUpdate::ChannelFailure {
        short_channel_id: 2,
        is_permanent: false,
    }));

    assert!(has_channel(&graph, 2));
}

#[test]
fn permanent_node_failure_removes_node() {
    let graph = graph();
    let observer = NetworkGraphObserver::new(Arc::clone(&graph));

    observer.observe(&failure_with(NetworkUpdate::NodeFailure {
        node_id: node_key(3),
        is_permanent: true,
    }));

    assert!(!has_node(&graph, node_key(3)), "node 3 failed permanently");
    assert!(
        !has_channel(&graph, 2),
        "the failed node's channel goes with it"
    );
    assert!(has_channel(&graph, 1));
    assert!(has_node(&graph, node_key(1)));
}

#[test]
fn failure_without_update_changes_nothing() {
    let graph = graph();
    let observer = NetworkGraphObserver::new(Arc::clone(&graph));
    let path = path(vec![
        hop(node_key(2), 1, 1_000),
        hop(node_key(3), 2, 50_000),
    ]);
    let initial_send = Event::PaymentPathFailed {
        payment_id: None,
        payment_hash: lightning::types::payment::PaymentHash([0; 32]),
        payment_failed_permanently: true,
        failure: PathFailure::InitialSend {
            err: APIError::MonitorUpdateInProgress,
        },
        path: path.clone(),
        short_channel_id: Some(2),
        hold_times: Vec::new(),
    };

    observer.observe(&path_failed(path, Some(2), true, None));
    observer.observe(&initial_send);
    observer.observe(&common::payment_failed(1));

    assert!(has_channel(&graph, 1));
    assert!(has_channel(&graph, 2));
    assert_eq!(graph.read_only().channels().len(), 2);
}

#[test]
fn network_update_extracted_only_on_path() {
    let update = NetworkUpdate::ChannelFailure {
        short_channel_id: 7,
        is_permanent: true,
    };
    let event = failure_with(update.clone());

    assert_eq!(
        NetworkGraphObserver::<Arc<Graph>, Arc<RecordingLogger>>::network_update(&event),
        Some(&update)
    );
    assert_eq!(
        NetworkGraphObserver::<Arc<Graph>, Arc<RecordingLogger>>::network_update(
            &common::payment_failed(1)
        ),
        None
    );
}

#[test]
fn handler_sees_updated_graph() {
    let graph = graph();
    let seen_by_handler = Arc::clone(&graph);
    let dispatcher = Dispatcher::new(move |_event: Event| {
        assert!(
            !has_channel(&seen_by_handler, 2),
            "the graph observer runs before the handler"
        );
        Ok(())
    })
    .observe(NetworkGraphObserver::new(Arc::clone(&graph)));

    let result = dispatcher.handle_event(failure_with(NetworkUpdate::ChannelFailure {
        short_channel_id: 2,
        is_permanent: true,
    }));

    assert!(result.is_ok());
    assert!(
        dispatcher.take_failure().is_none(),
        "the handler's assertion held"
    );
}
