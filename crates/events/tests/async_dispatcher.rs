//! The async dispatcher on a current-thread tokio runtime, with futures completed by channels
//! instead of timers.

mod common;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning::events::{Event, ReplayEvent};
use mockall::predicate::function;
use mockall::{mock, Sequence};
use tokio::sync::oneshot;
use vigil_events::{AsyncDispatcher, DispatchError, Observer};

use common::{event_id, payment_failed, payment_sent};

mock! {
    Watcher {}
    impl Observer for Watcher {
        fn observe(&self, event: &Event);
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime needs no resources that can run out")
        .block_on(future)
}

fn assert_send_unpin<T: Send + Unpin>(_value: &T) {}

fn assert_send<T: Send>(_value: &T) {}

fn has_id(id: u32) -> impl Fn(&Event) -> bool {
    move |event: &Event| event_id(event) == Some(id)
}

#[test]
fn observers_run_before_async_handler() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let mut sequence = Sequence::new();
    let mut first = MockWatcher::new();
    let mut second = MockWatcher::new();
    for id in [1, 2] {
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
    }
    let handler_calls = Arc::clone(&calls);
    let dispatcher = AsyncDispatcher::new(move |event: Event| {
        let calls = Arc::clone(&handler_calls);
        async move {
            calls.lock().unwrap().push(event_id(&event).unwrap());
            Ok(())
        }
    })
    .observe(first)
    .observe(second);

    block_on(async {
        assert!(dispatcher.handle_event(payment_failed(1)).await.is_ok());
        assert!(dispatcher.handle_event(payment_failed(2)).await.is_ok());
    });

    assert_eq!(*calls.lock().unwrap(), vec![1, 2]);
    assert_eq!(dispatcher.counters().kind("PaymentFailed"), 2);
}

#[test]
fn pending_handler_completes_when_signalled() {
    let (release, released) = oneshot::channel::<Result<(), ReplayEvent>>();
    let released = Mutex::new(Some(released));
    let now = Arc::new(Mutex::new(Instant::now()));
    let clock = Arc::clone(&now);
    let dispatcher = AsyncDispatcher::new(|_event: Event| {
        let released = released
            .lock()
            .unwrap()
            .take()
            .expect("one event in this test");
        async move { released.await.expect("the test sends before dropping") }
    })
    .with_clock(move || *clock.lock().unwrap());

    let (result, ()) = block_on(async {
        tokio::join!(dispatcher.handle_event(payment_failed(1)), async {
            // The handler's future is pending until this branch sends, 300 virtual ms later.
            tokio::task::yield_now().await;
            *now.lock().unwrap() += Duration::from_millis(300);
            release.send(Err(ReplayEvent())).unwrap();
        })
    });

    assert!(result.is_err(), "the handler's replay request reaches LDK");
    let counters = dispatcher.counters();
    assert_eq!(counters.replays, 1);
    assert_eq!(counters.handler_time_total, Duration::from_millis(300));
    assert_eq!(counters.handler_time_max, Duration::from_millis(300));
}

#[test]
fn panic_while_polling_is_contained() {
    common::silence_scripted_panics();
    let dispatcher = AsyncDispatcher::new(|event: Event| async move {
        tokio::task::yield_now().await;
        if event_id(&event) == Some(1) {
            panic!("scripted panic after a yield");
        }
        Ok(())
    });

    let (first, second) = block_on(async {
        let first = dispatcher.handle_event(payment_sent(1, [0xab; 32])).await;
        let second = dispatcher.handle_event(payment_sent(2, [0xab; 32])).await;
        (first, second)
    });

    assert!(first.is_err(), "the panicking event must be replayed");
    assert!(second.is_ok(), "the dispatcher keeps working after a panic");
    assert_eq!(
        dispatcher.take_failure(),
        Some(DispatchError::HandlerPanicked {
            event_kind: "PaymentSent",
            message: "scripted panic after a yield".to_owned(),
        })
    );
    assert_eq!(dispatcher.counters().panics, 1);
}

#[test]
fn panic_creating_future_is_contained() {
    common::silence_scripted_panics();
    let dispatcher = AsyncDispatcher::new(
        |_event: Event| -> std::future::Ready<Result<(), ReplayEvent>> {
            panic!("scripted panic before the future exists");
        },
    );

    let result = block_on(dispatcher.handle_event(payment_failed(1)));

    assert!(result.is_err());
    let failure = dispatcher
        .take_failure()
        .expect("the panic should be recorded");
    assert_eq!(failure.event_kind(), "PaymentFailed");
    assert_eq!(failure.message(), "scripted panic before the future exists");
}

#[test]
fn async_observer_panic_skips_handler() {
    common::silence_scripted_panics();
    let handler_calls = Arc::new(Mutex::new(0));
    let calls = Arc::clone(&handler_calls);
    let dispatcher = AsyncDispatcher::new(move |_event: Event| {
        *calls.lock().unwrap() += 1;
        std::future::ready(Ok(()))
    })
    .observe(|_event: &Event| panic!("scripted panic in observer"));

    let result = block_on(dispatcher.handle_event(payment_failed(1)));

    assert!(result.is_err());
    assert_eq!(
        *handler_calls.lock().unwrap(),
        0,
        "the handler must not run after an observer panic"
    );
    assert!(matches!(
        dispatcher.take_failure(),
        Some(DispatchError::ObserverPanicked { position: 0, .. })
    ));
}

#[test]
fn futures_are_send_and_boxed_is_unpin() {
    let dispatcher = AsyncDispatcher::new(|_event: Event| async { Ok(()) });

    let future = dispatcher.handle_event(payment_failed(1));
    assert_send(&future);
    drop(future);

    // `OnionMessenger::process_pending_events_async` requires an `Unpin` future.
    let boxed = dispatcher.handle_event_boxed(payment_failed(2));
    assert_send_unpin(&boxed);
    assert!(block_on(boxed).is_ok());
    assert_eq!(
        dispatcher.counters().kind("PaymentFailed"),
        1,
        "only the polled future ran"
    );
}

#[test]
fn spawned_dispatch_on_multi_thread_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let dispatcher = Arc::new(AsyncDispatcher::new(|event: Event| async move {
        match event_id(&event) {
            Some(id) if id % 2 == 0 => Ok(()),
            _ => Err(ReplayEvent()),
        }
    }));

    let results = runtime.block_on(async {
        let mut tasks = Vec::new();
        for id in 0..8 {
            let dispatcher = Arc::clone(&dispatcher);
            tasks.push(tokio::spawn(async move {
                dispatcher.handle_event(payment_failed(id)).await
            }));
        }
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("no task panics"));
        }
        results
    });

    for (id, result) in results.iter().enumerate() {
        assert_eq!(result.is_ok(), id % 2 == 0, "event {id}");
    }
    let counters = dispatcher.counters();
    assert_eq!(counters.events(), 8);
    assert_eq!(counters.replays, 4);
}
