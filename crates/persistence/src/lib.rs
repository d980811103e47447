#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod blocking;
mod error;
#[cfg(any(test, feature = "testing"))]
mod faulty;
mod fs_store;
mod memory;
mod mirror;
mod names;
mod ordering;
mod persister;
mod retry;
mod sqlite_store;
#[cfg(test)]
mod test_util;

pub use error::{from_ldk, to_ldk, Operation, StoreError};
#[cfg(any(test, feature = "testing"))]
pub use faulty::FaultyStore;
pub use fs_store::FilesystemStore;
pub use memory::MemoryStore;
pub use mirror::{MirrorStore, SharedStore};
pub use names::{check_key, check_namespace, KeyLocation, NameError, NamePart, NameRule};
pub use persister::{AsyncPersister, PersistError, Persister};
pub use retry::{RetryPolicy, RetryPolicyError};
pub use sqlite_store::SqliteStore;
