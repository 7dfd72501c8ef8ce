//! DRF's `authtoken_token` table as a [`TokenStore`], once for every dialect.

use std::fmt;
use std::sync::Arc;

use sqlx::Pool;
use tokenauth_core::store::{
    Capabilities, Change, Committed, Ended, PurgeBounds, TokenDigest, TokenRecord, TokenSet, TokenStore,
    Usage,
};
use tokenauth_core::{TokenId, UserId};

use crate::Error;
use crate::common::{self, KeyRow};
use crate::dialect::{Arg, Dialect, Execute};
use crate::keys::StoredKey;
use crate::statements::Statements;
use crate::tables::DjangoTables;

/// A [`TokenStore`] on DRF's `authtoken_token` table (`key` 40 hex characters,
/// primary key; `created`; `user_id` unique, the user table's key), named per dialect:
/// [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore). See the [crate docs](crate) for
/// what this table can and cannot hold.
pub struct DjangoStore<DB: Dialect> {
    pool: Pool<DB>,
    sql: Arc<Statements>,
}

impl<DB: Dialect> DjangoStore<DB> {
    /// A store on `pool`, its tokens' users in Django's own `auth_user` (see the
    /// dialect's `connect`); for another user model, [`DjangoTables::store`].
    pub fn new(pool: Pool<DB>) -> Self {
        DjangoTables::stock(pool).store()
    }

    pub(crate) fn on(pool: Pool<DB>, sql: Arc<Statements>) -> Self {
        Self { pool, sql }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

impl<DB: Dialect> Clone for DjangoStore<DB> {
    fn clone(&self) -> Self {
        Self::on(self.pool.clone(), Arc::clone(&self.sql))
    }
}

impl<DB: Dialect> fmt::Debug for DjangoStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(DB::STORE).finish_non_exhaustive()
    }
}

/// Deletes `rows` by key; those that were still there, ended.
async fn delete_keys<DB: Execute>(
    conn: &mut DB::Connection,
    sql: &Statements,
    rows: &[&KeyRow],
) -> Result<Vec<Ended>, Error> {
    let mut ended = Vec::with_capacity(rows.len());
    for row in rows {
        if DB::execute(conn, &sql.delete_token, &[Arg::Text(&row.key)]).await? > 0 {
            ended.push(row.ended()?);
        }
    }
    Ok(ended)
}

impl<DB: Execute> DjangoStore<DB> {
    /// Deletes the rows `doomed` picks of the users whose keys lie between `low` and
    /// `high`, in one write transaction holding them.
    async fn delete_where(
        &self,
        (low, high): (StoredKey, StoredKey),
        doomed: impl Fn(&KeyRow) -> bool + Send,
    ) -> Result<Vec<Ended>, Error> {
        let sql = &*self.sql;
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        let args = [low.arg(), high.arg()];
        let mut rows = DB::tokens(&mut tx, &sql.locked_tokens_between, &args, sql.key()).await?;
        common::sort(&mut rows);
        let doomed: Vec<&KeyRow> = rows.iter().filter(|row| doomed(row)).collect();
        let ended = delete_keys::<DB>(&mut tx, sql, &doomed).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// The rows of the users whose keys lie between `low` and `high` (one user where
    /// they are equal), outside any transaction.
    async fn rows_between(&self, low: &StoredKey, high: &StoredKey) -> Result<Vec<KeyRow>, Error> {
        let mut conn = self.pool.acquire().await?;
        let args = [low.arg(), high.arg()];
        DB::tokens(&mut conn, &self.sql.tokens_between, &args, self.sql.key()).await
    }

    /// The user's key, if `user` is one of this table's ids.
    fn key_of(&self, user: &UserId) -> Option<StoredKey> {
        self.sql.key().stored(user)
    }

    /// [`TokenStore::commit`], a transaction rolled back by the database reported as
    /// its error.
    async fn try_commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        let Some(user) = self.key_of(user) else {
            return Err(Error::Unsupported("a user id that is not the user table's key"));
        };
        let sql = &*self.sql;
        let insert = change.insert.as_ref().map(common::key_to_insert).transpose()?;
        // SQLite's write transaction (`BEGIN IMMEDIATE`) takes the write lock before
        // anything is read: no other writer, Django included, enters until it ends.
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        // The user's password first (PostgreSQL: its row locked `FOR SHARE`), so that
        // it cannot change, by tokenauth or by Django, until this commits: a key is
        // inserted only while the password is the one it was issued under. Every
        // writer of both tables here locks the user before its token, so they cannot
        // deadlock.
        let password = DB::text(&mut tx, &sql.password_for_commit, &[user.arg()]).await?;
        // Then the token's row (PostgreSQL: `FOR UPDATE`): the comparison and the
        // writes are one step for every other writer of this user's row.
        let args = [user.arg(), user.arg()];
        let mut rows = DB::tokens(&mut tx, &sql.locked_tokens_between, &args, sql.key()).await?;
        common::sort(&mut rows);
        if common::version_of(&rows) != expected || !common::issued_under(&change, password.as_deref()) {
            return Ok(Committed::Conflict);
        }
        let ended = delete_keys::<DB>(&mut tx, sql, &common::doomed(&rows, &change)).await?;
        if let (Some(key), Some(record)) = (insert, &change.insert) {
            let args = [Arg::Text(&key), Arg::Time(record.created), user.arg()];
            if DB::insert(&mut tx, &sql.insert_token, &args, sql.token_conflict).await? == 0 {
                // The user holds a token still (DRF's one per user): decide again.
                return Ok(Committed::Conflict);
            }
        }
        tx.commit().await?;
        Ok(Committed::Applied { ended })
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
        let Some(user) = self.key_of(user) else {
            return Ok(TokenSet::default());
        };
        common::token_set(self.rows_between(&user, &user).await?)
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        match self.try_commit(user, expected, change).await {
            // Rolled back whole (MySQL's deadlock victim): nothing applied, so core
            // reads the set again and decides again, as after any conflict.
            Err(Error::Sqlx(error)) if DB::rolled_back(&error) => Ok(Committed::Conflict),
            done => done,
        }
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        let Some(key) = digest.drf_key() else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        let args = [Arg::Text(key.expose_secret())];
        let rows = DB::tokens(&mut conn, &self.sql.token_by_key, &args, self.sql.key()).await?;
        rows.first().map(KeyRow::record).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        let Some((low, high)) = self.sql.user_range(id) else {
            return Ok(None);
        };
        let rows = self.rows_between(&low, &high).await?;
        rows.iter()
            .find(|r| &r.id() == id)
            .map(KeyRow::record)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        let mut rows = match user {
            Some(user) => {
                let Some(user) = self.key_of(user) else {
                    return Ok(Vec::new());
                };
                self.rows_between(&user, &user).await?
            }
            None => {
                let mut conn = self.pool.acquire().await?;
                DB::tokens(&mut conn, &self.sql.all_tokens, &[], self.sql.key()).await?
            }
        };
        common::sort(&mut rows);
        rows.iter().map(KeyRow::record).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        let Some(range) = self.sql.user_range(id) else {
            return Ok(None);
        };
        let ended = self.delete_where(range, |row| &row.id() == id).await?;
        Ok(ended.into_iter().next())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        let Some(user) = self.key_of(user) else {
            return Ok(Vec::new());
        };
        self.delete_where((user.clone(), user), |row| Some(&row.id()) != keep)
            .await
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
        let sql = &*self.sql;
        // The rows read locked, then deleted by key, in one transaction: no dialect
        // needs `DELETE ... RETURNING` (MySQL has none).
        let mut tx = self.pool.begin_with(sql.begin_write).await?;
        let rows = DB::tokens(&mut tx, &sql.purge_tokens, &args, sql.key()).await?;
        let ended = delete_keys::<DB>(&mut tx, sql, &rows.iter().collect::<Vec<_>>()).await?;
        tx.commit().await?;
        Ok(ended)
    }
}
