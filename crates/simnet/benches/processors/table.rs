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

/// A metric and its figure for each contender, Vigil first.
pub struct Row {
    /// The measured quantity.
    pub metric: String,
    /// Vigil's figure.
    pub vigil: Figure,
    /// The reference processor's figure.
    pub reference: Figure,
}

impl Row {
    /// Returns a row for `metric`.
    pub fn new(metric: impl Into<String>, vigil: Figure, reference: Figure) -> Self {
        Self {
            metric: metric.into(),
            vigil,
            reference,
        }
    }

    fn ratio(&self) -> String {
        match (self.vigil.value(), self.reference.value()) {
            (Some(vigil), Some(reference)) if reference > 0.0 => {
                format!("{:.2}", vigil / reference)
            }
            _ => "-".to_string(),
        }
    }
}

/// Prints `rows` as a Markdown table with the contenders' names as headers.
pub fn print(rows: &[Row], vigil: &str, reference: &str) {
    println!("| metric | {vigil} | {reference} | {vigil} / {reference} |");
    println!("| --- | ---: | ---: | ---: |");
    for row in rows {
        println!(
            "| {} | {} | {} | {} |",
            row.metric,
            row.vigil.render(),
            row.reference.render(),
            row.ratio()
        );
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
