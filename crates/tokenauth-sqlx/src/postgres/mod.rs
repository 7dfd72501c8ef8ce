//! The PostgreSQL backend: [`PostgresStore`], [`PostgresUserDirectory`], one way to
//! open and migrate their database ([`connect`], [`connect_with_timeout`],
//! [`migrate`], [`migrations`]), and the revocation bus between processes that share
//! it ([`PostgresRevocationBus`]).

mod bulk;
mod bus;
mod dialect;
mod reach;
mod statements;

use std::time::Duration;

use sqlx::Transaction;
use sqlx::migrate::{Migration, Migrator};
pub use sqlx::{PgPool, Postgres};

pub use bus::{DEFAULT_BUS_BOUND, PostgresRevocationBus, REVOCATION_CHANNEL};
pub use reach::named;

use crate::Error;
use crate::migrations::Migrations;
use crate::store::SqlStore;
use crate::users::SqlUserDirectory;

/// A [`TokenStore`](tokenauth_core::store::TokenStore) in the `tokenauth_tokens` table of a
/// PostgreSQL database.
///
/// Clones share the pool. The tables are created by the migrations that [`connect`]
/// (or [`migrate`]) runs.
///
/// The per-user compare-and-swap ([`token_set`](tokenauth_core::store::TokenStore::token_set) +
/// [`commit`](tokenauth_core::store::TokenStore::commit)) keeps each user's set version in
/// `tokenauth_token_sets`. `token_set` reads the version, then the records. `commit`
/// runs in one transaction at PostgreSQL's default `READ COMMITTED`: first
/// `UPDATE tokenauth_token_sets SET version = version + 1 WHERE user_id = $1 AND
/// version = $2` (for an expected version of 0, `INSERT ... VALUES ($1, 1) ON CONFLICT
/// DO NOTHING`); zero rows means another commit got there first, and the transaction is
/// rolled back as [`Committed::Conflict`](tokenauth_core::store::Committed::Conflict).
/// Otherwise the row lock that statement took makes every other commit of the user
/// wait (and then find the version changed) while the insert and the deletes (of that
/// user's rows only) follow. A write that PostgreSQL aborts as a serialization failure
/// or a deadlock runs again, up to three times in all. The
/// [`purge`](tokenauth_core::store::TokenStore::purge) finds records through indexes and
/// deletes at most `limit` of them per call.
///
/// Times are `TIMESTAMPTZ` columns (microseconds, as core's records); a record's
/// credential version (a `u64`) is kept in a `BIGINT` as the `i64` with the same bits.
///
/// `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_sqlx::postgres::{PostgresStore, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let store = PostgresStore::new(connect("postgres://tokenauth@localhost/app").await?);
/// # Ok(()) }
/// ```
pub type PostgresStore = SqlStore<Postgres>;

/// A [`UserDirectory`](tokenauth_core::store::UserDirectory) and
/// [`UserAdmin`](tokenauth_core::store::UserAdmin) in the `tokenauth_users` table of a
/// PostgreSQL database.
///
/// It only stores: hashing and verifying passwords (argon2id PHC strings), deciding
/// whether an upsert changes a password, and ending the tokens a change invalidates are
/// done by [`TokenAuth`](tokenauth_core::TokenAuth), which is how applications and the
/// command-line tool should change users.
///
/// User ids are the table's `BIGINT` identity column (`UserId::from(42)`), never reused
/// after a deletion (a sequence only counts up); an id not spelled as
/// [`UserId::from`](tokenauth_core::UserId) spells it (`"007"`) names no user. Usernames
/// match exactly: case-sensitive, not trimmed (the column has the `"C"` collation).
///
/// Each user's credential version is written in the same `UPDATE` as its new password
/// hash ([`set_password_hash`](tokenauth_core::store::UserAdmin::set_password_hash): version +
/// 1), so every token issued under the old version is refused from the moment the
/// change commits.
///
/// Clones share the pool. `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth::core::store::UserDirectory;
/// use tokenauth_sqlx::postgres::{PostgresUserDirectory, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let users = PostgresUserDirectory::new(connect("postgres://tokenauth@localhost/app").await?);
/// if let Some(login) = users.find_login("alice").await? {
///     println!("alice is user {}", login.user.id);
/// }
/// # Ok(()) }
/// ```
pub type PostgresUserDirectory = SqlUserDirectory<Postgres>;

/// tokenauth's migrations on PostgreSQL, oldest first: they create the
/// `tokenauth_users`, `tokenauth_tokens`, `tokenauth_token_sets` and
/// `tokenauth_settings` tables and the triggers that announce revocations. Embedded
/// from `migrations/postgres`; [`connect`] and [`migrate`] apply them.
pub fn migrations() -> &'static [Migration] {
    EMBEDDED.iter().as_slice()
}

/// Embedded and checksummed by sqlx, run by tokenauth's runner.
static EMBEDDED: Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock every process migrating a database takes (in every schema):
/// "tokenaut" in ASCII.
const MIGRATION_LOCK: i64 = 0x746f_6b65_6e61_7574;

impl Migrations for Postgres {
    const CREATE_RECORD: &'static str = "CREATE TABLE IF NOT EXISTS tokenauth_migrations (\
         version BIGINT PRIMARY KEY, \
         description TEXT NOT NULL, \
         checksum BYTEA NOT NULL, \
         applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

    const SQLX_RECORD_EXISTS: &'static str = "SELECT 1 WHERE to_regclass('_sqlx_migrations') IS NOT NULL";

    const RECORD_EXISTS: &'static str = "SELECT 1 WHERE to_regclass('tokenauth_migrations') IS NOT NULL";

    fn migrations() -> &'static [Migration] {
        self::migrations()
    }

    /// A transaction holding the advisory lock [`MIGRATION_LOCK`] until it ends
    /// (`pg_advisory_xact_lock`: released by the commit or the rollback, also of a
    /// connection that breaks), so migrating processes take turns.
    async fn begin_locked(pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
        let mut tx = pool.begin().await?;
        // `CREATE TABLE IF NOT EXISTS` would otherwise log a notice at every start.
        sqlx::query("SET LOCAL client_min_messages = warning")
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// Opens a pool on the PostgreSQL database at `url` and applies tokenauth's
/// migrations ([`migrate`]).
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
/// [`PgPoolOptions`](sqlx::postgres::PgPoolOptions) and call [`migrate`].
///
/// # Durability
///
/// Every write commits in its own transaction (or in the one transaction of a
/// [`commit`](tokenauth_core::store::TokenStore::commit)); with PostgreSQL's default
/// `synchronous_commit = on` a commit returns only once its WAL is flushed to disk, so
/// a revocation that has been answered survives a crash or a power loss. Do not turn
/// `synchronous_commit` off for the database or the role tokenauth uses.
pub async fn connect(url: &str) -> Result<PgPool, Error> {
    connect_with_timeout(url, crate::DEFAULT_TIMEOUT).await
}

/// [`connect`], with `timeout` as the pool's acquire timeout: how long a query
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
/// time if the server cannot be reached, with [`Error::Unreachable`] naming its address
/// and why (refused, timed out, name not resolved). Its connections carry
/// `application_name=tokenauth` (seen in `pg_stat_activity`) unless `url` sets one.
pub async fn connect_with_timeout(url: &str, timeout: Duration) -> Result<PgPool, Error> {
    let pool = reach::pool(url, timeout).await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// [`connect_with_timeout`] for a database already migrated, which it never changes:
/// no migration is applied. Fails with [`Error::NotMigrated`] if the database lacks
/// any of this build's migrations (for tools that must leave the schema to whoever
/// upgrades it, as `tokenauth`'s admin commands do).
pub async fn open_migrated(url: &str, timeout: Duration) -> Result<PgPool, Error> {
    let pool = reach::pool(url, timeout).await?;
    crate::migrations::Record::<Postgres>::require_applied(&pool).await?;
    Ok(pool)
}

/// Applies tokenauth's pending migrations ([`migrations`]) on `pool`, for pools not
/// opened with [`connect`]: oldest first, each in a transaction of its own that first
/// takes a PostgreSQL advisory lock, so processes migrating at once (servers starting
/// together) take turns, and all but the first find nothing left to do. Running it
/// again is harmless. The tables and the record go in the first schema of the
/// connection's `search_path`.
///
/// They are recorded in tokenauth's own table, `tokenauth_migrations`, never in sqlx's
/// `_sqlx_migrations`, so your application's own sqlx migrations run beside them
/// with sqlx's default settings, before or after (see
/// [Migrations](crate#migrations), which also says how a database an earlier tokenauth
/// migrated is taken over):
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = tokenauth_sqlx::postgres::connect("postgres://app@localhost/app").await?;
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
pub async fn migrate(pool: &PgPool) -> Result<(), Error> {
    crate::migrations::Record::run(pool).await
}
