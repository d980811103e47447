//! CPU time and context switches of threads of this process, read from `/proc/self/task`.

use std::collections::BTreeSet;
use std::time::Duration;

/// CPU time and voluntary context switches of one or more threads, summed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadSample {
    /// CPU time spent on the threads, user and system.
    pub cpu: Duration,
    /// How many times the threads blocked: each block ends in one wakeup.
    pub voluntary_switches: u64,
}

impl ThreadSample {
    /// Returns the growth from `earlier` to `self`.
    pub fn since(&self, earlier: &ThreadSample) -> ThreadSample {
        ThreadSample {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            voluntary_switches: self
                .voluntary_switches
                .saturating_sub(earlier.voluntary_switches),
        }
    }
}

/// Returns the ids of this process's threads.
pub fn thread_ids() -> BTreeSet<u32> {
    let Ok(entries) = std::fs::read_dir("/proc/self/task") else {
        return BTreeSet::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Returns the name of thread `tid` (at most 15 bytes, as Linux keeps it).
pub fn thread_name(tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .map(|name| name.trim_end().to_string())
        .unwrap_or_else(|_| format!("thread {tid} (ended)"))
}

/// Returns the sum of the samples of `tids`; a thread that ended counts as zero.
pub fn sample_all(tids: &[u32]) -> ThreadSample {
    tids.iter()
        .filter_map(|tid| sample(*tid))
        .fold(ThreadSample::default(), |total, sample| ThreadSample {
            cpu: total.cpu + sample.cpu,
            voluntary_switches: total.voluntary_switches + sample.voluntary_switches,
        })
}

/// Returns the CPU time and voluntary context switches of thread `tid`, or `None` if it
/// ended.
///
/// CPU time comes from `schedstat` (nanoseconds) where the kernel has it, else from the
/// `utime` and `stime` fields of `stat` (clock ticks, usually 10 ms).
fn sample(tid: u32) -> Option<ThreadSample> {
    let dir = format!("/proc/self/task/{tid}");
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    let voluntary_switches = status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|value| value.trim().parse().ok())?;
    let cpu = schedstat_cpu(&dir).or_else(|| stat_cpu(&dir))?;
    Some(ThreadSample {
        cpu,
        voluntary_switches,
    })
}

fn schedstat_cpu(dir: &str) -> Option<Duration> {
    let schedstat = std::fs::read_to_string(format!("{dir}/schedstat")).ok()?;
    let nanos = schedstat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

fn stat_cpu(dir: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    // The name in brackets may contain spaces, so fields are counted after its `)`:
    // `utime` and `stime` are the 14th and 15th fields, the 12th and 13th after the name.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).ok().filter(|hz| *hz > 0)?;
    Some(Duration::from_nanos(ticks * 1_000_000_000 / per_second))
}
