//! The simnet: nodes, the chain and the network they share, and the helpers tests call.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::secp256k1::PublicKey;
use tempfile::TempDir;

use crate::activity::Activity;
use crate::chain::Chain;
use crate::driver::{ProcessorDriver, RunningProcessor};
use crate::error::SimnetError;
use crate::fees::FixedFeeEstimator;
use crate::keys::node_seed;
use crate::node::{Node, NodeConfig, NodeEnv};
use crate::pipe::{Network, PipeConfig};
use crate::recorder::EventRecorder;

/// The setup of a [`Simnet`].
#[derive(Clone, Debug)]
pub struct SimnetConfig {
    /// How many nodes to start.
    pub nodes: usize,
    /// The seed of every node's keys; the same seed gives the same node ids.
    pub seed: u64,
    /// The feerate every node's fee estimator reports, in satoshis per 1000 weight units.
    pub sat_per_kw: u32,
    /// The parent of the nodes' data directories (`node-0`, `node-1`, ...), or `None` for a
    /// temporary directory that is removed when the simnet drops.
    pub data_dir: Option<PathBuf>,
    /// Sizes of the in-memory connections.
    pub pipe: PipeConfig,
    /// How long a helper waits for a condition before it fails with a timeout.
    pub timeout: Duration,
}

impl Default for SimnetConfig {
    /// Returns two nodes, seed 0, a feerate of 253, a temporary data directory and a timeout
    /// of 30 seconds.
    fn default() -> Self {
        Self {
            nodes: 2,
            seed: 0,
            sat_per_kw: 253,
            data_dir: None,
            pipe: PipeConfig::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Real LDK nodes in one process over a simulated chain and in-memory connections.
///
/// Every node runs the background processor its [`ProcessorDriver`] starts. The helpers
/// (`connect`, `open_channel`, `pay`, `close_channel`, `force_close`, `mine_blocks`,
/// `stop_node`, `restart_node`) wait for their outcome: for nodes whose driver is manual they
/// do the nodes' background work themselves while they wait.
///
/// # Example
///
/// ```
/// use vigil_simnet::{ManualDriver, Simnet, SimnetConfig};
///
/// let simnet = Simnet::start(SimnetConfig::default(), ManualDriver).unwrap();
/// simnet.connect(0, 1).unwrap();
/// let channel = simnet.open_channel(0, 1, 100_000, 0).unwrap();
/// simnet.pay(0, 1, 10_000_000).unwrap();
/// assert_eq!(simnet.node(1).unwrap().recorder().count("PaymentClaimed"), 1);
/// simnet.close_channel(0, channel).unwrap();
/// ```
pub struct Simnet {
    pub(crate) env: NodeEnv,
    pub(crate) network: Network,
    pub(crate) activity: Arc<Activity>,
    pub(crate) driver: Arc<dyn ProcessorDriver>,
    pub(crate) slots: Vec<NodeSlot>,
    pub(crate) connections: parking_lot::Mutex<Vec<(usize, usize)>>,
    pub(crate) timeout: Duration,
    // Kept so that the temporary data directory lives as long as the simnet.
    _temp_dir: Option<TempDir>,
}

pub(crate) struct NodeSlot {
    pub(crate) config: NodeConfig,
    pub(crate) recorder: Arc<EventRecorder>,
    pub(crate) running: parking_lot::Mutex<Option<RunningNode>>,
}

pub(crate) struct RunningNode {
    pub(crate) node: Arc<Node>,
    // `None` while a test has stopped the processor and not started it again.
    pub(crate) processor: Option<Box<dyn RunningProcessor>>,
}

impl Simnet {
    /// Starts `config.nodes` nodes driven by `driver`, not yet connected.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::DataDirInUse`] if a node's data directory is not empty, because
    /// the chain is not kept between runs and a node cannot continue from an earlier one.
    /// Returns [`SimnetError::OpenStore`] if a store cannot be opened, and
    /// [`SimnetError::Driver`] if a processor fails to start.
    pub fn start(
        config: SimnetConfig,
        driver: impl ProcessorDriver + 'static,
    ) -> Result<Self, SimnetError> {
        Self::start_with(config, driver, |_, _| {})
    }

    /// Starts nodes as [`Simnet::start`] does, letting `customize` change each node's
    /// configuration (its index and the default configuration are passed in) first.
    ///
    /// # Errors
    ///
    /// As [`Simnet::start`].
    pub fn start_with(
        config: SimnetConfig,
        driver: impl ProcessorDriver + 'static,
        customize: impl Fn(usize, &mut NodeConfig),
    ) -> Result<Self, SimnetError> {
        let (temp_dir, data_dir) = match &config.data_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("vigil-simnet-")
                    .tempdir()
                    .map_err(|source| SimnetError::Write {
                        node: "simnet".into(),
                        key: "temporary data directory".into(),
                        source,
                    })?;
                let path = temp.path().to_path_buf();
                (Some(temp), path)
            }
        };
        let activity = Arc::new(Activity::default());
        let driver: Arc<dyn ProcessorDriver> = Arc::new(driver);
        let network = Network::with_activity(config.pipe, Arc::clone(&activity));
        if !driver.is_manual() {
            network.start_delivery_thread();
        }
        let env = NodeEnv {
            chain: Arc::new(Chain::new()),
            fee_estimator: Arc::new(FixedFeeEstimator::new(config.sat_per_kw)),
        };
        for index in 0..config.nodes {
            let dir = node_dir(&data_dir, index);
            let in_use = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
            if in_use {
                return Err(SimnetError::DataDirInUse { path: dir });
            }
        }
        let slots = (0..config.nodes)
            .map(|index| {
                let mut node_config = NodeConfig::new(
                    format!("node-{index}"),
                    node_seed(config.seed, index),
                    node_dir(&data_dir, index),
                );
                customize(index, &mut node_config);
                NodeSlot {
                    config: node_config,
                    recorder: Arc::new(EventRecorder::with_activity(Arc::clone(&activity))),
                    running: parking_lot::Mutex::new(None),
                }
            })
            .collect();
        let simnet = Self {
            env,
            network,
            activity,
            driver,
            slots,
            connections: parking_lot::Mutex::new(Vec::new()),
            timeout: config.timeout,
            _temp_dir: temp_dir,
        };
        for index in 0..simnet.slots.len() {
            simnet.start_node(index)?;
        }
        Ok(simnet)
    }

    /// Returns the chain.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.env.chain
    }

    /// Returns the fee estimator all nodes share.
    pub fn fee_estimator(&self) -> &Arc<FixedFeeEstimator> {
        &self.env.fee_estimator
    }

    /// Returns the network joining the nodes.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Returns the driver that starts each node's processor.
    pub fn driver(&self) -> &Arc<dyn ProcessorDriver> {
        &self.driver
    }

    /// Returns the number of nodes, running or stopped.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Returns whether the simnet has no nodes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Returns the nodes' names, by index.
    pub fn names(&self) -> Vec<String> {
        self.slots
            .iter()
            .map(|slot| slot.config.name.clone())
            .collect()
    }

    /// Returns the running node at `index`.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::UnknownNode`] for an index out of range and
    /// [`SimnetError::NodeStopped`] for a stopped node.
    pub fn node(&self, index: usize) -> Result<Arc<Node>, SimnetError> {
        let slot = self.slot(index)?;
        let running = slot.running.lock();
        match running.as_ref() {
            Some(running) => Ok(Arc::clone(&running.node)),
            None => Err(SimnetError::NodeStopped {
                name: slot.config.name.clone(),
            }),
        }
    }

    /// Returns the record of events of the node at `index`, kept across restarts.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::UnknownNode`] for an index out of range.
    pub fn recorder(&self, index: usize) -> Result<Arc<EventRecorder>, SimnetError> {
        Ok(Arc::clone(&self.slot(index)?.recorder))
    }

    /// Returns the configuration the node at `index` starts with.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::UnknownNode`] for an index out of range.
    pub fn node_config(&self, index: usize) -> Result<&NodeConfig, SimnetError> {
        Ok(&self.slot(index)?.config)
    }

    /// Calls `inspect` with the running processor of the node at `index` and returns its
    /// result; [`RunningProcessor::as_any`] reaches the concrete processor.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::UnknownNode`] for an index out of range and
    /// [`SimnetError::NodeStopped`] for a stopped node.
    pub fn with_processor<R>(
        &self,
        index: usize,
        inspect: impl FnOnce(&dyn RunningProcessor) -> R,
    ) -> Result<R, SimnetError> {
        let slot = self.slot(index)?;
        let running = slot.running.lock();
        match running.as_ref() {
            Some(RunningNode {
                processor: Some(processor),
                ..
            }) => Ok(inspect(processor.as_ref())),
            _ => Err(SimnetError::NodeStopped {
                name: slot.config.name.clone(),
            }),
        }
    }

    /// Returns the node id of the node at `index`, running or not.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::UnknownNode`] for an index out of range and
    /// [`SimnetError::NodeStopped`] for a stopped node.
    pub fn node_id(&self, index: usize) -> Result<PublicKey, SimnetError> {
        Ok(self.node(index)?.node_id())
    }

    pub(crate) fn slot(&self, index: usize) -> Result<&NodeSlot, SimnetError> {
        self.slots
            .get(index)
            .ok_or_else(|| SimnetError::UnknownNode {
                name: index.to_string(),
            })
    }

    pub(crate) fn running_nodes(&self) -> Vec<Arc<Node>> {
        self.slots
            .iter()
            .filter_map(|slot| slot.running.lock().as_ref().map(|r| Arc::clone(&r.node)))
            .collect()
    }

    /// Connects the nodes at `initiator` and `responder` and waits until both list the other
    /// as a peer. The pair is remembered and connected again when either node restarts.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Connect`] if a PeerManager rejects the connection and
    /// [`SimnetError::TimedOut`] if the handshake does not complete in time.
    pub fn connect(&self, initiator: usize, responder: usize) -> Result<(), SimnetError> {
        self.open_connection(initiator, responder)?;
        let mut connections = self.connections.lock();
        if !connections.contains(&(initiator, responder)) {
            connections.push((initiator, responder));
        }
        Ok(())
    }

    pub(crate) fn open_connection(
        &self,
        initiator: usize,
        responder: usize,
    ) -> Result<(), SimnetError> {
        let a = self.node(initiator)?;
        let b = self.node(responder)?;
        self.network.connect(a.endpoint(), b.endpoint())?;
        let expected = format!("{} and {} to connect", a.name(), b.name());
        self.wait_for(&expected, || {
            let a_sees_b = a.parts().peer_manager.peer_by_node_id(&b.node_id());
            let b_sees_a = b.parts().peer_manager.peer_by_node_id(&a.node_id());
            a_sees_b.is_some() && b_sees_a.is_some()
        })
    }

    /// Mines `count` blocks, hands each to every running node, and settles.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Write`] when a manual node fails to write while settling.
    pub fn mine_blocks(&self, count: u32) -> Result<u32, SimnetError> {
        for _ in 0..count {
            self.env.chain.mine_block();
            for node in self.running_nodes() {
                node.sync_to_tip(&self.env.chain);
            }
            self.settle()?;
        }
        Ok(self.env.chain.height())
    }

    /// Delivers pending bytes and, for manual nodes, does their background work, until
    /// nothing is left to do; returns whether anything happened.
    ///
    /// Nodes run by a processor are not touched: their processor does their work.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Write`] when a manual node fails to write its ChannelManager.
    pub fn settle(&self) -> Result<bool, SimnetError> {
        let manual = self.driver.is_manual();
        let nodes = if manual {
            self.running_nodes()
        } else {
            Vec::new()
        };
        let mut anything = false;
        loop {
            let mut progress = self.network.deliver_all() > 0;
            for node in &nodes {
                progress |= node.drive_once()?;
            }
            if !progress {
                return Ok(anything);
            }
            anything = true;
        }
    }

    /// Settles and waits until `condition` holds, for at most the configured timeout.
    ///
    /// Between checks it blocks until an event is recorded or a PeerManager sends, and at
    /// most 50 ms, so that work done by background processors is noticed.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::TimedOut`] naming `expected` when the condition fails at the
    /// deadline, and [`SimnetError::Write`] when settling fails.
    pub fn wait_for(
        &self,
        expected: &str,
        condition: impl Fn() -> bool,
    ) -> Result<(), SimnetError> {
        self.wait_for_within(expected, self.timeout, condition)
    }

    /// Waits as [`Simnet::wait_for`] does, for at most `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Simnet::wait_for`].
    pub fn wait_for_within(
        &self,
        expected: &str,
        timeout: Duration,
        condition: impl Fn() -> bool,
    ) -> Result<(), SimnetError> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.activity.count();
            self.settle()?;
            if condition() {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(SimnetError::TimedOut {
                    expected: expected.to_string(),
                    waited: timeout,
                });
            }
            let next_check = deadline.min(now + Duration::from_millis(50));
            self.activity.wait_past(seen, next_check);
        }
    }

    /// Closes and opens again every connection made with [`Simnet::connect`] whose nodes both
    /// run, and waits until each is up and every channel usable before is usable again.
    ///
    /// A new connection makes LDK's gossip sync send the peer its whole graph. That repairs a
    /// graph that missed a channel update: LDK drops an update that arrives before its
    /// channel's announcement and does not send it again on its own.
    ///
    /// # Errors
    ///
    /// As [`Simnet::connect`].
    pub fn reconnect_all(&self) -> Result<(), SimnetError> {
        let usable_before: Vec<(Arc<Node>, usize)> = self
            .running_nodes()
            .into_iter()
            .map(|node| {
                let usable = node.channel_manager().list_usable_channels().len();
                (node, usable)
            })
            .collect();
        let connections = self.connections.lock().clone();
        for (initiator, responder) in connections {
            let (Ok(a), Ok(b)) = (self.node(initiator), self.node(responder)) else {
                continue;
            };
            self.network.disconnect_pair(&a.node_id(), &b.node_id());
            let expected = format!("{} and {} to disconnect", a.name(), b.name());
            self.wait_for(&expected, || {
                a.parts()
                    .peer_manager
                    .peer_by_node_id(&b.node_id())
                    .is_none()
                    && b.parts()
                        .peer_manager
                        .peer_by_node_id(&a.node_id())
                        .is_none()
            })?;
            self.open_connection(initiator, responder)?;
        }
        self.wait_for("channels to be usable again after reconnecting", || {
            usable_before.iter().all(|(node, usable)| {
                node.channel_manager().list_usable_channels().len() >= *usable
            })
        })
    }

    /// Runs every node's timer duties once (see [`Node::tick`]) and settles.
    ///
    /// # Errors
    ///
    /// Returns [`SimnetError::Write`] when a manual node fails to write while settling.
    pub fn tick_all(&self) -> Result<(), SimnetError> {
        for node in self.running_nodes() {
            node.tick();
        }
        self.settle()?;
        Ok(())
    }
}

impl Drop for Simnet {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = self.stop_all();
            return;
        }
        // A panic that leaves a drop during unwinding aborts the whole test binary, and a
        // stop after a panic often meets one: LDK's locks may be poisoned, and LDK's
        // processor panics on stop when its thread panicked. Catching it here lets the
        // failing test fail alone.
        let stop = std::panic::AssertUnwindSafe(|| self.stop_all());
        let _ = std::panic::catch_unwind(stop);
    }
}

/// Returns the data directory of node `index` under `root`.
pub fn node_dir(root: &Path, index: usize) -> PathBuf {
    root.join(format!("node-{index}"))
}
