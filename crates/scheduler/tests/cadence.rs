//! `Schedule` in virtual time: LDK's default cadence, missed deadlines and changes to jobs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vigil_scheduler::{Clock, ManualClock, Schedule, ScheduleError};

const CHANNEL_MANAGER_TICK: &str = "channel_manager_tick";
const PING: &str = "ping";
const ONION_MESSENGER_TICK: &str = "onion_messenger_tick";
const REBROADCAST: &str = "rebroadcast_pending_claims";
const ARCHIVE: &str = "archive_monitors";

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

/// Returns a schedule with LDK's default intervals, started at `start`.
fn ldk_defaults(start: Instant) -> Schedule {
    let mut schedule = Schedule::new();
    let jobs = [
        // (job, first delay, interval)
        (CHANNEL_MANAGER_TICK, secs(0), secs(60)),
        (PING, secs(10), secs(10)),
        (ONION_MESSENGER_TICK, secs(10), secs(10)),
        (REBROADCAST, secs(0), secs(30)),
        (ARCHIVE, secs(15), secs(600)),
    ];
    for (job, first_delay, interval) in jobs {
        schedule
            .add(job, start, first_delay, interval)
            .expect("default intervals are positive and the names distinct");
    }
    schedule
}

/// Runs `due` at the clock's time and adds the fired jobs to `counts`.
fn run_due(schedule: &mut Schedule, clock: &ManualClock, counts: &mut BTreeMap<&'static str, u32>) {
    for job in schedule.due(clock.now()) {
        *counts.entry(job).or_default() += 1;
    }
}

/// Asserts which jobs `due` returns at `now`, in order.
#[track_caller]
fn assert_due(schedule: &mut Schedule, now: Instant, expected: &[&str]) {
    let due = schedule.due(now);
    assert_eq!(due, expected, "jobs due at {now:?}");
}

#[test]
fn ldk_defaults_cadence_and_jump() {
    let clock = ManualClock::new(Instant::now(), None);
    let mut schedule = ldk_defaults(clock.now());
    let mut counts = BTreeMap::new();

    // 125 s in 100 ms steps, with a turn at start as a runner would do.
    run_due(&mut schedule, &clock, &mut counts);
    for _ in 0..1250 {
        clock.advance(Duration::from_millis(100));
        run_due(&mut schedule, &clock, &mut counts);
    }

    assert_eq!(counts[CHANNEL_MANAGER_TICK], 3, "ticks at 0, 60 and 120 s");
    assert_eq!(counts[PING], 12, "pings at 10, 20, ..., 120 s");
    assert_eq!(
        counts[ONION_MESSENGER_TICK], 12,
        "ticks at 10, 20, ..., 120 s"
    );
    assert_eq!(
        counts[REBROADCAST], 5,
        "rebroadcasts at 0, 30, 60, 90 and 120 s"
    );
    assert_eq!(counts[ARCHIVE], 1, "archiving at 15 s");

    // A 10 minute jump, as after a suspended laptop: each job is due once, not once per
    // missed period.
    clock.advance(secs(600));
    let after_jump = schedule.due(clock.now());

    assert_eq!(
        after_jump.len(),
        5,
        "jobs due after the jump: {after_jump:?}"
    );
    for job in [
        CHANNEL_MANAGER_TICK,
        PING,
        ONION_MESSENGER_TICK,
        REBROADCAST,
        ARCHIVE,
    ] {
        let firings = after_jump.iter().filter(|due| **due == job).count();
        assert_eq!(firings, 1, "{job} should fire once after the jump");
    }
    assert_due(&mut schedule, clock.now(), &[]);
}

#[test]
fn ldk_defaults_deadlines_after_jump() {
    let start = Instant::now();
    let mut schedule = ldk_defaults(start);
    for step in 1..=1250 {
        schedule.due(start + Duration::from_millis(100) * step);
    }

    let now = start + secs(125 + 600);
    schedule.due(now);

    // Missed whole periods restart from the jump; archiving was late by less than its
    // interval (due at 615 s) and stays on its grid.
    assert_eq!(
        schedule.deadline(CHANNEL_MANAGER_TICK),
        Some(now + secs(60))
    );
    assert_eq!(schedule.deadline(PING), Some(now + secs(10)));
    assert_eq!(
        schedule.deadline(ONION_MESSENGER_TICK),
        Some(now + secs(10))
    );
    assert_eq!(schedule.deadline(REBROADCAST), Some(now + secs(30)));
    assert_eq!(
        schedule.deadline(ARCHIVE),
        Some(start + secs(15 + 600 + 600))
    );
    assert_eq!(schedule.next_deadline(), Some(now + secs(10)));
}

// A 10 s job armed for 10 s, with `due` called at 10, 23, 58 and 68 s:
//
// grid      10        20        30        40        50        60        70
// time  0---+---------+---------+---------+---------+---------+---------+---->
// due()     10           23                                  58        68
// fires     yes          yes                                 yes       yes
// re-armed  20           30                                  68        78
#[test]
fn overdue_job_fires_once_then_delays() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("job", start, secs(10), secs(10))
        .expect("valid job");

    assert_due(&mut schedule, start + secs(9), &[]);
    assert_due(&mut schedule, start + secs(10), &["job"]);
    assert_eq!(schedule.deadline("job"), Some(start + secs(20)));

    assert_due(&mut schedule, start + secs(23), &["job"]);
    assert_eq!(
        schedule.deadline("job"),
        Some(start + secs(30)),
        "late by 3 s: grid kept"
    );

    assert_due(&mut schedule, start + secs(58), &["job"]);
    assert_eq!(
        schedule.deadline("job"),
        Some(start + secs(68)),
        "missed periods: delayed"
    );

    assert_due(&mut schedule, start + secs(67), &[]);
    assert_due(&mut schedule, start + secs(68), &["job"]);
    assert_eq!(schedule.deadline("job"), Some(start + secs(78)));
}

#[test]
fn job_due_exactly_at_deadline() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("job", start, secs(5), secs(5))
        .expect("valid job");

    assert_due(
        &mut schedule,
        start + secs(5) - Duration::from_nanos(1),
        &[],
    );
    assert_due(&mut schedule, start + secs(5), &["job"]);
}

#[test]
fn due_in_deadline_order() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("c", start, secs(1), secs(60))
        .expect("valid job");
    schedule
        .add("a", start, secs(3), secs(60))
        .expect("valid job");
    schedule
        .add("b", start, secs(2), secs(60))
        .expect("valid job");
    schedule
        .add("d", start, secs(2), secs(60))
        .expect("valid job");

    assert_due(&mut schedule, start + secs(3), &["c", "b", "d", "a"]);
}

#[test]
fn reset_rearms_from_now() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("scorer", start, secs(0), secs(300))
        .expect("valid job");
    schedule
        .add("ping", start, secs(10), secs(10))
        .expect("valid job");

    assert!(schedule.reset("scorer", start + secs(7)));

    assert_eq!(schedule.deadline("scorer"), Some(start + secs(307)));
    assert_eq!(schedule.next_deadline(), Some(start + secs(10)));
    assert_due(&mut schedule, start + secs(10), &["ping"]);
}

#[test]
fn reset_unknown_job_changes_nothing() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("ping", start, secs(10), secs(10))
        .expect("valid job");

    assert!(!schedule.reset("missing", start));

    assert_eq!(schedule.len(), 1);
    assert_eq!(schedule.next_deadline(), Some(start + secs(10)));
}

#[test]
fn set_interval_applies_from_next_rearm() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("ping", start, secs(10), secs(10))
        .expect("valid job");

    schedule
        .set_interval("ping", secs(30))
        .expect("the job exists and the interval is positive");

    assert_eq!(schedule.interval("ping"), Some(secs(30)));
    assert_eq!(
        schedule.deadline("ping"),
        Some(start + secs(10)),
        "deadline unchanged"
    );
    assert_due(&mut schedule, start + secs(10), &["ping"]);
    assert_eq!(schedule.deadline("ping"), Some(start + secs(40)));
}

#[test]
fn zero_interval_rejected() {
    let start = Instant::now();
    let mut schedule = Schedule::new();

    let added = schedule.add("ping", start, secs(1), Duration::ZERO);

    assert_eq!(
        added,
        Err(ScheduleError::ZeroInterval {
            job: "\"ping\"".to_owned()
        })
    );
    assert!(schedule.is_empty(), "a rejected job must not be scheduled");
}

#[test]
fn zero_interval_change_rejected() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("ping", start, secs(1), secs(10))
        .expect("valid job");

    let changed = schedule.set_interval("ping", Duration::ZERO);

    assert!(
        matches!(changed, Err(ScheduleError::ZeroInterval { .. })),
        "{changed:?}"
    );
    assert_eq!(schedule.interval("ping"), Some(secs(10)));
}

#[test]
fn duplicate_job_rejected() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("ping", start, secs(1), secs(10))
        .expect("valid job");

    let added = schedule.add("ping", start, secs(5), secs(20));

    assert!(
        matches!(added, Err(ScheduleError::DuplicateJob { .. })),
        "{added:?}"
    );
    assert_eq!(
        schedule.deadline("ping"),
        Some(start + secs(1)),
        "first job unchanged"
    );
    assert_eq!(schedule.interval("ping"), Some(secs(10)));
}

#[test]
fn unknown_job_interval_rejected() {
    let mut schedule: Schedule = Schedule::new();

    let changed = schedule.set_interval("missing", secs(10));

    assert!(
        matches!(changed, Err(ScheduleError::UnknownJob { .. })),
        "{changed:?}"
    );
}

#[test]
fn error_messages_name_the_job() {
    let zero = ScheduleError::ZeroInterval {
        job: "\"ping\"".to_owned(),
    };
    let unknown = ScheduleError::UnknownJob {
        job: "\"ping\"".to_owned(),
    };

    assert_eq!(
        zero.to_string(),
        "interval of job \"ping\" is zero (use a positive interval)"
    );
    assert_eq!(
        unknown.to_string(),
        "job \"ping\" is not scheduled (add it before changing it)"
    );
}

#[test]
fn remove_drops_job() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("ping", start, secs(10), secs(10))
        .expect("valid job");
    schedule
        .add("tick", start, secs(60), secs(60))
        .expect("valid job");

    assert!(schedule.remove("ping"));
    assert!(!schedule.remove("ping"), "a second removal finds nothing");

    assert!(!schedule.contains("ping"));
    assert_eq!(schedule.deadline("ping"), None);
    assert_eq!(schedule.next_deadline(), Some(start + secs(60)));
    assert_due(&mut schedule, start + secs(60), &["tick"]);
}

#[test]
fn empty_schedule_has_no_deadline() {
    let mut schedule: Schedule = Schedule::default();

    assert_eq!(schedule.next_deadline(), None);
    assert_due(&mut schedule, Instant::now(), &[]);
}

#[test]
fn huge_durations_saturate() {
    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add("never", start, Duration::MAX, Duration::MAX)
        .expect("a huge interval is valid");
    schedule
        .add("soon", start, secs(1), Duration::MAX)
        .expect("valid job");

    assert_due(&mut schedule, start + secs(1), &["soon"]);
    let deadline = schedule.deadline("soon").expect("the job is scheduled");
    assert!(
        deadline > start + secs(1),
        "deadline {deadline:?} should be far ahead"
    );
    assert_due(&mut schedule, start + secs(86_400 * 365), &[]);
}

#[test]
fn typed_job_identifiers() {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Job {
        Tick,
        Ping,
    }

    let start = Instant::now();
    let mut schedule = Schedule::new();
    schedule
        .add(Job::Tick, start, secs(0), secs(60))
        .expect("valid job");
    schedule
        .add(Job::Ping, start, secs(0), secs(10))
        .expect("valid job");

    assert_eq!(
        schedule.due(start),
        [Job::Tick, Job::Ping],
        "ties in the order of the enum"
    );
}

/// Drives the LDK default schedule through irregular steps and returns every turn's jobs.
fn record_turns(start: Instant) -> Vec<(Duration, Vec<&'static str>)> {
    let clock = ManualClock::new(start, None);
    let mut schedule = ldk_defaults(start);
    let steps = [0, 3, 7, 250, 9_000, 1, 1, 60_000, 41, 700_000, 20, 10_000];
    let mut record = Vec::new();
    for round in 0..40 {
        let step = steps[round % steps.len()];
        clock.advance(Duration::from_millis(step));
        let due = schedule.due(clock.now());
        record.push((clock.now() - start, due));
    }
    record
}

#[test]
fn same_scenario_same_record() {
    let start = Instant::now();

    let first = record_turns(start);
    let second = record_turns(start);

    assert_eq!(first, second);
    let fired: usize = first.iter().map(|(_, due)| due.len()).sum();
    assert!(fired > 0, "the scenario should fire jobs: {first:?}");
}
