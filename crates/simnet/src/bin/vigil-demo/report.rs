//! The summary the demo prints on stdout.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use vigil_simnet::percentile;

use crate::run::Report;

/// Returns the summary of `report` as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    render_payments(&mut out, report);
    render_table(
        &mut out,
        "Events handled, per kind and node (an event handed out again after a restart counts twice)",
        "event",
        &report.names,
        &report
            .events
            .iter()
            .map(|counts| {
                counts
                    .iter()
                    .map(|(kind, count)| (kind.to_string(), *count as u64))
                    .collect()
            })
            .collect::<Vec<_>>(),
    );
    let restarted = report
        .restart
        .as_ref()
        .map(|restart| format!(" ({} counts both of its runs)", restart.node))
        .unwrap_or_default();
    render_table(
        &mut out,
        &format!("Store writes, per key and node{restarted}"),
        "key",
        &report.names,
        &report
            .writes
            .iter()
            .map(|writes| writes.clone().into_iter().collect())
            .collect::<Vec<_>>(),
    );
    render_latencies(&mut out, report);
    render_checks(&mut out, report);
    out
}

fn render_payments(out: &mut String, report: &Report) {
    let tally = &report.payments;
    let failed = tally.failures.len();
    let sent = tally.succeeded + failed;
    let _ = writeln!(out, "Payments");
    let _ = writeln!(
        out,
        "  sent {sent} of {}, succeeded {}, failed {failed}, in {} ({:.1} per second, restart excluded)",
        tally.requested,
        tally.succeeded,
        format_duration(tally.paying),
        rate(sent, tally.paying),
    );
    for failure in &tally.failures {
        let _ = writeln!(out, "  failure: {failure}");
    }
    if let Some(restart) = &report.restart {
        let _ = writeln!(
            out,
            "  {} stopped after {} {} in {} (final writes included), read back from disk and reconnected in {}",
            restart.node,
            restart.after_payments,
            if restart.after_payments == 1 { "payment" } else { "payments" },
            format_duration(restart.stop_took),
            format_duration(restart.start_took),
        );
    }
    let _ = match &report.data_dir {
        Some(dir) => writeln!(out, "  node data kept in {}", dir.display()),
        None => writeln!(out, "  node data was in a temporary directory, now removed"),
    };
    let _ = writeln!(out);
}

/// Writes a table with one row per key found in any column and one column per node.
fn render_table(
    out: &mut String,
    title: &str,
    key_header: &str,
    names: &[String],
    columns: &[Vec<(String, u64)>],
) {
    let keys: BTreeSet<&str> = columns
        .iter()
        .flat_map(|column| column.iter().map(|(key, _)| key.as_str()))
        .collect();
    let key_width = keys
        .iter()
        .map(|key| key.len())
        .chain([key_header.len()])
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "{title}");
    let _ = write!(out, "  {key_header:<key_width$}");
    for name in names {
        let _ = write!(out, "  {name:>8}");
    }
    let _ = writeln!(out);
    for key in keys {
        let _ = write!(out, "  {key:<key_width$}");
        for column in columns {
            let count = column
                .iter()
                .find(|(candidate, _)| candidate == key)
                .map_or(0, |(_, count)| *count);
            let _ = write!(out, "  {count:>8}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out);
}

fn render_latencies(out: &mut String, report: &Report) {
    let payee = report.names.last().map_or("the payee", String::as_str);
    let _ = writeln!(out, "Latency at {payee}, the payee");
    let rows = [
        (
            "event dispatch (claim_funds returned -> PaymentClaimed handled)",
            &report.dispatch,
        ),
        (
            "persist lag (claim_funds returned -> ChannelManager written)",
            &report.persist,
        ),
    ];
    for (label, samples) in rows {
        let quantile = |q| percentile(samples, q).map_or("-".to_string(), format_duration);
        let _ = writeln!(
            out,
            "  {label:<64} p50 {:>9}  p99 {:>9}  ({} payments)",
            quantile(0.5),
            quantile(0.99),
            samples.len()
        );
    }
    let _ = writeln!(out);
}

fn render_checks(out: &mut String, report: &Report) {
    let _ = writeln!(out, "Checks");
    for check in &report.checks {
        let mark = if check.passed { "ok    " } else { "FAILED" };
        let _ = writeln!(out, "  {mark} {}", check.description);
    }
    let verdict = if report.passed() { "passed" } else { "FAILED" };
    let _ = writeln!(out, "\nDemo {verdict}.");
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

/// Formats `duration` with a unit that keeps three significant digits or so.
pub fn format_duration(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_a_unit() {
        assert_eq!(format_duration(Duration::from_micros(85)), "85 µs");
        assert_eq!(format_duration(Duration::from_micros(1_234)), "1.23 ms");
        assert_eq!(format_duration(Duration::from_millis(2_310)), "2.31 s");
    }
}
