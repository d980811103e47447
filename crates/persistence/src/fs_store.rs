//! A store that keeps each value in its own file, written atomically.
//!
//! # Layout
//!
//! A value lives at `<dir>/<primary>/<secondary>/<key>`, with empty namespaces left out, as in
//! LDK's `lightning-persister`. A key and a namespace with the same name in one place cannot both
//! exist (LDK's `KVStore` documentation requires callers to avoid that). Files whose names fall outside LDK's alphabet are never
//! keys: `.lock` holds the directory lock and `.<key>.<pid>.<n>.tmp` files are writes in progress.
//!
//! # Durability
//!
//! The store relies on three properties of POSIX filesystems such as ext4, XFS and APFS. A
//! `rename` within one directory replaces the target atomically. An `fsync` of a file makes its
//! data durable, and an `fsync` of a directory makes the entries changed in it durable. A write
//! then runs:
//!
//! 1. Write the value to a new temporary file in the target's directory, so that the rename
//!    below stays within one filesystem.
//! 2. `fsync` the temporary file. A crash before this point leaves the old value in place and a
//!    temporary file that the next open removes.
//! 3. `rename` it over the target. A crash from here on shows either the old or the new value,
//!    each complete, because the data was durable before the name changed.
//! 4. `fsync` the directory, so that the new name survives a power loss. Only now does the write
//!    return `Ok`.
//!
//! A non-lazy remove unlinks the file and `fsync`s the directory. A lazy remove skips that
//! `fsync`, so a crash may bring the value back. LDK allows that for lazy removes.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lightning::util::async_poll::AsyncResult;
use lightning::util::logger::Logger;
use lightning::util::persist::{KVStore, KVStoreSync};
use lightning::{log_trace, log_warn};

use crate::blocking::{ready, run_blocking};
use crate::error::{Operation, StoreError};
use crate::names::{check_key, check_namespace, is_valid_key, KeyLocation};
use crate::ordering::{Applied, Ticket, WriteOrder};

/// The name of the lock file in the store's directory. The leading `.` keeps it out of listings.
const LOCK_FILE: &str = ".lock";
/// The suffix of temporary files; `.` is outside LDK's alphabet, so no key ends with it.
const TEMP_SUFFIX: &str = ".tmp";

/// A [`KVStoreSync`] and [`KVStore`] that keeps each value in its own file.
///
/// - Writes atomically: temporary file, `fsync`, `rename`, directory `fsync` (see the module
///   documentation for what a crash at each step leaves).
/// - Creates files with mode 0600 and directories with mode 0700.
/// - Holds an exclusive advisory lock on the directory while open, so that a second store on the
///   same directory, in this process or another, fails to open with [`StoreError::Locked`].
/// - Writes different keys in parallel and applies writes to one key in the order they were
///   issued, also through the async trait, where the work runs on a separate thread.
/// - Removes temporary files left by a crash when it opens, logging a warning with each path.
///
/// # Note
///
/// The lock is advisory (`flock`): it stops other Vigil or LDK processes that take it, not a
/// process that writes the files directly.
///
/// # Examples
///
/// ```
/// use lightning::util::persist::KVStoreSync;
/// use vigil_persistence::FilesystemStore;
///
/// let dir = tempfile::tempdir()?;
/// let store = FilesystemStore::open(dir.path())?;
/// store.write("", "", "manager", vec![1, 2, 3])?;
/// assert_eq!(store.read("", "", "manager")?, vec![1, 2, 3]);
///
/// // The directory stays locked while `store` is open.
/// assert!(FilesystemStore::open(dir.path()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct FilesystemStore {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    order: WriteOrder,
    temp_counter: AtomicU64,
    removed_temp_files: Vec<PathBuf>,
    logger: Option<Arc<dyn Logger + Send + Sync>>,
    // Kept open for the lifetime of the store: closing it releases the lock.
    _lock: File,
}

impl FilesystemStore {
    /// Opens the store in `dir`, creating the directory (mode 0700) if needed, locking it and
    /// removing temporary files left by a crash. The removed paths are in
    /// [`FilesystemStore::removed_temp_files`]; [`FilesystemStore::open_with_logger`] also logs
    /// a warning for each.
    ///
    /// # Errors
    ///
    /// Returns [`StoreError::Locked`] if another open store has the directory locked, and
    /// [`StoreError::Open`] with the path if the directory cannot be created, locked or cleaned.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::open_inner(dir.into(), None)
    }

    /// Opens the store like [`FilesystemStore::open`] and logs through `logger`: a warning for
    /// each leftover temporary file removed, and a trace line for each write.
    ///
    /// # Errors
    ///
    /// Returns the errors of [`FilesystemStore::open`].
    pub fn open_with_logger(
        dir: impl Into<PathBuf>,
        logger: Arc<dyn Logger + Send + Sync>,
    ) -> Result<Self, StoreError> {
        Self::open_inner(dir.into(), Some(logger))
    }

    fn open_inner(
        root: PathBuf,
        logger: Option<Arc<dyn Logger + Send + Sync>>,
    ) -> Result<Self, StoreError> {
        let open_error = |source| StoreError::Open {
            path: root.clone(),
            source,
        };
        create_private_dirs(&root).map_err(open_error)?;
        let lock = lock_dir(&root)?;

        let removed_temp_files = remove_temp_files(&root).map_err(open_error)?;
        if let Some(logger) = &logger {
            for path in &removed_temp_files {
                log_warn!(
                    logger,
                    "removed temporary file {} left by an interrupted write",
                    path.display()
                );
            }
        }

        Ok(FilesystemStore {
            inner: Arc::new(Inner {
                root,
                order: WriteOrder::default(),
                temp_counter: AtomicU64::new(0),
                removed_temp_files,
                logger,
                _lock: lock,
            }),
        })
    }

    /// Returns the store's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.root
    }

    /// Returns the temporary files left by interrupted writes that opening the store removed.
    pub fn removed_temp_files(&self) -> &[PathBuf] {
        &self.inner.removed_temp_files
    }

    fn issue(&self, location: &KeyLocation) -> Ticket {
        self.inner.order.issue(location)
    }
}

/// Creates `dir` and its missing parents with mode 0700.
fn create_private_dirs(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn lock_dir(root: &Path) -> Result<File, StoreError> {
    let lock_path = root.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|source| StoreError::Open {
            path: lock_path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: root.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(source)) => Err(StoreError::Open {
            path: lock_path,
            source,
        }),
    }
}

/// Removes temporary files in the root and in namespace directories (two levels down), and
/// returns their paths. Only called while holding the lock, so no write is in progress.
fn remove_temp_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if file_type.is_dir() && depth < 2 && is_valid_key(&name) {
                dirs.push((entry.path(), depth + 1));
            } else if file_type.is_file() && is_temp_file(&name) {
                fs::remove_file(entry.path())?;
                removed.push(entry.path());
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Returns whether `name` is a temporary file: ours (`.<key>.<pid>.<n>.tmp`) or one left by
/// LDK's `lightning-persister` (`<key>.<n>.tmp`) in a directory it used before. No key ends with
/// `.tmp`, because `.` is outside LDK's alphabet.
fn is_temp_file(name: &str) -> bool {
    name.ends_with(TEMP_SUFFIX)
}

impl Inner {
    fn namespace_dir(&self, primary_namespace: &str, secondary_namespace: &str) -> PathBuf {
        let mut dir = self.root.clone();
        if !primary_namespace.is_empty() {
            dir.push(primary_namespace);
        }
        if !secondary_namespace.is_empty() {
            dir.push(secondary_namespace);
        }
        dir
    }

    fn key_path(&self, location: &KeyLocation) -> PathBuf {
        let mut path =
            self.namespace_dir(&location.primary_namespace, &location.secondary_namespace);
        path.push(location.key.as_deref().unwrap_or_default());
        path
    }

    fn read(&self, location: &KeyLocation) -> Result<Vec<u8>, StoreError> {
        let path = self.key_path(location);
        let io_error = |source: io::Error| {
            if source.kind() == io::ErrorKind::NotFound {
                return StoreError::NotFound {
                    location: location.clone(),
                };
            }
            StoreError::Io {
                operation: Operation::Read,
                location: location.clone(),
                path: path.clone(),
                source,
            }
        };

        let mut file = File::open(&path).map_err(io_error)?;
        let mut value = Vec::new();
        file.read_to_end(&mut value).map_err(io_error)?;
        Ok(value)
    }

    /// Writes `value` as `ticket`'s version of the key, unless a newer version is already in
    /// place. The temporary file is removed on every path that does not rename it.
    fn write(
        &self,
        location: &KeyLocation,
        value: &[u8],
        ticket: Ticket,
    ) -> Result<(), StoreError> {
        if ticket.is_superseded() {
            return Ok(());
        }
        let path = self.key_path(location);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let io_error = |path: &Path, source| StoreError::Io {
            operation: Operation::Write,
            location: location.clone(),
            path: path.to_path_buf(),
            source,
        };

        self.create_namespace_dirs(&dir)
            .map_err(|e| io_error(&dir, e))?;
        let temp_path = self.temp_path(&dir, location);
        if let Err(source) = write_synced(&temp_path, value) {
            let _ = fs::remove_file(&temp_path);
            return Err(io_error(&temp_path, source));
        }

        let renamed = ticket.apply(|| {
            fs::rename(&temp_path, &path).map_err(|e| io_error(&path, e))?;
            sync_dir(&dir).map_err(|e| io_error(&dir, e))
        });
        match renamed {
            Ok(Applied::Done(())) => {
                if let Some(logger) = &self.logger {
                    log_trace!(logger, "wrote {} ({} bytes)", location, value.len());
                }
                Ok(())
            }
            Ok(Applied::Superseded) => {
                let _ = fs::remove_file(&temp_path);
                Ok(())
            }
            Err(error) => {
                // After a failed rename the temporary file still exists; after a failed
                // directory sync it is gone and this does nothing.
                let _ = fs::remove_file(&temp_path);
                Err(error)
            }
        }
    }

    fn temp_path(&self, dir: &Path, location: &KeyLocation) -> PathBuf {
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let key = location.key.as_deref().unwrap_or_default();
        dir.join(format!(".{key}.{}.{n}{TEMP_SUFFIX}", std::process::id()))
    }

    /// Creates the namespace directories below the root that do not exist yet, syncing each
    /// parent so that a new directory survives a crash together with the file written into it.
    fn create_namespace_dirs(&self, dir: &Path) -> io::Result<()> {
        if dir.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut current = dir;
        while current != self.root && !current.is_dir() {
            missing.push(current);
            match current.parent() {
                Some(parent) => current = parent,
                None => break,
            }
        }
        for new_dir in missing.iter().rev() {
            match fs::DirBuilder::new().mode(0o700).create(new_dir) {
                Ok(()) => {}
                // Another thread writing a key in the same namespace created it first.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(error),
            }
            sync_dir(new_dir.parent().unwrap_or(&self.root))?;
        }
        Ok(())
    }

    fn remove(&self, location: &KeyLocation, lazy: bool, ticket: Ticket) -> Result<(), StoreError> {
        let path = self.key_path(location);
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        let io_error = |path: &Path, source| StoreError::Io {
            operation: Operation::Remove,
            location: location.clone(),
            path: path.to_path_buf(),
            source,
        };

        ticket
            .apply(|| {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
                    Err(error) => return Err(io_error(&path, error)),
                }
                if lazy {
                    return Ok(());
                }
                sync_dir(&dir).map_err(|e| io_error(&dir, e))
            })
            .map(|_| ())
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, StoreError> {
        let dir = self.namespace_dir(primary_namespace, secondary_namespace);
        let io_error = |source| StoreError::Io {
            operation: Operation::List,
            location: KeyLocation::namespace(primary_namespace, secondary_namespace),
            path: dir.clone(),
            source,
        };

        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error(error)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error)?;
            // Directories are nested namespaces, and names outside the alphabet are the lock
            // file and temporary files; neither is a key.
            if !entry.file_type().map_err(io_error)?.is_file() {
                continue;
            }
            if let Some(name) = entry.file_name().to_str().filter(|name| is_valid_key(name)) {
                keys.push(name.to_owned());
            }
        }
        Ok(keys)
    }
}

fn write_synced(path: &Path, value: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(value)?;
    file.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl KVStoreSync for FilesystemStore {
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
        lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        check_key(primary_namespace, secondary_namespace, key).map_err(StoreError::from)?;
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        let ticket = self.issue(&location);
        Ok(self.inner.remove(&location, lazy, ticket)?)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, lightning::io::Error> {
        check_namespace(primary_namespace, secondary_namespace).map_err(StoreError::from)?;
        Ok(self.inner.list(primary_namespace, secondary_namespace)?)
    }
}

impl KVStore for FilesystemStore {
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
        lazy: bool,
    ) -> AsyncResult<'static, (), lightning::io::Error> {
        if let Err(error) = check_key(primary_namespace, secondary_namespace, key) {
            return ready(Err(StoreError::from(error).into()));
        }
        let location = KeyLocation::key(primary_namespace, secondary_namespace, key);
        let ticket = self.issue(&location);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || {
            Ok(inner.remove(&location, lazy, ticket)?)
        }))
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, lightning::io::Error> {
        if let Err(error) = check_namespace(primary_namespace, secondary_namespace) {
            return ready(Err(StoreError::from(error).into()));
        }
        let (primary, secondary) = (primary_namespace.to_owned(), secondary_namespace.to_owned());
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || Ok(inner.list(&primary, &secondary)?)))
    }
}
