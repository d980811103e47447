//! Unit tests of the compat module's own parts; the end-to-end tests on real nodes live in
//! the workspace's `tests` package.

use std::io::ErrorKind;
use std::time::Duration;

use super::into_io_error;
use crate::error::Error;

#[test]
fn persist_error_keeps_store_error() {
    let error = Error::Persist {
        key: "manager".to_owned(),
        attempts: 3,
        source: std::io::Error::new(ErrorKind::StorageFull, "disk full"),
    };

    let converted = into_io_error(error);

    assert_eq!(converted.kind(), ErrorKind::StorageFull);
    assert_eq!(converted.to_string(), "disk full");
}

#[test]
fn other_errors_become_kind_other() {
    let error = Error::ShutdownTimeout {
        waited: Duration::from_secs(30),
    };

    let converted = into_io_error(error);

    assert_eq!(converted.kind(), ErrorKind::Other);
    assert!(
        converted.to_string().contains("still running"),
        "message was: {converted}"
    );
}

#[cfg(feature = "tokio")]
mod bridge {
    use std::panic::{self, AssertUnwindSafe};

    use executor::block_on;

    use crate::ldk_compat::bridge::{bridge, serve, CatchPanic};

    /// A minimal executor for futures that complete without outside wakers.
    mod executor {
        use std::future::Future;
        use std::pin::pin;
        use std::task::{Context, Poll, Waker};

        pub(super) fn block_on<F: Future>(future: F) -> F::Output {
            let mut future = pin!(future);
            let mut context = Context::from_waker(Waker::noop());
            loop {
                if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
                    return output;
                }
            }
        }
    }

    #[test]
    fn call_returns_served_output() {
        let (caller, server) = bridge::<u32, u32>();
        let reply = caller.call(21);
        drop(caller);

        let served = block_on(async {
            let ((), output) = tokio::join!(serve(server, |input| async move { input * 2 }), reply);
            output
        });

        assert_eq!(served, Some(42));
    }

    #[test]
    fn call_without_server_returns_none() {
        let (caller, server) = bridge::<u32, u32>();
        drop(server);

        let reply = block_on(caller.call(1));

        assert_eq!(reply, None);
    }

    #[test]
    fn catch_panic_returns_payload() {
        let caught = block_on(CatchPanic(Box::pin(async {
            panic!("handler failed");
        })));

        let payload = caught.expect_err("the panic is caught");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"handler failed"));
    }

    #[test]
    fn forwarded_panic_resumes_in_caller() {
        let (caller, server) = bridge();
        let handler = super::super::future::forwarding_handler(caller);
        let event = crate::testing::event('a');
        let call = handler(event);

        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            block_on(async {
                let serving = serve(server, |_event| {
                    CatchPanic(Box::pin(async { panic!("user handler failed") }))
                });
                tokio::select! {
                    () = serving => unreachable!("the handler's caller is still alive"),
                    result = call => result,
                }
            })
        }));

        let payload = outcome.expect_err("the user's panic reaches the runner's side");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"user handler failed"));
    }
}

mod gossip {
    use std::sync::Arc;

    use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
    use lightning::routing::utxo::UtxoLookup;
    use lightning::util::logger::{Logger, Record};
    use lightning_rapid_gossip_sync::RapidGossipSync;

    use crate::ldk_compat::GossipSync;

    struct Silent;
    impl Logger for Silent {
        fn log(&self, _: Record) {}
    }

    type Graph = NetworkGraph<Arc<Silent>>;

    fn graph() -> Arc<Graph> {
        Arc::new(NetworkGraph::new(
            bitcoin::Network::Regtest,
            Arc::new(Silent),
        ))
    }

    #[test]
    fn rapid_source_waits_for_first_sync() {
        let sync = Arc::new(RapidGossipSync::new(graph(), Arc::new(Silent)));

        let (driver, observer) = GossipSync::rapid(Arc::clone(&sync))
            .into_gossip()
            .into_parts();

        let driver = driver.expect("rapid sync has a graph to prune");
        assert!(driver.waits_for_initial_sync());
        assert!(!driver.is_initial_sync_complete());
        assert!(observer.is_some(), "payment failures update the graph");
    }

    #[test]
    fn p2p_source_prunes_without_waiting() {
        let sync = Arc::new(P2PGossipSync::new(
            graph(),
            None::<Arc<dyn UtxoLookup + Send + Sync>>,
            Arc::new(Silent),
        ));

        let (driver, observer) = GossipSync::p2p(Arc::clone(&sync))
            .into_gossip()
            .into_parts();

        let driver = driver.expect("p2p gossip has a graph to prune");
        assert!(!driver.waits_for_initial_sync());
        assert!(driver.is_initial_sync_complete());
        assert_eq!(
            driver.encode_graph(),
            lightning::util::ser::Writeable::encode(&*sync.network_graph().clone())
        );
        assert!(observer.is_some(), "payment failures update the graph");
    }

    #[test]
    fn no_gossip_has_no_graph() {
        let none: GossipSync<_, _, _, _, Arc<Silent>> = GossipSync::none();

        let (driver, observer) = none.into_gossip().into_parts();

        assert!(driver.is_none());
        assert!(observer.is_none());
    }
}

#[cfg(feature = "tokio")]
mod sleeper {
    use std::future::{pending, Future};
    use std::pin::{pin, Pin};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use crate::ldk_compat::sleep::{SleeperTimer, ThreadDeadline};
    use crate::runner::tokio::tests::support::{config, Rig};

    /// The number of sleeper calls after which the test's sleeper stops completing, so that
    /// a runner that keeps calling it returns instead of looping forever.
    const SLEEPER_CALL_LIMIT: usize = 50;

    #[test]
    fn sleeper_unused_after_exit() {
        // The reference lets a sleeper return early once it has requested the exit, and
        // calls it no more. A runner that waits through it during the stop spins.
        let rig = Rig::new();
        rig.store.hold("manager");
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let sleeper = move |_duration: Duration| {
            let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
            Box::pin(async move {
                if call > SLEEPER_CALL_LIMIT {
                    pending::<()>().await;
                }
                true
            })
        };
        let processor = rig
            .builder(rig.recording_handler(), config())
            .build()
            .expect("the test config is valid");
        let (turning, task) = processor.into_inline_parts(SleeperTimer::new(sleeper));
        let mut run = pin!(async {
            let (result, ()) = tokio::join!(turning, task.run_loop(|| async {}));
            result
        });
        let mut context = Context::from_waker(Waker::noop());

        let first = run.as_mut().poll(&mut context);

        assert!(first.is_pending(), "the ChannelManager write is held");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the sleeper was called again after it requested the exit"
        );

        rig.store.release("manager", 2);
        let end = poll_until_ready(run.as_mut(), &mut context);

        assert!(end.is_ok(), "{end:?}");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            rig.node.trace.count("write manager v0 []"),
            2,
            "the start and final writes"
        );
    }
    #[test]
    fn thread_deadline_completes() {
        let wait = ThreadDeadline::start(std::time::Instant::now());
        let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
        let mut context = Context::from_waker(&waker);
        let mut wait = pin!(wait);

        // The thread wakes this one once the deadline has passed; no timeout is needed,
        // because the deadline is now.
        while wait.as_mut().poll(&mut context).is_pending() {
            std::thread::park();
        }
    }

    /// Wakes a parked thread.
    struct ThreadWaker(std::thread::Thread);

    impl std::task::Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    /// Polls `future` until it completes; fails after a bounded number of polls.
    fn poll_until_ready<F: Future>(
        mut future: Pin<&mut F>,
        context: &mut Context<'_>,
    ) -> F::Output {
        for _ in 0..100 {
            if let Poll::Ready(output) = future.as_mut().poll(context) {
                return output;
            }
        }
        panic!("the future did not complete within 100 polls");
    }
}

/// Drops of the async functions' future while events are being handed out, and stops with
/// a handler that panics or never completes, over the simulated node in virtual time.
mod cancel {
    use std::future::{pending, poll_fn, Future};
    use std::ops::Deref;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use lightning::events::{Event, ReplayEvent};
    use parking_lot::Mutex;

    use crate::error::Error;
    use crate::ldk_compat::adapters::Handle;
    use crate::ldk_compat::bridge::{bridge, CatchPanic};
    use crate::ldk_compat::future::{
        forwarding_handler, run_in_caller, CallerWork, DispatchAll, EventComponents,
        FetchedTimeClock, LiquidityServer, SweepServer,
    };
    use crate::ldk_compat::sleep::SleeperTimer;
    use crate::ldk_compat::NO_ONION_MESSENGER;
    use crate::runner::tokio::tests::support::{config, Rig};
    use crate::runner::tokio::EventTask;
    use crate::stats::EventSource;
    use crate::testing::{event, label, ManagerState, Trace};

    /// The LiquidityManager persist of a node without one.
    type NoLiquidity = fn(()) -> std::future::Ready<Result<bool, std::io::Error>>;

    /// The sweep of a node without an OutputSweeper.
    type NoSweep = fn(()) -> std::future::Ready<Result<(), ()>>;

    /// The maximum number of polls a test makes before it decides the processor is stuck.
    const POLL_LIMIT: usize = 200;

    /// The simulated ChannelManager's events, handed out as LDK 0.2.7's ChannelManager does:
    /// a call made while an earlier call has not completed returns at once, and the mark of
    /// the earlier call is cleared only when that call completes.
    struct ExclusiveManager {
        state: Arc<ManagerState>,
        processing: AtomicBool,
    }

    impl ExclusiveManager {
        async fn hand_out<H, F>(&self, handler: H)
        where
            H: Fn(Event) -> F,
            F: Future<Output = Result<(), ReplayEvent>>,
        {
            if self.processing.swap(true, Ordering::AcqRel) {
                return;
            }
            let events: Vec<Event> = self.state.events.pending.lock().iter().cloned().collect();
            let mut handled = 0;
            for event in &events {
                if handler(event.clone()).await.is_err() {
                    break;
                }
                handled += 1;
            }
            self.state.events.pending.lock().drain(..handled);
            self.processing.store(false, Ordering::Release);
            if !events.is_empty() {
                self.state.needs_persist.store(true, Ordering::SeqCst);
                self.state.events.notifier.notify();
            }
        }
    }

    /// The handle the test's components are kept behind. It implements no `Deref`, so that
    /// its dispatch cannot overlap the one for LDK's types.
    #[derive(Clone)]
    struct ManagerHandle(Arc<ExclusiveManager>);

    impl<OM> DispatchAll for EventComponents<ManagerHandle, ManagerHandle, OM> {
        async fn dispatch_all(&self, task: &EventTask) {
            self.channel_manager
                .0
                 .0
                .hand_out(|event| task.handle(EventSource::ChannelManager, event))
                .await;
        }
    }

    /// Returns a sleeper whose sleeps complete with `true` once the test requests the exit, and
    /// never complete before.
    fn exit_sleeper(
        exit: &Arc<AtomicBool>,
    ) -> impl Fn(Duration) -> Pin<Box<dyn Future<Output = bool>>> {
        let exit = Arc::clone(exit);
        move |_duration| {
            let exit = Arc::clone(&exit);
            Box::pin(poll_fn(move |_context| {
                match exit.load(Ordering::Acquire) {
                    true => Poll::Ready(true),
                    false => Poll::Pending,
                }
            }))
        }
    }

    /// Returns the future of the async functions over `rig` and `manager`, with the user's
    /// `handler` and `sleeper`, as `process_events_async` builds it for LDK's types.
    fn run_compat<'a, H, HF, S, SF>(
        rig: &Rig,
        manager: &Arc<ExclusiveManager>,
        handler: H,
        sleeper: S,
    ) -> Pin<Box<dyn Future<Output = Result<(), Error>> + 'a>>
    where
        H: Fn(Event) -> HF + 'a,
        HF: Future<Output = Result<(), ReplayEvent>> + 'a,
        S: Fn(Duration) -> SF + 'a,
        SF: Future<Output = bool> + Unpin + 'a,
    {
        let (event_calls, event_server) = bridge();
        let processor = rig
            .external_events_builder(Box::new(forwarding_handler(event_calls)), config())
            .build()
            .expect("the test config is valid");
        let (turning, task) = processor.into_inline_parts(SleeperTimer::new(sleeper));
        let components = components(manager, NO_ONION_MESSENGER);
        let handler_work = move |event| CatchPanic(Box::pin(handler(event)));
        let work: CallerWork<_, NoLiquidity, NoSweep> = CallerWork {
            events: (event_server, handler_work),
            liquidity: None::<(LiquidityServer, _)>,
            sweep: None::<(SweepServer, _)>,
        };
        let clock = Arc::new(FetchedTimeClock {
            since_epoch: Mutex::new(None),
        });
        Box::pin(run_in_caller(
            turning,
            task,
            components,
            work,
            clock,
            || None,
        ))
    }

    fn components<OM: Deref>(
        manager: &Arc<ExclusiveManager>,
        _messenger: Option<OM>,
    ) -> EventComponents<ManagerHandle, ManagerHandle, OM> {
        EventComponents {
            channel_manager: Handle::shared(ManagerHandle(Arc::clone(manager))),
            chain_monitor: Handle::shared(ManagerHandle(Arc::clone(manager))),
            onion_messenger: None,
        }
    }

    /// A handler that records `enter X` for each event and never completes.
    fn stuck_handler(
        trace: &Trace,
    ) -> impl Fn(Event) -> std::future::Pending<Result<(), ReplayEvent>> {
        let trace = trace.clone();
        move |event| {
            trace.push(format!("enter {}", label(&event)));
            pending()
        }
    }

    /// A handler that records `handle X` for each event and accepts it.
    fn recording_handler(
        trace: &Trace,
    ) -> impl Fn(Event) -> std::future::Ready<Result<(), ReplayEvent>> {
        let trace = trace.clone();
        move |event| {
            trace.push(format!("handle {}", label(&event)));
            std::future::ready(Ok(()))
        }
    }

    /// Polls `run` until `done` returns true, and fails if `milestone` is not reached within
    /// the poll limit.
    fn poll_until<T>(
        run: &mut Pin<Box<dyn Future<Output = T> + '_>>,
        milestone: &str,
        mut done: impl FnMut(Option<&T>) -> bool,
    ) -> Option<T> {
        let mut context = Context::from_waker(Waker::noop());
        for _ in 0..POLL_LIMIT {
            match run.as_mut().poll(&mut context) {
                Poll::Ready(output) => {
                    assert!(
                        done(Some(&output)),
                        "the processor ended before {milestone}"
                    );
                    return Some(output);
                }
                Poll::Pending if done(None) => return None,
                Poll::Pending => {}
            }
        }
        panic!("the processor did not reach the point where {milestone} within {POLL_LIMIT} polls");
    }

    /// Starts a second run over the same components and checks that it hands out event `a`.
    fn assert_second_run_handles_a(rig: &Rig, manager: &Arc<ExclusiveManager>) {
        assert!(
            !manager.processing.load(Ordering::Acquire),
            "the ChannelManager is still marked as handing out events"
        );
        let trace = Trace::default();
        let never = Arc::new(AtomicBool::new(false));
        let mut second = run_compat(
            rig,
            manager,
            recording_handler(&trace),
            exit_sleeper(&never),
        );

        poll_until(&mut second, "event a is handed out again", |_| {
            trace.count("handle a") > 0
        });

        assert_eq!(trace.count("handle a"), 1);
    }

    fn node_with_event_a() -> (Rig, Arc<ExclusiveManager>) {
        let rig = Rig::new();
        let manager = Arc::new(ExclusiveManager {
            state: Arc::clone(&rig.node.manager),
            processing: AtomicBool::new(false),
        });
        rig.node.manager.queue(event('a'));
        (rig, manager)
    }

    #[test]
    fn drop_in_handler_replays_event() {
        let (rig, manager) = node_with_event_a();
        let trace = Trace::default();
        let never = Arc::new(AtomicBool::new(false));
        let mut first = run_compat(&rig, &manager, stuck_handler(&trace), exit_sleeper(&never));
        poll_until(&mut first, "the handler runs", |_| {
            trace.count("enter a") > 0
        });

        drop(first);

        assert_second_run_handles_a(&rig, &manager);
    }

    #[test]
    fn drop_at_gate_replays_event() {
        let (rig, manager) = node_with_event_a();
        rig.store.hold("manager");
        let trace = Trace::default();
        let never = Arc::new(AtomicBool::new(false));
        let mut first = run_compat(
            &rig,
            &manager,
            recording_handler(&trace),
            exit_sleeper(&never),
        );
        poll_until(&mut first, "event a waits for the write", |_| {
            manager.processing.load(Ordering::Acquire)
        });

        drop(first);
        rig.store.release("manager", 10);

        assert_eq!(trace.count("handle a"), 0, "the gate let event a through");
        assert_second_run_handles_a(&rig, &manager);
    }

    #[test]
    fn drop_while_idle_replays_event() {
        let (rig, manager) = node_with_event_a();
        let drained = manager
            .state
            .events
            .pending
            .lock()
            .drain(..)
            .collect::<Vec<_>>();
        let trace = Trace::default();
        let never = Arc::new(AtomicBool::new(false));
        let mut first = run_compat(
            &rig,
            &manager,
            recording_handler(&trace),
            exit_sleeper(&never),
        );
        poll_until(&mut first, "the start write is stored", |_| {
            rig.node.store.value("manager").is_some()
        });

        drop(first);
        manager.state.events.pending.lock().extend(drained);

        assert_second_run_handles_a(&rig, &manager);
    }

    #[test]
    fn drop_in_final_write_writes_on_restart() {
        let (rig, manager) = node_with_event_a();
        let trace = Trace::default();
        let exit = Arc::new(AtomicBool::new(false));
        let mut first = run_compat(
            &rig,
            &manager,
            recording_handler(&trace),
            exit_sleeper(&exit),
        );
        poll_until(&mut first, "event a is handled", |_| {
            trace.count("handle a") > 0
        });
        rig.store.hold("manager");
        exit.store(true, Ordering::Release);
        poll_until(&mut first, "the final write is issued", |_| {
            rig.node.trace.count("pm.disconnect") > 0
        });

        drop(first);
        let written_before_restart = rig.node.store.faults.writes("manager");
        rig.node.manager.queue(event('b'));
        rig.store.release("manager", 10);
        let second_trace = Trace::default();
        let never = Arc::new(AtomicBool::new(false));
        let mut second = run_compat(
            &rig,
            &manager,
            recording_handler(&second_trace),
            exit_sleeper(&never),
        );
        poll_until(&mut second, "event b is handled", |_| {
            second_trace.count("handle b") > 0
        });

        assert!(
            rig.node.store.faults.writes("manager") > written_before_restart,
            "the restart did not write the ChannelManager"
        );
        assert_eq!(
            second_trace.count("handle a"),
            0,
            "event a was handled twice"
        );
    }

    #[test]
    fn stuck_handler_times_out_on_exit() {
        let (rig, manager) = node_with_event_a();
        let trace = Trace::default();
        let exit = Arc::new(AtomicBool::new(false));
        let mut first = run_compat(&rig, &manager, stuck_handler(&trace), exit_sleeper(&exit));
        poll_until(&mut first, "the handler runs", |_| {
            trace.count("enter a") > 0
        });

        exit.store(true, Ordering::Release);
        poll_until(&mut first, "the final write is made", |_| {
            let entries = rig.node.trace.entries();
            let writes = entries
                .iter()
                .filter(|entry| entry.starts_with("write manager"));
            writes.count() >= 2
        });
        rig.node.advance_to(Duration::from_secs(31));
        let result = poll_until(&mut first, "the run ends", |output| output.is_some());

        assert!(
            matches!(result, Some(Err(Error::ShutdownTimeout { .. }))),
            "{result:?}"
        );
        drop(first);
        assert_second_run_handles_a(&rig, &manager);
    }

    #[test]
    fn panicking_handler_stops_and_replays() {
        let (rig, manager) = node_with_event_a();
        let panicking = |_event| async { panic!("user handler failed") };
        let exit = Arc::new(AtomicBool::new(false));
        let mut first = run_compat(&rig, &manager, panicking, exit_sleeper(&exit));

        let result = poll_until(&mut first, "the run ends", |output| output.is_some());

        assert!(
            matches!(result, Some(Err(Error::HandlerPanicked { .. }))),
            "{result:?}"
        );
        drop(first);
        assert_second_run_handles_a(&rig, &manager);
    }
}
