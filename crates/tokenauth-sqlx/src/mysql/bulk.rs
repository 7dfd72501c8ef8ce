//! Bulk paths on MySQL and MariaDB: imports and the writes of a database copy
//! (`tokenauth copy-database`) as multi-row `INSERT`s, each batch in one transaction.
//!
//! MySQL has no `ON CONFLICT DO NOTHING`: `INSERT IGNORE` would also turn a value too
//! long for its column into a silent truncation. An import therefore reads which of
//! a chunk's keys are stored, and inserts the rest with a plain `INSERT`; a writer
//! that stores one of them between the two fails the batch with the duplicate, and
//! nothing of it is written.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::{MySql, MySqlConnection, MySqlPool, QueryBuilder};
use tokenauth_core::store::{ImportedUsers, LoginRecord, NewUser, TokenRecord};
use tokenauth_core::{User, UserId};

use super::dialect::begin;
use super::statements::user_columns;
use crate::Error;
use crate::bulk::{check_user_clashes, imported, user_row_ids};
use crate::dialect::Bulk;
use crate::micros::to_micros;
use crate::rows::{UserRow, token_columns, user_from_row};

/// Rows per `INSERT`: 10 parameters a token row, well under MySQL's limit of 65,535
/// parameters a statement.
const CHUNK: usize = 1000;

/// Inserts `records` in one multi-row `INSERT`; any stored id or digest fails it.
async fn insert_tokens(conn: &mut MySqlConnection, records: &[&TokenRecord]) -> Result<(), Error> {
    if records.is_empty() {
        return Ok(());
    }
    let mut times = Vec::with_capacity(records.len());
    for record in records {
        times.push((
            to_micros(record.created)?,
            record.expires.map(to_micros).transpose()?,
            record.last_used.map(to_micros).transpose()?,
        ));
    }
    let mut insert =
        QueryBuilder::<MySql>::new(concat!("INSERT INTO tokenauth_tokens (", token_columns!(), ") "));
    insert.push_values(
        records.iter().zip(times),
        |mut row, (record, (created, expires, last_used))| {
            row.push_bind(record.id.as_str())
                .push_bind(record.digest.as_bytes().as_slice())
                .push_bind(record.user_id.as_str())
                .push_bind(record.credential_version.cast_signed())
                .push_bind(record.name.as_deref())
                .push_bind(record.scopes.to_string())
                .push_bind(created)
                .push_bind(expires)
                .push_bind(last_used)
                .push_bind(record.last_ip.map(|ip| ip.to_string()));
        },
    );
    insert.build().execute(conn).await?;
    Ok(())
}

/// The ids and digests of `chunk` already stored.
async fn stored_tokens(
    conn: &mut MySqlConnection,
    chunk: &[TokenRecord],
) -> Result<(HashSet<String>, HashSet<Vec<u8>>), Error> {
    let mut select = QueryBuilder::<MySql>::new(
        "SELECT CONVERT(id USING utf8mb4), digest FROM tokenauth_tokens WHERE id IN ",
    );
    select.push_tuples(chunk, |mut row, record| {
        row.push_bind(record.id.as_str());
    });
    select.push(" OR digest IN ");
    select.push_tuples(chunk, |mut row, record| {
        row.push_bind(record.digest.as_bytes().as_slice());
    });
    let rows: Vec<(String, Vec<u8>)> = select.build_query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().unzip())
}

/// A new version for each of `users`' token sets.
async fn bump_sets(conn: &mut MySqlConnection, users: &BTreeSet<&str>) -> Result<(), Error> {
    let users: Vec<&str> = users.iter().copied().collect();
    for chunk in users.chunks(CHUNK) {
        let mut bump = QueryBuilder::<MySql>::new("INSERT INTO tokenauth_token_sets (user_id, version) ");
        bump.push_values(chunk, |mut row, user| {
            row.push_bind(*user).push("1");
        });
        bump.push(" ON DUPLICATE KEY UPDATE version = version + 1");
        bump.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// The stored users named in `names`, by name.
async fn users_named(conn: &mut MySqlConnection, names: &[&str]) -> Result<Vec<User>, Error> {
    let mut select = QueryBuilder::<MySql>::new(concat!(
        "SELECT ",
        user_columns!(),
        " FROM tokenauth_users WHERE username IN "
    ));
    select.push_tuples(names, |mut row, name| {
        row.push_bind(*name);
    });
    let rows: Vec<UserRow> = select.build_query_as().fetch_all(conn).await?;
    rows.into_iter().map(user_from_row).collect()
}

impl Bulk for MySql {
    /// Per chunk, the records whose id and digest are not stored (nor earlier in the
    /// batch) in one `INSERT`; then one upsert of the set versions of the users that
    /// gained rows; the whole batch in one transaction.
    async fn import_tokens(pool: &MySqlPool, batch: &[TokenRecord]) -> Result<usize, Error> {
        let mut conn = pool.acquire().await?;
        let mut tx = begin(&mut conn).await?;
        let mut inserted = 0;
        let mut users = BTreeSet::new();
        let mut seen_ids = HashSet::new();
        let mut seen_digests = HashSet::new();
        for chunk in batch.chunks(CHUNK) {
            let (ids, digests) = stored_tokens(&mut tx, chunk).await?;
            let mut new: Vec<&TokenRecord> = Vec::with_capacity(chunk.len());
            for record in chunk {
                let (id, digest) = (record.id.as_str(), record.digest.as_bytes());
                let stored = ids.contains(id) || digests.contains(digest.as_slice());
                if !stored && !seen_ids.contains(id) && !seen_digests.contains(digest) {
                    seen_ids.insert(id);
                    seen_digests.insert(digest);
                    new.push(record);
                }
            }
            insert_tokens(&mut tx, &new).await?;
            inserted += new.len();
            users.extend(new.iter().map(|r| r.user_id.as_str()));
        }
        bump_sets(&mut tx, &users).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Per chunk, the users whose name is not stored (nor earlier in the batch) in one
    /// `INSERT`, then the stored users of the chunk's names; the whole batch in one
    /// transaction.
    async fn import_users(pool: &MySqlPool, batch: &[NewUser]) -> Result<ImportedUsers, Error> {
        let mut conn = pool.acquire().await?;
        let mut tx = begin(&mut conn).await?;
        let mut created = 0;
        let mut stored = HashMap::with_capacity(batch.len());
        for chunk in batch.chunks(CHUNK) {
            let names: Vec<&str> = chunk.iter().map(|u| u.username.as_str()).collect();
            let taken: HashSet<String> = users_named(&mut tx, &names)
                .await?
                .into_iter()
                .map(|user| user.username)
                .collect();
            let mut seen = HashSet::new();
            let new: Vec<&NewUser> = chunk
                .iter()
                .filter(|u| !taken.contains(&u.username) && !stored.contains_key(&u.username))
                .filter(|u| seen.insert(u.username.as_str()))
                .collect();
            if !new.is_empty() {
                let mut insert = QueryBuilder::<MySql>::new(
                    "INSERT INTO tokenauth_users (username, password_hash, is_active) ",
                );
                insert.push_values(&new, |mut row, user| {
                    row.push_bind(user.username.as_str())
                        .push_bind(user.password_hash.as_str())
                        .push_bind(user.is_active);
                });
                created += insert.build().execute(&mut *tx).await?.rows_affected();
            }
            for user in users_named(&mut tx, &names).await? {
                stored.insert(user.username.clone(), user);
            }
        }
        tx.commit().await?;
        imported(batch, &stored, created)
    }

    /// The larger of the table's AUTO_INCREMENT counter (the next id) less one, and the
    /// highest stored id.
    async fn user_ids_given(pool: &MySqlPool) -> Result<i64, Error> {
        let given: Option<i64> = sqlx::query_scalar(
            "SELECT CAST(GREATEST(\
             COALESCE((SELECT AUTO_INCREMENT - 1 FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'tokenauth_users'), 0), \
             COALESCE((SELECT MAX(id) FROM tokenauth_users), 0)) AS SIGNED)",
        )
        .fetch_one(pool)
        .await?;
        Ok(given.unwrap_or(0))
    }

    /// Moves the AUTO_INCREMENT counter past `given`, or past the highest id given out
    /// if larger (never back).
    async fn reserve_user_ids(pool: &MySqlPool, given: i64) -> Result<(), Error> {
        let above = given.max(Self::user_ids_given(pool).await?);
        if above > 0 {
            // DDL takes no parameters; `above` is a number.
            let alter = format!(
                "ALTER TABLE tokenauth_users AUTO_INCREMENT = {}",
                above.saturating_add(1)
            );
            sqlx::Executor::execute(pool, sqlx::raw_sql(&alter)).await?;
        }
        Ok(())
    }

    /// Explicit ids move the AUTO_INCREMENT counter too; `reserve_user_ids` also
    /// covers the ids of users deleted at the source.
    async fn copy_users(pool: &MySqlPool, users: &[LoginRecord<User>]) -> Result<(), Error> {
        let mut conn = pool.acquire().await?;
        let mut tx = begin(&mut conn).await?;
        for chunk in users.chunks(CHUNK) {
            let ids = user_row_ids(chunk)?;
            let mut clash = QueryBuilder::<MySql>::new(
                "SELECT id, CONVERT(username USING utf8mb4) FROM tokenauth_users WHERE id IN ",
            );
            clash.push_tuples(&ids, |mut row, id| {
                row.push_bind(*id);
            });
            clash.push(" OR username IN ");
            clash.push_tuples(chunk, |mut row, login| {
                row.push_bind(login.user.username.as_str());
            });
            let stored: Vec<(i64, String)> = clash.build_query_as().fetch_all(&mut *tx).await?;
            check_user_clashes(chunk, stored)?;

            let mut upsert = QueryBuilder::<MySql>::new(
                "INSERT INTO tokenauth_users (id, username, password_hash, is_active, credential_version) ",
            );
            upsert.push_values(chunk.iter().zip(&ids), |mut row, (login, id)| {
                row.push_bind(*id)
                    .push_bind(login.user.username.as_str())
                    .push_bind(login.password_hash.as_str())
                    .push_bind(login.user.is_active)
                    .push_bind(login.user.credential_version.cast_signed());
            });
            upsert.push(
                " ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), \
                 is_active = VALUES(is_active), credential_version = VALUES(credential_version)",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The records stored under the chunk's ids are deleted, then the chunk inserted:
    /// `ON DUPLICATE KEY UPDATE` would also overwrite a record stored under another
    /// id with the same digest, where this must fail.
    async fn copy_tokens(pool: &MySqlPool, records: &[TokenRecord]) -> Result<(), Error> {
        let mut conn = pool.acquire().await?;
        let mut tx = begin(&mut conn).await?;
        for chunk in records.chunks(CHUNK) {
            let mut delete = QueryBuilder::<MySql>::new("DELETE FROM tokenauth_tokens WHERE id IN ");
            delete.push_tuples(chunk, |mut row, record| {
                row.push_bind(record.id.as_str());
            });
            delete.build().execute(&mut *tx).await?;
            let chunk: Vec<&TokenRecord> = chunk.iter().collect();
            insert_tokens(&mut tx, &chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn copy_token_sets(pool: &MySqlPool, sets: &[(UserId, u64)]) -> Result<(), Error> {
        let mut conn = pool.acquire().await?;
        let mut tx = begin(&mut conn).await?;
        for chunk in sets.chunks(CHUNK) {
            let mut upsert =
                QueryBuilder::<MySql>::new("INSERT INTO tokenauth_token_sets (user_id, version) ");
            upsert.push_values(chunk, |mut row, (user, version)| {
                row.push_bind(user.as_str()).push_bind(version.cast_signed());
            });
            upsert.push(" ON DUPLICATE KEY UPDATE version = VALUES(version)");
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
