//! What SQLite does its own way: times in Unix microseconds, revocations on a durable
//! connection ([`Durable`]), `commit` under `BEGIN IMMEDIATE`, last uses in multi-row
//! `UPDATE`s, and settings replaced in one write transaction.

use std::collections::BTreeMap;

use sqlx::sqlite::SqliteQueryResult;
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use tokenauth_core::UserId;
use tokenauth_core::store::{Change, Committed, Usage};

use super::durable::Durable;
use super::reader::Reader;
use crate::Error;
use crate::dialect::{Deletion, Dialect, UserWrite};
use crate::micros::{from_micros, to_micros};
use crate::returning;
use crate::rows::{JoinedUser, Row, UserRow, ended_from_rows, returning_ended};
use crate::store::{EndedRow, SqlStore};

/// Uses per `UPDATE` of `record_usage`: 3 parameters each, well under SQLite's limit
/// of 32,766 parameters a statement.
const USAGE_CHUNK: usize = 1000;

/// The condition "`key` starts with `?1`", exactly (`LIKE` would ignore ASCII case and
/// need escaping).
macro_rules! starts_with {
    () => {
        "substr(key, 1, length(?1)) = ?1"
    };
}

impl Dialect for Sqlite {
    const STORE: &'static str = "SqliteStore";
    const DIRECTORY: &'static str = "SqliteUserDirectory";

    /// Whole Unix microseconds, in an INTEGER column.
    type Time = i64;

    fn to_time(time: OffsetDateTime) -> Result<i64, Error> {
        to_micros(time)
    }

    fn from_time(stored: i64, what: &'static str) -> Result<OffsetDateTime, Error> {
        from_micros(stored, what)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    /// Read-only connections of its own to the pool's file (see `reader.rs`).
    type Reader = Reader;

    async fn read_token(reader: &Reader, pool: &SqlitePool, digest: &[u8]) -> Option<Option<Row<i64>>> {
        reader.token(pool, digest).await
    }

    async fn read_user(reader: &Reader, pool: &SqlitePool, id: i64) -> Option<Option<UserRow>> {
        reader.user(pool, id).await
    }

    async fn read_token_with_user(
        reader: &Reader,
        pool: &SqlitePool,
        digest: &[u8],
    ) -> Option<Option<(Row<i64>, JoinedUser)>> {
        reader.token_with_user(pool, digest).await
    }

    fn reads_from(reader: &Reader, joined: &JoinedUser) -> bool {
        reader.reads_file(&joined.file)
    }

    /// A connection at `synchronous = FULL` for the write (see `durable.rs`).
    type Revoking = Durable;

    async fn revoking(pool: &SqlitePool) -> Result<Durable, Error> {
        Durable::acquire(pool).await
    }

    async fn release(conn: Durable) {
        conn.release().await;
    }

    /// Never: SQLite aborts no transaction for another's sake. A writer waits for the
    /// lock up to the busy timeout, then fails as unavailable (`SQLITE_BUSY`).
    async fn again(_: &Error, _: u32) -> bool {
        false
    }

    async fn commit(
        pool: &SqlitePool,
        user: &UserId,
        expected: u64,
        change: Change,
    ) -> Result<Committed, Error> {
        // A change that deletes revokes: durable. A plain insert (a login) is not.
        if change.delete.is_empty() {
            let mut conn = pool.acquire().await?;
            commit_on(&mut conn, user, expected, change).await
        } else {
            let mut conn = Durable::acquire(pool).await?;
            let committed = commit_on(&mut conn, user, expected, change).await;
            conn.release().await;
            committed
        }
    }

    async fn delete_tokens(
        conn: &mut SqliteConnection,
        deletion: Deletion<'_, Self::Time>,
    ) -> Result<Vec<EndedRow<Self>>, Error> {
        returning::delete_tokens::<Self>(conn, deletion).await
    }

    async fn write_user(conn: &mut SqliteConnection, write: UserWrite<'_>) -> Result<Option<UserRow>, Error> {
        returning::write_user::<Self>(conn, write).await
    }

    async fn record_usage(pool: &SqlitePool, uses: &[Usage]) -> Result<(), Error> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
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

    /// Deletes the prefix's settings and inserts the new ones in one `BEGIN
    /// IMMEDIATE` transaction (writers queue up for it), with `synchronous = FULL`.
    async fn replace_settings(
        pool: &SqlitePool,
        prefix: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let mut conn = Durable::acquire(pool).await?;
        let replaced = replace_settings_on(&mut conn, prefix, settings).await;
        conn.release().await;
        replaced
    }
}

/// [`TokenStore::commit`](tokenauth_core::store::TokenStore::commit) on `conn`.
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
    let version = SqlStore::<Sqlite>::set_version(&mut tx, user).await?;
    if version != expected {
        // Release the write lock now rather than when the connection is next used.
        tx.rollback().await?;
        return Ok(Committed::Conflict);
    }
    // The insert first, so that a duplicate of any stored id or digest (including
    // one about to be deleted) fails before anything is written.
    if let Some(record) = &change.insert {
        SqlStore::<Sqlite>::insert_row(&mut tx, record).await?;
    }
    let inserted = change.insert.as_ref().map(|r| r.id.as_str());
    let mut deleted = Vec::with_capacity(change.delete.len());
    for id in change.delete.iter().filter(|id| Some(id.as_str()) != inserted) {
        let row: Option<EndedRow<Sqlite>> = sqlx::query_as(concat!(
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

async fn replace_settings_on(
    conn: &mut SqliteConnection,
    prefix: &str,
    settings: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(concat!("DELETE FROM tokenauth_settings WHERE ", starts_with!()))
        .bind(prefix)
        .execute(&mut *tx)
        .await?;
    for (key, value) in settings {
        sqlx::query("INSERT INTO tokenauth_settings (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
