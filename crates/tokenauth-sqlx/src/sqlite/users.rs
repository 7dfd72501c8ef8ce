//! The SQLite user directory.

use std::fmt;

use sqlx::SqlitePool;
use time::OffsetDateTime;
use tokenauth_core::{PasswordHasher, User, UserDirectory, UserId};

use super::to_micros;
use crate::Error;

/// A [`UserDirectory`] in the `tokenauth_users` table of a SQLite database, with
/// argon2id password hashes.
///
/// User ids are the table's integer primary key (`UserId::from(42)`). Usernames match
/// exactly: case-sensitive, not trimmed. Besides the [`UserDirectory`] methods it has
/// the admin API a command-line tool needs.
///
/// Clones share the pool and the hasher. `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_core::UserDirectory;
/// use tokenauth_core::time::macros::datetime;
/// use tokenauth_sqlx::{SqliteUserDirectory, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let users = SqliteUserDirectory::new(connect("sqlite://tokenauth.db").await?);
/// let (alice, created) = users
///     .upsert_user("alice", "correct horse", true, datetime!(2026-03-01 12:00 UTC))
///     .await?;
/// assert_eq!(users.verify_credentials("alice", "correct horse").await?, Some(alice));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteUserDirectory {
    pool: SqlitePool,
    hasher: PasswordHasher,
}

impl fmt::Debug for SqliteUserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteUserDirectory")
            .field("hasher", &self.hasher)
            .finish_non_exhaustive()
    }
}

/// A `tokenauth_users` row as read for a [`User`]: id, username, is_active.
type UserRow = (i64, String, bool);

fn user_from_row((id, username, is_active): UserRow) -> User {
    User {
        id: UserId::from(id),
        username,
        is_active,
    }
}

impl SqliteUserDirectory {
    /// A directory on `pool`, whose database must have been migrated, hashing new
    /// passwords with the default (OWASP) argon2id parameters.
    pub fn new(pool: SqlitePool) -> Self {
        Self::with_hasher(pool, PasswordHasher::default())
    }

    /// A directory on `pool` hashing new passwords with `hasher`. Existing hashes verify
    /// with the parameters they were made with.
    pub fn with_hasher(pool: SqlitePool, hasher: PasswordHasher) -> Self {
        Self { pool, hasher }
    }

    /// The pool the directory queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates the user `username`, or, if it exists, replaces its password and active
    /// flag. An existing user keeps its id, and so its tokens.
    ///
    /// `now` is recorded as the creation time of a new user. Returns the user and
    /// whether it was created (`true`) or updated (`false`).
    ///
    /// The password is hashed (on the blocking pool) before the database is touched; the
    /// lookup and the write then run in one `BEGIN IMMEDIATE` transaction, so concurrent
    /// calls for the same username cannot both create it.
    #[tracing::instrument(skip_all)]
    pub async fn upsert_user(
        &self,
        username: &str,
        password: &str,
        is_active: bool,
        now: OffsetDateTime,
    ) -> Result<(User, bool), Error> {
        let hash = self.hasher.hash(password).await?;
        let created = to_micros(now)?;
        // IMMEDIATE takes the write lock up front (waiting out the busy timeout if
        // another connection holds it); a deferred transaction that reads and then
        // writes fails at once with SQLITE_BUSY when another connection wrote between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM tokenauth_users WHERE username = ?")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        let (id, created) = match existing {
            Some(id) => {
                sqlx::query("UPDATE tokenauth_users SET password_hash = ?, is_active = ? WHERE id = ?")
                    .bind(&hash)
                    .bind(is_active)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                (id, false)
            }
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO tokenauth_users (username, password_hash, is_active, created) \
                     VALUES (?, ?, ?, ?) RETURNING id",
                )
                .bind(username)
                .bind(&hash)
                .bind(is_active)
                .bind(created)
                .fetch_one(&mut *tx)
                .await?;
                (id, true)
            }
        };
        tx.commit().await?;
        let user = User {
            id: UserId::from(id),
            username: username.to_owned(),
            is_active,
        };
        Ok((user, created))
    }

    /// Every user, ordered by username.
    #[tracing::instrument(skip_all)]
    pub async fn list_users(&self) -> Result<Vec<User>, Error> {
        let rows: Vec<UserRow> =
            sqlx::query_as("SELECT id, username, is_active FROM tokenauth_users ORDER BY username")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(user_from_row).collect())
    }

    /// Sets whether the user `username` may authenticate; `false` if there is no such
    /// user.
    #[tracing::instrument(skip_all)]
    pub async fn set_active(&self, username: &str, is_active: bool) -> Result<bool, Error> {
        let result = sqlx::query("UPDATE tokenauth_users SET is_active = ? WHERE username = ?")
            .bind(is_active)
            .bind(username)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    /// The user whose username is exactly `username`, active or not.
    #[tracing::instrument(skip_all)]
    pub async fn find_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, is_active FROM tokenauth_users WHERE username = ?")
                .bind(username)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(user_from_row))
    }
}

impl UserDirectory for SqliteUserDirectory {
    type User = User;
    type Error = Error;

    /// The user with this id, active or not. An id that is not the decimal form of an
    /// integer (as [`UserId::from`] spells it) names no user here: `None`.
    #[tracing::instrument(skip_all)]
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        // Only the canonical spelling: "007" or "+7" is not user 7's id.
        let Some(id) = id
            .as_str()
            .parse::<i64>()
            .ok()
            .filter(|n| n.to_string() == id.as_str())
        else {
            return Ok(None);
        };
        let row: Option<UserRow> =
            sqlx::query_as("SELECT id, username, is_active FROM tokenauth_users WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(user_from_row))
    }

    /// The user named exactly `username` whose password is `password`, active or not.
    ///
    /// One argon2 verification runs whether or not the user exists (an unknown user is
    /// checked against a dummy hash), so the time taken does not reveal which usernames
    /// exist.
    #[tracing::instrument(skip_all)]
    async fn verify_credentials(&self, username: &str, password: &str) -> Result<Option<User>, Error> {
        let row: Option<(i64, String, bool, String)> = sqlx::query_as(
            "SELECT id, username, is_active, password_hash FROM tokenauth_users WHERE username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let hash = row.as_ref().map(|(_, _, _, hash)| hash.as_str());
        let matches = self.hasher.verify(password, hash).await?;
        Ok(row
            .filter(|_| matches)
            .map(|(id, username, is_active, _)| user_from_row((id, username, is_active))))
    }
}
