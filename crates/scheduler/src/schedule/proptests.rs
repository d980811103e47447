//! Properties of [`Schedule`] over arbitrary job sets and clock advances, checked against a
//! brute-force model that scans every job on every call.

use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;

use super::Schedule;

const SECOND: u64 = 1000;
const DAY: u64 = 86_400 * SECOND;

/// A job's first delay and interval.
#[derive(Debug, Clone, Copy)]
struct JobSpec {
    first_delay: Duration,
    interval: Duration,
}

/// One step of a scenario.
#[derive(Debug, Clone, Copy)]
enum Step {
    Advance(Duration),
    Reset(u8),
    SetInterval(u8, Duration),
    Remove(u8),
}

/// The model: a plain list of jobs, scanned in full on every call.
#[derive(Debug, Clone)]
struct ModelJob {
    job: u8,
    deadline: Instant,
    interval: Duration,
}

fn interval() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1..=50u64).prop_map(Duration::from_millis),
        (1..=600 * SECOND).prop_map(Duration::from_millis),
        (1..=2 * DAY).prop_map(Duration::from_millis),
    ]
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    let first_delay = prop_oneof![Just(0), 0..=120 * SECOND].prop_map(Duration::from_millis);
    (first_delay, interval()).prop_map(|(first_delay, interval)| JobSpec {
        first_delay,
        interval,
    })
}

fn job_set() -> impl Strategy<Value = Vec<JobSpec>> {
    vec(job_spec(), 1..6)
}

/// Advances from zero to jumps of days, as after a suspended machine.
fn advance() -> impl Strategy<Value = Duration> {
    prop_oneof![
        2 => Just(Duration::ZERO),
        4 => (0..=1000u64).prop_map(Duration::from_millis),
        3 => (0..=120 * SECOND).prop_map(Duration::from_millis),
        1 => (DAY..=30 * DAY).prop_map(Duration::from_millis),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => advance().prop_map(Step::Advance),
        1 => (0..6u8).prop_map(Step::Reset),
        1 => (0..6u8, interval()).prop_map(|(job, interval)| Step::SetInterval(job, interval)),
        1 => (0..6u8).prop_map(Step::Remove),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    vec(step(), 0..80)
}

/// Generates a job set and advances that never skip a period: every advance is at most the smallest
/// interval.
fn gapless_scenario() -> impl Strategy<Value = (Vec<JobSpec>, Vec<Duration>)> {
    job_set().prop_flat_map(|jobs| {
        let min_interval = jobs
            .iter()
            .map(|spec| spec.interval)
            .min()
            .expect("job_set makes at least one job");
        let max_step = u64::try_from(min_interval.as_nanos()).expect("intervals fit in u64 ns");
        let advances = vec((0..=max_step).prop_map(Duration::from_nanos), 1..400);
        (Just(jobs), advances)
    })
}

fn build(start: Instant, jobs: &[JobSpec]) -> (Schedule<u8>, Vec<ModelJob>) {
    let mut schedule = Schedule::new();
    let mut model = Vec::new();
    for (job, spec) in (0u8..).zip(jobs) {
        schedule
            .add(job, start, spec.first_delay, spec.interval)
            .expect("strategies make positive intervals and distinct jobs");
        model.push(ModelJob {
            job,
            deadline: start + spec.first_delay,
            interval: spec.interval,
        });
    }
    (schedule, model)
}

/// Returns the model's due jobs in deadline order and re-arms them.
fn model_due(model: &mut [ModelJob], now: Instant) -> Vec<u8> {
    let mut due: Vec<(Instant, u8)> = model
        .iter()
        .filter(|entry| entry.deadline <= now)
        .map(|entry| (entry.deadline, entry.job))
        .collect();
    due.sort();

    for entry in model.iter_mut().filter(|entry| entry.deadline <= now) {
        let next_slot = entry.deadline + entry.interval;
        entry.deadline = if next_slot > now {
            next_slot
        } else {
            now + entry.interval
        };
    }
    due.into_iter().map(|(_, job)| job).collect()
}

/// Checks one `due` call against the schedule's own state and the model.
fn check_due(
    schedule: &mut Schedule<u8>,
    model: &mut [ModelJob],
    now: Instant,
) -> Result<(), TestCaseError> {
    let before: Vec<(u8, Instant)> = model
        .iter()
        .map(|entry| {
            let deadline = schedule
                .deadline(entry.job)
                .expect("model and schedule agree");
            (entry.job, deadline)
        })
        .collect();

    let due = schedule.due(now);
    let expected = model_due(model, now);

    prop_assert_eq!(
        &due,
        &expected,
        "due jobs at {:?}, deadlines before: {:?}",
        now,
        before
    );
    for job in &due {
        let deadline = before
            .iter()
            .find(|(entry, _)| entry == job)
            .map(|(_, d)| *d);
        prop_assert!(
            deadline.is_some_and(|deadline| deadline <= now),
            "job {} fired at {:?} before its deadline {:?}",
            job,
            now,
            deadline
        );
        let firings = due.iter().filter(|other| *other == job).count();
        prop_assert_eq!(
            firings,
            1,
            "job {} returned {} times in {:?}",
            job,
            firings,
            due
        );
    }
    for entry in model.iter() {
        let deadline = schedule.deadline(entry.job);
        prop_assert_eq!(
            deadline,
            Some(entry.deadline),
            "deadline of job {}",
            entry.job
        );
        prop_assert!(
            entry.deadline > now,
            "job {} is still due at {:?} (deadline {:?}) after `due` returned",
            entry.job,
            now,
            entry.deadline
        );
    }
    check_next_deadline(schedule, model)
}

fn check_next_deadline(schedule: &Schedule<u8>, model: &[ModelJob]) -> Result<(), TestCaseError> {
    let minimum = model.iter().map(|entry| entry.deadline).min();
    prop_assert_eq!(
        schedule.next_deadline(),
        minimum,
        "next deadline against the minimum over {:?}",
        model
    );
    Ok(())
}

fn apply(
    schedule: &mut Schedule<u8>,
    model: &mut Vec<ModelJob>,
    step: Step,
    now: Instant,
) -> Result<(), TestCaseError> {
    let position = |model: &[ModelJob], job: u8| model.iter().position(|entry| entry.job == job);
    match step {
        Step::Advance(_) => return check_due(schedule, model, now),
        Step::Reset(job) => {
            let known = schedule.reset(job, now);
            prop_assert_eq!(
                known,
                position(model, job).is_some(),
                "reset of job {}",
                job
            );
            if let Some(index) = position(model, job) {
                model[index].deadline = now + model[index].interval;
            }
        }
        Step::SetInterval(job, interval) => {
            let changed = schedule.set_interval(job, interval);
            prop_assert_eq!(
                changed.is_ok(),
                position(model, job).is_some(),
                "{:?}",
                changed
            );
            if let Some(index) = position(model, job) {
                model[index].interval = interval;
            }
        }
        Step::Remove(job) => {
            let removed = schedule.remove(job);
            prop_assert_eq!(
                removed,
                position(model, job).is_some(),
                "removal of job {}",
                job
            );
            model.retain(|entry| entry.job != job);
        }
    }
    check_next_deadline(schedule, model)
}

proptest! {
    #[test]
    fn schedule_matches_model(jobs in job_set(), steps in steps()) {
        let start = Instant::now();
        let (mut schedule, mut model) = build(start, &jobs);
        let mut now = start;
        check_next_deadline(&schedule, &model)?;

        for step in steps {
            if let Step::Advance(by) = step {
                now += by;
            }
            apply(&mut schedule, &mut model, step, now)?;
        }
    }

    #[test]
    fn gap_fires_once(jobs in job_set(), gap in advance(), lead in advance()) {
        let start = Instant::now();
        let (mut schedule, _) = build(start, &jobs);
        let before_gap = start + lead;
        schedule.due(before_gap);
        let deadlines: Vec<Option<Instant>> = (0u8..).take(jobs.len()).map(|job| schedule.deadline(job)).collect();

        let now = before_gap + gap;
        let due = schedule.due(now);
        let again = schedule.due(now);

        for (job, deadline) in (0u8..).zip(&deadlines) {
            let deadline = deadline.expect("every job is scheduled");
            let firings = due.iter().filter(|other| **other == job).count();
            let expected = usize::from(deadline <= now);
            prop_assert_eq!(
                firings, expected,
                "job {} with deadline {:?} fired {} times at {:?}", job, deadline, firings, now
            );
        }
        prop_assert!(again.is_empty(), "a second call at {:?} returned {:?}", now, again);
    }

    #[test]
    fn gapless_firings_follow_grid((jobs, advances) in gapless_scenario()) {
        let start = Instant::now();
        let (mut schedule, _) = build(start, &jobs);
        let mut firings: Vec<u32> = vec![0; jobs.len()];
        let mut now = start;
        // A turn at start, as a runner makes, so that no step spans a whole period.
        for job in schedule.due(start) {
            firings[usize::from(job)] += 1;
        }

        for by in advances {
            now += by;
            for job in schedule.due(now) {
                let spec = jobs[usize::from(job)];
                let slot = start + spec.first_delay + spec.interval * firings[usize::from(job)];
                prop_assert!(
                    now >= slot && now < slot + spec.interval,
                    "firing {} of job {} ({:?}) at {:?}, {:?} after start, slot {:?} after start",
                    firings[usize::from(job)],
                    job,
                    spec,
                    now,
                    now - start,
                    slot - start
                );
                firings[usize::from(job)] += 1;
            }
        }
    }
}
