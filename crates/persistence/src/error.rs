//! Errors of the stores, and their conversion to and from LDK's `io::Error`.
//!
//! LDK's store traits return `lightning::io::Error` (from `bitcoin-io`), whose kinds are a subset
//! of `std::io::ErrorKind`: `StorageFull`, for one, becomes `Other`. To keep the real kind, a store
//! wraps the `std::io::Error` it produced inside the LDK error, and [`from_ldk`] unwraps it again.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::names::{KeyLocation, NameError};

/// The operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// Reading a value.
    Read,
    /// Writing a value.
    Write,
    /// Removing a value.
    Remove,
    /// Listing the keys of a namespace.
    List,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Remove => "remove",
            Operation::List => "list",
        })
    }
}

/// An error of a store in this crate.
///
/// At LDK's trait boundary it becomes a `lightning::io::Error` with the kind of
/// [`StoreError::kind`] (or `Other` where `bitcoin-io` lacks that kind) and this error inside.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A namespace or key breaks LDK's naming rules; the store touched nothing.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// Another open store, in this process or another, holds the lock on the same directory or
    /// database.
    #[error(
        "store {path} is already open in this or another process; stop the other user before opening it, because two writers of one state lose funds"
    )]
    Locked {
        /// The directory or database file.
        path: PathBuf,
    },
    /// Opening or preparing the store failed.
    #[error("failed to open store {path}: {source}")]
    Open {
        /// The directory or database file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A filesystem operation on one key or namespace failed.
    #[error("failed to {operation} {location} at {path}: {source}")]
    Io {
        /// The operation that failed.
        operation: Operation,
        /// The key or namespace concerned.
        location: KeyLocation,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A read of a key that the store does not hold.
    #[error("{location} not found")]
    NotFound {
        /// The missing key.
        location: KeyLocation,
    },
    /// Opening or preparing a SQLite database failed.
    #[error("failed to open database {path}: {source}")]
    OpenDatabase {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: Box<rusqlite::Error>,
    },
    /// A SQLite statement on one key or namespace failed.
    #[error("failed to {operation} {location} in database {path}: {source}")]
    Database {
        /// The operation that failed.
        operation: Operation,
        /// The key or namespace concerned.
        location: KeyLocation,
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: Box<rusqlite::Error>,
    },
    /// The database has a newer schema than this build supports; opening it could lose data.
    #[error(
        "database {path} has schema version {found}, but this build supports at most {supported}; run a newer build of the node"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version found in the file.
        found: i64,
        /// The newest version this build can use.
        supported: i64,
    },
    /// A backup of a [`MirrorStore`](crate::MirrorStore) that requires its backups failed.
    #[error("failed to {operation} {location} on backup {backup:?}: {source}")]
    Backup {
        /// The name the backup was added under.
        backup: String,
        /// The operation that failed.
        operation: Operation,
        /// The key concerned.
        location: KeyLocation,
        /// The backup's error.
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// Returns the `std::io::ErrorKind` that best describes the failure.
    ///
    /// Invalid names give `InvalidInput`, a missing key `NotFound`, a held lock `ResourceBusy`,
    /// a full SQLite disk `StorageFull`, and I/O failures the kind of their source.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            StoreError::InvalidName(_) => io::ErrorKind::InvalidInput,
            StoreError::Locked { .. } => io::ErrorKind::ResourceBusy,
            StoreError::NotFound { .. } => io::ErrorKind::NotFound,
            StoreError::Open { source, .. }
            | StoreError::Io { source, .. }
            | StoreError::Backup { source, .. } => source.kind(),
            StoreError::OpenDatabase { source, .. } | StoreError::Database { source, .. } => {
                sqlite_kind(source)
            }
            StoreError::SchemaTooNew { .. } => io::ErrorKind::InvalidData,
        }
    }
}

fn sqlite_kind(error: &rusqlite::Error) -> io::ErrorKind {
    use rusqlite::ErrorCode;

    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => io::ErrorKind::StorageFull,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => io::ErrorKind::ResourceBusy,
        Some(ErrorCode::PermissionDenied | ErrorCode::ReadOnly) => io::ErrorKind::PermissionDenied,
        Some(ErrorCode::CannotOpen) => io::ErrorKind::NotFound,
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::Other,
    }
}

impl From<StoreError> for io::Error {
    fn from(error: StoreError) -> io::Error {
        io::Error::new(error.kind(), error)
    }
}

impl From<StoreError> for lightning::io::Error {
    fn from(error: StoreError) -> lightning::io::Error {
        to_ldk(error.into())
    }
}

/// Converts a `std::io::Error` to LDK's error type, keeping the original inside so that
/// [`from_ldk`] recovers its exact kind.
pub fn to_ldk(error: io::Error) -> lightning::io::Error {
    let ldk_kind = lightning::io::Error::from(io::Error::from(error.kind())).kind();
    lightning::io::Error::new(ldk_kind, error)
}

/// Converts LDK's error type to a `std::io::Error`, recovering the original error and kind when
/// the error came from [`to_ldk`] or from a store of this crate.
pub fn from_ldk(error: lightning::io::Error) -> io::Error {
    let error = io::Error::from(error);
    let wraps_std = error.get_ref().is_some_and(|inner| inner.is::<io::Error>());
    let wraps_store = error
        .get_ref()
        .is_some_and(|inner| inner.is::<StoreError>());
    if !wraps_std && !wraps_store {
        return error;
    }

    let kind = error.kind();
    let Some(inner) = error.into_inner() else {
        return io::Error::from(kind);
    };
    match inner.downcast::<io::Error>() {
        Ok(original) => *original,
        Err(inner) => match inner.downcast::<StoreError>() {
            Ok(store_error) => (*store_error).into(),
            Err(inner) => io::Error::new(kind, inner),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_full_survives_ldk_boundary() {
        let original = io::Error::new(io::ErrorKind::StorageFull, "disk is full");
        let ldk = to_ldk(original);
        assert_eq!(ldk.kind(), lightning::io::ErrorKind::Other);

        let back = from_ldk(ldk);
        assert_eq!(back.kind(), io::ErrorKind::StorageFull);
        assert_eq!(back.to_string(), "disk is full");
    }

    #[test]
    fn store_error_keeps_kind_across_boundary() {
        let error = StoreError::NotFound {
            location: KeyLocation::key("", "", "manager"),
        };
        let ldk = lightning::io::Error::from(error);
        assert_eq!(ldk.kind(), lightning::io::ErrorKind::NotFound);

        let back = from_ldk(ldk);
        assert_eq!(back.kind(), io::ErrorKind::NotFound);
        assert!(back.to_string().contains("manager"), "{back}");
    }

    #[test]
    fn foreign_ldk_error_keeps_kind() {
        let ldk = lightning::io::Error::from(lightning::io::ErrorKind::PermissionDenied);
        assert_eq!(from_ldk(ldk).kind(), io::ErrorKind::PermissionDenied);
    }
}
