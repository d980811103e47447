//! The OnionMessenger as the processor sees it.

use lightning::events::EventHandler;
use lightning::ln::msgs::OnionMessageHandler;
use lightning::onion_message::messenger::AOnionMessenger;

use super::block_on::{block_on, handle_when_polled};
use super::{register_on, WakeCallback};

/// The OnionMessenger duties the processor drives.
///
/// Implemented for every LDK type that implements [`AOnionMessenger`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait OnionMessengerDriver: Send + Sync {
    /// Hands every pending onion-message event to `handler`, holding no lock of the
    /// OnionMessenger while `handler` runs.
    ///
    /// The reason is the one given on [`ChainMonitorDriver::process_pending_events_unlocked`].
    /// As with LDK's `process_pending_events`, an event other than `ConnectionNeeded` stays
    /// pending unless `handler` returned `Ok`. LDK ignores the result for `ConnectionNeeded`.
    ///
    /// [`ChainMonitorDriver::process_pending_events_unlocked`]: super::ChainMonitorDriver::process_pending_events_unlocked
    fn process_pending_events_unlocked(&self, handler: &dyn EventHandler);

    /// Registers `callback` on the current update future.
    fn register_wake(&self, callback: WakeCallback);

    /// Calls `OnionMessageHandler::timer_tick_occurred`, which expires buffered messages.
    fn timer_tick_occurred(&self);
}

impl<O> OnionMessengerDriver for O
where
    O: AOnionMessenger + Send + Sync + ?Sized,
{
    /// Runs LDK's `process_pending_events_async` to completion on this thread. LDK 0.2.7's
    /// blocking form hands out `ConnectionNeeded` under the recipients lock, which the
    /// onion-message timer tick and `PeerManager::process_events` (when it sends onion
    /// messages) take. The async form only creates the handler's futures under that lock,
    /// and `handle_when_polled` defers the call to the first poll, which comes after the
    /// lock is released.
    fn process_pending_events_unlocked(&self, handler: &dyn EventHandler) {
        let events = self
            .get_om()
            .process_pending_events_async(|event| handle_when_polled(handler, event));
        block_on(events);
    }

    fn register_wake(&self, callback: WakeCallback) {
        register_on(&self.get_om().get_update_future(), callback);
    }

    fn timer_tick_occurred(&self) {
        OnionMessageHandler::timer_tick_occurred(self.get_om());
    }
}
