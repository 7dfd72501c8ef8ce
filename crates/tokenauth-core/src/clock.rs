//! Time as an input.
//!
//! Nothing in tokenauth reads the system time directly: the [`TokenAuth`](crate::TokenAuth)
//! service asks its [`Clock`], and stores are handed `now` as a parameter. Tests use a
//! [`ManualClock`] and move it instead of sleeping.

use std::fmt;
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current time, in UTC, truncated to whole microseconds (the precision every
    /// store keeps, so a record read back compares equal to the one written).
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place that reads the system time"
    )]
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

/// A fixed instant is a clock that never moves: handy where an API takes a clock and a
/// test (or a batch job) has one instant in mind.
impl Clock for OffsetDateTime {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(*self)
    }
}

/// A clock that only moves when told to: for tests.
///
/// Clones share the same time, so a test can keep one handle and give another to the
/// service under test.
///
/// ```
/// use tokenauth_core::{Clock, ManualClock};
/// use time::{Duration, macros::datetime};
///
/// let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
/// clock.advance(Duration::days(30));
/// assert_eq!(clock.now(), datetime!(2026-01-31 0:00 UTC));
/// ```
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(truncate_to_micros(start))),
        }
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now = truncate_to_micros(*now + by);
    }

    /// Sets the clock to `to`.
    pub fn set(&self, to: OffsetDateTime) {
        *self.lock() = truncate_to_micros(to);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        // A panic while holding this lock cannot leave the time half-written.
        self.now.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

/// Drops sub-microsecond precision and normalises to UTC.
pub(crate) fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let micros = t.microsecond();
    t.replace_nanosecond(micros * 1_000)
        .expect("whole microseconds are always a valid nanosecond value")
}
