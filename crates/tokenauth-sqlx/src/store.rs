//! The token store, written once for every dialect: `sqlite::SqliteStore`,
//! `postgres::PostgresStore`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sqlx::{ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Type};
use tokenauth_core::store::{
    Change, Committed, Ended, PrefetchedUser, PurgeBounds, Settings, TokenDigest, TokenImport, TokenRecord,
    TokenSet, TokenStore, Usage,
};
use tokenauth_core::time::OffsetDateTime;
use tokenauth_core::{TokenId, UserId};

use crate::Error;
use crate::dialect::{Deletion, Dialect, retrying};
use crate::rows::{self, ended_from_rows, set_version_from};

/// A [`TokenStore`] in the `tokenauth_tokens` table, on dialect `D`, written once for
/// every dialect. Name it by its dialect (`sqlite::SqliteStore`,
/// `postgres::PostgresStore`), whose docs say how each keeps its promises.
///
/// Clones share the pool. `Debug` prints no connection details.
pub struct SqlStore<D: Dialect> {
    pool: Pool<D>,
    reader: D::Reader,
}

impl<D: Dialect> SqlStore<D> {
    /// A store on `pool`, whose database must have been migrated.
    pub fn new(pool: Pool<D>) -> Self {
        Self {
            reader: D::Reader::default(),
            pool,
        }
    }

    /// The pool the store queries.
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }
}

impl<D: Dialect> Clone for SqlStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            reader: self.reader.clone(),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(D::STORE).finish_non_exhaustive()
    }
}

/// A `tokenauth_tokens` row as `D` stores it.
pub(crate) type Row<D> = rows::Row<<D as Dialect>::Time>;

/// A deleted row as `D` returns it.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) type EndedRow<D> = rows::EndedRow<<D as Dialect>::Time>;

/// The record of a row of `D`.
pub(crate) fn record<D: Dialect>(row: Row<D>) -> Result<TokenRecord, Error> {
    rows::record_from_row(row, D::from_time)
}

/// The records of rows of `D`, in their order.
pub(crate) fn records<D: Dialect>(rows: Vec<Row<D>>) -> Result<Vec<TokenRecord>, Error> {
    rows.into_iter().map(record::<D>).collect()
}

// The `where` clauses below say what the verbs bind and read; sqlx's drivers provide
// all of it, but Rust cannot state it once on `Dialect` (rust-lang/rust#20671), so each
// generic `impl` repeats it.

/// The steps `commit` is made of, and the copy of a database
/// (`tokenauth copy-database`): reading every row in pages, and writing rows as they
/// are.
impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> &'q [u8]: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> String: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> Option<String>: Encode<'q, D>,
    for<'q> Option<D::Time>: Encode<'q, D>,
    for<'q> Vec<u8>: Decode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Decode<'q, D> + Type<D>,
{
    /// The version of `user`'s token set: 0 if it has no row.
    pub(crate) async fn set_version(conn: &mut D::Connection, user: &UserId) -> Result<u64, Error> {
        let stored: Option<i64> = sqlx::query_scalar(D::SET_VERSION)
            .bind(user.as_str())
            .fetch_optional(conn)
            .await?;
        stored.map_or(Ok(0), set_version_from)
    }

    /// Inserts the row of `record`; a duplicate id or digest fails the UNIQUE
    /// constraints.
    pub(crate) async fn insert_row(conn: &mut D::Connection, record: &TokenRecord) -> Result<(), Error> {
        sqlx::query(D::INSERT_TOKEN)
            .bind(record.id.as_str())
            .bind(record.digest.as_bytes().as_slice())
            .bind(record.user_id.as_str())
            .bind(record.credential_version.cast_signed())
            .bind(record.name.as_deref())
            .bind(record.scopes.to_string())
            .bind(D::to_time(record.created)?)
            .bind(record.expires.map(D::to_time).transpose()?)
            .bind(record.last_used.map(D::to_time).transpose()?)
            .bind(record.last_ip.map(|ip| ip.to_string()))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Deletes the rows `deletion` selects as a write that ends tokens: on `D`'s
    /// connection for those ([`Dialect::revoking`]), and again after a transient
    /// conflict ([`Dialect::again`]).
    async fn ending(&self, deletion: Deletion<'_, D::Time>) -> Result<Vec<Ended>, Error> {
        let rows = retrying::<D, _, _, _>(|| async {
            let mut conn = D::revoking(&self.pool).await?;
            let rows = D::delete_tokens(&mut conn, deletion).await;
            D::release(conn).await;
            rows
        })
        .await?;
        ended_from_rows(rows)
    }

    /// Up to `limit` records with ids above `after` (from the first with `None`), by
    /// id: a page of a copy.
    #[tracing::instrument(skip_all)]
    pub async fn export_tokens(
        &self,
        after: Option<&TokenId>,
        limit: usize,
    ) -> Result<Vec<TokenRecord>, Error> {
        let rows: Vec<Row<D>> = sqlx::query_as(D::EXPORT_TOKENS)
            .bind(after.map_or("", TokenId::as_str))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        records::<D>(rows)
    }

    /// Writes `records` as they are: a record already stored under the same id is
    /// overwritten (its last use, say); a digest stored under another id fails the
    /// UNIQUE constraint, and then nothing of the batch is written. Set versions are
    /// left alone: copy them with [`copy_token_sets`](Self::copy_token_sets).
    #[tracing::instrument(skip_all, fields(count = records.len()))]
    pub async fn copy_tokens(&self, records: &[TokenRecord]) -> Result<(), Error> {
        D::copy_tokens(&self.pool, records).await
    }

    /// Every user's token-set version, by user.
    #[tracing::instrument(skip_all)]
    pub async fn export_token_sets(&self) -> Result<Vec<(UserId, u64)>, Error> {
        let rows: Vec<(String, i64)> = sqlx::query_as(D::EXPORT_TOKEN_SETS).fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|(user, version)| Ok((UserId::new(user), set_version_from(version)?)))
            .collect()
    }

    /// Sets each user's token-set version to the one given.
    #[tracing::instrument(skip_all, fields(count = sets.len()))]
    pub async fn copy_token_sets(&self, sets: &[(UserId, u64)]) -> Result<(), Error> {
        D::copy_token_sets(&self.pool, sets).await
    }
}

impl<D: Dialect> TokenStore for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> &'q [u8]: Encode<'q, D> + Type<D>,
    for<'q> Option<&'q str>: Encode<'q, D>,
    for<'q> String: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> Option<String>: Encode<'q, D>,
    for<'q> Option<D::Time>: Encode<'q, D>,
    for<'q> Vec<u8>: Decode<'q, D> + Type<D>,
    for<'q> i64: Encode<'q, D> + Decode<'q, D> + Type<D>,
    for<'q> bool: Encode<'q, D> + Decode<'q, D> + Type<D>,
{
    type Error = Error;

    fn is_unavailable(error: &Error) -> bool {
        error.is_unavailable()
    }

    #[tracing::instrument(skip_all)]
    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        // The version first, then the rows, in one read transaction: on SQLite (WAL)
        // both see one snapshot; on PostgreSQL (READ COMMITTED) each sees what was
        // committed when it started, so the rows are at least as new as the version,
        // and a commit on that version conflicts whenever they differ from it.
        let mut tx = self.pool.begin().await?;
        let version = Self::set_version(&mut tx, user).await?;
        let rows: Vec<Row<D>> = sqlx::query_as(D::USER_RECORDS)
            .bind(user.as_str())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(TokenSet {
            version,
            records: records::<D>(rows)?,
        })
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        D::commit(&self.pool, user, expected, change).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        let row = match D::read_token(&self.reader, &self.pool, digest.as_bytes()).await {
            Some(row) => row,
            None => {
                sqlx::query_as::<_, Row<D>>(D::FIND_BY_DIGEST)
                    .bind(digest.as_bytes().as_slice())
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        row.map(record::<D>).transpose()
    }

    /// On SQLite, the token and its user in one query, for a
    /// [`SqlUserDirectory`](crate::users::SqlUserDirectory) on the same file;
    /// elsewhere the token alone.
    #[tracing::instrument(skip_all)]
    async fn find_with_user_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<(Arc<TokenRecord>, PrefetchedUser)>, Error> {
        let Some(found) = D::read_token_with_user(&self.reader, &self.pool, digest.as_bytes()).await else {
            let record = self.find_to_authenticate(digest, now).await?;
            return Ok(record.map(|record| (record, PrefetchedUser::none())));
        };
        let Some((row, user)) = found else {
            return Ok(None);
        };
        let record = record::<D>(row)?;
        // Whatever the index matched, only this digest counts (as `find_to_authenticate`).
        if record.digest != *digest {
            return Ok(None);
        }
        Ok(Some((Arc::new(record), PrefetchedUser::new(user))))
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        sqlx::query_as::<_, Row<D>>(D::FIND_BY_ID)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(record::<D>)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        let rows = match user {
            Some(user) => {
                sqlx::query_as::<_, Row<D>>(D::USER_RECORDS)
                    .bind(user.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as::<_, Row<D>>(D::ALL_RECORDS)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        records::<D>(rows)
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        let mut ended = self.ending(Deletion::Token(id.as_str())).await?;
        Ok(ended.pop())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        self.ending(Deletion::User {
            user: user.as_str(),
            keep: keep.map(TokenId::as_str),
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(count = uses.len()))]
    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Error> {
        if uses.is_empty() {
            return Ok(());
        }
        D::record_usage(&self.pool, uses).await
    }

    /// Not a revocation (what it deletes has long stopped working): it commits at the
    /// connection's level, and runs again after a transient conflict.
    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        let deletion = Deletion::Purge {
            created_before: D::to_time(bounds.created_before)?,
            expires_before: D::to_time(bounds.expires_before)?,
            active_before: bounds.active_before.map(D::to_time).transpose()?,
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
        };
        let rows = retrying::<D, _, _, _>(|| async {
            let mut conn = self.pool.acquire().await?;
            D::delete_tokens(&mut conn, deletion).await
        })
        .await?;
        ended_from_rows(rows)
    }
}

/// The `tokenauth_settings` table.
impl<D: Dialect> Settings for SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    for<'q> D::Arguments<'q>: IntoArguments<'q, D>,
    usize: ColumnIndex<D::Row>,
    for<'q> &'q str: Encode<'q, D> + Type<D>,
    for<'q> String: Decode<'q, D> + Type<D>,
{
    type Error = Error;

    /// Applications and tools keep small pieces of configuration here (the
    /// `tokenauth_settings` table); the `tokenauth` server stores the policy it runs
    /// with under `policy.`.
    #[tracing::instrument(skip_all)]
    async fn settings(&self, prefix: &str) -> Result<BTreeMap<String, String>, Error> {
        let rows: Vec<(String, String)> = sqlx::query_as(D::SETTINGS)
            .bind(prefix)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().collect())
    }

    /// In one transaction. Settings change rarely and may decide what is revoked, so
    /// this commits as a revocation does (on SQLite, with `synchronous = FULL`); two
    /// processes storing at once (two `serve` starting together) both succeed, one
    /// after the other.
    #[tracing::instrument(skip_all)]
    async fn replace_settings(&self, prefix: &str, values: &BTreeMap<String, String>) -> Result<(), Error> {
        D::replace_settings(&self.pool, prefix, values).await
    }
}

impl<D: Dialect> TokenImport for SqlStore<D>
where
    Self: TokenStore<Error = Error>,
{
    /// Each batch in one transaction: every record whose id or digest is not stored
    /// yet, and a new set version for each user that gained rows.
    #[tracing::instrument(skip_all, fields(count = batch.len()))]
    async fn import_tokens(&self, batch: &[TokenRecord]) -> Result<usize, Error> {
        D::import_tokens(&self.pool, batch).await
    }
}
