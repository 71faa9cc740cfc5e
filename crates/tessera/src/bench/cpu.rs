//! CPU time (user + system) of this process and of the load generator's threads, from `/proc`.
//!
//! `/proc/self/stat` counts every thread the process ever had, exited ones included;
//! `/proc/self/task/*/stat` counts each live thread, named by `thread_name` (cut to 15
//! bytes). The load generator's runtime threads live for the whole run, so summing the threads
//! named [`LOADGEN_THREAD`] gives its share; the rest of the process (the server's runtime and
//! blocking pool, SQLite's worker threads, the idle main runtime) is the server's. Resolution
//! is one clock tick (usually 10 ms): fine over seconds of load, coarse over a few hundred
//! milliseconds. Without `/proc` (not Linux) there are no CPU numbers. [`thread_cpu_time`]
//! reads one thread's own time, to the nanosecond, for timing the signature check alone, and
//! [`process_cpu_time`] the whole process's, as precisely, for logins and revocations.

use std::fs;
use std::sync::OnceLock;
use std::time::Duration;

use super::LOADGEN_THREAD;

/// CPU time used, split by who used it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// The whole process.
    pub process: Duration,
    /// The load generator's runtime threads.
    pub loadgen: Duration,
}

impl CpuTimes {
    /// The times so far, if `/proc` can be read.
    pub fn sample() -> Option<Self> {
        let (_, process) = stat_ticks(&fs::read_to_string("/proc/self/stat").ok()?)?;
        let mut loadgen = 0;
        for task in fs::read_dir("/proc/self/task").ok()?.flatten() {
            // A thread that exits between the listing and the read is simply skipped.
            let Ok(text) = fs::read_to_string(task.path().join("stat")) else {
                continue;
            };
            if let Some((name, ticks)) = stat_ticks(&text)
                && name.starts_with(LOADGEN_THREAD)
            {
                loadgen += ticks;
            }
        }
        Some(Self {
            process: from_ticks(process),
            loadgen: from_ticks(loadgen),
        })
    }

    /// What was used between `earlier` and `self`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            process: self.process.saturating_sub(earlier.process),
            loadgen: self.loadgen.saturating_sub(earlier.loadgen),
        }
    }

    /// Both windows' times together.
    pub fn plus(self, other: Self) -> Self {
        Self {
            process: self.process + other.process,
            loadgen: self.loadgen + other.loadgen,
        }
    }

    /// Everything but the load generator.
    pub fn rest(self) -> Duration {
        self.process.saturating_sub(self.loadgen)
    }
}

/// CPU time the calling thread has used, in nanoseconds, from `/proc/thread-self/schedstat`
/// (its first field, `sum_exec_runtime`). Unlike `stat` it is not rounded to clock ticks, but
/// the running slice is only added at the next scheduler event, so the thread yields first:
/// that brings it up to date. `None` where the file is missing (not Linux, no schedstats).
pub fn thread_cpu_time() -> Option<Duration> {
    std::thread::yield_now();
    let text = fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    schedstat_runtime(&text)
}

/// CPU time the whole process has used, to the nanosecond: the sum of every live thread's
/// `/proc/self/task/*/schedstat`, for phases too short for clock ticks (a handful of logins).
/// Threads that exited are not counted, so take both samples while the same threads live (the
/// runtimes' workers and blocking pools do for seconds at least). Falls back to the clock-tick
/// count of `/proc/self/stat` where schedstats are missing; `None` without `/proc`.
pub fn process_cpu_time() -> Option<Duration> {
    std::thread::yield_now();
    let precise = fs::read_dir("/proc/self/task").ok().and_then(|tasks| {
        let mut total = Duration::ZERO;
        let mut any = false;
        for task in tasks.flatten() {
            // A thread that exits between the listing and the read is simply skipped.
            let Ok(text) = fs::read_to_string(task.path().join("schedstat")) else {
                continue;
            };
            if let Some(t) = schedstat_runtime(&text) {
                total += t;
                any = true;
            }
        }
        any.then_some(total)
    });
    precise.or_else(|| CpuTimes::sample().map(|c| c.process))
}

fn schedstat_runtime(text: &str) -> Option<Duration> {
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// The name and utime + stime (in clock ticks) of a `stat` line:
/// `pid (comm) state ppid … utime stime …` (fields 14 and 15; `comm` may hold spaces and
/// parentheses, so the fields are counted from the last `)`).
fn stat_ticks(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let mut fields = stat.get(close + 1..)?.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((name, utime + stime))
}

fn from_ticks(ticks: u64) -> Duration {
    let per_second = ticks_per_second();
    Duration::from_secs(ticks / per_second)
        + Duration::from_nanos((ticks % per_second) * 1_000_000_000 / per_second)
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), read from the auxiliary vector the
/// kernel gave the process (`AT_CLKTCK`); 100, the Linux value nearly everywhere, if unread.
pub fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        fs::read("/proc/self/auxv")
            .ok()
            .and_then(|auxv| clock_ticks_in_auxv(&auxv))
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// `AT_CLKTCK` in an auxiliary vector of native-endian, word-sized (type, value) pairs.
fn clock_ticks_in_auxv(auxv: &[u8]) -> Option<u64> {
    const AT_NULL: u64 = 0;
    const AT_CLKTCK: u64 = 17;
    const WORD: usize = size_of::<usize>();
    let word = |bytes: &[u8]| -> Option<u64> {
        let mut buf = [0u8; WORD];
        buf.copy_from_slice(bytes.get(..WORD)?);
        u64::try_from(usize::from_ne_bytes(buf)).ok()
    };
    for pair in auxv.chunks_exact(2 * WORD) {
        match word(pair)? {
            AT_NULL => return None,
            AT_CLKTCK => return word(&pair[WORD..]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn stat_lines_are_read_from_the_last_parenthesis() {
        let line = "1234 (bench-load) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(stat_ticks(line), Some(("bench-load", 300)));
        let odd = "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 11 22 0 0";
        assert_eq!(stat_ticks(odd), Some(("a) b (c", 33)));
        assert_eq!(stat_ticks("garbage"), None);
    }

    #[test]
    fn the_clock_tick_is_found_in_the_auxiliary_vector() {
        let mut auxv = Vec::new();
        for (k, v) in [(6usize, 4096usize), (17, 250), (0, 0)] {
            auxv.extend_from_slice(&k.to_ne_bytes());
            auxv.extend_from_slice(&v.to_ne_bytes());
        }
        assert_eq!(clock_ticks_in_auxv(&auxv), Some(250));
        assert_eq!(
            clock_ticks_in_auxv(&auxv[2 * size_of::<usize>()..]),
            Some(250)
        );
        assert_eq!(clock_ticks_in_auxv(&[]), None);
    }

    #[test]
    fn schedstat_gives_nanoseconds_on_the_cpu() {
        assert_eq!(
            schedstat_runtime("1234567890 55 7\n"),
            Some(Duration::from_nanos(1_234_567_890))
        );
        assert_eq!(schedstat_runtime(""), None);
        assert_eq!(schedstat_runtime("x 1 2"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_busy_thread_is_on_the_cpu_about_as_long_as_it_runs() {
        let Some(before) = thread_cpu_time() else {
            return; // no schedstats in this kernel
        };
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let used = thread_cpu_time().unwrap() - before;
        // Preemption by other work on a busy machine can only make it less.
        assert!(
            used <= started.elapsed() + Duration::from_millis(5),
            "{used:?}"
        );
        assert!(used > Duration::from_millis(1), "{used:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_whole_process_is_timed_to_the_nanosecond() {
        let before = process_cpu_time().unwrap();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let used = process_cpu_time().unwrap().saturating_sub(before);
        assert!(used > Duration::from_millis(1), "{used:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_can_be_sampled() {
        assert!(ticks_per_second() >= 1);
        let before = CpuTimes::sample().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let used = CpuTimes::sample().unwrap().since(before);
        assert_eq!(
            used.loadgen,
            Duration::ZERO,
            "no load generator thread here"
        );
        assert_eq!(used.rest(), used.process);
    }
}
