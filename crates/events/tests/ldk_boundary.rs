//! Build-time checks that LDK's event providers accept Vigil's dispatchers as they are.
//!
//! The functions below never run and this file has no test: it is generic over the LDK types
//! and fails to build if a dispatcher stops fitting the signature of `process_pending_events` or
//! `process_pending_events_async` on `ChannelManager`, `ChainMonitor` or `OnionMessenger`.

#![allow(dead_code)]

use std::future::Future;
use std::ops::Deref;

use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::chain::chainmonitor::{ChainMonitor, Persist};
use lightning::chain::Filter;
use lightning::events::{Event, EventHandler, EventsProvider, ReplayEvent};
use lightning::ln::channelmanager::AChannelManager;
use lightning::onion_message::messenger::AOnionMessenger;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::EntropySource;
use lightning::util::logger::Logger;
use vigil_events::{AsyncDispatcher, Dispatcher};

fn channel_manager_takes_dispatcher<CM: AChannelManager, H: EventHandler>(
    manager: &CM,
    dispatcher: &Dispatcher<H>,
) {
    manager.get_cm().process_pending_events(dispatcher);
}

async fn channel_manager_takes_async_dispatcher<CM, F, Fut>(
    manager: &CM,
    dispatcher: &AsyncDispatcher<F>,
) where
    CM: AChannelManager,
    F: Fn(Event) -> Fut,
    Fut: Future<Output = Result<(), ReplayEvent>>,
{
    manager
        .get_cm()
        .process_pending_events_async(|event| dispatcher.handle_event(event))
        .await;
}

fn any_provider_takes_dispatcher<P: EventsProvider, H: EventHandler>(
    provider: &P,
    dispatcher: &Dispatcher<H>,
) {
    provider.process_pending_events(dispatcher);
}

async fn chain_monitor_takes_dispatchers<Signer, C, T, FE, L, P, ES, H, F, Fut>(
    monitor: &ChainMonitor<Signer, C, T, FE, L, P, ES>,
    dispatcher: &Dispatcher<H>,
    async_dispatcher: &AsyncDispatcher<F>,
) where
    Signer: EcdsaChannelSigner,
    C: Deref,
    C::Target: Filter,
    T: Deref,
    T::Target: BroadcasterInterface,
    FE: Deref,
    FE::Target: FeeEstimator,
    L: Deref,
    L::Target: Logger,
    P: Deref,
    P::Target: Persist<Signer>,
    ES: Deref,
    ES::Target: EntropySource,
    H: EventHandler,
    F: Fn(Event) -> Fut,
    Fut: Future<Output = Result<(), ReplayEvent>>,
{
    monitor.process_pending_events(dispatcher);
    monitor
        .process_pending_events_async(|event| async_dispatcher.handle_event(event))
        .await;
}

async fn onion_messenger_takes_dispatchers<OM, H, F, Fut>(
    messenger: &OM,
    dispatcher: &Dispatcher<H>,
    async_dispatcher: &AsyncDispatcher<F>,
) where
    OM: AOnionMessenger,
    H: EventHandler,
    F: Fn(Event) -> Fut + Sync,
    Fut: Future<Output = Result<(), ReplayEvent>> + Send,
{
    messenger.get_om().process_pending_events(dispatcher);
    messenger
        .get_om()
        .process_pending_events_async(|event| async_dispatcher.handle_event_boxed(event))
        .await;
}

fn scorer_observer_takes_writeable_score<S>(
    scorer: S,
    logger: std::sync::Arc<dyn Logger + Send + Sync>,
) where
    S: Deref + Send + Sync + 'static,
    S::Target: for<'b> lightning::routing::scoring::WriteableScore<'b>,
{
    let observer = vigil_events::ScorerObserver::new(scorer, || None, logger);
    let _dispatcher = Dispatcher::new(|_event: Event| Ok(())).observe(observer);
}

fn graph_observer_takes_any_graph_handle<G, L>(graph: G)
where
    G: Deref<Target = lightning::routing::gossip::NetworkGraph<L>> + Send + Sync + 'static,
    L: Deref + 'static,
    L::Target: Logger,
{
    let _dispatcher = Dispatcher::new(|_event: Event| Ok(()))
        .observe(vigil_events::NetworkGraphObserver::new(graph));
}
