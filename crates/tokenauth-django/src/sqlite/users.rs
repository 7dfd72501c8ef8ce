//! Django's `auth_user` table in SQLite.

use std::fmt;
use std::sync::Arc;

use sqlx::{Connection, SqlitePool};
use tokenauth_core::{Clock, LoginRecord, SystemClock, User, UserAdmin, UserDirectory, UserId};

use crate::Error;
use crate::common::{self, django_id};
use crate::timestamp::to_django_text;

/// A [`UserDirectory`] and [`UserAdmin`] on Django's `auth_user` table in SQLite.
///
/// Users are matched by `username` exactly (case-sensitive, not trimmed, not
/// normalised), as Django's `authenticate()` does. New users are written as Django's
/// `create_user` writes them: empty names and email, not staff, not superuser,
/// `date_joined` now (by the directory's clock), `last_login` NULL. A user's
/// credential version is a digest of its `auth_user.password`, so that it changes
/// with every new hash, written here or by Django; a password set here also deletes
/// the user's token in the same transaction (see the [crate docs](crate)).
#[derive(Clone)]
pub struct SqliteDjangoUsers {
    pool: SqlitePool,
    clock: Arc<dyn Clock>,
}

impl SqliteDjangoUsers {
    /// A directory on `pool` (see [`connect_sqlite`](crate::connect_sqlite)).
    pub fn new(pool: SqlitePool) -> Self {
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

impl fmt::Debug for SqliteDjangoUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDjangoUsers").finish_non_exhaustive()
    }
}

type UserRow = (i64, String, bool, String);

fn user((id, username, is_active, password): UserRow) -> User {
    common::user(id, username, is_active, &password)
}

impl SqliteDjangoUsers {
    async fn by_id(&self, id: i64) -> Result<Option<User>, Error> {
        let row: Option<UserRow> = sqlx::query_as(
            r#"SELECT "id", "username", "is_active", "password" FROM "auth_user" WHERE "id" = ?"#,
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(user))
    }

    /// Runs `update` (binding the user's id last) and deletes the user's token, in one
    /// transaction; the user as it is then.
    async fn update_and_end_token(
        &self,
        id: &UserId,
        update: Option<(&str, &str)>,
    ) -> Result<Option<User>, Error> {
        let Some(id) = django_id(id) else { return Ok(None) };
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let found: Option<(i64,)> = sqlx::query_as(r#"SELECT "id" FROM "auth_user" WHERE "id" = ?"#)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if found.is_none() {
            return Ok(None);
        }
        if let Some((sql, value)) = update {
            sqlx::query(sql).bind(value).bind(id).execute(&mut *tx).await?;
        }
        sqlx::query(r#"DELETE FROM "authtoken_token" WHERE "user_id" = ?"#)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.by_id(id).await
    }
}

impl UserDirectory for SqliteDjangoUsers {
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
        let row: Option<UserRow> = sqlx::query_as(
            r#"SELECT "id", "username", "is_active", "password" FROM "auth_user" WHERE "username" = ?"#,
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| LoginRecord {
            password_hash: row.3.clone(),
            user: user(row),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn rehash_password(&self, id: &UserId, old_hash: &str, new_hash: &str) -> Result<bool, Error> {
        let Some(id) = django_id(id) else { return Ok(false) };
        let done = sqlx::query(r#"UPDATE "auth_user" SET "password" = ? WHERE "id" = ? AND "password" = ?"#)
            .bind(new_hash)
            .bind(id)
            .bind(old_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl UserAdmin for SqliteDjangoUsers {
    #[tracing::instrument(skip_all)]
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_active: bool,
    ) -> Result<Option<User>, Error> {
        let row: Option<UserRow> = sqlx::query_as(
            r#"INSERT INTO "auth_user" ("password", "last_login", "is_superuser", "username", "first_name",
                   "last_name", "email", "is_staff", "is_active", "date_joined")
               VALUES (?, NULL, 0, ?, '', '', '', 0, ?, ?)
               ON CONFLICT ("username") DO NOTHING
               RETURNING "id", "username", "is_active", "password""#,
        )
        .bind(password_hash)
        .bind(username)
        .bind(is_active)
        .bind(to_django_text(self.clock.now()))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(user))
    }

    /// Writes the hash (a new credential version) and deletes the user's token, in one
    /// transaction.
    async fn set_password_hash(&self, id: &UserId, password_hash: &str) -> Result<Option<User>, Error> {
        let update = r#"UPDATE "auth_user" SET "password" = ? WHERE "id" = ?"#;
        self.update_and_end_token(id, Some((update, password_hash))).await
    }

    /// Deletes the user's token: the credential version, a digest of the password,
    /// cannot change without a new password.
    async fn bump_credential_version(&self, id: &UserId) -> Result<Option<User>, Error> {
        self.update_and_end_token(id, None).await
    }

    #[tracing::instrument(skip_all)]
    async fn set_active(&self, id: &UserId, is_active: bool) -> Result<Option<User>, Error> {
        let Some(id) = django_id(id) else { return Ok(None) };
        let row: Option<UserRow> = sqlx::query_as(
            r#"UPDATE "auth_user" SET "is_active" = ? WHERE "id" = ? RETURNING "id", "username", "is_active", "password""#,
        )
        .bind(is_active)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(user))
    }

    async fn find_by_username(&self, username: &str) -> Result<Option<User>, Error> {
        Ok(self.find_login(username).await?.map(|login| login.user))
    }

    async fn list_users(&self) -> Result<Vec<User>, Error> {
        let rows: Vec<UserRow> = sqlx::query_as(
            r#"SELECT "id", "username", "is_active", "password" FROM "auth_user" ORDER BY "username""#,
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(user).collect())
    }

    /// Deletes the user with its token, groups and permissions, as Django's cascade
    /// would; if rows of other apps still refer to the user, nothing is deleted
    /// ([`Error::Referenced`]). Ids are never reused (`AUTOINCREMENT`).
    #[tracing::instrument(skip_all)]
    async fn delete_user(&self, id: &UserId) -> Result<Option<User>, Error> {
        let Some(id) = django_id(id) else { return Ok(None) };
        let Some(found) = self.by_id(id).await? else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        for table in [
            "authtoken_token",
            "auth_user_groups",
            "auth_user_user_permissions",
        ] {
            sqlx::query(&format!(r#"DELETE FROM "{table}" WHERE "user_id" = ?"#))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let deleted = sqlx::query(r#"DELETE FROM "auth_user" WHERE "id" = ?"#)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Foreign keys are deferred: other apps' rows are found at commit.
        tx.commit().await.map_err(Error::Referenced)?;
        Ok((deleted.rows_affected() > 0).then_some(found))
    }
}
