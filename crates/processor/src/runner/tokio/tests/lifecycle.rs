//! Start, stop, drop, cancellation and the errors that end the async runner.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Duration;

use lightning::events::{Event, ReplayEvent};
use vigil_persistence::{MemoryStore, RetryPolicy};

use super::support::{config, within, Rig};
use crate::config::Config;
use crate::error::Error;
use crate::runner::thread::BackgroundProcessor;
use crate::testing::{event, label};

#[test]
fn spawn_needs_no_annotations() {
    // Builds with no optional component and no type annotation, and spawns the run future
    // on a multi-threaded runtime. This fails to build if the future stops being `Send`.
    let rig = Rig::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime starts");
    let processor = BackgroundProcessor::async_builder(
        Arc::new(MemoryStore::new()),
        |_event: Event| async { Ok(()) },
        Arc::clone(&rig.monitor),
        Arc::clone(&rig.manager),
        Arc::new(rig.node.peer_manager_mock(|| {})),
        Arc::clone(&rig.node.logger),
    )
    .build()
    .expect("the default config is valid");
    let stopper = processor.stopper();

    let task = runtime.spawn(processor.run());
    stopper.request_stop();
    let result = runtime.block_on(task).expect("the task did not panic");

    assert!(result.is_ok(), "{result:?}");
    assert!(
        stopper.stats().key("manager").writes >= 1,
        "at least the final write"
    );
}

#[test]
fn spawn_outside_runtime_is_an_error() {
    let rig = Rig::new();
    let result = rig.builder(rig.recording_handler(), config()).spawn();

    assert!(
        matches!(result, Err(Error::NoRuntime)),
        "{:?}",
        result.err()
    );
}

#[tokio::test]
async fn stop_wakes_far_waiter() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager", "the start write");
    rig.wait_for_idle(Duration::from_secs(1)).await;

    // Virtual time never moves, so only the stop signal can end the wait.
    let result = within("stop returns", processor.stop()).await;

    assert!(result.is_ok(), "{result:?}");
    let entries = rig.node.trace.entries();
    assert_eq!(
        entries.last().map(String::as_str),
        Some("write manager v0 []")
    );
}

#[tokio::test]
async fn stop_right_after_change_writes_newest_state() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    rig.wait_for_idle(Duration::from_secs(1)).await;
    rig.node.trace.take();

    rig.node.manager.change();
    let result = within("stop returns", processor.stop()).await;

    assert!(result.is_ok(), "{result:?}");
    let entries = rig.node.trace.entries();
    let disconnect = entries
        .iter()
        .position(|e| e == "pm.disconnect")
        .expect("peers disconnected");
    assert!(
        entries[disconnect..].contains(&"write manager v1 []".to_owned()),
        "a final write after the disconnect: {entries:?}"
    );
    assert_eq!(
        entries.last().map(String::as_str),
        Some("write manager v1 []")
    );
    let writes_at_stop = rig.node.store.faults.total_writes();
    tokio::task::yield_now().await;
    assert_eq!(
        rig.node.store.faults.total_writes(),
        writes_at_stop,
        "nothing written after stop"
    );
}

/// An async LiquidityManager that records each persist in the trace, and fails the first
/// `failures` of them.
struct RecordingLiquidity {
    source: Arc<crate::testing::EventSource>,
    trace: crate::testing::Trace,
    failures: std::sync::atomic::AtomicUsize,
}

impl crate::runner::tokio::AsyncLiquidityDriver for RecordingLiquidity {
    fn register_wake(&self, callback: crate::components::WakeCallback) {
        self.source
            .notifier
            .get_future()
            .register_callback(Box::new(callback));
    }

    fn persist_async(self: Arc<Self>) -> crate::runner::tokio::LiquidityPersistFuture {
        Box::pin(async move {
            let failures = &self.failures;
            if failures.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                failures.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                self.trace.push("liquidity.persist failed");
                return Err(std::io::Error::other("disk full"));
            }
            self.trace.push("liquidity.persist");
            Ok(true)
        })
    }
}

#[tokio::test]
async fn stop_persists_liquidity_manager_last() {
    // The stop sequence used to end with the scorer, leaving LiquidityManager changes made
    // since its last signal unwritten.
    let mut rig = Rig::new();
    let liquidity = Arc::new(RecordingLiquidity {
        source: Arc::clone(&rig.node.liquidity),
        trace: rig.node.trace.clone(),
        failures: std::sync::atomic::AtomicUsize::new(0),
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .liquidity_manager(liquidity)
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;
    rig.node.trace.take();

    within("stop returns", processor.stop())
        .await
        .expect("stops cleanly");

    assert_eq!(
        rig.node.trace.entries(),
        [
            "pm.disconnect",
            "issue manager",
            "write manager v0 []",
            "liquidity.persist"
        ]
    );
}

#[tokio::test]
async fn failed_liquidity_persist_is_retried() {
    // A failed LiquidityManager persist was retried only on its next signal, which may never
    // come, so its changed state could stay unwritten.
    let mut rig = Rig::new();
    let liquidity = Arc::new(RecordingLiquidity {
        source: Arc::clone(&rig.node.liquidity),
        trace: rig.node.trace.clone(),
        failures: std::sync::atomic::AtomicUsize::new(1),
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .liquidity_manager(liquidity)
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;

    rig.node.liquidity.notifier.notify();
    within("the persist fails", async {
        while rig.node.trace.count("liquidity.persist failed") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(rig.node.trace.count("liquidity.persist"), 0);

    rig.run_until(Duration::from_secs(10)).await;
    within("the persist is retried", async {
        while rig.node.trace.count("liquidity.persist") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(rig.node.trace.count("liquidity.persist failed"), 1);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn dropping_handle_stops_after_final_writes() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;
    rig.node.trace.take();

    drop(processor);

    assert_eq!(rig.next_write().await, "manager", "the final write");
    within("the final write completes", async {
        while rig.node.trace.count("write manager v0 []") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(
        rig.node.trace.entries(),
        ["pm.disconnect", "issue manager", "write manager v0 []"]
    );
}

#[tokio::test]
async fn dropping_run_future_leaves_no_torn_write() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .build()
        .expect("builds");
    let task = tokio::spawn(processor.run());
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;

    // A write is in flight when the future is dropped.
    rig.store.hold("manager");
    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    task.abort();
    let cancelled = task.await.expect_err("the task was aborted");
    assert!(cancelled.is_cancelled());

    // The dropped write never reaches the store, and nothing else runs afterwards.
    rig.store.release("manager", 1);
    rig.node.manager.queue(event('Z'));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(rig.node.store.value("manager").as_deref(), Some("v0 []"));
    assert_eq!(rig.node.store.faults.writes("manager"), 1);
    assert_eq!(
        rig.node.trace.count("handle Z"),
        0,
        "no event after the drop"
    );
}

#[tokio::test]
async fn abort_in_handler_replays_later_events() {
    let rig = Rig::new();
    let (entered_sender, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Notify::new());
    let trace = rig.node.trace.clone();
    let released = Arc::clone(&release);
    let handler = move |event: Event| {
        let trace = trace.clone();
        let entered_sender = entered_sender.clone();
        let released = Arc::clone(&released);
        async move {
            trace.push(format!("enter {}", label(&event)));
            let _ = entered_sender.send(());
            released.notified().await;
            trace.push(format!("handle {}", label(&event)));
            Ok::<(), ReplayEvent>(())
        }
    };
    let processor = rig.builder(handler, config()).build().expect("builds");
    let task = tokio::spawn(processor.run());
    rig.node.manager.queue(event('A'));
    rig.node.manager.queue(event('B'));
    within("the handler runs", entered.recv()).await;

    task.abort();
    let cancelled = task.await.expect_err("the task was aborted");
    assert!(cancelled.is_cancelled());

    // The event task finishes the handler call in progress, hands out nothing more and ends.
    release.notify_one();
    within("the event task ends", async {
        // Only the rig keeps a reference to the manager once the core and the event task are gone.
        while Arc::strong_count(&rig.manager) > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(rig.node.trace.count("handle A"), 1);
    assert_eq!(
        rig.node.trace.count("enter B"),
        0,
        "an event was handed out after the abort"
    );

    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    within("the next processor handles B", async {
        while rig.node.trace.count("handle B") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let result = within("stop returns", processor.stop()).await;

    assert!(result.is_ok(), "{result:?}");
    assert_eq!(rig.node.trace.count("handle A"), 1, "A was handled twice");
}

#[tokio::test]
async fn third_write_fails_for_good() {
    let mut rig = Rig::new();
    rig.node
        .store
        .faults
        .fail_nth_write(3, ErrorKind::StorageFull);
    let processor = rig
        .builder(
            rig.recording_handler(),
            Config {
                retry_policy: RetryPolicy::no_retry(),
                ..config()
            },
        )
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;
    rig.node.trace.take();

    // The third write fails while an event waits for it.
    rig.node.manager.queue(event('Z'));
    let error = within("the processor ends", processor.join())
        .await
        .expect_err("the write failed for good");

    assert_eq!(error.key(), Some("manager"));
    assert_eq!(error.io_kind(), Some(ErrorKind::StorageFull));
    assert!(
        matches!(error, Error::Persist { attempts: 1, .. }),
        "{error:?}"
    );
    assert_eq!(rig.node.store.faults.writes("manager"), 3);
    // The turn that issued the write went on while it was in flight; after the failure
    // nothing ran, and the event never reached the handler.
    let entries = rig.node.trace.entries();
    let failed = entries
        .iter()
        .position(|e| e == "write manager failed")
        .expect("the write failed");
    assert_eq!(
        failed,
        entries.len() - 1,
        "no work after the failure: {entries:?}"
    );
    assert_eq!(rig.node.trace.count("handle Z"), 0);
    assert_eq!(rig.node.trace.count("issue manager"), 1, "no final write");
}

#[tokio::test]
async fn restart_after_error_hands_out_event() {
    let mut rig = Rig::new();
    rig.node
        .store
        .faults
        .fail_key("manager", ErrorKind::StorageFull);
    rig.node.manager.queue(event('Z'));
    let no_retry = Config {
        retry_policy: RetryPolicy::no_retry(),
        ..config()
    };
    let processor = rig
        .builder(rig.recording_handler(), no_retry)
        .spawn()
        .expect("spawns");
    let error = within("the processor ends", processor.join())
        .await
        .expect_err("the write failed");
    assert_eq!(error.key(), Some("manager"));
    assert_eq!(rig.node.trace.count("handle Z"), 0);

    rig.node.store.faults.heal();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    rig.wait_for_idle(Duration::from_secs(1)).await;
    within("the event is handled", async {
        while rig.node.trace.count("handle Z") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let result = within("stop returns", processor.stop()).await;

    assert!(result.is_ok(), "{result:?}");
    let entries = rig.node.trace.entries();
    let write = entries
        .iter()
        .position(|e| e == "write manager v1 [Z]")
        .expect("the start write contains Z");
    let handle = entries
        .iter()
        .position(|e| e == "handle Z")
        .expect("Z was handled");
    assert!(write < handle, "{entries:?}");
}

#[tokio::test]
async fn handler_panic_stops_processor() {
    let rig = Rig::new();
    let handler = |event: Event| async move {
        if label(&event) == 'P' {
            panic!("handler bug");
        }
        Ok::<(), ReplayEvent>(())
    };
    let processor = rig.builder(handler, config()).spawn().expect("spawns");
    rig.node.manager.queue(event('P'));

    let error = within("the processor ends", processor.join())
        .await
        .expect_err("the panic ended the processor");

    match error {
        Error::HandlerPanicked {
            event_kind,
            message,
        } => {
            assert_eq!(event_kind, "PaymentFailed");
            assert!(message.contains("handler bug"), "{message}");
        }
        other => panic!("expected a handler panic, got {other:?}"),
    }
    assert_eq!(
        rig.node.store.value("manager").as_deref(),
        Some("v1 [P]"),
        "final write made, with the event still pending"
    );
}

#[tokio::test]
async fn stuck_handler_times_out_stop() {
    let mut rig = Rig::new();
    let (entered_sender, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let trace = rig.node.trace.clone();
    let handler = move |event: Event| {
        trace.push(format!("handle {}", label(&event)));
        let _ = entered_sender.send(());
        // Never completes, as a handler stuck on a lost connection would.
        std::future::pending::<Result<(), ReplayEvent>>()
    };
    let processor = rig.builder(handler, config()).spawn().expect("spawns");
    rig.node.manager.queue(event('S'));
    within("the handler runs", entered.recv()).await;
    rig.wait_for_idle(Duration::from_secs(1)).await;
    rig.node.trace.take();
    rig.forget_waits();

    let stop = tokio::spawn(processor.stop());
    let deadline = rig.wait_for_idle(Duration::from_secs(30)).await;
    rig.node.clock.advance(deadline - rig.node.now());
    let result = within("stop returns", stop)
        .await
        .expect("stop did not panic");

    assert!(
        matches!(result, Err(Error::ShutdownTimeout { waited }) if waited == Duration::from_secs(30)),
        "{result:?}"
    );
    assert_eq!(
        rig.node.trace.entries(),
        ["pm.disconnect", "issue manager", "write manager v1 [S]"]
    );
    // The stored state still contains the unfinished event, so the next start hands it out.
    assert_eq!(rig.node.store.value("manager").as_deref(), Some("v1 [S]"));
}

/// Fails to build if LDK's own ChannelManager, ChainMonitor and OnionMessenger stop
/// implementing the async event traits, with futures that are `Send`.
#[allow(dead_code, reason = "a compile-time check, never called")]
fn ldk_types_implement_event_traits<M, T, F, L, P>()
where
    M: lightning::chain::Watch<lightning::sign::InMemorySigner> + Send + Sync + 'static,
    T: lightning::chain::chaininterface::BroadcasterInterface + Send + Sync + 'static,
    F: lightning::chain::chaininterface::FeeEstimator + Send + Sync + 'static,
    L: lightning::util::logger::Logger + Send + Sync + 'static,
    P: lightning::chain::chainmonitor::Persist<lightning::sign::InMemorySigner>
        + Send
        + Sync
        + 'static,
{
    use crate::runner::tokio::{ChainMonitorEvents, ChannelManagerEvents, OnionMessengerEvents};

    fn channel_manager<C: ChannelManagerEvents>() {}
    fn chain_monitor<C: ChainMonitorEvents>() {}
    fn onion_messenger<O: OnionMessengerEvents>() {}

    channel_manager::<lightning::ln::channelmanager::SimpleArcChannelManager<M, T, F, L>>();
    onion_messenger::<lightning::onion_message::messenger::SimpleArcOnionMessenger<M, T, F, L>>();
    chain_monitor::<
        lightning::chain::chainmonitor::ChainMonitor<
            lightning::sign::InMemorySigner,
            Arc<dyn lightning::chain::Filter + Send + Sync>,
            Arc<T>,
            Arc<F>,
            Arc<L>,
            Arc<P>,
            Arc<lightning::sign::KeysManager>,
        >,
    >();
}

/// A ChainMonitor whose async event processing panics once an event is pending.
struct PanickingMonitor {
    mock: crate::components::MockChainMonitorDriver,
    events: Arc<crate::testing::EventSource>,
}

impl crate::components::ChainMonitorDriver for PanickingMonitor {
    fn process_pending_events_unlocked(&self, handler: &dyn lightning::events::EventHandler) {
        self.mock.process_pending_events_unlocked(handler);
    }
    fn register_wake(&self, callback: crate::components::WakeCallback) {
        self.mock.register_wake(callback);
    }
    fn rebroadcast_pending_claims(&self) {
        self.mock.rebroadcast_pending_claims();
    }
    fn archive_fully_resolved_channel_monitors(&self) {
        self.mock.archive_fully_resolved_channel_monitors();
    }
}

impl crate::runner::tokio::ChainMonitorEvents for PanickingMonitor {
    fn process_pending_events_async<'a>(
        &'a self,
        _handler: &'a crate::runner::tokio::AsyncEventHandler,
    ) -> crate::runner::tokio::EventsFuture<'a> {
        Box::pin(async move {
            if !self.events.pending.lock().is_empty() {
                panic!("monitor bug");
            }
        })
    }
}

#[tokio::test]
async fn event_task_panic_stops_processor() {
    // A panic in a component's event processing, outside the user's handler, used to end
    // the event task silently while the processor kept running.
    let rig = Rig::new();
    let monitor = Arc::new(PanickingMonitor {
        mock: rig.node.chain_monitor_mock(),
        events: Arc::clone(&rig.node.monitor),
    });
    let processor = BackgroundProcessor::async_builder(
        Arc::clone(&rig.store),
        rig.recording_handler(),
        monitor,
        Arc::clone(&rig.manager),
        Arc::clone(&rig.peers),
        Arc::clone(&rig.node.logger),
    )
    .clock(Arc::new(rig.clock.clone()))
    .config(config())
    .spawn()
    .expect("spawns");
    rig.node.monitor.push(event('M'));

    let error = within("the processor ends", processor.join())
        .await
        .expect_err("the panic ended the processor");

    match error {
        Error::ProcessorPanicked { message } => {
            assert!(message.contains("monitor bug"), "{message}");
        }
        other => panic!("expected a processor panic, got {other:?}"),
    }
    assert_eq!(
        rig.node.trace.entries().last().map(String::as_str),
        Some("write manager v0 []"),
        "the final write was made"
    );
}
