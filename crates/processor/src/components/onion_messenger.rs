//! The OnionMessenger as the processor sees it.

use lightning::events::{EventHandler, EventsProvider};
use lightning::ln::msgs::OnionMessageHandler;
use lightning::onion_message::messenger::AOnionMessenger;

use super::{register_on, WakeCallback};

/// The OnionMessenger duties the processor drives.
///
/// Implemented for every LDK type that implements [`AOnionMessenger`].
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait OnionMessengerDriver: Send + Sync {
    /// Hands every pending onion-message event to `handler`.
    fn process_pending_events(&self, handler: &dyn EventHandler);

    /// Registers `callback` on the current update future.
    fn register_wake(&self, callback: WakeCallback);

    /// Calls `OnionMessageHandler::timer_tick_occurred`, which expires buffered messages.
    fn timer_tick_occurred(&self);
}

impl<O> OnionMessengerDriver for O
where
    O: AOnionMessenger + Send + Sync + ?Sized,
{
    fn process_pending_events(&self, handler: &dyn EventHandler) {
        self.get_om().process_pending_events(handler);
    }

    fn register_wake(&self, callback: WakeCallback) {
        register_on(&self.get_om().get_update_future(), callback);
    }

    fn timer_tick_occurred(&self) {
        OnionMessageHandler::timer_tick_occurred(self.get_om());
    }
}
