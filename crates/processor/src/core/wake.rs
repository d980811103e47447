//! Callbacks on the LDK wake futures of the components, one per completion.
//!
//! LDK hands out the same future until it completes, so a callback registered on every turn
//! would pile up on an idle node. Each source keeps an `armed` flag: set when a callback is
//! registered, cleared by the callback when it runs. A turn registers only on sources that
//! are not armed, so the number of registrations grows by one per completion.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use vigil_scheduler::Signal;

use crate::components::WakeCallback;
use crate::stats::StatsRecorder;

/// A component whose LDK future can wake the processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WakeKind {
    ChannelManager,
    ChainMonitor,
    OnionMessenger,
    Liquidity,
}

type Register = Box<dyn Fn(WakeCallback) + Send>;

struct WakeSource {
    kind: WakeKind,
    register: Register,
    armed: Arc<AtomicBool>,
    fired: Arc<AtomicBool>,
}

pub(crate) struct WakeSources {
    sources: Vec<WakeSource>,
    /// Raised by every callback: the processor's signal, and the event worker's if any.
    signals: Vec<Signal>,
    stats: Arc<StatsRecorder>,
}

impl WakeSources {
    pub(crate) fn new(signals: Vec<Signal>, stats: Arc<StatsRecorder>) -> Self {
        Self {
            sources: Vec::new(),
            signals,
            stats,
        }
    }

    /// Adds a source; `register` registers a callback on its current LDK future.
    pub(crate) fn add(&mut self, kind: WakeKind, register: Register) {
        self.sources.push(WakeSource {
            kind,
            register,
            armed: Arc::new(AtomicBool::new(false)),
            fired: Arc::new(AtomicBool::new(false)),
        });
    }

    /// Registers a callback on every source whose previous callback ran, or that has none.
    pub(crate) fn rearm(&self) {
        for source in &self.sources {
            if source.armed.swap(true, Ordering::AcqRel) {
                continue;
            }
            let armed = Arc::clone(&source.armed);
            let fired = Arc::clone(&source.fired);
            let signals = self.signals.clone();
            self.stats.wake_registered();

            // NOTE: LDK may run this while holding its own locks, so it only flips flags
            // and raises signals, and calls nothing in LDK.
            (source.register)(Box::new(move || {
                fired.store(true, Ordering::Release);
                armed.store(false, Ordering::Release);
                for signal in &signals {
                    signal.raise();
                }
            }));
        }
    }

    /// Returns whether `kind`'s future completed since the last call, clearing the record.
    pub(crate) fn take_fired(&self, kind: WakeKind) -> bool {
        self.sources
            .iter()
            .filter(|source| source.kind == kind)
            .any(|source| source.fired.swap(false, Ordering::AcqRel))
    }
}
