//! The SQLite token store.

use std::fmt;

use sqlx::SqlitePool;
use tokenauth_core::{TokenDigest, TokenId, TokenRecord, TokenStore, UserId};

use super::{from_micros, to_micros};
use crate::Error;

/// A [`TokenStore`] in the `tokenauth_tokens` table of a SQLite database.
///
/// Clones share the pool. The table is created by the migrations that [`connect`]
/// (or [`migrate`]) runs.
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

/// A `tokenauth_tokens` row as read: id, digest, user id, name, created, expires.
type Row = (String, Vec<u8>, String, Option<String>, i64, Option<i64>);

/// A query reading [`Row`]s, with `$rest` (a `WHERE` or `ORDER BY` clause) appended.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, digest, user_id, name, created, expires FROM tokenauth_tokens ",
            $rest
        )
    };
}

fn record_from_row((id, digest, user_id, name, created, expires): Row) -> Result<TokenRecord, Error> {
    let id = id.parse::<TokenId>().map_err(|_| Error::Corrupt {
        what: "token id is not a token id",
    })?;
    let digest = <[u8; 32]>::try_from(digest.as_slice()).map_err(|_| Error::Corrupt {
        what: "token digest is not 32 bytes",
    })?;
    Ok(TokenRecord {
        id,
        digest: TokenDigest::from_bytes(digest),
        user_id: UserId::new(user_id),
        name,
        created: from_micros(created, "token creation time out of range")?,
        expires: expires
            .map(|e| from_micros(e, "token expiry time out of range"))
            .transpose()?,
    })
}

impl TokenStore for SqliteStore {
    type Error = Error;

    #[tracing::instrument(skip_all)]
    async fn insert(&self, record: &TokenRecord) -> Result<(), Error> {
        let created = to_micros(record.created)?;
        let expires = record.expires.map(to_micros).transpose()?;
        sqlx::query(
            "INSERT INTO tokenauth_tokens (id, digest, user_id, name, created, expires) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(record.id.as_str())
        .bind(record.digest.as_bytes().as_slice())
        .bind(record.user_id.as_str())
        .bind(record.name.as_deref())
        .bind(created)
        .bind(expires)
        .execute(&self.pool)
        .await?;
        Ok(())
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
                sqlx::query_as::<_, Row>(select!("WHERE user_id = ? ORDER BY created, id"))
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
    async fn delete(&self, id: &TokenId) -> Result<bool, Error> {
        let result = sqlx::query("DELETE FROM tokenauth_tokens WHERE id = ?")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }
}
