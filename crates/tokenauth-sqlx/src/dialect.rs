//! What each SQL database does its own way: the trait a dialect implements, for the
//! verbs written once ([`SqlStore`](crate::store::SqlStore),
//! [`SqlUserDirectory`](crate::users::SqlUserDirectory)) to run on it.
//!
//! A dialect gives its statements ([`Statements`]: most are shared), how it stores
//! a time, how a write that ends tokens runs (durably; again after a transient
//! conflict), and the few verbs whose shape it decides: `commit`, `record_usage`,
//! replacing settings, the bulk paths ([`Bulk`]), what the migration runner needs
//! ([`Migrations`]), and where it can, a reader for the lookups authentication makes
//! that skips the pool ([`Dialect::Reader`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::DerefMut;

use sqlx::{Decode, Encode, Pool, Type};
use time::OffsetDateTime;
use tokenauth_core::store::{Change, Committed, ImportedUsers, LoginRecord, NewUser, TokenRecord, Usage};
use tokenauth_core::{User, UserId};

use crate::Error;
use crate::migrations::Migrations;
use crate::rows::{EndedRow, JoinedUser, Row, UserRow};
use crate::statements::Statements;

/// A SQL database that [`SqlStore`](crate::SqlStore) and
/// [`SqlUserDirectory`](crate::SqlUserDirectory) run on: SQLite or PostgreSQL.
///
/// Sealed: a dialect is added in this crate (see the crate docs, "Adding a
/// dialect"). Its items are what the generic verbs ask of the dialect; applications use
/// the store and the directory instead.
pub trait Dialect: sqlx::Database + Statements + Bulk + Migrations + sealed::Sealed {
    /// What `Debug` calls the store and the directory (`SqliteStore { .. }`).
    const STORE: &'static str;
    /// See [`STORE`](Self::STORE).
    const DIRECTORY: &'static str;

    /// A time as the token table stores it.
    type Time: for<'q> Encode<'q, Self>
        + for<'r> Decode<'r, Self>
        + Type<Self>
        + Copy
        + Ord
        + Send
        + Sync
        + Unpin;

    /// A time as stored; [`Error::TimestampOutOfRange`] if the column cannot hold it.
    fn to_time(time: OffsetDateTime) -> Result<Self::Time, Error>;

    /// A stored time read back; [`Error::Corrupt`] (saying `what`) if it is not a time.
    fn from_time(stored: Self::Time, what: &'static str) -> Result<OffsetDateTime, Error>;

    /// How many rows the statement that gave `result` changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// A connection for a write that ends tokens (a revocation), which must survive a
    /// power loss once answered.
    type Revoking: DerefMut<Target = Self::Connection> + Send;

    /// A connection from `pool` for a write that ends tokens.
    fn revoking(pool: &Pool<Self>) -> impl Future<Output = Result<Self::Revoking, Error>> + Send;

    /// Gives the connection back once the write has committed (or failed).
    fn release(conn: Self::Revoking) -> impl Future<Output = ()> + Send;

    /// Whether a write of the store that failed with `error`, on its attempt number
    /// `tries`, runs again (after a pause, taken here): a transaction the database
    /// aborted for another's sake, rolled back whole.
    fn again(error: &Error, tries: u32) -> impl Future<Output = bool> + Send;

    /// [`TokenStore::commit`](tokenauth_core::store::TokenStore::commit): the per-user
    /// compare-and-swap, in one transaction.
    fn commit(
        pool: &Pool<Self>,
        user: &UserId,
        expected: u64,
        change: Change,
    ) -> impl Future<Output = Result<Committed, Error>> + Send;

    /// Deletes the token rows `deletion` selects, on `conn`, and returns them: in one
    /// `DELETE ... RETURNING` where the dialect has it (`returning.rs`), else
    /// read and deleted in one transaction.
    fn delete_tokens(
        conn: &mut Self::Connection,
        deletion: Deletion<'_, Self::Time>,
    ) -> impl Future<Output = Result<Vec<EndedRow<Self::Time>>, Error>> + Send;

    /// Writes one user's row as `write` says, on `conn`, and returns the row as written
    /// (as it was, for a deletion); `None` if there is no such user (or, creating, if
    /// the name is taken). One statement with `RETURNING` where the dialect has it
    /// (`returning.rs`), else the write and a read in one transaction.
    fn write_user(
        conn: &mut Self::Connection,
        write: UserWrite<'_>,
    ) -> impl Future<Output = Result<Option<UserRow>, Error>> + Send;

    /// [`TokenStore::record_usage`](tokenauth_core::store::TokenStore::record_usage) of a
    /// non-empty batch, in a few statements.
    fn record_usage(pool: &Pool<Self>, uses: &[Usage]) -> impl Future<Output = Result<(), Error>> + Send;

    /// Replaces the settings under `prefix` by `settings`, atomically, safe against
    /// another process doing the same at once.
    fn replace_settings(
        pool: &Pool<Self>,
        prefix: &str,
        settings: &BTreeMap<String, String>,
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// What reads the lookups authentication makes on the calling thread, beside the
    /// pool, where the dialect can (SQLite); `()` where it cannot.
    type Reader: Clone + Default + Send + Sync + 'static;

    /// The token row with `digest`, read on the calling thread; `None` when the pool
    /// must answer instead.
    fn read_token(
        reader: &Self::Reader,
        pool: &Pool<Self>,
        digest: &[u8],
    ) -> impl Future<Output = Option<Option<Row<Self::Time>>>> + Send;

    /// The token row with `digest` and its user's row, read in one query on the
    /// calling thread where the dialect can (SQLite); `None` when the store must read
    /// the token alone instead.
    fn read_token_with_user(
        reader: &Self::Reader,
        pool: &Pool<Self>,
        digest: &[u8],
    ) -> impl Future<Output = Option<Option<(Row<Self::Time>, JoinedUser)>>> + Send {
        let _ = (reader, pool, digest);
        std::future::ready(None)
    }

    /// Whether `joined` was read from the database `reader` reads: only then may the
    /// directory answer from it.
    fn reads_from(reader: &Self::Reader, joined: &JoinedUser) -> bool {
        let _ = (reader, joined);
        false
    }

    /// The user row with primary key `id`, read on the calling thread; `None` when the
    /// pool must answer instead.
    fn read_user(
        reader: &Self::Reader,
        pool: &Pool<Self>,
        id: i64,
    ) -> impl Future<Output = Option<Option<UserRow>>> + Send;
}

/// Which token rows a deletion ends ([`Dialect::delete_tokens`]).
#[derive(Clone, Copy, Debug)]
pub enum Deletion<'a, T> {
    /// The record with this id (a logout, a revocation by id).
    Token(&'a str),
    /// A user's records, but `keep` (all of them with `None`).
    User {
        /// The user.
        user: &'a str,
        /// The one record kept.
        keep: Option<&'a str>,
    },
    /// At most `limit` records created before `created_before`, expired before
    /// `expires_before`, or last active before `active_before` (see `PurgeBounds`).
    Purge {
        /// `PurgeBounds::created_before`, as stored.
        created_before: T,
        /// `PurgeBounds::expires_before`, as stored.
        expires_before: T,
        /// `PurgeBounds::active_before`, as stored.
        active_before: Option<T>,
        /// How many at most.
        limit: i64,
    },
}

/// A write of one user's row ([`Dialect::write_user`]); ids are primary keys.
/// `Debug` prints the kind of write only, never the hash.
#[derive(Clone, Copy)]
pub enum UserWrite<'a> {
    /// Creates a user, unless the name is taken.
    Create {
        /// The name.
        username: &'a str,
        /// The password hash.
        password_hash: &'a str,
        /// The active flag.
        is_active: bool,
    },
    /// Sets the hash and adds 1 to the credential version.
    SetPasswordHash {
        /// The user.
        id: i64,
        /// The new hash.
        password_hash: &'a str,
    },
    /// Adds 1 to the credential version.
    BumpCredentialVersion {
        /// The user.
        id: i64,
    },
    /// Sets the active flag.
    SetActive {
        /// The user.
        id: i64,
        /// The flag.
        is_active: bool,
    },
    /// Deletes the user.
    Delete {
        /// The user.
        id: i64,
    },
}

impl std::fmt::Debug for UserWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Create { .. } => "UserWrite::Create",
            Self::SetPasswordHash { .. } => "UserWrite::SetPasswordHash",
            Self::BumpCredentialVersion { .. } => "UserWrite::BumpCredentialVersion",
            Self::SetActive { .. } => "UserWrite::SetActive",
            Self::Delete { .. } => "UserWrite::Delete",
        })
    }
}

/// The bulk paths of a dialect: imports, and the writes of a database copy, each
/// batch in one transaction, in as few statements as the dialect allows.
pub trait Bulk: sqlx::Database {
    /// [`TokenImport::import_tokens`](tokenauth_core::store::TokenImport::import_tokens).
    fn import_tokens(
        pool: &Pool<Self>,
        batch: &[TokenRecord],
    ) -> impl Future<Output = Result<usize, Error>> + Send;

    /// [`UserImport::import_users`](tokenauth_core::store::UserImport::import_users).
    fn import_users(
        pool: &Pool<Self>,
        batch: &[NewUser],
    ) -> impl Future<Output = Result<ImportedUsers, Error>> + Send;

    /// The highest user id ever given out (deleted users' included; 0 if none).
    fn user_ids_given(pool: &Pool<Self>) -> impl Future<Output = Result<i64, Error>> + Send;

    /// Makes new users get ids above `given`.
    fn reserve_user_ids(pool: &Pool<Self>, given: i64) -> impl Future<Output = Result<(), Error>> + Send;

    /// Writes `users` as they are, ids included; an id or name stored for another user
    /// is an [`Error::Conflict`], and then nothing of the batch is written.
    fn copy_users(
        pool: &Pool<Self>,
        users: &[LoginRecord<User>],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Writes `records` as they are, overwriting those stored under the same ids.
    fn copy_tokens(
        pool: &Pool<Self>,
        records: &[TokenRecord],
    ) -> impl Future<Output = Result<(), Error>> + Send;

    /// Sets each user's token-set version to the one given.
    fn copy_token_sets(
        pool: &Pool<Self>,
        sets: &[(UserId, u64)],
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// Runs `attempt` until it succeeds, fails for good, or `D` says not to run it again
/// ([`Dialect::again`]).
pub(crate) async fn retrying<D, T, F, Fut>(mut attempt: F) -> Result<T, Error>
where
    D: Dialect,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if D::again(&error, tries).await => tries += 1,
            done => return done,
        }
    }
}

mod sealed {
    pub trait Sealed {}
    #[cfg(feature = "sqlite")]
    impl Sealed for sqlx::Sqlite {}
    #[cfg(feature = "postgres")]
    impl Sealed for sqlx::Postgres {}
    #[cfg(feature = "mysql")]
    impl Sealed for sqlx::MySql {}
}
