//! The PostgreSQL user directory.

use std::fmt;

use sqlx::PgPool;
use tokenauth_core::{LoginRecord, User, UserAdmin, UserDirectory, UserId};

use crate::Error;
use crate::rows::{UserRow, row_id, user_columns, user_from_row};

/// A [`UserDirectory`] and [`UserAdmin`] in the `tokenauth_users` table of a PostgreSQL
/// database.
///
/// It only stores: hashing and verifying passwords (argon2id PHC strings), deciding
/// whether an upsert changes a password, and ending the tokens a change invalidates are
/// done by [`TokenAuth`](tokenauth_core::TokenAuth), which is how applications and the
/// command-line tool should change users.
///
/// User ids are the table's `BIGINT` identity column (`UserId::from(42)`), never reused
/// after a deletion (a sequence only counts up); an id not spelled as [`UserId::from`]
/// spells it (`"007"`) names no user. Usernames match exactly: case-sensitive, not
/// trimmed (the column has the `"C"` collation).
///
/// Each user's credential version is written in the same `UPDATE` as its new password
/// hash ([`set_password_hash`](UserAdmin::set_password_hash): version + 1), so every
/// token issued under the old version is refused from the moment the change commits.
///
/// Clones share the pool. `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_core::UserDirectory;
/// use tokenauth_sqlx::{PgUserDirectory, connect_postgres};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let users = PgUserDirectory::new(connect_postgres("postgres://tokenauth@localhost/app").await?);
/// if let Some(login) = users.find_login("alice").await? {
///     println!("alice is user {}", login.user.id);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgUserDirectory {
    pool: PgPool,
}

impl fmt::Debug for PgUserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgUserDirectory").finish_non_exhaustive()
    }
}

/// A statement on one user that returns its columns ([`UserRow`]), with the user's
/// primary key as its last parameter, still to bind.
type UserQuery<'q> = sqlx::query::QueryAs<'q, sqlx::Postgres, UserRow, sqlx::postgres::PgArguments>;

impl PgUserDirectory {
    /// A directory on `pool`, whose database must have been migrated.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool the directory queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `query` (a statement on one user that returns its columns, with the user's
    /// primary key as its last parameter) for user `id`; the user as returned, or
    /// `None` if there is no such user.
    async fn on_user<'q>(&self, id: &UserId, query: UserQuery<'q>) -> Result<Option<User>, Error> {
        let Some(id) = row_id(id) else {
            return Ok(None);
        };
        let row = query.bind(id).fetch_optional(&self.pool).await?;
        row.map(user_from_row).transpose()
    }
}

impl UserDirectory for PgUserDirectory {
    type User = User;
    type Error = Error;

    fn is_unavailable(error: &Error) -> bool {
        error.is_unavailable()
    }

    /// The user with this id, active or not. An id that is not the decimal form of an
    /// integer (as [`UserId::from`] spells it) names no user here: `None`.
    #[tracing::instrument(skip_all)]
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users WHERE id = $1"
        ));
        self.on_user(id, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Error> {
        let row: Option<(i64, String, bool, i64, String)> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM tokenauth_users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(id, username, is_active, version, password_hash)| {
            Ok(LoginRecord {
                user: user_from_row((id, username, is_active, version))?,
                password_hash,
            })
        })
        .transpose()
    }

    /// Replaces the hash in one `UPDATE ... WHERE password_hash = old_hash`, leaving
    /// the credential version alone.
    #[tracing::instrument(skip_all)]
    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, Error> {
        let Some(id) = row_id(id) else {
            return Ok(false);
        };
        let result =
            sqlx::query("UPDATE tokenauth_users SET password_hash = $1 WHERE id = $2 AND password_hash = $3")
                .bind(new_hash)
                .bind(id)
                .bind(old_hash)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }
}

impl UserAdmin for PgUserDirectory {
    #[tracing::instrument(skip_all)]
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, Error> {
        // `ON CONFLICT DO NOTHING` returns no row for a taken username; the UNIQUE
        // constraint decides, so concurrent creations of one name cannot both succeed.
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "INSERT INTO tokenauth_users (username, password_hash, is_active) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING RETURNING ",
            user_columns!()
        ))
        .bind(username)
        .bind(password_hash)
        .bind(is_active)
        .fetch_optional(&self.pool)
        .await?;
        row.map(user_from_row).transpose()
    }

    /// Sets the hash and adds 1 to the credential version, in one `UPDATE`.
    #[tracing::instrument(skip_all)]
    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, Error> {
        let query = sqlx::query_as(concat!(
            "UPDATE tokenauth_users SET password_hash = $1, credential_version = credential_version + 1 \
             WHERE id = $2 RETURNING ",
            user_columns!()
        ))
        .bind(password_hash);
        self.on_user(id, query).await
    }

    /// Adds 1 to the credential version.
    #[tracing::instrument(skip_all)]
    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, Error> {
        let query = sqlx::query_as(concat!(
            "UPDATE tokenauth_users SET credential_version = credential_version + 1 WHERE id = $1 RETURNING ",
            user_columns!()
        ));
        self.on_user(id, query).await
    }

    #[tracing::instrument(skip_all)]
    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, Error> {
        let query = sqlx::query_as(concat!(
            "UPDATE tokenauth_users SET is_active = $1 WHERE id = $2 RETURNING ",
            user_columns!()
        ))
        .bind(is_active);
        self.on_user(id, query).await
    }

    /// [`find_login`](UserDirectory::find_login) without the hash.
    #[tracing::instrument(skip_all)]
    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        Ok(self.find_login(username).await?.map(|login| login.user))
    }

    /// Every user, ordered by username (bytewise: upper case before lower case).
    #[tracing::instrument(skip_all)]
    async fn list_users(&self) -> Result<Vec<User>, Error> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users ORDER BY username"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(user_from_row).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let query = sqlx::query_as(concat!(
            "DELETE FROM tokenauth_users WHERE id = $1 RETURNING ",
            user_columns!()
        ));
        self.on_user(id, query).await
    }
}
