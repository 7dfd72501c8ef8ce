//! The SQLite user directory.

use std::fmt;

use sqlx::{SqliteExecutor, SqlitePool};
use tokenauth_core::{Clock, PasswordError, PasswordHasher, User, UserDirectory, UserId};

use super::{from_micros, to_micros};
use crate::Error;

/// A [`UserDirectory`] in the `tokenauth_users` table of a SQLite database, with
/// argon2id password hashes.
///
/// User ids are the table's integer primary key (`UserId::from(42)`). Usernames match
/// exactly: case-sensitive, not trimmed. Besides the [`UserDirectory`] methods it has
/// the admin API a command-line tool needs.
///
/// Each user's `password_changed` time is stored with its password hash, in the same
/// write, so that [`AuthUser::password_changed`] refuses every token issued before a
/// password change from the moment the change commits.
///
/// Clones share the pool and the hasher. `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_core::{SystemClock, UserDirectory};
/// use tokenauth_sqlx::{SqliteUserDirectory, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let users = SqliteUserDirectory::new(connect("sqlite://tokenauth.db").await?);
/// let upserted = users.upsert_user("alice", "correct horse", true, &SystemClock).await?;
/// assert_eq!(users.verify_credentials("alice", "correct horse").await?, Some(upserted.user));
/// # Ok(()) }
/// ```
///
/// [`AuthUser::password_changed`]: tokenauth_core::AuthUser::password_changed
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

/// What [`SqliteUserDirectory::upsert_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The user as stored now.
    pub user: User,
    /// Whether the user was created (`true`) or already existed (`false`).
    pub created: bool,
    /// Whether an existing user got a different password, so that its tokens issued
    /// before the change no longer work. `false` for a new user, and for an existing
    /// one given its current password.
    pub password_changed: bool,
}

/// The columns read for a [`User`], in [`UserRow`] order.
macro_rules! user_columns {
    () => {
        "id, username, is_active, password_changed"
    };
}

/// A `tokenauth_users` row as read for a [`User`]: id, username, is_active,
/// password_changed.
type UserRow = (i64, String, bool, Option<i64>);

fn user_from_row((id, username, is_active, password_changed): UserRow) -> Result<User, Error> {
    Ok(User {
        id: UserId::from(id),
        username,
        is_active,
        password_changed: password_changed
            .map(|t| from_micros(t, "password change time out of range"))
            .transpose()?,
    })
}

/// What [`SqliteUserDirectory::upsert_user`] decides from a user's row: its id,
/// password hash and password change time, or nothing for a new user.
type Current = Option<(i64, String, Option<i64>)>;

async fn current<'e>(executor: impl SqliteExecutor<'e>, username: &str) -> Result<Current, Error> {
    Ok(
        sqlx::query_as("SELECT id, password_hash, password_changed FROM tokenauth_users WHERE username = ?")
            .bind(username)
            .fetch_optional(executor)
            .await?,
    )
}

/// The write an upsert makes.
enum Write {
    /// A new user with this hash.
    Create(String),
    /// The same password: only the active flag changes.
    Keep(i64),
    /// A new password for the user with this id, with its hash.
    Change(i64, String),
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

    /// Creates the user `username`, or, if it exists, sets its password and active flag.
    /// An existing user keeps its id.
    ///
    /// The time (`now` below) is read from `clock` inside the write transaction.
    ///
    /// - A new user is created with `now` as its creation time and no password change.
    /// - An existing user given a password other than its current one gets the new hash
    ///   and `password_changed = now` in one `UPDATE`: every token issued before `now`
    ///   stops working the moment it commits (see
    ///   [`AuthUser::password_changed`](tokenauth_core::AuthUser::password_changed)).
    ///   The tokens stay stored until deleted, for example with
    ///   [`TokenAuth::revoke_user_tokens`](tokenauth_core::TokenAuth::revoke_user_tokens).
    ///   A stored hash that cannot be read counts as a different password.
    /// - An existing user given its current password keeps its hash, its
    ///   `password_changed` time and its tokens; only the active flag is set.
    ///
    /// Telling the two apart costs an existing user one argon2 verification on top of
    /// the hash. Hashing and verifying run (on the blocking pool) before the write lock
    /// is taken; the write then runs in one `BEGIN IMMEDIATE` transaction, which first
    /// checks that nobody changed the user meanwhile (and, in that rare case, decides
    /// again), so concurrent calls for the same username cannot both create it or
    /// overwrite each other's decision.
    #[tracing::instrument(skip_all)]
    pub async fn upsert_user(
        &self,
        username: &str,
        password: &str,
        is_active: bool,
        clock: &dyn Clock,
    ) -> Result<Upserted, Error> {
        let seen = current(&self.pool, username).await?;
        let mut write = self.decide(&seen, password).await?;
        // IMMEDIATE takes the write lock up front (waiting out the busy timeout if
        // another connection holds it); a deferred transaction that reads and then
        // writes fails at once with SQLITE_BUSY when another connection wrote between.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // The time of the change is read holding the lock, after the slow hashing: a
        // token inserted (under the same lock) after this instant was inserted after
        // the change committed.
        let now = to_micros(clock.now())?;
        let found = current(&mut *tx, username).await?;
        if found != seen {
            // Another writer got in between: decide again, holding the lock this time.
            write = self.decide(&found, password).await?;
        }
        let row: UserRow = match &write {
            Write::Create(hash) => {
                sqlx::query_as(concat!(
                    "INSERT INTO tokenauth_users (username, password_hash, is_active, created) \
                     VALUES (?, ?, ?, ?) RETURNING ",
                    user_columns!()
                ))
                .bind(username)
                .bind(hash)
                .bind(is_active)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
            Write::Keep(id) => {
                sqlx::query_as(concat!(
                    "UPDATE tokenauth_users SET is_active = ? WHERE id = ? RETURNING ",
                    user_columns!()
                ))
                .bind(is_active)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
            }
            Write::Change(id, hash) => {
                sqlx::query_as(concat!(
                    "UPDATE tokenauth_users SET password_hash = ?, password_changed = ?, is_active = ? \
                     WHERE id = ? RETURNING ",
                    user_columns!()
                ))
                .bind(hash)
                .bind(now)
                .bind(is_active)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        tx.commit().await?;
        Ok(Upserted {
            user: user_from_row(row)?,
            created: matches!(write, Write::Create(_)),
            password_changed: matches!(write, Write::Change(..)),
        })
    }

    /// What [`upsert_user`](Self::upsert_user) writes for the user found as `current`.
    async fn decide(&self, current: &Current, password: &str) -> Result<Write, Error> {
        let Some((id, hash, _)) = current else {
            return Ok(Write::Create(self.hasher.hash(password).await?));
        };
        let same = match self.hasher.verify(password, Some(hash)).await {
            Ok(same) => same,
            // Whatever password it was, an unreadable hash gets replaced.
            Err(PasswordError::Malformed(_)) => false,
            Err(error) => return Err(error.into()),
        };
        Ok(if same {
            Write::Keep(*id)
        } else {
            Write::Change(*id, self.hasher.hash(password).await?)
        })
    }

    /// Sets the password of the user `username`, with `now` (read from `clock` inside
    /// the write transaction) as the time of the change, in one `UPDATE`: every token
    /// issued before `now` stops working the moment it commits, even if the password is
    /// the same as before. Returns the user, or `None`
    /// if there is no such user.
    ///
    /// The tokens stay stored until deleted, for example with
    /// [`TokenAuth::revoke_user_tokens`](tokenauth_core::TokenAuth::revoke_user_tokens).
    #[tracing::instrument(skip_all)]
    pub async fn set_password(
        &self,
        username: &str,
        password: &str,
        clock: &dyn Clock,
    ) -> Result<Option<User>, Error> {
        let hash = self.hasher.hash(password).await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Read holding the write lock, as in `upsert_user`.
        let now = to_micros(clock.now())?;
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "UPDATE tokenauth_users SET password_hash = ?, password_changed = ? WHERE username = ? RETURNING ",
            user_columns!()
        ))
        .bind(&hash)
        .bind(now)
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(user_from_row).transpose()
    }

    /// Every user, ordered by username.
    #[tracing::instrument(skip_all)]
    pub async fn list_users(&self) -> Result<Vec<User>, Error> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(user_from_row).collect()
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
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_from_row).transpose()
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
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_from_row).transpose()
    }

    /// The user named exactly `username` whose password is `password`, active or not.
    ///
    /// One argon2 verification runs whether or not the user exists (an unknown user is
    /// checked against a dummy hash), so the time taken does not reveal which usernames
    /// exist.
    #[tracing::instrument(skip_all)]
    async fn verify_credentials(&self, username: &str, password: &str) -> Result<Option<User>, Error> {
        let row: Option<(i64, String, bool, Option<i64>, String)> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM tokenauth_users WHERE username = ?"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        let hash = row.as_ref().map(|(.., hash)| hash.as_str());
        let matches = self.hasher.verify(password, hash).await?;
        row.filter(|_| matches)
            .map(|(id, username, is_active, password_changed, _)| {
                user_from_row((id, username, is_active, password_changed))
            })
            .transpose()
    }
}
