//! The async event processing of the ChannelManager, the ChainMonitor and the OnionMessenger.
//!
//! Each trait extends the component's blocking trait with LDK's `process_pending_events_async`
//! behind a boxed future, so the async runner keeps the components as trait objects, as the
//! thread runner does.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use lightning::blinded_path::NodeIdLookUp;
use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::{Filter, Watch};
use lightning::events::{Event, ReplayEvent};
use lightning::ln::channelmanager::ChannelManager;
use lightning::onion_message::async_payments::AsyncPaymentsMessageHandler;
use lightning::onion_message::dns_resolution::DNSResolverMessageHandler;
use lightning::onion_message::messenger::{
    CustomOnionMessageHandler, MessageRouter, OnionMessenger,
};
use lightning::onion_message::offers::OffersMessageHandler;
use lightning::routing::router::Router;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::{EntropySource, NodeSigner, SignerProvider};
use lightning::util::logger::Logger;

use crate::components::{ChainMonitorDriver, ChannelManagerDriver, OnionMessengerDriver};

/// The future of one event handler call, as the async runner hands it to LDK.
///
/// It is boxed, so it is `Unpin` as `OnionMessenger::process_pending_events_async` requires.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), ReplayEvent>> + Send>>;

/// The event handler the async runner hands to a component: the observers, the gate in front
/// of the user's handler, and the user's handler.
pub type AsyncEventHandler = dyn Fn(Event) -> HandlerFuture + Send + Sync;

/// The future of one `process_pending_events_async` call.
pub type EventsFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The async event processing of the ChannelManager.
///
/// Implemented for LDK's `ChannelManager<..>`.
pub trait ChannelManagerEvents: ChannelManagerDriver {
    /// Hands every pending event to `handler`, in order, awaiting each call, as LDK's
    /// `process_pending_events_async`.
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a>;
}

/// The async event processing of the ChainMonitor.
///
/// Implemented for LDK's `ChainMonitor<..>`.
pub trait ChainMonitorEvents: ChainMonitorDriver {
    /// Hands every pending monitor event to `handler`, as LDK's `process_pending_events_async`.
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a>;
}

/// The async event processing of the OnionMessenger.
///
/// Implemented for LDK's `OnionMessenger<..>`.
pub trait OnionMessengerEvents: OnionMessengerDriver {
    /// Hands every pending onion-message event to `handler`, as LDK's
    /// `process_pending_events_async`.
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a>;
}

impl<M, T, ES, NS, SP, F, R, MR, L> ChannelManagerEvents
    for ChannelManager<M, T, ES, NS, SP, F, R, MR, L>
where
    M: Deref + Send + Sync,
    T: Deref + Send + Sync,
    ES: Deref + Send + Sync,
    NS: Deref + Send + Sync,
    SP: Deref + Send + Sync,
    F: Deref + Send + Sync,
    R: Deref + Send + Sync,
    MR: Deref + Send + Sync,
    L: Deref + Send + Sync,
    M::Target: Watch<<SP::Target as SignerProvider>::EcdsaSigner>,
    T::Target: BroadcasterInterface,
    ES::Target: EntropySource,
    NS::Target: NodeSigner,
    SP::Target: SignerProvider,
    F::Target: FeeEstimator,
    R::Target: Router,
    MR::Target: MessageRouter,
    L::Target: Logger,
    Self: ChannelManagerDriver,
{
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a> {
        Box::pin(ChannelManager::process_pending_events_async(self, handler))
    }
}

impl<ChannelSigner, C, T, F, L, P, ES> ChainMonitorEvents
    for ChainMonitor<ChannelSigner, C, T, F, L, P, ES>
where
    ChannelSigner: EcdsaChannelSigner + Send + Sync,
    C: Deref + Send + Sync,
    T: Deref + Send + Sync,
    F: Deref + Send + Sync,
    L: Deref + Send + Sync,
    P: Deref + Send + Sync,
    ES: Deref + Send + Sync,
    C::Target: Filter,
    T::Target: BroadcasterInterface,
    F::Target: FeeEstimator,
    L::Target: Logger,
    P::Target: Persist<ChannelSigner>,
    ES::Target: EntropySource,
{
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a> {
        Box::pin(ChainMonitor::process_pending_events_async(self, handler))
    }
}

impl<ES, NS, L, NL, MR, OMH, APH, DRH, CMH> OnionMessengerEvents
    for OnionMessenger<ES, NS, L, NL, MR, OMH, APH, DRH, CMH>
where
    ES: Deref + Send + Sync,
    NS: Deref + Send + Sync,
    L: Deref + Send + Sync,
    NL: Deref + Send + Sync,
    MR: Deref + Send + Sync,
    OMH: Deref + Send + Sync,
    APH: Deref + Send + Sync,
    DRH: Deref + Send + Sync,
    CMH: Deref + Send + Sync,
    ES::Target: EntropySource,
    NS::Target: NodeSigner,
    L::Target: Logger,
    NL::Target: NodeIdLookUp,
    MR::Target: MessageRouter,
    OMH::Target: OffersMessageHandler,
    APH::Target: AsyncPaymentsMessageHandler,
    DRH::Target: DNSResolverMessageHandler,
    CMH::Target: CustomOnionMessageHandler,
    Self: OnionMessengerDriver,
{
    fn process_pending_events_async<'a>(
        &'a self,
        handler: &'a AsyncEventHandler,
    ) -> EventsFuture<'a> {
        Box::pin(OnionMessenger::process_pending_events_async(self, handler))
    }
}
