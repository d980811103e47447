//! The event gate for the async runner: the same rule as the blocking gate in `ledger.rs`,
//! but an event that must wait for a ChannelManager write awaits it instead of blocking a
//! thread.

use std::sync::Arc;

use lightning::events::ReplayEvent;
use tokio::sync::Notify;
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
    /// Woken by the ledger after every completed write and on close. Every waiter wakes,
    /// because the OnionMessenger polls several handler futures at once.
    written: Arc<Notify>,
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
        loop {
            // Registered before the check, so a write that completes in between still wakes
            // this waiter.
            let written = self.written.notified();
            let mut written = std::pin::pin!(written);
            written.as_mut().enable();
            if self.ledger.has_written(target)? {
                return Ok(());
            }
            written.await;
        }
    }
}

impl Core {
    /// Returns the gate for the async event task.
    pub(crate) fn async_gate(&self) -> AsyncGate {
        let written = Arc::new(Notify::new());
        let waiters = Arc::clone(&written);
        self.ledger
            .set_listener(Box::new(move || waiters.notify_waiters()));
        AsyncGate {
            ledger: Arc::clone(&self.ledger),
            manager: Arc::clone(&self.components.channel_manager),
            processor: self.signal.clone(),
            written,
        }
    }
}
