//! django-rest-knox's `knox_authtoken` table as a [`TokenStore`], once for every
//! dialect, shared live with the Django application.

use std::fmt;
use std::sync::Arc;

use sqlx::Pool;
use subtle::ConstantTimeEq as _;
use time::{Duration, OffsetDateTime};
use tokenauth_core::store::{
    Capabilities, Change, Committed, Ended, PrefetchedUser, PurgeBounds, TokenDigest, TokenRecord, TokenSet,
    TokenStore, Usage,
};
use tokenauth_core::{TokenId, UserId};

use crate::Error;
use crate::common::{self, KeyRow};
use crate::dialect::{Arg, Dialect, Execute};
use crate::rows::TokenRows;
use crate::statements::Statements;

/// knox's `TOKEN_KEY_LENGTH`: the first characters of a token (its prefix included),
/// stored and indexed as `token_key`.
const TOKEN_KEY_LENGTH: usize = 15;

/// knox's `MIN_REFRESH_INTERVAL` default: an auto-refresh that would move `expiry` by
/// this much or less writes nothing.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::seconds(60);

/// A [`TokenStore`] on django-rest-knox's `knox_authtoken` table (knox 5: `digest`, the
/// hex SHA-512 of the token and the primary key; `token_key`, its first 15
/// characters; `created`; `expiry`, NULL for never; `user_id`), opened with
/// [`DjangoTables::open_knox`](crate::DjangoTables::open_knox) and used with
/// [`knox_auth`](crate::knox_auth).
///
/// - **Tokens in knox's format** ([`TokenFormat::knox`](tokenauth_core::TokenFormat::knox)):
///   the prefix, then 32 random bytes in hex. The "digest" core hands the store is
///   those bytes, from which it computes what knox keeps and looks up: the rows whose
///   `token_key` is the token's first 15 characters, then the one whose `digest` is
///   the token's SHA-512, compared in constant time, as knox does. No token is stored
///   in plaintext. Only tokens with the configured prefix are accepted: a token knox
///   issued under another `TOKEN_PREFIX` (which knox itself still accepts) is refused.
/// - **Expiry is knox's.** A row's `expiry` is the token's own expiry; core also ends
///   it `lifespan` after `created`, whichever comes first, and accepts it while
///   `now <= expiry` as knox does (`expiry >= now`). A NULL `expiry` (knox's
///   `TOKEN_TTL = None`) is never for knox, and `lifespan` after `created` here. A
///   token issued here gets `expiry = created + ttl` (`ttl` of
///   [`DjangoTables::knox_store`](crate::DjangoTables::knox_store): give it the
///   lifespan), or its own lifespan's end; with no `ttl`, NULL.
/// - **knox's `AUTO_REFRESH`** ([`with_auto_refresh`](Self::with_auto_refresh)): a
///   token that authenticates while its `expiry` is set and not passed gets `expiry =
///   now + ttl`, written when that moves it by more than knox's `MIN_REFRESH_INTERVAL`
///   (60 s), as knox's `renew_token` does; core's `lifespan` after `created` still
///   ends it (knox's `AUTO_REFRESH_MAX_TTL`).
/// - **What knox's table cannot hold**: names, scopes (refused,
///   [`Error::Unsupported`]), uses (not recorded: no idle expiry). A token's
///   credential version is its user's, read with the row, as on DRF's table (see the
///   [crate docs](crate), "Password changes"). Ids are derived from the row as on
///   DRF's table, from its `digest`.
/// - **Ended tokens' digests.** Rows read without their token (a listing, a delete by
///   id, a purge) cannot give the token's bytes back: their records and
///   [`Ended`] carry a digest no token has. Do not put an
///   [`AuthCache`](tokenauth_core::AuthCache) in front of this store (Django's own
///   deletions would reach it no more).
pub struct KnoxStore<DB: Dialect> {
    rows: TokenRows<DB>,
    prefix: String,
    ttl: Option<Duration>,
    auto_refresh: bool,
}

impl<DB: Dialect> KnoxStore<DB> {
    pub(crate) fn on(pool: Pool<DB>, sql: Arc<Statements>, prefix: &str, ttl: Option<Duration>) -> Self {
        Self {
            rows: TokenRows { pool, sql },
            prefix: prefix.to_owned(),
            ttl,
            auto_refresh: false,
        }
    }

    /// The store with knox's `AUTO_REFRESH` on or off (off by default): each
    /// authentication of a token whose `expiry` is set moves it to `now + ttl` (see
    /// [`KnoxStore`]). Without a `ttl` there is nothing to move it by: no refresh.
    #[must_use]
    pub fn with_auto_refresh(mut self, on: bool) -> Self {
        self.auto_refresh = on;
        self
    }

    /// The prefix of the tokens issued and accepted (knox's `TOKEN_PREFIX`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The pool.
    pub fn pool(&self) -> &Pool<DB> {
        &self.rows.pool
    }

    /// What knox stores for the token a digest of
    /// [`TokenFormat::knox`](tokenauth_core::TokenFormat::knox) carries: its
    /// `token_key` and its hex SHA-512.
    fn knox_columns(&self, digest: &TokenDigest) -> (String, String) {
        let token = digest.knox_token(&self.prefix);
        let token_key = token.expose_secret()[..TOKEN_KEY_LENGTH].to_owned();
        (token_key, token.knox_digest())
    }
}

impl<DB: Dialect> Clone for KnoxStore<DB> {
    fn clone(&self) -> Self {
        Self {
            rows: self.rows.clone(),
            prefix: self.prefix.clone(),
            ttl: self.ttl,
            auto_refresh: self.auto_refresh,
        }
    }
}

impl<DB: Dialect> fmt::Debug for KnoxStore<DB> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnoxStore")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .field("auto_refresh", &self.auto_refresh)
            .finish_non_exhaustive()
    }
}

/// What a row read without its token stands for: its digest is none a token of
/// knox's format has (the SHA-256 of knox's hex SHA-512, never 32 random bytes of a
/// token but by chance).
fn unknown_digest(row: &KeyRow) -> TokenDigest {
    TokenDigest::of(&row.key)
}

fn record(row: &KeyRow) -> TokenRecord {
    row.record_with(unknown_digest(row))
}

fn ended(row: &KeyRow) -> Ended {
    Ended {
        id: row.id(),
        digest: unknown_digest(row),
        user_id: row.user_id.clone(),
    }
}

impl<DB: Execute> KnoxStore<DB> {
    /// [`TokenStore::commit`], a transaction rolled back by the database reported as
    /// its error.
    async fn try_commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        let Some(user) = self.rows.key_of(user) else {
            return Err(Error::Unsupported("a user id that is not the user table's key"));
        };
        if change
            .insert
            .as_ref()
            .is_some_and(|record| !record.scopes.is_empty())
        {
            return Err(Error::Unsupported("scopes"));
        }
        let Some((mut tx, gone)) = self.rows.begin_commit(&user, expected, &change).await? else {
            return Ok(Committed::Conflict);
        };
        if let Some(record) = &change.insert {
            let (token_key, sha512) = self.knox_columns(&record.digest);
            let expiry = record
                .expires
                .or_else(|| self.ttl.and_then(|ttl| record.created.checked_add(ttl)));
            let args = [
                Arg::Text(&sha512),
                Arg::Text(&token_key),
                Arg::Time(record.created),
                expiry.map_or(Arg::NullTime, Arg::Time),
                user.arg(),
            ];
            DB::execute(&mut tx, &self.rows.sql.insert_token, &args).await?;
        }
        tx.commit().await?;
        Ok(Committed::Applied {
            ended: gone.iter().map(ended).collect(),
        })
    }

    /// `record` after knox's `AUTO_REFRESH` (see
    /// [`find_to_authenticate`](TokenStore::find_to_authenticate)).
    async fn refreshed(
        &self,
        mut record: TokenRecord,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<TokenRecord, Error> {
        let refresh = self.rows.sql.refresh_expiry.as_deref();
        if let (true, Some(ttl), Some(expiry), Some(sql)) =
            (self.auto_refresh, self.ttl, record.expires, refresh)
        {
            let renewed = now.checked_add(ttl);
            // knox deletes an expired row rather than renew it; here it is refused.
            if let Some(renewed) =
                renewed.filter(|renewed| expiry >= now && *renewed - expiry > MIN_REFRESH_INTERVAL)
            {
                let (_, sha512) = self.knox_columns(digest);
                let args = [Arg::Time(renewed), Arg::Text(&sha512)];
                let mut conn = self.rows.pool.acquire().await?;
                if DB::execute(&mut conn, sql, &args).await? > 0 {
                    record.expires = Some(renewed);
                }
            }
        }
        Ok(record)
    }
}

impl<DB: Execute> TokenStore for KnoxStore<DB> {
    type Error = Error;

    /// Several tokens per user, each with its own expiry; no names, scopes, uses or
    /// credential versions.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            several_tokens_per_user: true,
            own_lifespans: true,
            ..Capabilities::NONE
        }
    }

    #[tracing::instrument(skip_all)]
    async fn token_set(&self, user: &UserId) -> Result<TokenSet, Error> {
        let rows = self.rows.list(Some(user)).await?;
        Ok(TokenSet {
            version: common::version_of(&rows),
            records: rows.iter().map(record).collect(),
        })
    }

    #[tracing::instrument(skip_all)]
    async fn commit(&self, user: &UserId, expected: u64, change: Change) -> Result<Committed, Error> {
        TokenRows::<DB>::conflict_if_rolled_back(self.try_commit(user, expected, change).await)
    }

    /// The rows whose `token_key` is the token's, then the one whose `digest` is its
    /// SHA-512, compared in constant time (knox's `hmac.compare_digest`).
    #[tracing::instrument(skip_all)]
    async fn find_by_digest(&self, digest: &TokenDigest) -> Result<Option<TokenRecord>, Error> {
        let (token_key, sha512) = self.knox_columns(digest);
        let rows = self.rows.by_key(&token_key).await?;
        let found = rows
            .iter()
            .find(|row| bool::from(row.key.as_bytes().ct_eq(sha512.as_bytes())));
        Ok(found.map(|row| row.record_with(*digest)))
    }

    /// As [`find_by_digest`](TokenStore::find_by_digest), then knox's `AUTO_REFRESH`
    /// when on: a live token's `expiry` moved to `now + ttl`, written only when that
    /// moves it by more than [`MIN_REFRESH_INTERVAL`] (knox's `renew_token`).
    async fn find_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<Arc<TokenRecord>>, Error> {
        let Some(record) = self.find_by_digest(digest).await? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(self.refreshed(record, digest, now).await?)))
    }

    /// As [`find_to_authenticate`](TokenStore::find_to_authenticate), the token's
    /// user read in the same query (DRF's `select_related("user")`), for a directory
    /// on the same pool and user table.
    #[tracing::instrument(skip_all)]
    async fn find_with_user_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> Result<Option<(Arc<TokenRecord>, PrefetchedUser)>, Error> {
        let (token_key, sha512) = self.knox_columns(digest);
        let rows = self.rows.by_key_with_users(&token_key).await?;
        let Some((row, user)) = rows
            .into_iter()
            .find(|(row, _)| bool::from(row.key.as_bytes().ct_eq(sha512.as_bytes())))
        else {
            return Ok(None);
        };
        let record = self.refreshed(row.record_with(*digest), digest, now).await?;
        Ok(Some((Arc::new(record), PrefetchedUser::new(user))))
    }

    #[tracing::instrument(skip_all)]
    async fn find_by_id(&self, id: &TokenId) -> Result<Option<TokenRecord>, Error> {
        Ok(self.rows.by_id(id).await?.as_ref().map(record))
    }

    #[tracing::instrument(skip_all)]
    async fn list(&self, user: Option<&UserId>) -> Result<Vec<TokenRecord>, Error> {
        Ok(self.rows.list(user).await?.iter().map(record).collect())
    }

    #[tracing::instrument(skip_all)]
    async fn delete(&self, id: &TokenId) -> Result<Option<Ended>, Error> {
        Ok(self.rows.delete(id).await?.as_ref().map(ended))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_for_user(&self, user: &UserId, keep: Option<&TokenId>) -> Result<Vec<Ended>, Error> {
        Ok(self
            .rows
            .delete_for_user(user, keep)
            .await?
            .iter()
            .map(ended)
            .collect())
    }

    /// knox's table has no last-used column: uses are not written.
    async fn record_usage(&self, _uses: &[Usage]) -> Result<(), Error> {
        Ok(())
    }

    /// Rows created before `created_before` or whose `expiry` is before
    /// `expires_before` (knox's NULL: never).
    #[tracing::instrument(skip_all)]
    async fn purge(&self, bounds: &PurgeBounds, limit: usize) -> Result<Vec<Ended>, Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        // In the statement's order (MySQL binds its parameters in order).
        let args = [
            Arg::Time(bounds.created_before),
            Arg::Time(bounds.expires_before),
            Arg::Int(limit),
        ];
        Ok(self.rows.purge(&args).await?.iter().map(ended).collect())
    }
}
