//! SQL storage for [tokenauth](https://docs.rs/tokenauth), on [sqlx]: a [`TokenStore`]
//! and a [`UserDirectory`] (with [`UserAdmin`]) that share one connection pool, on
//! SQLite ([`sqlite`]), PostgreSQL ([`postgres`], see [PostgreSQL](#postgresql)) or
//! MySQL and MariaDB ([`mysql`], see [MySQL and MariaDB](#mysql-and-mariadb)).
//! Each dialect's module has the same shape: its store and directory
//! (`SqliteStore`/`PostgresStore`/`MySqlStore`, `SqliteUserDirectory`/...), one
//! way to open and migrate its database (`connect`, `connect_with_timeout`, `migrate`,
//! `migrations`), and one to open it without migrating (`open_migrated`). The crate
//! root holds what all dialects share: [`Error`], [`DEFAULT_TIMEOUT`], and the store
//! and directory written once over a [`Dialect`] ([`SqlStore`], [`SqlUserDirectory`]),
//! of which the dialects' types are aliases (`SqliteStore` is `SqlStore<Sqlite>`):
//! name them by their dialect, and `SqlStore<D>` only in code for any dialect.
//!
//! - The store ([`SqliteStore`](sqlite::SqliteStore)) keeps token records: the public
//!   id, the SHA-256 digest of the token (never the token itself), the user id, the
//!   user's credential version when the token was issued, an optional name, the
//!   scopes, the creation and own expiry times, and when and from where the token was
//!   last used. It is a dumb store: it never reads the clock, never decides whether a
//!   token is live, and returns expired records like any other; expiry, limits and
//!   eviction are decided in [`tokenauth_core::TokenAuth`]. What it adds is the
//!   per-user compare-and-swap core applies those decisions with
//!   ([`TokenStore::commit`], one transaction against a version in
//!   `tokenauth_token_sets`), batched last-used writes, and a purge that goes through
//!   indexes in bounded batches. It passes the `tokenauth-core` conformance suite.
//! - The directory ([`SqliteUserDirectory`](sqlite::SqliteUserDirectory)) keeps users:
//!   username, password hash (an argon2id PHC string, made and checked by core), active
//!   flag and credential version. A new password hash and the new credential version
//!   are written in one `UPDATE`, so a password change ends every older token at once.
//!   It passes the `tokenauth-core` user-directory suite. Change users through
//!   [`TokenAuth`]'s verbs ([`upsert_user`](tokenauth_core::TokenAuth::upsert_user),
//!   [`change_password`](tokenauth_core::TokenAuth::change_password),
//!   [`set_active`](tokenauth_core::TokenAuth::set_active),
//!   [`delete_user`](tokenauth_core::TokenAuth::delete_user)), which hash, decide, and
//!   delete the tokens a change ends.
//! - [`sqlite::connect`] opens a pool with sensible SQLite settings (WAL, a busy
//!   timeout) and applies the embedded migrations ([`sqlite::migrate`], recorded apart
//!   from your application's own: see [Migrations](#migrations)).
//!
//! # When the database is unavailable
//!
//! Every wait for the database is bounded ([`DEFAULT_TIMEOUT`], or the timeout given to
//! [`sqlite::connect_with_timeout`] / `postgres::connect_with_timeout` /
//! `mysql::connect_with_timeout`): a pool connection, a SQLite lock. The errors that
//! mean "unavailable for now" (a pool timeout, a broken connection, `SQLITE_BUSY`,
//! PostgreSQL shutting down, MySQL's lock wait timeout...:
//! [`Error::is_unavailable`]) are reported as such through the contract
//! ([`TokenStore::is_unavailable`](tokenauth_core::store::TokenStore::is_unavailable)), so
//! that `tokenauth`'s web layer answers 503 with `Retry-After` rather than 500. The
//! pools reconnect by themselves when the database is back.
//!
//! # Durability
//!
//! A revocation that has been answered survives a power loss: on SQLite, the writes
//! that end tokens (logout, logout everywhere, revoking by id, evicting at the limit,
//! replacing on login, a password change or any new credential version, deactivating
//! or deleting a user) commit with `PRAGMA synchronous = FULL`, which in WAL mode
//! syncs the log to disk before the commit returns. Everything else (logins, last-used
//! times, purges of long-expired tokens) commits at the connection's level, `NORMAL`
//! with [`sqlite::connect`]: durable across a crash of the process, and across a power
//! loss from the next checkpoint or the next revocation on; what a power loss can undo
//! is a recent login (the client logs in again) or a recent last-used time, never a
//! revocation. `benches/durability.rs` measures the difference (on a virtual disk:
//! about 0.2 ms more per revocation; `FULL` for every login would add as much to each
//! of them, and more on disks with slower flushes). See [`sqlite::connect`] for the
//! settings.
//!
//! The token table has no foreign key to the user table, so the store works with any
//! [`UserDirectory`], including your application's own.
//!
//! Queries are checked at run time (`sqlx::query`, not `query!`), so building this crate
//! needs no database.
//!
//! # PostgreSQL
//!
//! With the `postgres` feature, `postgres::PostgresStore` and
//! `postgres::PostgresUserDirectory` keep the same tables in a PostgreSQL database
//! (`migrations/postgres`, run by `postgres::connect` or `postgres::migrate`: identity
//! user ids never reused, `BYTEA` digests, microsecond `TIMESTAMPTZ` times). `commit`
//! is one `READ COMMITTED` transaction that first moves the user's set version with a
//! conditional `UPDATE` (zero rows: a conflict); the row lock it takes serialises the
//! user's commits. Every commit is durable once answered under PostgreSQL's default
//! `synchronous_commit = on`. Both pass the same conformance suites, run against a real
//! server by `tests/postgres.rs`.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenauth::core::TokenAuth;
//! use tokenauth_sqlx::postgres::{PostgresStore, PostgresUserDirectory, connect};
//!
//! let pool = connect("postgres://tokenauth@localhost/app").await?;
//! let auth = TokenAuth::new(PostgresStore::new(pool.clone()), PostgresUserDirectory::new(pool));
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! ## Many instances: the revocation bus
//!
//! Several processes on one PostgreSQL database can each keep an
//! [`AuthCache`](tokenauth_core::AuthCache) and still agree on revocation:
//! `postgres::PostgresRevocationBus` carries what any of them ends (`NOTIFY
//! tokenauth_revocations`, naming user ids only) to every other (a dedicated `LISTEN`
//! connection), within a bound of 1 s by default, and pauses the caches while its
//! connection is down (see its docs for how the bound is kept). Publish with a
//! [`Publisher`](tokenauth_core::Publisher), follow with
//! [`AuthCache::follow`](tokenauth_core::AuthCache::follow):
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenauth::core::{AuthCache, Publisher, TokenAuth};
//! use tokenauth_sqlx::postgres::{PostgresRevocationBus, PostgresStore, PostgresUserDirectory, connect};
//!
//! let pool = connect("postgres://tokenauth@localhost/app").await?;
//! let bus = PostgresRevocationBus::new(pool.clone());
//! let cache = AuthCache::default();
//! // Keep it while serving: dropping it pauses the cache.
//! let _following = cache.follow(&bus);
//! let auth = TokenAuth::new(PostgresStore::new(pool.clone()), PostgresUserDirectory::new(pool))
//!     .with_cache(cache)
//!     .with_revocation_listener(Publisher::start(bus));
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! On SQLite, `sqlite::SqliteRevocationBus` does the same for the processes that open
//! one database file (servers, the command-line tool): the tables' triggers log each
//! revocation in the transaction that makes it (`tokenauth_revocations`, user ids only),
//! and each follower polls the log every 250 ms on a connection of its own, within
//! the same 1 s bound and with the same pause (see its docs).
//!
//! On MySQL and MariaDB, `mysql::MySqlRevocationBus` polls a log the same way. Its
//! rows are numbered by a one-row counter that each logging transaction holds locked
//! until it commits, not by `AUTO_INCREMENT` (numbered at insert, so a follower could
//! move past a number whose transaction commits later): numbers become visible in
//! commit order, and a follower that read one has read every one before it (see its
//! docs).
//!
//! # MySQL and MariaDB
//!
//! With the `mysql` feature, `mysql::MySqlStore` and `mysql::MySqlUserDirectory` keep
//! the same tables in a MySQL or MariaDB database (`migrations/mysql`, InnoDB and
//! utf8mb4, run by `mysql::connect` or `mysql::migrate`; `mysql://` URLs): ids and
//! names in `VARBINARY` columns (matched and ordered bytewise, never padded, as
//! SQLite's and PostgreSQL's are), `BINARY(32)` digests, times as BIGINT Unix
//! microseconds as on SQLite, user ids from `AUTO_INCREMENT`. MySQL has no
//! `RETURNING` (MariaDB has it on `INSERT` and `DELETE` only), so the rows a write
//! returns are read in its transaction: locked with `SELECT ... FOR UPDATE` and then
//! deleted by id, or read back after the `UPDATE`.
//!
//! `commit` holds as on PostgreSQL: one transaction, at `READ COMMITTED`, whose first
//! statement moves the user's set version with a conditional `UPDATE` (an `UPDATE`
//! reads the newest committed row at any isolation level; zero rows: a conflict), or
//! inserts version 1 where none is expected (a duplicate key: a conflict); the row
//! lock it takes serialises the user's commits. `READ COMMITTED` rather than InnoDB's
//! `REPEATABLE READ`, whose gap locks make concurrent commits of different users
//! deadlock; a transaction InnoDB still rolls back as a deadlock (error 1213) runs
//! again, up to three times in all, as PostgreSQL's serialization failures do. Every
//! commit is durable once answered under InnoDB's default
//! `innodb_flush_log_at_trx_commit = 1`, which tokenauth relies on. Both pass the
//! same conformance suites, run against MariaDB by `tests/mysql.rs`, and so does the
//! revocation bus, `mysql::MySqlRevocationBus` (above).
//!
//! ```no_run
//! # #[cfg(feature = "mysql")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenauth::core::TokenAuth;
//! use tokenauth_sqlx::mysql::{MySqlStore, MySqlUserDirectory, connect};
//!
//! let pool = connect("mysql://tokenauth@localhost/app").await?;
//! let auth = TokenAuth::new(MySqlStore::new(pool.clone()), MySqlUserDirectory::new(pool));
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! # Migrations
//!
//! `connect` and `migrate` apply tokenauth's migrations (`sqlite::migrations()`,
//! `postgres::migrations()`, `mysql::migrations()`) oldest first, each in a
//! transaction of its own that first takes a lock (SQLite: `BEGIN IMMEDIATE`;
//! PostgreSQL: an advisory lock; MySQL: a named lock, `GET_LOCK`, released after the
//! commit), so that processes migrating one database at once take turns. MySQL
//! commits DDL by itself, so there a migration that fails part-way is not rolled back:
//! it stays unrecorded, and the next run fails on what it created; drop what the
//! migration's file creates and migrate again (`migrations/mysql` says so too). They are recorded in a table
//! of tokenauth's own, `tokenauth_migrations` (`version`, `description`, `checksum`,
//! `applied_at`), never in sqlx's `_sqlx_migrations`. Your application's own sqlx
//! migrations therefore run on the same database (and PostgreSQL schema) with sqlx's
//! default settings, before or after tokenauth's: neither side needs
//! `set_ignore_missing`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = tokenauth_sqlx::sqlite::connect("sqlite://app.db").await?;
//! // Your crate's `migrations/` folder, recorded in `_sqlx_migrations`.
//! sqlx::migrate!().run(&pool).await?;
//! # Ok(()) }
//! ```
//!
//! An earlier tokenauth recorded its migrations in `_sqlx_migrations`. The first run
//! on such a database moves tokenauth's rows from there to `tokenauth_migrations`
//! (their checksums checked), in one transaction under the same lock; your
//! application's rows, and the table, stay. From then on, a tokenauth of that earlier
//! kind can no longer migrate the database (it would find its migrations missing and
//! apply them again, which fails).
//!
//! What does not match is an error naming the version, never a silent pass:
//! [`Error::MigrationChanged`] for an applied migration whose checksum is not this
//! build's, [`Error::MigrationUnknown`] for an applied migration this build does not
//! have (a newer tokenauth migrated the database), [`Error::MigrationFailed`] for a
//! migration that fails (its transaction is rolled back).
//!
//! # Features
//!
//! - `sqlite` (default): the SQLite backend and its revocation bus, module [`sqlite`].
//! - `postgres`: the PostgreSQL backend and its revocation bus, module `postgres`.
//! - `mysql`: the MySQL and MariaDB backend and its revocation bus, module `mysql`.
//!
//! # Example
//!
//! ```no_run
//! use tokenauth::core::{TokenAuth, TokenRequest};
//! use tokenauth_sqlx::sqlite::{SqliteStore, SqliteUserDirectory, connect};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Creates the file if it is missing, and brings the schema up to date.
//! let pool = connect("sqlite://tokenauth.db").await?;
//! let auth = TokenAuth::new(SqliteStore::new(pool.clone()), SqliteUserDirectory::new(pool));
//!
//! // Core hashes the password and stores the user.
//! let alice = auth.upsert_user("alice", "correct horse", true).await?.user;
//!
//! let request = TokenRequest { name: Some("laptop".into()), ..TokenRequest::default() };
//! let issued = auth.obtain("alice", "correct horse", request).await?;
//! let verified = auth.authenticate(issued.token.expose_secret(), None).await?;
//! assert_eq!(verified.user.id, alice.id);
//!
//! // A new password is a new credential version: the laptop's token stops working at
//! // once (and is deleted).
//! auth.change_password("alice", "battery staple").await?;
//! assert!(auth.authenticate(issued.token.expose_secret(), None).await.is_err());
//! # Ok(()) }
//! ```
//!
//! # How the source is laid out
//!
//! Every verb is written once, over a dialect `D`: `store.rs` (the token store),
//! `users.rs` (the user directory), their SQL in `statements.rs` (one table, each
//! statement with a default that SQLite and PostgreSQL both read; `Returning` holds
//! those with `RETURNING`, run by `returning.rs` on the dialects that have it), and
//! what the bulk paths share in `bulk.rs`. `dialect.rs` is the trait a dialect implements for them:
//! how it stores a time, how a write that ends tokens runs (SQLite: on a connection
//! switched to `synchronous = FULL`; PostgreSQL and MySQL: again after a
//! serialization failure or a deadlock, `retry.rs`), and the few verbs whose shape is
//! its own: `commit`, deleting tokens and writing a user (`delete_tokens`,
//! `write_user`), `record_usage`, replacing settings, and the bulk imports and copies
//! (`Bulk`).
//! `migrations.rs` is the migration runner, over what a dialect gives it
//! (`Migrations`: its embedded migrations, its record table, its lock).
//! `sqlite/`, `postgres/` and `mysql/` hold exactly that, plus `connect`, `migrate`
//! and each one's revocation bus (`bus.rs`: a polled log, `LISTEN`/`NOTIFY`, a
//! polled log numbered in commit order), whose shared state and heartbeat rule are in the crate's `bus.rs`;
//! `reach.rs` opens a server's pool and names it when it cannot be reached; the
//! public `SqliteStore` is `store.rs`'s store on SQLite.
//!
//! # Adding a dialect
//!
//! A dialect (`mysql/` is the latest one added) takes, in this crate:
//!
//! 1. **Its feature**, in `Cargo.toml`, and its module in `lib.rs`, with the `cfg`
//!    added beside the others on the shared modules and on the `Sealed` impls at the
//!    bottom of `dialect.rs`.
//! 2. **Its migrations**: `migrations/<dialect>/`, creating the four tables
//!    (`tokenauth_users`, `tokenauth_tokens`, `tokenauth_token_sets`,
//!    `tokenauth_settings`) with the columns and indexes the others have, and the
//!    folder named in `build.rs`.
//! 3. **One file of statements**, `<dialect>/statements.rs`: `impl Statements`,
//!    overriding every statement whose default the dialect spells otherwise, keeping
//!    its parameters (in order) and the columns it reads. The defaults use `$1`-style
//!    parameters and `IS DISTINCT FROM`; MySQL overrides them all (`?`, `NOT (a <=>
//!    b)`, names stored as bytes read back with `CONVERT`). A dialect with `RETURNING`
//!    on `INSERT`, `UPDATE` and `DELETE` also implements `Returning` and runs its
//!    deletes and user writes with `returning.rs`; one without (MySQL) writes
//!    `Dialect::delete_tokens` and `Dialect::write_user` itself (read the rows, then
//!    write, in one transaction).
//! 4. **The few verbs of its own**, `<dialect>/dialect.rs` and `<dialect>/bulk.rs`:
//!    `impl Dialect` (the `Debug` names, how a time is stored, the connection a
//!    revocation commits on and whether a failed write runs again, `commit`,
//!    `delete_tokens`, `write_user`, `record_usage`, `replace_settings`) and `impl
//!    Bulk` (the imports and the writes of a copy), with `rows.rs`, `bulk.rs`,
//!    `micros.rs`, `retry.rs` and `store.rs`'s `insert_row` and `set_version` to share
//!    what they can.
//! 5. **Its public names**, `<dialect>/mod.rs`, in the same shape as the others:
//!    the store and directory aliases, `connect`, `connect_with_timeout`,
//!    `open_migrated`, `migrate`, `migrations`, and `impl Migrations` (the
//!    `tokenauth_migrations` table in its types, its spelling of the record's
//!    statements, and the lock migrating processes take); and the error codes that
//!    mean "unavailable for now" in `error.rs`.
//!
//! Its tests: the conformance suites on it (as `tests/postgres.rs` and
//! `tests/mysql.rs` run them), the migration cases (`tests/support`), and anything it
//! promises beyond them.
//!
//! [`TokenStore`]: tokenauth_core::store::TokenStore
//! [`TokenStore::commit`]: tokenauth_core::store::TokenStore::commit
//! [`UserDirectory`]: tokenauth_core::store::UserDirectory
//! [`UserAdmin`]: tokenauth_core::store::UserAdmin
//! [`TokenAuth`]: tokenauth_core::TokenAuth

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod bulk;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod bus;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod dialect;
mod error;
#[cfg(any(feature = "sqlite", feature = "mysql"))]
mod micros;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod migrations;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod reach;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod retry;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod returning;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod rows;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod statements;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod store;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
mod users;

#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use dialect::Dialect;
pub use error::{Error, Unreachable};
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use store::SqlStore;
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
pub use users::SqlUserDirectory;

/// How long `connect` lets a query wait for the database (a pool connection, a lock)
/// before it fails as unavailable ([`Error::is_unavailable`]): 5 seconds.
/// `connect_with_timeout` takes another.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
