//! `cargo xtask bench`: the benchmarks, each a `harness = false` bench target
//! that prints its own table.

use crate::process::{cargo, Failure};

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
///
/// # Errors
///
/// Returns a [`Failure`] on an unknown name or option, or with cargo's exit code when a
/// benchmark fails.
pub fn run(args: &[String]) -> Result<(), Failure> {
    let (names, smoke) = parse(args)?;
    for benchmark in BENCHMARKS {
        if names.is_empty() || names.contains(&benchmark.name) {
            run_one(benchmark, smoke)?;
        }
    }
    Ok(())
}

/// Parses the arguments of `bench` into the benchmark names and whether `--smoke` was given.
fn parse(args: &[String]) -> Result<(Vec<&str>, bool), String> {
    let mut names = Vec::new();
    let mut smoke = false;
    for arg in args.iter().map(String::as_str) {
        if arg == "--smoke" {
            smoke = true;
        } else if arg.starts_with('-') {
            return Err(format!(
                "unknown option `{arg}` for `bench`; the only option is --smoke"
            ));
        } else if BENCHMARKS.iter().any(|b| b.name == arg) {
            names.push(arg);
        } else {
            let known: Vec<&str> = BENCHMARKS.iter().map(|b| b.name).collect();
            return Err(format!(
                "unknown benchmark `{arg}`; known benchmarks: {}",
                known.join(", ")
            ));
        }
    }
    Ok((names, smoke))
}

/// Runs every benchmark briefly, as a check that they still build and run.
///
/// A smoke run builds the benchmark in the test profile, through `cargo test`, so that CI
/// reuses the debug build of the test suite instead of compiling LDK again with
/// optimizations. Its figures mean nothing either way.
pub fn smoke() -> Result<(), Failure> {
    for benchmark in BENCHMARKS {
        run_one(benchmark, true)?;
    }
    Ok(())
}

fn run_one(benchmark: &Benchmark, smoke: bool) -> Result<(), Failure> {
    let step = format!("bench {}", benchmark.name);
    let args: Vec<&str> = if smoke {
        // With `--workspace`, cargo resolves features as `cargo test --workspace` does, so the
        // smoke run reuses those dependency builds. Each target name occurs in one package.
        let target = benchmark.target;
        vec!["test", "--workspace", "--bench", target, "--", "--smoke"]
    } else {
        vec![
            "bench",
            "--package",
            benchmark.package,
            "--bench",
            benchmark.target,
        ]
    };
    cargo(&step, &args, &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(args: &[&str]) -> Result<(Vec<String>, bool), String> {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        parse(&args).map(|(names, smoke)| (names.iter().map(|n| n.to_string()).collect(), smoke))
    }

    #[test]
    fn names_and_smoke_are_parsed() {
        assert_eq!(parse_all(&[]), Ok((vec![], false)));
        let expected = (vec!["processor".to_string()], true);
        assert_eq!(parse_all(&["--smoke", "processor"]), Ok(expected));
    }

    #[test]
    fn unknown_option_is_named_as_option() {
        assert_eq!(
            parse_all(&["--fast"]),
            Err("unknown option `--fast` for `bench`; the only option is --smoke".to_string())
        );
    }

    #[test]
    fn unknown_benchmark_is_rejected() {
        assert_eq!(
            parse_all(&["persistence", "disk"]),
            Err("unknown benchmark `disk`; known benchmarks: persistence, processor".to_string())
        );
    }
}
