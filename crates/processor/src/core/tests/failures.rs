//! Panics in user code and in the event worker, and how they end the processor.

use std::sync::Arc;

use lightning::events::Event;
use vigil_events::Dispatcher;

use super::secs;
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
