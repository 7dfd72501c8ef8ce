//! The revocation signal between processes sharing a MySQL or MariaDB database: a log
//! table written by the revoking transactions in commit order, polled by each follower
//! on a connection of its own.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::mysql::MySqlConnectOptions;
use sqlx::{Executor, MySql, MySqlConnection, MySqlPool, QueryBuilder};
use tokenauth_core::Revocation;
use tokenauth_core::store::RevocationBus;
use tokio::sync::{broadcast, watch};

use super::dialect::begin;
use crate::Error;
pub use crate::bus::DEFAULT_BUS_BOUND;
use crate::bus::{LogRow, PolledLog, Polling, Shared, Signal, log_rows, poll};
use crate::dialect::retrying;

/// Rows per `INSERT` of [`publish`](RevocationBus::publish): 3 parameters each, well
/// under MySQL's limit of 65,535 a statement.
const PUBLISH_CHUNK: usize = 1000;

/// How many rows the log keeps (as the migration's procedure trims it).
const KEPT: i64 = 10_000;

/// A [`RevocationBus`] on a MySQL or MariaDB database: every process that shares the
/// database hears what any of them ended, within a bound of 1 s by default.
///
/// - The tables' triggers (migration `20261209000000`) log, in the transaction that
///   makes it, every revocation of tokenauth's own tables, whoever writes it (a
///   server, the command-line tool, the `mysql` client): tokens deleted (their users),
///   a user whose credential version or active flag changed, a user deleted: the
///   events PostgreSQL's triggers notify. A revocation is logged if and only if it
///   commits.
/// - [`publish`](RevocationBus::publish) tells this process's subscribers at once, and
///   logs the **users** concerned (or "everything") for the other processes: no
///   token, digest or token id is written. For revocations of tokenauth's own tables
///   the triggers did it already; publish what they cannot see (an application's own
///   user table, say).
/// - A task polls the log every quarter of the bound on a connection of its own (not
///   one of the pool's, so that a saturated pool delays nothing), at `READ COMMITTED`
///   with each poll a statement of its own, so no snapshot is held from one poll to
///   the next. A poll that finds nothing new reads an empty range of the primary key.
///   Subscribers receive [`Revocation::User`] for each user logged (a cache drops the
///   user and its cached tokens), or [`Revocation::Everything`].
///
/// # Commit order
///
/// InnoDB numbers `AUTO_INCREMENT` rows at insert, not at commit: a follower that
/// read row 7 could miss a row 6 whose transaction committed later. So the log's
/// numbers come from a one-row counter (`tokenauth_revocation_seq`) that the logging
/// transaction moves, and whose row lock it holds until it commits or rolls back: the
/// next logging transaction waits for it, takes the next number, and commits after
/// it. Numbers therefore become visible in order and without gaps (a rolled-back
/// transaction rolls its number back too): a follower that read row 7 has read every
/// committed row before it, and one that finds the next row past the one it expects
/// knows rows were trimmed. The cost is that logging transactions take turns, from
/// their first revocation to their commit; tokenauth's own transactions take the
/// counter last, after every other lock they need, so no two of them deadlock on it
/// (and a transaction InnoDB rolls back as a deadlock runs again).
///
/// The log keeps its newest 10,000 rows (older ones are deleted by the logging
/// transaction, so it stays small whether or not anyone follows it). A follower that
/// finds rows it never read gone flushes instead ([`Revocation::Everything`]).
///
/// # The bound
///
/// Each poll is the heartbeat: a statement that starts after a revocation committed
/// sees it (and every row numbered before it), so the bus is
/// [connected](RevocationBus::connected) only while its newest successful poll
/// **started** less than three quarters of the bound ago (the rule of
/// [`Heartbeats`](tokenauth_core::store::Heartbeats), as on PostgreSQL and SQLite).
/// A cache following this bus ([`AuthCache::follow`](tokenauth_core::AuthCache::follow))
/// therefore never serves a token whose revocation committed more than the bound
/// (default 1 s) ago: either the poll read it and the entry is gone, or the polls
/// failed or stalled and the cache is paused (serving nothing from memory). When a
/// poll fails, the bus is disconnected at once, opens its connection again (with a
/// backoff up to 2 s), and is connected again (subscribers get
/// [`Revocation::Everything`]) after its first successful poll there.
///
/// Clones share the task; it stops when the last clone is dropped.
///
/// ```no_run
/// use tokenauth::core::{AuthCache, TokenAuth};
/// use tokenauth_sqlx::mysql::{MySqlRevocationBus, MySqlStore, MySqlUserDirectory, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let pool = connect("mysql://tokenauth@localhost/app").await?;
/// let cache = AuthCache::default();
/// // Keep it while serving: dropping it pauses the cache.
/// let _following = cache.follow(&MySqlRevocationBus::new(pool.clone()));
/// // No publisher needed: the tables log their own revocations.
/// let auth = TokenAuth::new(MySqlStore::new(pool.clone()), MySqlUserDirectory::new(pool))
///     .with_cache(cache);
/// # let _ = auth;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MySqlRevocationBus {
    inner: Arc<Inner>,
}

struct Inner {
    pool: MySqlPool,
    /// Its instance name is the `origin` of the rows it publishes.
    shared: Shared<Polling<MySqlConnectOptions>>,
}

impl fmt::Debug for MySqlRevocationBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MySqlRevocationBus")
            .field("connected", &self.inner.shared.is_connected())
            .finish_non_exhaustive()
    }
}

impl MySqlRevocationBus {
    /// A bus on `pool`'s database (migrated: [`connect`](super::connect) or
    /// [`migrate`](super::migrate)) with the default bound, 1 s.
    ///
    /// It polls from the first call to [`subscribe`](RevocationBus::subscribe) or
    /// [`connected`](RevocationBus::connected) on, on a task of the Tokio runtime of
    /// that call, on a connection opened with the pool's options; it starts
    /// disconnected. A bus that is only published on opens no connection of its own.
    pub fn new(pool: MySqlPool) -> Self {
        Self::with_bound(pool, DEFAULT_BUS_BOUND)
    }

    /// [`new`](Self::new) with another bound (at least 40 ms): shorter means more
    /// polls (four per bound) and more pauses when the server is slow.
    pub fn with_bound(pool: MySqlPool, bound: Duration) -> Self {
        let shared = Shared::new(bound, |signal, instance| Polling {
            options: (*pool.connect_options()).clone(),
            signal,
            instance: instance.to_owned(),
        });
        Self {
            inner: Arc::new(Inner { pool, shared }),
        }
    }

    /// Logs `rows` in one transaction: numbers taken from the counter at once (its row
    /// lock held to the commit, as the triggers hold it), then the log trimmed.
    async fn log(&self, rows: &[Option<&str>]) -> Result<(), Error> {
        let count = i64::try_from(rows.len()).map_err(|_| Error::Corrupt {
            what: "a revocation naming more users than a BIGINT counts",
        })?;
        let origin = self.inner.shared.instance();
        let mut conn = self.inner.pool.acquire().await?;
        let mut tx = begin(&mut conn).await?;
        sqlx::query("UPDATE tokenauth_revocation_seq SET n = n + ? WHERE id = 1")
            .bind(count)
            .execute(&mut *tx)
            .await?;
        // This transaction's own write, which it holds locked: the newest number.
        let last: i64 = sqlx::query_scalar("SELECT n FROM tokenauth_revocation_seq WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        let mut seq = last - count;
        for chunk in rows.chunks(PUBLISH_CHUNK) {
            let mut insert =
                QueryBuilder::<MySql>::new("INSERT INTO tokenauth_revocations (seq, user_id, origin) ");
            insert.push_values(chunk, |mut row, user| {
                seq += 1;
                row.push_bind(seq).push_bind(*user).push_bind(origin);
            });
            insert.build().execute(&mut *tx).await?;
        }
        sqlx::query("DELETE FROM tokenauth_revocations WHERE seq <= ?")
            .bind(last - KEPT)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl RevocationBus for MySqlRevocationBus {
    type Error = Error;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Error> {
        // This process's subscribers hear it at once; the poller skips its echo.
        self.inner.shared.send_local(revocation);
        let rows = log_rows(revocation);
        if rows.is_empty() {
            return Ok(());
        }
        retrying::<MySql, _, _, _>(|| self.log(&rows)).await
    }

    /// Starts polling, if not yet (see [`new`](MySqlRevocationBus::new)).
    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        let receiver = self.inner.shared.subscribe();
        self.inner.shared.start(poll::<Log>);
        receiver
    }

    /// Starts polling, if not yet (see [`new`](MySqlRevocationBus::new)).
    fn connected(&self) -> watch::Receiver<bool> {
        self.inner.shared.start(poll::<Log>);
        self.inner.shared.connected()
    }
}

/// The log, as one follower reads it.
struct Log {
    conn: MySqlConnection,
    /// The newest number read.
    cursor: i64,
    /// The follower's bus: it skips its own rows.
    instance: String,
}

impl PolledLog for Log {
    type Connection = MySqlConnection;

    async fn open(mut conn: MySqlConnection, instance: String) -> Result<Self, Error> {
        // Every poll a statement of its own (autocommit), each with a fresh view.
        Executor::execute(
            &mut conn,
            sqlx::raw_sql("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"),
        )
        .await?;
        // From the newest number taken.
        let cursor: i64 = sqlx::query_scalar("SELECT n FROM tokenauth_revocation_seq WHERE id = 1")
            .fetch_one(&mut conn)
            .await?;
        Ok(Self {
            conn,
            cursor,
            instance,
        })
    }

    /// Reads what was logged past the cursor and forwards it.
    async fn read(&mut self, signal: &Signal) -> Result<(), Error> {
        // One statement: one view, in which every number up to the newest is there
        // unless trimmed (numbers are taken in commit order).
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT seq, CONVERT(user_id USING utf8mb4), CONVERT(origin USING utf8mb4) \
             FROM tokenauth_revocations WHERE seq > ? ORDER BY seq",
        )
        .bind(self.cursor)
        .fetch_all(&mut self.conn)
        .await?;
        signal.forward_log(&mut self.cursor, &rows, &self.instance);
        Ok(())
    }
}
