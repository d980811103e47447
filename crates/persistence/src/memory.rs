//! A store that keeps everything in memory, for tests and examples.

use std::collections::BTreeMap;

use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync};
use parking_lot::RwLock;

use crate::blocking::ready;
use crate::error::StoreError;
use crate::names::{check_key, check_namespace, KeyLocation};

type Entries = BTreeMap<(String, String, String), Vec<u8>>;

/// A store that keeps values in a map in memory and loses them when dropped.
///
/// - Applies LDK's naming rules like the durable stores, so tests catch bad names early.
/// - Applies every operation when it is called, also through the async [`KVStore`] trait, so
///   writes to one key land in the order they were issued.
/// - Treats a lazy remove like any other remove.
///
/// # Examples
///
/// ```
/// use lightning::util::persist::KVStoreSync;
/// use vigil_persistence::MemoryStore;
///
/// let store = MemoryStore::new();
/// store.write("monitors", "", "channel_1", vec![1, 2, 3])?;
/// assert_eq!(store.read("monitors", "", "channel_1")?, vec![1, 2, 3]);
/// assert_eq!(store.list("monitors", "")?, vec!["channel_1".to_string()]);
/// # Ok::<(), lightning::io::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: RwLock<Entries>,
}

impl MemoryStore {
    /// Returns an empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// Returns the number of values stored, over all namespaces.
    pub fn len(&self) -> usize {
        self.entries.read().len()
    }

    /// Returns whether the store contains no value.
    pub fn is_empty(&self) -> bool {
        self.entries.read().is_empty()
    }

    fn read_checked(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, StoreError> {
        check_key(primary_namespace, secondary_namespace, key)?;
        let id = entry_id(primary_namespace, secondary_namespace, key);
        match self.entries.read().get(&id) {
            Some(value) => Ok(value.clone()),
            None => Err(StoreError::NotFound {
                location: KeyLocation::key(primary_namespace, secondary_namespace, key),
            }),
        }
    }

    fn write_checked(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), StoreError> {
        check_key(primary_namespace, secondary_namespace, key)?;
        let id = entry_id(primary_namespace, secondary_namespace, key);
        self.entries.write().insert(id, value);
        Ok(())
    }

    fn remove_checked(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        check_key(primary_namespace, secondary_namespace, key)?;
        let id = entry_id(primary_namespace, secondary_namespace, key);
        self.entries.write().remove(&id);
        Ok(())
    }

    fn list_checked(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, StoreError> {
        check_namespace(primary_namespace, secondary_namespace)?;
        let entries = self.entries.read();
        let keys = entries
            .keys()
            .filter(|(primary, secondary, _)| {
                primary == primary_namespace && secondary == secondary_namespace
            })
            .map(|(_, _, key)| key.clone())
            .collect();
        Ok(keys)
    }
}

fn entry_id(primary: &str, secondary: &str, key: &str) -> (String, String, String) {
    (primary.to_owned(), secondary.to_owned(), key.to_owned())
}

impl KVStoreSync for MemoryStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        Ok(self.read_checked(primary_namespace, secondary_namespace, key)?)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        Ok(self.write_checked(primary_namespace, secondary_namespace, key, buf)?)
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        Ok(self.remove_checked(primary_namespace, secondary_namespace, key)?)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, lightning::io::Error> {
        Ok(self.list_checked(primary_namespace, secondary_namespace)?)
    }
}

impl KVStore for MemoryStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, lightning::io::Error> {
        ready(KVStoreSync::read(
            self,
            primary_namespace,
            secondary_namespace,
            key,
        ))
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        ready(KVStoreSync::write(
            self,
            primary_namespace,
            secondary_namespace,
            key,
            buf,
        ))
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        ready(KVStoreSync::remove(
            self,
            primary_namespace,
            secondary_namespace,
            key,
            lazy,
        ))
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, lightning::io::Error> {
        ready(KVStoreSync::list(
            self,
            primary_namespace,
            secondary_namespace,
        ))
    }
}
