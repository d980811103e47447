//! `cargo xtask bench`: the benchmarks, each a `harness = false` bench target
//! that prints its own table.

use crate::process::cargo;

/// A benchmark target: its name on the command line, its package and its bench target.
struct Benchmark {
    name: &'static str,
    package: &'static str,
    target: &'static str,
}

const BENCHMARKS: &[Benchmark] = &[
    Benchmark {
        name: "persistence",
        package: "vigil-persistence",
        target: "stores",
    },
    Benchmark {
        name: "processor",
        package: "vigil-simnet",
        target: "processors",
    },
];

/// Runs the named benchmark, or all of them, in release mode.
pub fn run(args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|arg| arg == "--smoke");
    let names: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|arg| *arg != "--smoke")
        .collect();

    for name in &names {
        if !BENCHMARKS.iter().any(|b| b.name == *name) {
            let known: Vec<&str> = BENCHMARKS.iter().map(|b| b.name).collect();
            return Err(format!(
                "unknown benchmark `{name}`; known benchmarks: {}",
                known.join(", ")
            ));
        }
    }

    for benchmark in BENCHMARKS {
        if names.is_empty() || names.contains(&benchmark.name) {
            run_one(benchmark, smoke)?;
        }
    }
    Ok(())
}

/// Runs every benchmark briefly, as a check that they still build and run.
pub fn smoke() -> Result<(), String> {
    for benchmark in BENCHMARKS {
        run_one(benchmark, true)?;
    }
    Ok(())
}

fn run_one(benchmark: &Benchmark, smoke: bool) -> Result<(), String> {
    let step = format!("bench {}", benchmark.name);
    let mut args = vec![
        "bench",
        "--package",
        benchmark.package,
        "--bench",
        benchmark.target,
    ];
    if smoke {
        args.extend(["--", "--smoke"]);
    }
    cargo(&step, &args, &[])
}
