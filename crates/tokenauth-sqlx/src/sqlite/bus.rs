//! The revocation signal between processes sharing a SQLite file: a log table written
//! by the revoking transactions, polled by each follower on a connection of its own.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokenauth_core::store::RevocationBus;
use tokenauth_core::{Revocation, UserId};
use tokio::sync::{broadcast, watch};

use crate::Error;
use crate::bus::{Backoff, DEFAULT_BUS_BOUND, Shared, Signal};

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
    shared: Shared<Polling>,
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

    /// The rows `revocation` is logged as: its users, or NULL for everything.
    fn rows(revocation: &Revocation) -> Vec<Option<&str>> {
        let mut seen = HashSet::new();
        match revocation {
            Revocation::Tokens(ended) => ended
                .iter()
                .map(|e| e.user_id.as_str())
                .filter(|user| seen.insert(*user))
                .map(Some)
                .collect(),
            Revocation::User(id) => vec![Some(id.as_str())],
            _ => vec![None],
        }
    }
}

impl RevocationBus for SqliteRevocationBus {
    type Error = Error;

    async fn publish(&self, revocation: &Revocation) -> Result<(), Error> {
        // This process's subscribers hear it at once; the poller skips its echo.
        self.inner.shared.send_local(revocation);
        let rows = Self::rows(revocation);
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
        self.inner.shared.start(poll);
        receiver
    }

    /// Starts polling, if not yet (see [`new`](SqliteRevocationBus::new)).
    fn connected(&self) -> watch::Receiver<bool> {
        self.inner.shared.start(poll);
        self.inner.shared.connected()
    }
}

struct Polling {
    options: SqliteConnectOptions,
    signal: Signal,
    instance: String,
}

/// Polls, forwards, and opens its connection again when a poll fails, forever.
async fn poll(mut state: Polling) {
    let mut backoff = Backoff::new();
    loop {
        match state.options.connect().await {
            Ok(conn) => {
                backoff.reset();
                if let Err(error) = state.serve(conn).await {
                    tracing::warn!(%error, "revocation bus cannot read the log; reopening");
                }
            }
            Err(error) => tracing::warn!(%error, "revocation bus cannot open the database; retrying"),
        }
        state.signal.lost();
        backoff.wait().await;
    }
}

/// Where a follower is in the log.
struct Cursor {
    /// The newest row read.
    seq: i64,
    /// `PRAGMA data_version` when the log was last read: while it stays the same, no
    /// other connection committed anything.
    version: Option<i64>,
}

impl Polling {
    /// Polls on `conn` until a poll fails or stalls.
    async fn serve(&mut self, mut conn: SqliteConnection) -> Result<(), Error> {
        // From the end of the log: what came before is covered by the flush that
        // connecting sends.
        let newest: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM tokenauth_revocations")
            .fetch_one(&mut conn)
            .await?;
        let mut cursor = Cursor {
            seq: newest.unwrap_or(0),
            version: None,
        };
        let mut every = tokio::time::interval(self.signal.interval());
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.signal.check();
            let stamp = self.signal.stamp();
            // A poll slower than two intervals is as good as lost: start over.
            match tokio::time::timeout(self.signal.interval() * 2, self.read(&mut conn, &mut cursor)).await {
                Ok(Ok(())) => self.signal.heard(&stamp),
                Ok(Err(error)) => return Err(error),
                Err(_) => return Ok(()),
            }
        }
    }

    /// Reads what was logged past `cursor`, if anything changed, and forwards it.
    async fn read(&self, conn: &mut SqliteConnection, cursor: &mut Cursor) -> Result<(), Error> {
        let version: i64 = sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&mut *conn)
            .await?;
        if cursor.version == Some(version) {
            return Ok(());
        }
        // One statement: one snapshot.
        let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT seq, user_id, origin FROM tokenauth_revocations WHERE seq > ? ORDER BY seq",
        )
        .bind(cursor.seq)
        .fetch_all(&mut *conn)
        .await?;
        cursor.version = Some(version);
        let Some((first, _, _)) = rows.first() else {
            return Ok(());
        };
        // Rows only ever leave the log from its old end, and `seq` grows one by one:
        // a first row past the next one means rows this follower never read are gone.
        let missed = *first != cursor.seq + 1;
        cursor.seq = rows.last().map_or(cursor.seq, |(seq, _, _)| *seq);
        if missed {
            tracing::warn!("revocation bus fell behind the log; flushing caches");
            // It covers every row read too: naming them would only make subscribers lag.
            self.signal.send(Revocation::Everything);
            return Ok(());
        }
        let mut users = HashSet::new();
        for (_, user, origin) in &rows {
            if origin.as_deref() == Some(self.instance.as_str()) {
                // Our own: `publish` told this process's subscribers already.
                continue;
            }
            match user {
                Some(user) if users.insert(user.as_str()) => {
                    self.signal.send(Revocation::User(UserId::new(user.clone())));
                }
                Some(_) => {}
                None => self.signal.send(Revocation::Everything),
            }
        }
        Ok(())
    }
}
