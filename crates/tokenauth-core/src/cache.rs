//! A cache of what authentication reads, in front of any store and directory.
//!
//! See [`AuthCache`].

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::record::TokenRecord;
use crate::revocation::{Revocation, RevocationBus, RevocationListener};
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

/// A cache of token records, users and unknown digests, for
/// [`TokenAuth::with_cache`](crate::TokenAuth::with_cache).
///
/// [`AuthCache`] keeps, for a bounded time ([TTL](Self::with_ttl)) and in bounded
/// memory, what [`TokenAuth::authenticate`](crate::TokenAuth::authenticate) looks up:
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
/// Within one process the cache is exactly coherent: every operation of
/// [`TokenAuth`](crate::TokenAuth) that ends a token or changes a user (logout, revoke,
/// eviction, `replace`, a password change, deactivation and reactivation, deletion,
/// the purge) drops what it names as soon as its store write has committed, before the
/// operation returns, so the very next request is decided on fresh data. A new token
/// drops a negative entry for its digest.
///
/// A lookup that started before such a change can finish after it: its answer is
/// stale. Every removal first advances an epoch, and an answer is cached only if the
/// epoch is still the one read before the lookup started, checked under the same lock
/// that inserts it; so a stale answer is never cached.
///
/// Across processes, follow a [`RevocationBus`] ([`follow`](Self::follow)): revocations
/// published by any process are dropped here as they arrive, and while the bus says it
/// is not connected (it may be missing messages) the cache serves and keeps nothing.
/// Without a bus, changes made by other processes are seen once the entries they
/// concern reach their TTL.
///
/// Cheap to clone: clones share the entries.
///
/// # Memory
///
/// At most `capacity` tokens and as many users, and `capacity / 8` (at least 16)
/// unknown digests; each map is split in 16 shards and each shard's share is rounded
/// up. A token entry takes about 400 bytes with its name and scopes, a user entry about
/// 200 bytes with a [`User`](crate::User), a negative entry about 80 bytes: the default
/// 10,000 tokens, each with a user of its own, take about 6 MiB.
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
    tokens: Box<[Mutex<Segment<TokenEntry>>]>,
    negative: Box<[Mutex<Segment<OffsetDateTime>>]>,
    users: Box<[Mutex<UserShard>]>,
    hasher: RandomState,
    /// Advanced before every removal; a fill is kept only if it is unchanged.
    epoch: AtomicU64,
    /// Advanced before a negative entry is dropped for a new token.
    negative_epoch: AtomicU64,
    /// While set, nothing is served or kept (the bus followed may be missing messages).
    paused: AtomicBool,
    ttl: Duration,
    token_capacity: usize,
    negative_capacity: usize,
    user_capacity: usize,
}

impl fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCache")
            .field("tokens", &self.len())
            .field("ttl", &self.inner.ttl)
            .field("paused", &self.is_paused())
            .finish_non_exhaustive()
    }
}

impl Default for AuthCache {
    /// [`DEFAULT_CACHE_CAPACITY`] tokens for [`DEFAULT_CACHE_TTL`].
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

/// A cached record.
struct TokenEntry {
    record: Arc<TokenRecord>,
    filled: OffsetDateTime,
}

/// Entries by digest, evicted oldest first once full.
struct Segment<V> {
    map: HashMap<TokenDigest, (V, u64)>,
    /// Digests in the order they were inserted, with the sequence number of the
    /// insertion: a slot whose number no longer matches its entry is stale.
    order: VecDeque<(TokenDigest, u64)>,
    next: u64,
}

impl<V> Default for Segment<V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            next: 0,
        }
    }
}

impl<V> Segment<V> {
    /// Inserts, evicting the oldest entries beyond `capacity`.
    fn insert(&mut self, digest: TokenDigest, value: V, capacity: usize) {
        let seq = self.next;
        self.next += 1;
        self.map.insert(digest, (value, seq));
        self.order.push_back((digest, seq));
        while self.map.len() > capacity {
            let Some((oldest, seq)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&oldest).is_some_and(|(_, s)| *s == seq) {
                self.map.remove(&oldest);
            }
        }
        // Removals leave stale slots behind: sweep them before they outnumber entries.
        if self.order.len() > 2 * capacity.max(self.map.len()) + 16 {
            let map = &self.map;
            self.order
                .retain(|(digest, seq)| map.get(digest).is_some_and(|(_, s)| s == seq));
        }
    }

    fn get(&self, digest: &TokenDigest) -> Option<&V> {
        self.map.get(digest).map(|(v, _)| v)
    }

    fn remove(&mut self, digest: &TokenDigest) -> Option<V> {
        self.map.remove(digest).map(|(v, _)| v)
    }

    fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

/// Users of one shard, and which cached tokens belong to each, so that a change to a
/// user drops its tokens too.
#[derive(Default)]
struct UserShard {
    slots: HashMap<UserId, UserSlot>,
    /// Users in the order their entries were filled, for eviction.
    order: VecDeque<UserId>,
}

#[derive(Default)]
struct UserSlot {
    /// The directory's answer (`Option<U>`, type-erased) and when it was read.
    user: Option<(Arc<dyn Any + Send + Sync>, OffsetDateTime)>,
    /// Digests of the user's cached tokens (some may have been evicted since).
    tokens: Vec<TokenDigest>,
}

/// The slot of user `id`, created (and queued for eviction) if missing.
fn slot<'a>(shard: &'a mut UserShard, id: &UserId) -> &'a mut UserSlot {
    if !shard.slots.contains_key(id) {
        shard.order.push_back(id.clone());
    }
    shard.slots.entry(id.clone()).or_default()
}

/// The epochs read before a lookup, to check before caching its answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    negative_epoch: u64,
}

/// What the cache knows about a digest.
pub(crate) enum Cached {
    /// The record.
    Found(Arc<TokenRecord>),
    /// The store had no such token.
    Unknown,
    /// Nothing: look it up, then offer the answer with this ticket.
    Miss(Ticket),
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
                tokens: (0..SHARDS).map(|_| Mutex::default()).collect(),
                negative: (0..SHARDS).map(|_| Mutex::default()).collect(),
                users: (0..SHARDS).map(|_| Mutex::default()).collect(),
                hasher: RandomState::new(),
                epoch: AtomicU64::new(0),
                negative_epoch: AtomicU64::new(0),
                paused: AtomicBool::new(false),
                ttl: DEFAULT_CACHE_TTL,
                token_capacity: share(capacity),
                negative_capacity: share((capacity / 8).max(16)),
                user_capacity: share(capacity),
            }),
        }
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

    /// How many tokens are cached (expired entries included until they are met).
    pub fn len(&self) -> usize {
        self.inner.tokens.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops everything.
    pub fn clear(&self) {
        self.advance_all();
        for shard in self.inner.users.iter() {
            let mut shard = lock(shard);
            shard.slots.clear();
            shard.order.clear();
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

    /// Applies every revocation published on `bus` from now on, on a task of the
    /// current Tokio runtime: a [`Revocation::Everything`] or a lagging receiver
    /// flushes; while the bus is not [connected](RevocationBus::connected) the cache is
    /// [paused](Self::pause). Dropping the returned handle stops it (and leaves the
    /// cache paused, as nothing is followed any more).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn follow<B: RevocationBus>(&self, bus: &B) -> Following {
        let mut revocations = bus.subscribe();
        let mut connected = bus.connected();
        let cache = self.clone();
        if !*connected.borrow_and_update() {
            cache.pause();
        }
        let task = tokio::spawn(async move {
            let mut watching = true;
            loop {
                tokio::select! {
                    received = revocations.recv() => match received {
                        Ok(revocation) => cache.revoked(&revocation),
                        Err(RecvError::Lagged(_)) => cache.clear(),
                        Err(RecvError::Closed) => break,
                    },
                    changed = connected.changed(), if watching => match changed {
                        Ok(()) if *connected.borrow_and_update() => cache.resume(),
                        Ok(()) => cache.pause(),
                        // No one vouches for the bus any more (its listening task
                        // ended, perhaps by a panic): serve nothing from memory.
                        Err(_) => {
                            watching = false;
                            cache.pause();
                        }
                    },
                }
            }
            cache.pause();
        });
        Following {
            task,
            cache: self.clone(),
        }
    }

    fn advance_all(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.inner.negative_epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn user_shard(&self, id: &UserId) -> &Mutex<UserShard> {
        let hash = self.inner.hasher.hash_one(id);
        &self.inner.users[(hash % SHARDS as u64) as usize]
    }

    fn token_shard(&self, digest: &TokenDigest) -> &Mutex<Segment<TokenEntry>> {
        &self.inner.tokens[shard_of(digest, SHARDS)]
    }

    fn negative_shard(&self, digest: &TokenDigest) -> &Mutex<Segment<OffsetDateTime>> {
        &self.inner.negative[shard_of(digest, SHARDS)]
    }

    fn fresh(&self, filled: OffsetDateTime, now: OffsetDateTime) -> bool {
        now >= filled && now - filled < self.inner.ttl
    }

    pub(crate) fn ticket(&self) -> Ticket {
        Ticket {
            epoch: self.inner.epoch.load(Ordering::SeqCst),
            negative_epoch: self.inner.negative_epoch.load(Ordering::SeqCst),
        }
    }

    /// What is known about `digest` at `now`. The ticket of a miss is taken before the
    /// caller's lookup starts.
    pub(crate) fn token(&self, digest: &TokenDigest, now: OffsetDateTime) -> Cached {
        let ticket = self.ticket();
        if self.is_paused() {
            return Cached::Miss(ticket);
        }
        {
            let mut shard = lock(self.token_shard(digest));
            match shard.get(digest) {
                Some(entry) if self.fresh(entry.filled, now) => {
                    return Cached::Found(Arc::clone(&entry.record));
                }
                Some(_) => {
                    shard.remove(digest);
                }
                None => {}
            }
        }
        let mut shard = lock(self.negative_shard(digest));
        match shard.get(digest) {
            Some(filled) if self.fresh(*filled, now) => Cached::Unknown,
            Some(_) => {
                shard.remove(digest);
                Cached::Miss(ticket)
            }
            None => Cached::Miss(ticket),
        }
    }

    /// Keeps the store's answer for `digest`, looked up with `ticket`, unless something
    /// was dropped since the ticket was taken.
    pub(crate) fn fill_token(
        &self,
        digest: &TokenDigest,
        record: Option<&Arc<TokenRecord>>,
        ticket: Ticket,
        now: OffsetDateTime,
    ) {
        let Some(record) = record else {
            let mut shard = lock(self.negative_shard(digest));
            if self.current(ticket)
                && self.inner.negative_epoch.load(Ordering::SeqCst) == ticket.negative_epoch
            {
                shard.insert(*digest, now, self.inner.negative_capacity);
            }
            return;
        };
        // Lock order: a user's shard, then a token shard; never two token shards. The
        // epoch is checked under both, so that neither a token's nor a user's removal
        // can slip between the check and the insert.
        let mut users = lock(self.user_shard(&record.user_id));
        {
            let mut tokens = lock(self.token_shard(digest));
            if !self.current(ticket) {
                return;
            }
            let entry = TokenEntry {
                record: Arc::clone(record),
                filled: now,
            };
            tokens.insert(*digest, entry, self.inner.token_capacity);
        }
        let users = &mut *users;
        let slot = slot(users, &record.user_id);
        if !slot.tokens.contains(digest) {
            slot.tokens.push(*digest);
        }
        // Evicted tokens leave their digests here: forget those before they pile up.
        if slot.tokens.len() > 16 && slot.tokens.len().is_power_of_two() {
            let user = &record.user_id;
            slot.tokens.retain(|d| {
                lock(self.token_shard(d))
                    .get(d)
                    .is_some_and(|e| &e.record.user_id == user)
            });
        }
        self.evict_users(users, &record.user_id);
    }

    /// Evicts the oldest users beyond the capacity, except `keep`, and their tokens with
    /// them: a token must never stay cached once its user's index entry is gone.
    fn evict_users(&self, shard: &mut UserShard, keep: &UserId) {
        let mut budget = shard.order.len();
        while shard.slots.len() > self.inner.user_capacity && budget > 0 {
            budget -= 1;
            let Some(oldest) = shard.order.pop_front() else {
                break;
            };
            if &oldest == keep {
                shard.order.push_back(oldest);
            } else if let Some(slot) = shard.slots.remove(&oldest) {
                self.drop_tokens(&slot.tokens, &oldest);
            }
        }
        if shard.order.len() > 2 * self.inner.user_capacity + 16 {
            let slots = &shard.slots;
            shard.order.retain(|id| slots.contains_key(id));
        }
    }

    fn current(&self, ticket: Ticket) -> bool {
        !self.is_paused() && self.inner.epoch.load(Ordering::SeqCst) == ticket.epoch
    }

    /// The directory's answer for user `id` (`Some(None)`: no such user), if cached
    /// and of type `U`.
    pub(crate) fn user<U: Clone + Send + Sync + 'static>(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> Option<Option<U>> {
        if self.is_paused() {
            return None;
        }
        let shard = lock(self.user_shard(id));
        let (user, filled) = shard.slots.get(id)?.user.as_ref()?;
        if !self.fresh(*filled, now) {
            return None;
        }
        user.downcast_ref::<Option<U>>().cloned()
    }

    /// Keeps the directory's answer for user `id`, looked up with `ticket`, unless
    /// something was dropped since.
    pub(crate) fn fill_user<U: Clone + Send + Sync + 'static>(
        &self,
        id: &UserId,
        user: &Option<U>,
        ticket: Ticket,
        now: OffsetDateTime,
    ) {
        let mut shard = lock(self.user_shard(id));
        if !self.current(ticket) {
            return;
        }
        let shard = &mut *shard;
        slot(shard, id).user = Some((Arc::new(user.clone()), now));
        self.evict_users(shard, id);
    }

    fn drop_tokens(&self, digests: &[TokenDigest], user: &UserId) {
        for digest in digests {
            let mut shard = lock(self.token_shard(digest));
            if shard.get(digest).is_some_and(|e| &e.record.user_id == user) {
                shard.remove(digest);
            }
        }
    }

    /// Drops user `id` and every cached token of it.
    pub fn forget_user(&self, id: &UserId) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        let mut shard = lock(self.user_shard(id));
        if let Some(slot) = shard.slots.remove(id) {
            self.drop_tokens(&slot.tokens, id);
        }
    }

    /// Drops the token with this digest.
    pub fn forget_token(&self, digest: &TokenDigest) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        lock(self.token_shard(digest)).remove(digest);
    }

    /// A token with this digest now exists: drop the negative entry.
    pub(crate) fn created(&self, digest: &TokenDigest) {
        self.inner.negative_epoch.fetch_add(1, Ordering::SeqCst);
        lock(self.negative_shard(digest)).remove(digest);
    }

    /// A use of the token with this digest at `at` (from `ip`) was written to the
    /// store: the cached record must show it once the use leaves the usage buffer.
    pub(crate) fn written(&self, digest: &TokenDigest, at: OffsetDateTime, ip: Option<std::net::IpAddr>) {
        // A lookup that read the store before the write must not cache its older copy.
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        let mut shard = lock(self.token_shard(digest));
        if let Some((entry, _)) = shard.map.get_mut(digest)
            && entry.record.last_used.is_none_or(|last| at >= last)
        {
            let mut record = TokenRecord::clone(&entry.record);
            record.last_used = Some(at);
            record.last_ip = ip.or(record.last_ip);
            entry.record = Arc::new(record);
        }
    }
}

/// The cache hears every revocation of the service it is attached to; attach it to
/// other sources (a bus's subscribers) through [`AuthCache::follow`] or this impl.
impl RevocationListener for AuthCache {
    fn revoked(&self, revocation: &Revocation) {
        match revocation {
            Revocation::Tokens(ended) => {
                for token in ended {
                    self.forget_token(&token.digest);
                }
            }
            Revocation::User(id) => self.forget_user(id),
            // `Revocation` is non-exhaustive: whatever it says, flushing is safe.
            _ => self.clear(),
        }
    }
}

/// The task started by [`AuthCache::follow`]. Dropping it stops following, and pauses
/// the cache.
#[must_use = "dropping the handle stops following the bus (and pauses the cache)"]
pub struct Following {
    task: JoinHandle<()>,
    cache: AuthCache,
}

impl fmt::Debug for Following {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Following")
            .field("running", &!self.task.is_finished())
            .finish()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        self.task.abort();
        self.cache.pause();
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    /// A new token drops the negative entry of its digest, and a lookup of it that
    /// started before (and found nothing) does not put one back.
    #[test]
    fn creating_a_token_drops_its_negative_entry() {
        let cache = AuthCache::new(100);
        let digest = TokenDigest::of("tka_example");
        let Cached::Miss(ticket) = cache.token(&digest, NOW) else {
            panic!("empty")
        };
        cache.fill_token(&digest, None, ticket, NOW);
        assert!(matches!(cache.token(&digest, NOW), Cached::Unknown));

        let Cached::Unknown = cache.token(&digest, NOW) else {
            panic!("negative")
        };
        cache.created(&digest);
        let Cached::Miss(_) = cache.token(&digest, NOW) else {
            panic!("dropped")
        };

        // A lookup that started before the creation found nothing: not kept.
        let Cached::Miss(stale) = cache.token(&digest, NOW) else {
            panic!("empty")
        };
        cache.created(&digest);
        cache.fill_token(&digest, None, stale, NOW);
        assert!(matches!(cache.token(&digest, NOW), Cached::Miss(_)));
    }

    /// Users beyond the capacity are evicted with their tokens.
    #[test]
    fn an_evicted_user_takes_its_tokens_along() {
        let cache = AuthCache::new(1);
        let mut digests = Vec::new();
        for n in 0..200 {
            let user = UserId::from(n);
            let digest = TokenDigest::of(&format!("token {n}"));
            let record = Arc::new(TokenRecord {
                id: crate::TokenId::generate(),
                digest,
                user_id: user.clone(),
                credential_version: 0,
                name: None,
                scopes: crate::Scopes::none(),
                created: NOW,
                expires: None,
                last_used: None,
                last_ip: None,
            });
            let Cached::Miss(ticket) = cache.token(&digest, NOW) else {
                panic!("empty")
            };
            cache.fill_token(&digest, Some(&record), ticket, NOW);
            cache.fill_user(&user, &Some(n), cache.ticket(), NOW);
            digests.push((user, digest));
        }
        assert!(cache.len() <= SHARDS, "bounded: {}", cache.len());
        for (user, digest) in digests {
            let token_cached = matches!(cache.token(&digest, NOW), Cached::Found(_));
            let user_cached = cache.user::<i64>(&user, NOW).is_some();
            assert!(!token_cached || user_cached, "a cached token's user is indexed");
        }
    }
}
