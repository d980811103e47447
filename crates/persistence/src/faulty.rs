//! A store wrapper that injects write failures and latency, for tests of code built on stores.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;

use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync};
use parking_lot::{Mutex, RwLock};

use crate::error::to_ldk;

type WriteDelay = Arc<dyn Fn(&str) + Send + Sync>;

/// A [`KVStoreSync`] and [`KVStore`] that passes every call to an inner store, except the writes
/// chosen to fail.
///
/// - [`FaultyStore::fail_nth_write`] fails one write by its 1-based number among all writes the
///   store has seen since it was built, and [`FaultyStore::fail_key`] fails every write to a
///   key until [`FaultyStore::heal`].
/// - A failed write returns an error of the chosen `std::io::ErrorKind` (such as `StorageFull`)
///   and never reaches the inner store. Vigil's error conversion keeps that kind across LDK's
///   `io::Error`, even for kinds LDK's error type lacks.
/// - [`FaultyStore::set_write_delay`] installs a function called with the key before each write,
///   which a test uses to block a write (on a channel, a barrier or a virtual clock).
/// - [`FaultyStore::writes`] counts attempted writes per key, failed ones included.
///
/// Through the async trait, a write is counted and its fault decided when it is issued, and the
/// delay function runs when the returned future is first polled.
///
/// # Examples
///
/// ```
/// use std::io::ErrorKind;
/// use std::sync::Arc;
/// use lightning::util::persist::KVStoreSync;
/// use vigil_persistence::{FaultyStore, MemoryStore, Persister, RetryPolicy};
///
/// let store = Arc::new(FaultyStore::new(MemoryStore::new()));
/// store.fail_key("manager", ErrorKind::StorageFull);
///
/// let persister = Persister::new(Arc::clone(&store), RetryPolicy::default());
/// let error = persister.persist_manager(&1u8).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::StorageFull);
///
/// store.heal();
/// persister.persist_manager(&1u8)?;
/// assert_eq!(store.writes("manager"), 2);
/// # Ok::<(), vigil_persistence::PersistError>(())
/// ```
pub struct FaultyStore<S> {
    inner: S,
    faults: Mutex<Faults>,
    delay: RwLock<Option<WriteDelay>>,
}

#[derive(Default)]
struct Faults {
    total_writes: usize,
    writes_per_key: HashMap<String, usize>,
    nth_write: Vec<(usize, io::ErrorKind)>,
    failing_keys: HashMap<String, io::ErrorKind>,
}

impl<S> FaultyStore<S> {
    /// Returns a wrapper around `inner` that injects nothing until told to.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            faults: Mutex::new(Faults::default()),
            delay: RwLock::new(None),
        }
    }

    /// Returns the wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Makes the `n`-th write (1-based, counting every write since the store was built, to any
    /// key) fail with `kind`. A number already passed never fires.
    pub fn fail_nth_write(&self, n: usize, kind: io::ErrorKind) {
        self.faults.lock().nth_write.push((n, kind));
    }

    /// Makes every write to `key`, in any namespace, fail with `kind` until [`FaultyStore::heal`].
    pub fn fail_key(&self, key: &str, kind: io::ErrorKind) {
        self.faults.lock().failing_keys.insert(key.to_owned(), kind);
    }

    /// Clears every injected fault. The write delay and the counters stay.
    pub fn heal(&self) {
        let mut faults = self.faults.lock();
        faults.nth_write.clear();
        faults.failing_keys.clear();
    }

    /// Installs `wait`, called with the key before each write.
    pub fn set_write_delay(&self, wait: impl Fn(&str) + Send + Sync + 'static) {
        *self.delay.write() = Some(Arc::new(wait));
    }

    /// Removes the function installed by [`FaultyStore::set_write_delay`].
    pub fn clear_write_delay(&self) {
        *self.delay.write() = None;
    }

    /// Returns the number of attempted writes to `key`, in any namespace, failed ones included.
    pub fn writes(&self, key: &str) -> usize {
        self.faults
            .lock()
            .writes_per_key
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    /// Returns the number of attempted writes to any key.
    pub fn total_writes(&self) -> usize {
        self.faults.lock().total_writes
    }

    /// Counts a write to `key` and returns the injected error, if this write is to fail.
    fn count_write(&self, key: &str) -> Option<io::Error> {
        let mut faults = self.faults.lock();
        faults.total_writes += 1;
        let number = faults.total_writes;
        *faults.writes_per_key.entry(key.to_owned()).or_default() += 1;

        let nth = faults
            .nth_write
            .iter()
            .position(|(n, _)| *n == number)
            .map(|index| faults.nth_write.swap_remove(index).1);
        let kind = nth.or_else(|| faults.failing_keys.get(key).copied())?;
        Some(io::Error::new(
            kind,
            format!("injected failure of write {number} (key {key:?})"),
        ))
    }

    fn delay(&self) -> Option<WriteDelay> {
        self.delay.read().clone()
    }
}

impl<S: Default> Default for FaultyStore<S> {
    fn default() -> Self {
        FaultyStore::new(S::default())
    }
}

impl<S: KVStoreSync> KVStoreSync for FaultyStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        self.inner.read(primary_namespace, secondary_namespace, key)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        if let Some(wait) = self.delay() {
            wait(key);
        }
        if let Some(error) = self.count_write(key) {
            return Err(to_ldk(error));
        }
        self.inner
            .write(primary_namespace, secondary_namespace, key, buf)
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        self.inner
            .remove(primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, lightning::io::Error> {
        self.inner.list(primary_namespace, secondary_namespace)
    }
}

impl<S: KVStore> KVStore for FaultyStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, lightning::io::Error> {
        self.inner.read(primary_namespace, secondary_namespace, key)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        let delay = self.delay();
        let owned_key = key.to_owned();
        // The inner write is issued now, so that it keeps its place in the key's order.
        let write = match self.count_write(key) {
            Some(error) => Err(to_ldk(error)),
            None => Ok(self
                .inner
                .write(primary_namespace, secondary_namespace, key, buf)),
        };
        Box::pin(async move {
            if let Some(wait) = delay {
                wait(&owned_key);
            }
            write?.await
        })
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        self.inner
            .remove(primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, lightning::io::Error> {
        self.inner.list(primary_namespace, secondary_namespace)
    }
}
