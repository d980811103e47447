//! The PeerManager as the processor sees it.

use lightning::ln::peer_handler::APeerManager;

/// The PeerManager duties the processor drives.
///
/// Implemented for every LDK type that implements [`APeerManager`], such as
/// `PeerManager<..>` itself.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait PeerManagerDriver: Send + Sync {
    /// Sends queued messages and handles the ones read, as LDK's `process_events`.
    ///
    /// It may block on the ChannelManager's locks and may change the ChannelManager.
    fn process_events(&self);

    /// Calls `timer_tick_occurred`, which sends pings and drops unresponsive peers.
    fn timer_tick_occurred(&self);

    /// Disconnects every peer, so that no peer message changes the ChannelManager afterwards.
    fn disconnect_all_peers(&self);
}

impl<P> PeerManagerDriver for P
where
    P: APeerManager + Send + Sync + ?Sized,
{
    fn process_events(&self) {
        self.as_ref().process_events();
    }

    fn timer_tick_occurred(&self) {
        self.as_ref().timer_tick_occurred();
    }

    fn disconnect_all_peers(&self) {
        self.as_ref().disconnect_all_peers();
    }
}
