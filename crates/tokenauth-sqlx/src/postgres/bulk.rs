//! Bulk paths on PostgreSQL: imports ([`UserImport`], [`TokenImport`]) as one
//! `INSERT ... SELECT FROM unnest(...)` per chunk of thousands of rows (each column
//! bound as one array, so a chunk is one round trip whatever its size), and the reads
//! and writes of a database copy (`tokenauth copy-database`).

use std::collections::HashMap;

use sqlx::{PgConnection, Postgres};
use time::OffsetDateTime;
use tokenauth_core::store::{ImportedUsers, NewUser, TokenImport, UserImport};
use tokenauth_core::{LoginRecord, TokenId, TokenRecord, User, UserId};

use super::store::{Row, record_from_row};
use super::{PgStore, PgUserDirectory};
use crate::Error;
use crate::rows::{UserRow, row_id, set_version_from, token_columns, user_columns, user_from_row};

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

impl TokenImport for PgStore {
    /// Per chunk, one statement: `INSERT ... SELECT FROM unnest(...) ON CONFLICT DO
    /// NOTHING` (any unique conflict, of id or digest, skips the row), and in the same
    /// statement a new set version for each user that gained rows; the whole batch in
    /// one transaction.
    #[tracing::instrument(skip_all, fields(count = batch.len()))]
    async fn import_tokens(&self, batch: &[TokenRecord]) -> Result<usize, Error> {
        let mut tx = self.pool().begin().await?;
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
}

impl UserImport for PgUserDirectory {
    /// Per chunk, `INSERT ... SELECT FROM unnest(...) ON CONFLICT (username) DO
    /// NOTHING`, then the stored users of the chunk's names; the whole batch in one
    /// transaction.
    #[tracing::instrument(skip_all, fields(count = batch.len()))]
    async fn import_users(&self, batch: &[NewUser]) -> Result<ImportedUsers, Error> {
        let mut tx = self.pool().begin().await?;
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
        let users = batch
            .iter()
            .map(|new| {
                stored.get(&new.username).cloned().ok_or(Error::Corrupt {
                    what: "an imported user is missing after its insert",
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ImportedUsers {
            users,
            created: usize::try_from(created).unwrap_or(usize::MAX),
        })
    }
}

/// The copy of a database (`tokenauth copy-database`): reading every row in pages,
/// and writing rows as they are (ids included).
impl PgUserDirectory {
    /// Up to `limit` users with ids above `after` (from the first with `None`), by id,
    /// with their password hashes: a page of a copy.
    #[tracing::instrument(skip_all)]
    pub async fn export_users(
        &self,
        after: Option<&UserId>,
        limit: usize,
    ) -> Result<Vec<LoginRecord<User>>, Error> {
        let after = after.and_then(row_id).unwrap_or(i64::MIN);
        let rows: Vec<(i64, String, bool, i64, String)> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM tokenauth_users WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, username, is_active, version, password_hash)| {
                Ok(LoginRecord {
                    user: user_from_row((id, username, is_active, version))?,
                    password_hash,
                })
            })
            .collect()
    }

    /// The highest user id given out so far (deleted users' included; 0 if none).
    #[tracing::instrument(skip_all)]
    pub async fn user_ids_given(&self) -> Result<i64, Error> {
        let given: Option<i64> = sqlx::query_scalar(
            "SELECT GREATEST(\
             pg_sequence_last_value(pg_get_serial_sequence('tokenauth_users', 'id')::regclass), \
             (SELECT max(id) FROM tokenauth_users))",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(given.unwrap_or(0))
    }

    /// Makes new users get ids above `given` (and above every stored one), as in the
    /// database copied from.
    #[tracing::instrument(skip_all)]
    pub async fn reserve_user_ids(&self, given: i64) -> Result<(), Error> {
        let above = given.max(self.user_ids_given().await?);
        if above > 0 {
            sqlx::query("SELECT setval(pg_get_serial_sequence('tokenauth_users', 'id'), $1)")
                .bind(above)
                .execute(self.pool())
                .await?;
        }
        Ok(())
    }

    /// Writes `users` as they are: ids, names, hashes, flags and credential versions.
    /// A user already stored under the same id and name is updated; a user whose id
    /// or name is stored with another name or id is an [`Error::Conflict`], and then
    /// nothing of the batch is written. New ids do not move the id sequence: call
    /// [`reserve_user_ids`](Self::reserve_user_ids) after the copy.
    #[tracing::instrument(skip_all, fields(count = users.len()))]
    pub async fn copy_users(&self, users: &[LoginRecord<User>]) -> Result<(), Error> {
        let mut tx = self.pool().begin().await?;
        for chunk in users.chunks(CHUNK) {
            let ids: Vec<i64> = chunk
                .iter()
                .map(|login| {
                    row_id(&login.user.id).ok_or_else(|| {
                        Error::Conflict(format!("user id {} is not an integer", login.user.id))
                    })
                })
                .collect::<Result<_, _>>()?;
            let names: Vec<&str> = chunk.iter().map(|l| l.user.username.as_str()).collect();
            let stored: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, username FROM tokenauth_users WHERE id = ANY($1) OR username = ANY($2)",
            )
            .bind(&ids)
            .bind(&names)
            .fetch_all(&mut *tx)
            .await?;
            crate::copy::check_user_clashes(chunk, stored)?;
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
}

impl PgStore {
    /// Up to `limit` records with ids above `after` (from the first with `None`), by
    /// id: a page of a copy.
    #[tracing::instrument(skip_all)]
    pub async fn export_tokens(
        &self,
        after: Option<&TokenId>,
        limit: usize,
    ) -> Result<Vec<TokenRecord>, Error> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            token_columns!(),
            " FROM tokenauth_tokens WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after.map_or("", TokenId::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(record_from_row).collect()
    }

    /// Writes `records` as they are: a record already stored under the same id is
    /// overwritten (its last use, say); a digest stored under another id fails the
    /// UNIQUE constraint, and then nothing of the batch is written. Set versions are
    /// left alone: copy them with [`copy_token_sets`](Self::copy_token_sets).
    #[tracing::instrument(skip_all, fields(count = records.len()))]
    pub async fn copy_tokens(&self, records: &[TokenRecord]) -> Result<(), Error> {
        let mut tx = self.pool().begin().await?;
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

    /// Every user's token-set version, by user.
    #[tracing::instrument(skip_all)]
    pub async fn export_token_sets(&self) -> Result<Vec<(UserId, u64)>, Error> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT user_id, version FROM tokenauth_token_sets ORDER BY user_id")
                .fetch_all(self.pool())
                .await?;
        rows.into_iter()
            .map(|(user, version)| Ok((UserId::new(user), set_version_from(version)?)))
            .collect()
    }

    /// Sets each user's token-set version to the one given.
    #[tracing::instrument(skip_all, fields(count = sets.len()))]
    pub async fn copy_token_sets(&self, sets: &[(UserId, u64)]) -> Result<(), Error> {
        let mut tx = self.pool().begin().await?;
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
