//! The measurements, each run on one contender at a time.

use std::time::{Duration, Instant};

use vigil_simnet::{dispatch_latencies_since, persist_lags_since, SimnetError};

use crate::contender::{Contender, PAYEE, PAYER, PAYMENT_MSAT};
use crate::threads::{sample_all, ThreadSample};

/// The activity of the processor threads during an idle window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Idle {
    /// Growth of the threads' CPU time and voluntary context switches.
    pub threads: ThreadSample,
    /// Wakeups counted by Vigil's own processors, if the contender is Vigil.
    pub vigil_wakeups: Option<u64>,
    /// Length of the window.
    pub window: Duration,
}

/// Samples the processor threads over `window` of idle time, after `quiet` without work.
pub fn idle(contender: &Contender, quiet: Duration, window: Duration) -> Idle {
    std::thread::sleep(quiet);
    let threads_before = sample_all(&contender.threads);
    let wakeups_before = contender.vigil_wakeups();
    let started = Instant::now();
    std::thread::sleep(window);
    let threads_after = sample_all(&contender.threads);
    let window = started.elapsed();
    let wakeups_after = contender.vigil_wakeups();
    Idle {
        threads: threads_after.since(&threads_before),
        vigil_wakeups: wakeups_after
            .zip(wakeups_before)
            .map(|(after, before)| after.saturating_sub(before)),
        window,
    }
}

/// Pays the payee `count` times, one payment after the other.
///
/// # Errors
///
/// Returns the simnet's error when a payment fails.
pub fn pay_in_sequence(contender: &Contender, count: usize) -> Result<(), SimnetError> {
    for _ in 0..count {
        contender.simnet.pay(PAYER, PAYEE, PAYMENT_MSAT)?;
    }
    Ok(())
}

/// Returns the payee's dispatch latencies and persistence lags of the payments claimed
/// since `since`.
///
/// # Errors
///
/// Returns the simnet's error when the payee is not running.
pub fn latencies_since(
    contender: &Contender,
    since: Instant,
) -> Result<(Vec<Duration>, Vec<Duration>), SimnetError> {
    let recorder = contender.simnet.recorder(PAYEE)?;
    let node = contender.simnet.node(PAYEE)?;
    Ok((
        dispatch_latencies_since(&recorder, since),
        persist_lags_since(&recorder, node.store(), since),
    ))
}

/// Times `stop()` of the payer's processor and starts a new one, after `idle_for` of
/// idle time, so that the stop comes at a different point of the processor's wait each time.
///
/// # Errors
///
/// Returns the simnet's error when the processor fails to stop or start.
pub fn stop_latency(contender: &Contender, idle_for: Duration) -> Result<Duration, SimnetError> {
    std::thread::sleep(idle_for);
    let started = Instant::now();
    contender.simnet.stop_processor(PAYER)?;
    let took = started.elapsed();
    contender.simnet.start_processor(PAYER)?;
    Ok(took)
}

/// The outcome of a burst of payments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Burst {
    /// Payments sent.
    pub payments: usize,
    /// Payments that failed, at send or later.
    pub failed: usize,
    /// From the first send to the last payment's completion at both ends.
    pub elapsed: Duration,
    /// ChannelManager writes of the payer, until every HTLC settled.
    pub payer_writes: u64,
    /// ChannelManager writes of the payee, until every HTLC settled.
    pub payee_writes: u64,
}

/// Sends `count` payments with at most `in_flight` unfinished at any time, waits until all
/// are done and every HTLC is settled, and counts the ChannelManager writes of both nodes.
///
/// A payment is sent only while the channel has room for it (see `channel_has_room`),
/// because a payment LDK cannot route still marks the ChannelManager as needing a write and
/// would inflate the count.
///
/// # Errors
///
/// Returns the simnet's error when a node stops or a wait times out.
pub fn burst(contender: &Contender, count: usize, in_flight: usize) -> Result<Burst, SimnetError> {
    let simnet = &contender.simnet;
    let payer = simnet.node(PAYER)?;
    let payee = simnet.node(PAYEE)?;
    let writes_before = (
        payer.store().writes("manager"),
        payee.store().writes("manager"),
    );
    let finished = || finished_payments(contender);
    let claimed = || {
        simnet
            .recorder(PAYEE)
            .map_or(0, |r| r.count("PaymentClaimed"))
    };
    let (finished_before, claimed_before) = (finished(), claimed());
    let failed_before = failed_payments(contender);

    let started = Instant::now();
    let mut sent = 0;
    let mut rejected = 0;
    while sent + rejected < count {
        let done = finished() - finished_before;
        let room = || sent - done.min(sent) < in_flight && channel_has_room(contender);
        if !room() {
            simnet.wait_for("room in the channel for the next payment", || {
                finished() - finished_before > done || channel_has_room(contender)
            })?;
            continue;
        }
        match simnet.send_payment(PAYER, PAYEE, PAYMENT_MSAT) {
            Ok(_) => sent += 1,
            Err(_) => rejected += 1,
        }
    }
    simnet.wait_for("every payment of the burst to finish", || {
        finished() - finished_before >= sent
    })?;
    let failed_later = failed_payments(contender) - failed_before;
    simnet.wait_for(
        "every successful payment of the burst to be claimed",
        || claimed() - claimed_before + failed_later >= sent,
    )?;
    let elapsed = started.elapsed();

    wait_for_settled_htlcs(contender)?;
    Ok(Burst {
        payments: count,
        failed: rejected + failed_later,
        elapsed,
        payer_writes: payer.store().writes("manager") - writes_before.0,
        payee_writes: payee.store().writes("manager") - writes_before.1,
    })
}

/// Returns whether the payer's channel can take one more payment now.
///
/// A payment the payer already saw succeed keeps its HTLC in the channel until both
/// sides revoked the old commitment, so counting finished payments alone overfills the
/// channel: LDK then finds no route and fails the payment.
fn channel_has_room(contender: &Contender) -> bool {
    contender.simnet.node(PAYER).is_ok_and(|node| {
        node.channel_manager()
            .list_usable_channels()
            .iter()
            .any(|channel| channel.next_outbound_htlc_limit_msat >= PAYMENT_MSAT)
    })
}

/// Returns the payer's count of payments that succeeded or failed.
fn finished_payments(contender: &Contender) -> usize {
    contender.simnet.recorder(PAYER).map_or(0, |recorder| {
        recorder.count("PaymentSent") + recorder.count("PaymentFailed")
    })
}

fn failed_payments(contender: &Contender) -> usize {
    contender
        .simnet
        .recorder(PAYER)
        .map_or(0, |recorder| recorder.count("PaymentFailed"))
}

/// Waits until neither node has an HTLC in flight and the processors had a moment to write
/// what the last messages changed.
fn wait_for_settled_htlcs(contender: &Contender) -> Result<(), SimnetError> {
    let simnet = &contender.simnet;
    simnet.wait_for("every HTLC of the burst to settle", || {
        [PAYER, PAYEE].iter().all(|index| {
            simnet.node(*index).is_ok_and(|node| {
                node.channel_manager()
                    .list_channels()
                    .iter()
                    .all(|channel| {
                        channel.pending_inbound_htlcs.is_empty()
                            && channel.pending_outbound_htlcs.is_empty()
                    })
            })
        })
    })?;
    // NOTE: a write owed for the last message may land just after this pause and go
    // uncounted; both processors get the same pause.
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}
