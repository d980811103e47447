#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod builder;
pub mod components;
mod config;
mod core;
mod error;
#[cfg(feature = "ldk-compat")]
pub mod ldk_compat;
mod runner;
mod stats;

pub use crate::core::{Core, Step};
pub use builder::{Builder, Gossip};
pub use config::{Config, ConfigError};
pub use error::Error;
pub use runner::thread::BackgroundProcessor;
#[cfg(feature = "tokio")]
pub use runner::tokio::{
    AsyncBuilder, AsyncEventHandler, AsyncLiquidityDriver, AsyncProcessor, AsyncSweeperDriver,
    ChainMonitorEvents, ChannelManagerEvents, EventsFuture, HandlerFuture, LiquidityPersistFuture,
    OnionMessengerEvents, Stopper, SweepFuture, TokioProcessor,
};
pub use stats::{EventSource, KeyStats, LagSummary, Stats};

#[cfg(test)]
mod testing;
