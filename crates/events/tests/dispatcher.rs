//! The blocking dispatcher against mockall mocks of the handler and of observers.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning::events::{Event, EventHandler, ReplayEvent};
use lightning::util::logger::Level;
use mockall::predicate::function;
use mockall::{mock, Sequence};
use vigil_events::{DispatchError, Dispatcher, Observer};

use common::{event_id, payment_failed, payment_sent, RecordingLogger};

mock! {
    Handler {}
    impl EventHandler for Handler {
        fn handle_event(&self, event: Event) -> Result<(), ReplayEvent>;
    }
}

mock! {
    Watcher {}
    impl Observer for Watcher {
        fn observe(&self, event: &Event);
    }
}

fn has_id(id: u32) -> impl Fn(&Event) -> bool {
    move |event: &Event| event_id(event) == Some(id)
}

#[test]
fn observers_run_in_order_before_handler() {
    let mut sequence = Sequence::new();
    let mut first = MockWatcher::new();
    let mut second = MockWatcher::new();
    let mut handler = MockHandler::new();
    for id in 0..3 {
        first
            .expect_observe()
            .with(function(has_id(id)))
            .times(1)
            .in_sequence(&mut sequence)
            .return_const(());
        second
            .expect_observe()
            .with(function(has_id(id)))
            .times(1)
            .in_sequence(&mut sequence)
            .return_const(());
        handler
            .expect_handle_event()
            .withf(move |event| event_id(event) == Some(id))
            .times(1)
            .in_sequence(&mut sequence)
            .returning(|_| Ok(()));
    }
    let dispatcher = Dispatcher::new(handler).observe(first).observe(second);

    for id in 0..3 {
        assert!(
            dispatcher.handle_event(payment_failed(id)).is_ok(),
            "event {id} should be accepted"
        );
    }

    assert_eq!(dispatcher.counters().kind("PaymentFailed"), 3);
}

#[test]
fn every_observer_sees_every_event() {
    let seen: Vec<Arc<Mutex<Vec<u32>>>> = (0..4).map(|_| Arc::default()).collect();
    let mut dispatcher = Dispatcher::new(|_event: Event| Ok(()));
    for log in &seen {
        let log = Arc::clone(log);
        dispatcher = dispatcher
            .observe(move |event: &Event| log.lock().unwrap().push(event_id(event).unwrap()));
    }

    for id in 0..10 {
        let event = if id % 2 == 0 {
            payment_failed(id)
        } else {
            payment_sent(id, [0; 32])
        };
        dispatcher.handle_event(event).unwrap();
    }

    for (position, log) in seen.iter().enumerate() {
        assert_eq!(
            *log.lock().unwrap(),
            (0..10).collect::<Vec<_>>(),
            "observer {position}"
        );
    }
}

#[test]
fn observers_see_events_the_handler_rejects() {
    let mut watcher = MockWatcher::new();
    watcher.expect_observe().times(2).return_const(());
    let mut handler = MockHandler::new();
    handler
        .expect_handle_event()
        .times(2)
        .returning(|_| Err(ReplayEvent()));
    let dispatcher = Dispatcher::new(handler).observe(watcher);

    assert!(dispatcher.handle_event(payment_failed(1)).is_err());
    assert!(dispatcher.handle_event(payment_failed(1)).is_err());
}

#[test]
fn replay_from_handler_reaches_caller() {
    let mut handler = MockHandler::new();
    handler
        .expect_handle_event()
        .withf(|event| event_id(event) == Some(1))
        .times(1)
        .returning(|_| Err(ReplayEvent()));
    handler
        .expect_handle_event()
        .withf(|event| event_id(event) == Some(2))
        .times(1)
        .returning(|_| Ok(()));
    let dispatcher = Dispatcher::new(handler);

    assert!(
        dispatcher.handle_event(payment_failed(1)).is_err(),
        "the handler's replay must reach LDK"
    );
    assert!(dispatcher.handle_event(payment_failed(2)).is_ok());

    let counters = dispatcher.counters();
    assert_eq!(counters.replays, 1);
    assert_eq!(counters.panics, 0);
    assert!(
        dispatcher.take_failure().is_none(),
        "a replay request is not a failure"
    );
}

#[test]
fn handler_panic_is_contained_and_reported() {
    common::silence_scripted_panics();
    let mut handler = MockHandler::new();
    handler
        .expect_handle_event()
        .times(1)
        .returning(|_| panic!("scripted panic in handler"));
    let dispatcher = Dispatcher::new(handler);

    let result = dispatcher.handle_event(payment_sent(1, [0xab; 32]));

    assert!(
        result.is_err(),
        "a panicking handler's event must be replayed"
    );
    assert_eq!(
        dispatcher.take_failure(),
        Some(DispatchError::HandlerPanicked {
            event_kind: "PaymentSent",
            message: "scripted panic in handler".to_owned(),
        })
    );
    assert_eq!(
        dispatcher.take_failure(),
        None,
        "take_failure removes the failure"
    );
    let counters = dispatcher.counters();
    assert_eq!(counters.panics, 1);
    assert_eq!(counters.replays, 0, "a panic is not a replay request");
}

#[test]
fn handler_panic_with_formatted_message() {
    common::silence_scripted_panics();
    let handler = |event: Event| -> Result<(), ReplayEvent> {
        panic!("scripted panic for event {}", event_id(&event).unwrap());
    };
    let dispatcher = Dispatcher::new(handler);

    assert!(dispatcher.handle_event(payment_failed(9)).is_err());

    let failure = dispatcher
        .take_failure()
        .expect("the panic should be recorded");
    assert_eq!(failure.event_kind(), "PaymentFailed");
    assert_eq!(failure.message(), "scripted panic for event 9");
}

#[test]
fn first_failure_kept_until_taken() {
    common::silence_scripted_panics();
    let handler = |event: Event| -> Result<(), ReplayEvent> {
        panic!("scripted panic {}", event_id(&event).unwrap());
    };
    let dispatcher = Dispatcher::new(handler);

    let _ = dispatcher.handle_event(payment_failed(1));
    let _ = dispatcher.handle_event(payment_sent(2, [0; 32]));

    assert_eq!(
        dispatcher
            .take_failure()
            .map(|failure| failure.message().to_owned()),
        Some("scripted panic 1".to_owned())
    );
    assert_eq!(dispatcher.take_failure(), None);
    assert_eq!(dispatcher.counters().panics, 2);

    let _ = dispatcher.handle_event(payment_failed(3));
    assert_eq!(
        dispatcher
            .take_failure()
            .map(|failure| failure.message().to_owned()),
        Some("scripted panic 3".to_owned())
    );
}

#[test]
fn dispatcher_works_after_handler_panic() {
    common::silence_scripted_panics();
    let mut handler = MockHandler::new();
    handler
        .expect_handle_event()
        .withf(|event| event_id(event) == Some(1))
        .times(1)
        .returning(|_| panic!("scripted panic"));
    handler
        .expect_handle_event()
        .withf(|event| event_id(event) == Some(2))
        .times(1)
        .returning(|_| Ok(()));
    let dispatcher = Dispatcher::new(handler);

    assert!(dispatcher.handle_event(payment_failed(1)).is_err());
    assert!(dispatcher.handle_event(payment_failed(2)).is_ok());
}

#[test]
fn observer_panic_skips_rest_and_handler() {
    common::silence_scripted_panics();
    let mut sequence = Sequence::new();
    let mut first = MockWatcher::new();
    first
        .expect_observe()
        .times(1)
        .in_sequence(&mut sequence)
        .return_const(());
    let mut panicking = MockWatcher::new();
    panicking
        .expect_observe()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(|_| panic!("scripted panic in observer"));
    let mut skipped = MockWatcher::new();
    skipped.expect_observe().never();
    let mut handler = MockHandler::new();
    handler.expect_handle_event().never();
    let dispatcher = Dispatcher::new(handler)
        .observe(first)
        .observe(panicking)
        .observe(skipped);

    assert!(
        dispatcher.handle_event(payment_failed(1)).is_err(),
        "the event must be replayed"
    );

    assert_eq!(
        dispatcher.take_failure(),
        Some(DispatchError::ObserverPanicked {
            event_kind: "PaymentFailed",
            position: 1,
            message: "scripted panic in observer".to_owned(),
        })
    );
    let counters = dispatcher.counters();
    assert_eq!(counters.panics, 1);
    assert_eq!(counters.kind("PaymentFailed"), 1);
    assert_eq!(
        counters.handler_time_total,
        Duration::ZERO,
        "the handler never ran"
    );
}

#[test]
fn non_string_panic_payload_is_named() {
    common::silence_scripted_panics();
    let dispatcher = Dispatcher::new(|_event: Event| -> Result<(), ReplayEvent> {
        // `resume_unwind` starts an unwind with any payload and skips the panic hook.
        std::panic::resume_unwind(Box::new(17_u32));
    });

    assert!(dispatcher.handle_event(payment_failed(1)).is_err());

    let failure = dispatcher
        .take_failure()
        .expect("the panic should be recorded");
    assert_eq!(failure.message(), "panic payload is not a string");
}

#[test]
fn handler_time_measured_with_clock() {
    let now = Arc::new(Mutex::new(Instant::now()));
    let clock = Arc::clone(&now);
    let advance = Arc::clone(&now);
    let handler = move |event: Event| {
        let millis = u64::from(event_id(&event).unwrap());
        *advance.lock().unwrap() += Duration::from_millis(millis);
        Ok(())
    };
    let dispatcher = Dispatcher::new(handler).with_clock(move || *clock.lock().unwrap());

    for millis in [30, 200, 5] {
        dispatcher.handle_event(payment_failed(millis)).unwrap();
    }

    let counters = dispatcher.counters();
    assert_eq!(counters.handler_time_total, Duration::from_millis(235));
    assert_eq!(counters.handler_time_max, Duration::from_millis(200));
}

#[test]
fn logs_name_kind_never_secrets() {
    common::silence_scripted_panics();
    let logger = Arc::new(RecordingLogger::default());
    let preimage = [0xab; 32];
    let mut handler = MockHandler::new();
    handler.expect_handle_event().times(1).returning(|_| Ok(()));
    handler
        .expect_handle_event()
        .times(1)
        .returning(|_| Err(ReplayEvent()));
    handler
        .expect_handle_event()
        .times(1)
        .returning(|_| panic!("scripted panic"));
    let dispatcher = Dispatcher::new(handler).with_logger(logger.clone());

    for _ in 0..3 {
        let _ = dispatcher.handle_event(payment_sent(1, preimage));
    }

    let records = logger.records();
    assert!(
        records
            .iter()
            .all(|(_, message)| message.contains("PaymentSent")),
        "every record names the kind: {records:?}"
    );
    for (_, message) in &records {
        assert!(
            !message.to_lowercase().contains("abab"),
            "a record contains the preimage: {message}"
        );
        assert!(
            !message.contains("Preimage"),
            "a record contains the preimage: {message}"
        );
    }
    assert_eq!(
        logger.messages_at(Level::Warn).len(),
        1,
        "one warn for the replay: {records:?}"
    );
    assert_eq!(
        logger.messages_at(Level::Error).len(),
        1,
        "one error for the panic: {records:?}"
    );
}

#[test]
fn handler_accessors() {
    let mut dispatcher = Dispatcher::new(MockHandler::new()).observe(|_event: &Event| {});
    assert_eq!(dispatcher.observer_count(), 1);

    dispatcher
        .get_mut()
        .expect_handle_event()
        .times(1)
        .returning(|_| Ok(()));
    dispatcher.handle_event(payment_failed(1)).unwrap();

    let handler: &MockHandler = dispatcher.get_ref();
    let _ = handler;
    let mut handler = dispatcher.into_inner();
    handler.checkpoint();
}

#[test]
fn dispatcher_by_reference_is_handler() {
    fn hand_out<H: std::ops::Deref>(handler: H, event: Event) -> Result<(), ReplayEvent>
    where
        H::Target: EventHandler,
    {
        handler.handle_event(event)
    }

    let dispatcher = Dispatcher::new(|_event: Event| Err(ReplayEvent()));

    // LDK's `process_pending_events` takes the handler through `Deref` in the same way.
    assert!(hand_out(&dispatcher, payment_failed(1)).is_err());
    assert_eq!(dispatcher.counters().replays, 1);
}
