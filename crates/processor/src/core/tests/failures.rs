//! Panics in user code and in the event worker, and how they end the processor.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lightning::events::Event;
use vigil_events::Dispatcher;

use super::{run_until, seconds_of, secs, turn};
use crate::components::MockLiquidityDriver;
use crate::config::Config;
use crate::core::{Core, Dispatch, EventSink, Step};
use crate::error::Error;
use crate::testing::{event, Node, Optional};

fn config() -> Config {
    Config {
        ping_interval: secs(10),
        ..Config::default()
    }
}

#[test]
fn observer_panic_names_event_kind() {
    // A panicking observer used to stop the processor with the event kind `unknown`.
    let node = Node::new(Optional::default());
    let mut parts = node.parts(node.recording_handler(), node.components(), config());
    let dispatcher =
        Dispatcher::new(node.recording_handler()).observe(|_: &Event| panic!("observer bug"));
    parts.sink = Arc::new(dispatcher) as Arc<dyn EventSink>;
    let mut core = Core::new(parts, Dispatch::Inline, node.start).expect("valid config");
    node.manager.queue(event('P'));

    let step = core.turn(node.now());

    let Step::Finished(Err(Error::HandlerPanicked {
        event_kind,
        message,
    })) = step
    else {
        panic!("expected the observer panic to end the core, got {step:?}");
    };
    assert_eq!(event_kind, "PaymentFailed");
    assert!(message.contains("observer bug"), "{message}");
    assert_eq!(node.trace.count("handle P"), 0, "the handler never saw it");
}

#[test]
fn failed_liquidity_persist_is_retried() {
    // A failed LiquidityManager persist was retried only on its next signal, which may never
    // come, so its changed state could stay unwritten.
    let node = Node::new(Optional {
        liquidity: true,
        ..Optional::default()
    });
    let mut liquidity = MockLiquidityDriver::new();
    let source = Arc::clone(&node.liquidity);
    liquidity.expect_register_wake().returning(move |callback| {
        source
            .notifier
            .get_future()
            .register_callback(Box::new(callback))
    });
    let (trace, failures) = (node.trace.clone(), AtomicUsize::new(1));
    liquidity.expect_persist().returning(move || {
        if failures.fetch_sub(1, Ordering::SeqCst) > 0 {
            trace.push("liquidity.persist failed");
            return Err(std::io::Error::other("disk full"));
        }
        trace.push("liquidity.persist");
        Ok(true)
    });
    let mut components = node.components();
    components.liquidity = Some(Arc::new(liquidity));
    let parts = node.parts(node.recording_handler(), components, config());
    let mut core = Core::new(parts, Dispatch::Inline, node.start).expect("valid config");
    turn(&mut core, &node);

    node.advance_to(secs(3));
    node.liquidity.notifier.notify();
    turn(&mut core, &node);
    assert_eq!(node.trace.count("liquidity.persist failed"), 1);

    let record = run_until(&mut core, &node, secs(20));
    assert_eq!(
        seconds_of(&record, "liquidity.persist"),
        [10],
        "retried with the next job"
    );
}
