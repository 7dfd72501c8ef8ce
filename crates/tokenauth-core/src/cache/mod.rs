//! A cache of what authentication reads, in front of any store and directory: a
//! decorator, which the service does not know about.
//!
//! - `decorator`: [`Cached`], the wrapper of a store or a directory that answers
//!   authentication's lookups from the cache and applies every write that goes through
//!   it; and `TokenAuth::with_cache`, which puts it in front of both;
//! - `entries`: lookups, fills and removals, and the tickets that keep a lookup which
//!   raced a change from caching what it read;
//! - `segment`: the bounded maps, evicting by S3-FIFO (`quick_cache`): scan resistant;
//! - `follow`: revocations made elsewhere: the service's listener, and a bus followed.
//!
//! See [`AuthCache`].

mod decorator;
mod entries;
mod follow;
mod segment;

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use quick_cache::DefaultHashBuilder;
use time::{Duration, OffsetDateTime};

pub use decorator::Cached;
pub use follow::Following;
use segment::{Negative, Segment, UserShard};

use crate::token::TokenDigest;
use crate::usage::{lock, shard_of};
use crate::user::UserId;

/// The default number of tokens a cache holds: [`AuthCache::default`].
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// The default time an entry is served from a cache: 10 seconds.
pub const DEFAULT_CACHE_TTL: Duration = Duration::seconds(10);

/// Independently locked parts of each map: requests for different tokens (and users)
/// mostly take different locks.
const SHARDS: usize = 16;

/// A cache of token records, users and unknown digests, put in front of a service's
/// store and directory by [`TokenAuth::with_cache`](crate::TokenAuth::with_cache).
///
/// [`AuthCache`] keeps, for a bounded time ([TTL](Self::with_ttl)) and in bounded
/// memory, what [`TokenAuth::authenticate`](crate::TokenAuth::authenticate) looks up
/// ([`TokenStore::find_to_authenticate`](crate::store::TokenStore::find_to_authenticate) and
/// [`UserDirectory::find_user_to_authenticate`](crate::store::UserDirectory::find_user_to_authenticate);
/// every other read goes to the backend):
///
/// - **positive entries**: a token's record, by digest (at most
///   [`capacity`](Self::new) of them);
/// - **users**: each cached token's user as the directory returned it, by id (the user
///   or "none": deleted);
/// - **negative entries**: well-formed digests the store does not know, in a separate,
///   smaller segment, so that a client trying unknown tokens (a scan) costs one store
///   lookup per token and can only evict other negative entries, never a valid token.
///
/// Only the lookups are cached. Whether the token works (expiry, credential version,
/// the user's active flag) is still decided by core on every request, with the
/// injected clock, from the cached record and user.
///
/// # Coherence
///
/// Within one process the cache is exactly coherent. It stands in front of the store
/// and the directory ([`Cached`]), so every write of the service goes through it: a
/// write that ends a token or changes a user (logout, revoke, eviction, `replace`, a
/// password change or re-hash, deactivation and reactivation, deletion, the purge)
/// drops what it names as soon as the backend has committed it, before the operation
/// returns, so the very next request is decided on fresh data; a new token drops a
/// negative entry for its digest; written last-used times update the cached records.
/// It also listens to the service's revocations, for what a write cannot show (a
/// delete resent by a driver, which reports nothing).
///
/// A lookup that started before such a change can finish after it: its answer is
/// stale. Every removal first advances an epoch, and an answer is cached only if the
/// epoch is still the one read before the lookup started, checked under the same lock
/// that inserts it; so a stale answer is never cached.
///
/// Across processes, follow a [`RevocationBus`](crate::store::RevocationBus)
/// ([`follow`](Self::follow)): revocations published by any process are dropped here as
/// they arrive, and while the bus says it is not connected (it may be missing messages)
/// the cache serves and keeps nothing.
/// Without a bus, changes made by other processes are seen once the entries they
/// concern reach their TTL.
///
/// Cheap to clone: clones share the entries.
///
/// # Eviction
///
/// Each shard evicts by S3-FIFO (the `quick_cache` crate): a new entry waits in a small
/// queue and is the first dropped unless it is asked for again; one asked for again,
/// or dropped recently (its hash is remembered), joins the main queue, where entries in
/// use stay. So a one-off scan of new tokens (a batch job, a client trying tokens)
/// cannot push out the tokens in use, and clients walking through somewhat more tokens
/// than the cache holds still get most of what fits. A user evicted takes its cached
/// tokens along; [`stats`](Self::stats) counts them as evictions.
///
/// # Memory
///
/// At most `capacity` tokens and as many users, and `capacity / 8` (at least 16)
/// unknown digests; each map is split in 16 shards and each shard's share is rounded
/// up. A token entry takes about 400 bytes with its name and scopes, a user entry about
/// 200 bytes with a [`User`](crate::User), a negative entry about 80 bytes: the default
/// 10,000 tokens, each with a user of its own, take about 6 MiB. Each map also
/// remembers up to half as many evicted keys, in slots the size of an entry without
/// its record or user.
///
/// ```
/// use time::Duration;
/// use tokenauth_core::{AuthCache, MemoryStore, MemoryUserDirectory, TokenAuth};
///
/// let cache = AuthCache::new(50_000).with_ttl(Duration::seconds(30));
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new()).with_cache(cache);
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct AuthCache {
    inner: Arc<Inner>,
}

struct Inner {
    // Each shard holds its share of the capacity.
    tokens: Box<[Mutex<Segment>]>,
    negative: Box<[Mutex<Negative>]>,
    users: Box<[Mutex<UserShard>]>,
    /// Picks a user's shard: ids come from the directory, not from clients, so the
    /// fast keyed hash of the maps.
    hasher: DefaultHashBuilder,
    /// Advanced before every removal; a fill is kept only if it is unchanged.
    epoch: AtomicU64,
    /// Advanced before a negative entry is dropped for a new token.
    negative_epoch: AtomicU64,
    /// While set, nothing is served or kept (the bus followed may be missing messages).
    paused: AtomicBool,
    /// Nothing is ever served or kept ([`AuthCache::disabled`]).
    disabled: bool,
    /// What [`AuthCache::stats`] reports.
    stats: Counters,
    ttl: Duration,
}

impl fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCache")
            .field("tokens", &self.len())
            .field("ttl", &self.inner.ttl)
            .field("paused", &self.is_paused())
            .field("disabled", &self.inner.disabled)
            .finish_non_exhaustive()
    }
}

/// What a cache has done since it was made ([`AuthCache::stats`]). A disabled cache
/// counts nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Token lookups answered from the cache (a record, or a digest known unknown).
    pub hits: u64,
    /// Token lookups passed on to the store (nothing fresh cached, or paused).
    pub misses: u64,
    /// Entries dropped to make room for others.
    pub evictions: u64,
    /// Revocations the cache missed because it fell behind the bus it follows
    /// (each time, it dropped everything).
    pub lagged: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    lagged: AtomicU64,
}

impl Default for AuthCache {
    /// [`DEFAULT_CACHE_CAPACITY`] tokens for [`DEFAULT_CACHE_TTL`].
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl AuthCache {
    /// A cache of at most `capacity` tokens (at least 1) and as many users, for
    /// [`DEFAULT_CACHE_TTL`]; unknown digests get a segment of their own of
    /// `capacity / 8` (at least 16).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let share = |total: usize| total.div_ceil(SHARDS).max(1);
        Self {
            inner: Arc::new(Inner {
                tokens: Segment::shards(SHARDS, share(capacity)),
                negative: Negative::shards(SHARDS, share((capacity / 8).max(16))),
                users: UserShard::shards(SHARDS, share(capacity)),
                hasher: DefaultHashBuilder::default(),
                epoch: AtomicU64::new(0),
                negative_epoch: AtomicU64::new(0),
                paused: AtomicBool::new(false),
                disabled: false,
                stats: Counters::default(),
                ttl: DEFAULT_CACHE_TTL,
            }),
        }
    }

    /// A cache that keeps nothing: every lookup goes to the store and the directory, as
    /// without a cache. For a program that decides at run time whether to cache (the
    /// server's `--cache`) and wants one service type either way.
    pub fn disabled() -> Self {
        let mut cache = Self::new(1);
        Arc::get_mut(&mut cache.inner).expect("not cloned yet").disabled = true;
        cache
    }

    /// Sets how long an entry is served (default [`DEFAULT_CACHE_TTL`]): the longest a
    /// change made by another process stays unseen when no bus carries it.
    ///
    /// # Panics
    ///
    /// If the cache has already been cloned (configure it before use).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        Arc::get_mut(&mut self.inner)
            .expect("configure the cache before cloning it")
            .ttl = ttl;
        self
    }

    /// How long an entry is served.
    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// How many tokens are cached (entries past their TTL included, until the store's
    /// answer replaces them or they are evicted).
    pub fn len(&self) -> usize {
        self.inner.tokens.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.advance_all();
        for shard in self.inner.users.iter() {
            lock(shard).clear();
        }
        for shard in self.inner.tokens.iter() {
            lock(shard).clear();
        }
        for shard in self.inner.negative.iter() {
            lock(shard).clear();
        }
    }

    /// Stops serving and keeping anything, and drops everything: for when revocations
    /// may be missed (the bus followed is disconnected). [`resume`](Self::resume)
    /// undoes it.
    pub fn pause(&self) {
        self.inner.paused.store(true, Ordering::SeqCst);
        self.clear();
    }

    /// Drops everything and serves again (after [`pause`](Self::pause)).
    pub fn resume(&self) {
        self.clear();
        self.inner.paused.store(false, Ordering::SeqCst);
    }

    /// Whether the cache is paused.
    pub fn is_paused(&self) -> bool {
        self.inner.paused.load(Ordering::SeqCst)
    }

    /// What the cache has done since it was made: for metrics.
    pub fn stats(&self) -> CacheStats {
        let stats = &self.inner.stats;
        CacheStats {
            hits: stats.hits.load(Ordering::Relaxed),
            misses: stats.misses.load(Ordering::Relaxed),
            evictions: stats.evictions.load(Ordering::Relaxed),
            lagged: stats.lagged.load(Ordering::Relaxed),
        }
    }

    fn evicted(&self, entries: u64) {
        if entries > 0 {
            self.inner.stats.evictions.fetch_add(entries, Ordering::Relaxed);
        }
    }

    /// Whether entries may be served and kept: neither paused nor disabled.
    fn serving(&self) -> bool {
        !self.inner.disabled && !self.is_paused()
    }

    fn advance_all(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.inner.negative_epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn user_shard(&self, id: &UserId) -> &Mutex<UserShard> {
        let hash = self.inner.hasher.hash_one(id);
        &self.inner.users[(hash % SHARDS as u64) as usize]
    }

    fn token_shard(&self, digest: &TokenDigest) -> &Mutex<Segment> {
        &self.inner.tokens[shard_of(digest, SHARDS)]
    }

    fn negative_shard(&self, digest: &TokenDigest) -> &Mutex<Negative> {
        &self.inner.negative[shard_of(digest, SHARDS)]
    }

    // Inline: every hit asks, from another module.
    #[inline]
    fn fresh(&self, filled: OffsetDateTime, now: OffsetDateTime) -> bool {
        now >= filled && now - filled < self.inner.ttl
    }
}
