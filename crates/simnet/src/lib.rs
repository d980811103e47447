#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod activity;
mod broadcast;
mod build;
mod chain;
#[cfg(feature = "vigil")]
mod compat_driver;
mod driver;
mod error;
mod fees;
mod handler;
mod keys;
mod lifecycle;
mod logger;
mod metrics;
mod node;
mod ops;
mod pipe;
mod recorder;
mod restart;
mod simnet;
mod store;
mod types;
#[cfg(feature = "vigil")]
mod vigil_driver;
mod wallet;

pub use activity::Activity;
pub use broadcast::NodeBroadcaster;
pub use chain::Chain;
#[cfg(feature = "vigil")]
pub use compat_driver::CompatDriver;
pub use driver::{DriverError, ManualDriver, ProcessorDriver, ReferenceDriver, RunningProcessor};
pub use error::SimnetError;
pub use fees::FixedFeeEstimator;
pub use handler::{NodeEventHandler, UserHandler};
pub use keys::{keys_manager, node_seed};
pub use logger::{parse_level, LogConfig, LogLine, NodeLogger};
pub use metrics::{
    dispatch_latencies, dispatch_latencies_since, percentile, persist_lags, persist_lags_since,
};
pub use node::{Node, NodeConfig, NodeEnv, NodeParts, StoreOpener};
pub use ops::{PendingPayment, FUNDING_CONFIRMATIONS};
pub use pipe::{ConnectError, ConnectionClosed, Network, PeerEndpoint, PipeConfig, PipeDescriptor};
pub use recorder::{event_kind, EventRecorder, RecordedEvent, WaitTimeout};
pub use simnet::{node_dir, Simnet, SimnetConfig};
pub use store::{key_label, DiskStore, NodeStore};
pub use types::{
    SimAsyncSweeper, SimAsyncSweeperTarget, SimChainMonitor, SimChannelManager, SimGossipSync,
    SimLockedScorer, SimMessageRouter, SimNetworkGraph, SimOnionMessenger, SimPeerManager,
    SimRouter, SimScorer, SimSweeper,
};
#[cfg(feature = "vigil")]
pub use vigil_driver::{VigilDriver, VigilProcessor};
pub use wallet::Wallet;
