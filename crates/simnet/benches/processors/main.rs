//! Vigil's thread runner against LDK's `lightning-background-processor` 0.2.3, on identical
//! simnet nodes in one process run.
//!
//! Each contender gets two nodes with one channel, in its own simnet. Every measurement runs
//! on one contender at a time, alternating which goes first, so that drift in the machine's
//! speed spreads over both. Run with `cargo xtask bench processor`; `--smoke` runs every
//! measurement briefly, only to check that it still works, and its figures mean nothing.

mod contender;
mod phases;
mod table;
mod threads;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use vigil_simnet::{percentile, ReferenceDriver, SimnetError, VigilDriver};

use contender::{Contender, SLOW_HANDLER_DELAY};
use phases::{Burst, Idle};
use table::{Figure, Row};

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
    // `cargo bench` passes `--bench`; only `--smoke` matters here.
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

fn run(plan: &Plan, smoke: bool) -> Result<(), SimnetError> {
    print_header(plan, smoke);
    let vigil_config = vigil_processor::Config::default();
    let contenders = [
        Contender::start("Vigil", VigilDriver::new(vigil_config))?,
        Contender::start("LDK 0.2.3", ReferenceDriver)?,
    ];
    // TODO: add Vigil's tokio runner as a third contender, against LDK's
    // `process_events_async`, once `vigil-processor` exports it under its `tokio` feature.
    for contender in &contenders {
        println!(
            "{} processor threads: {}",
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
    table::print(&rows, contenders[0].name, contenders[1].name);
    print_notes(plan, &idle);
    Ok(())
}

/// Returns the contenders' indexes in the order of `round`: Vigil first in even rounds.
fn order(round: usize) -> [usize; 2] {
    if round.is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
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
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "machine: {cpus} CPUs, {}, {model}; load average at start: {}",
        std::env::consts::ARCH,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "idle: {} window(s) of {:?} per processor, scaled to one minute",
        plan.idle_rounds, plan.idle_window
    );
}

fn measure_idle(plan: &Plan, contenders: &[Contender; 2]) -> [Vec<Idle>; 2] {
    let mut idle = [Vec::new(), Vec::new()];
    for round in 0..plan.idle_rounds {
        for index in order(round) {
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

fn idle_rows(idle: &[Vec<Idle>; 2]) -> Vec<Row> {
    let per_minute_per_node = |samples: &[Idle]| {
        let (switches, cpu, window, _) = idle_totals(samples);
        let minutes = window.as_secs_f64() / 60.0;
        if minutes == 0.0 {
            return (Figure::Missing, Figure::Missing);
        }
        let wakeups = switches as f64 / minutes / NODES;
        let cpu_ms = cpu.as_secs_f64() * 1e3 / minutes / NODES;
        (Figure::number(wakeups, 0), Figure::number(cpu_ms, 1))
    };
    let (vigil_wakeups, vigil_cpu) = per_minute_per_node(&idle[0]);
    let (ldk_wakeups, ldk_cpu) = per_minute_per_node(&idle[1]);
    vec![
        Row::new(
            "idle wakeups per minute per node (voluntary context switches)",
            vigil_wakeups,
            ldk_wakeups,
        ),
        Row::new("idle CPU ms per minute per node", vigil_cpu, ldk_cpu),
    ]
}

/// Runs sequential payments with the instant handler, then with the slow one, and returns
/// the dispatch-latency and persistence-lag rows.
fn latency_rows(plan: &Plan, contenders: &[Contender; 2]) -> Result<Vec<Row>, SimnetError> {
    let since = Instant::now();
    for round in 0..plan.latency_rounds {
        for index in order(round) {
            phases::pay_in_sequence(&contenders[index], plan.latency_payments)?;
        }
    }
    let vigil = phases::latencies_since(&contenders[0], since)?;
    let ldk = phases::latencies_since(&contenders[1], since)?;

    let slow_since = Instant::now();
    for round in 0..plan.slow_rounds {
        for index in order(round) {
            let contender = &contenders[index];
            contender.set_slow_handler(true);
            let paid = phases::pay_in_sequence(contender, plan.slow_payments);
            contender.set_slow_handler(false);
            paid?;
        }
    }
    let (_, vigil_slow) = phases::latencies_since(&contenders[0], slow_since)?;
    let (_, ldk_slow) = phases::latencies_since(&contenders[1], slow_since)?;

    let instant = format!("{} payments", plan.latency_rounds * plan.latency_payments);
    let slow = format!(
        "handler blocking {} ms per event, {} payments",
        SLOW_HANDLER_DELAY.as_millis(),
        plan.slow_rounds * plan.slow_payments
    );
    let quantile_row = |label: String, vigil: &[Duration], ldk: &[Duration], q: f64| {
        Row::new(
            label,
            Figure::time(percentile(vigil, q)),
            Figure::time(percentile(ldk, q)),
        )
    };
    Ok(vec![
        quantile_row(
            format!("event dispatch latency p50 ({instant})"),
            &vigil.0,
            &ldk.0,
            0.5,
        ),
        quantile_row(
            format!("event dispatch latency p99 ({instant})"),
            &vigil.0,
            &ldk.0,
            0.99,
        ),
        quantile_row(
            format!("persist lag p50, instant handler ({instant})"),
            &vigil.1,
            &ldk.1,
            0.5,
        ),
        quantile_row(
            format!("persist lag p99, instant handler ({instant})"),
            &vigil.1,
            &ldk.1,
            0.99,
        ),
        quantile_row(
            format!("persist lag p50, {slow}"),
            &vigil_slow,
            &ldk_slow,
            0.5,
        ),
        quantile_row(
            format!("persist lag p99, {slow}"),
            &vigil_slow,
            &ldk_slow,
            0.99,
        ),
    ])
}

fn burst_rows(plan: &Plan, contenders: &[Contender; 2]) -> Result<Vec<Row>, SimnetError> {
    let mut bursts: [Vec<Burst>; 2] = [Vec::new(), Vec::new()];
    for round in 0..plan.burst_rounds {
        for index in order(round) {
            let burst = phases::burst(
                &contenders[index],
                plan.burst_payments,
                plan.burst_in_flight,
            )?;
            if burst.failed > 0 {
                println!(
                    "{}: {} of {} payments of a burst failed",
                    contenders[index].name, burst.failed, burst.payments
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
        let rates: Vec<Duration> = bursts
            .iter()
            .map(|b| Duration::from_secs_f64(b.payments as f64 / b.elapsed.as_secs_f64().max(1e-9)))
            .collect();
        percentile(&rates, 0.5).map_or(Figure::Missing, |rate| {
            Figure::number(rate.as_secs_f64(), 0)
        })
    };
    let label = format!(
        "burst of {} payments, at most {} in flight",
        plan.burst_payments, plan.burst_in_flight
    );
    Ok(vec![
        Row::new(
            format!("ChannelManager writes per payment, payer ({label})"),
            writes_per_payment(&bursts[0], true),
            writes_per_payment(&bursts[1], true),
        ),
        Row::new(
            format!("ChannelManager writes per payment, payee ({label})"),
            writes_per_payment(&bursts[0], false),
            writes_per_payment(&bursts[1], false),
        ),
        Row::new(
            format!("payments per second ({label})"),
            payments_per_second(&bursts[0]),
            payments_per_second(&bursts[1]),
        ),
    ])
}

fn stop_row(plan: &Plan, contenders: &[Contender; 2]) -> Result<Row, SimnetError> {
    let mut stops: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for round in 0..plan.stops {
        // Idle times from 150 to 349 ms spread the stops over the reference's 100 ms loop;
        // both contenders get the same sequence.
        let idle_for = Duration::from_millis(150 + (round as u64 * 73) % 200);
        for index in order(round) {
            stops[index].push(phases::stop_latency(&contenders[index], idle_for)?);
        }
    }
    Ok(Row::new(
        format!("stop() latency, median of {}", plan.stops),
        Figure::time(percentile(&stops[0], 0.5)),
        Figure::time(percentile(&stops[1], 0.5)),
    ))
}

fn print_notes(plan: &Plan, idle: &[Vec<Idle>; 2]) {
    let (switches, _, window, wakeups) = idle_totals(&idle[0]);
    println!();
    println!(
        "Idle windows: {} x {:?} per processor, {:?} of quiet before each; figures scaled to one minute.",
        plan.idle_rounds, plan.idle_window, plan.quiet
    );
    if let Some(wakeups) = wakeups {
        println!(
            "Vigil's own wakeup counter over its idle windows: {wakeups} (its threads blocked {switches} times in {window:.1?})."
        );
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Load average at the end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}
