//! The load generator yields to the server it measures.
//!
//! In-process, the load generator and the server share the cores. A load generator thread
//! sleeps until a response arrives, and at equal priority the scheduler lets a thread that
//! wakes up preempt the one running: a server worker was stopped in the middle of a request,
//! its caches refilled by the load generator, and then again. Profiles of the cold modes showed
//! a quarter of all requests paying for such a preemption (`sched_switch` with the worker still
//! runnable), and the server's CPU time per request counting it. A client on another machine
//! costs the server nothing of the kind.
//!
//! So the load generator's threads run under `SCHED_BATCH`: the same share of the CPU as any
//! other thread at their nice value, but their wake-ups never preempt. They run when a core is
//! free or the running thread's slice ends, and then read every response that arrived meanwhile.
//! Every mode is measured this way, the baseline included. Where the policy cannot be set (not
//! Linux, or refused), the threads keep the default policy and `report.json` says so
//! (`config.loadgen_batch`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Load generator threads that run under `SCHED_BATCH`.
static BATCHED: AtomicUsize = AtomicUsize::new(0);
/// Load generator threads that could not be switched.
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// Switches the calling thread to `SCHED_BATCH`, keeping its nice value. Called on every load
/// generator thread as it starts; a refusal is logged once.
pub fn yield_to_server() {
    match imp::batch_current_thread() {
        Ok(()) => {
            BATCHED.fetch_add(1, Ordering::Relaxed);
        }
        Err(why) => {
            if REFUSED.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    "the load generator runs at the default scheduling policy ({why}): its \
                     wake-ups may preempt the server mid-request, which the server's CPU time \
                     per request then includes"
                );
            }
        }
    }
}

/// Whether every load generator thread started so far runs under `SCHED_BATCH` (and at least
/// one has started).
pub fn all_batched() -> bool {
    BATCHED.load(Ordering::Relaxed) > 0 && REFUSED.load(Ordering::Relaxed) == 0
}

#[cfg(target_os = "linux")]
mod imp {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };

    const BATCH: ThreadSchedulePolicy =
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);

    pub fn batch_current_thread() -> Result<(), String> {
        // thread-priority sets a normal policy's nice value along with it, from a 0..=100
        // scale: pick the point of that scale that is the thread's nice value now, so the
        // thread's CPU share stays what it was (and no privilege is needed).
        let nice = rustix::process::getpriority_process(None).map_err(|e| e.to_string())?;
        let same = (0..=100u8)
            .filter_map(|p| ThreadPriorityValue::try_from(p).ok())
            .map(ThreadPriority::Crossplatform)
            .find(|p| p.to_posix(BATCH).is_ok_and(|n| n == nice))
            .ok_or_else(|| format!("no priority maps to nice {nice}"))?;
        set_thread_priority_and_policy(thread_native_id(), same, BATCH)
            .map_err(|e| format!("{e:?}"))
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    pub fn batch_current_thread() -> Result<(), String> {
        Err("SCHED_BATCH is Linux only".into())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadSchedulePolicy, thread_schedule_policy,
    };

    use super::*;

    #[test]
    fn a_load_generator_thread_runs_batch_at_its_nice_value() {
        std::thread::spawn(|| {
            let nice = rustix::process::getpriority_process(None).unwrap();
            yield_to_server();
            assert_eq!(
                thread_schedule_policy().unwrap(),
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch)
            );
            assert_eq!(rustix::process::getpriority_process(None).unwrap(), nice);
            assert!(all_batched());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_lowered_by_nice_stays_at_that_nice_value() {
        std::thread::spawn(|| {
            let nice = rustix::process::getpriority_process(None).unwrap();
            // Lowering a thread's priority never needs a privilege.
            let lowered = (nice + 3).min(19);
            rustix::process::setpriority_process(None, lowered).unwrap();
            imp::batch_current_thread().unwrap();
            assert_eq!(rustix::process::getpriority_process(None).unwrap(), lowered);
            assert_eq!(
                thread_schedule_policy().unwrap(),
                ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch)
            );
        })
        .join()
        .unwrap();
    }
}
