//! SQL storage for [tokenauth](https://docs.rs/tokenauth), on [sqlx]: a [`TokenStore`]
//! and an argon2id [`UserDirectory`] that share one connection pool.
//!
//! - [`SqliteStore`] keeps token records: the public id, the SHA-256 digest of the token
//!   (never the token itself), the user id, an optional name, and the creation and own
//!   expiry times as Unix microseconds. It never reads the clock and returns expired
//!   records like any other; expiry policy lives in [`tokenauth_core::TokenAuth`]. It
//!   passes the `tokenauth-core` conformance suite.
//! - [`SqliteUserDirectory`] keeps users with argon2id password hashes (PHC strings),
//!   and has the small admin API a command-line tool needs
//!   ([`upsert_user`](SqliteUserDirectory::upsert_user),
//!   [`set_active`](SqliteUserDirectory::set_active),
//!   [`list_users`](SqliteUserDirectory::list_users)).
//! - [`connect`] opens a pool with sensible SQLite settings (WAL, a busy timeout) and
//!   runs the embedded migrations ([`MIGRATOR`]).
//!
//! The token table has no foreign key to the user table, so [`SqliteStore`] works with
//! any [`UserDirectory`], including your application's own.
//!
//! Queries are checked at run time (`sqlx::query`, not `query!`), so building this crate
//! needs no database.
//!
//! # Features
//!
//! - `sqlite` (default): the SQLite backend ([`SqliteStore`], [`SqliteUserDirectory`],
//!   [`connect`], [`migrate`], [`MIGRATOR`]).
//!
//! # Example
//!
//! ```no_run
//! use tokenauth_core::TokenAuth;
//! use tokenauth_sqlx::{SqliteStore, SqliteUserDirectory, connect};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Creates the file if it is missing, and brings the schema up to date.
//! let pool = connect("sqlite://tokenauth.db").await?;
//! let store = SqliteStore::new(pool.clone());
//! let users = SqliteUserDirectory::new(pool);
//! let auth = TokenAuth::new(store, users);
//!
//! // The admin API takes the time from the caller; here, from the service's clock.
//! let (alice, _created) = auth.users().upsert_user("alice", "correct horse", true, auth.now()).await?;
//!
//! let issued = auth.obtain("alice", "correct horse", Some("laptop".into())).await?;
//! let verified = auth.authenticate(issued.token.expose_secret()).await?;
//! assert_eq!(verified.user.id, alice.id);
//! # Ok(()) }
//! ```
//!
//! [`TokenStore`]: tokenauth_core::TokenStore
//! [`UserDirectory`]: tokenauth_core::UserDirectory

mod error;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use error::Error;
#[cfg(feature = "sqlite")]
pub use sqlite::{MIGRATOR, SqliteStore, SqliteUserDirectory, connect, migrate};
#[cfg(feature = "sqlite")]
pub use sqlx::SqlitePool;
