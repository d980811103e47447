//! SQLite store: the lock, the schema version and file permissions.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use lightning::util::persist::KVStoreSync;
use vigil_persistence::{SqliteStore, StoreError};

#[test]
fn second_open_fails_while_first_is_open() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("node.sqlite");
    let store = SqliteStore::open(&path).expect("first open");

    let error = SqliteStore::open(&path)
        .err()
        .expect("second open must fail");
    assert!(
        matches!(&error, StoreError::Locked { path: locked } if *locked == path),
        "{error:?}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );

    drop(store);
    SqliteStore::open(&path).expect("open after the first store closed");
}

#[test]
fn values_survive_reopen() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("node.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    store
        .write("monitors", "", "m1", vec![1, 2])
        .expect("write");
    store.write("", "", "manager", vec![3]).expect("write");
    drop(store);

    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.read("monitors", "", "m1").expect("read"), vec![1, 2]);
    assert_eq!(store.read("", "", "manager").expect("read"), vec![3]);
}

#[test]
fn new_database_gets_current_schema() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("node.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    assert_eq!(store.schema_version(), SqliteStore::SCHEMA_VERSION);
    drop(store);

    let connection = rusqlite::Connection::open(&path).expect("open directly");
    let journal_mode: String = connection
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .expect("journal mode");
    assert_eq!(journal_mode, "wal");
    let user_version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .expect("user version");
    assert_eq!(user_version, SqliteStore::SCHEMA_VERSION);
}

#[test]
fn newer_schema_is_rejected() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("node.sqlite");
    drop(SqliteStore::open(&path).expect("create"));
    let connection = rusqlite::Connection::open(&path).expect("open directly");
    connection
        .pragma_update(None, "user_version", SqliteStore::SCHEMA_VERSION + 1)
        .expect("set version");
    drop(connection);

    let error = SqliteStore::open(&path)
        .err()
        .expect("newer schema must be rejected");
    match error {
        StoreError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(found, SqliteStore::SCHEMA_VERSION + 1);
            assert_eq!(supported, SqliteStore::SCHEMA_VERSION);
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn database_file_is_private() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("node.sqlite");
    let store = SqliteStore::open(&path).expect("open");
    store.write("", "", "manager", vec![1]).expect("write");

    let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let wal = dir.path().join("node.sqlite-wal");
    if wal.exists() {
        let wal_mode = fs::metadata(&wal).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(wal_mode, 0o600, "WAL file");
    }
}

#[test]
fn missing_parent_directory_is_an_error() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("absent").join("node.sqlite");
    let error = SqliteStore::open(&path)
        .err()
        .expect("parent does not exist");
    assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
    assert!(error.to_string().contains("absent"), "{error}");
}
