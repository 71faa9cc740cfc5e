//! The scheduling priority of a thread while it hashes a password.
//!
//! `password.max_concurrent` keeps hashing to some of the cores so that the rest serve
//! requests during a login flood. The operating system does not know that split: at equal
//! priority, a hashing thread gets an equal share of a core with every busy request worker,
//! so under request load the slots stop being kept busy and logins slow down far below what
//! the slots allow. While it hashes, a thread therefore runs [`BOOST`] nice levels above the
//! workers: it gets its core when it needs one, and since there are never more hashing
//! threads than slots, requests keep the other cores. Raising a priority needs
//! `CAP_SYS_NICE` (root, or the capability granted to the binary or container); without it
//! the first attempt logs once and hashing runs at the workers' priority, as before.

/// Nice levels a hashing thread is raised by (a lower nice value is a higher priority). At
/// ten levels its scheduler weight is about nine times a worker's.
pub const BOOST: i32 = 10;

/// While this lives, the calling thread runs [`BOOST`] levels higher; dropping it restores the
/// thread's priority. `None` where that is not allowed or not supported.
#[derive(Debug)]
pub struct Raised {
    #[cfg(target_os = "linux")]
    tid: rustix::thread::Pid,
    #[cfg(target_os = "linux")]
    before: i32,
}

#[cfg(target_os = "linux")]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};

    use rustix::process::{getpriority_process, setpriority_process};
    use rustix::thread::gettid;

    use super::{BOOST, Raised};

    /// Set after the first refusal: the answer will not change, so ask only once.
    static REFUSED: AtomicBool = AtomicBool::new(false);

    impl Raised {
        pub fn raise() -> Option<Self> {
            if REFUSED.load(Ordering::Relaxed) {
                return None;
            }
            // On Linux, "process" priority calls given a thread id act on that thread alone.
            let tid = gettid();
            let before = getpriority_process(Some(tid)).ok()?;
            match setpriority_process(Some(tid), before - BOOST) {
                Ok(()) => Some(Self { tid, before }),
                Err(e) => {
                    if !REFUSED.swap(true, Ordering::Relaxed) {
                        tracing::info!(
                            error = %e,
                            "password hashing runs at the request workers' priority: raising a \
                             thread's priority needs CAP_SYS_NICE; under request load a login \
                             flood then gets fewer logins through than its hashing slots allow"
                        );
                    }
                    None
                }
            }
        }
    }

    impl Drop for Raised {
        fn drop(&mut self) {
            // Lowering a priority back is always allowed; the thread returns to the pool.
            let _ = setpriority_process(Some(self.tid), self.before);
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]

        use super::*;

        #[test]
        fn a_raised_thread_runs_boost_levels_higher_until_dropped() {
            let tid = gettid();
            let before = getpriority_process(Some(tid)).unwrap();
            match Raised::raise() {
                Some(raised) => {
                    // Nice values stop at -20.
                    let raised_to = (before - BOOST).max(-20);
                    assert_eq!(getpriority_process(Some(tid)).unwrap(), raised_to);
                    drop(raised);
                    assert_eq!(getpriority_process(Some(tid)).unwrap(), before);
                }
                // Not allowed here (no CAP_SYS_NICE): nothing changed, and it is not retried.
                None => {
                    assert_eq!(getpriority_process(Some(tid)).unwrap(), before);
                    assert!(REFUSED.load(Ordering::Relaxed));
                    assert!(Raised::raise().is_none());
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl Raised {
    pub fn raise() -> Option<Self> {
        None
    }
}
