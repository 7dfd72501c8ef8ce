//! DRF's `authtoken_token` table as a [`TokenStore`], once for every dialect.

use std::fmt;
use std::sync::Arc;

use sqlx::Pool;
use time::OffsetDateTime;
use tokenauth_core::store::{
    Capabilities, Change, Committed, Ended, PrefetchedUser, PurgeBounds, TokenDigest, TokenRecord, TokenSet,
    TokenStore, Usage,
};
use tokenauth_core::{TokenId, UserId};

use crate::Error;
use crate::common::{self, KeyRow};
use crate::dialect::{Arg, Dialect, Execute};
use crate::rows::TokenRows;
use crate::statements::Statements;
use crate::tables::DjangoTables;

/// A [`TokenStore`] on DRF's `authtoken_token` table (`key` 40 hex characters,
/// primary key; `created`; `user_id` unique, the user table's key), named per dialect:
/// [`SqliteStore`](crate::sqlite::SqliteStore),
/// [`PostgresStore`](crate::postgres::PostgresStore). See the [crate docs](crate) for
/// what this table can and cannot hold.
pub struct DjangoStore<DB: Dialect> {
    rows: TokenRows<DB>,
}

impl<DB: Dialect> DjangoStore<DB> {
    /// A store on `pool`, its tokens' users in Django's own `auth_user` (see the
    /// dialect's `connect`); for another user model, [`DjangoTables::store`].
    pub fn new(pool: Pool<DB>) -> Self {
        DjangoTables::stock(pool).store()
    }

    pub(crate) fn on(pool: Pool<DB>, sql: Arc<Statements>) -> Self {
        Self {
            rows: TokenRows { pool, sql },
        }
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.rows.pool
    }
}

impl<DB: Dialect> Clone for DjangoStore<DB> {
    fn clone(&self) -> Self {
        Self {
            rows: self.rows.clone(),
        }
    }
}

impl<DB: Dialect> fmt::Debug for DjangoStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(DB::STORE).finish_non_exhaustive()
    }
}

impl<DB: Execute> DjangoStore<DB> {
    /// [`TokenStore::commit`], a transaction rolled back by the database reported as
    /// its error.
    async fn try_commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        let Some(user) = self.rows.key_of(user) else {
            return Err(Error::Unsupported("a user id that is not the user table's key"));
        };
        let insert = change.insert.as_ref().map(common::key_to_insert).transpose()?;
        let Some((mut tx, gone)) = self.rows.begin_commit(&user, expected, &change).await? else {
            return Ok(Committed::Conflict);
        };
        if let (Some(key), Some(record)) = (insert, &change.insert) {
            let args = [Arg::Text(&key), Arg::Time(record.created), user.arg()];
            let sql = &self.rows.sql;
            if DB::insert(&mut tx, &sql.insert_token, &args, sql.token_conflict).await? == 0 {
                // The user holds a token still (DRF's one per user): decide again.
                return Ok(Committed::Conflict);
            }
        }
        tx.commit().await?;
        let ended = gone.iter().map(KeyRow::ended).collect::<Result<_, _>>()?;
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
        common::token_set(self.rows.list(Some(user)).await?)
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        TokenRows::<DB>::conflict_if_rolled_back(self.try_commit(user, expected, change).await)
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        let Some(key) = digest.drf_key() else {
            return Ok(None);
        };
        let rows = self.rows.by_key(key.expose_secret()).await?;
        rows.first().map(KeyRow::record).transpose()
    }

    /// The token and its user in one query (DRF's `select_related("user")`), for a
    /// directory on the same pool and user table.
    #[tracing::instrument(skip_all)]
    async fn find_with_user_to_authenticate(
        &self,
        digest: &TokenDigest,
        _now: OffsetDateTime,
    ) -> Result<Option<(Arc<TokenRecord>, PrefetchedUser)>, Error> {
        let Some(key) = digest.drf_key() else {
            return Ok(None);
        };
        let rows = self.rows.by_key_with_users(key.expose_secret()).await?;
        let Some((row, user)) = rows.into_iter().next() else {
            return Ok(None);
        };
        let record = row.record()?;
        // Whatever the collation matched, only this digest counts (as `find_to_authenticate`).
        if record.digest != *digest {
            return Ok(None);
        }
        Ok(Some((Arc::new(record), PrefetchedUser::new(user))))
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        self.rows
            .by_id(id)
            .await?
            .as_ref()
            .map(KeyRow::record)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        self.rows.list(user).await?.iter().map(KeyRow::record).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        self.rows
            .delete(id)
            .await?
            .as_ref()
            .map(KeyRow::ended)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        let gone = self.rows.delete_for_user(user, keep).await?;
        gone.iter().map(KeyRow::ended).collect()
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
        let rows = self.rows.purge(&args).await?;
        rows.iter().map(KeyRow::ended).collect()
    }
}
