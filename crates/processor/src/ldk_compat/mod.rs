//! The public API of `lightning-background-processor` 0.2.3, run by Vigil.
//!
//! An application that uses LDK's background processor switches to Vigil by changing one
//! line. Before:
//!
//! ```text
//! use lightning_background_processor::{BackgroundProcessor, GossipSync, NO_ONION_MESSENGER};
//! ```
//!
//! After:
//!
//! ```text
//! use vigil_processor::ldk_compat::{BackgroundProcessor, GossipSync, NO_ONION_MESSENGER};
//! ```
//!
//! Every item keeps the reference's name, generic parameters and argument order:
//! - [`BackgroundProcessor`] with `start`, `join`, `stop` and its drop;
//! - [`GossipSync`] with `p2p`, `rapid` and `none`;
//! - [`NO_ONION_MESSENGER`], [`NO_LIQUIDITY_MANAGER`] and [`NO_LIQUIDITY_MANAGER_SYNC`];
//! - the async functions `process_events_async` and
//!   `process_events_async_with_kv_store_sync`. The `ldk-compat` feature turns on `tokio` for
//!   them, whose channels and macros they use; they need no tokio runtime.
//!
//! Behind them runs Vigil's [`Core`](crate::Core), so the caller gets Vigil's behaviour.
//! Each item's documentation lists where that differs in a way a caller could observe. In
//! short:
//! - `stop` returns as soon as the final writes are done, and an idle processor does not
//!   poll;
//! - ChannelManager writes do not wait for a slow event handler;
//! - a failed write is retried before the processor gives up;
//! - the scorer is written at most once a second after events change it;
//! - a failed final write of the graph or the scorer is logged rather than returned;
//! - nothing panics where the reference does;
//! - the ChannelManager is written at start, peers are disconnected at stop, and fully
//!   resolved ChannelMonitors are archived.
//!
//! # Bounds
//!
//! Vigil writes on one thread or task while it hands out events on another, so the
//! component handles must be shareable: they need `Sync` (and, for the async functions,
//! `Send` and `'static`) beyond the reference's bounds. `Arc<T>` and `&'static T` handles
//! that are `Send` already are, so the wirings of LDK's own samples compile unchanged. The
//! scorer type `SC` must be `'static`, as every owned scorer is. The event handler, the
//! sleeper and `fetch_time` keep the reference's bounds.
//!
//! Pass the components as `Arc`s, not as references borrowed from the stack: for a borrowed
//! handle passed to an async function, rustc reports E0521 ("borrowed data escapes outside
//! of function") without naming the bound, which is `'static`. A handle that is `Send` but
//! not `Sync`, such as a `Box` of a store with a `RefCell`, fails with E0277 naming the
//! `Sync` bound.

mod adapters;
#[cfg(feature = "tokio")]
mod bridge;
mod consts;
#[cfg(feature = "tokio")]
mod future;
mod gossip;
#[cfg(feature = "tokio")]
mod sleep;
mod thread;

#[cfg(test)]
mod tests;

pub use consts::{NO_LIQUIDITY_MANAGER, NO_LIQUIDITY_MANAGER_SYNC, NO_ONION_MESSENGER};
#[cfg(feature = "tokio")]
pub use future::{process_events_async, process_events_async_with_kv_store_sync};
pub use gossip::GossipSync;
pub use thread::BackgroundProcessor;

use crate::error::Error;

/// Converts the error that ended a processor into the `io::Error` the reference returns.
///
/// A failed ChannelManager write returns the store's error with its kind, such as
/// `StorageFull`. The reference returns the same error, but as LDK's `io::Error`, which has
/// no such kind and reports `Other`. Every other end becomes an error of kind `Other` whose
/// message is Vigil's.
fn into_io_error(error: Error) -> std::io::Error {
    match error {
        Error::Persist { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    }
}
