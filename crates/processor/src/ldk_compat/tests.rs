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
