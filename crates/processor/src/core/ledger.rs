//! The processor's own record of ChannelManager writes owed, and the gate in front of the
//! user's event handler.
//!
//! LDK's `get_and_clear_needs_persistence` clears its flag as it reads it, so once read the
//! write is owed only in this record. Each time someone takes the flag, the owed generation
//! grows by one; each successful write completes the generation it started from. A write is
//! owed while `owed > written`.
//!
//! Taking the flag and recording the new generation happen under one mutex, so no thread
//! can observe "flag clear, nothing owed" in between. The gate uses that: before an event is
//! handed to the user it takes the flag itself, and if any write is owed it does not hand
//! the event out until a write that started after that moment has completed.

use std::sync::Arc;
use std::time::Instant;

use lightning::events::ReplayEvent;
use parking_lot::{Condvar, Mutex};
use vigil_scheduler::{Clock, Signal};

use crate::components::ChannelManagerDriver;
use crate::stats::StatsRecorder;

/// The behaviour of the gate when a ChannelManager write is owed before an event.
pub(crate) enum GateMode {
    /// Rejects the event with `ReplayEvent`, for a core that writes and dispatches on one
    /// thread: the caller writes, then dispatches again.
    Reject,
    /// Raises the processor's signal and blocks until the processor has written, for an
    /// event worker on its own thread.
    Wait(Signal),
}

/// A callback on every completed write and on close; it must only wake waiters.
pub(crate) type Listener = Box<dyn Fn() + Send + Sync>;

pub(crate) struct ManagerLedger {
    state: Mutex<LedgerState>,
    written: Condvar,
    /// Called after every completed write and on close, for a gate that awaits instead of
    /// blocking on the condition variable.
    listener: Mutex<Option<Listener>>,
    clock: Arc<dyn Clock>,
    stats: Arc<StatsRecorder>,
}

struct LedgerState {
    owed: u64,
    written: u64,
    /// When the oldest unwritten generation was recorded.
    owed_since: Option<Instant>,
    /// Set when the processor stops: no event is handed out afterwards.
    closed: bool,
}

impl ManagerLedger {
    /// Creates a ledger; `owed_at_start` records one write owed from the start.
    pub(crate) fn new(
        owed_at_start: bool,
        clock: Arc<dyn Clock>,
        stats: Arc<StatsRecorder>,
    ) -> Self {
        let now = clock.now();
        Self {
            state: Mutex::new(LedgerState {
                owed: u64::from(owed_at_start),
                written: 0,
                owed_since: owed_at_start.then_some(now),
                closed: false,
            }),
            written: Condvar::new(),
            listener: Mutex::new(None),
            clock,
            stats,
        }
    }

    /// Takes LDK's flag and returns the generation a write must complete, if one is owed.
    pub(crate) fn claim(&self, manager: &dyn ChannelManagerDriver) -> Option<u64> {
        let mut state = self.state.lock();
        self.take_flag(&mut state, manager);
        (state.owed > state.written).then_some(state.owed)
    }

    /// Records a write owed even when LDK's flag is clear, and returns its generation.
    pub(crate) fn claim_forced(&self, manager: &dyn ChannelManagerDriver) -> u64 {
        let mut state = self.state.lock();
        self.take_flag(&mut state, manager);
        if state.owed == state.written {
            state.owed += 1;
            state.owed_since = Some(self.clock.now());
        }
        state.owed
    }

    /// Records that a write started at `generation` succeeded, and wakes the gate.
    pub(crate) fn complete(&self, generation: u64) {
        let mut state = self.state.lock();
        if generation > state.written {
            state.written = generation;
            if let Some(since) = state.owed_since.take() {
                self.stats
                    .persist_lag(self.clock.now().saturating_duration_since(since));
            }
            if state.owed > state.written {
                state.owed_since = Some(self.clock.now());
            }
        }
        drop(state);
        self.written.notify_all();
        self.notify_listener();
    }

    /// Returns whether a write is owed, without reading LDK's flag.
    pub(crate) fn is_owed(&self) -> bool {
        let state = self.state.lock();
        state.owed > state.written
    }

    /// Returns whether the gate is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    /// Closes the gate: every event from now on is rejected, and waiters return.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.written.notify_all();
        self.notify_listener();
    }

    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "used only by the async runner")
    )]
    /// Sets the callback run after every completed write and on close.
    pub(crate) fn set_listener(&self, listener: Listener) {
        *self.listener.lock() = Some(listener);
    }

    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "used only by the async runner")
    )]
    /// Takes LDK's flag as the gate does, and returns the generation a write must complete
    /// before the next event may be handed out, or `None` when it may go now.
    ///
    /// # Errors
    ///
    /// Returns `ReplayEvent` when the gate is closed.
    pub(crate) fn gate_target(
        &self,
        manager: &dyn ChannelManagerDriver,
    ) -> Result<Option<u64>, ReplayEvent> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(ReplayEvent());
        }
        self.take_flag(&mut state, manager);
        Ok((state.written < state.owed).then_some(state.owed))
    }

    #[cfg_attr(
        not(feature = "tokio"),
        allow(dead_code, reason = "used only by the async runner")
    )]
    /// Returns whether a write that completes `generation` has succeeded.
    ///
    /// # Errors
    ///
    /// Returns `ReplayEvent` when the gate closed before that write.
    pub(crate) fn has_written(&self, generation: u64) -> Result<bool, ReplayEvent> {
        let state = self.state.lock();
        if state.written >= generation {
            Ok(true)
        } else if state.closed {
            Err(ReplayEvent())
        } else {
            Ok(false)
        }
    }

    fn notify_listener(&self) {
        if let Some(listener) = &*self.listener.lock() {
            listener();
        }
    }

    /// Decides whether the next event may be handed to the user.
    ///
    /// # Errors
    ///
    /// Returns `ReplayEvent` when the gate is closed, or when a write is owed and `mode` is
    /// [`GateMode::Reject`], or the gate closed while waiting.
    pub(crate) fn admit_event(
        &self,
        manager: &dyn ChannelManagerDriver,
        mode: &GateMode,
    ) -> Result<(), ReplayEvent> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(ReplayEvent());
        }
        self.take_flag(&mut state, manager);
        let target = state.owed;
        if state.written >= target {
            return Ok(());
        }
        match mode {
            GateMode::Reject => Err(ReplayEvent()),
            GateMode::Wait(processor) => {
                processor.raise();
                while state.written < target && !state.closed {
                    self.written.wait(&mut state);
                }
                if state.written >= target {
                    Ok(())
                } else {
                    Err(ReplayEvent())
                }
            }
        }
    }

    fn take_flag(&self, state: &mut LedgerState, manager: &dyn ChannelManagerDriver) {
        if manager.get_and_clear_needs_persistence() {
            if state.owed == state.written {
                state.owed_since = Some(self.clock.now());
            }
            state.owed += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use vigil_scheduler::{SystemClock, Wake};

    use super::*;
    use crate::testing::{Node, Optional};

    /// How long the test waits for the gate before it fails; never reached when it works.
    const FAILURE_TIMEOUT: Duration = Duration::from_secs(60);

    #[test]
    fn waiting_gate_holds_event_until_written() {
        // The gate of the event thread must hold an event until the processor completed the
        // write owed at that moment, and wake the processor so that it writes at once.
        let node = Node::new(Optional::default());
        let manager = node.channel_manager_mock();
        let ledger = ManagerLedger::new(false, Arc::new(node.clock.clone()), Arc::default());
        let processor = Signal::new();
        let admitted = AtomicBool::new(false);
        node.manager.change();

        let (woken, held, outcome) = std::thread::scope(|scope| {
            let gate = scope.spawn(|| {
                let outcome = ledger.admit_event(&manager, &GateMode::Wait(processor.clone()));
                admitted.store(true, Ordering::SeqCst);
                outcome
            });
            let woken = SystemClock.wait_until(&processor, Instant::now() + FAILURE_TIMEOUT);
            let held = !admitted.load(Ordering::SeqCst);

            // Completes the write, or closes the gate when it was never reached, so that the
            // gate thread returns and a failed check below cannot hang the test.
            match ledger.claim(&manager) {
                Some(generation) => ledger.complete(generation),
                None => ledger.close(),
            }
            if woken != Wake::Signalled {
                ledger.close();
            }
            let outcome = gate.join().expect("the gate thread did not panic");
            (woken, held, outcome)
        });

        assert_eq!(woken, Wake::Signalled, "the gate woke the processor");
        assert!(held, "held before the write");
        assert!(outcome.is_ok(), "admitted after the write");
    }
}
