//! The demo's run: a line of nodes under Vigil, payments, a restart from disk and checks.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lightning::events::Event;
use lightning::ln::types::ChannelId;
use vigil_simnet::{
    dispatch_latencies, persist_lags, persist_lags_since, Node, Simnet, SimnetConfig, SimnetError,
    VigilDriver,
};

use crate::args::Args;
use crate::progress::Progress;

/// The capacity of every channel, in satoshis: room for the most payments the demo allows.
const CHANNEL_SATS: u64 = 10_000_000;
/// The amount of each payment, in millisatoshis. At 6,000 sat it is above the dust limit, so
/// every payment adds a real HTLC output to the commitment transactions.
const PAYMENT_MSAT: u64 = 6_000_000;
/// How long a step may take before the demo reports it as timed out.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);
/// Failed payments in a row after which the demo stops sending.
const MAX_FAILURES_IN_A_ROW: usize = 3;

/// The outcome of the payments.
#[derive(Debug, Default)]
pub struct PaymentTally {
    /// Payments the demo meant to send.
    pub requested: usize,
    /// Payments that succeeded.
    pub succeeded: usize,
    /// Payments that failed, each with its error.
    pub failures: Vec<String>,
    /// Time spent sending and waiting for payments, without the restart.
    pub paying: Duration,
}

/// The timings of the middle node's restart.
#[derive(Debug)]
pub struct RestartReport {
    /// The node's name.
    pub node: String,
    /// Payments done before the restart.
    pub after_payments: usize,
    /// How long `stop_node` took, including the processor's final writes.
    pub stop_took: Duration,
    /// How long reading the node back from disk and reconnecting it took.
    pub start_took: Duration,
}

/// One check of the run, passed or not.
#[derive(Debug)]
pub struct Check {
    /// Whether it passed.
    pub passed: bool,
    /// The condition checked, with the figures seen.
    pub description: String,
}

/// Everything the summary prints.
#[derive(Debug, Default)]
pub struct Report {
    /// The nodes' names, by index.
    pub names: Vec<String>,
    /// The directory of the nodes' data, or `None` for a temporary directory.
    pub data_dir: Option<PathBuf>,
    /// The payments.
    pub payments: PaymentTally,
    /// The restart, if it happened.
    pub restart: Option<RestartReport>,
    /// Events handled per kind, per node.
    pub events: Vec<BTreeMap<&'static str, usize>>,
    /// Store writes per key group, per node, across the restart.
    pub writes: Vec<BTreeMap<String, u64>>,
    /// Dispatch latency of each payment's `PaymentClaimed` at the payee.
    pub dispatch: Vec<Duration>,
    /// Persistence lag of each payment's claim at the payee.
    pub persist: Vec<Duration>,
    /// The checks, in order.
    pub checks: Vec<Check>,
}

impl Report {
    fn check(&mut self, passed: bool, description: String) {
        self.checks.push(Check {
            passed,
            description,
        });
    }

    /// Returns whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.passed)
    }
}

/// The running demo: the simnet and what it learned so far.
struct Demo {
    simnet: Simnet,
    payee: usize,
    middle: usize,
    report: Report,
    // Writes made by the middle node before its restart, which its new store does not count.
    writes_before_restart: BTreeMap<String, u64>,
    // When the payee started again, if the restarted node is the payee. Its new store only
    // records the writes made since.
    payee_restarted_at: Option<Instant>,
}

/// Runs the demo and returns its report; a failed payment or check is in the report.
///
/// # Errors
///
/// Returns the simnet's error when the nodes cannot start or the channels cannot open.
pub fn run(args: &Args) -> Result<Report, SimnetError> {
    let mut demo = Demo::start(args)?;
    let mut progress = Progress::new(args.payments);
    demo.pay_all(args.payments, &mut progress);
    progress.finish();
    demo.check_outcome();
    Ok(demo.finish())
}

impl Demo {
    fn start(args: &Args) -> Result<Self, SimnetError> {
        let config = SimnetConfig {
            nodes: args.nodes,
            data_dir: args.data_dir.clone(),
            timeout: STEP_TIMEOUT,
            ..SimnetConfig::default()
        };
        let location = match &args.data_dir {
            Some(dir) => dir.display().to_string(),
            None => "a temporary directory".to_string(),
        };
        status_line!("starting {} nodes in {location}", args.nodes);
        let simnet = Simnet::start(config, VigilDriver::new(vigil_processor::Config::default()))?;
        let names = simnet.names();
        for index in 0..args.nodes - 1 {
            simnet.connect(index, index + 1)?;
        }
        for index in 0..args.nodes - 1 {
            status_line!(
                "opening and confirming a {CHANNEL_SATS} sat channel {} -> {}",
                names[index],
                names[index + 1]
            );
            simnet.open_channel(index, index + 1, CHANNEL_SATS, 0)?;
        }
        status_line!("waiting for every node to learn the channels from gossip");
        simnet.wait_for_graph(args.nodes - 1)?;

        let report = Report {
            names,
            data_dir: args.data_dir.clone(),
            payments: PaymentTally {
                requested: args.payments,
                ..PaymentTally::default()
            },
            ..Report::default()
        };
        Ok(Self {
            simnet,
            payee: args.nodes - 1,
            middle: args.nodes / 2,
            report,
            writes_before_restart: BTreeMap::new(),
            payee_restarted_at: None,
        })
    }

    /// Pays the last node from the first, restarting the middle node halfway.
    fn pay_all(&mut self, payments: usize, progress: &mut Progress) {
        let restart_after = payments / 2;
        let mut failures_in_a_row = 0;
        for done in 0..payments {
            if done == restart_after && !self.restart_middle(done, progress) {
                return;
            }
            let started = Instant::now();
            let result = self.simnet.pay(0, self.payee, PAYMENT_MSAT);
            self.report.payments.paying += started.elapsed();
            progress.advance(result.is_ok());
            match result {
                Ok(_) => {
                    self.report.payments.succeeded += 1;
                    failures_in_a_row = 0;
                }
                Err(error) => {
                    progress.note(&format!("payment {} failed: {error}", done + 1));
                    self.report.payments.failures.push(error.to_string());
                    failures_in_a_row += 1;
                }
            }
            if failures_in_a_row == MAX_FAILURES_IN_A_ROW {
                progress.note("stopping the payments after three failures in a row");
                return;
            }
        }
    }

    /// Stops the middle node and starts it again from its data directory; records a failed
    /// check and returns `false` if it could not.
    fn restart_middle(&mut self, done: usize, progress: &mut Progress) -> bool {
        let name = self.report.names[self.middle].clone();
        progress.note(&format!(
            "stopping {name} after {done} payments and starting it again from disk"
        ));
        match self.try_restart_middle(done) {
            Ok((restart, same_channels)) => {
                self.report.check(
                    true,
                    format!("{name} stopped and started again from its data directory"),
                );
                self.report.check(
                    same_channels,
                    format!("{name} read back the same channels and balances it had"),
                );
                self.report.restart = Some(restart);
                true
            }
            Err(error) => {
                progress.note(&format!("the restart of {name} failed: {error}"));
                self.report.check(
                    false,
                    format!("{name} stopped and started again from its data directory ({error})"),
                );
                false
            }
        }
    }

    /// Restarts the middle node; returns the restart's figures and whether the node read
    /// back the channels it had.
    fn try_restart_middle(&mut self, done: usize) -> Result<(RestartReport, bool), SimnetError> {
        let middle = self.middle;
        self.wait_for_settled_htlcs()?;
        let node = self.simnet.node(middle)?;
        let channels_before = channel_balances(&node);
        // The store is kept past the stop to read its counts; it must be dropped before the
        // restart, since it keeps the data directory locked.
        let store = Arc::clone(node.store());
        drop(node);

        let stopping = Instant::now();
        self.simnet.stop_node(middle)?;
        let stop_took = stopping.elapsed();
        self.writes_before_restart = store.write_counts();
        if middle == self.payee {
            let recorder = self.simnet.recorder(middle)?;
            self.report.persist = persist_lags(&recorder, &store);
        }
        drop(store);

        let starting = Instant::now();
        let node = self.simnet.restart_node(middle)?;
        let start_took = starting.elapsed();
        if middle == self.payee {
            self.payee_restarted_at = Some(starting);
        }
        let same_channels = channel_balances(&node) == channels_before;
        drop(node);
        self.simnet
            .wait_for("every channel to be usable again after the restart", || {
                self.all_channels_usable()
            })?;

        let restart = RestartReport {
            node: self.report.names[middle].clone(),
            after_payments: done,
            stop_took,
            start_took,
        };
        Ok((restart, same_channels))
    }

    /// Waits until no channel of any node has an HTLC in flight, so that the balances read
    /// before a stop are the ones the node writes at the stop.
    fn wait_for_settled_htlcs(&self) -> Result<(), SimnetError> {
        self.simnet.wait_for("every HTLC to settle", || {
            (0..self.simnet.len()).all(|index| {
                self.simnet.node(index).is_ok_and(|node| {
                    node.channel_manager()
                        .list_channels()
                        .iter()
                        .all(|channel| {
                            channel.pending_inbound_htlcs.is_empty()
                                && channel.pending_outbound_htlcs.is_empty()
                        })
                })
            })
        })
    }

    fn all_channels_usable(&self) -> bool {
        (0..self.simnet.len()).all(|index| {
            self.simnet.node(index).is_ok_and(|node| {
                let manager = node.channel_manager();
                manager.list_usable_channels().len() == manager.list_channels().len()
            })
        })
    }

    /// Adds the checks on what the nodes recorded after the payments.
    fn check_outcome(&mut self) {
        let tally = &self.report.payments;
        let (succeeded, requested) = (tally.succeeded, tally.requested);
        let all_paid = succeeded == requested && tally.failures.is_empty();
        self.report.check(
            all_paid,
            format!("every payment succeeded ({succeeded} of {requested})"),
        );

        let claimed = self.claimed_at_payee();
        self.report.check(
            claimed == succeeded,
            format!(
                "{} claimed each successful payment once ({claimed} claimed)",
                self.report.names[self.payee]
            ),
        );

        for index in 1..self.payee {
            let name = self.report.names[index].clone();
            let forwarded = self.wait_for_forwards(index, succeeded);
            self.report.check(
                forwarded >= succeeded,
                format!("{name} forwarded every successful payment ({forwarded} forwards)"),
            );
        }

        let closed: usize = (0..self.simnet.len())
            .filter_map(|index| self.simnet.recorder(index).ok())
            .map(|recorder| recorder.count("ChannelClosed"))
            .sum();
        self.report.check(
            closed == 0,
            format!("no channel was closed ({closed} ChannelClosed events)"),
        );
    }

    /// Returns the number of distinct payments the payee claimed.
    fn claimed_at_payee(&self) -> usize {
        let Ok(recorder) = self.simnet.recorder(self.payee) else {
            return 0;
        };
        let hashes: HashSet<_> = recorder
            .of_kind("PaymentClaimed")
            .into_iter()
            .filter_map(|event| match event {
                Event::PaymentClaimed { payment_hash, .. } => Some(payment_hash),
                _ => None,
            })
            .collect();
        hashes.len()
    }

    /// Waits a little for the forwarding node's last `PaymentForwarded` events, which may
    /// reach its handler after the payer learned of success, and returns their count.
    fn wait_for_forwards(&self, index: usize, expected: usize) -> usize {
        let Ok(recorder) = self.simnet.recorder(index) else {
            return 0;
        };
        let _ = self.simnet.wait_for_within(
            "every forward to be recorded",
            Duration::from_secs(5),
            || recorder.count("PaymentForwarded") >= expected,
        );
        recorder.count("PaymentForwarded")
    }

    /// Collects the figures of every node, stops them all and returns the report.
    fn finish(mut self) -> Report {
        // The payer's last `PaymentPathSuccessful` comes only once the last HTLC is removed,
        // after the payment itself succeeded. A timeout here shows in the counts, not as an
        // error of its own.
        let _ = self.wait_for_settled_htlcs();
        for index in 0..self.simnet.len() {
            let counts = self
                .simnet
                .recorder(index)
                .map(|recorder| recorder.counts())
                .unwrap_or_default();
            self.report.events.push(counts);
            let mut writes = self
                .simnet
                .node(index)
                .map(|node| node.store().write_counts())
                .unwrap_or_default();
            if index == self.middle {
                for (key, count) in &self.writes_before_restart {
                    *writes.entry(key.clone()).or_insert(0) += count;
                }
            }
            self.report.writes.push(group_keys(&writes));
        }
        if let Ok(recorder) = self.simnet.recorder(self.payee) {
            self.report.dispatch = dispatch_latencies(&recorder);
            if let Ok(node) = self.simnet.node(self.payee) {
                let lags = match self.payee_restarted_at {
                    Some(since) => persist_lags_since(&recorder, node.store(), since),
                    None => persist_lags(&recorder, node.store()),
                };
                self.report.persist.extend(lags);
            }
        }

        let stopped = self.simnet.stop_all();
        let description = match &stopped {
            Ok(()) => "every processor stopped and made its final writes".to_string(),
            Err(error) => format!("every processor stopped and made its final writes ({error})"),
        };
        self.report.check(stopped.is_ok(), description);
        self.report
    }
}

/// Returns each channel of `node` with its outbound and inbound capacity, sorted by id.
fn channel_balances(node: &Node) -> Vec<(ChannelId, u64, u64)> {
    let mut channels: Vec<_> = node
        .channel_manager()
        .list_channels()
        .into_iter()
        .map(|channel| {
            (
                channel.channel_id,
                channel.outbound_capacity_msat,
                channel.inbound_capacity_msat,
            )
        })
        .collect();
    channels.sort();
    channels
}

/// Adds up writes to keys under one namespace (`monitors/<outpoint>` into `monitors/*`), so
/// that the table has one row per kind of key.
fn group_keys(writes: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut grouped = BTreeMap::new();
    for (key, count) in writes {
        let group = match key.split_once('/') {
            Some((namespace, _)) => format!("{namespace}/*"),
            None => key.clone(),
        };
        *grouped.entry(group).or_insert(0) += count;
    }
    grouped
}
