//! The traits through which the processor drives the parts of a node.
//!
//! Each trait is small and object safe, so that the processor keeps them as `Arc<dyn ...>`
//! and its type carries no generic parameters. Each has an implementation for the real LDK
//! 0.2 type and, with the `mock` feature or in this crate's tests, a `mockall` mock named
//! `Mock<Trait>`.
//!
//! # Wake registration
//!
//! The components that can signal work (`register_wake`) register the callback on the LDK
//! [`Future`] they hand out at that moment. LDK runs the callback once, when that future
//! completes, or at once when it already has. The callback must not call back into LDK: the
//! processor's callbacks only raise a [`Signal`].
//!
//! [`Future`]: lightning::util::wakers::Future
//! [`Signal`]: vigil_scheduler::Signal

mod block_on;
mod chain_monitor;
mod channel_manager;
mod gossip;
mod liquidity;
mod onion_messenger;
mod peer_manager;
mod scorer;
mod sweeper;

#[cfg(feature = "ldk-compat")]
pub(crate) use block_on::{block_on, handle_when_polled};
pub use chain_monitor::ChainMonitorDriver;
#[cfg(any(test, feature = "mock"))]
pub use chain_monitor::MockChainMonitorDriver;
pub use channel_manager::ChannelManagerDriver;
#[cfg(any(test, feature = "mock"))]
pub use channel_manager::MockChannelManagerDriver;
pub use gossip::GossipDriver;
#[cfg(any(test, feature = "mock"))]
pub use gossip::MockGossipDriver;
pub use liquidity::LiquidityDriver;
#[cfg(any(test, feature = "mock"))]
pub use liquidity::MockLiquidityDriver;
#[cfg(any(test, feature = "mock"))]
pub use onion_messenger::MockOnionMessengerDriver;
pub use onion_messenger::OnionMessengerDriver;
#[cfg(any(test, feature = "mock"))]
pub use peer_manager::MockPeerManagerDriver;
pub use peer_manager::PeerManagerDriver;
#[cfg(any(test, feature = "mock"))]
pub use scorer::MockScorerDriver;
pub use scorer::ScorerDriver;
#[cfg(any(test, feature = "mock"))]
pub use sweeper::MockSweeperDriver;
pub use sweeper::SweeperDriver;

/// A callback that a component registers on its current LDK wake future.
///
/// It runs on whichever thread completes the future, possibly while LDK holds a lock, so it
/// must only record the wake and return.
pub type WakeCallback = Box<dyn Fn() + Send + 'static>;

/// Registers `callback` on an LDK future, adapting it to LDK's callback trait.
fn register_on(future: &lightning::util::wakers::Future, callback: WakeCallback) {
    future.register_callback(Box::new(callback));
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use lightning::util::wakers::Notifier;

    use super::*;

    // The processor keeps every component as `Arc<dyn ...>`; this fails to build if a trait
    // stops being object safe.
    #[allow(dead_code, reason = "a compile-time check, never called")]
    fn takes_required(
        _: Arc<dyn ChannelManagerDriver>,
        _: Arc<dyn PeerManagerDriver>,
        _: Arc<dyn ChainMonitorDriver>,
        _: Arc<dyn OnionMessengerDriver>,
    ) {
    }

    #[allow(dead_code, reason = "a compile-time check, never called")]
    fn takes_optional(
        _: Arc<dyn GossipDriver>,
        _: Arc<dyn ScorerDriver>,
        _: Arc<dyn SweeperDriver>,
        _: Arc<dyn LiquidityDriver>,
    ) {
    }

    #[test]
    fn register_on_runs_callback_once_per_completion() {
        let notifier = Notifier::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        register_on(
            &notifier.get_future(),
            Box::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            }),
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing notified yet");

        notifier.notify();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the notification ran the callback"
        );

        notifier.notify();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "a completed future calls back only once"
        );
    }
}
