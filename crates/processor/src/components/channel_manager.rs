//! The ChannelManager as the processor sees it.

use lightning::events::{EventHandler, EventsProvider};
use lightning::ln::channelmanager::AChannelManager;
use lightning::util::ser::Writeable;

use super::{register_on, WakeCallback};

/// The ChannelManager duties the processor drives.
///
/// Implemented for every LDK type that implements [`AChannelManager`], such as
/// `ChannelManager<..>` itself, so an `Arc<ChannelManager<..>>` can be handed to the builder.
///
/// # Contract
/// - [`get_and_clear_needs_persistence`](Self::get_and_clear_needs_persistence) clears the
///   flag as it reads it, so a caller that gets `true` owes a write until one succeeds.
/// - [`encode`](Self::encode) must not be called from inside an event handler: LDK documents
///   that writing the ChannelManager from its own event handler can deadlock.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait ChannelManagerDriver: Send + Sync {
    /// Hands every pending event to `handler`, in order, as LDK's `process_pending_events`.
    fn process_pending_events(&self, handler: &dyn EventHandler);

    /// Registers `callback` on the current event-or-persistence-needed future.
    fn register_wake(&self, callback: WakeCallback);

    /// Returns whether the ChannelManager needs a write, clearing LDK's flag.
    fn get_and_clear_needs_persistence(&self) -> bool;

    /// Returns the serialized ChannelManager, the bytes stored under key `manager`.
    fn encode(&self) -> Vec<u8>;

    /// Calls `timer_tick_occurred`, the once-a-minute housekeeping.
    fn timer_tick_occurred(&self);

    /// Returns whether HTLC forwards are waiting for `process_pending_htlc_forwards`.
    fn needs_pending_htlc_processing(&self) -> bool;

    /// Forwards, fails or claims the pending HTLCs.
    fn process_pending_htlc_forwards(&self);
}

impl<C> ChannelManagerDriver for C
where
    C: AChannelManager + Send + Sync + ?Sized,
{
    fn process_pending_events(&self, handler: &dyn EventHandler) {
        self.get_cm().process_pending_events(handler);
    }

    fn register_wake(&self, callback: WakeCallback) {
        register_on(
            &self.get_cm().get_event_or_persistence_needed_future(),
            callback,
        );
    }

    fn get_and_clear_needs_persistence(&self) -> bool {
        self.get_cm().get_and_clear_needs_persistence()
    }

    fn encode(&self) -> Vec<u8> {
        self.get_cm().encode()
    }

    fn timer_tick_occurred(&self) {
        self.get_cm().timer_tick_occurred();
    }

    fn needs_pending_htlc_processing(&self) -> bool {
        self.get_cm().needs_pending_htlc_processing()
    }

    fn process_pending_htlc_forwards(&self) {
        self.get_cm().process_pending_htlc_forwards();
    }
}
