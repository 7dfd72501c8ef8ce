//! When PostgreSQL or MySQL asks for a write to run again: a serialization failure
//! (SQLSTATE 40001, also MySQL's deadlock, error 1213) or a deadlock (40P01) rolled
//! the transaction back whole.

use std::time::Duration;

use crate::Error;

/// How many times a write runs in all when the database aborts it as a serialization
/// failure or a deadlock.
const ATTEMPTS: u32 = 3;

/// Whether the write that failed with `error` on attempt `tries` runs again, after a
/// short random pause (taken here): when the database aborted it as a serialization
/// failure or a deadlock, and it has not run [`ATTEMPTS`] times. After that the error
/// stands; [`Error::is_unavailable`] reports it, so that the server answers 503 with
/// `Retry-After`, never 500.
pub(crate) async fn again(error: &Error, tries: u32) -> bool {
    if !(error.is_transient_conflict() && tries < ATTEMPTS) {
        return false;
    }
    let pause = Duration::from_millis(5 + rand_below(20));
    tokio::time::sleep(pause).await;
    true
}

/// A number below `n` that differs between calls (spreads retries apart).
fn rand_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now()) % n
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use std::borrow::Cow;
    use std::sync::atomic::{AtomicU32, Ordering};

    use sqlx::Postgres;
    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

    /// The generic retry loop, as PostgreSQL's writes run it.
    async fn retrying<T, F, Fut>(attempt: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        crate::dialect::retrying::<Postgres, _, _, _>(attempt).await
    }

    /// A database error with a SQLSTATE, as PostgreSQL sends them.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "aborted"
        }

        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }

        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }

        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }

        fn kind(&self) -> ErrorKind {
            ErrorKind::Other
        }
    }

    fn failure(code: &'static str) -> Error {
        Error::from(sqlx::Error::Database(Box::new(Sqlstate(code))))
    }

    /// A deadlock or serialization failure runs the write again; it succeeds on a later
    /// attempt, or, after three, stands (reported unavailable: a 503, not a 500).
    #[tokio::test]
    async fn conflicts_are_retried_then_reported_unavailable() {
        let runs = AtomicU32::new(0);
        let done = retrying(|| async {
            let run = runs.fetch_add(1, Ordering::SeqCst);
            if run < 2 { Err(failure("40P01")) } else { Ok(run) }
        })
        .await;
        assert_eq!(done.unwrap(), 2, "the third run succeeded");

        runs.store(0, Ordering::SeqCst);
        let failed = retrying(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(failure("40001"))
        })
        .await
        .unwrap_err();
        assert_eq!(runs.load(Ordering::SeqCst), ATTEMPTS);
        assert!(failed.is_unavailable());

        // Anything else is not run again.
        runs.store(0, Ordering::SeqCst);
        let unique = retrying(|| async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(failure("23505"))
        })
        .await
        .unwrap_err();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!unique.is_unavailable());
    }
}
