//! DRF's `authtoken_token` table in PostgreSQL.

use std::fmt;

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokenauth_core::store::{Change, Committed, Ended, PurgeBounds, TokenSet};
use tokenauth_core::{TokenDigest, TokenId, TokenRecord, TokenStore, Usage, UserId};

use crate::Error;
use crate::common::{self, KeyRow};

/// A [`TokenStore`] on DRF's `authtoken_token` table in Django's PostgreSQL database
/// (`key` 40 hex characters, primary key; `created` `timestamptz`; `user_id`
/// unique). See the [crate docs](crate) for what this table can and cannot hold.
///
/// The compare-and-swap runs in one transaction: it locks the user's `auth_user` row
/// (`FOR SHARE`) and token row (`FOR UPDATE`), compares the version derived from the
/// token row and, before inserting a key, the password with the credential version
/// the key was issued under, then deletes and inserts with
/// `ON CONFLICT ("user_id") DO NOTHING`. A concurrent commit of the same
/// user waits on the row lock and then finds the row changed, or finds the unique
/// `user_id` taken: a conflict either way, which core answers by reading again.
#[derive(Clone)]
pub struct PgDjangoStore {
    pool: PgPool,
}

impl PgDjangoStore {
    /// A store on `pool` (see [`connect_postgres`](crate::connect_postgres)).
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl fmt::Debug for PgDjangoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgDjangoStore").finish_non_exhaustive()
    }
}

/// `key`, `created`, `user_id`, and the user's `password` (`NULL` where not joined).
type Row = (String, OffsetDateTime, i64, Option<String>);

/// The columns of [`Row`], the token's user joined.
const SELECT: &str = r#"SELECT t."key", t."created", t."user_id"::int8, u."password"
    FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id""#;

fn key_row((key, created, user_id, password): Row) -> Result<KeyRow, Error> {
    Ok(KeyRow {
        key,
        user_id,
        created,
        credential_version: common::credential_version(password.as_deref()),
    })
}

fn key_rows(rows: Vec<Row>) -> Result<Vec<KeyRow>, Error> {
    rows.into_iter().map(key_row).collect()
}

async fn rows_of(conn: &mut PgConnection, user: i64) -> Result<Vec<KeyRow>, Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(r#"{SELECT} WHERE t."user_id" = $1"#))
        .bind(user)
        .fetch_all(&mut *conn)
        .await?;
    key_rows(rows)
}

async fn locked_rows_of(conn: &mut PgConnection, user: i64) -> Result<Vec<KeyRow>, Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(r#"{SELECT} WHERE t."user_id" = $1 FOR UPDATE OF t"#))
        .bind(user)
        .fetch_all(&mut *conn)
        .await?;
    key_rows(rows)
}

async fn delete_keys(conn: &mut PgConnection, rows: &[&KeyRow]) -> Result<Vec<Ended>, Error> {
    let mut ended = Vec::with_capacity(rows.len());
    for row in rows {
        let deleted = sqlx::query(r#"DELETE FROM "authtoken_token" WHERE "key" = $1"#)
            .bind(&row.key)
            .execute(&mut *conn)
            .await?;
        if deleted.rows_affected() > 0 {
            ended.push(row.ended()?);
        }
    }
    Ok(ended)
}

impl TokenStore for PgDjangoStore {
    type Error = Error;

    #[tracing::instrument(skip_all)]
    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        let Some(user) = common::django_id(user) else {
            return Ok(TokenSet::default());
        };
        let mut conn = self.pool.acquire().await?;
        common::token_set(rows_of(&mut conn, user).await?)
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        let Some(user) = common::django_id(user) else {
            return Err(Error::Unsupported("a user id that is not an integer"));
        };
        let insert = change.insert.as_ref().map(common::key_to_insert).transpose()?;
        let mut tx = self.pool.begin().await?;
        // The user's row first, shared: its password cannot change (by tokenauth or by
        // Django) until this commits, so a key is inserted only while the password is
        // the one it was issued under. Every writer of both tables here locks the user
        // before its token, so they cannot deadlock.
        let password: Option<String> =
            sqlx::query_scalar(r#"SELECT "password" FROM "auth_user" WHERE "id" = $1 FOR SHARE"#)
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?;
        // The token's row lock makes the comparison and the writes one step for every
        // other writer of this user's row, Django included.
        let mut rows = locked_rows_of(&mut tx, user).await?;
        common::sort(&mut rows);
        if common::version_of(&rows) != expected || !common::issued_under(&change, password.as_deref()) {
            return Ok(Committed::Conflict);
        }
        let ended = delete_keys(&mut tx, &common::doomed(&rows, &change)).await?;
        if let (Some(key), Some(record)) = (insert, &change.insert) {
            let inserted = sqlx::query(
                r#"INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES ($1, $2, $3)
                   ON CONFLICT ("user_id") DO NOTHING"#,
            )
            .bind(key)
            .bind(record.created)
            .bind(user)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                // The user holds a token still (DRF's one per user): decide again.
                return Ok(Committed::Conflict);
            }
        }
        tx.commit().await?;
        Ok(Committed::Applied { ended })
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        let Some(key) = digest.drf_key() else {
            return Ok(None);
        };
        let row: Option<Row> = sqlx::query_as(&format!(r#"{SELECT} WHERE t."key" = $1"#))
            .bind(key.expose_secret())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| key_row(row)?.record()).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        let Some(user) = common::user_of(id) else {
            return Ok(None);
        };
        let mut conn = self.pool.acquire().await?;
        let rows = rows_of(&mut conn, user).await?;
        rows.iter()
            .find(|r| &r.id() == id)
            .map(KeyRow::record)
            .transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        let mut rows = match user {
            Some(user) => {
                let Some(user) = common::django_id(user) else {
                    return Ok(Vec::new());
                };
                rows_of(&mut *self.pool.acquire().await?, user).await?
            }
            None => key_rows(sqlx::query_as(SELECT).fetch_all(&self.pool).await?)?,
        };
        common::sort(&mut rows);
        rows.iter().map(KeyRow::record).collect()
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        let Some(user) = common::user_of(id) else {
            return Ok(None);
        };
        let mut tx = self.pool.begin().await?;
        let rows = locked_rows_of(&mut tx, user).await?;
        let doomed: Vec<&KeyRow> = rows.iter().filter(|r| &r.id() == id).collect();
        let ended = delete_keys(&mut tx, &doomed).await?;
        tx.commit().await?;
        Ok(ended.into_iter().next())
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        let Some(user) = common::django_id(user) else {
            return Ok(Vec::new());
        };
        let mut tx = self.pool.begin().await?;
        let mut rows = locked_rows_of(&mut tx, user).await?;
        common::sort(&mut rows);
        let doomed: Vec<&KeyRow> = rows.iter().filter(|r| Some(&r.id()) != keep).collect();
        let ended = delete_keys(&mut tx, &doomed).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// DRF's table has no last-used column: uses are not written (and idle expiry
    /// cannot apply in this mode).
    async fn record_usage(&self, _uses: &[Usage]) -> Result<(), Error> {
        Ok(())
    }

    /// Only `created_before` can match: DRF's rows have no expiry or last use of
    /// their own.
    #[tracing::instrument(skip_all)]
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<Row> = sqlx::query_as(
            r#"DELETE FROM "authtoken_token" WHERE "key" IN
                 (SELECT "key" FROM "authtoken_token" WHERE "created" < $1 LIMIT $2)
               RETURNING "key", "created", "user_id"::int8, NULL::text"#,
        )
        .bind(bounds.created_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        key_rows(rows)?.iter().map(KeyRow::ended).collect()
    }
}
