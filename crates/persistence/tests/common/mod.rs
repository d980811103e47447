//! The store contract every store in the crate must meet, as one generic test body, and the
//! helpers the test files share.

#![allow(dead_code)]

use std::sync::Arc;

use lightning::io::ErrorKind;
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::{KVStore, KVStoreSync};
use parking_lot::Mutex;
use vigil_persistence::from_ldk;

/// Names that break LDK's rules, as (primary namespace, secondary namespace, key).
pub fn invalid_locations() -> Vec<(String, String, String)> {
    let long = "x".repeat(121);
    vec![
        (String::new(), String::new(), String::new()),
        (String::new(), String::new(), "..".into()),
        (String::new(), String::new(), ".".into()),
        (String::new(), String::new(), "a/b".into()),
        (String::new(), String::new(), "a\\b".into()),
        ("p".into(), String::new(), "../escape".into()),
        ("..".into(), String::new(), "k".into()),
        ("p".into(), "..".into(), "k".into()),
        ("/tmp".into(), String::new(), "k".into()),
        (String::new(), "s".into(), "k".into()),
        (String::new(), String::new(), long.clone()),
        (long.clone(), String::new(), "k".into()),
        ("p".into(), long, "k".into()),
        (String::new(), String::new(), "caf\u{e9}".into()),
        (String::new(), String::new(), "nul\0".into()),
    ]
}

/// Checks what LDK's `KVStoreSync` documentation and Vigil require of a store that starts empty.
pub fn check_store_contract<S: KVStoreSync + ?Sized>(store: &S) {
    check_missing_keys(store);
    check_round_trips(store);
    check_overwrite(store);
    check_remove(store);
    check_list(store);
    check_rejected_names(store);
    check_large_value(store);
}

fn check_missing_keys<S: KVStoreSync + ?Sized>(store: &S) {
    let error = store
        .read("", "", "absent")
        .expect_err("absent key must not read");
    assert_eq!(error.kind(), ErrorKind::NotFound);
    let error = store
        .read("nowhere", "deeper", "absent")
        .expect_err("absent namespace");
    assert_eq!(error.kind(), ErrorKind::NotFound);
    assert_eq!(
        store.list("nowhere", "").expect("unknown namespace lists"),
        Vec::<String>::new()
    );
    store
        .remove("", "", "absent", false)
        .expect("removing an absent key succeeds");
    store
        .remove("nowhere", "deeper", "absent", true)
        .expect("lazy remove of absent key succeeds");
}

fn check_round_trips<S: KVStoreSync + ?Sized>(store: &S) {
    let locations = [("", "", "rt"), ("rtp", "", "rt"), ("rtp", "rts", "rt")];
    for (index, (primary, secondary, key)) in locations.iter().enumerate() {
        store
            .write(primary, secondary, key, vec![index as u8; 3])
            .expect("write");
    }
    for (index, (primary, secondary, key)) in locations.iter().enumerate() {
        let value = store.read(primary, secondary, key).expect("read back");
        assert_eq!(
            value,
            vec![index as u8; 3],
            "{primary:?}/{secondary:?}/{key:?}"
        );
    }

    store
        .write("rtp", "", "empty", Vec::new())
        .expect("write empty value");
    assert_eq!(
        store.read("rtp", "", "empty").expect("read empty value"),
        Vec::<u8>::new()
    );

    let longest = "k".repeat(120);
    store
        .write(&longest, &longest, &longest, vec![7])
        .expect("120-character names");
    assert_eq!(
        store.read(&longest, &longest, &longest).expect("read"),
        vec![7]
    );
}

fn check_overwrite<S: KVStoreSync + ?Sized>(store: &S) {
    store
        .write("ow", "", "k", vec![1; 100])
        .expect("first write");
    store
        .write("ow", "", "k", vec![2; 10])
        .expect("second write");
    assert_eq!(store.read("ow", "", "k").expect("read"), vec![2; 10]);
    assert_eq!(store.list("ow", "").expect("list"), vec!["k".to_string()]);
}

fn check_remove<S: KVStoreSync + ?Sized>(store: &S) {
    for lazy in [false, true] {
        store.write("rm", "", "k", vec![1]).expect("write");
        store.write("rm", "", "kept", vec![2]).expect("write");
        store.remove("rm", "", "k", lazy).expect("remove");

        let error = store
            .read("rm", "", "k")
            .expect_err("removed key must not read");
        assert_eq!(error.kind(), ErrorKind::NotFound, "lazy: {lazy}");
        assert_eq!(
            store.list("rm", "").expect("list"),
            vec!["kept".to_string()],
            "lazy: {lazy}"
        );
        assert_eq!(
            store.read("rm", "", "kept").expect("other key stays"),
            vec![2]
        );

        store
            .write("rm", "", "k", vec![3])
            .expect("write after remove");
        assert_eq!(store.read("rm", "", "k").expect("read"), vec![3]);
        store.remove("rm", "", "k", lazy).expect("remove again");
        store.remove("rm", "", "kept", lazy).expect("clean up");
    }
}

fn check_list<S: KVStoreSync + ?Sized>(store: &S) {
    for key in ["b", "a", "c"] {
        store.write("ls", "", key, vec![0]).expect("write");
    }
    store
        .write("ls", "inner", "z", vec![0])
        .expect("write nested");
    store
        .write("ls2", "", "y", vec![0])
        .expect("write other namespace");

    assert_eq!(sorted(store.list("ls", "").expect("list")), ["a", "b", "c"]);
    assert_eq!(store.list("ls", "inner").expect("list nested"), ["z"]);
    assert_eq!(store.list("ls2", "").expect("list other"), ["y"]);
    assert_eq!(
        store.list("ls", "none").expect("unknown secondary"),
        Vec::<String>::new()
    );
}

fn check_rejected_names<S: KVStoreSync + ?Sized>(store: &S) {
    let root_before = sorted(store.list("", "").expect("list root"));
    for (primary, secondary, key) in invalid_locations() {
        let case = format!("{primary:?}/{secondary:?}/{key:?}");
        let error = store
            .write(&primary, &secondary, &key, vec![1])
            .expect_err(&case);
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "write {case}");
        let message = from_ldk(error).to_string();
        assert!(message.contains("invalid"), "{case}: {message}");

        let error = store.read(&primary, &secondary, &key).expect_err(&case);
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "read {case}");
        let error = store
            .remove(&primary, &secondary, &key, false)
            .expect_err(&case);
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "remove {case}");
    }
    let error = store.list("", "s").expect_err("secondary without primary");
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let error = store.list("a/b", "").expect_err("slash in namespace");
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(sorted(store.list("", "").expect("list root")), root_before);
}

fn check_large_value<S: KVStoreSync + ?Sized>(store: &S) {
    let value: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    store
        .write("big", "", "ten_mb", value.clone())
        .expect("write 10 MB");
    assert!(
        store.read("big", "", "ten_mb").expect("read 10 MB") == value,
        "10 MB value differs"
    );
}

/// Checks the async trait: round trip, and writes to one key landing in the order they were
/// issued although their futures complete in reverse order.
pub fn check_async_store_contract<S: KVStore + ?Sized>(store: &S) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        store.write("async", "", "k", vec![1]).await.expect("write");
        assert_eq!(store.read("async", "", "k").await.expect("read"), vec![1]);
        assert_eq!(store.list("async", "").await.expect("list"), ["k"]);

        let first = store.write("async", "", "order", vec![1]);
        let removal = store.remove("async", "", "order", false);
        let last = store.write("async", "", "order", vec![3]);
        last.await.expect("last write");
        removal.await.expect("superseded remove");
        first.await.expect("superseded write");
        assert_eq!(
            store.read("async", "", "order").await.expect("read"),
            vec![3]
        );

        let error = store
            .write("", "s", "k", vec![1])
            .await
            .expect_err("invalid name");
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        let error = store
            .read("async", "", "absent")
            .await
            .expect_err("absent key");
        assert_eq!(error.kind(), ErrorKind::NotFound);
    });
}

pub fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

/// A logger that keeps every line, for tests that check what was logged.
#[derive(Default)]
pub struct RecordingLogger {
    pub lines: Mutex<Vec<String>>,
}

impl Logger for RecordingLogger {
    fn log(&self, record: Record) {
        self.lines
            .lock()
            .push(format!("{} {}", record.level, record.args));
    }
}

pub fn recording_logger() -> Arc<RecordingLogger> {
    Arc::new(RecordingLogger::default())
}
