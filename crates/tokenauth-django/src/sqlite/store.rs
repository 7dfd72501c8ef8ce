//! DRF's `authtoken_token` table in SQLite.

use std::fmt;

use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokenauth_core::store::{Change, Committed, Ended, PurgeBounds, TokenSet};
use tokenauth_core::{TokenDigest, TokenId, TokenRecord, TokenStore, Usage, UserId};

use crate::Error;
use crate::common::{self, KeyRow};
use crate::timestamp::{from_django_text, to_django_text};

/// A [`TokenStore`] on DRF's `authtoken_token` table in Django's SQLite database
/// (`key` 40 hex characters, primary key; `created` as Django's text; `user_id`
/// unique). See the [crate docs](crate) for what this table can and cannot hold.
///
/// The compare-and-swap runs in one `BEGIN IMMEDIATE` transaction: it reads the
/// user's row, compares the version derived from it and, before inserting a key, the
/// user's password with the credential version the key was issued under, then deletes
/// and inserts. Django's own writes queue on the same SQLite lock.
#[derive(Clone)]
pub struct SqliteDjangoStore {
    pool: SqlitePool,
}

impl SqliteDjangoStore {
    /// A store on `pool` (see [`connect_sqlite`](crate::connect_sqlite)).
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl fmt::Debug for SqliteDjangoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteDjangoStore").finish_non_exhaustive()
    }
}

/// `key`, `created`, `user_id`, and the user's `password` (`NULL` where not joined).
type Row = (String, String, i64, Option<String>);

/// The columns of [`Row`], the token's user joined.
const SELECT: &str = r#"SELECT t."key", t."created", t."user_id", u."password"
    FROM "authtoken_token" t LEFT JOIN "auth_user" u ON u."id" = t."user_id""#;

fn key_row((key, created, user_id, password): Row) -> Result<KeyRow, Error> {
    Ok(KeyRow {
        key,
        user_id,
        created: from_django_text(&created)?,
        credential_version: common::credential_version(password.as_deref()),
    })
}

fn key_rows(rows: Vec<Row>) -> Result<Vec<KeyRow>, Error> {
    rows.into_iter().map(key_row).collect()
}

async fn rows_of(conn: &mut SqliteConnection, user: i64) -> Result<Vec<KeyRow>, Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(r#"{SELECT} WHERE t."user_id" = ?"#))
        .bind(user)
        .fetch_all(&mut *conn)
        .await?;
    key_rows(rows)
}

async fn delete_keys(conn: &mut SqliteConnection, rows: &[&KeyRow]) -> Result<Vec<Ended>, Error> {
    let mut ended = Vec::with_capacity(rows.len());
    for row in rows {
        let deleted = sqlx::query(r#"DELETE FROM "authtoken_token" WHERE "key" = ?"#)
            .bind(&row.key)
            .execute(&mut *conn)
            .await?;
        if deleted.rows_affected() > 0 {
            ended.push(row.ended()?);
        }
    }
    Ok(ended)
}

/// The user's `auth_user.password`, if there is such a user.
async fn password_of(conn: &mut SqliteConnection, user: i64) -> Result<Option<String>, Error> {
    let password = sqlx::query_scalar(r#"SELECT "password" FROM "auth_user" WHERE "id" = ?"#)
        .bind(user)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(password)
}

impl TokenStore for SqliteDjangoStore {
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
        let mut conn = self.pool.acquire().await?;
        // IMMEDIATE takes the write lock before the row is read: the comparison and
        // the writes are one step for every other writer, Django included.
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut rows = rows_of(&mut tx, user).await?;
        common::sort(&mut rows);
        // In the write transaction, which no other writer (Django's included) can
        // enter: the password cannot change before this commits.
        let password = password_of(&mut tx, user).await?;
        if common::version_of(&rows) != expected || !common::issued_under(&change, password.as_deref()) {
            return Ok(Committed::Conflict);
        }
        let ended = delete_keys(&mut tx, &common::doomed(&rows, &change)).await?;
        if let (Some(key), Some(record)) = (insert, &change.insert) {
            let inserted = sqlx::query(
                r#"INSERT INTO "authtoken_token" ("key", "created", "user_id") VALUES (?, ?, ?)
                   ON CONFLICT ("user_id") DO NOTHING"#,
            )
            .bind(key)
            .bind(to_django_text(record.created))
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
        let row: Option<Row> = sqlx::query_as(&format!(r#"{SELECT} WHERE t."key" = ?"#))
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
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let rows = rows_of(&mut tx, user).await?;
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
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut rows = rows_of(&mut tx, user).await?;
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
        // Django's text compares in time order (same width, the fraction sorts after
        // its absence), as long as the bound is written the same way.
        let rows: Vec<Row> = sqlx::query_as(
            r#"DELETE FROM "authtoken_token" WHERE "key" IN
                 (SELECT "key" FROM "authtoken_token" WHERE "created" < ? LIMIT ?)
               RETURNING "key", "created", "user_id", NULL"#,
        )
        .bind(to_django_text(bounds.created_before))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        key_rows(rows)?.iter().map(KeyRow::ended).collect()
    }
}
