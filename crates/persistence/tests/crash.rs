//! Crash consistency with real processes.
//!
//! Each test re-runs its own test binary as a child (`--exact <test name>` with an environment
//! variable that selects the child role). The child rewrites one key in a loop with versioned,
//! checksummed values of about 1 MB and prints each version once the store acknowledged it. The
//! parent kills the child with SIGKILL at a random moment, then opens the store itself: the key
//! must read back complete, with a valid checksum, at a version no older than the last one
//! acknowledged. The random seed is printed so that a failure can be replayed with
//! `VIGIL_CRASH_SEED`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::hashes::{sha256, Hash};
use lightning::util::persist::KVStoreSync;
use vigil_persistence::{FilesystemStore, SqliteStore, StoreError};

/// Selects the child role and the store kind in a re-run of this binary.
const CHILD_ENV: &str = "VIGIL_CRASH_CHILD";
/// The store's directory or database file, passed to the child.
const PATH_ENV: &str = "VIGIL_CRASH_PATH";
/// Replays a failed run with its printed seed.
const SEED_ENV: &str = "VIGIL_CRASH_SEED";

const KILLS: usize = 200;
const PAYLOAD_LEN: usize = 1 << 20;
/// The maximum random wait between the child's first line and the kill.
const MAX_KILL_DELAY_MICROS: u64 = 30_000;
const KEY: &str = "crash_test";

#[derive(Clone, Copy, Debug)]
enum StoreKind {
    Filesystem,
    Sqlite,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Filesystem => "filesystem",
            StoreKind::Sqlite => "sqlite",
        }
    }

    fn open(self, path: &Path) -> Result<Box<dyn KVStoreSync>, StoreError> {
        Ok(match self {
            StoreKind::Filesystem => Box::new(FilesystemStore::open(path)?),
            StoreKind::Sqlite => Box::new(SqliteStore::open(path)?),
        })
    }
}

#[test]
fn filesystem_store_survives_sigkill() {
    run_crash_test("filesystem_store_survives_sigkill", StoreKind::Filesystem);
}

#[test]
fn sqlite_store_survives_sigkill() {
    run_crash_test("sqlite_store_survives_sigkill", StoreKind::Sqlite);
}

fn run_crash_test(test_name: &str, kind: StoreKind) {
    if std::env::var(CHILD_ENV).as_deref() == Ok(kind.name()) {
        let path = PathBuf::from(std::env::var_os(PATH_ENV).expect("parent sets the store path"));
        run_child(kind, &path);
    }

    let dir = tempfile::tempdir().expect("temporary directory");
    let path = match kind {
        StoreKind::Filesystem => dir.path().join("store"),
        StoreKind::Sqlite => dir.path().join("store.sqlite"),
    };
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(seed_from_clock);
    println!("{test_name}: seed {seed} (set {SEED_ENV} to replay)");
    let mut rng = SplitMix64(seed);

    let mut highest_seen = 0;
    let mut unacknowledged_writes_found = 0;
    for round in 0..KILLS {
        let last_ack = kill_one_child(test_name, kind, &path, &mut rng);
        let stored = read_version(kind, &path);
        let context = format!("{} round {round}, seed {seed}", kind.name());
        // The child continues from the stored version, so a round without acknowledgements
        // still must not lose what earlier rounds stored.
        let floor = last_ack.max(highest_seen);
        assert!(
            stored >= floor,
            "{context}: stored version {stored} is older than {floor} (acknowledged {last_ack}, stored before {highest_seen})"
        );
        assert!(
            stored <= floor + 1,
            "{context}: stored version {stored} is newer than the one write in flight after {floor}"
        );
        if stored == floor + 1 {
            unacknowledged_writes_found += 1;
        }
        highest_seen = stored;
    }
    println!(
        "{test_name}: {KILLS} kills, {highest_seen} versions written, {unacknowledged_writes_found} kills between a write's commit and its acknowledgement"
    );
    assert!(
        highest_seen > 0,
        "no write completed in {KILLS} rounds; raise MAX_KILL_DELAY_MICROS"
    );
}

/// Starts a child, kills it after a random delay and returns the last version it acknowledged.
fn kill_one_child(test_name: &str, kind: StoreKind, path: &Path, rng: &mut SplitMix64) -> u64 {
    let child = Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, kind.name())
        .env(PATH_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child");
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    let lines = read_lines(child);

    match lines.recv() {
        Ok(ChildLine::Ready) => {}
        Ok(ChildLine::Ack(version)) => panic!("child acknowledged {version} before it was ready"),
        Err(_) => panic!("child exited before opening the store: {:?}", child.wait()),
    }
    // The delay is the test's input: it picks the moment of the kill.
    thread::sleep(Duration::from_micros(rng.below(MAX_KILL_DELAY_MICROS)));
    child.kill().expect("kill child");
    let status = child.wait().expect("wait for child");
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "child ended on its own: {status}"
    );

    // Every acknowledgement written before the kill is still in the pipe.
    lines
        .iter()
        .filter_map(|line| match line {
            ChildLine::Ack(version) => Some(version),
            ChildLine::Ready => None,
        })
        .max()
        .unwrap_or(0)
}

/// Kills the child if the parent panics, so that no writer outlives the test's directory.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

enum ChildLine {
    Ready,
    Ack(u64),
}

/// Forwards the child's protocol lines to a channel until its stdout closes. Other lines, such
/// as the test harness's own, are skipped.
fn read_lines(child: &mut Child) -> mpsc::Receiver<ChildLine> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness prints "test <name> ... " without a line break before the test runs,
            // so the child's first line may follow it on the same line.
            let parsed = match line.split_once("crash-child ").map(|(_, rest)| rest) {
                Some("ready") => ChildLine::Ready,
                Some(ack) => match ack.strip_prefix("ack ").and_then(|v| v.parse().ok()) {
                    Some(version) => ChildLine::Ack(version),
                    None => continue,
                },
                None => continue,
            };
            if sender.send(parsed).is_err() {
                break;
            }
        }
    });
    receiver
}

/// Opens the store after a kill and returns the stored version, 0 if the key was never written.
fn read_version(kind: StoreKind, path: &Path) -> u64 {
    let store = kind.open(path).expect("reopen the store after the kill");
    if let StoreKind::Filesystem = kind {
        // Opening removes the temporary file of a write the kill interrupted.
        let leftovers: Vec<_> = std::fs::read_dir(path)
            .expect("read store directory")
            .map(|entry| entry.expect("directory entry").file_name())
            .filter(|name| name.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "temporary files left after reopen: {leftovers:?}"
        );
    }
    match store.read("", "", KEY) {
        Ok(value) => decode(&value).unwrap_or_else(|problem| panic!("{}: {problem}", kind.name())),
        Err(error) if error.kind() == lightning::io::ErrorKind::NotFound => 0,
        Err(error) => panic!("{}: read after kill failed: {error}", kind.name()),
    }
}

/// Rewrites the key with ever newer versions until the parent kills this process.
fn run_child(kind: StoreKind, path: &Path) -> ! {
    let store = kind.open(path).expect("child opens the store");
    let mut version = match store.read("", "", KEY) {
        Ok(value) => decode(&value).expect("parent checked the stored value"),
        Err(_) => 0,
    };
    let mut stdout = std::io::stdout().lock();
    // Writing to the locked handle bypasses the test harness's output capture.
    writeln!(stdout, "crash-child ready").expect("write to parent");
    stdout.flush().expect("flush to parent");
    loop {
        version += 1;
        store
            .write("", "", KEY, encode(version))
            .expect("child write");
        writeln!(stdout, "crash-child ack {version}").expect("write to parent");
        stdout.flush().expect("flush to parent");
    }
}

/// Builds a value: version (8 bytes), SHA-256 of version and payload (32 bytes), payload.
fn encode(version: u64) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + PAYLOAD_LEN);
    body.extend_from_slice(&version.to_le_bytes());
    // Each 4 KiB block gets its own byte, so a block from another version changes the checksum.
    for block in 0..PAYLOAD_LEN / 4096 {
        let byte = (version as usize).wrapping_mul(31).wrapping_add(block) as u8;
        body.resize(body.len() + 4096, byte);
    }
    let checksum = sha256::Hash::hash(&body);

    let mut value = Vec::with_capacity(32 + body.len());
    value.extend_from_slice(&body[..8]);
    value.extend_from_slice(checksum.as_byte_array());
    value.extend_from_slice(&body[8..]);
    value
}

fn decode(value: &[u8]) -> Result<u64, String> {
    if value.len() != 8 + 32 + PAYLOAD_LEN {
        return Err(format!(
            "value has {} bytes, expected {}",
            value.len(),
            8 + 32 + PAYLOAD_LEN
        ));
    }
    let (version_bytes, rest) = value.split_at(8);
    let (checksum, payload) = rest.split_at(32);
    let mut body = version_bytes.to_vec();
    body.extend_from_slice(payload);
    if sha256::Hash::hash(&body).as_byte_array() != checksum {
        return Err("checksum does not match: the value is torn".into());
    }
    let version = u64::from_le_bytes(version_bytes.try_into().expect("8 bytes"));
    Ok(version)
}

fn seed_from_clock() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ u64::from(std::process::id())
}

/// A small seeded generator (SplitMix64), enough to pick kill moments.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}
