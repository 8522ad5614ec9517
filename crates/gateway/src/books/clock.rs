//! The books' sense of time, injected so tests advance it instead of
//! sleeping past [`MAX_AGE`](super::MAX_AGE), [`LEASE_RENEW`](super::LEASE_RENEW),
//! [`LEASE_IDLE`](super::LEASE_IDLE) or a lease's time to live.

use std::fmt::Debug;
use std::time::Instant;

use chrono::{DateTime, Utc};

/// Monotonic time for ages and deadlines kept in memory, and wall-clock
/// time for what is written (hold timestamps, lease expiries).
pub trait Clock: Debug + Send + Sync {
    /// Monotonic now.
    fn now(&self) -> Instant;
    /// Wall-clock now.
    fn utc(&self) -> DateTime<Utc>;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn utc(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to: both readings start at the
/// moment it was made and advance together.
#[cfg(test)]
#[derive(Debug)]
pub struct ManualClock {
    instant: Instant,
    utc: DateTime<Utc>,
    offset: std::sync::Mutex<std::time::Duration>,
}

#[cfg(test)]
impl ManualClock {
    /// A clock stopped at the current time.
    pub fn new() -> ManualClock {
        ManualClock {
            instant: Instant::now(),
            utc: Utc::now(),
            offset: std::sync::Mutex::new(std::time::Duration::ZERO),
        }
    }

    /// Moves both readings forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        *self.offset.lock().unwrap() += by;
    }

    fn offset(&self) -> std::time::Duration {
        *self.offset.lock().unwrap()
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.instant + self.offset()
    }

    fn utc(&self) -> DateTime<Utc> {
        self.utc + chrono::Duration::from_std(self.offset()).unwrap()
    }
}
