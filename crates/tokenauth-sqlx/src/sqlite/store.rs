//! The SQLite token store.

use std::fmt;
use std::net::IpAddr;

use sqlx::{SqliteConnection, SqlitePool};
use tokenauth_core::{
    Admission, Inserted, LiveAt, Scopes, TokenDigest, TokenId, TokenRecord, TokenStore, Usage, UserId,
};

use super::{from_micros, to_micros};
use crate::Error;

/// A [`TokenStore`] in the `tokenauth_tokens` table of a SQLite database.
///
/// Clones share the pool. The table is created by the migrations that [`connect`]
/// (or [`migrate`]) runs.
///
/// Every verb that changes several rows does so atomically: an
/// [`insert`](TokenStore::insert) and the deletions its [`Admission`] calls for run in
/// one `BEGIN IMMEDIATE` transaction, so concurrent logins cannot overshoot a per-user
/// limit. The [`purge`](TokenStore::purge) finds dead records through indexes and
/// deletes at most `limit` of them per call, so no call holds the write lock for long.
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

/// A `tokenauth_tokens` row as read: id, digest, user id, name, scopes, created,
/// expires, last used, last address.
type Row = (
    String,
    Vec<u8>,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// A query reading [`Row`]s, with `$rest` (a `WHERE` or `ORDER BY` clause) appended.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT id, digest, user_id, name, scopes, created, expires, last_used, last_ip \
             FROM tokenauth_tokens ",
            $rest
        )
    };
}

/// [`LiveAt::is_live`] in SQL, on `?2` (`created_since`), `?3` (`at`) and `?4`
/// (`used_since`, NULL without an idle timeout), with `?1` left for the user id.
macro_rules! live {
    () => {
        "created >= ?2 AND (expires IS NULL OR expires >= ?3) \
         AND (?4 IS NULL OR COALESCE(last_used, created) >= ?4)"
    };
}

/// The tokens of a user (`?1`) that count against a limit: live, or named in the JSON
/// array `?5` as kept alive by uses not written yet ([`Admission::counts`]).
macro_rules! counted {
    () => {
        concat!(
            "user_id = ?1 AND ((",
            live!(),
            ") OR id IN (SELECT value FROM json_each(?5)))"
        )
    };
}

/// Ids of a user's counted tokens, oldest first.
const LIVE_IDS: &str = concat!(
    "SELECT id FROM tokenauth_tokens WHERE ",
    counted!(),
    " ORDER BY created, id"
);

/// How many counted tokens a user has.
const COUNT_LIVE: &str = concat!("SELECT COUNT(*) FROM tokenauth_tokens WHERE ", counted!());

/// `ids` as a JSON array, for `json_each`. Token ids are base62: nothing to escape.
fn json_ids(ids: &[TokenId]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| format!("\"{id}\"")).collect();
    format!("[{}]", quoted.join(","))
}

/// Deletes at most `?4` records not live at `?2` (`at`), given `?1` (`created_since`)
/// and `?3` (`used_since`, or NULL).
///
/// This is `NOT (live)` with the negation pushed inside: every term of the `OR` is
/// answered by an index (`tokenauth_tokens_created`, `_expires`, `_last_active`), where
/// `NOT (...)` would scan the whole table on every call. A NULL bound or column makes
/// its term NULL, which selects nothing, exactly as in the live predicate.
const PURGE: &str = "DELETE FROM tokenauth_tokens WHERE id IN (\
     SELECT id FROM tokenauth_tokens \
     WHERE created < ?1 OR expires < ?2 OR COALESCE(last_used, created) < ?3 \
     LIMIT ?4)";

/// The bounds of a [`LiveAt`] as stored: Unix microseconds.
struct Bounds {
    created_since: i64,
    at: i64,
    used_since: Option<i64>,
}

impl Bounds {
    fn of(live: &LiveAt) -> Result<Self, Error> {
        Ok(Self {
            created_since: to_micros(live.created_since)?,
            at: to_micros(live.at)?,
            used_since: live.used_since.map(to_micros).transpose()?,
        })
    }
}

fn token_id(id: &str) -> Result<TokenId, Error> {
    id.parse::<TokenId>().map_err(|_| Error::Corrupt {
        what: "token id is not a token id",
    })
}

fn record_from_row(
    (id, digest, user_id, name, scopes, created, expires, last_used, last_ip): Row,
) -> Result<TokenRecord, Error> {
    let digest = <[u8; 32]>::try_from(digest.as_slice()).map_err(|_| Error::Corrupt {
        what: "token digest is not 32 bytes",
    })?;
    Ok(TokenRecord {
        id: token_id(&id)?,
        digest: TokenDigest::from_bytes(digest),
        user_id: UserId::new(user_id),
        name,
        scopes: Scopes::parse(&scopes).map_err(|_| Error::Corrupt {
            what: "token scopes are not scope names",
        })?,
        created: from_micros(created, "token creation time out of range")?,
        expires: expires
            .map(|e| from_micros(e, "token expiry time out of range"))
            .transpose()?,
        last_used: last_used
            .map(|t| from_micros(t, "token last-used time out of range"))
            .transpose()?,
        last_ip: last_ip
            .map(|ip| ip.parse::<IpAddr>())
            .transpose()
            .map_err(|_| Error::Corrupt {
                what: "token last-used address is not an IP address",
            })?,
    })
}

/// Inserts the row of `record`; a duplicate id or digest fails the UNIQUE constraints.
async fn insert_row(conn: &mut SqliteConnection, record: &TokenRecord) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO tokenauth_tokens \
         (id, digest, user_id, name, scopes, created, expires, last_used, last_ip) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(record.id.as_str())
    .bind(record.digest.as_bytes().as_slice())
    .bind(record.user_id.as_str())
    .bind(record.name.as_deref())
    .bind(record.scopes.to_string())
    .bind(to_micros(record.created)?)
    .bind(record.expires.map(to_micros).transpose()?)
    .bind(record.last_used.map(to_micros).transpose()?)
    .bind(record.last_ip.map(|ip| ip.to_string()))
    .execute(conn)
    .await?;
    Ok(())
}

/// Deletes every token of `user` but `keep`, in one statement; the ids, oldest first.
async fn delete_user_tokens(
    conn: &mut SqliteConnection,
    user: &UserId,
    keep: Option<&TokenId>,
) -> Result<Vec<TokenId>, Error> {
    let mut deleted: Vec<(i64, String)> = sqlx::query_as(
        "DELETE FROM tokenauth_tokens WHERE user_id = ? AND id IS NOT ? RETURNING created, id",
    )
    .bind(user.as_str())
    .bind(keep.map(TokenId::as_str))
    .fetch_all(conn)
    .await?;
    // RETURNING comes in no particular order. SQLite's BINARY collation compares bytes,
    // as `String`'s `Ord` does, so this is `ORDER BY created, id`.
    deleted.sort_unstable();
    deleted.iter().map(|(_, id)| token_id(id)).collect()
}

impl TokenStore for SqliteStore {
    type Error = Error;

    #[tracing::instrument(skip_all)]
    async fn insert(&self, record: &TokenRecord, admission: Admission) -> Result<Inserted, Error> {
        // IMMEDIATE takes the write lock before the limit is counted, so concurrent
        // inserts for one user queue up (for up to the busy timeout) instead of all
        // counting the same rows.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let removed = match admission {
            Admission::Add => {
                insert_row(&mut tx, record).await?;
                Vec::new()
            }
            Admission::Replace => {
                insert_row(&mut tx, record).await?;
                delete_user_tokens(&mut tx, &record.user_id, Some(&record.id)).await?
            }
            Admission::EvictOldest {
                max_live,
                live,
                recently_used,
            } => {
                let bounds = Bounds::of(&live)?;
                let live: Vec<String> = sqlx::query_scalar(LIVE_IDS)
                    .bind(record.user_id.as_str())
                    .bind(bounds.created_since)
                    .bind(bounds.at)
                    .bind(bounds.used_since)
                    .bind(json_ids(&recently_used))
                    .fetch_all(&mut *tx)
                    .await?;
                insert_row(&mut tx, record).await?;
                let excess = (live.len() + 1).saturating_sub(max_live.max(1));
                let mut removed = Vec::with_capacity(excess);
                for id in &live[..excess] {
                    sqlx::query("DELETE FROM tokenauth_tokens WHERE id = ?")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    removed.push(token_id(id)?);
                }
                removed
            }
            Admission::Reject {
                max_live,
                live,
                recently_used,
            } => {
                let bounds = Bounds::of(&live)?;
                let count: i64 = sqlx::query_scalar(COUNT_LIVE)
                    .bind(record.user_id.as_str())
                    .bind(bounds.created_since)
                    .bind(bounds.at)
                    .bind(bounds.used_since)
                    .bind(json_ids(&recently_used))
                    .fetch_one(&mut *tx)
                    .await?;
                if usize::try_from(count).unwrap_or(usize::MAX) >= max_live {
                    tx.rollback().await?;
                    return Ok(Inserted::Rejected);
                }
                insert_row(&mut tx, record).await?;
                Vec::new()
            }
        };
        tx.commit().await?;
        Ok(Inserted::Stored { removed })
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
    async fn delete(&self, id: &TokenId) -> Result<Option<UserId>, Error> {
        let user: Option<String> =
            sqlx::query_scalar("DELETE FROM tokenauth_tokens WHERE id = ? RETURNING user_id")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        Ok(user.map(UserId::new))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<TokenId>, Error> {
        let mut conn = self.pool.acquire().await?;
        delete_user_tokens(&mut conn, user, keep).await
    }

    #[tracing::instrument(skip_all, fields(count = uses.len()))]
    async fn record_usage(&self, uses: &[Usage]) -> Result<(), Error> {
        if uses.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for usage in uses {
            // Only ever forward: an older use changes nothing, and a newer one without
            // an address keeps the last known address.
            sqlx::query(
                "UPDATE tokenauth_tokens SET last_used = ?1, last_ip = COALESCE(?2, last_ip) \
                 WHERE id = ?3 AND (last_used IS NULL OR last_used <= ?1)",
            )
            .bind(to_micros(usage.at)?)
            .bind(usage.ip.map(|ip| ip.to_string()))
            .bind(usage.id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(limit = limit))]
    async fn purge(&self, dead: &LiveAt, limit: usize) -> Result<usize, Error> {
        let bounds = Bounds::of(dead)?;
        let result = sqlx::query(PURGE)
            .bind(bounds.created_since)
            .bind(bounds.at)
            .bind(bounds.used_since)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        Ok(usize::try_from(result.rows_affected()).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `detail` column of `EXPLAIN QUERY PLAN` for `query`, with every parameter
    /// bound to an integer.
    async fn plan(pool: &SqlitePool, query: &str, parameters: usize) -> Vec<String> {
        let explain = format!("EXPLAIN QUERY PLAN {query}");
        let mut plan = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
        for i in 0..parameters {
            plan = plan.bind(i64::try_from(i).expect("few parameters"));
        }
        let rows = plan.fetch_all(pool).await.expect("explain");
        rows.into_iter().map(|(.., detail)| detail).collect()
    }

    /// The purge and the limit count stay cheap on a large table: they search indexes
    /// and never scan `tokenauth_tokens`.
    #[tokio::test]
    async fn purge_and_limit_queries_use_indexes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let pool = super::super::connect(&url).await.expect("connect");

        let purge = plan(&pool, PURGE, 4).await;
        assert!(purge.iter().all(|step| !step.starts_with("SCAN")), "{purge:#?}");
        for index in [
            "tokenauth_tokens_created",
            "tokenauth_tokens_expires",
            "tokenauth_tokens_last_active",
        ] {
            assert!(
                purge.iter().any(|step| step.contains(index)),
                "{index}: {purge:#?}"
            );
        }
        for query in [LIVE_IDS, COUNT_LIVE] {
            let steps = plan(&pool, query, 5).await;
            assert!(
                steps.iter().any(|step| step
                    .starts_with("SEARCH tokenauth_tokens USING INDEX tokenauth_tokens_user_created")),
                "{steps:#?}"
            );
            // The only scan allowed is of the few ids passed in (`json_each`).
            let table_scan = |step: &String| step.starts_with("SCAN tokenauth_tokens");
            assert!(!steps.iter().any(table_scan), "{steps:#?}");
        }
    }
}
