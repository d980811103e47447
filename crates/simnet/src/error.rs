//! Errors of the simnet.

use crate::driver::DriverError;
use crate::pipe::ConnectError;
use crate::recorder::WaitTimeout;

/// An error of a simnet operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimnetError {
    /// Stored state of a node could not be read back.
    #[error("failed to read the {what} of node {node} from its store: {message}")]
    Read {
        /// The node's name.
        node: String,
        /// The part being read, such as `"channel manager"`.
        what: &'static str,
        /// LDK's description of the failure.
        message: String,
    },
    /// A node's store could not be opened.
    #[error("failed to open the store of node {node} in {path}: {source}")]
    OpenStore {
        /// The node's name.
        node: String,
        /// The node's data directory.
        path: std::path::PathBuf,
        /// The store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A write to a node's store failed.
    #[error("failed to write key {key} of node {node}: {source}")]
    Write {
        /// The node's name.
        node: String,
        /// The key, with its namespaces (see [`NodeStore`](crate::NodeStore)).
        key: String,
        /// The store's error.
        #[source]
        source: std::io::Error,
    },
    /// A lock was poisoned by a thread that panicked while holding it.
    #[error("the {what} lock was poisoned by a panic in another thread")]
    Poisoned {
        /// The data the lock guards.
        what: &'static str,
    },
    /// LDK rejected a request.
    #[error("node {node} rejected {action}: {message}")]
    Rejected {
        /// The node's name.
        node: String,
        /// The rejected request, such as `"create_channel"`.
        action: &'static str,
        /// LDK's error, formatted.
        message: String,
    },
    /// A node name or index does not exist in the simnet.
    #[error("no node {name} in this simnet (node names are listed by Simnet::names)")]
    UnknownNode {
        /// The name or index asked for.
        name: String,
    },
    /// A node is stopped, so it cannot do what was asked.
    #[error("node {name} is stopped; start it again with Simnet::restart")]
    NodeStopped {
        /// The node's name.
        name: String,
    },
    /// A node's processor is still running, so another cannot start.
    #[error(
        "the processor of node {name} is still running; stop it with Simnet::stop_processor first"
    )]
    ProcessorRunning {
        /// The node's name.
        name: String,
    },
    /// A node's processor was stopped and not started again.
    #[error("the processor of node {name} is not running; start one with Simnet::start_processor")]
    ProcessorStopped {
        /// The node's name.
        name: String,
    },
    /// A node's data directory already contains state from an earlier run.
    #[error("data directory {path} already contains a node; the simulated chain starts from genesis on every run, so give the simnet an empty directory")]
    DataDirInUse {
        /// The node's data directory.
        path: std::path::PathBuf,
    },
    /// A wait on a node's recorded events ended at its deadline.
    #[error(transparent)]
    Timeout(#[from] WaitTimeout),
    /// A simnet helper's condition did not hold before its deadline.
    #[error("timed out after {waited:?} waiting for {expected} (set VIGIL_SIMNET_LOG=debug to see what the nodes did)")]
    TimedOut {
        /// The condition waited for.
        expected: String,
        /// How long the helper waited.
        waited: std::time::Duration,
    },
    /// Two nodes could not be connected.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A background processor failed.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// A payment failed.
    #[error("payment from {payer} failed: {reason}")]
    PaymentFailed {
        /// The paying node's name.
        payer: String,
        /// The failure reason LDK reported.
        reason: String,
    },
}
