//! What MySQL and MariaDB do their own way: no `RETURNING` (rows are read with
//! `SELECT ... FOR UPDATE`, then written, in one transaction), `?` parameters and
//! lists, `READ COMMITTED` write transactions, and writes run again after a deadlock.

use std::collections::BTreeMap;

use sqlx::mysql::MySqlQueryResult;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Executor, MySql, MySqlConnection, MySqlPool, QueryBuilder, Transaction};
use time::OffsetDateTime;
use tokenauth_core::UserId;
use tokenauth_core::store::{Change, Committed, Usage};

use super::statements::{ended_columns, user_columns};
use crate::Error;
use crate::dialect::{Deletion, Dialect, UserWrite, retrying};
use crate::micros::{from_micros, to_micros};
use crate::retry;
use crate::rows::{EndedRow, Row, UserRow, ended_from_rows};
use crate::store::SqlStore;

/// Uses per `UPDATE` of `record_usage`: 3 parameters each, well under MySQL's limit of
/// 65,535 parameters a statement.
const USAGE_CHUNK: usize = 1000;

/// MySQL's error number for a duplicate key.
const DUPLICATE_KEY: u16 = 1062;

/// A transaction on `conn` at `READ COMMITTED`. The default, `REPEATABLE READ`, takes
/// gap locks on every range a locking read or a write searches, so concurrent
/// commits of different users (or a purge beside logins) deadlock on each other's
/// gaps; at `READ COMMITTED` a write locks only the rows it finds. Every compare this
/// crate makes is a locking read or an `UPDATE`, which read the newest committed row
/// at any level.
pub(super) async fn begin(conn: &mut MySqlConnection) -> Result<Transaction<'_, MySql>, Error> {
    // `SET TRANSACTION` (not `SESSION`) applies to the next transaction only.
    // Through `Executor`, as `RawSql::execute`'s bounds cannot be met here.
    Executor::execute(
        &mut *conn,
        sqlx::raw_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"),
    )
    .await?;
    Ok(conn.begin().await?)
}

/// Whether `error` is MySQL's duplicate-key error.
pub(super) fn is_duplicate_key(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|error| error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .is_some_and(|error| error.number() == DUPLICATE_KEY)
}

impl Dialect for MySql {
    const STORE: &'static str = "MySqlStore";
    const DIRECTORY: &'static str = "MySqlUserDirectory";

    /// Whole Unix microseconds, in a BIGINT column.
    type Time = i64;

    fn to_time(time: OffsetDateTime) -> Result<i64, Error> {
        to_micros(time)
    }

    fn from_time(stored: i64, what: &'static str) -> Result<OffsetDateTime, Error> {
        from_micros(stored, what)
    }

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }

    /// None: every query is a round trip to the server anyway.
    type Reader = ();

    async fn read_token(_: &(), _: &MySqlPool, _: &[u8]) -> Option<Option<Row<i64>>> {
        None
    }

    async fn read_user(_: &(), _: &MySqlPool, _: i64) -> Option<Option<UserRow>> {
        None
    }

    /// Any connection: with InnoDB's default `innodb_flush_log_at_trx_commit = 1`, every
    /// commit is durable once answered.
    type Revoking = PoolConnection<MySql>;

    async fn revoking(pool: &MySqlPool) -> Result<PoolConnection<MySql>, Error> {
        Ok(pool.acquire().await?)
    }

    async fn release(_: PoolConnection<MySql>) {}

    /// After a deadlock (error 1213, SQLSTATE 40001), which InnoDB answers by rolling
    /// back the whole transaction.
    async fn again(error: &Error, tries: u32) -> bool {
        retry::again(error, tries).await
    }

    async fn commit(
        pool: &MySqlPool,
        user: &UserId,
        expected: u64,
        change: Change,
    ) -> Result<Committed, Error> {
        retrying::<MySql, _, _, _>(|| commit_once(pool, user, expected, &change)).await
    }

    /// The rows first, read with `SELECT ... FOR UPDATE` (which locks them: nothing
    /// else deletes or changes them before this transaction ends), then a `DELETE` of
    /// exactly those, by id.
    async fn delete_tokens(
        conn: &mut MySqlConnection,
        deletion: Deletion<'_, i64>,
    ) -> Result<Vec<EndedRow<i64>>, Error> {
        let mut tx = begin(conn).await?;
        let query = match deletion {
            Deletion::Token(id) => sqlx::query_as(concat!(
                "SELECT ",
                ended_columns!(),
                " FROM tokenauth_tokens WHERE id = ? FOR UPDATE"
            ))
            .bind(id),
            Deletion::User { user, keep } => sqlx::query_as(concat!(
                "SELECT ",
                ended_columns!(),
                " FROM tokenauth_tokens WHERE user_id = ? AND NOT (id <=> ?) FOR UPDATE"
            ))
            .bind(user)
            .bind(keep),
            Deletion::Purge {
                created_before,
                expires_before,
                active_before,
                limit,
            } => sqlx::query_as(concat!(
                "SELECT ",
                ended_columns!(),
                " FROM tokenauth_tokens \
                 WHERE created < ? OR expires < ? OR last_active < ? LIMIT ? FOR UPDATE"
            ))
            .bind(created_before)
            .bind(expires_before)
            .bind(active_before)
            .bind(limit),
        };
        let rows: Vec<EndedRow<i64>> = query.fetch_all(&mut *tx).await?;
        delete_by_id(&mut tx, rows.iter().map(|row| row.0.as_str())).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The write, then the row read back (for a deletion: read, locked, first) in the
    /// same transaction.
    async fn write_user(conn: &mut MySqlConnection, write: UserWrite<'_>) -> Result<Option<UserRow>, Error> {
        const FIND: &str = concat!("SELECT ", user_columns!(), " FROM tokenauth_users WHERE id = ?");
        const LOCK: &str = concat!(
            "SELECT ",
            user_columns!(),
            " FROM tokenauth_users WHERE id = ? FOR UPDATE"
        );
        let mut tx = begin(conn).await?;
        let id = match write {
            UserWrite::Create {
                username,
                password_hash,
                is_active,
            } => {
                let created = sqlx::query(
                    "INSERT INTO tokenauth_users (username, password_hash, is_active) VALUES (?, ?, ?)",
                )
                .bind(username)
                .bind(password_hash)
                .bind(is_active)
                .execute(&mut *tx)
                .await;
                match created {
                    Ok(result) => i64::try_from(result.last_insert_id()).map_err(|_| Error::Corrupt {
                        what: "a new user's id is past BIGINT",
                    })?,
                    // The UNIQUE key on the name decides: the name is taken.
                    Err(error) if is_duplicate_key(&error) => return Ok(None),
                    Err(error) => return Err(error.into()),
                }
            }
            UserWrite::SetPasswordHash { id, password_hash } => {
                sqlx::query(
                    "UPDATE tokenauth_users SET password_hash = ?, \
                     credential_version = credential_version + 1 WHERE id = ?",
                )
                .bind(password_hash)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                id
            }
            UserWrite::BumpCredentialVersion { id } => {
                sqlx::query(
                    "UPDATE tokenauth_users SET credential_version = credential_version + 1 WHERE id = ?",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                id
            }
            UserWrite::SetActive { id, is_active } => {
                sqlx::query("UPDATE tokenauth_users SET is_active = ? WHERE id = ?")
                    .bind(is_active)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
            UserWrite::Delete { id } => {
                let row: Option<UserRow> = sqlx::query_as(LOCK).bind(id).fetch_optional(&mut *tx).await?;
                sqlx::query("DELETE FROM tokenauth_users WHERE id = ?")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(row);
            }
        };
        // The row this transaction wrote (and holds locked), or none if there is no
        // such user.
        let row: Option<UserRow> = sqlx::query_as(FIND).bind(id).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// One `UPDATE ... JOIN` per chunk of uses, not a round trip per use.
    async fn record_usage(pool: &MySqlPool, uses: &[Usage]) -> Result<(), Error> {
        let mut values = Vec::with_capacity(uses.len());
        for usage in uses {
            values.push((
                usage.id.as_str(),
                to_micros(usage.at)?,
                usage.ip.map(|ip| ip.to_string()),
            ));
        }
        retrying::<MySql, _, _, _>(|| async {
            let mut conn = pool.acquire().await?;
            let mut tx = begin(&mut conn).await?;
            for chunk in values.chunks(USAGE_CHUNK) {
                let mut update = QueryBuilder::<MySql>::new("UPDATE tokenauth_tokens AS t JOIN (");
                let mut rows = update.separated(" UNION ALL ");
                for (id, at, ip) in chunk {
                    rows.push("SELECT ")
                        .push_bind_unseparated(*id)
                        .push_unseparated(" AS id, ")
                        .push_bind_unseparated(*at)
                        .push_unseparated(" AS at, ")
                        .push_bind_unseparated(ip.clone())
                        .push_unseparated(" AS ip");
                }
                // Only ever forward: an older use changes nothing, and a newer one
                // without an address keeps the last known address.
                update.push(
                    ") AS v ON t.id = v.id \
                     SET t.last_used = v.at, t.last_ip = COALESCE(v.ip, t.last_ip) \
                     WHERE t.last_used IS NULL OR t.last_used <= v.at",
                );
                update.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// An upsert (`ON DUPLICATE KEY UPDATE`), then a delete of the keys no longer set,
    /// in one transaction: two processes storing at once (two `serve` starting
    /// together) wait for each other's row locks, and one that InnoDB picks as a
    /// deadlock's victim runs again.
    async fn replace_settings(
        pool: &MySqlPool,
        prefix: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<(), Error> {
        retrying::<MySql, _, _, _>(|| async {
            let mut conn = pool.acquire().await?;
            let mut tx = begin(&mut conn).await?;
            let mut delete = QueryBuilder::<MySql>::new("DELETE FROM tokenauth_settings WHERE LOCATE(");
            delete.push_bind(prefix).push(", `key`) = 1");
            if !settings.is_empty() {
                let mut upsert = QueryBuilder::<MySql>::new("INSERT INTO tokenauth_settings (`key`, value) ");
                upsert.push_values(settings, |mut row, (key, value)| {
                    row.push_bind(key.as_str()).push_bind(value.as_str());
                });
                upsert.push(" ON DUPLICATE KEY UPDATE value = VALUES(value)");
                upsert.build().execute(&mut *tx).await?;
                delete.push(" AND `key` NOT IN ");
                delete.push_tuples(settings.keys(), |mut row, key| {
                    row.push_bind(key.as_str());
                });
            }
            delete.build().execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

/// Deletes the token rows with `ids`, in one statement (none if there are none).
async fn delete_by_id<'a>(
    conn: &mut MySqlConnection,
    ids: impl ExactSizeIterator<Item = &'a str>,
) -> Result<(), Error> {
    if ids.len() == 0 {
        return Ok(());
    }
    let mut delete = QueryBuilder::<MySql>::new("DELETE FROM tokenauth_tokens WHERE id IN ");
    delete.push_tuples(ids, |mut row, id| {
        row.push_bind(id);
    });
    delete.build().execute(conn).await?;
    Ok(())
}

/// Moves `user`'s set from version `expected` to the next, locking its row until the
/// transaction ends; false if the set is not at `expected`.
async fn bump_version(conn: &mut MySqlConnection, user: &UserId, expected: u64) -> Result<bool, Error> {
    if expected == 0 {
        // A concurrent first commit of the user holds the row's unique key: this insert
        // waits for it, then fails as a duplicate.
        let inserted = sqlx::query("INSERT INTO tokenauth_token_sets (user_id, version) VALUES (?, 1)")
            .bind(user.as_str())
            .execute(conn)
            .await;
        return match inserted {
            Ok(_) => Ok(true),
            Err(error) if is_duplicate_key(&error) => Ok(false),
            Err(error) => Err(error.into()),
        };
    }
    // No stored version exceeds i64::MAX: a larger one is not the set's.
    let Ok(expected) = i64::try_from(expected) else {
        return Ok(false);
    };
    // An `UPDATE` reads the newest committed row (at any isolation level): behind a
    // concurrent commit, it waits for its row lock, then finds the version moved.
    let bumped = sqlx::query(
        "UPDATE tokenauth_token_sets SET version = version + 1 WHERE user_id = ? AND version = ?",
    )
    .bind(user.as_str())
    .bind(expected)
    .execute(conn)
    .await?;
    Ok(bumped.rows_affected() == 1)
}

/// One attempt at [`TokenStore::commit`](tokenauth_core::store::TokenStore::commit), in one
/// `READ COMMITTED` transaction: the version first (no row moved is a conflict), whose
/// row lock makes every other commit of the user wait (and then find the version
/// moved) while the insert and the deletes (of that user's rows only) follow.
async fn commit_once(
    pool: &MySqlPool,
    user: &UserId,
    expected: u64,
    change: &Change,
) -> Result<Committed, Error> {
    let mut conn = pool.acquire().await?;
    // An error drops `tx`, which rolls it back: nothing is written.
    let mut tx = begin(&mut conn).await?;
    if !bump_version(&mut tx, user, expected).await? {
        tx.rollback().await?;
        return Ok(Committed::Conflict);
    }
    if let Some(record) = &change.insert {
        SqlStore::<MySql>::insert_row(&mut tx, record).await?;
    }
    let inserted = change.insert.as_ref().map(|r| r.id.as_str());
    let delete: Vec<&str> = change
        .delete
        .iter()
        .map(|id| id.as_str())
        .filter(|id| Some(*id) != inserted)
        .collect();
    let mut deleted: Vec<EndedRow<i64>> = Vec::new();
    if !delete.is_empty() {
        let mut select = QueryBuilder::<MySql>::new(concat!(
            "SELECT ",
            ended_columns!(),
            " FROM tokenauth_tokens WHERE user_id = "
        ));
        select.push_bind(user.as_str()).push(" AND id IN ");
        select.push_tuples(&delete, |mut row, id| {
            row.push_bind(*id);
        });
        select.push(" FOR UPDATE");
        deleted = select.build_query_as().fetch_all(&mut *tx).await?;
        delete_by_id(&mut tx, deleted.iter().map(|row| row.0.as_str())).await?;
    }
    tx.commit().await?;
    Ok(Committed::Applied {
        ended: ended_from_rows(deleted)?,
    })
}
