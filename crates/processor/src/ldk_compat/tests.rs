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
