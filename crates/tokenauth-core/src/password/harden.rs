//! A failed check costs at least the dummy's work, whatever the stored hash: no
//! username oracle in response times.
//!
//! An unknown user is checked against the dummy; so is a stored hash nobody can use
//! (malformed, or over the caps). A wrong password against a stored hash cheaper than
//! the dummy (an argon2id user under a hasher whose dummy is a scheme's, such as Django's
//! PBKDF2, or a PBKDF2 hash of fewer iterations) is padded with CPU work up to the dummy's time, as
//! Django's `harden_runtime` runs the iterations an older PBKDF2 hash lacks; here every
//! format is padded, to the median of the dummy's last runs. A stored hash costlier than
//! the dummy is not shortened: choose the dummy as the costliest format stored
//! ([`PasswordHasher::with_dummy_of`](super::PasswordHasher::with_dummy_of)).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

use super::Inner;

impl Inner {
    /// Verifies `password` against the dummy (the work of an unknown user), and times
    /// it.
    pub(super) fn run_dummy(&self, password: &[u8]) {
        let started = Instant::now();
        self.dummy_runs.fetch_add(1, Ordering::Relaxed);
        // The dummy is well-formed and within the caps: it cannot fail.
        let _ = self.check(password, &self.dummy);
        self.dummy_times.record(started.elapsed());
    }

    /// After a wrong password whose check began at `started`: pads it to the dummy's
    /// time with CPU work, or, before the dummy has been timed, runs the dummy.
    pub(super) fn harden(&self, password: &[u8], started: Instant) {
        match self.dummy_times.estimate() {
            None => self.run_dummy(password),
            Some(dummy) => burn_until(started + dummy),
        }
    }
}

/// How many of the dummy's last timings the estimate is the median of.
const TIMINGS: usize = 5;

/// The dummy's last timings, in nanoseconds (0: none), as a ring: their median is the
/// time a padded failure takes. A median forgets a slow first run (a cold cache, a
/// busy start) after two more, and follows the machine's load within a few.
#[derive(Debug, Default)]
pub(super) struct DummyTimes {
    nanos: [AtomicU64; TIMINGS],
    next: AtomicUsize,
}

impl DummyTimes {
    pub(super) fn record(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1);
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % TIMINGS;
        self.nanos[slot].store(nanos, Ordering::Relaxed);
    }

    /// The median of the timings recorded (the higher of the middle two), if any.
    pub(super) fn estimate(&self) -> Option<Duration> {
        let mut times: Vec<u64> = (self.nanos.iter())
            .map(|n| n.load(Ordering::Relaxed))
            .filter(|n| *n > 0)
            .collect();
        times.sort_unstable();
        times.get(times.len() / 2).copied().map(Duration::from_nanos)
    }
}

impl Clone for DummyTimes {
    fn clone(&self) -> Self {
        Self {
            nanos: std::array::from_fn(|i| AtomicU64::new(self.nanos[i].load(Ordering::Relaxed))),
            next: AtomicUsize::new(self.next.load(Ordering::Relaxed)),
        }
    }
}

/// Hashes (SHA-256 over its own output) until `deadline`: CPU work, like the dummy's,
/// rather than a sleep that a loaded machine would not stretch.
fn burn_until(deadline: Instant) {
    let mut state = [0u8; 32];
    while Instant::now() < deadline {
        for _ in 0..256 {
            state = Sha256::digest(state).into();
        }
    }
    std::hint::black_box(state);
}

#[cfg(test)]
mod tests {
    use ::argon2::Params;

    use super::*;
    use crate::{PasswordError, PasswordHasher};

    /// A hasher whose dummy (argon2id, 4 MiB) costs far more than an 8 KiB hash.
    fn hasher() -> PasswordHasher {
        PasswordHasher::with_params(Params::new(4096, 1, 1, None).unwrap())
    }

    async fn cheap_hash(password: &str) -> String {
        PasswordHasher::with_params(Params::new(8, 1, 1, None).unwrap())
            .hash(password)
            .await
            .unwrap()
    }

    fn dummy_time(hasher: &PasswordHasher) -> Duration {
        hasher.inner.dummy_times.estimate().unwrap_or_default()
    }

    #[test]
    fn the_estimate_is_the_median_of_the_last_timings() {
        let times = DummyTimes::default();
        assert_eq!(times.estimate(), None);
        let ms = Duration::from_millis;
        times.record(ms(900));
        assert_eq!(times.estimate(), Some(ms(900)));
        for _ in 0..2 {
            times.record(ms(250));
        }
        assert_eq!(times.estimate(), Some(ms(250)), "a slow first run is forgotten");
        for took in [300, 310, 320, 330] {
            times.record(ms(took));
        }
        assert_eq!(times.estimate(), Some(ms(310)), "only the last five count");
    }

    #[tokio::test]
    async fn unknown_users_and_unusable_hashes_run_the_dummy() {
        let hasher = hasher();
        assert!(!hasher.check("pw", None).await.unwrap().matches);
        let over =
            "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$pcCMu9kmCy7Ix5MQrJhQdCf5fBRDe4dDbApDLaqGpMg";
        for stored in [
            "$argon2id$v=19$nonsense",
            over,
            "$scrypt$ln=1,r=8,p=1$c2FsdA$aGFzaA",
        ] {
            let error = hasher.check("pw", Some(stored)).await.unwrap_err();
            assert!(error.is_unusable(), "{error:?}");
            assert_eq!(matches!(error, PasswordError::OverLimit(_)), stored == over);
        }
        assert_eq!(hasher.dummy_verifications(), 4);
        assert_eq!(hasher.verifications(), 4);
    }

    /// A wrong password against a hash cheaper than the dummy takes at least the
    /// dummy's time.
    #[tokio::test]
    async fn a_wrong_password_against_a_cheaper_hash_is_padded_to_the_dummy() {
        let hasher = hasher();
        let stored = cheap_hash("pw").await;
        let dummy = dummy_time(&hasher);
        assert!(dummy > Duration::ZERO, "timed when the dummy was made");
        for _ in 0..3 {
            let started = Instant::now();
            assert!(!hasher.check("wrong", Some(&stored)).await.unwrap().matches);
            assert!(started.elapsed() >= dummy, "{:?} < {dummy:?}", started.elapsed());
        }
        assert_eq!(hasher.dummy_verifications(), 0, "padded, not re-run");
        assert!(hasher.check("pw", Some(&stored)).await.unwrap().matches);
    }

    /// Before the dummy has been timed (a scheme's dummy is made without computing it),
    /// a wrong password against a cheaper hash runs the dummy itself.
    #[tokio::test]
    async fn before_the_dummy_is_timed_a_failure_runs_it() {
        let hasher = hasher().hashing_with(crate::password::scheme::tests::Toy("toy"));
        let stored = cheap_hash("pw").await;
        assert_eq!(dummy_time(&hasher), Duration::ZERO);
        assert!(!hasher.check("wrong", Some(&stored)).await.unwrap().matches);
        assert_eq!(hasher.dummy_verifications(), 1);
        assert!(dummy_time(&hasher) > Duration::ZERO);
    }
}
