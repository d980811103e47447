//! A store that writes a primary store and copies every change to backups.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lightning::log_error;
use lightning::util::async_poll::AsyncResult;
use lightning::util::logger::Logger;
use lightning::util::persist::{KVStore, KVStoreSync};

use crate::blocking::{ready, run_blocking};
use crate::error::{from_ldk, Operation, StoreError};
use crate::names::{check_key, check_namespace, KeyLocation};
use crate::ordering::{Ticket, WriteOrder};

/// A store usable as a primary or a backup of a [`MirrorStore`].
pub type SharedStore = Arc<dyn KVStoreSync + Send + Sync>;

/// A [`KVStoreSync`] and [`KVStore`] that writes a primary store and any number of backups.
///
/// - Writes and removes go to the primary first. If the primary fails, the operation fails and
///   no backup is touched.
/// - Then each backup gets the same operation. A backup failure is logged at error level with
///   the backup's name and the key, and counted in [`MirrorStore::backup_failures`]. It fails the
///   operation only when [`MirrorStore::require_backups`] is set, and even then the primary
///   already contains the new value.
/// - Reads and lists come from the primary only.
/// - Writes to one key are applied to every store in the order they were issued, also through
///   the async trait, where the work runs on a separate thread.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use lightning::util::logger::{Logger, Record};
/// use lightning::util::persist::KVStoreSync;
/// use vigil_persistence::{MemoryStore, MirrorStore};
///
/// struct PrintLogger;
/// impl Logger for PrintLogger {
///     fn log(&self, record: Record) {
///         eprintln!("{} {}", record.level, record.args);
///     }
/// }
///
/// let primary = Arc::new(MemoryStore::new());
/// let backup = Arc::new(MemoryStore::new());
/// let mirror = MirrorStore::new(primary.clone(), Arc::new(PrintLogger))
///     .with_backup("memory", backup.clone());
/// mirror.write("", "", "manager", vec![5])?;
/// assert_eq!(backup.read("", "", "manager")?, vec![5]);
/// assert_eq!(mirror.backup_failures(), 0);
/// # Ok::<(), lightning::io::Error>(())
/// ```
pub struct MirrorStore {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    primary: SharedStore,
    backups: Vec<Backup>,
    require_backups: bool,
    logger: Arc<dyn Logger + Send + Sync>,
    order: WriteOrder,
}

#[derive(Clone)]
struct Backup {
    name: String,
    store: SharedStore,
    failures: Arc<AtomicU64>,
}

impl MirrorStore {
    /// Returns a mirror of `primary` with no backups yet, logging backup failures to `logger`.
    pub fn new(primary: SharedStore, logger: Arc<dyn Logger + Send + Sync>) -> Self {
        MirrorStore {
            inner: Arc::new(Inner {
                primary,
                backups: Vec::new(),
                require_backups: false,
                logger,
                order: WriteOrder::default(),
            }),
        }
    }

    /// Adds a backup under `name`, which log lines and errors use to identify it.
    pub fn with_backup(mut self, name: impl Into<String>, store: SharedStore) -> Self {
        Arc::make_mut(&mut self.inner).backups.push(Backup {
            name: name.into(),
            store,
            failures: Arc::new(AtomicU64::new(0)),
        });
        self
    }

    /// Sets whether a failed backup fails the whole operation (default: it does not).
    pub fn require_backups(mut self, required: bool) -> Self {
        Arc::make_mut(&mut self.inner).require_backups = required;
        self
    }

    /// Returns the number of failed backup operations since the mirror was built, over all
    /// backups.
    pub fn backup_failures(&self) -> u64 {
        self.inner
            .backups
            .iter()
            .map(|backup| backup.failures.load(Ordering::Relaxed))
            .sum()
    }

    /// Returns the number of failed operations of the backup added under `name`, or `None` if
    /// there is no such backup.
    pub fn backup_failures_of(&self, name: &str) -> Option<u64> {
        self.inner
            .backups
            .iter()
            .find(|backup| backup.name == name)
            .map(|backup| backup.failures.load(Ordering::Relaxed))
    }
}

impl Inner {
    /// Runs `operation` on the primary and then on each backup, under `ticket`'s place in the
    /// key's order.
    fn mirror(
        &self,
        operation: Operation,
        location: &KeyLocation,
        ticket: Ticket,
        apply: impl Fn(&dyn KVStoreSync) -> Result<(), lightning::io::Error>,
    ) -> Result<(), lightning::io::Error> {
        let applied = ticket.apply(|| {
            apply(self.primary.as_ref())?;
            let mut first_required_failure = None;
            for backup in &self.backups {
                let Err(error) = apply(backup.store.as_ref()) else {
                    continue;
                };
                let error = from_ldk(error);
                backup.failures.fetch_add(1, Ordering::Relaxed);
                log_error!(
                    self.logger,
                    "failed to {} {} on backup {:?}: {}",
                    operation,
                    location,
                    backup.name,
                    error
                );
                if self.require_backups && first_required_failure.is_none() {
                    first_required_failure = Some(StoreError::Backup {
                        backup: backup.name.clone(),
                        operation,
                        location: location.clone(),
                        source: error,
                    });
                }
            }
            match first_required_failure {
                Some(error) => Err(lightning::io::Error::from(error)),
                None => Ok(()),
            }
        });
        applied.map(|_| ())
    }
}

impl KVStoreSync for MirrorStore {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        check_key(primary_namespace, secondary_namespace, key).map_err(StoreError::from)?;
        self.inner
            .primary
            .read(primary_namespace, secondary_namespace, key)
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
        let ticket = self.inner.order.issue(&location);
        self.inner
            .mirror(Operation::Write, &location, ticket, |store| {
                store.write(primary_namespace, secondary_namespace, key, buf.clone())
            })
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
        let ticket = self.inner.order.issue(&location);
        self.inner
            .mirror(Operation::Remove, &location, ticket, |store| {
                store.remove(primary_namespace, secondary_namespace, key, lazy)
            })
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, lightning::io::Error> {
        check_namespace(primary_namespace, secondary_namespace).map_err(StoreError::from)?;
        self.inner
            .primary
            .list(primary_namespace, secondary_namespace)
    }
}

impl KVStore for MirrorStore {
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
        Box::pin(run_blocking(move || {
            let key = location.key.as_deref().unwrap_or_default();
            inner.primary.read(
                &location.primary_namespace,
                &location.secondary_namespace,
                key,
            )
        }))
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
        let ticket = self.inner.order.issue(&location);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || {
            let (primary, secondary) = (&location.primary_namespace, &location.secondary_namespace);
            let key = location.key.as_deref().unwrap_or_default();
            inner.mirror(Operation::Write, &location, ticket, |store| {
                store.write(primary, secondary, key, buf.clone())
            })
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
        let ticket = self.inner.order.issue(&location);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || {
            let (primary, secondary) = (&location.primary_namespace, &location.secondary_namespace);
            let key = location.key.as_deref().unwrap_or_default();
            inner.mirror(Operation::Remove, &location, ticket, |store| {
                store.remove(primary, secondary, key, lazy)
            })
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
        let location = KeyLocation::namespace(primary_namespace, secondary_namespace);
        let inner = Arc::clone(&self.inner);
        Box::pin(run_blocking(move || {
            inner
                .primary
                .list(&location.primary_namespace, &location.secondary_namespace)
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;
    use crate::test_util::{block_on, RecordingLogger};
    use crate::{FaultyStore, MemoryStore};

    struct Setup {
        primary: Arc<FaultyStore<MemoryStore>>,
        backup: Arc<FaultyStore<MemoryStore>>,
        logger: Arc<RecordingLogger>,
    }

    fn setup() -> Setup {
        Setup {
            primary: Arc::new(FaultyStore::new(MemoryStore::new())),
            backup: Arc::new(FaultyStore::new(MemoryStore::new())),
            logger: Arc::new(RecordingLogger::default()),
        }
    }

    fn mirror(setup: &Setup) -> MirrorStore {
        MirrorStore::new(setup.primary.clone(), setup.logger.clone())
            .with_backup("offsite", setup.backup.clone())
    }

    #[test]
    fn backup_failure_is_logged_and_counted() {
        let setup = setup();
        let mirror = mirror(&setup);
        setup.backup.fail_key("manager", io::ErrorKind::StorageFull);

        KVStoreSync::write(&mirror, "", "", "manager", vec![1]).expect("primary suffices");
        assert_eq!(mirror.backup_failures(), 1);
        assert_eq!(mirror.backup_failures_of("offsite"), Some(1));
        assert_eq!(mirror.backup_failures_of("absent"), None);
        assert_eq!(
            KVStoreSync::read(setup.primary.inner(), "", "", "manager").expect("primary"),
            vec![1]
        );

        let lines = setup.logger.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].starts_with("ERROR"), "{lines:?}");
        assert!(
            lines[0].contains("\"offsite\"") && lines[0].contains("\"manager\""),
            "{lines:?}"
        );
    }

    #[test]
    fn required_backup_failure_fails_write() {
        let setup = setup();
        let mirror = mirror(&setup).require_backups(true);
        setup.backup.fail_key("manager", io::ErrorKind::StorageFull);

        let error =
            KVStoreSync::write(&mirror, "", "", "manager", vec![1]).expect_err("backup required");
        let error = crate::from_ldk(error);
        assert_eq!(error.kind(), io::ErrorKind::StorageFull);
        assert!(error.to_string().contains("offsite"), "{error}");
        assert_eq!(mirror.backup_failures(), 1);
        // The primary was written before the backup failed.
        assert_eq!(
            KVStoreSync::read(&mirror, "", "", "manager").expect("primary"),
            vec![1]
        );
    }

    #[test]
    fn primary_failure_skips_backups() {
        let setup = setup();
        let mirror = mirror(&setup);
        setup
            .primary
            .fail_key("manager", io::ErrorKind::PermissionDenied);

        let error =
            KVStoreSync::write(&mirror, "", "", "manager", vec![1]).expect_err("primary failed");
        assert_eq!(
            crate::from_ldk(error).kind(),
            io::ErrorKind::PermissionDenied
        );
        assert_eq!(setup.backup.writes("manager"), 0);
        assert_eq!(mirror.backup_failures(), 0);
    }

    #[test]
    fn reads_come_from_primary() {
        let setup = setup();
        let mirror = mirror(&setup);
        KVStoreSync::write(setup.backup.inner(), "", "", "only_backup", vec![1]).expect("write");
        let error = KVStoreSync::read(&mirror, "", "", "only_backup").expect_err("not in primary");
        assert_eq!(error.kind(), lightning::io::ErrorKind::NotFound);
        assert!(KVStoreSync::list(&mirror, "", "").expect("list").is_empty());
    }

    #[test]
    fn remove_reaches_backups() {
        let setup = setup();
        let mirror = mirror(&setup);
        KVStoreSync::write(&mirror, "ns", "", "k", vec![1]).expect("write");
        KVStoreSync::remove(&mirror, "ns", "", "k", false).expect("remove");
        assert!(KVStoreSync::read(setup.backup.inner(), "ns", "", "k").is_err());
    }

    #[test]
    fn async_writes_land_in_issue_order_everywhere() {
        let setup = setup();
        let mirror = mirror(&setup);
        let older = KVStore::write(&mirror, "", "", "k", vec![1]);
        let newer = KVStore::write(&mirror, "", "", "k", vec![2]);
        block_on(newer).expect("newer");
        block_on(older).expect("older is skipped");

        for store in [setup.primary.inner(), setup.backup.inner()] {
            assert_eq!(
                KVStoreSync::read(store, "", "", "k").expect("read"),
                vec![2]
            );
        }
    }
}
