//! What PostgreSQL does its own way: `TIMESTAMPTZ` times, writes run again after a
//! serialization failure or a deadlock (the crate's `retry.rs`), `commit` that locks the user's
//! set version first, and batches bound as arrays (`unnest`).

use std::collections::BTreeMap;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgQueryResult;
use sqlx::{PgConnection, PgPool, Postgres};
use time::OffsetDateTime;
use tokenauth_core::store::{Change, Committed, Usage};
use tokenauth_core::{TokenId, UserId};

use crate::Error;
use crate::dialect::{Deletion, Dialect, UserWrite, retrying};
use crate::rows::{Row, UserRow, ended_from_rows, returning_ended};
use crate::store::{EndedRow, SqlStore};
use crate::{retry, returning};

impl Dialect for Postgres {
    const STORE: &'static str = "PostgresStore";
    const DIRECTORY: &'static str = "PostgresUserDirectory";

    /// `TIMESTAMPTZ`: microseconds, as core's records.
    type Time = OffsetDateTime;

    fn to_time(time: OffsetDateTime) -> Result<OffsetDateTime, Error> {
        Ok(time)
    }

    fn from_time(stored: OffsetDateTime, _: &'static str) -> Result<OffsetDateTime, Error> {
        Ok(stored)
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }

    /// None: every query is a round trip to the server anyway.
    type Reader = ();

    async fn read_token(_: &(), _: &PgPool, _: &[u8]) -> Option<Option<Row<Self::Time>>> {
        None
    }

    async fn read_user(_: &(), _: &PgPool, _: i64) -> Option<Option<UserRow>> {
        None
    }

    /// Any connection: with the default `synchronous_commit = on`, every commit is
    /// durable once answered.
    type Revoking = PoolConnection<Postgres>;

    async fn revoking(pool: &PgPool) -> Result<PoolConnection<Postgres>, Error> {
        Ok(pool.acquire().await?)
    }

    async fn release(_: PoolConnection<Postgres>) {}

    async fn again(error: &Error, tries: u32) -> bool {
        retry::again(error, tries).await
    }

    async fn commit(pool: &PgPool, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        retrying::<Postgres, _, _, _>(|| commit_once(pool, user, expected, &change)).await
    }

    async fn delete_tokens(
        conn: &mut PgConnection,
        deletion: Deletion<'_, Self::Time>,
    ) -> Result<Vec<EndedRow<Self>>, Error> {
        returning::delete_tokens::<Self>(conn, deletion).await
    }

    async fn write_user(conn: &mut PgConnection, write: UserWrite<'_>) -> Result<Option<UserRow>, Error> {
        returning::write_user::<Self>(conn, write).await
    }

    /// One statement for the whole batch, not a round trip per use.
    async fn record_usage(pool: &PgPool, uses: &[Usage]) -> Result<(), Error> {
        let ids: Vec<&str> = uses.iter().map(|usage| usage.id.as_str()).collect();
        let ats: Vec<OffsetDateTime> = uses.iter().map(|usage| usage.at).collect();
        let ips: Vec<Option<String>> = uses
            .iter()
            .map(|usage| usage.ip.map(|ip| ip.to_string()))
            .collect();
        retrying::<Postgres, _, _, _>(|| async {
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
            .execute(pool)
            .await?)
        })
        .await?;
        Ok(())
    }

    /// An upsert, then a delete of the keys no longer set: two processes storing at
    /// once (two `serve` starting together) wait for each other's row locks instead of
    /// one failing on the other's unique key.
    async fn replace_settings(
        pool: &PgPool,
        prefix: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let (keys, values): (Vec<&str>, Vec<&str>) =
            settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).unzip();
        retrying::<Postgres, _, _, _>(|| async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO tokenauth_settings (key, value) \
                 SELECT * FROM unnest($1::text[], $2::text[]) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&keys)
            .bind(&values)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM tokenauth_settings WHERE starts_with(key, $1) AND key <> ALL($2)")
                .bind(prefix)
                .bind(&keys)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
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

/// One attempt at [`TokenStore::commit`](tokenauth_core::store::TokenStore::commit), in one
/// transaction at PostgreSQL's default `READ COMMITTED`: the version first (zero rows
/// moved is a conflict), whose row lock makes every other commit of the user wait
/// (and then find the version changed) while the insert and the deletes (of that
/// user's rows only) follow.
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
        SqlStore::<Postgres>::insert_row(&mut tx, record).await?;
    }
    let inserted = change.insert.as_ref().map(|r| r.id.as_str());
    let delete: Vec<&str> = change.delete.iter().map(TokenId::as_str).collect();
    let deleted: Vec<EndedRow<Postgres>> = sqlx::query_as(concat!(
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
