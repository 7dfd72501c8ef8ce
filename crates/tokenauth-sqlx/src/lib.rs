//! SQL storage for [tokenauth](https://docs.rs/tokenauth), on [sqlx]: a [`TokenStore`]
//! and an argon2id [`UserDirectory`] that share one connection pool.
//!
//! - [`SqliteStore`] keeps token records: the public id, the SHA-256 digest of the token
//!   (never the token itself), the user id, an optional name, the scopes, the creation
//!   and own expiry times, and when and from where the token was last used. It never
//!   reads the clock and returns expired records like any other; expiry policy lives in
//!   [`tokenauth_core::TokenAuth`]. An insert and the eviction or replacement of the
//!   user's other tokens run in one transaction, so a per-user limit holds under
//!   concurrent logins; last-used times are written in batches, and the purge of dead
//!   tokens goes through indexes in bounded batches. It passes the `tokenauth-core`
//!   conformance suite.
//! - [`SqliteUserDirectory`] keeps users with argon2id password hashes (PHC strings) and
//!   the time of each user's last password change, written together with the new hash,
//!   so that a password change invalidates every older token at once. It has the small
//!   admin API a command-line tool needs
//!   ([`upsert_user`](SqliteUserDirectory::upsert_user),
//!   [`set_password`](SqliteUserDirectory::set_password),
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
//!   [`Upserted`], [`connect`], [`migrate`], [`MIGRATOR`]).
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
//! let store = SqliteStore::new(pool.clone());
//! let users = SqliteUserDirectory::new(pool);
//! let auth = TokenAuth::new(store, users);
//!
//! // The admin API reads the time from a clock, inside its transaction: pass the
//! // service's, so that a password change and the tokens it kills agree on "before".
//! let alice = auth.users().upsert_user("alice", "correct horse", true, auth.clock()).await?.user;
//!
//! let request = TokenRequest { name: Some("laptop".into()), ..TokenRequest::default() };
//! let issued = auth.obtain("alice", "correct horse", request).await?;
//! let verified = auth.authenticate(issued.token.expose_secret(), None).await?;
//! assert_eq!(verified.user.id, alice.id);
//!
//! // A new password: the laptop's token stops working at once.
//! auth.users().set_password("alice", "battery staple", auth.clock()).await?;
//! assert!(auth.authenticate(issued.token.expose_secret(), None).await.is_err());
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
pub use sqlite::{MIGRATOR, SqliteStore, SqliteUserDirectory, Upserted, connect, migrate};
#[cfg(feature = "sqlite")]
pub use sqlx::SqlitePool;
