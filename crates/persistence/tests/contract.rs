//! Runs the shared store contract against every store in the crate.

mod common;

use std::sync::Arc;

use common::{check_async_store_contract, check_store_contract, recording_logger};
use vigil_persistence::{FilesystemStore, MemoryStore, MirrorStore, SqliteStore};

#[test]
fn memory_store_contract() {
    check_store_contract(&MemoryStore::new());
    check_async_store_contract(&MemoryStore::new());
}

#[test]
fn filesystem_store_contract() {
    let dir = tempfile::tempdir().expect("temporary directory");
    check_store_contract(&FilesystemStore::open(dir.path().join("sync")).expect("open"));
    check_async_store_contract(&FilesystemStore::open(dir.path().join("async")).expect("open"));
}

#[test]
fn sqlite_store_contract() {
    let dir = tempfile::tempdir().expect("temporary directory");
    check_store_contract(&SqliteStore::open(dir.path().join("sync.sqlite")).expect("open"));
    check_async_store_contract(&SqliteStore::open(dir.path().join("async.sqlite")).expect("open"));
}

#[test]
fn mirror_store_contract() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mirror = |name: &str| {
        let primary = FilesystemStore::open(dir.path().join(name)).expect("open primary");
        let backup =
            SqliteStore::open(dir.path().join(format!("{name}.sqlite"))).expect("open backup");
        MirrorStore::new(Arc::new(primary), recording_logger())
            .with_backup("sqlite", Arc::new(backup))
            .with_backup("memory", Arc::new(MemoryStore::new()))
            .require_backups(true)
    };
    check_store_contract(&mirror("sync"));
    check_async_store_contract(&mirror("async"));
}

#[test]
fn stores_work_as_trait_objects() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let stores: Vec<Box<dyn lightning::util::persist::KVStoreSync + Send + Sync>> = vec![
        Box::new(MemoryStore::new()),
        Box::new(FilesystemStore::open(dir.path().join("fs")).expect("open")),
        Box::new(SqliteStore::open(dir.path().join("db.sqlite")).expect("open")),
    ];
    for store in &stores {
        check_store_contract(store.as_ref());
    }
}
