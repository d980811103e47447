//! Events against writes: the gate, slow handlers, handlers that change the ChannelManager,
//! and writes of different keys in flight together.

use std::sync::Arc;
use std::time::Duration;

use lightning::events::{Event, ReplayEvent};
use tokio::sync::{mpsc, Notify};

use super::support::{config, within, Rig};
use crate::testing::{event, label, GossipKind, Optional};

#[tokio::test]
async fn event_waits_for_owed_write() {
    let mut rig = Rig::new();
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;

    // The write the event depends on is held in the store; the event waits for it.
    rig.store.hold("manager");
    rig.node.manager.queue(event('A'));
    assert_eq!(rig.next_write().await, "manager");
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert_eq!(
        rig.node.trace.count("handle A"),
        0,
        "handed out before its write"
    );

    rig.store.release("manager", 100);
    within("the event is handled", async {
        while rig.node.trace.count("handle A") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let entries = rig.node.trace.entries();
    let write = entries
        .iter()
        .position(|e| e == "write manager v1 [A]")
        .expect("the write of A was made");
    let handle = entries
        .iter()
        .position(|e| e == "handle A")
        .expect("A was handled");
    assert!(write < handle, "{entries:?}");
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn slow_handler_does_not_delay_write() {
    let mut rig = Rig::new();
    let (entered_sender, mut entered) = mpsc::unbounded_channel();
    let release = Arc::new(Notify::new());
    let trace = rig.node.trace.clone();
    let handler_release = Arc::clone(&release);
    let handler = move |event: Event| {
        trace.push(format!("handle {}", label(&event)));
        let _ = entered_sender.send(());
        let release = Arc::clone(&handler_release);
        async move {
            release.notified().await;
            Ok::<(), ReplayEvent>(())
        }
    };
    let processor = rig.builder(handler, config()).spawn().expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.node.manager.queue(event('S'));
    assert_eq!(
        rig.next_write().await,
        "manager",
        "the write the event waits for"
    );
    within("the handler runs", entered.recv()).await;

    // A change while the handler awaits is written without waiting for it.
    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    within("the write completes", async {
        while rig.node.store.value("manager").as_deref() != Some("v2 [S]") {
            tokio::task::yield_now().await;
        }
    })
    .await;

    release.notify_one();
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn handler_changing_manager_does_not_deadlock() {
    // The handler awaits, then calls back into the ChannelManager (as a handler that claims
    // a payment does) while the write of the event's own removal is still owed.
    let mut rig = Rig::new();
    let manager = Arc::clone(&rig.node.manager);
    let trace = rig.node.trace.clone();
    let (done_sender, mut done) = mpsc::unbounded_channel();
    let handler = move |event: Event| {
        let manager = Arc::clone(&manager);
        let trace = trace.clone();
        let done = done_sender.clone();
        async move {
            tokio::task::yield_now().await;
            trace.push(format!("handle {}", label(&event)));
            if label(&event) == 'A' {
                // A claim: the state changes and the claim produces an event of its own.
                manager.queue(crate::testing::event('B'));
            }
            let _ = done.send(label(&event));
            Ok::<(), ReplayEvent>(())
        }
    };
    let processor = rig.builder(handler, config()).spawn().expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;

    rig.node.manager.queue(event('A'));
    assert_eq!(within("A is handled", done.recv()).await, Some('A'));
    assert_eq!(within("B is handled", done.recv()).await, Some('B'));
    within("the removal of B is written", async {
        while rig.node.store.value("manager").as_deref() != Some("v2 []") {
            tokio::task::yield_now().await;
        }
    })
    .await;

    // The handler's change is version 2; B was handed out only after a write of it.
    let trace = rig.node.trace.entries();
    let handle_b = trace
        .iter()
        .position(|e| e == "handle B")
        .expect("B handled");
    let changed = trace
        .iter()
        .position(|e| e.starts_with("write manager v2"))
        .expect("the handler's change was written");
    assert!(changed < handle_b, "{trace:?}");
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn manager_write_starts_before_prune() {
    let mut rig = Rig::with(Optional {
        gossip: Some(GossipKind::P2p),
        ..Optional::default()
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.node.advance_to(Duration::from_secs(59));
    rig.wait_for_idle(Duration::from_millis(500)).await;
    rig.node.trace.take();

    // A change and the first prune are due in the same turn.
    rig.store.hold("manager");
    rig.node.manager.change();
    rig.node.advance_to(Duration::from_secs(60));
    assert_eq!(rig.next_write().await, "manager");
    assert_eq!(rig.next_write().await, "network_graph");

    let trace = rig.node.trace.entries();
    let issue = trace
        .iter()
        .position(|e| e == "issue manager")
        .expect("the manager write was issued");
    let prune = trace
        .iter()
        .position(|e| e == "graph.prune")
        .expect("the graph was pruned");
    assert!(issue < prune, "{trace:?}");
    rig.store.release("manager", 100);
    processor.stop().await.expect("stops cleanly");
}

#[tokio::test]
async fn slow_graph_write_does_not_hold_back_manager_write() {
    let mut rig = Rig::with(Optional {
        gossip: Some(GossipKind::P2p),
        ..Optional::default()
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");

    // The graph write at the first prune is held in the store.
    rig.store.hold("network_graph");
    rig.node.advance_to(Duration::from_secs(60));
    assert_eq!(rig.next_write().await, "network_graph");

    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    within("the manager write completes", async {
        while rig.node.store.value("manager").as_deref() != Some("v1 []") {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(rig.node.trace.count("write network_graph"), 0, "still held");

    // The held write completes before stop returns.
    rig.store.release("network_graph", 100);
    processor.stop().await.expect("stops cleanly");
    assert_eq!(
        rig.node.trace.count("write network_graph"),
        2,
        "the prune's and the final"
    );
}

#[tokio::test]
async fn gate_wakes_every_waiter() {
    // The OnionMessenger polls several handler futures at once, so several events may wait
    // in the gate for the same write. A wake of one waiter only used to leave the others
    // waiting for a later write.
    let rig = Rig::new();
    let mut core = rig.node.core(config());
    let _ = core.turn(rig.node.now());
    let gate = core.async_gate();
    rig.node.manager.change();

    let both = async {
        tokio::join!(gate.admit(), gate.admit(), async {
            tokio::task::yield_now().await;
            assert_eq!(
                rig.node.trace.count("write manager v1 []"),
                0,
                "not written yet"
            );
            let _ = core.turn(rig.node.now());
        })
    };
    let (first, second, ()) = within("both waiters are admitted", both).await;

    assert!(first.is_ok(), "the first waiter is admitted");
    assert!(second.is_ok(), "the second waiter is admitted");
    assert_eq!(rig.node.trace.count("write manager v1 []"), 1);
}

/// A LiquidityManager whose persist waits for a permit, woken by the node's liquidity source.
struct HeldLiquidity {
    source: Arc<crate::testing::EventSource>,
    trace: crate::testing::Trace,
    permits: Arc<tokio::sync::Semaphore>,
}

impl crate::runner::tokio::AsyncLiquidityDriver for HeldLiquidity {
    fn register_wake(&self, callback: crate::components::WakeCallback) {
        self.source
            .notifier
            .get_future()
            .register_callback(Box::new(callback));
    }

    fn persist_async(self: Arc<Self>) -> crate::runner::tokio::LiquidityPersistFuture {
        Box::pin(async move {
            self.trace.push("liquidity.persist started");
            let permit = self.permits.acquire().await.expect("never closed");
            permit.forget();
            self.trace.push("liquidity.persist done");
            Ok(true)
        })
    }
}

#[tokio::test]
async fn liquidity_persist_runs_beside_manager_write() {
    let mut rig = Rig::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let liquidity = Arc::new(HeldLiquidity {
        source: Arc::clone(&rig.node.liquidity),
        trace: rig.node.trace.clone(),
        permits: Arc::clone(&permits),
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .liquidity_manager(liquidity)
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");
    rig.wait_for_idle(Duration::from_secs(1)).await;

    // The LiquidityManager signals, and its persist stays in flight.
    rig.node.liquidity.notifier.notify();
    within("the persist starts", async {
        while rig.node.trace.count("liquidity.persist started") == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    within("the manager write completes", async {
        while rig.node.store.value("manager").as_deref() != Some("v1 []") {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(
        rig.node.trace.count("liquidity.persist done"),
        0,
        "still in flight"
    );

    // A persist in flight when stop is requested completes before stop returns.
    let stop = tokio::spawn(processor.stop());
    within("the final write completes", async {
        while rig.node.trace.count("pm.disconnect") == 0
            || rig.node.store.faults.writes("manager") < 3
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(!stop.is_finished(), "stop waits for the persist in flight");
    // The final persist of the stop sequence starts once the one in flight completed.
    permits.add_permits(2);
    within("stop returns", stop)
        .await
        .expect("stop did not panic")
        .expect("stops cleanly");
    assert_eq!(rig.node.trace.count("liquidity.persist done"), 2);
    assert_eq!(rig.node.trace.count("liquidity.persist started"), 2);
}

/// An OutputSweeper whose runs wait for a permit each.
struct HeldSweeper {
    trace: crate::testing::Trace,
    permits: Arc<tokio::sync::Semaphore>,
}

impl crate::runner::tokio::AsyncSweeperDriver for HeldSweeper {
    fn regenerate_and_broadcast_spend_async(self: Arc<Self>) -> crate::runner::tokio::SweepFuture {
        Box::pin(async move {
            self.trace.push("sweep started");
            let permit = self.permits.acquire().await.expect("never closed");
            permit.forget();
            self.trace.push("sweep done");
            Ok(())
        })
    }
}

#[tokio::test]
async fn slow_sweep_runs_beside_writes_once_at_a_time() {
    let mut rig = Rig::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let sweeper = Arc::new(HeldSweeper {
        trace: rig.node.trace.clone(),
        permits: Arc::clone(&permits),
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .async_sweeper(sweeper)
        .spawn()
        .expect("spawns");
    assert_eq!(rig.next_write().await, "manager");

    // The first sweep is due at 30 s and stays in flight.
    rig.run_until(Duration::from_secs(30)).await;
    rig.wait_for_idle(Duration::from_secs(1)).await;
    assert_eq!(rig.node.trace.count("sweep started"), 1);

    rig.node.manager.change();
    assert_eq!(rig.next_write().await, "manager");
    within("the manager write completes", async {
        while rig.node.store.value("manager").as_deref() != Some("v1 []") {
            tokio::task::yield_now().await;
        }
    })
    .await;

    // The run due at 60 s waits for the one in flight, then starts.
    rig.run_until(Duration::from_secs(60)).await;
    rig.wait_for_idle(Duration::from_secs(1)).await;
    assert_eq!(
        rig.node.trace.count("sweep started"),
        1,
        "one run at a time"
    );
    permits.add_permits(1);
    within("the second run starts", async {
        while rig.node.trace.count("sweep started") < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(rig.node.trace.count("sweep done"), 1);

    permits.add_permits(1);
    processor.stop().await.expect("stops cleanly");
    assert_eq!(rig.node.trace.count("sweep done"), 2);
}

#[tokio::test]
async fn stop_starts_no_waiting_sweep() {
    // A stop that awaited the work in flight also started the sweep still waiting for it.
    let mut rig = Rig::new();
    let permits = Arc::new(tokio::sync::Semaphore::new(0));
    let sweeper = Arc::new(HeldSweeper {
        trace: rig.node.trace.clone(),
        permits: Arc::clone(&permits),
    });
    let processor = rig
        .builder(rig.recording_handler(), config())
        .async_sweeper(sweeper)
        .spawn()
        .expect("spawns");

    // The run due at 30 s stays in flight, so the run due at 60 s waits for it.
    rig.run_until(Duration::from_secs(60)).await;
    rig.wait_for_idle(Duration::from_secs(1)).await;
    assert_eq!(rig.node.trace.count("sweep started"), 1);

    let stop = tokio::spawn(processor.stop());
    permits.add_permits(10);
    within("stop returns", stop)
        .await
        .expect("stop did not panic")
        .expect("stops cleanly");

    assert_eq!(
        rig.node.trace.count("sweep started"),
        1,
        "no sweep after stop"
    );
    assert_eq!(rig.node.trace.count("sweep done"), 1);
}
