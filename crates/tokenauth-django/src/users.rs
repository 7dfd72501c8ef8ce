//! Django's user table (`auth_user`, or a custom user model's) as a
//! [`UserDirectory`] and [`UserAdmin`], once for every dialect.

use std::fmt;
use std::sync::Arc;

use sqlx::Pool;
use time::OffsetDateTime;
use tokenauth_core::store::{DirectoryCapabilities, LoginRecord, PrefetchedUser, UserAdmin, UserDirectory};
use tokenauth_core::{Clock, SystemClock, User, UserId};

use crate::Error;
use crate::common;
use crate::dialect::{Arg, Dialect, Execute};
use crate::keys::StoredKey;
use crate::rows::JoinedUser;
use crate::statements::{CreateArg, Statements};
use crate::tables::DjangoTables;

/// A [`UserDirectory`] and [`UserAdmin`] on Django's user table (`auth_user`, or a
/// [`UserModel`](crate::UserModel)'s, through [`DjangoTables::users`]), named per
/// dialect: [`SqliteUserDirectory`](crate::sqlite::SqliteUserDirectory),
/// [`PostgresUserDirectory`](crate::postgres::PostgresUserDirectory).
///
/// Users are matched by the login field (`username`, or the model's
/// `USERNAME_FIELD`) exactly (case-sensitive, not trimmed, not normalised), as
/// Django's `authenticate()` does through `get_by_natural_key`. New users are written
/// as Django's `create_user` writes them, in the columns of `AbstractUser` the table
/// has: empty names and email, not staff, not superuser, `date_joined` now (by the
/// directory's clock), `last_login` NULL, and a new UUID (v4) for a UUID key; a table
/// with other NOT NULL columns without a default is refused
/// ([`Error::CannotCreate`]). Without an active column, every user is active and
/// none can be deactivated ([`Error::NoActiveField`]). A user's
/// credential version is a digest of its `auth_user.password`, so that it changes
/// with every new hash, written here or by Django; a password set here also deletes
/// the user's token in the same transaction (see the [crate docs](crate)).
pub struct DjangoUserDirectory<DB: Dialect> {
    pool: Pool<DB>,
    sql: Arc<Statements>,
    clock: Arc<dyn Clock>,
}

impl<DB: Dialect> DjangoUserDirectory<DB> {
    /// A directory on Django's own `auth_user` in `pool` (see the dialect's
    /// `connect`); for another user model, [`DjangoTables::users`].
    pub fn new(pool: Pool<DB>) -> Self {
        DjangoTables::stock(pool).users()
    }

    pub(crate) fn on(pool: Pool<DB>, sql: Arc<Statements>) -> Self {
        Self {
            pool,
            sql,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the clock that dates new users' `date_joined` (default: the system clock).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }
}

impl<DB: Dialect> Clone for DjangoUserDirectory<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            sql: Arc::clone(&self.sql),
            clock: Arc::clone(&self.clock),
        }
    }
}

impl<DB: Dialect> fmt::Debug for DjangoUserDirectory<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(DB::DIRECTORY).finish_non_exhaustive()
    }
}

impl<DB: Execute> DjangoUserDirectory<DB> {
    /// The first user row `sql` returns for `args`, as core sees it.
    async fn one(&self, sql: &str, args: &[Arg<'_>]) -> Result<Option<User>, Error> {
        let mut conn = self.pool.acquire().await?;
        let rows = DB::users(&mut conn, sql, args).await?;
        Ok(rows.into_iter().next().map(common::user))
    }

    async fn by_id(&self, id: &StoredKey) -> Result<Option<User>, Error> {
        self.one(&self.sql.user_by_id, &[id.arg()]).await
    }

    /// The user's key, if `id` is one of this table's ids.
    fn key_of(&self, id: &UserId) -> Option<StoredKey> {
        self.sql.key().stored(id)
    }

    /// Sets the user's password (when given) and deletes its token, in one
    /// transaction; the user as it is then.
    async fn update_and_end_token(&self, id: &UserId, password: Option<&str>) -> Result<Option<User>, Error> {
        let Some(id) = self.key_of(id) else {
            return Ok(None);
        };
        let sql = &*self.sql;
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        if DB::text(&mut tx, &sql.lock_user, &[id.arg()]).await?.is_none() {
            return Ok(None);
        }
        if let Some(password) = password {
            DB::execute(&mut tx, &sql.set_password, &[Arg::Text(password), id.arg()]).await?;
        }
        DB::execute(&mut tx, &sql.delete_tokens_of_user, &[id.arg()]).await?;
        tx.commit().await?;
        self.by_id(&id).await
    }
}

impl<DB: Execute> UserDirectory for DjangoUserDirectory<DB> {
    type User = User;
    type Error = Error;

    #[tracing::instrument(skip_all)]
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        match self.key_of(id) {
            Some(id) => self.by_id(&id).await,
            None => Ok(None),
        }
    }

    /// Answers from the row the store read with the token when it came from this
    /// directory's pool and user table and names this user; reads otherwise.
    async fn find_prefetched_user_to_authenticate(
        &self,
        id: &UserId,
        now: OffsetDateTime,
        prefetched: PrefetchedUser,
    ) -> Result<Option<User>, Error> {
        if let Some(joined) = prefetched.take::<JoinedUser<DB>>()
            && let Some(user) = joined.answer(&self.pool, &self.sql, id)
        {
            return Ok(user);
        }
        self.find_user_to_authenticate(id, now).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Error> {
        let mut conn = self.pool.acquire().await?;
        let rows = DB::users(&mut conn, &self.sql.users_matching_login, &[Arg::Text(username)]).await?;
        Ok(the_one_logging_in(rows, username).map(|row| LoginRecord {
            password_hash: row.password.clone(),
            user: common::user(row),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, Error> {
        let Some(id) = self.key_of(id) else {
            return Ok(false);
        };
        let args = [Arg::Text(new_hash), id.arg(), Arg::Text(old_hash)];
        let mut conn = self.pool.acquire().await?;
        Ok(DB::execute(&mut conn, &self.sql.rehash_password, &args).await? > 0)
    }
}

impl<DB: Execute> UserAdmin for DjangoUserDirectory<DB> {
    #[tracing::instrument(skip_all)]
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, Error> {
        let layout = &self.sql.layout;
        if !layout.unfillable.is_empty() {
            return Err(Error::CannotCreate {
                table: layout.model.table().to_string(),
                columns: layout.unfillable.clone(),
            });
        }
        if !is_active && layout.model.active_field().is_none() {
            return Err(Error::NoActiveField);
        }
        let key = self.sql.key().generate();
        let now = self.clock.now();
        let args: Vec<Arg<'_>> = (self.sql.create_args.iter())
            .map(|arg| match arg {
                CreateArg::Key => key.as_ref().map_or(Arg::Int(0), StoredKey::arg),
                CreateArg::Password => Arg::Text(password_hash),
                CreateArg::Login => Arg::Text(username),
                CreateArg::Active => Arg::Flag(is_active),
                CreateArg::Now => Arg::Time(now),
            })
            .collect();
        let sql = &*self.sql;
        // The row read back in the insert's transaction (no dialect needs
        // `RETURNING`): the login is unique, so it is the one inserted.
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        if DB::insert(&mut tx, &sql.create_user, &args, &sql.login_conflict).await? == 0 {
            return Ok(None);
        }
        let rows = DB::users(&mut tx, &sql.user_by_login, &[Arg::Text(username)]).await?;
        tx.commit().await?;
        Ok(rows.into_iter().next().map(common::user))
    }

    /// Writes the hash (a new credential version) and deletes the user's token, in one
    /// transaction.
    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, Error> {
        self.update_and_end_token(id, Some(password_hash)).await
    }

    /// Deletes the user's token: the credential version, a digest of the password,
    /// cannot change without a new password.
    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.update_and_end_token(id, None).await
    }

    #[tracing::instrument(skip_all)]
    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, Error> {
        let Some(key) = self.key_of(id) else {
            return Ok(None);
        };
        match &self.sql.set_active {
            Some(sql) => {
                let mut conn = self.pool.acquire().await?;
                if DB::execute(&mut conn, sql, &[Arg::Flag(is_active), key.arg()]).await? == 0 {
                    return Ok(None);
                }
                self.by_id(&key).await
            }
            // Every user is active: activating one changes nothing.
            None if is_active => self.by_id(&key).await,
            None => Err(Error::NoActiveField),
        }
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        Ok(self.find_login(username).await?.map(|login| login.user))
    }

    async fn list_users(&self) -> Result<Vec<User>, Error> {
        let mut conn = self.pool.acquire().await?;
        let rows = DB::users(&mut conn, &self.sql.users_by_login, &[]).await?;
        Ok(rows.into_iter().map(common::user).collect())
    }

    /// Deletes the user with its token, groups and permissions (where the model has
    /// them), as Django's cascade would; if rows of other apps still refer to the
    /// user, nothing is deleted ([`Error::Referenced`]). Integer ids are never reused
    /// (SQLite: `AUTOINCREMENT`; PostgreSQL: an identity column).
    #[tracing::instrument(skip_all)]
    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let Some(id) = self.key_of(id) else {
            return Ok(None);
        };
        let Some(found) = self.by_id(&id).await? else {
            return Ok(None);
        };
        let sql = &*self.sql;
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        // The user's row before its token's, as every writer of both here locks them
        // (the store's commit included): no deadlock between them.
        DB::text(&mut tx, &sql.lock_user, &[id.arg()]).await?;
        let links = sql.delete_user_links.iter();
        for statement in std::iter::once(&sql.delete_tokens_of_user).chain(links) {
            DB::execute(&mut tx, statement, &[id.arg()]).await?;
        }
        let deleted = match DB::execute(&mut tx, &sql.delete_user, &[id.arg()]).await {
            // MySQL checks foreign keys at once: other apps' rows are found here.
            Err(Error::Sqlx(error)) if is_foreign_key(&error) => return Err(Error::Referenced(error)),
            done => done?,
        };
        // SQLite and PostgreSQL defer Django's foreign keys: other apps' rows are found
        // at commit.
        tx.commit().await.map_err(Error::Referenced)?;
        Ok((deleted > 0).then_some(found))
    }

    /// No credential version of its own: Django's user table has no column for one, and
    /// Django's schema is never altered, so a user's version is a digest of its
    /// `auth_user.password` (see the [crate docs](crate), "Password changes"). A new
    /// user's version is its hash's, a re-hash is a new version, and a bump only ends
    /// the user's token.
    fn directory_capabilities(&self) -> DirectoryCapabilities {
        DirectoryCapabilities {
            credential_versions: false,
        }
    }
}

/// Whether `error` is a foreign key's refusal.
fn is_foreign_key(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|error| error.kind() == sqlx::error::ErrorKind::ForeignKeyViolation)
}

/// Of the rows a login matched, the user it logs in: the only one, or, where
/// matching folds case and several users differ only by case, the one stored exactly
/// as given; none if no row is (which of them was meant cannot be told).
fn the_one_logging_in(mut rows: Vec<crate::DjangoUser>, login: &str) -> Option<crate::DjangoUser> {
    if rows.len() > 1 {
        rows.retain(|row| row.username == login);
    }
    rows.pop().filter(|_| rows.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(login: &str) -> crate::DjangoUser {
        crate::DjangoUser {
            id: UserId::new(login),
            username: login.to_owned(),
            is_active: true,
            password: String::new(),
        }
    }

    #[test]
    fn a_login_matching_several_users_logs_in_the_exact_one_or_none() {
        let logs_in = |rows: &[&str], login| {
            the_one_logging_in(rows.iter().map(|r| user(r)).collect(), login).map(|u| u.username)
        };
        assert_eq!(logs_in(&[], "alice"), None);
        // One row: the database's comparison decided (a collation may fold case).
        assert_eq!(logs_in(&["alice"], "ALICE").as_deref(), Some("alice"));
        assert_eq!(logs_in(&["alice", "Alice"], "Alice").as_deref(), Some("Alice"));
        assert_eq!(logs_in(&["alice", "Alice"], "alice").as_deref(), Some("alice"));
        assert_eq!(logs_in(&["alice", "Alice"], "ALICE"), None);
    }
}
