//! How long tokens live.

use std::fmt;
use std::str::FromStr;

use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::record::TokenRecord;
use crate::store::PurgeBounds;

/// The longest lifespan accepted: 100 years keeps every expiry representable.
const MAX_LIFESPAN: Duration = Duration::days(36_525);

/// How long a token lives after it is created.
///
/// Parsed from text such as `30d`, `12h`, `90m`, `3s`, `1d 12h`, or a bare number of
/// seconds (`3600`). The default is 30 days, as in the original.
///
/// ```
/// use tokenauth_core::Lifespan;
///
/// let lifespan: Lifespan = "12h".parse().unwrap();
/// assert_eq!(lifespan.as_duration(), time::Duration::hours(12));
/// assert_eq!("3600".parse::<Lifespan>().unwrap().to_string(), "1h");
/// assert_eq!("90d".parse::<Lifespan>().unwrap().to_string(), "90d");
/// assert_eq!("1d 12h 30s".parse::<Lifespan>().unwrap().to_string(), "1d 12h 30s");
/// assert!("0s".parse::<Lifespan>().is_err());
/// assert!("1500ms".parse::<Lifespan>().is_err());
/// assert_eq!(Lifespan::default().to_string(), "30d");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lifespan(Duration);

impl Lifespan {
    /// The default lifespan: 30 days.
    pub const DEFAULT: Self = Self(Duration::days(30));

    /// A lifespan of `duration`: a whole number of seconds, at least one, at most 100
    /// years.
    pub fn new(duration: Duration) -> Result<Self, InvalidLifespan> {
        if duration <= Duration::ZERO {
            Err(InvalidLifespan::NotPositive)
        } else if duration.subsec_nanoseconds() != 0 {
            Err(InvalidLifespan::NotWholeSeconds)
        } else if duration > MAX_LIFESPAN {
            Err(InvalidLifespan::TooLong)
        } else {
            Ok(Self(duration))
        }
    }

    /// The lifespan as a duration.
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl Default for Lifespan {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Text that is not a lifespan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidLifespan {
    /// Zero or negative.
    #[error("a lifespan must be longer than zero")]
    NotPositive,
    /// Over 100 years.
    #[error("a lifespan can be at most 100 years")]
    TooLong,
    /// A fraction of a second: tokens live whole seconds.
    #[error("a lifespan must be a whole number of seconds")]
    NotWholeSeconds,
    /// Not a duration at all.
    #[error("invalid duration {input:?}: expected a number with a unit, such as 30d, 12h, 90m or 3s")]
    Syntax {
        /// What was given.
        input: String,
    },
}

impl FromStr for Lifespan {
    type Err = InvalidLifespan;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let std = match s.parse::<u64>() {
            Ok(seconds) => std::time::Duration::from_secs(seconds),
            Err(_) => {
                humantime::parse_duration(s).map_err(|_| InvalidLifespan::Syntax { input: s.to_owned() })?
            }
        };
        let duration = Duration::try_from(std).map_err(|_| InvalidLifespan::TooLong)?;
        Self::new(duration)
    }
}

impl fmt::Display for Lifespan {
    /// In the syntax it is parsed from, largest units first: `30d`, `1d 12h`, `90s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0.whole_seconds();
        let mut parts = Vec::with_capacity(4);
        for (unit, seconds) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= seconds {
                parts.push(format!("{}{unit}", rest / seconds));
                rest %= seconds;
            }
        }
        f.write_str(&parts.join(" "))
    }
}

impl fmt::Debug for Lifespan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lifespan({self})")
    }
}

/// The expiry rule, written once.
///
/// A token expires `lifespan` after it was created, where `lifespan` is the one
/// configured *now*: as in the original, changing the setting applies to existing tokens
/// at once (lowering it expires older tokens immediately). A token issued with a
/// lifespan of its own (its record's `expires`) never outlives it either. With an idle
/// timeout (sliding expiry), a token also expires when unused for that long, but never
/// lives past its lifespan. A token is valid while `now <= expiry`: at exactly its
/// lifespan it is still valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryPolicy {
    lifespan: Lifespan,
    idle_timeout: Option<Duration>,
}

impl ExpiryPolicy {
    /// A policy with the given lifespan and no idle timeout.
    pub fn new(lifespan: Lifespan) -> Self {
        Self {
            lifespan,
            idle_timeout: None,
        }
    }

    /// Adds sliding expiry: tokens unused for `idle_timeout` expire too.
    pub fn with_idle_timeout(self, idle_timeout: Option<Lifespan>) -> Self {
        Self {
            idle_timeout: idle_timeout.map(Lifespan::as_duration),
            ..self
        }
    }

    /// The configured lifespan.
    pub fn lifespan(&self) -> Lifespan {
        self.lifespan
    }

    /// The idle timeout, if sliding expiry is on.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// When `record` expires under this policy, if it was last used at `last_used`
    /// (which may be fresher than the record's own `last_used`; `None` uses the
    /// record's).
    pub fn expires_at(&self, record: &TokenRecord, last_used: Option<OffsetDateTime>) -> OffsetDateTime {
        let mut expiry = saturating_add(record.created, self.lifespan.as_duration());
        if let Some(own) = record.expires {
            expiry = expiry.min(own);
        }
        if let Some(idle) = self.idle_timeout {
            let used = last_used.or(record.last_used).unwrap_or(record.created);
            expiry = expiry.min(saturating_add(used, idle));
        }
        expiry
    }

    /// Whether `record` has expired at `now`.
    pub fn is_expired(&self, record: &TokenRecord, now: OffsetDateTime) -> bool {
        now > self.expires_at(record, None)
    }

    /// The bounds of the purge ([`PurgeBounds`]): records that had been dead for the
    /// whole `grace` at `now`. Whatever the bounds select is dead under this policy at
    /// `now - grace`; every token that can still authenticate is kept.
    pub fn purge_bounds(&self, now: OffsetDateTime, grace: Duration) -> PurgeBounds {
        let dead_at = saturating_add(now, -grace);
        PurgeBounds {
            created_before: saturating_add(dead_at, -self.lifespan.as_duration()),
            expires_before: dead_at,
            active_before: self.idle_timeout.map(|idle| saturating_add(dead_at, -idle)),
        }
    }
}

/// `time + duration`, clamped to the range of [`OffsetDateTime`] instead of panicking:
/// stored and caller-supplied times can be anything.
pub(crate) fn saturating_add(time: OffsetDateTime, duration: Duration) -> OffsetDateTime {
    time.checked_add(duration).unwrap_or_else(|| {
        let bound = if duration.is_negative() {
            PrimitiveDateTime::MIN
        } else {
            PrimitiveDateTime::MAX
        };
        bound.assume_utc()
    })
}
