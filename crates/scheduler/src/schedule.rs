//! [`Schedule`], a set of periodic jobs with deadlines, driven by the caller's `now`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use crate::instant::saturating_add;

/// A set of named periodic jobs, each with its own first delay and interval.
///
/// - [`add`](Schedule::add) arms a job at `start + first_delay`.
/// - [`due`](Schedule::due) returns the jobs whose deadline has passed and re-arms them.
/// - [`next_deadline`](Schedule::next_deadline) returns the earliest deadline, which is how
///   long a runner may sleep.
///
/// The schedule never reads a clock: every method that needs the time takes `now`, so a test
/// drives it with plain [`Instant`] arithmetic.
///
/// # Missed deadlines
///
/// `due` returns a job at most once per call, however many deadlines it missed. It then
/// re-arms the job as follows:
/// - If the job's next slot on its grid (`deadline + interval`) is still ahead of `now`, the
///   new deadline is that slot, so a job polled a little late keeps its cadence.
/// - Otherwise the job has missed at least one whole period (a suspended laptop, a stopped
///   debugger). It fires once, and the new deadline is `now + interval`, as with tokio's
///   `MissedTickBehavior::Delay`, instead of one firing per missed period.
///
/// A 10 s job armed for 10 s, with `due` called at 10, 23, 58 and 68 s:
///
/// ```text
/// grid      10        20        30        40        50        60        70
/// time  0---+---------+---------+---------+---------+---------+---------+---->
/// due()     10           23                                  58        68
/// fires     yes          yes                                 yes       yes
/// re-armed  20           30                                  68        78
/// ```
///
/// At 23 s the job is late by less than an interval, so it stays on the grid (30 s). At 58 s
/// it has missed the slots at 30, 40 and 50 s: it fires once and is re-armed 10 s later.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use vigil_scheduler::Schedule;
///
/// let start = Instant::now();
/// let mut schedule = Schedule::new();
/// schedule.add("timer_tick", start, Duration::ZERO, Duration::from_secs(60))?;
/// schedule.add("ping", start, Duration::from_secs(10), Duration::from_secs(10))?;
///
/// assert_eq!(schedule.due(start), ["timer_tick"]);
/// assert_eq!(schedule.next_deadline(), Some(start + Duration::from_secs(10)));
///
/// // An hour later each job fires once, not once per missed period.
/// let later = start + Duration::from_secs(3600);
/// assert_eq!(schedule.due(later), ["ping", "timer_tick"]);
/// assert_eq!(schedule.deadline("ping"), Some(later + Duration::from_secs(10)));
/// # Ok::<(), vigil_scheduler::ScheduleError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Schedule<J = &'static str> {
    jobs: BTreeMap<J, Job>,
    /// The same deadlines as in `jobs`, ordered by time. Invariant: it contains exactly one
    /// `(deadline, job)` entry per job in `jobs`.
    queue: BTreeSet<(Instant, J)>,
}

#[derive(Debug, Clone, Copy)]
struct Job {
    deadline: Instant,
    interval: Duration,
}

/// The error returned when a [`Schedule`] rejects a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The interval was zero, which would make the job due on every call.
    #[error("interval of job {job} is zero (use a positive interval)")]
    ZeroInterval {
        /// The job, formatted with `Debug`.
        job: String,
    },
    /// A job with the same identifier is already scheduled.
    #[error("job {job} is already scheduled (remove it first or use another identifier)")]
    DuplicateJob {
        /// The job, formatted with `Debug`.
        job: String,
    },
    /// No job with this identifier is scheduled.
    #[error("job {job} is not scheduled (add it before changing it)")]
    UnknownJob {
        /// The job, formatted with `Debug`.
        job: String,
    },
}

impl<J: Copy + Ord + Debug> Schedule<J> {
    /// Creates an empty schedule.
    pub fn new() -> Self {
        Self {
            jobs: BTreeMap::new(),
            queue: BTreeSet::new(),
        }
    }

    /// Adds `job`, first due at `start + first_delay` and then every `interval`.
    ///
    /// A zero `first_delay` makes the job due at `start`.
    ///
    /// # Errors
    ///
    /// Returns [`ScheduleError::ZeroInterval`] if `interval` is zero and
    /// [`ScheduleError::DuplicateJob`] if `job` is already scheduled. The schedule is
    /// unchanged in both cases.
    pub fn add(
        &mut self,
        job: J,
        start: Instant,
        first_delay: Duration,
        interval: Duration,
    ) -> Result<(), ScheduleError> {
        check_interval(job, interval)?;
        if self.jobs.contains_key(&job) {
            return Err(ScheduleError::DuplicateJob {
                job: format!("{job:?}"),
            });
        }

        let deadline = saturating_add(start, first_delay);
        self.jobs.insert(job, Job { deadline, interval });
        self.queue.insert((deadline, job));
        Ok(())
    }

    /// Returns the jobs whose deadline is at or before `now`, and re-arms each of them.
    ///
    /// Each job appears at most once, in the order of its deadline (ties in the order of `J`).
    /// See [Missed deadlines](Schedule#missed-deadlines) for how a job is re-armed. Every
    /// deadline is after `now` when this returns, so a second call with the same `now`
    /// returns nothing. The one exception is a `now` so close to the latest representable
    /// [`Instant`] that `now + interval` saturates.
    pub fn due(&mut self, now: Instant) -> Vec<J> {
        // Collect first and re-arm afterwards, so that a re-armed job cannot be seen twice.
        let due: Vec<(Instant, J)> = self
            .queue
            .iter()
            .take_while(|(deadline, _)| *deadline <= now)
            .copied()
            .collect();

        for &(deadline, job) in &due {
            self.queue.remove(&(deadline, job));
            let entry = self
                .jobs
                .get_mut(&job)
                .expect("every job in the queue is also in the job map");
            entry.deadline = rearm(deadline, entry.interval, now);
            self.queue.insert((entry.deadline, job));
        }
        due.into_iter().map(|(_, job)| job).collect()
    }

    /// Returns the earliest deadline of all jobs, or `None` if the schedule is empty.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|(deadline, _)| *deadline)
    }

    /// Returns the deadline of `job`, or `None` if it is not scheduled.
    pub fn deadline(&self, job: J) -> Option<Instant> {
        self.jobs.get(&job).map(|entry| entry.deadline)
    }

    /// Returns the interval of `job`, or `None` if it is not scheduled.
    pub fn interval(&self, job: J) -> Option<Duration> {
        self.jobs.get(&job).map(|entry| entry.interval)
    }

    /// Re-arms `job` one interval after `now`, whatever its current deadline.
    ///
    /// Use it when the job's work was just done for another reason, so that it need not run
    /// again for a whole interval. Returns `false`, and changes nothing, if `job` is not
    /// scheduled.
    pub fn reset(&mut self, job: J, now: Instant) -> bool {
        let Some(entry) = self.jobs.get_mut(&job) else {
            return false;
        };

        self.queue.remove(&(entry.deadline, job));
        entry.deadline = saturating_add(now, entry.interval);
        self.queue.insert((entry.deadline, job));
        true
    }

    /// Changes the interval of `job`.
    ///
    /// The current deadline stays as it is, and the new interval applies from the next
    /// re-arm. Call [`reset`](Schedule::reset) as well to move the current deadline.
    ///
    /// # Errors
    ///
    /// Returns [`ScheduleError::ZeroInterval`] if `interval` is zero and
    /// [`ScheduleError::UnknownJob`] if `job` is not scheduled. The schedule is unchanged in
    /// both cases.
    pub fn set_interval(&mut self, job: J, interval: Duration) -> Result<(), ScheduleError> {
        check_interval(job, interval)?;
        let Some(entry) = self.jobs.get_mut(&job) else {
            return Err(ScheduleError::UnknownJob {
                job: format!("{job:?}"),
            });
        };

        entry.interval = interval;
        Ok(())
    }

    /// Removes `job`, returning whether it was scheduled.
    pub fn remove(&mut self, job: J) -> bool {
        let Some(entry) = self.jobs.remove(&job) else {
            return false;
        };

        self.queue.remove(&(entry.deadline, job));
        true
    }

    /// Returns whether `job` is scheduled.
    pub fn contains(&self, job: J) -> bool {
        self.jobs.contains_key(&job)
    }

    /// Returns the number of scheduled jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Returns whether no job is scheduled.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }
}

impl<J: Copy + Ord + Debug> Default for Schedule<J> {
    fn default() -> Self {
        Self::new()
    }
}

fn check_interval<J: Debug>(job: J, interval: Duration) -> Result<(), ScheduleError> {
    if interval.is_zero() {
        return Err(ScheduleError::ZeroInterval {
            job: format!("{job:?}"),
        });
    }
    Ok(())
}

/// Returns the deadline that follows `deadline` for a job that fired at `now`.
fn rearm(deadline: Instant, interval: Duration, now: Instant) -> Instant {
    // On time or late by less than one interval: keep the grid, so the cadence does not drift.
    let next_slot = saturating_add(deadline, interval);
    if next_slot > now {
        return next_slot;
    }

    // A whole period or more was missed: fire once and restart the period from now.
    saturating_add(now, interval)
}

#[cfg(test)]
mod proptests;
