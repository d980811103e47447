//! Vigil's thread runner against LDK's `lightning-background-processor` 0.2.3, on identical
//! simnet nodes in one process run.
//!
//! Six contenders, in two groups. The thread group compares Vigil's thread runner, and
//! Vigil run through `vigil_processor::ldk_compat` with the reference's own `start` call,
//! against LDK's `BackgroundProcessor`. The async group compares Vigil's tokio runner, and
//! `ldk_compat::process_events_async` called as the reference is, against LDK's
//! `process_events_async`, each on a tokio runtime of its own. Each contender gets two
//! nodes with one channel, in its own simnet. Every measurement runs on one contender at a
//! time, and the order reverses every round, so that drift in the machine's speed spreads
//! over all of them. Run with `cargo xtask bench processor`; `--smoke` runs every
//! measurement briefly, only to check that it still works, and its figures mean nothing.

mod contender;
mod phases;
mod table;
mod threads;
mod tokio_drivers;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use vigil_simnet::{percentile, CompatDriver, ReferenceDriver, SimnetError, VigilDriver};

use contender::{Contender, SlowHandler, SLOW_HANDLER_DELAY};
use phases::{Burst, Idle};
use table::{Figure, Group, Row};
use tokio_drivers::{AsyncApi, LdkTokioDriver, VigilTokioDriver};

/// A boxed error of any measurement.
type BenchError = Box<dyn std::error::Error>;

/// How much of each measurement a run does.
struct Plan {
    /// Idle windows per contender, and how long each lasts.
    idle_rounds: usize,
    idle_window: Duration,
    /// Time without payments before an idle window.
    quiet: Duration,
    /// Blocks of sequential payments per contender with the instant handler, and their size.
    latency_rounds: usize,
    latency_payments: usize,
    /// Blocks of sequential payments per contender with the slow handler, and their size.
    slow_rounds: usize,
    slow_payments: usize,
    /// Bursts per contender, their size and the payments in flight at most.
    burst_rounds: usize,
    burst_payments: usize,
    burst_in_flight: usize,
    /// Timed stops per contender.
    stops: usize,
}

const FULL: Plan = Plan {
    idle_rounds: 2,
    idle_window: Duration::from_secs(15),
    quiet: Duration::from_secs(2),
    latency_rounds: 4,
    latency_payments: 25,
    slow_rounds: 2,
    slow_payments: 5,
    burst_rounds: 2,
    burst_payments: 200,
    burst_in_flight: 30,
    stops: 20,
};

const SMOKE: Plan = Plan {
    idle_rounds: 1,
    idle_window: Duration::from_millis(500),
    quiet: Duration::from_millis(100),
    latency_rounds: 1,
    latency_payments: 2,
    slow_rounds: 1,
    slow_payments: 1,
    burst_rounds: 1,
    burst_payments: 5,
    burst_in_flight: 3,
    stops: 2,
};

/// Nodes per contender; idle figures are given per node.
const NODES: f64 = 2.0;

fn main() -> ExitCode {
    // `cargo bench` adds `--bench`, `cargo test` (smoke runs) adds nothing; only `--smoke` matters.
    let smoke = std::env::args().any(|arg| arg == "--smoke");
    let plan = if smoke { &SMOKE } else { &FULL };
    match run(plan, smoke) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the processor benchmark failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(plan: &Plan, smoke: bool) -> Result<(), BenchError> {
    print_header(plan, smoke);
    let config = vigil_processor::Config::default;
    let contenders = vec![
        Contender::start("Vigil thread", SlowHandler::Blocking, |_| {
            Ok(VigilDriver::new(config()))
        })?,
        Contender::start("ldk-compat thread", SlowHandler::Blocking, |_| {
            Ok(CompatDriver)
        })?,
        Contender::start("LDK thread", SlowHandler::Blocking, |_| Ok(ReferenceDriver))?,
        Contender::start("Vigil tokio", SlowHandler::Async, |slow| {
            VigilTokioDriver::new(config(), slow)
        })?,
        Contender::start("ldk-compat async", SlowHandler::Async, |slow| {
            LdkTokioDriver::new(AsyncApi::Compat, slow)
        })?,
        Contender::start("LDK async", SlowHandler::Async, |slow| {
            LdkTokioDriver::new(AsyncApi::Reference, slow)
        })?,
    ];
    // Indexes into `contenders`.
    let groups = [
        Group {
            challengers: vec![0, 1],
            reference: 2,
        },
        Group {
            challengers: vec![3, 4],
            reference: 5,
        },
    ];
    for contender in &contenders {
        println!(
            "{} threads: {}",
            contender.name,
            contender.thread_names().join(", ")
        );
    }

    let mut rows = Vec::new();
    let idle = measure_idle(plan, &contenders);
    rows.extend(idle_rows(&idle));
    rows.extend(latency_rows(plan, &contenders)?);
    rows.extend(burst_rows(plan, &contenders)?);
    rows.push(stop_row(plan, &contenders)?);

    println!();
    let names: Vec<&str> = contenders.iter().map(|contender| contender.name).collect();
    table::print(&rows, &names, &groups);
    print_notes(plan, &idle);
    Ok(())
}

/// Returns the contenders' indexes in the order of `round`: forward in even rounds,
/// backward in odd ones.
fn order(round: usize, count: usize) -> Vec<usize> {
    if round.is_multiple_of(2) {
        (0..count).collect()
    } else {
        (0..count).rev().collect()
    }
}

fn print_header(plan: &Plan, smoke: bool) {
    let kind = if smoke {
        "smoke run, figures mean nothing"
    } else {
        "full run"
    };
    println!("processor benchmark ({kind})");
    let cpus = std::thread::available_parallelism().map_or(0, |count| count.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    println!(
        "machine: {cpus} CPUs, {}, {model}; load average at start: {}",
        std::env::consts::ARCH,
        load_average()
    );
    println!(
        "idle: {} window(s) of {:?} per contender, scaled to one minute",
        plan.idle_rounds, plan.idle_window
    );
}

fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn measure_idle(plan: &Plan, contenders: &[Contender]) -> Vec<Vec<Idle>> {
    let mut idle = vec![Vec::new(); contenders.len()];
    for round in 0..plan.idle_rounds {
        for index in order(round, contenders.len()) {
            idle[index].push(phases::idle(
                &contenders[index],
                plan.quiet,
                plan.idle_window,
            ));
        }
    }
    idle
}

/// Returns the sums of `samples`: context switches, CPU time, window and Vigil's wakeups.
fn idle_totals(samples: &[Idle]) -> (u64, Duration, Duration, Option<u64>) {
    let switches = samples.iter().map(|s| s.threads.voluntary_switches).sum();
    let cpu = samples.iter().map(|s| s.threads.cpu).sum();
    let window = samples.iter().map(|s| s.window).sum();
    let wakeups = samples.iter().map(|s| s.vigil_wakeups).sum();
    (switches, cpu, window, wakeups)
}

fn idle_rows(idle: &[Vec<Idle>]) -> Vec<Row> {
    let mut wakeups = Vec::new();
    let mut cpu = Vec::new();
    for samples in idle {
        let (switches, cpu_time, window, _) = idle_totals(samples);
        let minutes = window.as_secs_f64() / 60.0;
        if minutes == 0.0 {
            wakeups.push(Figure::Missing);
            cpu.push(Figure::Missing);
            continue;
        }
        wakeups.push(Figure::number(switches as f64 / minutes / NODES, 0));
        cpu.push(Figure::number(
            cpu_time.as_secs_f64() * 1e3 / minutes / NODES,
            1,
        ));
    }
    vec![
        Row::new(
            "idle wakeups per minute per node (voluntary context switches)",
            wakeups,
        ),
        Row::new("idle CPU ms per minute per node", cpu),
    ]
}

/// Runs sequential payments with the instant handler, then with the slow one, and returns
/// the dispatch-latency and persistence-lag rows.
fn latency_rows(plan: &Plan, contenders: &[Contender]) -> Result<Vec<Row>, SimnetError> {
    let since = Instant::now();
    for round in 0..plan.latency_rounds {
        for index in order(round, contenders.len()) {
            phases::pay_in_sequence(&contenders[index], plan.latency_payments)?;
        }
    }
    let instant = contenders
        .iter()
        .map(|contender| phases::latencies_since(contender, since))
        .collect::<Result<Vec<_>, _>>()?;

    let slow_since = Instant::now();
    for round in 0..plan.slow_rounds {
        for index in order(round, contenders.len()) {
            let contender = &contenders[index];
            contender.set_slow_handler(true);
            let paid = phases::pay_in_sequence(contender, plan.slow_payments);
            contender.set_slow_handler(false);
            paid?;
        }
    }
    let slow = contenders
        .iter()
        .map(|contender| phases::latencies_since(contender, slow_since).map(|(_, lags)| lags))
        .collect::<Result<Vec<_>, _>>()?;

    let instant_label = format!("{} payments", plan.latency_rounds * plan.latency_payments);
    let slow_label = format!(
        "handler taking {} ms per event, {} payments",
        SLOW_HANDLER_DELAY.as_millis(),
        plan.slow_rounds * plan.slow_payments
    );
    let quantiles = |samples: Vec<&Vec<Duration>>, q: f64| -> Vec<Figure> {
        samples
            .into_iter()
            .map(|samples| Figure::time(percentile(samples, q)))
            .collect()
    };
    let dispatch: Vec<_> = instant.iter().map(|(dispatch, _)| dispatch).collect();
    let lags: Vec<_> = instant.iter().map(|(_, lags)| lags).collect();
    let slow_lags: Vec<_> = slow.iter().collect();
    Ok(vec![
        Row::new(
            format!("event dispatch latency p50 ({instant_label})"),
            quantiles(dispatch.clone(), 0.5),
        ),
        Row::new(
            format!("event dispatch latency p99 ({instant_label})"),
            quantiles(dispatch, 0.99),
        ),
        Row::new(
            format!("persist lag p50, instant handler ({instant_label})"),
            quantiles(lags.clone(), 0.5),
        ),
        Row::new(
            format!("persist lag p99, instant handler ({instant_label})"),
            quantiles(lags, 0.99),
        ),
        Row::new(
            format!("persist lag p50, {slow_label}"),
            quantiles(slow_lags.clone(), 0.5),
        ),
        Row::new(
            format!("persist lag p99, {slow_label}"),
            quantiles(slow_lags, 0.99),
        ),
    ])
}

fn burst_rows(plan: &Plan, contenders: &[Contender]) -> Result<Vec<Row>, SimnetError> {
    let mut bursts: Vec<Vec<Burst>> = vec![Vec::new(); contenders.len()];
    for round in 0..plan.burst_rounds {
        for index in order(round, contenders.len()) {
            let contender = &contenders[index];
            let burst = phases::burst(contender, plan.burst_payments, plan.burst_in_flight)?;
            if burst.failed > 0 {
                println!(
                    "{}: {} of {} payments of a burst failed",
                    contender.name, burst.failed, burst.payments
                );
            }
            bursts[index].push(burst);
        }
    }
    let writes_per_payment = |bursts: &[Burst], payer: bool| {
        let payments: usize = bursts.iter().map(|b| b.payments).sum();
        let writes: u64 = bursts
            .iter()
            .map(|b| {
                if payer {
                    b.payer_writes
                } else {
                    b.payee_writes
                }
            })
            .sum();
        Figure::number(writes as f64 / payments.max(1) as f64, 2)
    };
    // The median burst's rate, so that one disturbed burst does not move the figure.
    let payments_per_second = |bursts: &[Burst]| {
        let mut rates: Vec<f64> = bursts
            .iter()
            .map(|b| b.payments as f64 / b.elapsed.as_secs_f64().max(1e-9))
            .collect();
        rates.sort_by(f64::total_cmp);
        rates
            .get(rates.len().saturating_sub(1) / 2)
            .map_or(Figure::Missing, |rate| Figure::number(*rate, 0))
    };
    let label = format!(
        "burst of {} payments, at most {} in flight",
        plan.burst_payments, plan.burst_in_flight
    );
    Ok(vec![
        Row::new(
            format!("ChannelManager writes per payment, payer ({label})"),
            bursts.iter().map(|b| writes_per_payment(b, true)).collect(),
        ),
        Row::new(
            format!("ChannelManager writes per payment, payee ({label})"),
            bursts
                .iter()
                .map(|b| writes_per_payment(b, false))
                .collect(),
        ),
        Row::new(
            format!("payments per second ({label})"),
            bursts.iter().map(|b| payments_per_second(b)).collect(),
        ),
    ])
}

fn stop_row(plan: &Plan, contenders: &[Contender]) -> Result<Row, SimnetError> {
    let mut stops: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
    for round in 0..plan.stops {
        // Idle times from 150 to 349 ms spread the stops over the reference's 100 ms loop.
        // Every contender gets the same sequence.
        let idle_for = Duration::from_millis(150 + (round as u64 * 73) % 200);
        for index in order(round, contenders.len()) {
            stops[index].push(phases::stop_latency(&contenders[index], idle_for)?);
        }
    }
    Ok(Row::new(
        format!("stop() latency, median of {}", plan.stops),
        stops
            .iter()
            .map(|samples| Figure::time(percentile(samples, 0.5)))
            .collect(),
    ))
}

fn print_notes(plan: &Plan, idle: &[Vec<Idle>]) {
    println!();
    println!(
        "Idle windows: {} x {:?} per contender, {:?} of quiet before each; figures scaled to one minute.",
        plan.idle_rounds, plan.idle_window, plan.quiet
    );
    if let Some(samples) = idle.first() {
        let (switches, _, window, wakeups) = idle_totals(samples);
        if let Some(wakeups) = wakeups {
            println!(
                "Vigil thread runner's own wakeup counter over its idle windows: {wakeups} (its threads blocked {switches} times in {window:.1?})."
            );
        }
    }
    println!("Load average at the end: {}", load_average());
}
