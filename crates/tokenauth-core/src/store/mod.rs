//! The storage contract for tokens: the primitives a backend translates.
//!
//! Policy (which tokens are live, the per-user limit, which token to evict, what
//! `replace` deletes, how many rows a user may keep) is decided in
//! [`TokenAuth`](crate::TokenAuth), once. A store offers storage verbs and one atomic
//! primitive, a per-user compare-and-swap ([`TokenStore::token_set`] +
//! [`TokenStore::commit`]), that lets core apply a decision safely under concurrency.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::{TokenId, UserId};

pub use crate::admin::{DirectoryCapabilities, UserAdmin};
pub use crate::bulk::{ImportedUsers, NewUser, TokenImport, UserImport};
pub use crate::memory::DuplicateToken;
pub use crate::prefetch::PrefetchedUser;
pub use crate::record::TokenRecord;
pub use crate::revocation::{Heartbeats, RevocationBus, RevocationListener};
pub use crate::token::TokenDigest;
pub use crate::usage::Usage;
pub use crate::user::{LoginRecord, UserDirectory};
pub use settings::Settings;

mod settings;

/// What a store's rows can hold, declared by [`TokenStore::capabilities`].
///
/// tokenauth's own stores hold everything ([`Capabilities::ALL`]). A store over
/// another program's table may hold less (DRF's `authtoken_token`: one key per user,
/// no name, scopes, lifespan of its own or last use), and says so here, so that a
/// program can refuse at start-up the options that would need what it lacks. Wrappers
/// (the cache's [`Cached`](crate::Cached)) declare what the store behind them holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// More than one token per user ([`ObtainPolicy::Reuse`](crate::ObtainPolicy::Reuse)
    /// is the only policy a one-token store can serve).
    pub several_tokens_per_user: bool,
    /// A name per token ([`TokenRecord::name`]).
    pub names: bool,
    /// Scopes per token ([`TokenRecord::scopes`]).
    pub scopes: bool,
    /// A lifespan of a token's own ([`TokenRecord::expires`]).
    pub own_lifespans: bool,
    /// The last use of a token ([`TokenStore::record_usage`]), which idle expiry needs.
    pub usage: bool,
    /// The credential version a token was issued under, kept with the token, so that a
    /// new password ends the tokens issued before it.
    pub credential_versions: bool,
    /// Ids of the store's choosing: a record's [`TokenRecord::id`] is kept as given.
    pub given_ids: bool,
}

impl Capabilities {
    /// Everything a [`TokenRecord`] says: what tokenauth's own stores hold.
    pub const ALL: Self = Self {
        several_tokens_per_user: true,
        names: true,
        scopes: true,
        own_lifespans: true,
        usage: true,
        credential_versions: true,
        given_ids: true,
    };

    /// One token per user and its creation time, nothing else: what DRF's
    /// `authtoken_token` holds.
    pub const NONE: Self = Self {
        several_tokens_per_user: false,
        names: false,
        scopes: false,
        own_lifespans: false,
        usage: false,
        credential_versions: false,
        given_ids: false,
    };

    /// Whether this store holds everything `needed` holds.
    pub fn covers(&self, needed: &Capabilities) -> bool {
        let pairs = [
            (self.several_tokens_per_user, needed.several_tokens_per_user),
            (self.names, needed.names),
            (self.scopes, needed.scopes),
            (self.own_lifespans, needed.own_lifespans),
            (self.usage, needed.usage),
            (self.credential_versions, needed.credential_versions),
            (self.given_ids, needed.given_ids),
        ];
        pairs.into_iter().all(|(held, needed)| held || !needed)
    }
}

/// One user's tokens as read by [`TokenStore::token_set`], with the version a
/// [`commit`](TokenStore::commit) must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenSet {
    /// The version of the user's token set. It is 0 for a user who never had a token
    /// committed, and every successful [`commit`](TokenStore::commit) changes it.
    pub version: u64,
    /// The user's records, expired or not, oldest first (by `created`, then id).
    pub records: Vec<TokenRecord>,
}

/// What a [`commit`](TokenStore::commit) writes: records to delete and at most one to
/// insert, for one user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Change {
    /// Ids of the user's records to delete. Ids that are no longer stored are skipped.
    pub delete: Vec<TokenId>,
    /// A new record of the user, to insert.
    pub insert: Option<TokenRecord>,
}

/// What a [`commit`](TokenStore::commit) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// The version matched: the change was written, and these records were deleted.
    Applied {
        /// The records the change deleted (those still stored), oldest first.
        ended: Vec<Ended>,
    },
    /// The user's token set changed since it was read: nothing was written. Core reads
    /// it again and decides again.
    Conflict,
}

/// A record a store deleted: enough for a cache to drop it, whichever key it uses.
///
/// `Debug` shows no digest bytes (see [`TokenDigest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The record's id.
    pub id: TokenId,
    /// The record's digest.
    pub digest: TokenDigest,
    /// The record's user.
    pub user_id: UserId,
}

impl From<&TokenRecord> for Ended {
    fn from(record: &TokenRecord) -> Self {
        Self {
            id: record.id.clone(),
            digest: record.digest,
            user_id: record.user_id.clone(),
        }
    }
}

/// Which records [`TokenStore::purge`] deletes: those matching **any** of the bounds.
///
/// These are column comparisons, not a policy: core derives them from the expiry policy
/// and the purge grace, so that a record matches only if it has been dead for the whole
/// grace. A store answers each term from an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeBounds {
    /// Records with `created < created_before`.
    pub created_before: OffsetDateTime,
    /// Records with an own `expires < expires_before`.
    pub expires_before: OffsetDateTime,
    /// Records whose last activity (`last_used`, or `created` if never used) is before
    /// this; `None` matches nothing by this term.
    pub active_before: Option<OffsetDateTime>,
}

impl PurgeBounds {
    /// Whether `record` matches: the reference for stores (and the test of the
    /// conformance suite).
    pub fn matches(&self, record: &TokenRecord) -> bool {
        record.created < self.created_before
            || record.expires.is_some_and(|own| own < self.expires_before)
            || self
                .active_before
                .is_some_and(|before| record.last_used.unwrap_or(record.created) < before)
    }
}

/// Where token records live.
///
/// Stores are dumb: they save, find and delete records, and apply the changes core
/// decided. They never read the clock and never decide whether a token is live; they
/// return expired records like any other, so that callers can tell `Token has expired`
/// from `Invalid token`.
///
/// # Atomicity: the per-user compare-and-swap
///
/// Every change that depends on what a user already holds (the per-user limit, evicting
/// the oldest, `replace`, the cap on rows) is a read-decide-write loop in core:
///
/// 1. [`token_set`](Self::token_set) reads the user's records and the set's version;
/// 2. core decides which records to delete and what to insert;
/// 3. [`commit`](Self::commit) writes that [`Change`] **only if** the version is still
///    the one read, and changes the version, all as one atomic step; otherwise it
///    answers [`Committed::Conflict`] and core starts again at 1.
///
/// So two concurrent logins of one user can never both count the same tokens. How each
/// backend implements the primitive:
///
/// - **Memory**: one lock around the check and the writes.
/// - **SQLite**: a `tokenauth_token_sets (user_id, version)` table; `commit` runs in one
///   `BEGIN IMMEDIATE` transaction (SQLite's single writer) that reads the version,
///   compares, deletes, inserts and writes `version + 1`. `token_set` reads the version
///   and the rows in one read transaction (a consistent snapshot under WAL).
/// - **PostgreSQL**: the same table; `commit` runs
///   `UPDATE tokenauth_token_sets SET version = version + 1 WHERE user_id = $1 AND
///   version = $2` first (inserting the row at version 1 when expected is 0, with
///   `ON CONFLICT DO NOTHING`); zero rows affected is a conflict (roll back); otherwise
///   the deletes and the insert follow in the same transaction. The row lock taken by
///   the `UPDATE` serialises concurrent commits of one user; `READ COMMITTED` is enough.
/// - **Redis**: a `{user}:version` key beside the user's index; `WATCH` the version key,
///   read, then `MULTI` / deletes / insert / `INCR` / `EXEC` (a nil reply is a
///   conflict), or one Lua script that compares and applies. Every key of one user
///   carries the same hash tag (`{user id}`), so the primitive stays on one slot of a
///   Redis Cluster.
///
/// Reads taken for `token_set` must be at least as new as the version they return:
/// read the version first (or both in one snapshot), never the rows first.
///
/// # Revocation and caches
///
/// Every verb that deletes records reports what it deleted as [`Ended`] (id, digest,
/// user), and core passes them on as a
/// [`Revocation`](crate::Revocation) to its
/// [`RevocationListener`]s, so that a cache keyed by digest
/// or by id can drop exactly what ended. Records deleted behind the store's back (by
/// another process, or by SQL run by hand) are not reported by this process: a cache
/// shared across processes needs the cross-process signal of a
/// [`RevocationBus`].
///
/// A store is done when it passes the conformance suite
/// (`tokenauth_conformance::token_store_conformance!`, a dev-dependency).
///
/// # Example
///
/// A store over a `Vec` behind a lock (the shipped
/// [`MemoryStore`](crate::MemoryStore) indexes by digest and id):
///
#[doc = concat!("```\n", include_str!("../../doc/vec_store.rs"), "```")]
pub trait TokenStore: Send + Sync + 'static {
    /// What can go wrong in the backend.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The records of `user`, expired or not, oldest first (ties broken by id), and the
    /// version of the set (0 if the user never had a commit). See "Atomicity" above.
    fn token_set(&self, user: &UserId) -> impl Future<Output = Result<TokenSet, Self::Error>> + Send;

    /// Applies `change` to `user`'s records if the set's version is still `expected`,
    /// changing the version, all atomically; [`Committed::Conflict`] (and nothing
    /// written) otherwise.
    ///
    /// The deletes name records of `user` (others are left alone); ids no longer stored
    /// are skipped. The insert's id and digest are unique across the store: inserting a
    /// duplicate of either is an error and writes nothing.
    fn commit(
        &self,
        user: &UserId,
        expected: u64,
        change: Change,
    ) -> impl Future<Output = Result<Committed, Self::Error>> + Send;

    /// The record with this digest, expired or not.
    fn find_by_digest(
        &self,
        digest: &TokenDigest,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send;

    /// The record with this digest as authentication reads it, on every request, at
    /// `now` by the service's clock. Stores keep the default,
    /// [`find_by_digest`](Self::find_by_digest); a decorator that keeps lookups in
    /// memory ([`TokenAuth::with_cache`](crate::TokenAuth::with_cache)) answers from
    /// there while its entry is fresh at `now`, and shares its copy. Every other read
    /// (a decision such as what to evict) goes to the store itself.
    fn find_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<Arc<TokenRecord>>, Self::Error>> + Send {
        let _ = now;
        async {
            let record = self.find_by_digest(digest).await?;
            // Whatever the store's collation or index matched, only this digest counts.
            Ok(record.filter(|record| record.digest == *digest).map(Arc::new))
        }
    }

    /// [`find_to_authenticate`](Self::find_to_authenticate), with the token's user
    /// when the store read it in the same query: a store that keeps tokens beside the
    /// users it authenticates (as DRF's `select_related("user")`) saves the
    /// directory its read ([`PrefetchedUser`]). Stores keep the default: nothing
    /// prefetched. Decorators pass it on; a cache that answers from memory has none.
    fn find_with_user_to_authenticate(
        &self,
        digest: &TokenDigest,
        now: OffsetDateTime,
    ) -> impl Future<Output = Result<Option<(Arc<TokenRecord>, PrefetchedUser)>, Self::Error>> + Send {
        async move {
            let record = self.find_to_authenticate(digest, now).await?;
            Ok(record.map(|record| (record, PrefetchedUser::none())))
        }
    }

    /// The record with this id, expired or not.
    fn find_by_id(
        &self,
        id: &TokenId,
    ) -> impl Future<Output = Result<Option<TokenRecord>, Self::Error>> + Send;

    /// The records of one user, or of every user with `None`, oldest first (ties broken
    /// by id).
    fn list(
        &self,
        user: Option<&UserId>,
    ) -> impl Future<Output = Result<Vec<TokenRecord>, Self::Error>> + Send;

    /// Deletes the record with this id; what was deleted, if anything.
    fn delete(&self, id: &TokenId) -> impl Future<Output = Result<Option<Ended>, Self::Error>> + Send;

    /// Deletes every record of `user` except `keep`; what was deleted, oldest first.
    fn delete_for_user(
        &self,
        user: &UserId,
        keep: Option<&TokenId>,
    ) -> impl Future<Output = Result<Vec<Ended>, Self::Error>> + Send;

    /// Writes a batch of uses: each record's `last_used` becomes the later of its own
    /// and the use's, and `last_ip` the use's address when it has one and is the later
    /// use. Uses of records that no longer exist are ignored.
    fn record_usage(&self, uses: &[Usage]) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Deletes at most `limit` records matching `bounds` ([`PurgeBounds::matches`]);
    /// what was deleted, in any order.
    ///
    /// Called repeatedly by the purge, so that no single call holds the store for long.
    fn purge(
        &self,
        bounds: &PurgeBounds,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Ended>, Self::Error>> + Send;

    /// Whether `error` means the store is unavailable for now (down, unreachable, out
    /// of connections, locked past its busy timeout) rather than failing: such errors
    /// reach callers as an unavailable [`BackendError`](crate::BackendError), which
    /// the web layer answers with 503 and `Retry-After` instead of 500. Default: never,
    /// for stores that cannot be unavailable (in memory).
    fn is_unavailable(error: &Self::Error) -> bool {
        let _ = error;
        false
    }

    /// What the store's rows can hold. Default: [`Capabilities::ALL`]; a store that
    /// holds less says so (a wrapper forwards its inner store's declaration).
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    /// Tells the store how long the serving policy may still need a token after it is
    /// written: the longest lifespan plus the purge grace. A store that keeps records
    /// until they are deleted (SQL) ignores it, as the default does; one whose records
    /// expire by themselves (Redis keys) keeps each at least this long, and with
    /// `refresh` extends the records already written when the retention grew.
    fn retain(
        &self,
        retention: Duration,
        refresh: bool,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        let _ = (retention, refresh);
        async { Ok(()) }
    }

    /// Checks that the store answers, for readiness probes
    /// ([`TokenAuth::ready`](crate::TokenAuth::ready)). The default looks up a digest
    /// no token has (all zeros) with [`find_by_digest`](Self::find_by_digest): one
    /// round trip through the contract, as cheap as a lookup. Override it only with
    /// something cheaper that still reaches the backend.
    fn ping(&self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async {
            self.find_by_digest(&TokenDigest::from_bytes([0; 32])).await?;
            Ok(())
        }
    }
}
