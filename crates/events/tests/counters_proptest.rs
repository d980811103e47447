//! Property tests: for any script of events and outcomes, the counters add up and the handler
//! sees the events in the order given.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lightning::events::{Event, EventHandler, ReplayEvent};
use proptest::prelude::*;
use vigil_events::{event_kind, DispatchError, Dispatcher};

use common::{event_id, payment_failed, payment_sent, probe_failed, probe_successful, short_path};

/// How the handler or an observer responds to one scripted event.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Accept,
    Replay,
    HandlerPanics,
    ObserverPanics,
}

/// One scripted event: its kind, how it ends and how long the handler takes, in milliseconds.
#[derive(Clone, Debug)]
struct Step {
    kind: u8,
    outcome: Outcome,
    handler_millis: u64,
}

fn build_event(kind: u8, id: u32) -> Event {
    match kind {
        0 => payment_failed(id),
        1 => payment_sent(id, [0xcd; 32]),
        2 => probe_successful(id, short_path()),
        3 => probe_failed(id, short_path(), Some(1)),
        _ => common::path_successful(id, short_path()),
    }
}

mod proptests {
    use super::*;

    pub fn outcome() -> impl Strategy<Value = Outcome> {
        prop_oneof![
            6 => Just(Outcome::Accept),
            2 => Just(Outcome::Replay),
            1 => Just(Outcome::HandlerPanics),
            1 => Just(Outcome::ObserverPanics),
        ]
    }

    pub fn step() -> impl Strategy<Value = Step> {
        (0..5_u8, outcome(), 0..500_u64).prop_map(|(kind, outcome, handler_millis)| Step {
            kind,
            outcome,
            handler_millis,
        })
    }

    pub fn script() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(step(), 0..40)
    }
}

/// Ids of the events the scripted handler and observer received, in order.
#[derive(Default)]
struct Record {
    handled: Vec<u32>,
    observed: Vec<u32>,
}

proptest! {
    #[test]
    fn counters_add_up(script in proptests::script()) {
        common::silence_scripted_panics();
        let script = Arc::new(script);
        let record = Arc::new(Mutex::new(Record::default()));
        let now = Arc::new(Mutex::new(Instant::now()));

        let handler = {
            let (script, record, now) = (Arc::clone(&script), Arc::clone(&record), Arc::clone(&now));
            move |event: Event| {
                let id = event_id(&event).expect("scripted events carry an id");
                let step = &script[id as usize];
                record.lock().unwrap().handled.push(id);
                *now.lock().unwrap() += Duration::from_millis(step.handler_millis);
                match step.outcome {
                    Outcome::Accept => Ok(()),
                    Outcome::Replay => Err(ReplayEvent()),
                    Outcome::HandlerPanics => panic!("scripted panic in handler for {id}"),
                    Outcome::ObserverPanics => unreachable!("the observer panicked first"),
                }
            }
        };
        let observer = {
            let (script, record) = (Arc::clone(&script), Arc::clone(&record));
            move |event: &Event| {
                let id = event_id(event).expect("scripted events carry an id");
                record.lock().unwrap().observed.push(id);
                if script[id as usize].outcome == Outcome::ObserverPanics {
                    panic!("scripted panic in observer for {id}");
                }
            }
        };
        let clock = Arc::clone(&now);
        let dispatcher = Dispatcher::new(handler).observe(observer).with_clock(move || *clock.lock().unwrap());

        let mut results = Vec::new();
        for (id, step) in script.iter().enumerate() {
            results.push(dispatcher.handle_event(build_event(step.kind, id as u32)));
        }

        let counters = dispatcher.counters();
        let count = |outcome| script.iter().filter(|step| step.outcome == outcome).count() as u64;
        let handled_steps: Vec<(u32, &Step)> = script
            .iter()
            .enumerate()
            .filter(|(_, step)| step.outcome != Outcome::ObserverPanics)
            .map(|(id, step)| (id as u32, step))
            .collect();

        let mut expected_per_kind = BTreeMap::new();
        for (id, step) in script.iter().enumerate() {
            *expected_per_kind.entry(event_kind(&build_event(step.kind, id as u32))).or_insert(0) += 1;
        }
        prop_assert_eq!(&counters.per_kind, &expected_per_kind, "events per kind");
        prop_assert_eq!(counters.events(), script.len() as u64, "every event counted once");
        prop_assert_eq!(counters.replays, count(Outcome::Replay), "replays");
        prop_assert_eq!(
            counters.panics,
            count(Outcome::HandlerPanics) + count(Outcome::ObserverPanics),
            "panics"
        );

        let expected_total: u64 = handled_steps.iter().map(|(_, step)| step.handler_millis).sum();
        let expected_max = handled_steps.iter().map(|(_, step)| step.handler_millis).max().unwrap_or(0);
        prop_assert_eq!(counters.handler_time_total, Duration::from_millis(expected_total), "total handler time");
        prop_assert_eq!(counters.handler_time_max, Duration::from_millis(expected_max), "max handler time");

        let record = record.lock().unwrap();
        let expected_handled: Vec<u32> = handled_steps.iter().map(|(id, _)| *id).collect();
        prop_assert_eq!(&record.handled, &expected_handled, "handler order");
        prop_assert_eq!(&record.observed, &(0..script.len() as u32).collect::<Vec<_>>(), "observer order");

        for (id, (step, result)) in script.iter().zip(&results).enumerate() {
            let accepted = step.outcome == Outcome::Accept;
            prop_assert_eq!(result.is_ok(), accepted, "result of event {} with outcome {:?}", id, step.outcome);
        }

        let first_panic = script.iter().enumerate().find(|(_, step)| {
            matches!(step.outcome, Outcome::HandlerPanics | Outcome::ObserverPanics)
        });
        match (first_panic, dispatcher.take_failure()) {
            (None, failure) => prop_assert_eq!(failure, None),
            (Some((id, step)), Some(DispatchError::HandlerPanicked { event_kind: kind, message })) => {
                prop_assert_eq!(step.outcome, Outcome::HandlerPanics);
                prop_assert_eq!(kind, event_kind(&build_event(step.kind, id as u32)));
                prop_assert_eq!(message, format!("scripted panic in handler for {id}"));
            },
            (Some((id, step)), Some(DispatchError::ObserverPanicked { event_kind: kind, position, message })) => {
                prop_assert_eq!(step.outcome, Outcome::ObserverPanics);
                prop_assert_eq!(kind, event_kind(&build_event(step.kind, id as u32)));
                prop_assert_eq!(position, 0);
                prop_assert_eq!(message, format!("scripted panic in observer for {id}"));
            },
            (Some(_), failure) => prop_assert!(false, "expected a recorded panic, got {:?}", failure),
        }
    }
}
