//! SQL storage for [tokenauth](https://docs.rs/tokenauth), on [sqlx]: a [`TokenStore`]
//! and a [`UserDirectory`] (with [`UserAdmin`]) that share one connection pool, on
//! SQLite (below) or PostgreSQL (`PgStore`, `PgUserDirectory`, `connect_postgres`:
//! see [PostgreSQL](#postgresql)).
//!
//! - [`SqliteStore`] keeps token records: the public id, the SHA-256 digest of the token
//!   (never the token itself), the user id, the user's credential version when the
//!   token was issued, an optional name, the scopes, the creation and own expiry times,
//!   and when and from where the token was last used. It is a dumb store: it never
//!   reads the clock, never decides whether a token is live, and returns expired
//!   records like any other; expiry, limits and eviction are decided in
//!   [`tokenauth_core::TokenAuth`]. What it adds is the per-user compare-and-swap core
//!   applies those decisions with ([`TokenStore::commit`], one `BEGIN IMMEDIATE`
//!   transaction against a version in `tokenauth_token_sets`), batched last-used
//!   writes, and a purge that goes through indexes in bounded batches. It passes the
//!   `tokenauth-core` conformance suite.
//! - [`SqliteUserDirectory`] keeps users: username, password hash (an argon2id PHC
//!   string, made and checked by core), active flag and credential version. A new
//!   password hash and the new credential version are written in one `UPDATE`, so a
//!   password change ends every older token at once. It passes the `tokenauth-core`
//!   user-directory suite. Change users through [`TokenAuth`]'s verbs
//!   ([`upsert_user`](tokenauth_core::TokenAuth::upsert_user),
//!   [`change_password`](tokenauth_core::TokenAuth::change_password),
//!   [`set_active`](tokenauth_core::TokenAuth::set_active),
//!   [`delete_user`](tokenauth_core::TokenAuth::delete_user)), which hash, decide, and
//!   delete the tokens a change ends.
//! - [`connect`] opens a pool with sensible SQLite settings (WAL, a busy timeout) and
//!   runs the embedded migrations ([`MIGRATOR`]).
//!
//! # When the database is unavailable
//!
//! Every wait for the database is bounded ([`DEFAULT_TIMEOUT`], or the timeout given to
//! [`connect_with_timeout`] / `connect_postgres_with_timeout`): a pool connection, a
//! SQLite lock. The errors that mean "unavailable for now" (a pool timeout, a broken
//! connection, `SQLITE_BUSY`, PostgreSQL shutting down...: [`Error::is_unavailable`])
//! are reported as such through the contract
//! ([`TokenStore::is_unavailable`](tokenauth_core::TokenStore::is_unavailable)), so
//! that `tokenauth`'s web layer answers 503 with `Retry-After` rather than 500. The
//! pools reconnect by themselves when the database is back.
//!
//! # Durability
//!
//! A revocation that has been answered survives a power loss: the writes that end
//! tokens (logout, logout everywhere, revoking by id, evicting at the limit, replacing
//! on login, a password change or any new credential version, deactivating or deleting
//! a user) commit with `PRAGMA synchronous = FULL`, which in WAL mode syncs the log to
//! disk before the commit returns. Everything else (logins, last-used times, purges of
//! long-expired tokens) commits at the connection's level, `NORMAL` with [`connect`]:
//! durable across a crash of the process, and across a power loss from the next
//! checkpoint or the next revocation on; what a power loss can undo is a recent login
//! (the client logs in again) or a recent last-used time, never a revocation.
//! `benches/durability.rs` measures the difference (on a virtual disk: about 0.2 ms
//! more per revocation; `FULL` for every login would add as much to each of them, and
//! more on disks with slower flushes). See [`connect`] for the settings.
//!
//! The token table has no foreign key to the user table, so [`SqliteStore`] works with
//! any [`UserDirectory`], including your application's own.
//!
//! Queries are checked at run time (`sqlx::query`, not `query!`), so building this crate
//! needs no database.
//!
//! # PostgreSQL
//!
//! With the `postgres` feature, `PgStore` and `PgUserDirectory` keep the same tables
//! in a PostgreSQL database (`migrations/postgres`, run by `connect_postgres` or
//! `migrate_postgres`: identity user ids never reused, `BYTEA` digests, microsecond
//! `TIMESTAMPTZ` times). `commit` is one `READ COMMITTED` transaction that first moves
//! the user's set version with a conditional `UPDATE` (zero rows: a conflict); the row
//! lock it takes serialises the user's commits. Every commit is durable once answered
//! under PostgreSQL's default `synchronous_commit = on`. Both pass the same
//! conformance suites, run against a real server by `tests/postgres.rs`.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenauth_core::TokenAuth;
//! use tokenauth_sqlx::{PgStore, PgUserDirectory, connect_postgres};
//!
//! let pool = connect_postgres("postgres://tokenauth@localhost/app").await?;
//! let auth = TokenAuth::new(PgStore::new(pool.clone()), PgUserDirectory::new(pool));
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! ## Many instances: the revocation bus
//!
//! Several processes on one PostgreSQL database can each keep an
//! [`AuthCache`](tokenauth_core::AuthCache) and still agree on revocation:
//! `PgRevocationBus` carries what any of them ends (`NOTIFY tokenauth_revocations`,
//! naming user ids only) to every other (a dedicated `LISTEN` connection), within a
//! bound of 1 s by default, and pauses the caches while its connection is down (see
//! its docs for how the bound is kept). Publish with a
//! [`Publisher`](tokenauth_core::Publisher), follow with
//! [`AuthCache::follow`](tokenauth_core::AuthCache::follow):
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tokenauth_core::{AuthCache, Publisher, TokenAuth};
//! use tokenauth_sqlx::{PgRevocationBus, PgStore, PgUserDirectory, connect_postgres};
//!
//! let pool = connect_postgres("postgres://tokenauth@localhost/app").await?;
//! let bus = PgRevocationBus::new(pool.clone());
//! let cache = AuthCache::default();
//! // Keep it while serving: dropping it pauses the cache.
//! let _following = cache.follow(&bus);
//! let auth = TokenAuth::new(PgStore::new(pool.clone()), PgUserDirectory::new(pool))
//!     .with_cache(cache)
//!     .with_revocation_listener(Publisher::start(bus));
//! # let _ = auth;
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! - `sqlite` (default): the SQLite backend ([`SqliteStore`], [`SqliteUserDirectory`],
//!   [`connect`], [`migrate`], [`MIGRATOR`]).
//! - `postgres`: the PostgreSQL backend (`PgStore`, `PgUserDirectory`,
//!   `connect_postgres`, `migrate_postgres`, `PG_MIGRATOR`) and its revocation bus
//!   (`PgRevocationBus`).
//!
//! # Example
//!
//! ```no_run
//! use tokenauth_core::{TokenAuth, TokenRequest};
//! use tokenauth_sqlx::{SqliteStore, SqliteUserDirectory, connect};
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
//! [`TokenStore`]: tokenauth_core::TokenStore
//! [`TokenStore::commit`]: tokenauth_core::TokenStore::commit
//! [`UserDirectory`]: tokenauth_core::UserDirectory
//! [`UserAdmin`]: tokenauth_core::UserAdmin
//! [`TokenAuth`]: tokenauth_core::TokenAuth

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod copy;
mod error;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod rows;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use error::Error;
#[cfg(feature = "postgres")]
pub use postgres::{
    DEFAULT_BUS_BOUND, PG_MIGRATOR, PgRevocationBus, PgStore, PgUserDirectory, REVOCATION_CHANNEL,
    connect_postgres, connect_postgres_with_timeout, migrate_postgres,
};
#[cfg(feature = "sqlite")]
pub use sqlite::{MIGRATOR, SqliteStore, SqliteUserDirectory, connect, connect_with_timeout, migrate};

/// How long [`connect`] and `connect_postgres` let a query wait for the database (a
/// pool connection, a lock) before it fails as unavailable
/// ([`Error::is_unavailable`]): 5 seconds. `connect_with_timeout` and
/// `connect_postgres_with_timeout` take another.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
#[cfg(feature = "postgres")]
pub use sqlx::PgPool;
#[cfg(feature = "sqlite")]
pub use sqlx::SqlitePool;
