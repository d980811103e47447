//! The persister that the background processor calls to write the ChannelManager, the
//! NetworkGraph and the scorer.

use std::future::Future;
use std::io;
use std::ops::Deref;

use lightning::util::persist::{
    KVStore, KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_KEY, NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE, SCORER_PERSISTENCE_KEY,
    SCORER_PERSISTENCE_PRIMARY_NAMESPACE, SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::Writeable;

use crate::error::from_ldk;
use crate::retry::RetryPolicy;

/// A failed write of one of the processor's keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// The store returned an error for the write.
    #[error("failed to write key {key:?}: {source}")]
    Write {
        /// The key that was written: `manager`, `network_graph` or `scorer`.
        key: String,
        /// The store's error, with its original kind (such as `StorageFull`).
        #[source]
        source: io::Error,
    },
}

impl PersistError {
    /// Returns the key whose write failed.
    pub fn key(&self) -> &str {
        match self {
            PersistError::Write { key, .. } => key,
        }
    }

    /// Returns the kind of the store's error.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            PersistError::Write { source, .. } => source.kind(),
        }
    }
}

/// The namespaces and key of one of the processor's values.
struct Target {
    primary_namespace: &'static str,
    secondary_namespace: &'static str,
    key: &'static str,
}

const MANAGER: Target = Target {
    primary_namespace: CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
    secondary_namespace: CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
    key: CHANNEL_MANAGER_PERSISTENCE_KEY,
};

const GRAPH: Target = Target {
    primary_namespace: NETWORK_GRAPH_PERSISTENCE_PRIMARY_NAMESPACE,
    secondary_namespace: NETWORK_GRAPH_PERSISTENCE_SECONDARY_NAMESPACE,
    key: NETWORK_GRAPH_PERSISTENCE_KEY,
};

const SCORER: Target = Target {
    primary_namespace: SCORER_PERSISTENCE_PRIMARY_NAMESPACE,
    secondary_namespace: SCORER_PERSISTENCE_SECONDARY_NAMESPACE,
    key: SCORER_PERSISTENCE_KEY,
};

fn write_failed(target: &Target, error: lightning::io::Error) -> PersistError {
    PersistError::Write {
        key: target.key.to_owned(),
        source: from_ldk(error),
    }
}

/// Writes the ChannelManager, the NetworkGraph and the scorer to a [`KVStoreSync`] under LDK's
/// keys, in LDK's serialization.
///
/// - [`Persister::persist_manager`] writes key `manager`, [`Persister::persist_graph`] key
///   `network_graph` and [`Persister::persist_scorer`] key `scorer`, all in the empty namespaces
///   (LDK's `*_PERSISTENCE_*` constants), so that LDK's loaders find them.
/// - Each call makes exactly one attempt. The caller reads the number of attempts and the wait
///   between them from the [`RetryPolicy`] stored here, and the error of the last allowed
///   attempt is final.
///
/// # Note
///
/// A node whose ChannelManager cannot be written for good must stop: running on would let the
/// stored state fall behind channel updates already sent to peers.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lightning::util::persist::KVStoreSync;
/// use vigil_persistence::{MemoryStore, Persister, RetryPolicy};
///
/// let persister = Persister::new(Arc::new(MemoryStore::new()), RetryPolicy::default());
/// // Any `Writeable` works; a ChannelManager is the usual argument.
/// persister.persist_manager(&42u64)?;
/// assert_eq!(persister.store().read("", "", "manager")?, 42u64.to_be_bytes());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Persister<K: Deref>
where
    K::Target: KVStoreSync,
{
    store: K,
    retry_policy: RetryPolicy,
}

impl<K: Deref> Persister<K>
where
    K::Target: KVStoreSync,
{
    /// Returns a persister that writes to `store` and hands `retry_policy` to its caller.
    pub fn new(store: K, retry_policy: RetryPolicy) -> Self {
        Persister {
            store,
            retry_policy,
        }
    }

    /// Encodes `manager` and writes it under key `manager`, once.
    ///
    /// # Errors
    ///
    /// Returns [`PersistError::Write`] with key `manager` and the store's error.
    pub fn persist_manager<W: Writeable + ?Sized>(&self, manager: &W) -> Result<(), PersistError> {
        self.persist(&MANAGER, manager)
    }

    /// Encodes `graph` and writes it under key `network_graph`, once.
    ///
    /// # Errors
    ///
    /// Returns [`PersistError::Write`] with key `network_graph` and the store's error.
    pub fn persist_graph<W: Writeable + ?Sized>(&self, graph: &W) -> Result<(), PersistError> {
        self.persist(&GRAPH, graph)
    }

    /// Encodes `scorer` and writes it under key `scorer`, once.
    ///
    /// # Errors
    ///
    /// Returns [`PersistError::Write`] with key `scorer` and the store's error.
    pub fn persist_scorer<W: Writeable + ?Sized>(&self, scorer: &W) -> Result<(), PersistError> {
        self.persist(&SCORER, scorer)
    }

    /// Returns the retry policy the caller applies to failed writes.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    /// Returns the store written to.
    pub fn store(&self) -> &K::Target {
        &self.store
    }

    fn persist<W: Writeable + ?Sized>(
        &self,
        target: &Target,
        value: &W,
    ) -> Result<(), PersistError> {
        self.store
            .write(
                target.primary_namespace,
                target.secondary_namespace,
                target.key,
                value.encode(),
            )
            .map_err(|error| write_failed(target, error))
    }
}

/// The async twin of [`Persister`], writing through LDK's async [`KVStore`].
///
/// Each method encodes its value and issues the write when called, and returns a future that
/// completes when the store has written it. Because the store orders writes by the time they
/// were issued, two calls for one key land in call order even if their futures run in another
/// order. Like [`Persister`], each call makes one attempt.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lightning::util::persist::KVStoreSync;
/// use vigil_persistence::{AsyncPersister, MemoryStore, RetryPolicy};
///
/// let store = Arc::new(MemoryStore::new());
/// let persister = AsyncPersister::new(Arc::clone(&store), RetryPolicy::default());
/// let write = persister.persist_scorer(&7u32);
/// // Poll `write` on any executor; MemoryStore completes it at once.
/// # drop(write);
/// assert_eq!(store.read("", "", "scorer")?, 7u32.to_be_bytes());
/// # Ok::<(), lightning::io::Error>(())
/// ```
pub struct AsyncPersister<K: Deref>
where
    K::Target: KVStore,
{
    store: K,
    retry_policy: RetryPolicy,
}

impl<K: Deref> AsyncPersister<K>
where
    K::Target: KVStore,
{
    /// Returns a persister that writes to `store` and hands `retry_policy` to its caller.
    pub fn new(store: K, retry_policy: RetryPolicy) -> Self {
        AsyncPersister {
            store,
            retry_policy,
        }
    }

    /// Encodes `manager` and issues one write under key `manager`.
    ///
    /// # Errors
    ///
    /// The future returns [`PersistError::Write`] with key `manager` and the store's error.
    pub fn persist_manager<W: Writeable + ?Sized>(
        &self,
        manager: &W,
    ) -> impl Future<Output = Result<(), PersistError>> + Send + 'static {
        self.persist(&MANAGER, manager)
    }

    /// Encodes `graph` and issues one write under key `network_graph`.
    ///
    /// # Errors
    ///
    /// The future returns [`PersistError::Write`] with key `network_graph` and the store's error.
    pub fn persist_graph<W: Writeable + ?Sized>(
        &self,
        graph: &W,
    ) -> impl Future<Output = Result<(), PersistError>> + Send + 'static {
        self.persist(&GRAPH, graph)
    }

    /// Encodes `scorer` and issues one write under key `scorer`.
    ///
    /// # Errors
    ///
    /// The future returns [`PersistError::Write`] with key `scorer` and the store's error.
    pub fn persist_scorer<W: Writeable + ?Sized>(
        &self,
        scorer: &W,
    ) -> impl Future<Output = Result<(), PersistError>> + Send + 'static {
        self.persist(&SCORER, scorer)
    }

    /// Returns the retry policy the caller applies to failed writes.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry_policy
    }

    /// Returns the store written to.
    pub fn store(&self) -> &K::Target {
        &self.store
    }

    fn persist<W: Writeable + ?Sized>(
        &self,
        target: &'static Target,
        value: &W,
    ) -> impl Future<Output = Result<(), PersistError>> + Send + 'static {
        let write = self.store.write(
            target.primary_namespace,
            target.secondary_namespace,
            target.key,
            value.encode(),
        );
        async move { write.await.map_err(|error| write_failed(target, error)) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::test_util::block_on;
    use crate::{FaultyStore, MemoryStore};

    fn faulty() -> Arc<FaultyStore<MemoryStore>> {
        Arc::new(FaultyStore::new(MemoryStore::new()))
    }

    #[test]
    fn writes_ldk_keys() {
        let store = faulty();
        let persister = Persister::new(Arc::clone(&store), RetryPolicy::default());
        persister.persist_manager(&1u8).expect("manager");
        persister.persist_graph(&2u8).expect("graph");
        persister.persist_scorer(&3u8).expect("scorer");

        let read = |key| KVStoreSync::read(store.inner(), "", "", key).expect("written");
        assert_eq!(read("manager"), vec![1]);
        assert_eq!(read("network_graph"), vec![2]);
        assert_eq!(read("scorer"), vec![3]);
        assert_eq!(store.inner().len(), 3);
    }

    #[test]
    fn one_attempt_per_call() {
        let store = faulty();
        store.fail_key("manager", io::ErrorKind::StorageFull);
        let policy = RetryPolicy::new(5, Default::default(), Default::default()).expect("policy");
        let persister = Persister::new(Arc::clone(&store), policy.clone());

        let error = persister.persist_manager(&1u8).expect_err("key is failing");
        assert_eq!(store.writes("manager"), 1);
        assert_eq!(persister.retry_policy(), &policy);
        assert_eq!(error.key(), "manager");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        let message = error.to_string();
        assert!(message.contains("\"manager\""), "{message}");
    }

    #[test]
    fn error_keeps_store_error_as_source() {
        let store = faulty();
        store.fail_nth_write(1, io::ErrorKind::PermissionDenied);
        let persister = Persister::new(Arc::clone(&store), RetryPolicy::no_retry());
        let error = persister
            .persist_graph(&1u8)
            .expect_err("first write fails");
        let source = std::error::Error::source(&error).expect("source kept");
        assert!(source.to_string().contains("injected failure"), "{source}");
        assert_eq!(error.key(), "network_graph");
    }

    #[test]
    fn foreign_store_error_keeps_kind() {
        struct RejectsAll;
        impl KVStoreSync for RejectsAll {
            fn read(&self, _: &str, _: &str, _: &str) -> Result<Vec<u8>, lightning::io::Error> {
                Err(lightning::io::ErrorKind::NotFound.into())
            }
            fn write(
                &self,
                _: &str,
                _: &str,
                _: &str,
                _: Vec<u8>,
            ) -> Result<(), lightning::io::Error> {
                Err(lightning::io::ErrorKind::PermissionDenied.into())
            }
            fn remove(
                &self,
                _: &str,
                _: &str,
                _: &str,
                _: bool,
            ) -> Result<(), lightning::io::Error> {
                Ok(())
            }
            fn list(&self, _: &str, _: &str) -> Result<Vec<String>, lightning::io::Error> {
                Ok(Vec::new())
            }
        }

        // A store outside this crate returns plain LDK errors; their kind still comes through.
        let persister = Persister::new(&RejectsAll, RetryPolicy::default());
        let error = persister.persist_scorer(&1u8).expect_err("store rejects");
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
        assert_eq!(error.key(), "scorer");
    }

    #[test]
    fn async_persister_writes_in_call_order() {
        let store = faulty();
        let persister = AsyncPersister::new(Arc::clone(&store), RetryPolicy::default());
        let older = persister.persist_manager(&1u8);
        let newer = persister.persist_manager(&2u8);
        block_on(newer).expect("newer");
        block_on(older).expect("older");
        assert_eq!(
            KVStoreSync::read(store.inner(), "", "", "manager").expect("read"),
            vec![2]
        );
    }

    #[test]
    fn async_persister_reports_key_and_kind() {
        let store = faulty();
        store.fail_key("network_graph", io::ErrorKind::StorageFull);
        let persister = AsyncPersister::new(Arc::clone(&store), RetryPolicy::default());
        let error = block_on(persister.persist_graph(&1u8)).expect_err("key is failing");
        assert_eq!(error.key(), "network_graph");
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        block_on(persister.persist_scorer(&1u8)).expect("scorer passes");
    }
}
