//! A store in one SQLite database file, the embedded default of the project.
//!
//! All values live in one table keyed by (primary namespace, secondary namespace, key). The
//! database runs in WAL mode with `synchronous = FULL`, so a write that returned `Ok` survives a
//! power loss, and a crash leaves each key at its old or its new value. The connection holds
//! SQLite's exclusive lock for as long as the store is open, so a second store on the same file
//! fails to open.
//!
//! `PRAGMA user_version` records the schema version. Opening a database applies the steps of
//! [`MIGRATIONS`] that it lacks, each in its own transaction, and refuses a database newer than
//! this build.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync};
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

use crate::blocking::{ready, run_blocking};
use crate::error::{Operation, StoreError};
use crate::names::{check_key, check_namespace, KeyLocation};
use crate::ordering::{Ticket, WriteOrder};

/// One schema change: the SQL that brings a database from the previous version to `version`.
struct Migration {
    version: i64,
    apply: fn(&Transaction<'_>) -> rusqlite::Result<()>,
}

/// The schema steps in order. To change the schema, append a step with the next version;
/// never edit a step that has shipped, because databases already ran it.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    apply: create_kv_table,
}];

fn create_kv_table(transaction: &Transaction<'_>) -> rusqlite::Result<()> {
    transaction.execute_batch(
        "CREATE TABLE kv_store (
            primary_namespace TEXT NOT NULL,
            secondary_namespace TEXT NOT NULL,
            key TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (primary_namespace, secondary_namespace, key)
        );",
    )
}

/// A [`KVStoreSync`] and [`KVStore`] on a SQLite database (bundled with the crate, so nothing
/// needs installing).
///
/// - Keeps every value in one table keyed by (primary namespace, secondary namespace, key).
/// - Commits each write in WAL mode with `synchronous = FULL`: a write that returned `Ok` is
///   durable.
/// - Holds SQLite's exclusive lock while open: a second store on the same file, in this process
///   or another, fails with [`StoreError::Locked`].
/// - Creates the database file with mode 0600; SQLite gives its WAL file the same mode.
/// - Applies writes to one key in the order they were issued, also through the async trait,
///   where the work runs on a separate thread. Statements run one at a time on one connection.
///
/// # Examples
///
/// ```
/// use lightning::util::persist::KVStoreSync;
/// use vigil_persistence::SqliteStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("node.sqlite"))?;
/// store.write("", "", "scorer", vec![9; 16])?;
/// assert_eq!(store.read("", "", "scorer")?, vec![9; 16]);
/// assert_eq!(store.schema_version(), SqliteStore::SCHEMA_VERSION);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    schema_version: i64,
    connection: Mutex<Connection>,
    order: WriteOrder,
}

impl SqliteStore {
    /// The schema version this build writes and the newest it can open.
    pub const SCHEMA_VERSION: i64 = 1;

    /// Opens the database at `path`, creating it (mode 0600) if needed, and brings its schema to
    /// [`SqliteStore::SCHEMA_VERSION`]. The parent directory must exist.
    ///
    /// # Errors
    ///
    /// Returns [`StoreError::Locked`] if another store has the database open,
    /// [`StoreError::SchemaTooNew`] if a newer build wrote it, and [`StoreError::Open`] or
    /// [`StoreError::OpenDatabase`] with the path if it cannot be created, opened or migrated.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;

        let open_error = |source| StoreError::OpenDatabase {
            path: path.clone(),
            source: Box::new(source),
        };
        let mut connection = Connection::open(&path).map_err(open_error)?;
        // Another holder of the exclusive lock keeps it until it closes, so waiting for it
        // (rusqlite waits 5 s by default) only delays the error.
        connection
            .busy_timeout(Duration::ZERO)
            .map_err(|source| locked_or(&path, source))?;
        // Exclusive locking must be set before the first WAL access; the first write below then
        // takes the lock and keeps it until the connection closes. The page size only applies
        // to a new database: 64 KiB pages cut the latency of a 5 MB write to about a third of
        // what 4 KiB pages give (`cargo xtask bench persistence`), with no loss for 1 KB values.
        connection
            .execute_batch(
                "PRAGMA locking_mode = EXCLUSIVE;
                 PRAGMA page_size = 65536;
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;",
            )
            .map_err(|source| locked_or(&path, source))?;
        let schema_version = migrate(&mut connection, &path)?;

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                schema_version,
                connection: Mutex::new(connection),
                order: WriteOrder::default(),
            }),
        })
    }

    /// Returns the database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Returns the schema version of the database, which opening brought to
    /// [`SqliteStore::SCHEMA_VERSION`].
    pub fn schema_version(&self) -> i64 {
        self.inner.schema_version
    }

    fn issue(&self, location: &KeyLocation) -> Ticket {
        self.inner.order.issue(location)
    }
}

fn create_private_file(path: &Path) -> Result<(), StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })
}

fn locked_or(path: &Path, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;

    match source.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            path: path.to_path_buf(),
        },
        _ => StoreError::OpenDatabase {
            path: path.to_path_buf(),
            source: Box::new(source),
        },
    }
}

fn read_user_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Applies the migrations the database lacks and returns the resulting schema version. Each step
/// runs in an immediate transaction, which also takes the exclusive lock even when no step is
/// missing.
fn migrate(connection: &mut Connection, path: &Path) -> Result<i64, StoreError> {
    let error = |source| locked_or(path, source);
    loop {
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(error)?;
        let found = read_user_version(&transaction).map_err(error)?;
        if found > SqliteStore::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: path.to_path_buf(),
                found,
                supported: SqliteStore::SCHEMA_VERSION,
            });
        }

        let Some(step) = MIGRATIONS.iter().find(|step| step.version > found) else {
            // Rewriting the version is a write, so the lock is held from here on.
            transaction
                .pragma_update(None, "user_version", found)
                .map_err(error)?;
            transaction.commit().map_err(error)?;
            return Ok(found);
        };
        (step.apply)(&transaction).map_err(error)?;
        transaction
            .pragma_update(None, "user_version", step.version)
            .map_err(error)?;
        transaction.commit().map_err(error)?;
    }
}

impl Inner {
    fn database_error(
        &self,
        operation: Operation,
        location: &KeyLocation,
        source: rusqlite::Error,
    ) -> StoreError {
        StoreError::Database {
            operation,
            location: location.clone(),
            path: self.path.clone(),
            source: Box::new(source),
        }
    }

    fn read(&self, location: &KeyLocation) -> Result<Vec<u8>, StoreError> {
        let connection = self.connection.lock();
        let value: Option<Vec<u8>> = connection
            .prepare_cached(
                "SELECT value FROM kv_store
                 WHERE primary_namespace = ?1 AND secondary_namespace = ?2 AND key = ?3",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(
                        params![
                            location.primary_namespace,
                            location.secondary_namespace,
                            location.key
                        ],
                        |row| row.get(0),
                    )
                    .optional()
            })
            .map_err(|e| self.database_error(Operation::Read, location, e))?;
        value.ok_or_else(|| StoreError::NotFound {
            location: location.clone(),
        })
    }

    fn write(
        &self,
        location: &KeyLocation,
        value: &[u8],
        ticket: Ticket,
    ) -> Result<(), StoreError> {
        ticket
            .apply(|| {
                let connection = self.connection.lock();
                connection
                    .prepare_cached(
                        "INSERT INTO kv_store (primary_namespace, secondary_namespace, key, value)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (primary_namespace, secondary_namespace, key)
                         DO UPDATE SET value = excluded.value",
                    )
                    .and_then(|mut statement| {
                        statement.execute(params![
                            location.primary_namespace,
                            location.secondary_namespace,
                            location.key,
                            value
                        ])
                    })
                    .map_err(|e| self.database_error(Operation::Write, location, e))
            })
            .map(|_| ())
    }

    /// Deletes the key. A lazy remove is committed like any other, since a single delete costs
    /// no more than deferring it.
    fn remove(&self, location: &KeyLocation, ticket: Ticket) -> Result<(), StoreError> {
        ticket
            .apply(|| {
                let connection = self.connection.lock();
                connection
                    .prepare_cached(
                        "DELETE FROM kv_store
                         WHERE primary_namespace = ?1 AND secondary_namespace = ?2 AND key = ?3",
                    )
                    .and_then(|mut statement| {
                        statement.execute(params![
                            location.primary_namespace,
                            location.secondary_namespace,
                            location.key
                        ])
                    })
                    .map_err(|e| self.database_error(Operation::Remove, location, e))
            })
            .map(|_| ())
    }

    fn list(&self, location: &KeyLocation) -> Result<Vec<String>, StoreError> {
        let connection = self.connection.lock();
        connection
            .prepare_cached(
                "SELECT key FROM kv_store WHERE primary_namespace = ?1 AND secondary_namespace = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_map(
                        params![location.primary_namespace, location.secondary_namespace],
                        |row| row.get(0),
                    )?
                    .collect()
            })
            .map_err(|e| self.database_error(Operation::List, location, e))
    }
}

impl KVStoreSync for SqliteStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        check_key(primary_namespace, secondary_namespace, key).map_err(StoreError::from)?;
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        Ok(self.inner.read(&location)?)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        check_key(primary_namespace, secondary_namespace, key).map_err(StoreError::from)?;
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        let ticket = self.issue(&location);
        Ok(self.inner.write(&location, &buf, ticket)?)
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        check_key(primary_namespace, secondary_namespace, key).map_err(StoreError::from)?;
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        let ticket = self.issue(&location);
        Ok(self.inner.remove(&location, ticket)?)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, lightning::io::Error> {
        check_namespace(primary_namespace, secondary_namespace).map_err(StoreError::from)?;
        let location = KeyLocation::namespace(primary_namespace, secondary_namespace);
        Ok(self.inner.list(&location)?)
    }
}

impl KVStore for SqliteStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, lightning::io::Error> {
        if let Err(error) = check_key(primary_namespace, secondary_namespace, key) {
            return ready(Err(StoreError::from(error).into()));
        }
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || Ok(inner.read(&location)?)))
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        if let Err(error) = check_key(primary_namespace, secondary_namespace, key) {
            return ready(Err(StoreError::from(error).into()));
        }
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        // The ticket is taken now, at the call, so that call order decides which write wins.
        let ticket = self.issue(&location);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || {
            Ok(inner.write(&location, &buf, ticket)?)
        }))
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        _lazy: bool,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        if let Err(error) = check_key(primary_namespace, secondary_namespace, key) {
            return ready(Err(StoreError::from(error).into()));
        }
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        let ticket = self.issue(&location);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || Ok(inner.remove(&location, ticket)?)))
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, lightning::io::Error> {
        if let Err(error) = check_namespace(primary_namespace, secondary_namespace) {
            return ready(Err(StoreError::from(error).into()));
        }
        let location = KeyLocation::namespace(primary_namespace, secondary_namespace);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || Ok(inner.list(&location)?)))
    }
}
