//! The PostgreSQL token store.

use std::fmt;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokenauth_core::store::{Change, Committed, Ended, PurgeBounds, TokenSet};
use tokenauth_core::{TokenDigest, TokenId, TokenRecord, TokenStore, Usage, UserId};

use crate::Error;
use crate::rows::{self, ended_from_rows, returning_ended, set_version_from, token_columns};

/// A [`TokenStore`] in the `tokenauth_tokens` table of a PostgreSQL database.
///
/// Clones share the pool. The tables are created by the migrations that
/// [`connect_postgres`] (or [`migrate_postgres`]) runs.
///
/// The per-user compare-and-swap ([`token_set`](TokenStore::token_set) +
/// [`commit`](TokenStore::commit)) keeps each user's set version in
/// `tokenauth_token_sets`. `token_set` reads the version, then the records. `commit`
/// runs in one transaction at PostgreSQL's default `READ COMMITTED`: first
/// `UPDATE tokenauth_token_sets SET version = version + 1 WHERE user_id = $1 AND
/// version = $2` (for an expected version of 0, `INSERT ... VALUES ($1, 1) ON CONFLICT
/// DO NOTHING`); zero rows means another commit got there first, and the transaction is
/// rolled back as [`Committed::Conflict`]. Otherwise the row lock that statement took
/// makes every other commit of the user wait (and then find the version changed) while
/// the insert and the deletes (of that user's rows only) follow. The
/// [`purge`](TokenStore::purge) finds records through indexes and deletes at most
/// `limit` of them per call.
///
/// Times are `TIMESTAMPTZ` columns (microseconds, as core's records); a record's
/// credential version (a `u64`) is kept in a `BIGINT` as the `i64` with the same bits.
///
/// `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_sqlx::{PgStore, connect_postgres};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let store = PgStore::new(connect_postgres("postgres://tokenauth@localhost/app").await?);
/// # Ok(()) }
/// ```
///
/// [`connect_postgres`]: crate::connect_postgres
/// [`migrate_postgres`]: crate::migrate_postgres
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// A store on `pool`, whose database must have been migrated.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool the store queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// A `tokenauth_tokens` row as read.
pub(super) type Row = rows::Row<OffsetDateTime>;

/// A deleted row as returned.
type EndedRow = rows::EndedRow<OffsetDateTime>;

/// A query reading [`Row`]s, with `$rest` (a `WHERE` or `ORDER BY` clause) appended.
macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT ", token_columns!(), " FROM tokenauth_tokens ", $rest)
    };
}

/// Deletes at most `$4` records matching `PurgeBounds`: `$1` (`created_before`), `$2`
/// (`expires_before`), `$3` (`active_before`, or NULL, which makes its term NULL:
/// nothing matches by it, as in `PurgeBounds::matches`). Each term of the `OR` is
/// answered by an index (`tokenauth_tokens_created`, `_expires`, `_last_active`).
const PURGE: &str = concat!(
    "DELETE FROM tokenauth_tokens WHERE id IN (\
     SELECT id FROM tokenauth_tokens \
     WHERE created < $1 OR expires < $2 OR COALESCE(last_used, created) < $3 \
     LIMIT $4)",
    returning_ended!()
);

/// A user's records, oldest first: what [`TokenStore::token_set`] reads.
const USER_RECORDS: &str = select!("WHERE user_id = $1 ORDER BY created, id");

pub(super) fn record_from_row(row: Row) -> Result<TokenRecord, Error> {
    rows::record_from_row(row, |time, _| Ok(time))
}

/// Inserts the row of `record`; a duplicate id or digest fails the UNIQUE constraints.
async fn insert_row(conn: &mut PgConnection, record: &TokenRecord) -> Result<(), Error> {
    sqlx::query(concat!(
        "INSERT INTO tokenauth_tokens (",
        token_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    ))
    .bind(record.id.as_str())
    .bind(record.digest.as_bytes().as_slice())
    .bind(record.user_id.as_str())
    .bind(record.credential_version.cast_signed())
    .bind(record.name.as_deref())
    .bind(record.scopes.to_string())
    .bind(record.created)
    .bind(record.expires)
    .bind(record.last_used)
    .bind(record.last_ip.map(|ip| ip.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves `user`'s set from version `expected` to the next, locking its row until the
/// transaction ends; false if the set is not at `expected`.
async fn bump_version(conn: &mut PgConnection, user: &UserId, expected: u64) -> Result<bool, Error> {
    let bumped = if expected == 0 {
        // A concurrent first commit of the user holds the row's unique key: this insert
        // waits for it, then does nothing.
        sqlx::query(
            "INSERT INTO tokenauth_token_sets (user_id, version) VALUES ($1, 1) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.as_str())
        .execute(conn)
        .await?
    } else {
        // No stored version exceeds i64::MAX: a larger one is not the set's.
        let Ok(expected) = i64::try_from(expected) else {
            return Ok(false);
        };
        // READ COMMITTED: behind a concurrent commit, this waits for its row lock, then
        // re-checks `version = $2` against the committed row.
        sqlx::query(
            "UPDATE tokenauth_token_sets SET version = version + 1 WHERE user_id = $1 AND version = $2",
        )
        .bind(user.as_str())
        .bind(expected)
        .execute(conn)
        .await?
    };
    Ok(bumped.rows_affected() == 1)
}

/// One attempt at [`TokenStore::commit`], in one transaction.
async fn commit_once(
    pool: &PgPool,
    user: &UserId,
    expected: u64,
    change: &Change,
) -> Result<Committed, Error> {
    // An error drops `tx`, which rolls it back: nothing is written.
    let mut tx = pool.begin().await?;
    if !bump_version(&mut tx, user, expected).await? {
        tx.rollback().await?;
        return Ok(Committed::Conflict);
    }
    if let Some(record) = &change.insert {
        insert_row(&mut tx, record).await?;
    }
    let inserted = change.insert.as_ref().map(|r| r.id.as_str());
    let delete: Vec<&str> = change.delete.iter().map(TokenId::as_str).collect();
    let deleted: Vec<EndedRow> = sqlx::query_as(concat!(
        "DELETE FROM tokenauth_tokens \
         WHERE user_id = $1 AND id = ANY($2) AND id IS DISTINCT FROM $3",
        returning_ended!()
    ))
    .bind(user.as_str())
    .bind(&delete)
    .bind(inserted)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Committed::Applied {
        ended: ended_from_rows(deleted)?,
    })
}

impl TokenStore for PgStore {
    type Error = Error;

    fn is_unavailable(error: &Error) -> bool {
        error.is_unavailable()
    }

    #[tracing::instrument(skip_all)]
    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        // The version first, then the rows (each statement sees what was committed when
        // it started): the rows are at least as new as the version, so a commit on
        // that version conflicts whenever they differ from it.
        let stored: Option<i64> =
            sqlx::query_scalar("SELECT version FROM tokenauth_token_sets WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_optional(&self.pool)
                .await?;
        let version = stored.map_or(Ok(0), set_version_from)?;
        let rows: Vec<Row> = sqlx::query_as(USER_RECORDS)
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await?;
        let records = rows.into_iter().map(record_from_row).collect::<Result<_, _>>()?;
        Ok(TokenSet { version, records })
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        super::retrying(|| commit_once(&self.pool, user, expected, &change)).await
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        sqlx::query_as::<_, Row>(select!("WHERE digest = $1"))
            .bind(digest.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?
            .map(record_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        sqlx::query_as::<_, Row>(select!("WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .map(record_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        let rows = match user {
            Some(user) => {
                sqlx::query_as::<_, Row>(USER_RECORDS)
                    .bind(user.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as::<_, Row>(select!("ORDER BY created, id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.into_iter().map(record_from_row).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        let row: Option<EndedRow> = super::retrying(|| async {
            Ok(sqlx::query_as(concat!(
                "DELETE FROM tokenauth_tokens WHERE id = $1",
                returning_ended!()
            ))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?)
        })
        .await?;
        Ok(ended_from_rows(row.into_iter().collect())?.pop())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        let rows: Vec<EndedRow> = super::retrying(|| async {
            Ok(sqlx::query_as(concat!(
                "DELETE FROM tokenauth_tokens WHERE user_id = $1 AND id IS DISTINCT FROM $2",
                returning_ended!()
            ))
            .bind(user.as_str())
            .bind(keep.map(TokenId::as_str))
            .fetch_all(&self.pool)
            .await?)
        })
        .await?;
        ended_from_rows(rows)
    }

    #[tracing::instrument(skip_all, fields(count = uses.len()))]
    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Error> {
        if uses.is_empty() {
            return Ok(());
        }
        // One statement for the whole batch, not a round trip per use.
        let ids: Vec<&str> = uses.iter().map(|usage| usage.id.as_str()).collect();
        let ats: Vec<OffsetDateTime> = uses.iter().map(|usage| usage.at).collect();
        let ips: Vec<Option<String>> = uses
            .iter()
            .map(|usage| usage.ip.map(|ip| ip.to_string()))
            .collect();
        super::retrying(|| async {
            Ok(sqlx::query(
                // Only ever forward: an older use changes nothing, and a newer one without
                // an address keeps the last known address.
                "UPDATE tokenauth_tokens AS t SET last_used = v.at, last_ip = COALESCE(v.ip, t.last_ip) \
                 FROM unnest($1::text[], $2::timestamptz[], $3::text[]) AS v(id, at, ip) \
                 WHERE t.id = v.id AND (t.last_used IS NULL OR t.last_used <= v.at)",
            )
            .bind(&ids)
            .bind(&ats)
            .bind(&ips)
            .execute(&self.pool)
            .await?)
        })
        .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        let rows: Vec<EndedRow> = super::retrying(|| async {
            Ok(sqlx::query_as(PURGE)
                .bind(bounds.created_before)
                .bind(bounds.expires_before)
                .bind(bounds.active_before)
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?)
        })
        .await?;
        ended_from_rows(rows)
    }
}
