//! What the background processor calls to write the ChannelManager, the NetworkGraph and the
//! scorer.

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

/// Where one of the processor's values goes.
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
/// - Each call makes exactly one attempt. The [`RetryPolicy`] stored here tells the caller how
///   many attempts to make and how long to wait between them; the error of the last allowed
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
