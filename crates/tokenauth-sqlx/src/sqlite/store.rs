//! The SQLite token store.

use std::fmt;

use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokenauth_core::store::{Change, Committed, Ended, PurgeBounds, TokenSet};
use tokenauth_core::{TokenDigest, TokenId, TokenRecord, TokenStore, Usage, UserId};

use super::durable::Durable;
use super::{from_micros, to_micros};
use crate::Error;
use crate::rows::{self, ended_from_rows, returning_ended, set_version_from, token_columns};

/// Uses per `UPDATE` of [`record_usage`](TokenStore::record_usage): 3 parameters each,
/// well under SQLite's limit of 32,766 parameters a statement.
const USAGE_CHUNK: usize = 1000;

/// A [`TokenStore`] in the `tokenauth_tokens` table of a SQLite database.
///
/// Clones share the pool. The tables are created by the migrations that [`connect`]
/// (or [`migrate`]) runs.
///
/// The per-user compare-and-swap ([`token_set`](TokenStore::token_set) +
/// [`commit`](TokenStore::commit)) keeps each user's set version in
/// `tokenauth_token_sets`: `token_set` reads the version and the records in one read
/// transaction (one snapshot under WAL), and `commit` compares the version, deletes,
/// inserts and writes `version + 1` in one `BEGIN IMMEDIATE` transaction, so concurrent
/// commits of one user queue up for SQLite's write lock and the later one sees the
/// conflict. The [`purge`](TokenStore::purge) finds records through indexes and deletes
/// at most `limit` of them per call, so no call holds the write lock for long.
///
/// A record's credential version (a `u64`) is kept in an INTEGER column as the `i64`
/// with the same bits: versions up to `i64::MAX`, the only ones
/// [`SqliteUserDirectory`](crate::SqliteUserDirectory) gives out, read the same in raw
/// SQL, and larger ones (from other directories) round-trip too.
///
/// `Debug` prints no connection details.
///
/// ```no_run
/// use tokenauth_sqlx::{SqliteStore, connect};
///
/// # async fn example() -> Result<(), tokenauth_sqlx::Error> {
/// let store = SqliteStore::new(connect("sqlite://tokenauth.db").await?);
/// # Ok(()) }
/// ```
///
/// [`connect`]: crate::connect
/// [`migrate`]: crate::migrate
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// A store on `pool`, whose database must have been migrated.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The pool the store queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// A `tokenauth_tokens` row as read, times in Unix microseconds.
pub(super) type Row = rows::Row<i64>;

/// A deleted row as returned, `created` in Unix microseconds.
type EndedRow = rows::EndedRow<i64>;

/// A query reading [`Row`]s, with `$rest` (a `WHERE` or `ORDER BY` clause) appended.
macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT ", token_columns!(), " FROM tokenauth_tokens ", $rest)
    };
}

/// Deletes at most `?4` records matching `PurgeBounds`: `?1` (`created_before`), `?2`
/// (`expires_before`), `?3` (`active_before`, or NULL).
///
/// Every term of the `OR` is answered by an index (`tokenauth_tokens_created`,
/// `_expires`, `_last_active`), so no call scans the table. A NULL bound or column makes
/// its term NULL, which selects nothing, as in `PurgeBounds::matches`.
const PURGE: &str = concat!(
    "DELETE FROM tokenauth_tokens WHERE id IN (\
     SELECT id FROM tokenauth_tokens \
     WHERE created < ?1 OR expires < ?2 OR COALESCE(last_used, created) < ?3 \
     LIMIT ?4)",
    returning_ended!()
);

/// A user's records, oldest first: what [`TokenStore::token_set`] reads.
const USER_RECORDS: &str = select!("WHERE user_id = ? ORDER BY created, id");

pub(super) fn record_from_row(row: Row) -> Result<TokenRecord, Error> {
    rows::record_from_row(row, from_micros)
}

/// Inserts the row of `record`; a duplicate id or digest fails the UNIQUE constraints.
async fn insert_row(conn: &mut SqliteConnection, record: &TokenRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO tokenauth_tokens \
         (id, digest, user_id, credential_version, name, scopes, created, expires, last_used, last_ip) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(record.id.as_str())
    .bind(record.digest.as_bytes().as_slice())
    .bind(record.user_id.as_str())
    .bind(record.credential_version.cast_signed())
    .bind(record.name.as_deref())
    .bind(record.scopes.to_string())
    .bind(to_micros(record.created)?)
    .bind(record.expires.map(to_micros).transpose()?)
    .bind(record.last_used.map(to_micros).transpose()?)
    .bind(record.last_ip.map(|ip| ip.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// The version of `user`'s token set: 0 if it has no row.
async fn set_version(conn: &mut SqliteConnection, user: &UserId) -> Result<u64, Error> {
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT version FROM tokenauth_token_sets WHERE user_id = ?")
            .bind(user.as_str())
            .fetch_optional(conn)
            .await?;
    stored.map_or(Ok(0), set_version_from)
}

/// [`TokenStore::commit`] on `conn`.
async fn commit_on(
    conn: &mut SqliteConnection,
    user: &UserId,
    expected: u64,
    change: Change,
) -> Result<Committed, Error> {
    // IMMEDIATE takes the write lock before the version is read, so concurrent
    // commits queue up (for up to the busy timeout) instead of all reading the same
    // version. An error drops `tx`, which rolls it back: nothing is written.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let version = set_version(&mut tx, user).await?;
    if version != expected {
        // Release the write lock now rather than when the connection is next used.
        tx.rollback().await?;
        return Ok(Committed::Conflict);
    }
    // The insert first, so that a duplicate of any stored id or digest (including
    // one about to be deleted) fails before anything is written.
    if let Some(record) = &change.insert {
        insert_row(&mut tx, record).await?;
    }
    let inserted = change.insert.as_ref().map(|r| r.id.as_str());
    let mut deleted = Vec::with_capacity(change.delete.len());
    for id in change.delete.iter().filter(|id| Some(id.as_str()) != inserted) {
        let row: Option<EndedRow> = sqlx::query_as(concat!(
            "DELETE FROM tokenauth_tokens WHERE id = ? AND user_id = ?",
            returning_ended!()
        ))
        .bind(id.as_str())
        .bind(user.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        deleted.extend(row);
    }
    // version + 1, from the version just compared under the same lock.
    sqlx::query(
        "INSERT INTO tokenauth_token_sets (user_id, version) VALUES (?, 1) \
             ON CONFLICT (user_id) DO UPDATE SET version = version + 1",
    )
    .bind(user.as_str())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Committed::Applied {
        ended: ended_from_rows(deleted)?,
    })
}

impl TokenStore for SqliteStore {
    type Error = Error;

    fn is_unavailable(error: &Error) -> bool {
        error.is_unavailable()
    }

    #[tracing::instrument(skip_all)]
    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        // One read transaction: under WAL both reads see the same snapshot, so the rows
        // are exactly those of the version read.
        let mut tx = self.pool.begin().await?;
        let version = set_version(&mut tx, user).await?;
        let rows: Vec<Row> = sqlx::query_as(USER_RECORDS)
            .bind(user.as_str())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let records = rows.into_iter().map(record_from_row).collect::<Result<_, _>>()?;
        Ok(TokenSet { version, records })
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        // A change that deletes revokes: durable. A plain insert (a login) is not.
        if change.delete.is_empty() {
            let mut conn = self.pool.acquire().await?;
            commit_on(&mut conn, user, expected, change).await
        } else {
            let mut conn = Durable::acquire(&self.pool).await?;
            let committed = commit_on(&mut conn, user, expected, change).await;
            conn.release().await;
            committed
        }
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        sqlx::query_as::<_, Row>(select!("WHERE digest = ?"))
            .bind(digest.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await?
            .map(record_from_row)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        sqlx::query_as::<_, Row>(select!("WHERE id = ?"))
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
        let mut conn = Durable::acquire(&self.pool).await?;
        let row: Result<Option<EndedRow>, _> = sqlx::query_as(concat!(
            "DELETE FROM tokenauth_tokens WHERE id = ?",
            returning_ended!()
        ))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await;
        conn.release().await;
        Ok(ended_from_rows(row?.into_iter().collect())?.pop())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        let mut conn = Durable::acquire(&self.pool).await?;
        let rows: Result<Vec<EndedRow>, _> = sqlx::query_as(concat!(
            "DELETE FROM tokenauth_tokens WHERE user_id = ? AND id IS NOT ?",
            returning_ended!()
        ))
        .bind(user.as_str())
        .bind(keep.map(TokenId::as_str))
        .fetch_all(&mut *conn)
        .await;
        conn.release().await;
        ended_from_rows(rows?)
    }

    #[tracing::instrument(skip_all, fields(count = uses.len()))]
    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Error> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // One statement per chunk, not per use: each statement is a round trip to the
        // connection's worker thread, and a flush after a busy minute holds tens of
        // thousands of uses (seconds of CPU one by one, taken from requests).
        for chunk in uses.chunks(USAGE_CHUNK) {
            let mut update = QueryBuilder::<Sqlite>::new(
                // Only ever forward: an older use changes nothing, and a newer one
                // without an address keeps the last known address.
                "UPDATE tokenauth_tokens SET last_used = v.column2, \
                 last_ip = COALESCE(v.column3, last_ip) FROM (",
            );
            let mut values = Vec::with_capacity(chunk.len());
            for usage in chunk {
                values.push((
                    usage.id.as_str(),
                    to_micros(usage.at)?,
                    usage.ip.map(|ip| ip.to_string()),
                ));
            }
            update.push_values(values, |mut row, (id, at, ip)| {
                row.push_bind(id).push_bind(at).push_bind(ip);
            });
            update.push(
                ") AS v WHERE tokenauth_tokens.id = v.column1 \
                 AND (tokenauth_tokens.last_used IS NULL OR tokenauth_tokens.last_used <= v.column2)",
            );
            update.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        let rows: Vec<EndedRow> = sqlx::query_as(PURGE)
            .bind(to_micros(bounds.created_before)?)
            .bind(to_micros(bounds.expires_before)?)
            .bind(bounds.active_before.map(to_micros).transpose()?)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        ended_from_rows(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `detail` column of `EXPLAIN QUERY PLAN` for `query`, with every parameter
    /// bound to an integer.
    async fn plan(pool: &SqlitePool, query: &str, parameters: usize) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {query}");
        let mut plan = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
        for i in 0..parameters {
            plan = plan.bind(i64::try_from(i).expect("few parameters"));
        }
        let rows = plan.fetch_all(pool).await.expect("explain");
        rows.into_iter().map(|(.., detail)| detail).collect()
    }

    /// The purge and a user's token set stay cheap on a large table: they search
    /// indexes and never scan `tokenauth_tokens`.
    #[tokio::test]
    async fn purge_and_token_set_queries_use_indexes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let pool = super::super::connect(&url).await.expect("connect");

        let purge = plan(&pool, PURGE, 4).await;
        assert!(purge.iter().all(|step| !step.starts_with("SCAN")), "{purge:#?}");
        for index in [
            "tokenauth_tokens_created",
            "tokenauth_tokens_expires",
            "tokenauth_tokens_last_active",
        ] {
            assert!(
                purge.iter().any(|step| step.contains(index)),
                "{index}: {purge:#?}"
            );
        }

        let set = plan(&pool, USER_RECORDS, 1).await;
        assert!(
            set.iter()
                .any(|step| step
                    .starts_with("SEARCH tokenauth_tokens USING INDEX tokenauth_tokens_user_created")),
            "{set:#?}"
        );
        assert!(set.iter().all(|step| !step.starts_with("SCAN")), "{set:#?}");
    }
}
