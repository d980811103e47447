//! The store of a node: where its ChannelManager, ChannelMonitors, graph, scorer and sweeper
//! state are written.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use lightning::io;
use lightning::log_error;
use lightning::util::logger::Logger;
use lightning::util::persist::KVStoreSync;
use parking_lot::Mutex;

/// The on-disk store a node opens in its data directory.
pub type DiskStore = vigil_persistence::FilesystemStore;

/// A node's [`KVStoreSync`]: any store behind a shared pointer, with a count of writes per key.
///
/// Every LDK component of a node (the ChainMonitor's monitor persister, the sweeper, the
/// background processor) writes through the same `NodeStore`. The count of writes includes
/// failed ones, and names a key by its namespaces and key joined with `/`, leaving out empty
/// namespaces (`manager`, `monitors/<funding outpoint>`).
///
/// # Example
///
/// ```
/// use lightning::util::persist::KVStoreSync;
/// use vigil_simnet::NodeStore;
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = NodeStore::open(dir.path()).unwrap();
/// store.write("", "", "manager", vec![1, 2, 3]).unwrap();
/// assert_eq!(store.read("", "", "manager").unwrap(), vec![1, 2, 3]);
/// assert_eq!(store.writes("manager"), 1);
/// ```
pub struct NodeStore {
    inner: Arc<dyn KVStoreSync + Send + Sync>,
    writes: Mutex<BTreeMap<String, u64>>,
    // When each successful write returned, per key label, oldest first.
    completions: Mutex<BTreeMap<String, Vec<Instant>>>,
    logger: Option<Arc<dyn Logger + Send + Sync>>,
}

impl NodeStore {
    /// Opens a [`DiskStore`] in `dir`, creating the directory if needed.
    ///
    /// The directory stays locked until every handle on the store is dropped.
    ///
    /// # Errors
    ///
    /// Returns the store's error when the directory cannot be created or is locked by a store
    /// still open on it.
    pub fn open(dir: &Path) -> Result<Self, vigil_persistence::StoreError> {
        Ok(Self::new(Arc::new(DiskStore::open(dir)?)))
    }

    /// Returns a store writing to `inner`, for example a fault-injecting wrapper.
    pub fn new(inner: Arc<dyn KVStoreSync + Send + Sync>) -> Self {
        Self {
            inner,
            writes: Mutex::new(BTreeMap::new()),
            completions: Mutex::new(BTreeMap::new()),
            logger: None,
        }
    }

    /// Returns the store logging each failed write, with its key and error, to `logger`.
    ///
    /// LDK's monitor persister drops the error of a failed write, so this log line is the
    /// only record of why a ChannelMonitor could not be written.
    pub fn with_logger(mut self, logger: Arc<dyn Logger + Send + Sync>) -> Self {
        self.logger = Some(logger);
        self
    }

    /// Returns how many writes went to `label` (see the type's docs for how keys are named).
    pub fn writes(&self, label: &str) -> u64 {
        self.writes.lock().get(label).copied().unwrap_or(0)
    }

    /// Returns when each successful write to `label` returned, oldest first.
    ///
    /// A benchmark measures persistence lag with it: the time from a change to the
    /// ChannelManager to the first `manager` write that completed after it.
    pub fn completed_writes(&self, label: &str) -> Vec<Instant> {
        self.completions
            .lock()
            .get(label)
            .cloned()
            .unwrap_or_default()
    }

    /// Returns the count of writes for every key written so far.
    pub fn write_counts(&self) -> BTreeMap<String, u64> {
        self.writes.lock().clone()
    }
}

impl std::fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStore")
            .field("writes", &*self.writes.lock())
            .finish_non_exhaustive()
    }
}

/// Returns the label under which writes to a key are counted.
pub fn key_label(primary_namespace: &str, secondary_namespace: &str, key: &str) -> String {
    [primary_namespace, secondary_namespace, key]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

impl KVStoreSync for NodeStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, io::Error> {
        self.inner.read(primary_namespace, secondary_namespace, key)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        let label = key_label(primary_namespace, secondary_namespace, key);
        *self.writes.lock().entry(label.clone()).or_insert(0) += 1;
        let result = self
            .inner
            .write(primary_namespace, secondary_namespace, key, buf);
        match (&result, &self.logger) {
            (Ok(()), _) => {
                let completed = Instant::now();
                self.completions
                    .lock()
                    .entry(label)
                    .or_default()
                    .push(completed);
            }
            (Err(error), Some(logger)) => {
                log_error!(logger, "failed to write key {}: {}", label, error);
            }
            (Err(_), None) => {}
        }
        result
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), io::Error> {
        self.inner
            .remove(primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        self.inner.list(primary_namespace, secondary_namespace)
    }
}
