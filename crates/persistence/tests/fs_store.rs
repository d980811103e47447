//! Filesystem store: permissions, paths, the directory lock and temporary files.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;

use common::{invalid_locations, recording_logger};
use lightning::util::persist::KVStoreSync;
use vigil_persistence::{FilesystemStore, StoreError};

const LOCK_HOLDER_ENV: &str = "VIGIL_LOCK_HOLDER_DIR";

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Returns every path below `dir`, relative to it.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    let mut paths = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path.clone());
            }
            paths.insert(path.strip_prefix(dir).expect("below dir").to_path_buf());
        }
    }
    paths
}

fn temp_files(dir: &Path) -> Vec<PathBuf> {
    tree(dir)
        .into_iter()
        .filter(|path| path.to_string_lossy().ends_with(".tmp"))
        .collect()
}

#[test]
fn files_and_dirs_are_private() {
    let base = tempfile::tempdir().expect("temporary directory");
    let root = base.path().join("a").join("store");
    let store = FilesystemStore::open(&root).expect("open");
    store.write("", "", "manager", vec![1]).expect("write");
    store.write("monitors", "", "m1", vec![2]).expect("write");
    store
        .write("monitors", "updates", "u1", vec![3])
        .expect("write");

    assert_eq!(mode(&base.path().join("a")), 0o700, "created parent");
    assert_eq!(mode(&root), 0o700, "store directory");
    assert_eq!(mode(&root.join("monitors")), 0o700, "primary namespace");
    assert_eq!(
        mode(&root.join("monitors/updates")),
        0o700,
        "secondary namespace"
    );
    assert_eq!(mode(&root.join("manager")), 0o600);
    assert_eq!(mode(&root.join("monitors/m1")), 0o600);
    assert_eq!(mode(&root.join("monitors/updates/u1")), 0o600);
    assert_eq!(mode(&root.join(".lock")), 0o600);
}

#[test]
fn layout_matches_ldk_persister() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let ours = FilesystemStore::open(dir.path()).expect("open");
    ours.write("", "", "manager", vec![1]).expect("write");
    ours.write("monitors", "", "m1", vec![2]).expect("write");
    ours.write("pn", "sn", "k", vec![3]).expect("write");
    drop(ours);

    let ldk = lightning_persister::fs_store::FilesystemStore::new(dir.path().to_path_buf());
    assert_eq!(
        KVStoreSync::read(&ldk, "", "", "manager").expect("LDK reads ours"),
        vec![1]
    );
    assert_eq!(
        KVStoreSync::read(&ldk, "monitors", "", "m1").expect("LDK reads ours"),
        vec![2]
    );
    assert_eq!(
        KVStoreSync::read(&ldk, "pn", "sn", "k").expect("LDK reads ours"),
        vec![3]
    );
}

#[test]
fn rejected_names_touch_nothing() {
    let base = tempfile::tempdir().expect("temporary directory");
    let root = base.path().join("store");
    let store = FilesystemStore::open(&root).expect("open");
    store.write("kept", "", "k", vec![1]).expect("write");
    let before = tree(base.path());

    for (primary, secondary, key) in invalid_locations() {
        let case = format!("{primary:?}/{secondary:?}/{key:?}");
        assert!(
            KVStoreSync::write(&store, &primary, &secondary, &key, vec![9]).is_err(),
            "{case}"
        );
        assert!(
            KVStoreSync::remove(&store, &primary, &secondary, &key, false).is_err(),
            "{case}"
        );
        assert!(
            KVStoreSync::read(&store, &primary, &secondary, &key).is_err(),
            "{case}"
        );
    }

    assert_eq!(
        tree(base.path()),
        before,
        "a rejected name changed the directory tree"
    );
}

#[test]
fn rejection_names_namespace_key_and_rule() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = FilesystemStore::open(dir.path()).expect("open");
    let long = "k".repeat(121);
    let cases = [
        (("", "", ".."), "contains '.'"),
        (("", "", "a/b"), "contains '/'"),
        (("", "sub", "k"), "primary namespace is empty"),
        (("p", "", long.as_str()), "121 characters long"),
    ];
    for ((primary, secondary, key), rule) in cases {
        let error =
            KVStoreSync::write(&store, primary, secondary, key, vec![1]).expect_err("invalid name");
        let message = vigil_persistence::from_ldk(error).to_string();
        assert!(
            message.contains(&format!("{key:?}")),
            "key missing: {message}"
        );
        assert!(
            message.contains(&format!("{primary:?}/{secondary:?}")),
            "namespace missing: {message}"
        );
        assert!(message.contains(rule), "rule missing: {message}");
    }
}

#[test]
fn second_open_in_process_fails() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = FilesystemStore::open(dir.path()).expect("first open");

    let error = FilesystemStore::open(dir.path())
        .err()
        .expect("second open must fail");
    assert!(
        matches!(&error, StoreError::Locked { path } if path == dir.path()),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("already open"), "{message}");

    drop(store);
    FilesystemStore::open(dir.path()).expect("open after the first store closed");
}

/// Holds the lock for the parent test when this binary runs as its child.
#[test]
fn second_open_in_other_process_fails() {
    if let Some(dir) = std::env::var_os(LOCK_HOLDER_ENV) {
        let _store = FilesystemStore::open(PathBuf::from(dir)).expect("child opens the store");
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "\nlock-holder ready").expect("write to parent");
        stdout.flush().expect("flush");
        // Hold the lock until the parent closes stdin.
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        std::process::exit(0);
    }

    let dir = tempfile::tempdir().expect("temporary directory");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "second_open_in_other_process_fails",
            "--nocapture",
        ])
        .env(LOCK_HOLDER_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn lock holder");
    let stdout = child.stdout.take().expect("piped stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("lock-holder ready"));
    assert!(ready, "lock holder exited before opening the store");

    let error = FilesystemStore::open(dir.path())
        .err()
        .expect("open while another process holds it");
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");

    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
    FilesystemStore::open(dir.path()).expect("open after the other process exited");
}

#[test]
fn stale_temp_files_removed_on_open() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = FilesystemStore::open(dir.path()).expect("open");
    store.write("ns", "sub", "k", vec![1]).expect("write");
    drop(store);

    let stale = [
        dir.path().join(".manager.123.0.tmp"),
        dir.path().join("ns/.k.123.1.tmp"),
        dir.path().join("ns/sub/.k.123.2.tmp"),
        // The name lightning-persister gives its temporary files.
        dir.path().join("ns/k.7.tmp"),
    ];
    for path in &stale {
        fs::write(path, b"half a value").expect("plant temporary file");
    }

    let logger = recording_logger();
    let store = FilesystemStore::open_with_logger(dir.path(), logger.clone()).expect("reopen");
    let mut expected: Vec<PathBuf> = stale.to_vec();
    expected.sort();
    assert_eq!(store.removed_temp_files(), expected.as_slice());
    assert!(
        temp_files(dir.path()).is_empty(),
        "left: {:?}",
        temp_files(dir.path())
    );
    assert_eq!(
        KVStoreSync::read(&store, "ns", "sub", "k").expect("value kept"),
        vec![1]
    );

    let lines = logger.lines.lock();
    for path in &stale {
        let logged = lines
            .iter()
            .any(|line| line.starts_with("WARN") && line.contains(&path.display().to_string()));
        assert!(logged, "no warning for {}: {lines:?}", path.display());
    }
}

#[test]
fn temp_files_never_listed() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = FilesystemStore::open(dir.path()).expect("open");
    store.write("ns", "", "k", vec![1]).expect("write");
    fs::write(dir.path().join("ns/.k.1.1.tmp"), b"in progress").expect("plant temporary file");
    fs::write(dir.path().join(".x.1.2.tmp"), b"in progress").expect("plant temporary file");

    assert_eq!(KVStoreSync::list(&store, "ns", "").expect("list"), ["k"]);
    assert_eq!(
        KVStoreSync::list(&store, "", "").expect("list root"),
        Vec::<String>::new()
    );
}

#[test]
fn failed_write_leaves_no_temp_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = FilesystemStore::open(dir.path()).expect("open");
    // A namespace directory named "taken" makes the rename of key "taken" fail.
    store.write("taken", "", "k", vec![1]).expect("write");

    let error =
        KVStoreSync::write(&store, "", "", "taken", vec![2]).expect_err("rename over a directory");
    let message = vigil_persistence::from_ldk(error).to_string();
    assert!(message.contains(r#"key "taken""#), "{message}");
    assert!(
        temp_files(dir.path()).is_empty(),
        "left: {:?}",
        temp_files(dir.path())
    );
}

#[test]
fn superseded_async_write_leaves_no_temp_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = FilesystemStore::open(dir.path()).expect("open");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");

    let older = lightning::util::persist::KVStore::write(&store, "ns", "", "k", vec![1]);
    let newer = lightning::util::persist::KVStore::write(&store, "ns", "", "k", vec![2]);
    runtime.block_on(newer).expect("newer write");
    runtime
        .block_on(older)
        .expect("older write is skipped, not failed");

    assert_eq!(
        KVStoreSync::read(&store, "ns", "", "k").expect("read"),
        vec![2]
    );
    assert!(
        temp_files(dir.path()).is_empty(),
        "left: {:?}",
        temp_files(dir.path())
    );
}

#[test]
fn concurrent_writers_of_different_keys() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(FilesystemStore::open(dir.path()).expect("open"));
    let writers: Vec<_> = (0..8u8)
        .map(|writer| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for round in 0..20u8 {
                    let key = format!("key_{writer}");
                    KVStoreSync::write(store.as_ref(), "shared", "", &key, vec![writer, round])
                        .expect("write");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }

    let mut keys = KVStoreSync::list(store.as_ref(), "shared", "").expect("list");
    keys.sort();
    assert_eq!(keys.len(), 8);
    for writer in 0..8u8 {
        let value = KVStoreSync::read(store.as_ref(), "shared", "", &format!("key_{writer}"))
            .expect("read");
        assert_eq!(value, vec![writer, 19]);
    }
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn concurrent_writers_of_one_key_keep_it_whole() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(FilesystemStore::open(dir.path()).expect("open"));
    let writers: Vec<_> = (1..=4u8)
        .map(|writer| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                for _ in 0..20 {
                    KVStoreSync::write(store.as_ref(), "", "", "contended", vec![writer; 4096])
                        .expect("write");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("writer thread");
    }

    let value = KVStoreSync::read(store.as_ref(), "", "", "contended").expect("read");
    assert_eq!(value.len(), 4096);
    assert!(
        value.iter().all(|byte| *byte == value[0]),
        "value mixes two writes"
    );
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn lazy_and_eager_remove_both_delete_file() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = FilesystemStore::open(dir.path()).expect("open");
    for lazy in [true, false] {
        KVStoreSync::write(&store, "ns", "", "k", vec![1]).expect("write");
        KVStoreSync::remove(&store, "ns", "", "k", lazy).expect("remove");
        assert!(
            !dir.path().join("ns/k").exists(),
            "file left after remove (lazy: {lazy})"
        );
    }
}
