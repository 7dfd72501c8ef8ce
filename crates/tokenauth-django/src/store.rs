//! DRF's `authtoken_token` table as a [`TokenStore`], once for every dialect.

use std::fmt;

use sqlx::Pool;
use tokenauth_core::store::{
    Capabilities, Change, Committed, Ended, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore,
    Usage,
};
use tokenauth_core::{TokenId, UserId};

use crate::Error;
use crate::common::{self, KeyRow};
use crate::dialect::{Arg, Dialect, Execute};

/// A [`TokenStore`] on DRF's `authtoken_token` table (`key` 40 hex characters,
/// primary key; `created`; `user_id` unique), named per dialect:
/// [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore). See the [crate docs](crate) for
/// what this table can and cannot hold.
pub struct DjangoStore<DB: Dialect> {
    pool: Pool<DB>,
}

impl<DB: Dialect> DjangoStore<DB> {
    /// A store on `pool` (see the dialect's `connect`).
    pub fn new(pool: Pool<DB>) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

impl<DB: Dialect> Clone for DjangoStore<DB> {
    fn clone(&self) -> Self {
        Self::new(self.pool.clone())
    }
}

impl<DB: Dialect> fmt::Debug for DjangoStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(DB::STORE).finish_non_exhaustive()
    }
}

/// Deletes `rows` by key; those that were still there, ended.
async fn delete_keys<DB: Execute>(conn: &mut DB::Connection, rows: &[&KeyRow]) -> Result<Vec<Ended>, Error> {
    let mut ended = Vec::with_capacity(rows.len());
    for row in rows {
        if DB::execute(conn, DB::DELETE_TOKEN, &[Arg::Text(&row.key)]).await? > 0 {
            ended.push(row.ended()?);
        }
    }
    Ok(ended)
}

impl<DB: Execute> DjangoStore<DB> {
    /// Deletes the user's rows `doomed` picks, in one write transaction holding them.
    async fn delete_where(
        &self,
        user: i64,
        doomed: impl Fn(&KeyRow) -> bool + Send,
    ) -> Result<Vec<Ended>, Error> {
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        let mut rows = DB::tokens(&mut tx, DB::LOCKED_TOKENS_OF_USER, &[Arg::Int(user)]).await?;
        common::sort(&mut rows);
        let doomed: Vec<&KeyRow> = rows.iter().filter(|row| doomed(row)).collect();
        let ended = delete_keys::<DB>(&mut tx, &doomed).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// The user's rows, outside any transaction.
    async fn rows_of(&self, user: i64) -> Result<Vec<KeyRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        DB::tokens(&mut conn, DB::TOKENS_OF_USER, &[Arg::Int(user)]).await
    }
}

impl<DB: Execute> TokenStore for DjangoStore<DB> {
    type Error = Error;

    /// What DRF's `authtoken_token` holds: one key per user, its `created`, nothing
    /// else (see the [crate docs](crate)); ids are derived from the row.
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }

    #[tracing::instrument(skip_all)]
    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        let Some(user) = common::django_id(user) else {
            return Ok(TokenSet::default());
        };
        common::token_set(self.rows_of(user).await?)
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        let Some(user) = common::django_id(user) else {
            return Err(Error::Unsupported("a user id that is not an integer"));
        };
        let insert = change.insert.as_ref().map(common::key_to_insert).transpose()?;
        // SQLite's write transaction (`BEGIN IMMEDIATE`) takes the write lock before
        // anything is read: no other writer, Django included, enters until it ends.
        let mut tx = self.pool.begin_with(DB::BEGIN_WRITE).await?;
        // The user's password first (PostgreSQL: its row locked `FOR SHARE`), so that
        // it cannot change, by tokenauth or by Django, until this commits: a key is
        // inserted only while the password is the one it was issued under. Every
        // writer of both tables here locks the user before its token, so they cannot
        // deadlock.
        let password = DB::text(&mut tx, DB::PASSWORD_FOR_COMMIT, &[Arg::Int(user)]).await?;
        // Then the token's row (PostgreSQL: `FOR UPDATE`): the comparison and the
        // writes are one step for every other writer of this user's row.
        let mut rows = DB::tokens(&mut tx, DB::LOCKED_TOKENS_OF_USER, &[Arg::Int(user)]).await?;
        common::sort(&mut rows);
        if common::version_of(&rows) != expected || !common::issued_under(&change, password.as_deref()) {
            return Ok(Committed::Conflict);
        }
        let ended = delete_keys::<DB>(&mut tx, &common::doomed(&rows, &change)).await?;
        if let (Some(key), Some(record)) = (insert, &change.insert) {
            let args = [Arg::Text(&key), Arg::Time(record.created), Arg::Int(user)];
            if DB::execute(&mut tx, DB::INSERT_TOKEN, &args).await? == 0 {
                // The user holds a token still (DRF's one per user): decide again.
                return Ok(Committed::Conflict);
            }
        }
        tx.commit().await?;
        Ok(Committed::Applied { ended })
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        let Some(key) = digest.drf_key() else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        let rows = DB::tokens(&mut conn, DB::TOKEN_BY_KEY, &[Arg::Text(key.expose_secret())]).await?;
        rows.first().map(KeyRow::record).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        let Some(user) = common::user_of(id) else {
            return Ok(None);
        };
        let rows = self.rows_of(user).await?;
        rows.iter()
            .find(|r| &r.id() == id)
            .map(KeyRow::record)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        let mut rows = match user {
            Some(user) => {
                let Some(user) = common::django_id(user) else {
                    return Ok(Vec::new());
                };
                self.rows_of(user).await?
            }
            None => DB::tokens(&mut *self.pool.acquire().await?, DB::ALL_TOKENS, &[]).await?,
        };
        common::sort(&mut rows);
        rows.iter().map(KeyRow::record).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        let Some(user) = common::user_of(id) else {
            return Ok(None);
        };
        let ended = self.delete_where(user, |row| &row.id() == id).await?;
        Ok(ended.into_iter().next())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        let Some(user) = common::django_id(user) else {
            return Ok(Vec::new());
        };
        self.delete_where(user, |row| Some(&row.id()) != keep).await
    }

    /// DRF's table has no last-used column: uses are not written (and idle expiry
    /// cannot apply in this mode).
    async fn record_usage(&self, _uses: &[Usage]) -> Result<(), Error> {
        Ok(())
    }

    /// Only `created_before` can match: DRF's rows have no expiry or last use of
    /// their own.
    #[tracing::instrument(skip_all)]
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // SQLite: Django's text compares in time order (same width, the fraction sorts
        // after its absence), as long as the bound is written the same way.
        let args = [Arg::Time(bounds.created_before), Arg::Int(limit)];
        let mut conn = self.pool.acquire().await?;
        let rows = DB::tokens(&mut conn, DB::PURGE_TOKENS, &args).await?;
        rows.iter().map(KeyRow::ended).collect()
    }
}
