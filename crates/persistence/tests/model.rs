//! Property tests: random sequences of operations on each store agree with a map in memory.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{recording_logger, sorted};
use lightning::io::ErrorKind;
use lightning::util::persist::{KVStore, KVStoreSync};
use proptest::prelude::*;
use vigil_persistence::{FilesystemStore, MemoryStore, MirrorStore, SqliteStore};

/// Namespaces and keys come from disjoint sets, because LDK forbids a key and a namespace of the
/// same name in one place and the filesystem store cannot hold both.
const NAMESPACES: &[(&str, &str)] = &[
    ("", ""),
    ("alpha", ""),
    ("alpha", "beta"),
    ("gamma", "beta"),
];
const KEYS: &[&str] = &["k0", "k1", "k2", "k_long_name_3"];

type Model = BTreeMap<(usize, String), Vec<u8>>;

#[derive(Clone, Debug)]
enum Op {
    Write {
        namespace: usize,
        key: usize,
        value: Vec<u8>,
    },
    Remove {
        namespace: usize,
        key: usize,
        lazy: bool,
    },
    Read {
        namespace: usize,
        key: usize,
    },
    List {
        namespace: usize,
    },
}

mod proptests {
    use super::*;

    pub fn value() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 1..64),
            (any::<u8>(), 1usize..20_000).prop_map(|(byte, len)| vec![byte; len]),
        ]
    }

    pub fn op() -> impl Strategy<Value = Op> {
        let namespace = 0..NAMESPACES.len();
        let key = 0..KEYS.len();
        prop_oneof![
            3 => (namespace.clone(), key.clone(), value())
                .prop_map(|(namespace, key, value)| Op::Write { namespace, key, value }),
            1 => (namespace.clone(), key.clone(), any::<bool>())
                .prop_map(|(namespace, key, lazy)| Op::Remove { namespace, key, lazy }),
            2 => (namespace.clone(), key).prop_map(|(namespace, key)| Op::Read { namespace, key }),
            1 => namespace.prop_map(|namespace| Op::List { namespace }),
        ]
    }

    pub fn ops() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec(op(), 1..40)
    }

    /// Writes and removes issued through the async trait, with the order their futures run in.
    pub fn async_batch() -> impl Strategy<Value = (Vec<Op>, Vec<usize>)> {
        let write_or_remove = prop_oneof![
            3 => (0..2usize, value()).prop_map(|(key, value)| Op::Write { namespace: 1, key, value }),
            1 => (0..2usize, any::<bool>()).prop_map(|(key, lazy)| Op::Remove { namespace: 1, key, lazy }),
        ];
        proptest::collection::vec(write_or_remove, 1..12).prop_flat_map(|ops| {
            let order: Vec<usize> = (0..ops.len()).collect();
            (Just(ops), Just(order).prop_shuffle())
        })
    }
}

/// Applies `ops` to `store` and to the model, comparing every result.
fn check_against_model<S: KVStoreSync + ?Sized>(
    store: &S,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = Model::new();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Write {
                namespace,
                key,
                value,
            } => {
                let (primary, secondary) = NAMESPACES[*namespace];
                store
                    .write(primary, secondary, KEYS[*key], value.clone())
                    .map_err(fail(step, op))?;
                model.insert((*namespace, KEYS[*key].to_string()), value.clone());
            }
            Op::Remove {
                namespace,
                key,
                lazy,
            } => {
                let (primary, secondary) = NAMESPACES[*namespace];
                store
                    .remove(primary, secondary, KEYS[*key], *lazy)
                    .map_err(fail(step, op))?;
                model.remove(&(*namespace, KEYS[*key].to_string()));
            }
            Op::Read { namespace, key } => {
                let (primary, secondary) = NAMESPACES[*namespace];
                let expected = model.get(&(*namespace, KEYS[*key].to_string()));
                match (store.read(primary, secondary, KEYS[*key]), expected) {
                    (Ok(value), Some(expected)) => {
                        prop_assert!(
                            &value == expected,
                            "step {step} {op:?}: read {} bytes, model has {}",
                            value.len(),
                            expected.len()
                        );
                    }
                    (Err(error), None) => {
                        prop_assert_eq!(
                            error.kind(),
                            ErrorKind::NotFound,
                            "step {} {:?}",
                            step,
                            op
                        );
                    }
                    (result, expected) => {
                        prop_assert!(
                            false,
                            "step {step} {op:?}: store {:?}, model {:?}",
                            result.map(|v| v.len()),
                            expected.map(Vec::len)
                        );
                    }
                }
            }
            Op::List { namespace } => {
                let (primary, secondary) = NAMESPACES[*namespace];
                let listed = sorted(store.list(primary, secondary).map_err(fail(step, op))?);
                let expected: Vec<String> = model
                    .keys()
                    .filter(|(n, _)| n == namespace)
                    .map(|(_, key)| key.clone())
                    .collect();
                prop_assert_eq!(listed, expected, "step {} {:?}", step, op);
            }
        }
    }
    Ok(())
}

fn fail(step: usize, op: &Op) -> impl FnOnce(lightning::io::Error) -> TestCaseError + '_ {
    move |error| TestCaseError::fail(format!("step {step} {op:?}: {error}"))
}

/// Issues every operation through the async trait, runs the futures in `order`, and checks that
/// the result matches applying the operations in issue order.
fn check_async_order<S: KVStore + KVStoreSync>(
    store: &S,
    ops: &[Op],
    order: &[usize],
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut model = Model::new();
    let mut futures: Vec<_> = ops
        .iter()
        .map(|op| match op {
            Op::Write {
                namespace,
                key,
                value,
            } => {
                model.insert((*namespace, KEYS[*key].to_string()), value.clone());
                let (primary, secondary) = NAMESPACES[*namespace];
                Some(KVStore::write(
                    store,
                    primary,
                    secondary,
                    KEYS[*key],
                    value.clone(),
                ))
            }
            Op::Remove {
                namespace,
                key,
                lazy,
            } => {
                model.remove(&(*namespace, KEYS[*key].to_string()));
                let (primary, secondary) = NAMESPACES[*namespace];
                Some(KVStore::remove(
                    store, primary, secondary, KEYS[*key], *lazy,
                ))
            }
            Op::Read { .. } | Op::List { .. } => None,
        })
        .collect();
    for index in order {
        if let Some(future) = futures[*index].take() {
            runtime
                .block_on(future)
                .map_err(|e| TestCaseError::fail(format!("future {index}: {e}")))?;
        }
    }

    for key in &KEYS[..2] {
        let (primary, secondary) = NAMESPACES[1];
        let stored = KVStoreSync::read(store, primary, secondary, key).ok();
        let expected = model.get(&(1, key.to_string())).cloned();
        prop_assert_eq!(
            stored.map(|v| v.len()),
            expected.as_ref().map(Vec::len),
            "key {} order {:?}",
            key,
            order
        );
        prop_assert!(
            KVStoreSync::read(store, primary, secondary, key).ok() == expected,
            "key {key} order {order:?}: value differs"
        );
    }
    Ok(())
}

fn durable_config() -> ProptestConfig {
    // Each case opens a fresh store on disk and fsyncs every write.
    ProptestConfig {
        cases: 24,
        ..ProptestConfig::default()
    }
}

proptest! {
    #[test]
    fn memory_store_matches_model(ops in proptests::ops()) {
        check_against_model(&MemoryStore::new(), &ops)?;
    }

    #[test]
    fn memory_store_async_order((ops, order) in proptests::async_batch()) {
        check_async_order(&MemoryStore::new(), &ops, &order)?;
    }
}

proptest! {
    #![proptest_config(durable_config())]

    #[test]
    fn filesystem_store_matches_model(ops in proptests::ops()) {
        let dir = tempfile::tempdir().expect("temporary directory");
        check_against_model(&FilesystemStore::open(dir.path()).expect("open"), &ops)?;
    }

    #[test]
    fn filesystem_store_async_order((ops, order) in proptests::async_batch()) {
        let dir = tempfile::tempdir().expect("temporary directory");
        check_async_order(&FilesystemStore::open(dir.path()).expect("open"), &ops, &order)?;
    }

    #[test]
    fn sqlite_store_matches_model(ops in proptests::ops()) {
        let dir = tempfile::tempdir().expect("temporary directory");
        check_against_model(&SqliteStore::open(dir.path().join("db.sqlite")).expect("open"), &ops)?;
    }

    #[test]
    fn sqlite_store_async_order((ops, order) in proptests::async_batch()) {
        let dir = tempfile::tempdir().expect("temporary directory");
        check_async_order(&SqliteStore::open(dir.path().join("db.sqlite")).expect("open"), &ops, &order)?;
    }

    #[test]
    fn mirror_store_matches_model(ops in proptests::ops()) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let backup = Arc::new(MemoryStore::new());
        let mirror = MirrorStore::new(Arc::new(FilesystemStore::open(dir.path()).expect("open")), recording_logger())
            .with_backup("memory", backup.clone())
            .require_backups(true);
        check_against_model(&mirror, &ops)?;
        // The backup saw the same operations, so it must hold the same keys.
        for (primary, secondary) in NAMESPACES {
            let in_primary = sorted(KVStoreSync::list(&mirror, primary, secondary).expect("list"));
            let in_backup = sorted(KVStoreSync::list(backup.as_ref(), primary, secondary).expect("list"));
            prop_assert_eq!(in_primary, in_backup);
        }
    }

    #[test]
    fn mirror_store_async_order((ops, order) in proptests::async_batch()) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mirror = MirrorStore::new(Arc::new(FilesystemStore::open(dir.path()).expect("open")), recording_logger())
            .with_backup("memory", Arc::new(MemoryStore::new()));
        check_async_order(&mirror, &ops, &order)?;
    }
}
