//! Time as a dependency, so tests move it instead of sleeping.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use time::{Duration, OffsetDateTime};

/// Where the domain gets "now" from. Times are whole seconds: stores keep seconds, and a
/// value that round-trips exactly through every store keeps the conformance suite honest.
pub trait Clock: Send + Sync + Debug {
    /// The current time, truncated to whole seconds.
    fn now(&self) -> OffsetDateTime;

    /// The same time as Unix seconds: all a cached token's expiry check needs, without
    /// building a calendar date on every request.
    fn unix_now(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        from_unix(self.unix_now())
    }

    fn unix_now(&self) -> i64 {
        // Before 1970 only if the system clock is broken; that reads as the epoch.
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to. Used by tests of this crate and of every crate above.
#[derive(Debug)]
pub struct ManualClock {
    unix_seconds: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start` (truncated to seconds).
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            unix_seconds: AtomicI64::new(start.unix_timestamp()),
        }
    }

    /// A clock standing at the current system time.
    pub fn starting_now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        self.unix_seconds
            .fetch_add(by.whole_seconds(), Ordering::SeqCst);
    }

    /// Sets the clock.
    pub fn set(&self, to: OffsetDateTime) {
        self.unix_seconds
            .store(to.unix_timestamp(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        from_unix(self.unix_now())
    }

    fn unix_now(&self) -> i64 {
        self.unix_seconds.load(Ordering::SeqCst)
    }
}

/// Drops the sub-second part of a time.
pub fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    from_unix(t.unix_timestamp())
}

/// A time from Unix seconds, clamped into the range `time` can represent.
pub fn from_unix(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(if seconds < 0 {
        OffsetDateTime::UNIX_EPOCH
    } else {
        // 9999-12-31T23:59:59Z: far enough to mean "never" for every expiry we keep.
        OffsetDateTime::from_unix_timestamp(253_402_300_799).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(from_unix(1_000));
        assert_eq!(clock.now().unix_timestamp(), 1_000);
        clock.advance(Duration::minutes(31));
        assert_eq!(clock.now().unix_timestamp(), 1_000 + 31 * 60);
    }

    #[test]
    fn system_clock_has_whole_seconds() {
        assert_eq!(SystemClock.now().nanosecond(), 0);
    }
}
