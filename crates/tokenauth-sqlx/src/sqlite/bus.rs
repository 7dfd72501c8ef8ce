//! The revocation signal between processes sharing a SQLite file: a log table written
//! by the revoking transactions, polled by each follower on a connection of its own.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokenauth_core::Revocation;
use tokenauth_core::store::RevocationBus;
use tokio::sync::{broadcast, watch};

use crate::Error;
use crate::bus::{DEFAULT_BUS_BOUND, LogRow, PolledLog, Polling, Shared, Signal, log_rows, poll};

/// Rows per `INSERT` of [`publish`](RevocationBus::publish): 2 parameters each, well
/// under SQLite's limit of 32,766 a statement.
const PUBLISH_CHUNK: usize = 1000;

/// A [`RevocationBus`] on a SQLite database: every process that opens the same file
/// hears what any of them ended, within a bound of 1 s by default.
///
/// - The tables' triggers (migration `20261207000000`) log, in the transaction that
///   makes it, every revocation of tokenauth's own tables, whoever writes it (a
///   server, the command-line tool, the `sqlite3` shell): tokens deleted (their users),
///   a user whose credential version or active flag changed, a user deleted: the
///   events PostgreSQL's triggers notify. A revocation is logged if and only if it
///   commits.
/// - [`publish`](RevocationBus::publish) tells this process's subscribers at once, and
///   logs the **users** concerned (or "everything") for the other processes: no
///   token, digest or token id is written. For revocations of tokenauth's own tables
///   the triggers did it already; publish what they cannot see (an application's own
///   user table, say).
/// - A task polls the log every quarter of the bound on a connection of its own (not
///   one of the pool's, so that a saturated pool delays nothing), with `PRAGMA
///   data_version` first: the log is read only when another connection committed
///   something. Subscribers receive [`Revocation::User`] for each user logged (a cache
///   drops the user and its cached tokens), or [`Revocation::Everything`].
///
/// The log keeps its newest 10,000 rows (older ones are deleted by the inserting
/// transaction, so it stays small whether or not anyone follows it). A follower that
/// finds rows it never read gone flushes instead ([`Revocation::Everything`]).
///
/// # The bound
///
/// Each poll is the heartbeat: a read that starts after a revocation committed sees
/// it (one snapshot, in commit order), so the bus is
/// [connected](RevocationBus::connected) only while its newest successful poll
/// **started** less than three quarters of the bound ago (the rule of
/// [`Heartbeats`](tokenauth_core::store::Heartbeats), as on PostgreSQL). A cache
/// following this bus ([`AuthCache::follow`](tokenauth_core::AuthCache::follow))
/// therefore never serves a token whose revocation committed more than the bound
/// (default 1 s) ago: either the poll read it and the entry is gone, or the polls
/// failed or stalled and the cache is paused (serving nothing from memory). When a
/// poll fails, the bus is disconnected at once, opens its connection again (with a
/// backoff up to 2 s), and is connected again (subscribers get
/// [`Revocation::Everything`]) after its first successful poll there.
///
/// The database must be a file. An in-memory one needs no bus (only its own process
/// can open it, and that process's revocations reach its cache directly), and its
/// connections share one cache whose table locks fail a poll while the pool writes,
/// which would pause a following cache.
///
/// Clones share the task; it stops when the last clone is dropped.
///
/// ```no_run
/// use tokenauth::core::{AuthCache, TokenAuth};
/// use tokenauth_sqlx::sqlite::{SqliteRevocationBus, SqliteStore, SqliteUserDirectory, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let pool = connect("sqlite://tokenauth.db").await?;
/// let cache = AuthCache::default();
/// // Keep it while serving: dropping it pauses the cache.
/// let _following = cache.follow(&SqliteRevocationBus::new(pool.clone()));
/// // No publisher needed: the tables log their own revocations.
/// let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool))
///     .with_cache(cache);
/// # let _ = auth;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteRevocationBus {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    /// Its instance name is the `origin` of the rows it publishes.
    shared: Shared<Polling<SqliteConnectOptions>>,
}

impl fmt::Debug for SqliteRevocationBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteRevocationBus")
            .field("connected", &self.inner.shared.is_connected())
            .finish_non_exhaustive()
    }
}

impl SqliteRevocationBus {
    /// A bus on `pool`'s database (migrated: [`connect`](super::connect) or
    /// [`migrate`](super::migrate)) with the default bound, 1 s.
    ///
    /// It polls from the first call to [`subscribe`](RevocationBus::subscribe) or
    /// [`connected`](RevocationBus::connected) on, on a task of the Tokio runtime of
    /// that call, on a connection opened with the pool's options; it starts
    /// disconnected. A bus that is only published on opens no connection of its own.
    pub fn new(pool: SqlitePool) -> Self {
        Self::with_bound(pool, DEFAULT_BUS_BOUND)
    }

    /// [`new`](Self::new) with another bound (at least 40 ms): shorter means more
    /// polls (four per bound) and more pauses when the disk is slow.
    pub fn with_bound(pool: SqlitePool, bound: Duration) -> Self {
        let shared = Shared::new(bound, |signal, instance| Polling {
            options: (*pool.connect_options()).clone(),
            signal,
            instance: instance.to_owned(),
        });
        Self {
            inner: Arc::new(Inner { pool, shared }),
        }
    }
}

impl RevocationBus for SqliteRevocationBus {
    type Error = Error;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Error> {
        // This process's subscribers hear it at once; the poller skips its echo.
        self.inner.shared.send_local(revocation);
        let rows = log_rows(revocation);
        if rows.is_empty() {
            return Ok(());
        }
        let origin = self.inner.shared.instance();
        let mut tx = self.inner.pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in rows.chunks(PUBLISH_CHUNK) {
            let mut insert =
                QueryBuilder::<Sqlite>::new("INSERT INTO tokenauth_revocations (user_id, origin) ");
            insert.push_values(chunk, |mut row, user| {
                row.push_bind(*user).push_bind(origin);
            });
            insert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Starts polling, if not yet (see [`new`](SqliteRevocationBus::new)).
    fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        let receiver = self.inner.shared.subscribe();
        self.inner.shared.start(poll::<Log>);
        receiver
    }

    /// Starts polling, if not yet (see [`new`](SqliteRevocationBus::new)).
    fn connected(&self) -> watch::Receiver<bool> {
        self.inner.shared.start(poll::<Log>);
        self.inner.shared.connected()
    }
}

/// The log, as one follower reads it.
struct Log {
    conn: SqliteConnection,
    /// The newest row read.
    seq: i64,
    /// `PRAGMA data_version` when the log was last read: while it stays the same, no
    /// other connection committed anything.
    version: Option<i64>,
    /// The follower's bus: it skips its own rows.
    instance: String,
}

impl PolledLog for Log {
    type Connection = SqliteConnection;

    async fn open(mut conn: SqliteConnection, instance: String) -> Result<Self, Error> {
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM tokenauth_revocations")
            .fetch_one(&mut conn)
            .await?;
        Ok(Self {
            conn,
            seq: newest.unwrap_or(0),
            version: None,
            instance,
        })
    }

    /// Reads what was logged past the cursor, if anything changed, and forwards it.
    async fn read(&mut self, signal: &Signal) -> Result<(), Error> {
        let version: i64 = sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut self.conn)
            .await?;
        if self.version == Some(version) {
            return Ok(());
        }
        // One statement: one snapshot.
        let rows: Vec<LogRow> = sqlx::query_as(
            "SELECT seq, user_id, origin FROM tokenauth_revocations WHERE seq > ? ORDER BY seq",
        )
        .bind(self.seq)
        .fetch_all(&mut self.conn)
        .await?;
        self.version = Some(version);
        signal.forward_log(&mut self.seq, &rows, &self.instance);
        Ok(())
    }
}
