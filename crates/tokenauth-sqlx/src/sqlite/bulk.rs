//! Bulk paths on SQLite: imports as multi-row `INSERT`s in one `BEGIN IMMEDIATE`
//! transaction per batch, and the writes of a database copy (`tokenauth
//! copy-database`).
//!
//! Full chunks all have the same SQL, so sqlx prepares each statement once per
//! connection and reuses it; one transaction per batch means one sync per batch
//! instead of one per row.

use std::collections::{BTreeSet, HashMap};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokenauth_core::store::{ImportedUsers, LoginRecord, NewUser, TokenRecord};
use tokenauth_core::{User, UserId};

use crate::Error;
use crate::bulk::{check_user_clashes, imported, user_row_ids};
use crate::dialect::Bulk;
use crate::micros::to_micros;
use crate::rows::{UserRow, token_columns, user_columns, user_from_row};

/// Rows per `INSERT`: 10 parameters a token row, well under SQLite's limit of 32,766
/// parameters a statement.
const CHUNK: usize = 1000;

/// What SQLite's clock says now, in the Unix microseconds of the users' informational
/// `created` column.
const NOW: &str = "CAST(unixepoch('subsec') * 1000000 AS INTEGER)";

/// `INSERT INTO tokenauth_tokens (...) VALUES (...), ...` for `records`, without a
/// conflict clause.
fn insert_tokens(records: &[TokenRecord]) -> Result<QueryBuilder<'_, Sqlite>, Error> {
    let mut insert = QueryBuilder::new(concat!("INSERT INTO tokenauth_tokens (", token_columns!(), ") "));
    // Times are converted first: `push_values` cannot fail.
    let mut times = Vec::with_capacity(records.len());
    for record in records {
        times.push((
            to_micros(record.created)?,
            record.expires.map(to_micros).transpose()?,
            record.last_used.map(to_micros).transpose()?,
        ));
    }
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
    Ok(insert)
}

/// A new version for each of `users`' token sets.
async fn bump_sets(conn: &mut SqliteConnection, users: &BTreeSet<String>) -> Result<(), Error> {
    let users: Vec<&String> = users.iter().collect();
    for chunk in users.chunks(CHUNK) {
        let mut bump = QueryBuilder::<Sqlite>::new("INSERT INTO tokenauth_token_sets (user_id, version) ");
        bump.push_values(chunk, |mut row, user| {
            row.push_bind(user.as_str()).push("1");
        });
        bump.push(" ON CONFLICT (user_id) DO UPDATE SET version = version + 1");
        bump.build().execute(&mut *conn).await?;
    }
    Ok(())
}

impl Bulk for Sqlite {
    /// Multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING user_id` (any unique
    /// conflict, of id or digest, skips the row), then one upsert of the set versions
    /// of the users that gained rows, all in one `BEGIN IMMEDIATE` transaction.
    async fn import_tokens(pool: &SqlitePool, batch: &[TokenRecord]) -> Result<usize, Error> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut inserted = 0;
        let mut users = BTreeSet::new();
        for chunk in batch.chunks(CHUNK) {
            let mut insert = insert_tokens(chunk)?;
            insert.push(" ON CONFLICT DO NOTHING RETURNING user_id");
            let gained: Vec<(String,)> = insert.build_query_as().fetch_all(&mut *tx).await?;
            inserted += gained.len();
            users.extend(gained.into_iter().map(|(user,)| user));
        }
        bump_sets(&mut tx, &users).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    /// Multi-row `INSERT ... ON CONFLICT (username) DO NOTHING`, then the stored users
    /// of the batch's names, in one `BEGIN IMMEDIATE` transaction.
    async fn import_users(pool: &SqlitePool, batch: &[NewUser]) -> Result<ImportedUsers, Error> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut created = 0;
        let mut stored = HashMap::with_capacity(batch.len());
        for chunk in batch.chunks(CHUNK) {
            let mut insert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO tokenauth_users (username, password_hash, is_active, created) ",
            );
            insert.push_values(chunk, |mut row, user| {
                row.push_bind(user.username.as_str())
                    .push_bind(user.password_hash.as_str())
                    .push_bind(user.is_active)
                    .push(NOW);
            });
            insert.push(" ON CONFLICT (username) DO NOTHING");
            created += insert.build().execute(&mut *tx).await?.rows_affected();

            let mut select = QueryBuilder::<Sqlite>::new(concat!(
                "SELECT ",
                user_columns!(),
                " FROM tokenauth_users WHERE username IN "
            ));
            select.push_tuples(chunk, |mut row, user| {
                row.push_bind(user.username.as_str());
            });
            let rows: Vec<UserRow> = select.build_query_as().fetch_all(&mut *tx).await?;
            for row in rows {
                let user = user_from_row(row)?;
                stored.insert(user.username.clone(), user);
            }
        }
        tx.commit().await?;
        imported(batch, &stored, created)
    }

    /// The larger of `sqlite_sequence`'s count (kept by `AUTOINCREMENT`) and the
    /// highest stored id.
    async fn user_ids_given(pool: &SqlitePool) -> Result<i64, Error> {
        let seq: Option<i64> = sqlx::query_scalar(
            "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'tokenauth_users'), 0), \
             COALESCE((SELECT max(id) FROM tokenauth_users), 0))",
        )
        .fetch_one(pool)
        .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Moves `sqlite_sequence`'s count up to `given` (never down: `AUTOINCREMENT`
    /// also stays above every stored id).
    async fn reserve_user_ids(pool: &SqlitePool, given: i64) -> Result<(), Error> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        let updated =
            sqlx::query("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'tokenauth_users'")
                .bind(given)
                .execute(&mut *tx)
                .await?;
        if updated.rows_affected() == 0 {
            sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('tokenauth_users', ?)")
                .bind(given)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn copy_users(pool: &SqlitePool, users: &[LoginRecord<User>]) -> Result<(), Error> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in users.chunks(CHUNK) {
            let ids = user_row_ids(chunk)?;
            let mut clash =
                QueryBuilder::<Sqlite>::new("SELECT id, username FROM tokenauth_users WHERE id IN ");
            clash.push_tuples(&ids, |mut row, id| {
                row.push_bind(*id);
            });
            clash.push(" OR username IN ");
            clash.push_tuples(chunk, |mut row, login| {
                row.push_bind(login.user.username.as_str());
            });
            let stored: Vec<(i64, String)> = clash.build_query_as().fetch_all(&mut *tx).await?;
            check_user_clashes(chunk, stored)?;

            let mut upsert = QueryBuilder::<Sqlite>::new(
                "INSERT INTO tokenauth_users (id, username, password_hash, is_active, credential_version, created) ",
            );
            upsert.push_values(chunk.iter().zip(&ids), |mut row, (login, id)| {
                row.push_bind(*id)
                    .push_bind(login.user.username.as_str())
                    .push_bind(login.password_hash.as_str())
                    .push_bind(login.user.is_active)
                    .push_bind(login.user.credential_version.cast_signed())
                    .push(NOW);
            });
            upsert.push(
                " ON CONFLICT (id) DO UPDATE SET password_hash = excluded.password_hash, \
                 is_active = excluded.is_active, credential_version = excluded.credential_version",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn copy_tokens(pool: &SqlitePool, records: &[TokenRecord]) -> Result<(), Error> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in records.chunks(CHUNK) {
            let mut upsert = insert_tokens(chunk)?;
            upsert.push(
                " ON CONFLICT (id) DO UPDATE SET digest = excluded.digest, user_id = excluded.user_id, \
                 credential_version = excluded.credential_version, name = excluded.name, \
                 scopes = excluded.scopes, created = excluded.created, expires = excluded.expires, \
                 last_used = excluded.last_used, last_ip = excluded.last_ip",
            );
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn copy_token_sets(pool: &SqlitePool, sets: &[(UserId, u64)]) -> Result<(), Error> {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        for chunk in sets.chunks(CHUNK) {
            let mut upsert =
                QueryBuilder::<Sqlite>::new("INSERT INTO tokenauth_token_sets (user_id, version) ");
            upsert.push_values(chunk, |mut row, (user, version)| {
                row.push_bind(user.as_str()).push_bind(version.cast_signed());
            });
            upsert.push(" ON CONFLICT (user_id) DO UPDATE SET version = excluded.version");
            upsert.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
