//! A handler blocked on a ChainMonitor event does not hold back the funding of a new channel
//! or the ChannelManager write that follows it.
//!
//! Funding a channel makes the ChannelManager call `ChainMonitor::watch_channel`, which takes
//! the ChainMonitor's monitors lock for writing. In the simnet it runs on the thread that
//! delivers `funding_created`, and the processor thread's `PeerManager::process_events` waits
//! behind it. LDK 0.2.7's blocking `ChainMonitor::process_pending_events` holds that lock for
//! reading while the handler runs, so a blocked handler there stalled the funding and every
//! ChannelManager write after it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning::chain::channelmonitor::ANTI_REORG_DELAY;
use lightning::events::Event;
use vigil_simnet::{Simnet, SimnetConfig, UserHandler, VigilDriver};

use crate::support::stores::{tracing_opener, Trace, TraceEntry};
use crate::support::{short_intervals, within_limit, CHANNEL_SATS};

/// The node whose handler blocks: it funds the first channel, so the other node's force close
/// leaves it an output that LDK reports in `SpendableOutputs`.
const BLOCKED: usize = 0;
const CLOSER: usize = 1;

/// How long the test waits for the ChannelManager write while the handler blocks.
const WRITE_LIMIT: Duration = Duration::from_secs(30);

/// The `user_channel_id` of the channel opened while the handler blocks, above every id that
/// `Simnet::open_channel` hands out (it counts up from 1).
const SECOND_CHANNEL_ID: u128 = 1 << 64;

#[test]
fn slow_monitor_handler_does_not_delay_write() {
    within_limit(check_slow_monitor_handler);
}

fn check_slow_monitor_handler() {
    let trace = Arc::new(Trace::default());
    let opener = tracing_opener(Arc::clone(&trace));
    let (entered_sender, entered) = mpsc::channel();
    let (release_sender, release) = mpsc::channel();
    let handler = blocking_handler(Arc::clone(&trace), entered_sender, release);
    let simnet = Simnet::start_with(
        SimnetConfig::default(),
        VigilDriver::new(short_intervals()),
        |index, node| {
            if index == BLOCKED {
                node.store = Some(Arc::clone(&opener));
                node.user_handler = Some(Arc::clone(&handler));
            }
        },
    )
    .unwrap();
    // Bound after the simnet so that it drops first, also when a check below fails, because a
    // dropped sender releases the handler.
    let release_sender = release_sender;
    simnet.connect(BLOCKED, CLOSER).unwrap();
    let channel = simnet
        .open_channel(BLOCKED, CLOSER, CHANNEL_SATS, 0)
        .unwrap();

    let commitment = simnet.force_close(CLOSER, channel).unwrap();
    // LDK reports the blocked node's output on the commitment transaction once that has
    // ANTI_REORG_DELAY confirmations. The blocks before are mined here.
    while simnet.chain().confirmations(&commitment) < ANTI_REORG_DELAY - 1 {
        simnet.mine_and_sweep(1).unwrap();
    }
    let recorder = simnet.recorder(BLOCKED).unwrap();
    assert_eq!(
        recorder.count("SpendableOutputs"),
        0,
        "SpendableOutputs came before the commitment had ANTI_REORG_DELAY confirmations"
    );

    let (written_while_blocked, monitors_before) = std::thread::scope(|scope| {
        // Every block connection takes the monitors lock for writing. Where the handler blocks
        // under that lock, the maturing block's connection waits for the release, so it runs
        // on its own thread, joined at the end of the scope.
        scope.spawn(|| simnet.mine_and_sweep(1).unwrap());
        entered
            .recv_timeout(WRITE_LIMIT)
            .expect("the blocked node's handler receives SpendableOutputs");

        // From here until the release the test thread calls no simnet helper that settles the
        // network, because those deliver messages on the calling thread, and a delivery can
        // wait for the monitors lock.
        let monitors_before = written_monitors(&trace.entries());
        let blocked_id = simnet.node_id(BLOCKED).unwrap();
        simnet
            .node(CLOSER)
            .unwrap()
            .channel_manager()
            .create_channel(blocked_id, CHANNEL_SATS, 0, SECOND_CHANNEL_ID, None, None)
            .expect("the closer starts opening a second channel");
        let written_while_blocked = trace.wait_until(WRITE_LIMIT, |entries| {
            manager_written_after_new_monitor(entries, &monitors_before)
        });
        drop(release_sender);
        (written_while_blocked, monitors_before)
    });

    let handler_returned = TraceEntry::HandlerReturned("SpendableOutputs");
    assert!(
        trace.wait_for(&handler_returned, 0, WRITE_LIMIT),
        "the released handler returned: {:?}",
        trace.entries()
    );
    let entries = trace.entries();
    assert!(
        written_while_blocked,
        "no ChannelManager write after the second channel's monitor was written while the \
         handler blocked: {entries:?}"
    );
    let started = position(&entries, |entry| {
        *entry == TraceEntry::HandlerStarted("SpendableOutputs")
    });
    let new_monitor = position(&entries, |entry| is_new_monitor(entry, &monitors_before));
    let manager_written = new_monitor
        + position(&entries[new_monitor..], |entry| {
            *entry == TraceEntry::ManagerWritten
        });
    let returned = position(&entries, |entry| *entry == handler_returned);
    assert!(
        started < new_monitor,
        "the handler blocked before the funding: {entries:?}"
    );
    assert!(
        manager_written < returned,
        "the ChannelManager was written before the handler returned: {entries:?}"
    );
}

/// Returns a handler that, on the first `SpendableOutputs` only, records its start, reports
/// it to `entered` and blocks until `release` receives a message or its sender is dropped.
fn blocking_handler(trace: Arc<Trace>, entered: Sender<()>, release: Receiver<()>) -> UserHandler {
    let entered = Mutex::new(entered);
    let release = Mutex::new(release);
    let blocked_once = AtomicBool::new(false);
    Arc::new(move |event: &Event| {
        if !matches!(event, Event::SpendableOutputs { .. }) {
            return Ok(());
        }
        if blocked_once.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        trace.push(TraceEntry::HandlerStarted("SpendableOutputs"));
        let _ = entered.lock().unwrap().send(());
        let _ = release.lock().unwrap().recv();
        trace.push(TraceEntry::HandlerReturned("SpendableOutputs"));
        Ok(())
    })
}

/// Returns the keys of the ChannelMonitors written in `entries`.
fn written_monitors(entries: &[TraceEntry]) -> HashSet<String> {
    entries
        .iter()
        .filter_map(|entry| match entry {
            TraceEntry::MonitorWritten(key) => Some(key.clone()),
            _ => None,
        })
        .collect()
}

fn is_new_monitor(entry: &TraceEntry, known: &HashSet<String>) -> bool {
    matches!(entry, TraceEntry::MonitorWritten(key) if !known.contains(key))
}

/// Returns whether a ChannelManager write completed after the first write of a ChannelMonitor
/// not in `known`, which `watch_channel` makes for a new channel.
fn manager_written_after_new_monitor(entries: &[TraceEntry], known: &HashSet<String>) -> bool {
    entries
        .iter()
        .skip_while(|entry| !is_new_monitor(entry, known))
        .any(|entry| *entry == TraceEntry::ManagerWritten)
}

fn position(entries: &[TraceEntry], matches: impl Fn(&TraceEntry) -> bool) -> usize {
    entries
        .iter()
        .position(matches)
        .unwrap_or_else(|| panic!("an expected entry is missing from the trace: {entries:?}"))
}
