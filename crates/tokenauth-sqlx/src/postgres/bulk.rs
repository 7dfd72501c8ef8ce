//! Bulk paths on PostgreSQL: imports as one `INSERT ... SELECT FROM unnest(...)` per
//! chunk of thousands of rows (each column bound as one array, so a chunk is one round
//! trip whatever its size), and the writes of a database copy (`tokenauth
//! copy-database`).

use std::collections::HashMap;

use sqlx::{PgConnection, PgPool, Postgres};
use time::OffsetDateTime;
use tokenauth_core::store::{ImportedUsers, LoginRecord, NewUser, TokenRecord};
use tokenauth_core::{User, UserId};

use crate::Error;
use crate::bulk::{check_user_clashes, imported, user_row_ids};
use crate::dialect::Bulk;
use crate::rows::{UserRow, token_columns, user_columns, user_from_row};

/// Rows per statement.
const CHUNK: usize = 10_000;

/// `INSERT INTO tokenauth_tokens (...) SELECT * FROM unnest($1 .. $10)`, without a
/// conflict clause.
macro_rules! insert_tokens {
    () => {
        concat!(
            "INSERT INTO tokenauth_tokens (",
            token_columns!(),
            ") SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::int8[], $5::text[], \
             $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[])"
        )
    };
}

/// Token records as one array per column, in [`token_columns!`] order.
#[derive(Default)]
struct TokenColumns {
    id: Vec<String>,
    digest: Vec<Vec<u8>>,
    user_id: Vec<String>,
    credential_version: Vec<i64>,
    name: Vec<Option<String>>,
    scopes: Vec<String>,
    created: Vec<OffsetDateTime>,
    expires: Vec<Option<OffsetDateTime>>,
    last_used: Vec<Option<OffsetDateTime>>,
    last_ip: Vec<Option<String>>,
}

impl TokenColumns {
    fn of(records: &[TokenRecord]) -> Self {
        let mut columns = Self::default();
        for r in records {
            columns.id.push(r.id.as_str().to_owned());
            columns.digest.push(r.digest.as_bytes().to_vec());
            columns.user_id.push(r.user_id.as_str().to_owned());
            columns
                .credential_version
                .push(r.credential_version.cast_signed());
            columns.name.push(r.name.clone());
            columns.scopes.push(r.scopes.to_string());
            columns.created.push(r.created);
            columns.expires.push(r.expires);
            columns.last_used.push(r.last_used);
            columns.last_ip.push(r.last_ip.map(|ip| ip.to_string()));
        }
        columns
    }

    /// Runs `sql` (which reads the columns as `$1` to `$10`) on `conn`; the count it
    /// selects.
    async fn run(self, sql: &'static str, conn: &mut PgConnection) -> Result<i64, Error> {
        let count = sqlx::query_scalar::<Postgres, i64>(sql)
            .bind(self.id)
            .bind(self.digest)
            .bind(self.user_id)
            .bind(self.credential_version)
            .bind(self.name)
            .bind(self.scopes)
            .bind(self.created)
            .bind(self.expires)
            .bind(self.last_used)
            .bind(self.last_ip)
            .fetch_one(conn)
            .await?;
        Ok(count)
    }
}

impl Bulk for Postgres {
    /// Per chunk, one statement: `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO
    /// NOTHING` (any unique conflict, of id or digest, skips the row), and in the same
    /// statement a new set version for each user that gained rows; the whole batch in
    /// one transaction.
    async fn import_tokens(pool: &PgPool, batch: &[TokenRecord]) -> Result<usize, Error> {
        let mut tx = pool.begin().await?;
        let mut inserted = 0;
        for chunk in batch.chunks(CHUNK) {
            let count = TokenColumns::of(chunk)
                .run(
                    concat!(
                        "WITH inserted AS (",
                        insert_tokens!(),
                        " ON CONFLICT DO NOTHING RETURNING user_id), \
                         bumped AS (INSERT INTO tokenauth_token_sets (user_id, version) \
                         SELECT DISTINCT user_id, 1 FROM inserted \
                         ON CONFLICT (user_id) DO UPDATE SET version = tokenauth_token_sets.version + 1) \
                         SELECT count(*) FROM inserted"
                    ),
                    &mut tx,
                )
                .await?;
            inserted += usize::try_from(count).unwrap_or(0);
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Per chunk, `INSERT ... SELECT FROM unnest(...) ON CONFLICT (username) DO
    /// NOTHING`, then the stored users of the chunk's names; the whole batch in one
    /// transaction.
    async fn import_users(pool: &PgPool, batch: &[NewUser]) -> Result<ImportedUsers, Error> {
        let mut tx = pool.begin().await?;
        let mut created = 0;
        let mut stored = HashMap::with_capacity(batch.len());
        for chunk in batch.chunks(CHUNK) {
            let names: Vec<&str> = chunk.iter().map(|u| u.username.as_str()).collect();
            let hashes: Vec<&str> = chunk.iter().map(|u| u.password_hash.as_str()).collect();
            let active: Vec<bool> = chunk.iter().map(|u| u.is_active).collect();
            created += sqlx::query(
                "INSERT INTO tokenauth_users (username, password_hash, is_active) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bool[]) \
                 ON CONFLICT (username) DO NOTHING",
            )
            .bind(&names)
            .bind(&hashes)
            .bind(&active)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let rows: Vec<UserRow> = sqlx::query_as(concat!(
                "SELECT ",
                user_columns!(),
                " FROM tokenauth_users WHERE username = ANY($1)"
            ))
            .bind(&names)
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let user = user_from_row(row)?;
                stored.insert(user.username.clone(), user);
            }
        }
        tx.commit().await?;
        imported(batch, &stored, created)
    }

    /// The larger of the id sequence's last value and the highest stored id.
    async fn user_ids_given(pool: &PgPool) -> Result<i64, Error> {
        let given: Option<i64> = sqlx::query_scalar(
            "SELECT GREATEST(\
             pg_sequence_last_value(pg_get_serial_sequence('tokenauth_users', 'id')::regclass), \
             (SELECT max(id) FROM tokenauth_users))",
        )
        .fetch_one(pool)
        .await?;
        Ok(given.unwrap_or(0))
    }

    /// Moves the id sequence to `given`, or to the highest id given out if larger.
    async fn reserve_user_ids(pool: &PgPool, given: i64) -> Result<(), Error> {
        let above = given.max(Self::user_ids_given(pool).await?);
        if above > 0 {
            sqlx::query("SELECT setval(pg_get_serial_sequence('tokenauth_users', 'id'), $1)")
                .bind(above)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// New ids do not move the id sequence: `reserve_user_ids` does, after the copy.
    async fn copy_users(pool: &PgPool, users: &[LoginRecord<User>]) -> Result<(), Error> {
        let mut tx = pool.begin().await?;
        for chunk in users.chunks(CHUNK) {
            let ids = user_row_ids(chunk)?;
            let names: Vec<&str> = chunk.iter().map(|l| l.user.username.as_str()).collect();
            let stored: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, username FROM tokenauth_users WHERE id = ANY($1) OR username = ANY($2)",
            )
            .bind(&ids)
            .bind(&names)
            .fetch_all(&mut *tx)
            .await?;
            check_user_clashes(chunk, stored)?;
            let hashes: Vec<&str> = chunk.iter().map(|l| l.password_hash.as_str()).collect();
            let active: Vec<bool> = chunk.iter().map(|l| l.user.is_active).collect();
            let versions: Vec<i64> = chunk
                .iter()
                .map(|l| l.user.credential_version.cast_signed())
                .collect();
            sqlx::query(
                "INSERT INTO tokenauth_users (id, username, password_hash, is_active, credential_version) \
                 OVERRIDING SYSTEM VALUE \
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::bool[], $5::int8[]) \
                 ON CONFLICT (id) DO UPDATE SET password_hash = EXCLUDED.password_hash, \
                 is_active = EXCLUDED.is_active, credential_version = EXCLUDED.credential_version",
            )
            .bind(&ids)
            .bind(&names)
            .bind(&hashes)
            .bind(&active)
            .bind(&versions)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn copy_tokens(pool: &PgPool, records: &[TokenRecord]) -> Result<(), Error> {
        let mut tx = pool.begin().await?;
        for chunk in records.chunks(CHUNK) {
            TokenColumns::of(chunk)
                .run(
                    concat!(
                        "WITH upserted AS (",
                        insert_tokens!(),
                        " ON CONFLICT (id) DO UPDATE SET digest = EXCLUDED.digest, \
                         user_id = EXCLUDED.user_id, credential_version = EXCLUDED.credential_version, \
                         name = EXCLUDED.name, scopes = EXCLUDED.scopes, created = EXCLUDED.created, \
                         expires = EXCLUDED.expires, last_used = EXCLUDED.last_used, \
                         last_ip = EXCLUDED.last_ip RETURNING 1) SELECT count(*) FROM upserted"
                    ),
                    &mut tx,
                )
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn copy_token_sets(pool: &PgPool, sets: &[(UserId, u64)]) -> Result<(), Error> {
        let mut tx = pool.begin().await?;
        for chunk in sets.chunks(CHUNK) {
            let users: Vec<&str> = chunk.iter().map(|(u, _)| u.as_str()).collect();
            let versions: Vec<i64> = chunk.iter().map(|(_, v)| v.cast_signed()).collect();
            sqlx::query(
                "INSERT INTO tokenauth_token_sets (user_id, version) \
                 SELECT * FROM unnest($1::text[], $2::int8[]) \
                 ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version",
            )
            .bind(&users)
            .bind(&versions)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
