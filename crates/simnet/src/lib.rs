//! Real LDK nodes in one process, over a simulated chain and in-memory connections.
//!
//! A [`Simnet`] starts nodes that each have a `KeysManager`, a `ChannelManager`, a
//! `ChainMonitor` persisting monitors to the node's own store, a `PeerManager`, a network graph
//! with P2P gossip, a probabilistic scorer, an `OnionMessenger` and an `OutputSweeper`. Their
//! PeerManagers talk through in-memory pipes ([`Network`]); no socket is opened. A simulated
//! regtest [`Chain`] mines broadcast transactions into blocks with valid headers and hands every
//! block to every node through LDK's `Confirm` interface.
//!
//! Each node's background work runs through a [`ProcessorDriver`]: [`ReferenceDriver`] runs
//! LDK's `lightning-background-processor`, `VigilDriver` runs Vigil's processor (feature `vigil`, on by default),
//! [`ManualDriver`] leaves it to the test, and another processor plugs in by implementing the
//! trait. Every event a node's handler receives is kept
//! in its [`EventRecorder`].
//!
//! ```
//! use vigil_simnet::{ReferenceDriver, Simnet, SimnetConfig};
//!
//! let simnet = Simnet::start(SimnetConfig::default(), ReferenceDriver).unwrap();
//! simnet.connect(0, 1).unwrap();
//! simnet.open_channel(0, 1, 200_000, 0).unwrap();
//! simnet.pay(0, 1, 5_000_000).unwrap();
//! simnet.stop_all().unwrap();
//! ```
#![deny(missing_docs)]

mod activity;
mod broadcast;
mod build;
mod chain;
mod driver;
mod error;
mod fees;
mod handler;
mod keys;
mod logger;
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
pub use driver::{DriverError, ManualDriver, ProcessorDriver, ReferenceDriver, RunningProcessor};
pub use error::SimnetError;
pub use fees::FixedFeeEstimator;
pub use handler::{NodeEventHandler, UserHandler};
pub use keys::{keys_manager, node_seed};
pub use logger::{parse_level, LogConfig, LogLine, NodeLogger};
pub use node::{Node, NodeConfig, NodeEnv, NodeParts, StoreOpener};
pub use ops::{PendingPayment, FUNDING_CONFIRMATIONS};
pub use pipe::{ConnectError, ConnectionClosed, Network, PeerEndpoint, PipeConfig, PipeDescriptor};
pub use recorder::{event_kind, EventRecorder, RecordedEvent, WaitTimeout};
pub use simnet::{node_dir, Simnet, SimnetConfig};
pub use store::{key_label, DiskStore, NodeStore};
pub use types::{
    SimChainMonitor, SimChannelManager, SimGossipSync, SimLockedScorer, SimMessageRouter,
    SimNetworkGraph, SimOnionMessenger, SimPeerManager, SimRouter, SimScorer, SimSweeper,
};
#[cfg(feature = "vigil")]
pub use vigil_driver::{VigilDriver, VigilProcessor};
pub use wallet::Wallet;
