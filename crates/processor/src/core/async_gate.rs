//! The event gate for the async runner: the same rule as the blocking gate in `ledger.rs`,
//! but an event that must wait for a ChannelManager write awaits it instead of blocking a
//! thread.

use std::sync::Arc;

use lightning::events::ReplayEvent;
use vigil_scheduler::Signal;

use super::ledger::ManagerLedger;
use super::Core;
use crate::components::ChannelManagerDriver;

/// Decides, before each event, whether it may be handed to the user now.
pub(crate) struct AsyncGate {
    ledger: Arc<ManagerLedger>,
    manager: Arc<dyn ChannelManagerDriver>,
    /// The core's signal: raised so that an owed write starts at once.
    processor: Signal,
    /// Raised by the ledger after every completed write and on close.
    written: Signal,
}

impl AsyncGate {
    /// Returns once every ChannelManager write owed at the time of the call is stored.
    ///
    /// # Errors
    ///
    /// Returns `ReplayEvent` when the processor stopped first; LDK keeps the event and hands
    /// it out again after the next start.
    pub(crate) async fn admit(&self) -> Result<(), ReplayEvent> {
        let Some(target) = self.ledger.gate_target(&*self.manager)? else {
            return Ok(());
        };
        self.processor.raise();
        // A raise made between the check and the await is kept by the signal, so no write
        // completion is missed.
        while !self.ledger.has_written(target)? {
            self.written.raised().await;
        }
        Ok(())
    }
}

impl Core {
    /// Returns the gate for an async event task; only one task may await it at a time,
    /// because each completed write wakes one waiter.
    pub(crate) fn async_gate(&self) -> AsyncGate {
        let written = Signal::new();
        self.ledger.set_listener(written.clone());
        AsyncGate {
            ledger: Arc::clone(&self.ledger),
            manager: Arc::clone(&self.components.channel_manager),
            processor: self.signal.clone(),
            written,
        }
    }
}
