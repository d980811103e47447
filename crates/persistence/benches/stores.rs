//! Write latency of Vigil's `FilesystemStore` and `SqliteStore` against LDK's `FilesystemStore`
//! (`lightning-persister`), for 1 KB, 100 KB and 5 MB values, all in one temporary directory.
//!
//! Each round writes the same key once in every store, rotating which store goes first, so that
//! drift in the disk's speed spreads over all of them. Run with `cargo xtask bench persistence`;
//! `--smoke` runs two rounds per size, only to check that every store still works.

use std::path::Path;
use std::time::{Duration, Instant};

use lightning::util::persist::KVStoreSync;
use vigil_persistence::{FilesystemStore, SqliteStore};

struct Size {
    label: &'static str,
    bytes: usize,
    rounds: usize,
}

const SIZES: &[Size] = &[
    Size {
        label: "1 KB",
        bytes: 1024,
        rounds: 1000,
    },
    Size {
        label: "100 KB",
        bytes: 100 * 1024,
        rounds: 500,
    },
    Size {
        label: "5 MB",
        bytes: 5 * 1024 * 1024,
        rounds: 100,
    },
];
const SMOKE_ROUNDS: usize = 2;
/// Writes per store before measuring, so that files, tables and caches exist.
const WARM_UP_WRITES: usize = 2;

struct Contender {
    name: &'static str,
    store: Box<dyn KVStoreSync>,
    latencies: Vec<Duration>,
}

fn main() {
    // `cargo bench` adds `--bench`, `cargo test` (smoke runs) adds nothing; only `--smoke` matters.
    let smoke = std::env::args().any(|arg| arg == "--smoke");
    let dir = tempfile::tempdir().expect("temporary directory for the stores");
    println!(
        "stores in {} ({})",
        dir.path().display(),
        if smoke { "smoke run" } else { "full run" }
    );
    println!();
    println!("| value | store | writes | median | p99 | median vs LDK | p99 vs LDK |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");

    for size in SIZES {
        let rounds = if smoke { SMOKE_ROUNDS } else { size.rounds };
        let mut contenders = open_stores(dir.path(), size.label);
        run_rounds(&mut contenders, size.bytes, rounds);
        print_rows(size.label, &mut contenders);
    }
}

fn open_stores(dir: &Path, label: &str) -> Vec<Contender> {
    let name = label.replace(' ', "");
    let vigil_fs = FilesystemStore::open(dir.join(format!("vigil-fs-{name}")))
        .expect("open Vigil FilesystemStore");
    let sqlite =
        SqliteStore::open(dir.join(format!("vigil-{name}.sqlite"))).expect("open SqliteStore");
    let ldk_fs =
        lightning_persister::fs_store::FilesystemStore::new(dir.join(format!("ldk-fs-{name}")));
    vec![
        Contender {
            name: "LDK FilesystemStore",
            store: Box::new(ldk_fs),
            latencies: Vec::new(),
        },
        Contender {
            name: "Vigil FilesystemStore",
            store: Box::new(vigil_fs),
            latencies: Vec::new(),
        },
        Contender {
            name: "Vigil SqliteStore",
            store: Box::new(sqlite),
            latencies: Vec::new(),
        },
    ]
}

fn run_rounds(contenders: &mut [Contender], bytes: usize, rounds: usize) {
    for warm_up in 0..WARM_UP_WRITES {
        for contender in contenders.iter_mut() {
            write(contender, vec![warm_up as u8; bytes]);
        }
    }
    for round in 0..rounds {
        let count = contenders.len();
        for offset in 0..count {
            let contender = &mut contenders[(round + offset) % count];
            let value = vec![round as u8; bytes];
            let started = Instant::now();
            write(contender, value);
            contender.latencies.push(started.elapsed());
        }
    }
}

fn write(contender: &mut Contender, value: Vec<u8>) {
    contender
        .store
        .write("", "", "manager", value)
        .unwrap_or_else(|error| panic!("{} write failed: {error}", contender.name));
}

fn print_rows(label: &str, contenders: &mut [Contender]) {
    for contender in contenders.iter_mut() {
        contender.latencies.sort();
    }
    let reference = (
        percentile(&contenders[0].latencies, 50),
        percentile(&contenders[0].latencies, 99),
    );
    for contender in contenders.iter() {
        let median = percentile(&contender.latencies, 50);
        let p99 = percentile(&contender.latencies, 99);
        println!(
            "| {label} | {} | {} | {} | {} | {:.2} | {:.2} |",
            contender.name,
            contender.latencies.len(),
            format_duration(median),
            format_duration(p99),
            ratio(median, reference.0),
            ratio(p99, reference.1),
        );
    }
}

/// Returns the nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ratio(value: Duration, reference: Duration) -> f64 {
    if reference.is_zero() {
        return f64::NAN;
    }
    value.as_secs_f64() / reference.as_secs_f64()
}

fn format_duration(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros >= 1000.0 {
        format!("{:.2} ms", micros / 1000.0)
    } else {
        format!("{micros:.0} µs")
    }
}
