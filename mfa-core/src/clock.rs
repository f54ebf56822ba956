//! Time as a dependency: the engine and stores never read the system clock
//! directly, so tests can move time with [`ManualClock`] instead of sleeping.

use chrono::{DateTime, TimeDelta, Utc};
use std::fmt::Debug;
use std::sync::Mutex;

/// A source of the current UTC time.
pub trait Clock: Send + Sync + Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to. Meant for tests.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use mfa_core::clock::{Clock, ManualClock};
///
/// let clock = ManualClock::new(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap());
/// clock.advance(TimeDelta::minutes(10));
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2030, 1, 1, 0, 10, 0).unwrap());
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    #[must_use]
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Sets the time.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.lock() = to;
    }

    /// Moves the time by `by` (which may be negative).
    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A panic while holding this lock cannot leave a half-written time.
        self.now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Default for ManualClock {
    /// Starts at 2030-01-01T00:00:00Z, a fixed point far from the epoch.
    fn default() -> Self {
        Self::new(DateTime::from_timestamp(1_893_456_000, 0).unwrap_or_default())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::default();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(TimeDelta::seconds(30));
        assert_eq!(clock.now() - t0, TimeDelta::seconds(30));
        clock.set(t0);
        assert_eq!(clock.now(), t0);
    }
}
