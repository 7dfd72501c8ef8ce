//! The MySQL and MariaDB backend: [`MySqlStore`], [`MySqlUserDirectory`], one way
//! to open and migrate their database ([`connect`], [`connect_with_timeout`],
//! [`migrate`], [`migrations`], [`open_migrated`]), and the revocation bus between
//! processes that share the database ([`MySqlRevocationBus`]).

mod bulk;
mod bus;
mod dialect;
mod statements;

use std::time::Duration;

use sqlx::migrate::{Migration, Migrator};
use sqlx::mysql::MySqlConnectOptions;
use sqlx::{Executor, Transaction};
pub use sqlx::{MySql, MySqlPool};

pub use bus::{DEFAULT_BUS_BOUND, MySqlRevocationBus};

use crate::Error;
use crate::migrations::Migrations;
use crate::store::SqlStore;
use crate::users::SqlUserDirectory;

/// A [`TokenStore`](tokenauth_core::store::TokenStore) in the `tokenauth_tokens` table of a
/// MySQL or MariaDB database.
///
/// Clones share the pool. The tables are created by the migrations that [`connect`]
/// (or [`migrate`]) runs.
///
/// The per-user compare-and-swap ([`token_set`](tokenauth_core::store::TokenStore::token_set) +
/// [`commit`](tokenauth_core::store::TokenStore::commit)) keeps each user's set version in
/// `tokenauth_token_sets`. `token_set` reads the version, then the records, in one
/// transaction at InnoDB's default `REPEATABLE READ`: both from one snapshot.
/// `commit` runs in one `READ COMMITTED` transaction: first `UPDATE
/// tokenauth_token_sets SET version = version + 1 WHERE user_id = ? AND version = ?`
/// (for an expected version of 0, a plain `INSERT` of version 1, which a concurrent
/// first commit makes fail as a duplicate key); no row moved means another commit got
/// there first, and the transaction is rolled back as
/// [`Committed::Conflict`](tokenauth_core::store::Committed::Conflict). An `UPDATE`
/// reads the newest committed row whatever the isolation level, and the row lock it
/// takes makes every other commit of the user wait (and then find the version
/// moved) while the insert and the deletes (of that user's rows only) follow. MySQL
/// has no `RETURNING`: the rows a commit, a logout or a purge deletes are read with
/// `SELECT ... FOR UPDATE` (locking them) and then deleted by id, in one transaction.
/// `READ COMMITTED` keeps InnoDB from taking gap locks, under which concurrent
/// commits deadlock on each other's gaps; a transaction InnoDB still rolls back as a
/// deadlock (error 1213) runs again, up to three times in all, and is then reported
/// unavailable (503).
///
/// Times are whole Unix microseconds in BIGINT columns; a record's credential
/// version (a `u64`) is kept in a BIGINT as the `i64` with the same bits. Ids and
/// names are `VARBINARY`: matched and ordered bytewise, never padded.
///
/// `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_sqlx::mysql::{MySqlStore, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let store = MySqlStore::new(connect("mysql://tokenauth@localhost/app").await?);
/// # Ok(()) }
/// ```
pub type MySqlStore = SqlStore<MySql>;

/// A [`UserDirectory`](tokenauth_core::store::UserDirectory) and
/// [`UserAdmin`](tokenauth_core::store::UserAdmin) in the `tokenauth_users` table of a
/// MySQL or MariaDB database.
///
/// It only stores: hashing and verifying passwords (argon2id PHC strings), deciding
/// whether an upsert changes a password, and ending the tokens a change invalidates are
/// done by [`TokenAuth`](tokenauth_core::TokenAuth), which is how applications and the
/// command-line tool should change users.
///
/// User ids are the table's `BIGINT AUTO_INCREMENT` column (`UserId::from(42)`), never
/// reused after a deletion (InnoDB keeps the counter across restarts); an id not
/// spelled as [`UserId::from`](tokenauth_core::UserId) spells it (`"007"`) names no
/// user. Usernames match exactly: case-sensitive, not trimmed, not padded (a
/// `VARBINARY` column). A write returns the row as written: MySQL has no `RETURNING`,
/// so it is read back in the write's transaction.
///
/// Each user's credential version is written in the same `UPDATE` as its new password
/// hash ([`set_password_hash`](tokenauth_core::store::UserAdmin::set_password_hash): version +
/// 1), so every token issued under the old version is refused from the moment the
/// change commits.
///
/// Clones share the pool. `Debug` prints no connection details.
pub type MySqlUserDirectory = SqlUserDirectory<MySql>;

/// tokenauth's migrations on MySQL and MariaDB, oldest first: they create the
/// `tokenauth_users`, `tokenauth_tokens`, `tokenauth_token_sets` and
/// `tokenauth_settings` tables, and the revocation log [`MySqlRevocationBus`] follows
/// (its tables, procedure and triggers: the migrating user needs the `TRIGGER` and
/// `CREATE ROUTINE` privileges, and, where binary logging is on, `SUPER` or the
/// server's `log_bin_trust_function_creators = 1` to create triggers). Embedded from `migrations/mysql`; [`connect`] and
/// [`migrate`] apply them.
pub fn migrations() -> &'static [Migration] {
    EMBEDDED.iter().as_slice()
}

/// Embedded and checksummed by sqlx, run by tokenauth's runner.
static EMBEDDED: Migrator = sqlx::migrate!("./migrations/mysql");

/// How long a process waits for another one's migrations before it gives up.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The named lock migrating processes take: one per database (lock names are the
/// server's, not the database's).
const LOCK: &str = "CONCAT('tokenauth_migrations.', DATABASE())";

impl Migrations for MySql {
    const CREATE_RECORD: &'static str = "CREATE TABLE IF NOT EXISTS tokenauth_migrations (\
         version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, \
         checksum VARBINARY(64) NOT NULL, \
         applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\
         ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4";

    const SQLX_RECORD_EXISTS: &'static str = "SELECT 1 FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '_sqlx_migrations'";

    const RECORD_EXISTS: &'static str = "SELECT 1 FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tokenauth_migrations'";

    const RECORD: &'static str =
        "INSERT INTO tokenauth_migrations (version, description, checksum) VALUES (?, ?, ?)";

    const ADOPT: &'static str = "INSERT INTO tokenauth_migrations (version, description, checksum, applied_at) \
         SELECT version, description, checksum, installed_on FROM _sqlx_migrations WHERE version = ? \
         ON DUPLICATE KEY UPDATE version = tokenauth_migrations.version";

    const FORGET: &'static str = "DELETE FROM _sqlx_migrations WHERE version = ? AND checksum = ?";

    fn migrations() -> &'static [Migration] {
        self::migrations()
    }

    /// A transaction on a connection holding the named lock `tokenauth_migrations.<db>`
    /// (`GET_LOCK`, waiting up to a minute), so migrating processes take turns. The
    /// lock belongs to the connection, not the transaction: [`commit_locked`] (or
    /// `rollback_locked`, after a failure) releases it, and a connection that breaks
    /// or closes lets go of it.
    ///
    /// MySQL commits DDL by itself, so a migration is not rolled back when it fails:
    /// see `migrations/mysql` for how one is recovered.
    ///
    /// [`commit_locked`]: Migrations::commit_locked
    async fn begin_locked(pool: &MySqlPool) -> Result<Transaction<'static, MySql>, Error> {
        let mut tx = pool.begin().await?;
        // Held already if an earlier run on this connection failed before releasing
        // it: a second `GET_LOCK` would nest, and one release would not free it.
        let locked: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT IF(IS_USED_LOCK({LOCK}) <=> CONNECTION_ID(), 1, GET_LOCK({LOCK}, ?))"
        ))
        .bind(LOCK_WAIT.as_secs())
        .fetch_one(&mut *tx)
        .await?;
        if locked != Some(1) {
            return Err(Error::MigrationLockTimedOut { waited: LOCK_WAIT });
        }
        Ok(tx)
    }

    /// Commits, then releases the named lock on the same connection, before it goes
    /// back to the pool.
    async fn commit_locked(tx: Transaction<'static, MySql>) -> Result<(), sqlx::Error> {
        end_locked(tx, "COMMIT").await
    }

    /// Rolls back (what MySQL did not commit already: DDL commits by itself), then
    /// releases the named lock, so that the next `migrate` on this pool does not wait
    /// for a lock its own idle connection holds.
    async fn rollback_locked(tx: Transaction<'static, MySql>) {
        let _ = end_locked(tx, "ROLLBACK").await;
    }
}

/// Ends `tx` with `end` (`COMMIT` or `ROLLBACK`), then releases the migration lock on
/// its connection.
async fn end_locked(mut tx: Transaction<'static, MySql>, end: &'static str) -> Result<(), sqlx::Error> {
    Executor::execute(&mut *tx, sqlx::raw_sql(end)).await?;
    let release = format!("DO RELEASE_LOCK({LOCK})");
    Executor::execute(&mut *tx, sqlx::raw_sql(&release)).await?;
    // Nothing is left to commit: this only ends sqlx's transaction.
    tx.commit().await
}

/// Opens a pool on the MySQL or MariaDB database at `url` and applies tokenauth's
/// migrations ([`migrate`]).
///
/// `url` is a sqlx MySQL URL such as `mysql://tokenauth@db.internal/tokenauth` (the
/// database must exist; `?ssl-mode=verify_identity` for TLS). The pool keeps sqlx's
/// defaults (at most 10 connections, opened on demand); open it yourself with
/// [`MySqlPoolOptions`](sqlx::mysql::MySqlPoolOptions) and call [`migrate`] to change
/// them. Its connections carry sqlx's session settings (`utf8mb4`, `time_zone =
/// '+00:00'`).
///
/// # Durability
///
/// Every write commits in its own transaction (or in the one transaction of a
/// [`commit`](tokenauth_core::store::TokenStore::commit)); with InnoDB's default
/// `innodb_flush_log_at_trx_commit = 1` a commit returns only once its redo log is
/// flushed to disk, so a revocation that has been answered survives a crash or a power
/// loss. Keep that setting at 1 for the server tokenauth uses (2 or 0 can lose the
/// last second of commits, revocations included), and `sync_binlog = 1` if the
/// binary log is on and a replica may be promoted.
pub async fn connect(url: &str) -> Result<MySqlPool, Error> {
    connect_with_timeout(url, crate::DEFAULT_TIMEOUT).await
}

/// [`connect`], with `timeout` as the pool's acquire timeout: how long a query waits
/// for a connection, including opening one. When the server is down or unreachable,
/// queries fail after it with [`sqlx::Error::PoolTimedOut`], which
/// [`Error::is_unavailable`] reports as unavailable (`tokenauth`'s web layer answers
/// 503); the pool opens new connections when the server is back. Opening the pool
/// itself fails after the same time with [`Error::Unreachable`] naming the server's
/// address and why.
pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<MySqlPool, Error> {
    let pool = open(url, timeout).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// [`connect_with_timeout`] for a database already migrated, which it never changes:
/// no migration is applied. Fails with [`Error::NotMigrated`] if the database lacks
/// any of this build's migrations.
pub async fn open_migrated(url: &str, timeout: Duration) -> Result<MySqlPool, Error> {
    let pool = open(url, timeout).await?;
    crate::migrations::Record::<MySql>::require_applied(&pool).await?;
    Ok(pool)
}

/// A pool on `url` with `timeout` as its acquire timeout, one connection opened.
async fn open(url: &str, timeout: Duration) -> Result<MySqlPool, Error> {
    let options: MySqlConnectOptions = url.parse()?;
    let address = crate::reach::address(
        options.get_socket().map(|p| p.as_path()),
        options.get_host(),
        options.get_port(),
    );
    crate::reach::pool(options, address, timeout).await
}

/// Applies tokenauth's pending migrations ([`migrations`]) on `pool`, for pools not
/// opened with [`connect`]: oldest first, each under a named lock (`GET_LOCK`), so
/// processes migrating at once (servers starting together) take turns, and all but
/// the first find nothing left to do. Running it again is harmless.
///
/// They are recorded in tokenauth's own table, `tokenauth_migrations`, never in sqlx's
/// `_sqlx_migrations`, so your application's own sqlx migrations run beside them with
/// sqlx's default settings (see [Migrations](crate#migrations)).
///
/// # Errors
///
/// [`Error::MigrationChanged`], [`Error::MigrationUnknown`] or
/// [`Error::MigrationFailed`], each naming the version, if the database's record does
/// not match this build or a migration fails (MySQL does not roll back DDL: see
/// `migrations/mysql` for the recovery); [`Error::MigrationLockTimedOut`] if another
/// process migrated for over a minute; a database error otherwise.
#[tracing::instrument(skip_all)]
pub async fn migrate(pool: &MySqlPool) -> Result<(), Error> {
    crate::migrations::Record::run(pool).await
}
