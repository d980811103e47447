//! A plain-text progress bar on stderr.

use std::io::{IsTerminal, Write};

const BAR_WIDTH: usize = 30;

/// Progress of the payments, redrawn in place on a terminal and printed every tenth of the
/// way otherwise, so that a log file gets a few lines instead of one per payment.
pub struct Progress {
    total: usize,
    done: usize,
    failed: usize,
    terminal: bool,
    // The last tenth printed when stderr is not a terminal.
    printed_tenth: usize,
}

impl Progress {
    /// Returns a bar for `total` payments and draws it empty.
    pub fn new(total: usize) -> Self {
        let progress = Self {
            total,
            done: 0,
            failed: 0,
            terminal: std::io::stderr().is_terminal(),
            printed_tenth: 0,
        };
        if progress.terminal {
            progress.draw();
        }
        progress
    }

    /// Counts one finished payment, failed or not, and redraws.
    pub fn advance(&mut self, succeeded: bool) {
        self.done += 1;
        if !succeeded {
            self.failed += 1;
        }
        if self.terminal {
            self.draw();
            return;
        }
        let tenth = self.done * 10 / self.total.max(1);
        if tenth > self.printed_tenth {
            self.printed_tenth = tenth;
            status_line!("{}", self.line());
        }
    }

    /// Prints `message` on its own line, above the bar.
    pub fn note(&mut self, message: &str) {
        if self.terminal {
            status!("\r\x1b[2K");
            status_line!("{message}");
            self.draw();
        } else {
            status_line!("{message}");
        }
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.terminal {
            status_line!();
        }
    }

    fn draw(&self) {
        status!("\r{}", self.line());
        let _ = std::io::stderr().flush();
    }

    fn line(&self) -> String {
        let filled = self.done * BAR_WIDTH / self.total.max(1);
        format!(
            "payments [{}{}] {}/{}, {} failed",
            "#".repeat(filled),
            "-".repeat(BAR_WIDTH - filled),
            self.done,
            self.total,
            self.failed
        )
    }
}
