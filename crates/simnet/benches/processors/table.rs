//! The side-by-side table: one row per metric, both figures and their ratio.

use std::time::Duration;

/// One measured figure.
#[derive(Clone, Copy, Debug)]
pub enum Figure {
    /// A time.
    Time(Duration),
    /// A number, printed with `decimals` digits after the point.
    Number {
        /// The value.
        value: f64,
        /// Digits after the point.
        decimals: usize,
    },
    /// Nothing was measured, for example no payment was claimed.
    Missing,
}

impl Figure {
    /// Returns `value` printed with `decimals` digits after the point.
    pub fn number(value: f64, decimals: usize) -> Self {
        Figure::Number { value, decimals }
    }

    /// Returns `time`, or `Missing` for `None`.
    pub fn time(time: Option<Duration>) -> Self {
        time.map_or(Figure::Missing, Figure::Time)
    }

    fn value(&self) -> Option<f64> {
        match self {
            Figure::Time(time) => Some(time.as_secs_f64()),
            Figure::Number { value, .. } => Some(*value),
            Figure::Missing => None,
        }
    }

    fn render(&self) -> String {
        match self {
            Figure::Time(time) => format_duration(*time),
            Figure::Number { value, decimals } => format!("{value:.decimals$}"),
            Figure::Missing => "-".to_string(),
        }
    }
}

/// A metric and its figure for each contender, in the contenders' order.
pub struct Row {
    /// The measured quantity.
    pub metric: String,
    /// One figure per contender.
    pub figures: Vec<Figure>,
}

impl Row {
    /// Returns a row for `metric`.
    pub fn new(metric: impl Into<String>, figures: Vec<Figure>) -> Self {
        Self {
            metric: metric.into(),
            figures,
        }
    }
}

fn ratio(vigil: &Figure, reference: &Figure) -> String {
    match (vigil.value(), reference.value()) {
        (Some(vigil), Some(reference)) if reference > 0.0 => format!("{:.2}", vigil / reference),
        _ => "-".to_string(),
    }
}

/// Prints `rows` as a Markdown table. `names` holds pairs of contenders, each a Vigil
/// processor followed by its reference, and each pair gets a column with the ratio
/// Vigil / reference.
pub fn print(rows: &[Row], names: &[&str]) {
    let mut header = "| metric |".to_string();
    let mut rule = "| --- |".to_string();
    for pair in names.chunks(2) {
        for name in pair {
            header.push_str(&format!(" {name} |"));
            rule.push_str(" ---: |");
        }
        if let [vigil, reference] = pair {
            header.push_str(&format!(" {vigil} / {reference} |"));
            rule.push_str(" ---: |");
        }
    }
    println!("{header}");
    println!("{rule}");
    for row in rows {
        let mut line = format!("| {} |", row.metric);
        for pair in row.figures.chunks(2) {
            for figure in pair {
                line.push_str(&format!(" {} |", figure.render()));
            }
            if let [vigil, reference] = pair {
                line.push_str(&format!(" {} |", ratio(vigil, reference)));
            }
        }
        println!("{line}");
    }
}

/// Formats `duration` with a unit that keeps about three significant digits.
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
