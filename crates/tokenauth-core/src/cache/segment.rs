//! The bounded maps the cache keeps, each one shard's: entries by digest, and users
//! with the digests of their cached tokens.
//!
//! Each is a `quick_cache` map, evicting by S3-FIFO: a new entry waits in a small queue
//! and is dropped first unless it is used again there (or was dropped recently, which
//! its ghost remembers); entries in use stay. So a scan of new tokens, each used once,
//! does not push out the tokens clients keep using, and a working set walked in turn
//! that is a little larger than the cache mostly still hits, where oldest-first
//! eviction dropped each token just before it came back.
//!
//! The maps are not thread-safe ones: each sits under its shard's mutex, which the
//! cache's epoch checks need anyway (see `entries`).

use std::any::Any;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Arc, Mutex};

use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, UnitWeighter, unsync};
use time::OffsetDateTime;

use crate::record::TokenRecord;
use crate::token::TokenDigest;
use crate::user::UserId;

/// A cached record.
pub(super) struct TokenEntry {
    pub(super) record: Arc<TokenRecord>,
    pub(super) filled: OffsetDateTime,
}

/// One shard of a map, holding at most its capacity; `L` says what an insert reports
/// of the entries it evicted, `S` hashes the keys.
pub(super) struct Bounded<K, V, L: Lifecycle<K, V> = Count, S = DefaultHashBuilder> {
    map: unsync::Cache<K, V, UnitWeighter, S, L>,
}

/// Records by digest: digests of tokens the store holds, which clients cannot choose,
/// so quick_cache's fast keyed hash.
pub(super) type Segment = Bounded<TokenDigest, TokenEntry>;

/// Digests the store does not know: clients choose them (a digest of any token they
/// make up), so SipHash with a random key, as a `HashMap`'s.
pub(super) type Negative = Bounded<TokenDigest, OffsetDateTime, Count, RandomState>;

/// Users of one shard, each with its cached tokens, so that a change to a user (or its
/// eviction) drops its tokens too. Ids come from the directory.
pub(super) type UserShard = Bounded<UserId, UserSlot, Collect>;

#[derive(Default)]
pub(super) struct UserSlot {
    /// The directory's answer (`Option<U>`, type-erased) and when it was read.
    pub(super) user: Option<(Arc<dyn Any + Send + Sync>, OffsetDateTime)>,
    /// Digests of the user's cached tokens (some may have been evicted since).
    pub(super) tokens: Vec<TokenDigest>,
}

impl<K: Eq + Hash, V, L: Lifecycle<K, V> + Default, S: BuildHasher + Default> Bounded<K, V, L, S> {
    /// `count` empty shards of at most `capacity` entries each.
    pub(super) fn shards(count: usize, capacity: usize) -> Box<[Mutex<Self>]> {
        (0..count).map(|_| Mutex::new(Self::new(capacity))).collect()
    }

    /// An empty shard of at most `capacity` entries (at least 1).
    fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        let options = OptionsBuilder::new()
            .estimated_items_capacity(capacity)
            .weight_capacity(capacity as u64)
            .build()
            .expect("both capacities are set");
        Self {
            map: unsync::Cache::with_options(options, UnitWeighter, S::default(), L::default()),
        }
    }

    /// The entry of `key`, counted as a use (which keeps it).
    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// The entry of `key`, without counting a use.
    pub(super) fn peek(&self, key: &K) -> Option<&V> {
        self.map.peek(key)
    }

    /// Changes the entry of `key` in place, if any, without counting a use.
    pub(super) fn update(&mut self, key: &K, change: impl FnOnce(&mut V)) {
        if let Some(mut entry) = self.map.peek_mut(key) {
            change(&mut entry);
        }
    }

    /// Inserts or replaces the entry of `key`; what the entries evicted to make room
    /// for it left (never this one).
    pub(super) fn insert(&mut self, key: K, value: V) -> L::RequestState {
        let mut evicted = L::RequestState::default();
        self.map.insert_with_lifecycle(key, value, &mut evicted);
        evicted
    }

    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|(_, value)| value)
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
    }
}

impl UserShard {
    /// Adds `digest` to the tokens of user `id`, making its slot if missing: what the
    /// users evicted to make room for it left, whose tokens must go too.
    pub(super) fn list_token(&mut self, id: &UserId, digest: &TokenDigest) -> Vec<(UserId, UserSlot)> {
        let evicted = self.ensure(id);
        self.update(id, |slot| {
            if !slot.tokens.contains(digest) {
                slot.tokens.push(*digest);
            }
        });
        evicted
    }

    /// Sets the directory's answer for user `id`; what the users evicted to make room
    /// for it left.
    pub(super) fn set_user(
        &mut self,
        id: &UserId,
        user: (Arc<dyn Any + Send + Sync>, OffsetDateTime),
    ) -> Vec<(UserId, UserSlot)> {
        let evicted = self.ensure(id);
        self.update(id, |slot| slot.user = Some(user));
        evicted
    }

    /// Makes the slot of `id` if missing. Neither this nor the fills count a use: the
    /// request that made the slot would count as its second use, and a scan of new
    /// users would pass for users in use. Only answers do ([`AuthCache::user`]).
    fn ensure(&mut self, id: &UserId) -> Vec<(UserId, UserSlot)> {
        if self.map.contains_key(id) {
            return Vec::new();
        }
        self.insert(id.clone(), UserSlot::default())
    }
}

/// Counts the entries an insert evicted.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Count;

impl<K, V> Lifecycle<K, V> for Count {
    type RequestState = u64;

    fn on_evict(&self, evicted: &mut u64, _: K, _: V) {
        *evicted += 1;
    }
}

/// Hands the entries an insert evicted to the caller.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Collect;

impl<K, V> Lifecycle<K, V> for Collect {
    type RequestState = Vec<(K, V)>;

    fn on_evict(&self, evicted: &mut Vec<(K, V)>, key: K, value: V) {
        evicted.push((key, value));
    }
}
