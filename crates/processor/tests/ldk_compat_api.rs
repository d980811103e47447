//! Compile tests: a node wired the way LDK's sample node wires it starts
//! `lightning-background-processor` and `vigil_processor::ldk_compat` with the very same
//! argument expressions, so switching is a change of one `use` line.

#![cfg(feature = "ldk-compat")]

use std::sync::{Arc, RwLock};

use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning::chain::chainmonitor::ChainMonitor;
use lightning::chain::Filter;
use lightning::events::{Event, ReplayEvent};
use lightning::ln::channelmanager::SimpleArcChannelManager;
use lightning::ln::peer_handler::{SimpleArcPeerManager, SocketDescriptor};
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::scoring::ProbabilisticScorer;
use lightning::routing::utxo::UtxoLookup;
use lightning::sign::{InMemorySigner, KeysManager};
use lightning::util::logger::{Logger, Record};
use lightning::util::persist::KVStoreSync;

struct Broadcaster;
impl BroadcasterInterface for Broadcaster {
    fn broadcast_transactions(&self, _: &[&bitcoin::Transaction]) {}
}

struct Fees;
impl FeeEstimator for Fees {
    fn get_est_sat_per_1000_weight(&self, _: ConfirmationTarget) -> u32 {
        253
    }
}

struct ChainSource;
impl Filter for ChainSource {
    fn register_tx(&self, _: &bitcoin::Txid, _: &bitcoin::Script) {}
    fn register_output(&self, _: lightning::chain::WatchedOutput) {}
}

struct StdoutLogger;
impl Logger for StdoutLogger {
    fn log(&self, record: Record) {
        println!("{}", record.args);
    }
}

struct Store;
impl KVStoreSync for Store {
    fn read(&self, _: &str, _: &str, _: &str) -> lightning::io::Result<Vec<u8>> {
        Ok(Vec::new())
    }
    fn write(&self, _: &str, _: &str, _: &str, _: Vec<u8>) -> lightning::io::Result<()> {
        Ok(())
    }
    fn remove(&self, _: &str, _: &str, _: &str, _: bool) -> lightning::io::Result<()> {
        Ok(())
    }
    fn list(&self, _: &str, _: &str) -> lightning::io::Result<Vec<String>> {
        Ok(Vec::new())
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Socket;
impl SocketDescriptor for Socket {
    fn send_data(&mut self, _: &[u8], _: bool) -> usize {
        0
    }
    fn disconnect_socket(&mut self) {}
}

type Monitor = ChainMonitor<
    InMemorySigner,
    Arc<ChainSource>,
    Arc<Broadcaster>,
    Arc<Fees>,
    Arc<StdoutLogger>,
    Arc<Store>,
    Arc<KeysManager>,
>;
type Manager = SimpleArcChannelManager<Monitor, Broadcaster, Fees, StdoutLogger>;
type Graph = NetworkGraph<Arc<StdoutLogger>>;
type Gossip = P2PGossipSync<Arc<Graph>, Arc<dyn UtxoLookup + Send + Sync>, Arc<StdoutLogger>>;
type Peers = SimpleArcPeerManager<
    Socket,
    Monitor,
    Broadcaster,
    Fees,
    Arc<dyn UtxoLookup + Send + Sync>,
    StdoutLogger,
    ChainSource,
    Store,
>;
type Scorer = RwLock<ProbabilisticScorer<Arc<Graph>, Arc<StdoutLogger>>>;

/// The parts of a node, as LDK's sample node keeps them.
struct Node {
    store: Arc<Store>,
    chain_monitor: Arc<Monitor>,
    channel_manager: Arc<Manager>,
    gossip_sync: Arc<Gossip>,
    peer_manager: Arc<Peers>,
    logger: Arc<StdoutLogger>,
    scorer: Arc<Scorer>,
}

/// Expands to one `start` call of the module given, with the same argument expressions.
macro_rules! start_processor {
    ($node:expr, $($module:ident)::+) => {{
        use $($module)::+::{BackgroundProcessor, GossipSync, NO_LIQUIDITY_MANAGER_SYNC, NO_ONION_MESSENGER};
        let node: &Node = $node;
        let channel_manager = Arc::clone(&node.channel_manager);
        let event_handler = move |event: Event| -> Result<(), ReplayEvent> {
            println!("handling {event:?} for {}", channel_manager.get_our_node_id());
            Ok(())
        };
        BackgroundProcessor::start(
            Arc::clone(&node.store),
            event_handler,
            Arc::clone(&node.chain_monitor),
            Arc::clone(&node.channel_manager),
            NO_ONION_MESSENGER,
            GossipSync::p2p(Arc::clone(&node.gossip_sync)),
            Arc::clone(&node.peer_manager),
            NO_LIQUIDITY_MANAGER_SYNC,
            None::<Arc<lightning::util::sweep::OutputSweeperSync<Arc<Broadcaster>, Arc<dyn lightning::sign::ChangeDestinationSourceSync + Send + Sync>, Arc<Fees>, Arc<ChainSource>, Arc<Store>, Arc<StdoutLogger>, Arc<KeysManager>>>>,
            Arc::clone(&node.logger),
            Some(Arc::clone(&node.scorer)),
        )
    }};
}

/// Starts and stops both processors; type-checking it is the test.
#[allow(dead_code, reason = "a compile test: it must build, it is never run")]
fn start_both(node: &Node) -> Result<(), std::io::Error> {
    let reference = start_processor!(node, lightning_background_processor);
    reference.stop()?;
    let vigil = start_processor!(node, vigil_processor::ldk_compat);
    vigil.stop()
}

/// Starts both processors with every optional part left out.
#[allow(dead_code, reason = "a compile test: it must build, it is never run")]
fn start_both_without_gossip(node: &Node) {
    macro_rules! start_bare {
        ($($module:ident)::+) => {{
            use $($module)::+::{BackgroundProcessor, GossipSync, NO_LIQUIDITY_MANAGER_SYNC, NO_ONION_MESSENGER};
            BackgroundProcessor::start(
                Arc::clone(&node.store),
                |_: Event| Ok(()),
                Arc::clone(&node.chain_monitor),
                Arc::clone(&node.channel_manager),
                NO_ONION_MESSENGER,
                GossipSync::none(),
                Arc::clone(&node.peer_manager),
                NO_LIQUIDITY_MANAGER_SYNC,
                None::<Arc<lightning::util::sweep::OutputSweeperSync<Arc<Broadcaster>, Arc<dyn lightning::sign::ChangeDestinationSourceSync + Send + Sync>, Arc<Fees>, Arc<ChainSource>, Arc<Store>, Arc<StdoutLogger>, Arc<KeysManager>>>>,
                Arc::clone(&node.logger),
                None::<Arc<Scorer>>,
            )
        }};
    }
    drop(start_bare!(lightning_background_processor));
    drop(start_bare!(vigil_processor::ldk_compat));
}

/// An event handler with an async method, called through a borrowing closure as LDK Node
/// does: `|event| handler.handle_event(event)`.
struct AsyncHandler;
impl AsyncHandler {
    async fn handle_event(&self, event: Event) -> Result<(), ReplayEvent> {
        println!("handling {event:?}");
        Ok(())
    }
}

type AsyncSweeper = lightning::util::sweep::OutputSweeper<
    Arc<Broadcaster>,
    Arc<dyn lightning::sign::ChangeDestinationSource + Send + Sync>,
    Arc<Fees>,
    Arc<ChainSource>,
    Arc<vigil_persistence::MemoryStore>,
    Arc<StdoutLogger>,
    Arc<KeysManager>,
>;

/// Expands to a spawned task that runs the async function `$function` of the given module
/// with a tokio sleeper, which a watch channel stops. Evaluates to the stop sender and the
/// task.
macro_rules! spawn_async_processor {
    ($node:expr, $store:expr, $sweeper:ty, $function:ident, $($module:ident)::+) => {{
        use $($module)::+::{$function, GossipSync, NO_LIQUIDITY_MANAGER, NO_ONION_MESSENGER};
        let store = $store;
        let node: Arc<Node> = $node;
        let (stop_sender, stop_receiver) = tokio::sync::watch::channel(());
        let sleeper = move |duration| {
            let mut receiver = stop_receiver.clone();
            Box::pin(async move {
                tokio::select! {
                    _ = tokio::time::sleep(duration) => false,
                    _ = receiver.changed() => true,
                }
            })
        };
        let task = tokio::spawn(async move {
            let handler = AsyncHandler;
            $function(
                store,
                |event| handler.handle_event(event),
                Arc::clone(&node.chain_monitor),
                Arc::clone(&node.channel_manager),
                NO_ONION_MESSENGER,
                GossipSync::p2p(Arc::clone(&node.gossip_sync)),
                Arc::clone(&node.peer_manager),
                NO_LIQUIDITY_MANAGER,
                None::<Arc<$sweeper>>,
                Arc::clone(&node.logger),
                Some(Arc::clone(&node.scorer)),
                sleeper,
                false,
                || Some(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap()),
            )
            .await
        });
        (stop_sender, task)
    }};
}

/// Spawns both async processors with an async store, then stops them; type-checking it is
/// the test.
#[allow(dead_code, reason = "a compile test: it must build, it is never run")]
async fn spawn_both_async(node: Arc<Node>, store: Arc<vigil_persistence::MemoryStore>) {
    let (stop, task) = spawn_async_processor!(
        Arc::clone(&node),
        Arc::clone(&store),
        AsyncSweeper,
        process_events_async,
        lightning_background_processor
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let (stop, task) = spawn_async_processor!(
        Arc::clone(&node),
        Arc::clone(&store),
        AsyncSweeper,
        process_events_async,
        vigil_processor::ldk_compat
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

/// Spawns both async processors with a blocking store, as LDK Node runs them.
#[allow(dead_code, reason = "a compile test: it must build, it is never run")]
async fn spawn_both_async_with_blocking_store(node: Arc<Node>) {
    type SyncSweeper = lightning::util::sweep::OutputSweeperSync<
        Arc<Broadcaster>,
        Arc<dyn lightning::sign::ChangeDestinationSourceSync + Send + Sync>,
        Arc<Fees>,
        Arc<ChainSource>,
        Arc<Store>,
        Arc<StdoutLogger>,
        Arc<KeysManager>,
    >;
    let (stop, task) = spawn_async_processor!(
        Arc::clone(&node),
        Arc::clone(&node.store),
        SyncSweeper,
        process_events_async_with_kv_store_sync,
        lightning_background_processor
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    let (stop, task) = spawn_async_processor!(
        Arc::clone(&node),
        Arc::clone(&node.store),
        SyncSweeper,
        process_events_async_with_kv_store_sync,
        vigil_processor::ldk_compat
    );
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

type Rapid = lightning_rapid_gossip_sync::RapidGossipSync<Arc<Graph>, Arc<StdoutLogger>>;

/// Starts both processors with rapid gossip sync.
#[allow(dead_code, reason = "a compile test: it must build, it is never run")]
fn start_both_with_rapid_sync(node: &Node, rapid_sync: &Arc<Rapid>) {
    macro_rules! start_rapid {
        ($($module:ident)::+) => {{
            use $($module)::+::{BackgroundProcessor, GossipSync, NO_LIQUIDITY_MANAGER_SYNC, NO_ONION_MESSENGER};
            BackgroundProcessor::start(
                Arc::clone(&node.store),
                |_: Event| Ok(()),
                Arc::clone(&node.chain_monitor),
                Arc::clone(&node.channel_manager),
                NO_ONION_MESSENGER,
                GossipSync::rapid(Arc::clone(rapid_sync)),
                Arc::clone(&node.peer_manager),
                NO_LIQUIDITY_MANAGER_SYNC,
                None::<Arc<lightning::util::sweep::OutputSweeperSync<Arc<Broadcaster>, Arc<dyn lightning::sign::ChangeDestinationSourceSync + Send + Sync>, Arc<Fees>, Arc<ChainSource>, Arc<Store>, Arc<StdoutLogger>, Arc<KeysManager>>>>,
                Arc::clone(&node.logger),
                Some(Arc::clone(&node.scorer)),
            )
        }};
    }
    drop(start_rapid!(lightning_background_processor));
    drop(start_rapid!(vigil_processor::ldk_compat));
}

/// Runs both async functions with a blocking store on a current-thread runtime, with a
/// handler whose future holds an `Rc` and so is not `Send`, and a mobile sleeper.
#[allow(dead_code, reason = "a compile test: it must build, it is never run")]
fn block_on_both_with_local_handler(node: &Node) {
    type SyncSweeper = lightning::util::sweep::OutputSweeperSync<
        Arc<Broadcaster>,
        Arc<dyn lightning::sign::ChangeDestinationSourceSync + Send + Sync>,
        Arc<Fees>,
        Arc<ChainSource>,
        Arc<Store>,
        Arc<StdoutLogger>,
        Arc<KeysManager>,
    >;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let handled = std::rc::Rc::new(std::cell::Cell::new(0_u32));
    macro_rules! block_on_local {
        ($($module:ident)::+) => {{
            use $($module)::+::{process_events_async_with_kv_store_sync, GossipSync, NO_LIQUIDITY_MANAGER, NO_ONION_MESSENGER};
            runtime.block_on(process_events_async_with_kv_store_sync(
                Arc::clone(&node.store),
                |_event: Event| {
                    let handled = std::rc::Rc::clone(&handled);
                    async move {
                        handled.set(handled.get() + 1);
                        Ok(())
                    }
                },
                Arc::clone(&node.chain_monitor),
                Arc::clone(&node.channel_manager),
                NO_ONION_MESSENGER,
                GossipSync::none(),
                Arc::clone(&node.peer_manager),
                NO_LIQUIDITY_MANAGER,
                None::<Arc<SyncSweeper>>,
                Arc::clone(&node.logger),
                Some(Arc::clone(&node.scorer)),
                |duration| Box::pin(async move {
                    tokio::time::sleep(duration).await;
                    true
                }),
                true,
                || None,
            ))
        }};
    }
    block_on_local!(lightning_background_processor).unwrap();
    block_on_local!(vigil_processor::ldk_compat).unwrap();
}
