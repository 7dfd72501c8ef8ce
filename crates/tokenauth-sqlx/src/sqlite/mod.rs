//! The SQLite backend: [`SqliteStore`], [`SqliteUserDirectory`], one way to open and
//! migrate their database ([`connect`], [`connect_with_timeout`], [`migrate`],
//! [`migrations`]), and the revocation bus between processes that share the file
//! ([`SqliteRevocationBus`]).

mod bulk;
mod bus;
mod dialect;
mod durable;
mod reader;
mod statements;

use std::str::FromStr;
use std::time::Duration;

use sqlx::Transaction;
use sqlx::migrate::{Migration, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
pub use sqlx::{Sqlite, SqlitePool};

pub use crate::bus::DEFAULT_BUS_BOUND;
pub use bus::SqliteRevocationBus;

use crate::Error;
use crate::migrations::Migrations;
use crate::store::SqlStore;
use crate::users::SqlUserDirectory;

/// A [`TokenStore`](tokenauth_core::store::TokenStore) in the `tokenauth_tokens` table of a
/// SQLite database.
///
/// Clones share the pool. The tables are created by the migrations that [`connect`]
/// (or [`migrate`]) runs.
///
/// The per-user compare-and-swap ([`token_set`](tokenauth_core::store::TokenStore::token_set) +
/// [`commit`](tokenauth_core::store::TokenStore::commit)) keeps each user's set version in
/// `tokenauth_token_sets`: `token_set` reads the version and the records in one read
/// transaction (one snapshot under WAL), and `commit` compares the version, deletes,
/// inserts and writes `version + 1` in one `BEGIN IMMEDIATE` transaction, so concurrent
/// commits of one user queue up for SQLite's write lock and the later one sees the
/// conflict. The [`purge`](tokenauth_core::store::TokenStore::purge) finds records through
/// indexes and deletes at most `limit` of them per call, so no call holds the write
/// lock for long. The writes that end tokens commit with `synchronous = FULL` (see
/// [`connect`]).
///
/// [`find_by_digest`](tokenauth_core::store::TokenStore::find_by_digest), the lookup
/// authentication makes (and [`SqliteUserDirectory`]'s `find_user`), runs on the
/// calling thread, on read-only connections of the store's own to the same file, not
/// through the pool, whose every query is a hand-off to a worker thread and back: a
/// commit is seen at once, and under WAL a reader never waits for a writer. Whatever
/// that read cannot answer at once (a lock held, a value of the wrong type, a pool
/// closed or in memory) goes to the pool as before, which waits up to its busy
/// timeout. The first lookup asks the pool for the file's path.
///
/// Authentication reads a token and its user in one query, as DRF's
/// `select_related("user")` does
/// ([`find_with_user_to_authenticate`](tokenauth_core::store::TokenStore::find_with_user_to_authenticate)):
/// a [`SqliteUserDirectory`] on the same file answers from that row instead of
/// reading again, which halves the file locks a valid token costs. Any other
/// directory reads as before.
///
/// Times are whole Unix microseconds in INTEGER columns. A record's credential version
/// (a `u64`) is kept in an INTEGER column as the `i64` with the same bits: versions up
/// to `i64::MAX`, the only ones [`SqliteUserDirectory`] gives out, read the same in raw
/// SQL, and larger ones (from other directories) round-trip too.
///
/// `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_sqlx::sqlite::{SqliteStore, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let store = SqliteStore::new(connect("sqlite://tokenauth.db").await?);
/// # Ok(()) }
/// ```
pub type SqliteStore = SqlStore<Sqlite>;

/// A [`UserDirectory`](tokenauth_core::store::UserDirectory) and
/// [`UserAdmin`](tokenauth_core::store::UserAdmin) in the `tokenauth_users` table of a SQLite
/// database.
///
/// It only stores: hashing and verifying passwords (argon2id PHC strings), deciding
/// whether an upsert changes a password, and ending the tokens a change invalidates are
/// done by [`TokenAuth`](tokenauth_core::TokenAuth)
/// ([`upsert_user`](tokenauth_core::TokenAuth::upsert_user),
/// [`change_password`](tokenauth_core::TokenAuth::change_password), ...), which is
/// how applications and the command-line tool should change users.
///
/// User ids are the table's integer primary key (`UserId::from(42)`), never reused
/// after a deletion (`AUTOINCREMENT`); an id not spelled as
/// [`UserId::from`](tokenauth_core::UserId) spells it (`"007"`) names no user. Usernames
/// match exactly: case-sensitive, not trimmed.
///
/// Each user's credential version is written in the same `UPDATE` as its new password
/// hash ([`set_password_hash`](tokenauth_core::store::UserAdmin::set_password_hash): version +
/// 1), so every token issued under the old version is refused from the moment the
/// change commits; that write, a deactivation and a deletion commit with
/// `synchronous = FULL` (see [`connect`]).
///
/// The informational `created` column is filled in by SQLite's own clock; tokenauth
/// never reads it.
///
/// Clones share the pool. `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth::core::store::UserDirectory;
/// use tokenauth_sqlx::sqlite::{SqliteUserDirectory, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let users = SqliteUserDirectory::new(connect("sqlite://tokenauth.db").await?);
/// if let Some(login) = users.find_login("alice").await? {
///     println!("alice is user {}", login.user.id);
/// }
/// # Ok(()) }
/// ```
pub type SqliteUserDirectory = SqlUserDirectory<Sqlite>;

/// tokenauth's migrations on SQLite, oldest first: they create and update the
/// `tokenauth_users`, `tokenauth_tokens`, `tokenauth_token_sets`,
/// `tokenauth_settings` and `tokenauth_revocations` tables (the last a log of
/// revocations, written by triggers, for [`SqliteRevocationBus`]). Embedded from `migrations/sqlite`; [`connect`] and
/// [`migrate`] apply them.
pub fn migrations() -> &'static [Migration] {
    EMBEDDED.iter().as_slice()
}

/// Embedded and checksummed by sqlx, run by tokenauth's runner.
static EMBEDDED: Migrator = sqlx::migrate!("./migrations/sqlite");

impl Migrations for Sqlite {
    /// `applied_at` as `CURRENT_TIMESTAMP` writes it (UTC, `YYYY-MM-DD HH:MM:SS`), the
    /// format of `_sqlx_migrations.installed_on`, from which adopted rows copy it.
    const CREATE_RECORD: &'static str = "CREATE TABLE IF NOT EXISTS tokenauth_migrations (\
         version INTEGER PRIMARY KEY, \
         description TEXT NOT NULL, \
         checksum BLOB NOT NULL, \
         applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";

    const SQLX_RECORD_EXISTS: &'static str =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'";

    const RECORD_EXISTS: &'static str =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tokenauth_migrations'";

    fn migrations() -> &'static [Migration] {
        self::migrations()
    }

    /// `BEGIN IMMEDIATE`: the write lock from the start, so migrating processes queue
    /// up for it (up to the busy timeout) and none reads a record another then changes.
    async fn begin_locked(pool: &SqlitePool) -> Result<Transaction<'static, Sqlite>, Error> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Opens a pool on the SQLite database at `url` and applies tokenauth's migrations
/// ([`migrate`]).
///
/// `url` is a sqlx SQLite URL such as `sqlite://tokenauth.db` or
/// `sqlite:///var/lib/app/tokenauth.db?mode=rwc`. The file is created if it is missing,
/// readable and writable by its owner only (mode 0600 on Unix, whatever the umask;
/// SQLite gives its `-wal` and `-shm` files the same mode): it holds password hashes.
/// An existing file keeps its mode, with a warning if other users can read it.
/// Connections use write-ahead logging (readers do not block the writer) and foreign
/// keys. [`DEFAULT_TIMEOUT`](crate::DEFAULT_TIMEOUT) bounds the waits (see
/// [`connect_with_timeout`]). The pool does not ping a connection before handing it
/// out (`test_before_acquire(false)`): a SQLite connection cannot go stale, and the
/// ping would cost every query a round trip to the connection's thread.
///
/// # Durability
///
/// Connections run at `synchronous = NORMAL`: every commit survives a crash of the
/// process, but in WAL mode the log is synced to disk only at checkpoints, so a power
/// loss or an operating-system crash can roll back the last commits (never corrupt
/// the database). That is acceptable for a login (its token stops working; the client
/// logs in again) and for last-used times, and not for a revocation, so
/// [`SqliteStore`] and [`SqliteUserDirectory`] run every write that ends tokens (a
/// logout, a revocation, an eviction, a new credential version, a deactivation, a
/// deletion) at `synchronous = FULL` on its connection: the log, and everything in it
/// before, is synced before the commit returns. They do so on any pool, including one
/// not opened here, and never lower a stricter level. Both hold only if the disk
/// honours flushes (no volatile write cache that lies about them).
///
/// An in-memory database (`sqlite::memory:`, or a URL with `mode=memory`) lives only as
/// long as a connection to it is open, so for those the pool keeps exactly one
/// connection open for its whole life, and every query goes through it. Tests that
/// need several connections should use a file in a temporary directory instead.
pub async fn connect(url: &str) -> Result<SqlitePool, Error> {
    connect_with_timeout(url, crate::DEFAULT_TIMEOUT).await
}

/// [`connect`], with `timeout` as the bound on each wait for the database: for a
/// connection from the pool (the pool's acquire timeout) and for a lock held by
/// another connection or process (SQLite's busy timeout). Past it the query fails with
/// an error that [`Error::is_unavailable`] reports as unavailable (a pool timeout, or
/// `SQLITE_BUSY`: "database is locked"), which `tokenauth`'s web layer answers with 503.
/// Give [`TokenAuth::with_backend_timeout`](tokenauth_core::TokenAuth::with_backend_timeout)
/// a longer bound (the `tokenauth` server uses twice `timeout`), so that the database's
/// own timeout fires first and a write given up on is never applied afterwards.
pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<SqlitePool, Error> {
    let options = connect_options(url, timeout)?.create_if_missing(true);
    if !is_in_memory(url) {
        create_private(options.get_filename()).map_err(|source| Error::CreateFile { source })?;
    }
    let pool = pool(url, options, timeout).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// [`connect_with_timeout`] for a database already migrated, which it never changes:
/// no file is created and no migration applied. Fails with [`Error::NotMigrated`]
/// if the file is missing or lacks any of this build's migrations (for tools that
/// must leave the schema to whoever upgrades it, as `tokenauth`'s admin commands do).
pub async fn open_migrated(url: &str, timeout: Duration) -> Result<SqlitePool, Error> {
    let options = connect_options(url, timeout)?;
    if !is_in_memory(url) && !options.get_filename().exists() {
        let newest = migrations().last().map_or(0, |migration| migration.version);
        return Err(Error::NotMigrated {
            pending: migrations().len(),
            newest,
        });
    }
    let pool = pool(url, options, timeout).await?;
    crate::migrations::Record::<Sqlite>::require_applied(&pool).await?;
    Ok(pool)
}

/// The connection settings of [`connect_with_timeout`], but for creating the file.
fn connect_options(url: &str, timeout: Duration) -> Result<SqliteConnectOptions, Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(timeout)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true))
}

/// A pool with `options` (see [`connect`] for its settings).
async fn pool(url: &str, options: SqliteConnectOptions, timeout: Duration) -> Result<SqlitePool, Error> {
    // No ping before each acquire (sqlx's default): a SQLite connection is a file
    // handle that cannot go stale the way a network connection does, and the ping is
    // one more round trip to the connection's worker thread on every query, which
    // is where `GET /auth/me` spends its time (docs/BENCHMARKS.md).
    let pool_options = SqlitePoolOptions::new().test_before_acquire(false);
    let pool_options = if is_in_memory(url) {
        pool_options
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        pool_options
    };
    Ok(pool_options
        .acquire_timeout(timeout)
        .connect_with(options)
        .await?)
}

/// Applies tokenauth's pending migrations ([`migrations`]) on `pool`, for pools not
/// opened with [`connect`]: oldest first, each in a `BEGIN IMMEDIATE` transaction of
/// its own, so processes migrating at once take turns (each waits up to the busy
/// timeout). Running it again is harmless.
///
/// They are recorded in tokenauth's own table, `tokenauth_migrations`, never in sqlx's
/// `_sqlx_migrations`, so your application's own sqlx migrations run beside them
/// with sqlx's default settings, before or after (see
/// [Migrations](crate#migrations), which also says how a database an earlier tokenauth
/// migrated is taken over):
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = tokenauth_sqlx::sqlite::connect("sqlite://app.db").await?;
/// // Your crate's `migrations/` folder, recorded in `_sqlx_migrations`.
/// sqlx::migrate!().run(&pool).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`Error::MigrationChanged`], [`Error::MigrationUnknown`] or
/// [`Error::MigrationFailed`], each naming the version, if the database's record does
/// not match this build or a migration fails; a database error otherwise.
#[tracing::instrument(skip_all)]
pub async fn migrate(pool: &SqlitePool) -> Result<(), Error> {
    crate::migrations::Record::run(pool).await
}

/// Creates the database file `path`, empty and readable and writable by its owner only
/// (0600, whatever the umask), unless it exists. SQLite then gives the `-wal` and
/// `-shm` files it creates beside it the same permissions. An existing file keeps its
/// permissions; if other users may read it, a warning says so.
#[cfg(unix)]
fn create_private(path: &std::path::Path) -> std::io::Result<()> {
    use std::fs::OpenOptions;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    // `create_new`: never truncate, and never follow a symbolic link planted there.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => {
            // `mode` is filtered by the umask; a umask can only remove bits, but set
            // the mode explicitly so that the file is exactly 0600.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
        }
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            if let Ok(metadata) = std::fs::metadata(path)
                && metadata.permissions().mode() & 0o077 != 0
            {
                tracing::warn!(
                    path = %path.display(),
                    mode = format_args!("{:o}", metadata.permissions().mode() & 0o777),
                    "the database file is accessible to other users; `chmod 600` it (and its -wal and -shm files)"
                );
            }
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Elsewhere SQLite creates the file, with the platform's default permissions.
#[cfg(not(unix))]
fn create_private(_path: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

/// Whether the SQLite URL `url` names an in-memory database (`sqlite::memory:`, or
/// `mode=memory`): one only this process can open, which needs no
/// [`SqliteRevocationBus`].
pub fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_are_not_pinged_before_each_use() {
        for url in ["sqlite::memory:", "sqlite://db?mode=memory"] {
            let pool = connect(url).await.unwrap();
            assert!(!pool.options().get_test_before_acquire(), "{url}");
        }
        let dir = tempfile::tempdir().unwrap();
        let pool = connect(&format!("sqlite://{}", dir.path().join("t.db").display()))
            .await
            .unwrap();
        assert!(!pool.options().get_test_before_acquire());
    }

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://db?mode=memory"));
        assert!(!is_in_memory("sqlite://tokenauth.db"));
    }
}
