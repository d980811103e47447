//! The typed `None` values that let a caller leave out the OnionMessenger or the
//! LiquidityManager without naming their types.
//!
//! Each constant has exactly the type of the constant of the same name in
//! `lightning-background-processor` 0.2, so that type inference works the same.

#![allow(
    clippy::type_complexity,
    reason = "the types must match the reference constants, which spell them out"
)]

use std::sync::Arc;

use lightning::chain;
use lightning::chain::chaininterface::{BroadcasterInterface, FeeEstimator};
use lightning::ln::channelmanager::ChannelManager;
use lightning::ln::peer_handler::IgnoringMessageHandler;
use lightning::onion_message::messenger::{AOnionMessenger, DefaultMessageRouter};
use lightning::routing::gossip::NetworkGraph;
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{ProbabilisticScorer, ProbabilisticScoringFeeParameters};
use lightning::sign::{EntropySource, InMemorySigner, NodeSigner, SignerProvider};
use lightning::util::logger::Logger;
use lightning::util::persist::{KVStore, KVStoreSync};
use lightning_liquidity::utils::time::TimeProvider;
use lightning_liquidity::{ALiquidityManager, ALiquidityManagerSync};

type StaticLogger = &'static (dyn Logger + Send + Sync);
type StaticEntropy = &'static (dyn EntropySource + Send + Sync);
type StaticGraph = &'static NetworkGraph<StaticLogger>;
type StaticScorer = ProbabilisticScorer<StaticGraph, StaticLogger>;

type DynRouter = DefaultRouter<
    StaticGraph,
    StaticLogger,
    StaticEntropy,
    &'static std::sync::RwLock<StaticScorer>,
    ProbabilisticScoringFeeParameters,
    StaticScorer,
>;

type DynMessageRouter = DefaultMessageRouter<StaticGraph, StaticLogger, StaticEntropy>;

type DynSignerProvider = dyn SignerProvider<EcdsaSigner = InMemorySigner> + Send + Sync;

type DynChannelManager = ChannelManager<
    &'static (dyn chain::Watch<InMemorySigner> + Send + Sync),
    &'static (dyn BroadcasterInterface + Send + Sync),
    StaticEntropy,
    &'static (dyn NodeSigner + Send + Sync),
    &'static DynSignerProvider,
    &'static (dyn FeeEstimator + Send + Sync),
    &'static DynRouter,
    &'static DynMessageRouter,
    StaticLogger,
>;

/// Pass as the OnionMessenger argument to run without an OnionMessenger.
pub const NO_ONION_MESSENGER: Option<
    Arc<
        dyn AOnionMessenger<
                EntropySource = dyn EntropySource + Send + Sync,
                ES = &(dyn EntropySource + Send + Sync),
                NodeSigner = dyn NodeSigner + Send + Sync,
                NS = &(dyn NodeSigner + Send + Sync),
                Logger = dyn Logger + Send + Sync,
                L = StaticLogger,
                NodeIdLookUp = DynChannelManager,
                NL = &'static DynChannelManager,
                MessageRouter = DynMessageRouter,
                MR = &'static DynMessageRouter,
                OffersMessageHandler = IgnoringMessageHandler,
                OMH = &'static IgnoringMessageHandler,
                AsyncPaymentsMessageHandler = IgnoringMessageHandler,
                APH = &'static IgnoringMessageHandler,
                DNSResolverMessageHandler = IgnoringMessageHandler,
                DRH = &'static IgnoringMessageHandler,
                CustomOnionMessageHandler = IgnoringMessageHandler,
                CMH = &'static IgnoringMessageHandler,
            > + Send
            + Sync,
    >,
> = None;

/// Pass as the LiquidityManager argument of the async functions to run without one.
pub const NO_LIQUIDITY_MANAGER: Option<
    Arc<
        dyn ALiquidityManager<
                EntropySource = dyn EntropySource + Send + Sync,
                ES = &(dyn EntropySource + Send + Sync),
                NodeSigner = dyn NodeSigner + Send + Sync,
                NS = &(dyn NodeSigner + Send + Sync),
                AChannelManager = DynChannelManager,
                CM = &DynChannelManager,
                Filter = dyn chain::Filter + Send + Sync,
                C = &(dyn chain::Filter + Send + Sync),
                KVStore = dyn KVStore + Send + Sync,
                K = &(dyn KVStore + Send + Sync),
                TimeProvider = dyn TimeProvider + Send + Sync,
                TP = &(dyn TimeProvider + Send + Sync),
                BroadcasterInterface = dyn BroadcasterInterface + Send + Sync,
                T = &(dyn BroadcasterInterface + Send + Sync),
            > + Send
            + Sync,
    >,
> = None;

/// Pass as the LiquidityManager argument of [`BackgroundProcessor::start`] to run without
/// one.
///
/// [`BackgroundProcessor::start`]: super::BackgroundProcessor::start
pub const NO_LIQUIDITY_MANAGER_SYNC: Option<
    Arc<
        dyn ALiquidityManagerSync<
                EntropySource = dyn EntropySource + Send + Sync,
                ES = &(dyn EntropySource + Send + Sync),
                NodeSigner = dyn NodeSigner + Send + Sync,
                NS = &(dyn NodeSigner + Send + Sync),
                AChannelManager = DynChannelManager,
                CM = &DynChannelManager,
                Filter = dyn chain::Filter + Send + Sync,
                C = &(dyn chain::Filter + Send + Sync),
                KVStoreSync = dyn KVStoreSync + Send + Sync,
                KS = &(dyn KVStoreSync + Send + Sync),
                TimeProvider = dyn TimeProvider + Send + Sync,
                TP = &(dyn TimeProvider + Send + Sync),
                BroadcasterInterface = dyn BroadcasterInterface + Send + Sync,
                T = &(dyn BroadcasterInterface + Send + Sync),
            > + Send
            + Sync,
    >,
> = None;
