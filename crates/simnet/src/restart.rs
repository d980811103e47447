//! Reading a node back from its store with LDK's own readers.
//!
//! A node starts again in the order LDK documents for a restart:
//! 1. read every ChannelMonitor (`read_channel_monitors`);
//! 2. read the ChannelManager with `ChannelManagerReadArgs`, which checks it against the
//!    monitors, and the sweeper with its `ReadableArgs`;
//! 3. hand each monitor, the ChannelManager and the sweeper the blocks each has missed, from
//!    its own best block to the chain's tip;
//! 4. give the monitors to the ChainMonitor with `watch_channel`.
//!
//! Peers connect only after that, once the node is complete.

use std::sync::Arc;

use bitcoin::BlockHash;
use lightning::chain::channelmonitor::ChannelMonitor;
use lightning::chain::{BestBlock, ChannelMonitorUpdateStatus, Confirm, Watch};
use lightning::io::{Cursor, ErrorKind};
use lightning::ln::channelmanager::ChannelManagerReadArgs;
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringDecayParameters};
use lightning::sign::InMemorySigner;
use lightning::util::logger::Logger as _;
use lightning::util::persist::{
    read_channel_monitors, KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE, OUTPUT_SWEEPER_PERSISTENCE_KEY,
    OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE, OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
    SCORER_PERSISTENCE_KEY, SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
    SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::ReadableArgs;
use lightning::util::sweep::OutputSweeperSync;

use crate::build::{new_network_graph, new_scorer, BaseParts};
use crate::chain::Chain;
use crate::error::SimnetError;
use crate::logger::NodeLogger;
use crate::node::{connect_block, NodeConfig};
use crate::store::NodeStore;
use crate::types::{SimChannelManager, SimNetworkGraph, SimScorer, SimSweeper};

/// Returns whether the store contains a ChannelManager.
pub(crate) fn has_channel_manager(base: &BaseParts) -> Result<bool, SimnetError> {
    let stored = read_optional(
        &base.store,
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
    )
    .map_err(|message| read_error(&base.logger, "channel manager", message))?;
    Ok(stored.is_some())
}

/// Reads the ChannelManager, the monitors and the sweeper, brings them to the chain's tip and
/// hands the monitors to the ChainMonitor. Returns the ChannelManager, the sweeper and the
/// height they all reached.
pub(crate) fn read_node_state(
    base: &BaseParts,
    config: &NodeConfig,
) -> Result<(SimChannelManager, SimSweeper, u32), SimnetError> {
    let monitors = read_channel_monitors(
        Arc::clone(&base.store),
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.keys_manager),
    )
    .map_err(|error| read_error(&base.logger, "channel monitors", error.to_string()))?;

    let channel_manager = read_channel_manager(base, config, &monitors)?;
    let sweeper = read_sweeper(base)?;

    let tip = base.chain.height();
    for (_, monitor) in &monitors {
        sync_monitor(base, monitor, tip);
    }
    let height = channel_manager.current_best_block().height;
    sync_confirmable(&base.chain, &channel_manager, height, tip);
    let height = sweeper.current_best_block().height;
    sync_confirmable(&base.chain, &sweeper, height, tip);

    for (_, monitor) in monitors {
        let channel_id = monitor.channel_id();
        match base.chain_monitor.watch_channel(channel_id, monitor) {
            Ok(ChannelMonitorUpdateStatus::Completed) => {}
            status => {
                return Err(read_error(
                    &base.logger,
                    "channel monitors",
                    format!("the chain monitor did not take the monitor of channel {channel_id}: {status:?}"),
                ))
            }
        }
    }
    Ok((channel_manager, sweeper, tip))
}

fn read_channel_manager(
    base: &BaseParts,
    config: &NodeConfig,
    monitors: &[(BlockHash, ChannelMonitor<InMemorySigner>)],
) -> Result<SimChannelManager, SimnetError> {
    let bytes = read_required(
        base,
        "channel manager",
        CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
        CHANNEL_MANAGER_PERSISTENCE_KEY,
    )?;
    let args = ChannelManagerReadArgs::new(
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.fee_estimator),
        Arc::clone(&base.chain_monitor),
        Arc::clone(&base.broadcaster),
        Arc::clone(&base.router),
        Arc::clone(&base.message_router),
        Arc::clone(&base.logger),
        config.user_config.clone(),
        monitors.iter().map(|(_, monitor)| monitor).collect(),
    );
    let (_, channel_manager) =
        <(BlockHash, SimChannelManager)>::read(&mut Cursor::new(bytes), args)
            .map_err(|error| read_error(&base.logger, "channel manager", format!("{error:?}")))?;
    Ok(channel_manager)
}

fn read_sweeper(base: &BaseParts) -> Result<SimSweeper, SimnetError> {
    let stored = read_optional(
        &base.store,
        OUTPUT_SWEEPER_PERSISTENCE_PRIMARY_NAMESPACE,
        OUTPUT_SWEEPER_PERSISTENCE_SECONDARY_NAMESPACE,
        OUTPUT_SWEEPER_PERSISTENCE_KEY,
    )
    .map_err(|message| read_error(&base.logger, "output sweeper", message))?;
    let Some(bytes) = stored else {
        // A node that never tracked an output has not written its sweeper yet.
        let (hash, height) = base.chain.tip();
        return Ok(OutputSweeperSync::new(
            BestBlock::new(hash, height),
            Arc::clone(&base.broadcaster),
            Arc::clone(&base.fee_estimator),
            None,
            Arc::clone(&base.keys_manager),
            Arc::clone(&base.wallet),
            Arc::clone(&base.store),
            Arc::clone(&base.logger),
        ));
    };
    let args = (
        Arc::clone(&base.broadcaster),
        Arc::clone(&base.fee_estimator),
        None,
        Arc::clone(&base.keys_manager),
        Arc::clone(&base.wallet),
        Arc::clone(&base.store),
        Arc::clone(&base.logger),
    );
    let (_, sweeper) = <(BestBlock, SimSweeper)>::read(&mut Cursor::new(bytes), args)
        .map_err(|error| read_error(&base.logger, "output sweeper", format!("{error:?}")))?;
    Ok(sweeper)
}

/// Reads the network graph, or returns a new one if none was written.
pub(crate) fn read_network_graph(
    store: &Arc<NodeStore>,
    logger: &Arc<NodeLogger>,
    node: &str,
) -> Result<Arc<SimNetworkGraph>, SimnetError> {
    let stored = read_optional(
        store,
        NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
        NETWORK_GRAPH_PERSISTENCE_KEY,
    );
    let graph = match stored {
        Ok(Some(bytes)) => NetworkGraph::read(&mut Cursor::new(bytes), Arc::clone(logger))
            .map_err(|error| graph_error(node, "network graph", format!("{error:?}")))?,
        Ok(None) => new_network_graph(logger),
        Err(message) => return Err(graph_error(node, "network graph", message)),
    };
    Ok(Arc::new(graph))
}

/// Reads the scorer, or returns a new one if none was written.
pub(crate) fn read_scorer(
    store: &Arc<NodeStore>,
    graph: &Arc<SimNetworkGraph>,
    logger: &Arc<NodeLogger>,
    node: &str,
) -> Result<SimScorer, SimnetError> {
    let stored = read_optional(
        store,
        SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
        SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
        SCORER_PERSISTENCE_KEY,
    );
    match stored {
        Ok(Some(bytes)) => {
            let args = (
                ProbabilisticScoringDecayParameters::default(),
                Arc::clone(graph),
                Arc::clone(logger),
            );
            ProbabilisticScorer::read(&mut Cursor::new(bytes), args)
                .map_err(|error| graph_error(node, "scorer", format!("{error:?}")))
        }
        Ok(None) => Ok(new_scorer(graph, logger)),
        Err(message) => Err(graph_error(node, "scorer", message)),
    }
}

/// Hands a monitor the blocks above its best block, with the monitor's own methods because
/// the ChainMonitor does not watch it yet.
fn sync_monitor(base: &BaseParts, monitor: &ChannelMonitor<InMemorySigner>, tip: u32) {
    let mut height = monitor.current_best_block().height;
    while height < tip {
        height += 1;
        let block = base
            .chain
            .block(height)
            .expect("every height up to the tip has a block");
        let txdata: Vec<_> = block.txdata.iter().enumerate().collect();
        monitor.transactions_confirmed(
            &block.header,
            &txdata,
            height,
            &*base.broadcaster,
            &*base.fee_estimator,
            &base.logger,
        );
        monitor.best_block_updated(
            &block.header,
            height,
            &*base.broadcaster,
            &*base.fee_estimator,
            &base.logger,
        );
    }
}

fn sync_confirmable(chain: &Chain, confirmable: &dyn Confirm, mut height: u32, tip: u32) {
    while height < tip {
        height += 1;
        let block = chain
            .block(height)
            .expect("every height up to the tip has a block");
        connect_block(&[confirmable], &block, height);
    }
}

fn read_required(
    base: &BaseParts,
    what: &'static str,
    primary: &str,
    secondary: &str,
    key: &str,
) -> Result<Vec<u8>, SimnetError> {
    match read_optional(&base.store, primary, secondary, key) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(read_error(
            &base.logger,
            what,
            format!("key {key} is missing"),
        )),
        Err(message) => Err(read_error(&base.logger, what, message)),
    }
}

/// Reads a key, returning `None` when the store has no such key.
fn read_optional(
    store: &NodeStore,
    primary: &str,
    secondary: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, String> {
    match store.read(primary, secondary, key) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(format!("reading key {key} failed: {error}")),
    }
}

fn read_error(logger: &Arc<NodeLogger>, what: &'static str, message: String) -> SimnetError {
    lightning::log_error!(logger, "failed to read the {}: {}", what, message);
    SimnetError::Read {
        node: logger.name().to_string(),
        what,
        message,
    }
}

fn graph_error(node: &str, what: &'static str, message: String) -> SimnetError {
    SimnetError::Read {
        node: node.to_string(),
        what,
        message,
    }
}
