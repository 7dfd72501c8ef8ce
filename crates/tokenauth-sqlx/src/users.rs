//! The user directory, written once for every dialect: `sqlite::SqliteUserDirectory`,
//! `postgres::PostgresUserDirectory`.

use std::fmt;

use sqlx::query::QueryAs;
use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Type};
use tokenauth_core::store::{
    ImportedUsers, LoginRecord, NewUser, PrefetchedUser, UserAdmin, UserDirectory, UserImport,
};
use tokenauth_core::time::OffsetDateTime;
use tokenauth_core::{User, UserId};

use crate::Error;
use crate::dialect::{Dialect, UserWrite};
use crate::rows::{JoinedUser, UserRow, row_id, user_from_row};

/// A [`UserDirectory`] and [`UserAdmin`] in the `tokenauth_users` table, on dialect
/// `D`, written once for every dialect. Name it by its dialect
/// (`sqlite::SqliteUserDirectory`, `postgres::PostgresUserDirectory`), whose docs say
/// how each keeps its promises.
///
/// Clones share the pool. `Debug` prints no connection details.
pub struct SqlUserDirectory<D: Dialect> {
    pool: Pool<D>,
    reader: D::Reader,
}

impl<D: Dialect> SqlUserDirectory<D> {
    /// A directory on `pool`, whose database must have been migrated.
    pub fn new(pool: Pool<D>) -> Self {
        Self {
            reader: D::Reader::default(),
            pool,
        }
    }

    /// The pool the directory queries.
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }
}

impl<D: Dialect> Clone for SqlUserDirectory<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            reader: self.reader.clone(),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlUserDirectory<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(D::DIRECTORY).finish_non_exhaustive()
    }
}

/// A statement on one user that returns its columns ([`UserRow`]), with the user's
/// primary key as its last parameter, still to bind.
type UserQuery<'q, D> = QueryAs<'q, D, UserRow, <D as sqlx::Database>::Arguments<'q>>;

/// A user row followed by the password hash.
type LoginRow = (i64, String, bool, i64, String);

fn login_from_row(
    (id, username, is_active, version, password_hash): LoginRow,
) -> Result<LoginRecord<User>, Error> {
    Ok(LoginRecord {
        user: user_from_row((id, username, is_active, version))?,
        password_hash,
    })
}

// The `where` clauses: see `store.rs`.

/// Running one user's statement, and the copy of a database (`tokenauth
/// copy-database`): reading every user in pages, and writing users as they are.
impl<D: Dialect> SqlUserDirectory<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> String: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Decode<'q, D> + Type<D>,
{
    /// Runs `query` (a statement on one user that returns its columns, with the user's
    /// primary key as its last parameter) for user `id`; the user as returned, or
    /// `None` if there is no such user.
    async fn on_user<'q>(&self, id: &UserId, query: UserQuery<'q, D>) -> Result<Option<User>, Error> {
        let Some(id) = row_id(id) else {
            return Ok(None);
        };
        let row = query.bind(id).fetch_optional(&self.pool).await?;
        row.map(user_from_row).transpose()
    }

    /// Writes one user's row ([`Dialect::write_user`]) on a connection of the pool;
    /// the user as written.
    async fn writing(&self, write: UserWrite<'_>) -> Result<Option<User>, Error> {
        let mut conn = self.pool.acquire().await?;
        let row = D::write_user(&mut conn, write).await?;
        row.map(user_from_row).transpose()
    }

    /// [`writing`](Self::writing) for a write that ends tokens (a new credential
    /// version, a deactivation, a deletion) of user `id`, on the dialect's connection
    /// for those (on SQLite, it commits with `synchronous = FULL`), so that once
    /// answered it survives a power loss.
    async fn revoking<'w>(
        &self,
        id: &UserId,
        write: impl FnOnce(i64) -> UserWrite<'w>,
    ) -> Result<Option<User>, Error> {
        let Some(id) = row_id(id) else {
            return Ok(None);
        };
        let mut conn = D::revoking(&self.pool).await?;
        let row = D::write_user(&mut conn, write(id)).await;
        D::release(conn).await;
        row?.map(user_from_row).transpose()
    }

    /// Up to `limit` users with ids above `after` (from the first with `None`), by id,
    /// with their password hashes: a page of a copy.
    #[tracing::instrument(skip_all)]
    pub async fn export_users(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<LoginRecord<User>>, Error> {
        let after = after.and_then(row_id).unwrap_or(i64::MIN);
        let rows: Vec<LoginRow> = sqlx::query_as(D::EXPORT_USERS)
            .bind(after)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(login_from_row).collect()
    }

    /// The highest user id ever given out (deleted users' included; 0 if none), so
    /// that a copy never gives a deleted user's id to someone else.
    #[tracing::instrument(skip_all)]
    pub async fn user_ids_given(&self) -> Result<i64, Error> {
        D::user_ids_given(&self.pool).await
    }

    /// Makes new users get ids above `given` (and above every stored one), as in the
    /// database copied from.
    #[tracing::instrument(skip_all)]
    pub async fn reserve_user_ids(&self, given: i64) -> Result<(), Error> {
        D::reserve_user_ids(&self.pool, given).await
    }

    /// Writes `users` as they are: ids, names, hashes, flags and credential versions.
    /// A user already stored under the same id and name is updated; a user whose id
    /// or name is stored with another name or id is an [`Error::Conflict`], and then
    /// nothing of the batch is written. Call
    /// [`reserve_user_ids`](Self::reserve_user_ids) after the copy.
    #[tracing::instrument(skip_all, fields(count = users.len()))]
    pub async fn copy_users(&self, users: &[LoginRecord<User>]) -> Result<(), Error> {
        D::copy_users(&self.pool, users).await
    }
}

impl<D: Dialect> UserDirectory for SqlUserDirectory<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> String: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Decode<'q, D> + Type<D>,
{
    type User = User;
    type Error = Error;

    fn is_unavailable(error: &Error) -> bool {
        error.is_unavailable()
    }

    /// The user with this id, active or not. An id that is not the decimal form of an
    /// integer (as [`UserId::from`] spells it) names no user here: `None`.
    #[tracing::instrument(skip_all)]
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        if let Some(key) = row_id(id)
            && let Some(row) = D::read_user(&self.reader, &self.pool, key).await
        {
            return row.map(user_from_row).transpose();
        }
        self.on_user(id, sqlx::query_as(D::FIND_USER)).await
    }

    /// Answers from the row the store read with the token when it came from this
    /// directory's database and names this user; reads otherwise.
    async fn find_prefetched_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
        prefetched: PrefetchedUser,
    ) -> Result<Option<User>, Error> {
        if let Some(joined) = prefetched.take::<JoinedUser>()
            && let Some(key) = row_id(id)
            && joined.key == Some(key)
            && D::reads_from(&self.reader, &joined)
        {
            return joined.row.map(user_from_row).transpose();
        }
        self.find_user_to_authenticate(id, now).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Error> {
        let row: Option<LoginRow> = sqlx::query_as(D::FIND_LOGIN)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.map(login_from_row).transpose()
    }

    /// Replaces the hash in one `UPDATE ... WHERE password_hash = old_hash`, leaving
    /// the credential version alone.
    #[tracing::instrument(skip_all)]
    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, Error> {
        let Some(id) = row_id(id) else {
            return Ok(false);
        };
        let result = sqlx::query(D::REHASH_PASSWORD)
            .bind(new_hash)
            .bind(id)
            .bind(old_hash)
            .execute(&self.pool)
            .await?;
        Ok(D::rows_affected(&result) > 0)
    }
}

impl<D: Dialect> UserAdmin for SqlUserDirectory<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> String: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Decode<'q, D> + Type<D>,
{
    #[tracing::instrument(skip_all)]
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, Error> {
        // No row for a taken username; the UNIQUE constraint decides, so concurrent
        // creations of one name cannot both succeed.
        self.writing(UserWrite::Create {
            username,
            password_hash,
            is_active,
        })
        .await
    }

    /// Sets the hash and adds 1 to the credential version, in one `UPDATE`.
    #[tracing::instrument(skip_all)]
    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, Error> {
        self.revoking(id, |id| UserWrite::SetPasswordHash { id, password_hash })
            .await
    }

    /// Adds 1 to the credential version.
    #[tracing::instrument(skip_all)]
    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.revoking(id, |id| UserWrite::BumpCredentialVersion { id })
            .await
    }

    #[tracing::instrument(skip_all)]
    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, Error> {
        if !is_active {
            return self
                .revoking(id, |id| UserWrite::SetActive { id, is_active })
                .await;
        }
        let Some(id) = row_id(id) else {
            return Ok(None);
        };
        self.writing(UserWrite::SetActive { id, is_active }).await
    }

    /// [`find_login`](UserDirectory::find_login) without the hash.
    #[tracing::instrument(skip_all)]
    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        Ok(self.find_login(username).await?.map(|login| login.user))
    }

    /// Every user, ordered by username (bytewise: upper case before lower case).
    #[tracing::instrument(skip_all)]
    async fn list_users(&self) -> Result<Vec<User>, Error> {
        let rows: Vec<UserRow> = sqlx::query_as(D::LIST_USERS).fetch_all(&self.pool).await?;
        rows.into_iter().map(user_from_row).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.revoking(id, |id| UserWrite::Delete { id }).await
    }
}

impl<D: Dialect> UserImport for SqlUserDirectory<D>
where
    Self: UserAdmin<Error = Error>,
{
    /// Each batch in one transaction: every user whose name is not taken, then the
    /// stored users of the batch's names.
    #[tracing::instrument(skip_all, fields(count = batch.len()))]
    async fn import_users(&self, batch: &[NewUser]) -> Result<ImportedUsers, Error> {
        D::import_users(&self.pool, batch).await
    }
}
