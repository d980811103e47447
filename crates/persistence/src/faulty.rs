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
    /// Returns a wrapper around `inner` that injects nothing until a fault is set.
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

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;
    use crate::error::from_ldk;
    use crate::test_util::block_on;
    use crate::MemoryStore;

    fn write(store: &FaultyStore<MemoryStore>, key: &str) -> Result<(), io::Error> {
        KVStoreSync::write(store, "", "", key, vec![1]).map_err(from_ldk)
    }

    #[test]
    fn nth_write_fails_once() {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_nth_write(2, io::ErrorKind::StorageFull);

        write(&store, "a").expect("first write passes");
        let error = write(&store, "b").expect_err("second write fails");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        assert!(error.to_string().contains("\"b\""), "{error}");
        write(&store, "b").expect("third write passes");

        assert!(KVStoreSync::read(&store, "", "", "a").is_ok());
        assert_eq!(store.total_writes(), 3);
        assert_eq!(store.writes("b"), 2);
    }

    #[test]
    fn failed_write_does_not_reach_inner_store() {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_nth_write(1, io::ErrorKind::PermissionDenied);
        assert!(write(&store, "a").is_err());
        assert!(store.inner().is_empty());
    }

    #[test]
    fn key_fails_until_healed() {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_key("manager", io::ErrorKind::TimedOut);

        for _ in 0..3 {
            let error = write(&store, "manager").expect_err("key is failing");
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        }
        write(&store, "scorer").expect("other keys pass");

        store.heal();
        write(&store, "manager").expect("healed");
        assert_eq!(store.writes("manager"), 4);
        assert_eq!(store.writes("scorer"), 1);
        assert_eq!(store.writes("network_graph"), 0);
    }

    #[test]
    fn heal_clears_pending_nth_fault() {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_nth_write(1, io::ErrorKind::Other);
        store.heal();
        write(&store, "a").expect("fault was cleared");
    }

    #[test]
    fn delay_runs_before_each_write_with_key() {
        let store = FaultyStore::new(MemoryStore::new());
        let (sender, receiver) = mpsc::channel();
        store.set_write_delay(move |key| sender.send(key.to_owned()).expect("receiver alive"));

        write(&store, "manager").expect("write");
        write(&store, "scorer").expect("write");
        assert_eq!(
            receiver.try_iter().collect::<Vec<_>>(),
            ["manager", "scorer"]
        );

        store.clear_write_delay();
        write(&store, "manager").expect("write");
        assert_eq!(receiver.try_iter().count(), 0);
    }

    #[test]
    fn async_write_injects_same_faults() {
        let store = FaultyStore::new(MemoryStore::new());
        store.fail_key("manager", io::ErrorKind::StorageFull);
        let (sender, receiver) = mpsc::channel();
        store.set_write_delay(move |key| sender.send(key.to_owned()).expect("receiver alive"));

        let failing = KVStore::write(&store, "", "", "manager", vec![1]);
        let passing = KVStore::write(&store, "", "", "scorer", vec![2]);
        assert_eq!(store.writes("manager"), 1, "counted when issued");
        assert_eq!(
            receiver.try_iter().count(),
            0,
            "delay waits for the first poll"
        );

        let error = block_on(failing).expect_err("key is failing");
        assert_eq!(from_ldk(error).kind(), io::ErrorKind::StorageFull);
        block_on(passing).expect("other key passes");
        assert_eq!(
            receiver.try_iter().collect::<Vec<_>>(),
            ["manager", "scorer"]
        );
        assert_eq!(
            KVStoreSync::read(&store, "", "", "scorer").expect("read"),
            vec![2]
        );
    }
}
