//! Django's `auth_user` table as a [`UserDirectory`] and [`UserAdmin`], once for every
//! dialect.

use std::fmt;
use std::sync::Arc;

use sqlx::Pool;
use tokenauth_core::store::{DirectoryCapabilities, LoginRecord, UserAdmin, UserDirectory};
use tokenauth_core::{Clock, SystemClock, User, UserId};

use crate::Error;
use crate::common::{self, django_id};
use crate::dialect::{Arg, Dialect, Execute};

/// A [`UserDirectory`] and [`UserAdmin`] on Django's `auth_user` table, named per
/// dialect: [`SqliteUserDirectory`](crate::sqlite::SqliteUserDirectory),
/// [`PostgresUserDirectory`](crate::postgres::PostgresUserDirectory).
///
/// Users are matched by `username` exactly (case-sensitive, not trimmed, not
/// normalised), as Django's `authenticate()` does. New users are written as Django's
/// `create_user` writes them: empty names and email, not staff, not superuser,
/// `date_joined` now (by the directory's clock), `last_login` NULL. A user's
/// credential version is a digest of its `auth_user.password`, so that it changes
/// with every new hash, written here or by Django; a password set here also deletes
/// the user's token in the same transaction (see the [crate docs](crate)).
pub struct DjangoUserDirectory<DB: Dialect> {
    pool: Pool<DB>,
    clock: Arc<dyn Clock>,
}

impl<DB: Dialect> DjangoUserDirectory<DB> {
    /// A directory on `pool` (see the dialect's `connect`).
    pub fn new(pool: Pool<DB>) -> Self {
        Self {
            pool,
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
    async fn one(&self, sql: &'static str, args: &[Arg<'_>]) -> Result<Option<User>, Error> {
        let mut conn = self.pool.acquire().await?;
        let rows = DB::users(&mut conn, sql, args).await?;
        Ok(rows.into_iter().next().map(common::user))
    }

    async fn by_id(&self, id: i64) -> Result<Option<User>, Error> {
        self.one(DB::USER_BY_ID, &[Arg::Int(id)]).await
    }

    /// Sets the user's password (when given) and deletes its token, in one
    /// transaction; the user as it is then.
    async fn update_and_end_token(&self, id: &UserId, password: Option<&str>) -> Result<Option<User>, Error> {
        let Some(id) = django_id(id) else { return Ok(None) };
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        if DB::text(&mut tx, DB::LOCK_USER, &[Arg::Int(id)]).await?.is_none() {
            return Ok(None);
        }
        if let Some(password) = password {
            DB::execute(&mut tx, DB::SET_PASSWORD, &[Arg::Text(password), Arg::Int(id)]).await?;
        }
        DB::execute(&mut tx, DB::DELETE_TOKENS_OF_USER, &[Arg::Int(id)]).await?;
        tx.commit().await?;
        self.by_id(id).await
    }
}

impl<DB: Execute> UserDirectory for DjangoUserDirectory<DB> {
    type User = User;
    type Error = Error;

    #[tracing::instrument(skip_all)]
    async fn find_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        match django_id(id) {
            Some(id) => self.by_id(id).await,
            None => Ok(None),
        }
    }

    #[tracing::instrument(skip_all)]
    async fn find_login(&self, username: &str) -> Result<Option<LoginRecord<User>>, Error> {
        let mut conn = self.pool.acquire().await?;
        let rows = DB::users(&mut conn, DB::USER_BY_USERNAME, &[Arg::Text(username)]).await?;
        Ok(rows.into_iter().next().map(|row| LoginRecord {
            password_hash: row.password.clone(),
            user: common::user(row),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, Error> {
        let Some(id) = django_id(id) else { return Ok(false) };
        let args = [Arg::Text(new_hash), Arg::Int(id), Arg::Text(old_hash)];
        let mut conn = self.pool.acquire().await?;
        Ok(DB::execute(&mut conn, DB::REHASH_PASSWORD, &args).await? > 0)
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
        let args = [
            Arg::Text(password_hash),
            Arg::Text(username),
            Arg::Flag(is_active),
            Arg::Time(self.clock.now()),
        ];
        self.one(DB::CREATE_USER, &args).await
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
        let Some(id) = django_id(id) else { return Ok(None) };
        self.one(DB::SET_ACTIVE, &[Arg::Flag(is_active), Arg::Int(id)])
            .await
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        Ok(self.find_login(username).await?.map(|login| login.user))
    }

    async fn list_users(&self) -> Result<Vec<User>, Error> {
        let mut conn = self.pool.acquire().await?;
        let rows = DB::users(&mut conn, DB::USERS_BY_USERNAME, &[]).await?;
        Ok(rows.into_iter().map(common::user).collect())
    }

    /// Deletes the user with its token, groups and permissions, as Django's cascade
    /// would; if rows of other apps still refer to the user, nothing is deleted
    /// ([`Error::Referenced`]). Ids are never reused (SQLite: `AUTOINCREMENT`;
    /// PostgreSQL: an identity column).
    #[tracing::instrument(skip_all)]
    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let Some(id) = django_id(id) else { return Ok(None) };
        let Some(found) = self.by_id(id).await? else {
            return Ok(None);
        };
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        // The user's row before its token's, as every writer of both here locks them
        // (the store's commit included): no deadlock between them.
        DB::text(&mut tx, DB::LOCK_USER, &[Arg::Int(id)]).await?;
        let links = DB::DELETE_USER_LINKS;
        for sql in [DB::DELETE_TOKENS_OF_USER, links[0], links[1]] {
            DB::execute(&mut tx, sql, &[Arg::Int(id)]).await?;
        }
        let deleted = DB::execute(&mut tx, DB::DELETE_USER, &[Arg::Int(id)]).await?;
        // Foreign keys are deferred: other apps' rows are found at commit.
        tx.commit().await.map_err(Error::Referenced)?;
        Ok((deleted > 0).then_some(found))
    }

    /// No credential version of its own: `auth_user` has no column for one, and
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
