//! The side-by-side table: one row per metric, every contender's figure and the ratios to
//! the references.

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

/// A reference contender and the contenders compared with it. Each challenger's figure is
/// divided by the reference's in a ratio column of its own.
pub struct Group {
    /// Indexes of the contenders compared with the reference, in column order.
    pub challengers: Vec<usize>,
    /// Index of the reference contender.
    pub reference: usize,
}

fn ratio(challenger: &Figure, reference: &Figure) -> String {
    match (challenger.value(), reference.value()) {
        (Some(challenger), Some(reference)) if reference > 0.0 => {
            format!("{:.2}", challenger / reference)
        }
        _ => "-".to_string(),
    }
}

/// Prints `rows` as a Markdown table, one block of columns per group: the challengers'
/// figures, the reference's figure, then one column per challenger with the ratio
/// challenger / reference. `names` and each row's figures are indexed by contender.
pub fn print(rows: &[Row], names: &[&str], groups: &[Group]) {
    let mut header = "| metric |".to_string();
    let mut rule = "| --- |".to_string();
    for group in groups {
        for index in group.challengers.iter().chain([&group.reference]) {
            header.push_str(&format!(" {} |", names[*index]));
            rule.push_str(" ---: |");
        }
        for challenger in &group.challengers {
            let (challenger, reference) = (names[*challenger], names[group.reference]);
            header.push_str(&format!(" {challenger} / {reference} |"));
            rule.push_str(" ---: |");
        }
    }
    println!("{header}");
    println!("{rule}");
    for row in rows {
        let mut line = format!("| {} |", row.metric);
        for group in groups {
            for index in group.challengers.iter().chain([&group.reference]) {
                line.push_str(&format!(" {} |", row.figures[*index].render()));
            }
            let reference = &row.figures[group.reference];
            for challenger in &group.challengers {
                let ratio = ratio(&row.figures[*challenger], reference);
                line.push_str(&format!(" {ratio} |"));
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
