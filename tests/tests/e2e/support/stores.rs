//! A store that appends each completed ChannelManager and ChannelMonitor write to a shared
//! trace.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use lightning::io;
use lightning::util::persist::{
    KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY, CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
};
use vigil_simnet::StoreOpener;

/// One entry of an ordered trace shared by a store and an event handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEntry {
    /// The handler was called with an event of this kind.
    HandlerStarted(&'static str),
    /// The handler returned from an event of this kind.
    HandlerReturned(&'static str),
    /// A write of the ChannelManager returned successfully.
    ManagerWritten,
    /// A write of the ChannelMonitor stored under this key returned successfully.
    MonitorWritten(String),
}

/// An ordered trace shared by a store and an event handler, with a way to wait for an entry.
#[derive(Default)]
pub struct Trace {
    entries: Mutex<Vec<TraceEntry>>,
    changed: Condvar,
}

impl Trace {
    pub fn push(&self, entry: TraceEntry) {
        self.entries.lock().unwrap().push(entry);
        self.changed.notify_all();
    }

    pub fn entries(&self) -> Vec<TraceEntry> {
        self.entries.lock().unwrap().clone()
    }

    /// Blocks until an entry equal to `entry` sits at a position of at least `from`, or until
    /// `limit` passed; returns whether it came.
    pub fn wait_for(&self, entry: &TraceEntry, from: usize, limit: Duration) -> bool {
        self.wait_until(limit, |entries| {
            entries.iter().skip(from).any(|seen| seen == entry)
        })
    }

    /// Blocks until `condition` is true of the entries or `limit` has passed, and returns
    /// whether it became true.
    pub fn wait_until(&self, limit: Duration, condition: impl Fn(&[TraceEntry]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        let mut entries = self.entries.lock().unwrap();
        loop {
            if condition(&entries) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            entries = self
                .changed
                .wait_timeout(entries, deadline - now)
                .unwrap()
                .0;
        }
    }
}

/// A [`KVStoreSync`] passing every call to `inner` and appending
/// [`TraceEntry::ManagerWritten`] or [`TraceEntry::MonitorWritten`] to a trace after each
/// successful ChannelManager or ChannelMonitor write.
pub struct TracingStore<S> {
    inner: S,
    trace: Arc<Trace>,
}

impl<S> TracingStore<S> {
    pub fn new(inner: S, trace: Arc<Trace>) -> Self {
        Self { inner, trace }
    }
}

impl<S: KVStoreSync> KVStoreSync for TracingStore<S> {
    fn read(&self, primary: &str, secondary: &str, key: &str) -> Result<Vec<u8>, io::Error> {
        self.inner.read(primary, secondary, key)
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        self.inner.write(primary, secondary, key, buf)?;
        if key == CHANNEL_MANAGER_PERSISTENCE_KEY && primary.is_empty() && secondary.is_empty() {
            self.trace.push(TraceEntry::ManagerWritten);
        }
        if primary == CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE && secondary.is_empty() {
            self.trace.push(TraceEntry::MonitorWritten(key.to_owned()));
        }
        Ok(())
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), io::Error> {
        self.inner.remove(primary, secondary, key, lazy)
    }

    fn list(&self, primary: &str, secondary: &str) -> Result<Vec<String>, io::Error> {
        self.inner.list(primary, secondary)
    }
}

/// Returns a store opener that puts a [`TracingStore`] appending to `trace` over the node's
/// [`DiskStore`](vigil_simnet::DiskStore).
pub fn tracing_opener(trace: Arc<Trace>) -> StoreOpener {
    Arc::new(move |dir| {
        let store = TracingStore::new(vigil_simnet::DiskStore::open(dir)?, Arc::clone(&trace));
        Ok(Arc::new(store) as Arc<dyn KVStoreSync + Send + Sync>)
    })
}

/// The `FaultyStore` a [`faulty_opener`] opened, once the node has started.
pub type OpenedFaultyStore =
    Arc<Mutex<Option<Arc<vigil_persistence::FaultyStore<vigil_simnet::DiskStore>>>>>;

/// Returns an opener of a `FaultyStore` over a node's disk store, and the slot where the
/// opened store appears, so that a test can inject failures into it.
pub fn faulty_opener() -> (StoreOpener, OpenedFaultyStore) {
    let opened: OpenedFaultyStore = Arc::default();
    let slot = Arc::clone(&opened);
    let opener: StoreOpener = Arc::new(move |dir| {
        let store = Arc::new(vigil_persistence::FaultyStore::new(
            vigil_simnet::DiskStore::open(dir)?,
        ));
        *slot.lock().unwrap() = Some(Arc::clone(&store));
        Ok(store as Arc<dyn KVStoreSync + Send + Sync>)
    });
    (opener, opened)
}
