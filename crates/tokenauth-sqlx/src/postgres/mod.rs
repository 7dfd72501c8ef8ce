//! The PostgreSQL backend.

mod bulk;
mod bus;
mod settings;
mod store;
mod users;

use std::sync::LazyLock;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

pub use bus::{DEFAULT_BUS_BOUND, PgRevocationBus, REVOCATION_CHANNEL};
pub use store::PgStore;
pub use users::PgUserDirectory;

use crate::Error;

/// The migrations that create the `tokenauth_users`, `tokenauth_tokens`,
/// `tokenauth_token_sets` and `tokenauth_settings` tables on PostgreSQL, embedded from
/// `migrations/postgres`. [`connect_postgres`] and [`migrate_postgres`] run them.
///
/// They are recorded in sqlx's `_sqlx_migrations` table of the first schema on the
/// connection's `search_path`, and the tables are created there too. This migrator
/// ignores versions it does not know, so that an application can keep its own sqlx
/// migrations in the same schema; the application's migrator then needs
/// [`set_ignore_missing(true)`](Migrator::set_ignore_missing) too, and versions must not
/// collide (tokenauth's start at `20260601000000` on PostgreSQL).
///
/// Several processes may migrate at once (servers starting together): sqlx's migrator
/// holds a PostgreSQL advisory lock, keyed on the database's name, while it reads and
/// applies migrations, so the others wait for it and then find nothing left to do.
pub static PG_MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!("./migrations/postgres");
    migrator.set_ignore_missing(true);
    migrator
});

/// Opens a pool on the PostgreSQL database at `url` and runs the migrations
/// ([`PG_MIGRATOR`]).
///
/// `url` is a sqlx PostgreSQL URL such as
/// `postgres://tokenauth@db.internal/tokenauth?sslmode=verify-full`. The tables live in
/// the first schema of the connection's `search_path` (`public` by default; choose
/// another with `?options=-c%20search_path%3Dauth`). The database must exist.
///
/// # Pool size
///
/// The pool keeps sqlx's defaults: at most 10 connections, opened on demand. A request
/// holds a connection only for its queries (no transaction spans an `.await` on
/// anything but the database), and logins spend their time hashing the password, not
/// in the database, so 10 serve a busy server; with PostgreSQL's default
/// `max_connections` of 100 that leaves room for several servers and the command-line
/// tool. To change it, open the pool yourself with
/// [`PgPoolOptions`](sqlx::postgres::PgPoolOptions) and call [`migrate_postgres`].
///
/// # Durability
///
/// Every write commits in its own transaction (or in the one transaction of a
/// [`commit`](tokenauth_core::TokenStore::commit)); with PostgreSQL's default
/// `synchronous_commit = on` a commit returns only once its WAL is flushed to disk, so
/// a revocation that has been answered survives a crash or a power loss. Do not turn
/// `synchronous_commit` off for the database or the role tokenauth uses.
pub async fn connect_postgres(url: &str) -> Result<PgPool, Error> {
    connect_postgres_with_timeout(url, crate::DEFAULT_TIMEOUT).await
}

/// [`connect_postgres`], with `timeout` as the pool's acquire timeout: how long a query
/// waits for a connection, including opening one (connecting is retried meanwhile
/// while the server refuses). When PostgreSQL is down or unreachable, queries fail
/// after it with [`sqlx::Error::PoolTimedOut`], which [`Error::is_unavailable`]
/// reports as unavailable (`tokenauth`'s web layer answers 503); a connection that
/// breaks fails its query at once (I/O error, also unavailable), and the pool opens
/// new connections when the server is back: nothing needs restarting. Give
/// [`TokenAuth::with_backend_timeout`](tokenauth_core::TokenAuth::with_backend_timeout)
/// the same bound: it also covers a server that stops answering on an open
/// connection, which no pool timeout sees.
///
/// Opening the pool itself (one connection, then the migrations) fails after the same
/// time if the server cannot be reached.
pub async fn connect_postgres_with_timeout(url: &str, timeout: Duration) -> Result<PgPool, Error> {
    let pool = PgPoolOptions::new().acquire_timeout(timeout).connect(url).await?;
    migrate_postgres(&pool).await?;
    Ok(pool)
}

/// How many times a write runs in all when PostgreSQL aborts it as a serialization
/// failure or a deadlock.
const ATTEMPTS: u32 = 3;

/// Runs `attempt` again, after a short random pause, when PostgreSQL aborted it as a
/// serialization failure (40001) or a deadlock (40P01): such a transaction was rolled
/// back whole, and running it again is what PostgreSQL asks for. After [`ATTEMPTS`],
/// the error stands; [`Error::is_unavailable`] reports it, so that the server answers
/// 503 with `Retry-After`, never 500.
pub(crate) async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if error.is_transient_conflict() && tries < ATTEMPTS => {
                tries += 1;
                let pause = Duration::from_millis(5 + rand_below(20));
                tokio::time::sleep(pause).await;
            }
            done => return done,
        }
    }
}

/// A number below `n` that differs between calls (spreads retries apart).
fn rand_below(n: u64) -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now()) % n
}

/// Runs the migrations ([`PG_MIGRATOR`]) on `pool`, for pools not opened with
/// [`connect_postgres`]. Already applied migrations are skipped, so running it again is
/// harmless, also from several processes at once.
#[tracing::instrument(skip_all)]
pub async fn migrate_postgres(pool: &PgPool) -> Result<(), Error> {
    PG_MIGRATOR.run(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::sync::atomic::{AtomicU32, Ordering};

    use sqlx::error::{DatabaseError, ErrorKind};

    use super::*;

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
