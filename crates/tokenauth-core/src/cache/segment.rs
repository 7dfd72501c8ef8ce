//! The bounded maps the cache keeps: entries by digest evicted oldest first, and users
//! with the digests of their cached tokens.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use time::OffsetDateTime;

use crate::record::TokenRecord;
use crate::token::TokenDigest;
use crate::user::UserId;

/// A cached record.
pub(super) struct TokenEntry {
    pub(super) record: Arc<TokenRecord>,
    pub(super) filled: OffsetDateTime,
}

/// Entries by digest, evicted oldest first once full.
pub(super) struct Segment<V> {
    pub(super) map: HashMap<TokenDigest, (V, u64)>,
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
    /// Inserts, evicting the oldest entries beyond `capacity`; how many it evicted.
    pub(super) fn insert(&mut self, digest: TokenDigest, value: V, capacity: usize) -> u64 {
        let mut evicted = 0;
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
                evicted += 1;
            }
        }
        // Removals leave stale slots behind: sweep them before they outnumber entries.
        if self.order.len() > 2 * capacity.max(self.map.len()) + 16 {
            let map = &self.map;
            self.order
                .retain(|(digest, seq)| map.get(digest).is_some_and(|(_, s)| s == seq));
        }
        evicted
    }

    pub(super) fn get(&self, digest: &TokenDigest) -> Option<&V> {
        self.map.get(digest).map(|(v, _)| v)
    }

    pub(super) fn remove(&mut self, digest: &TokenDigest) -> Option<V> {
        self.map.remove(digest).map(|(v, _)| v)
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
        self.order.clear();
    }
}

/// Users of one shard, and which cached tokens belong to each, so that a change to a
/// user drops its tokens too.
#[derive(Default)]
pub(super) struct UserShard {
    pub(super) slots: HashMap<UserId, UserSlot>,
    /// Users in the order their entries were filled, for eviction.
    pub(super) order: VecDeque<UserId>,
}

#[derive(Default)]
pub(super) struct UserSlot {
    /// The directory's answer (`Option<U>`, type-erased) and when it was read.
    pub(super) user: Option<(Arc<dyn Any + Send + Sync>, OffsetDateTime)>,
    /// Digests of the user's cached tokens (some may have been evicted since).
    pub(super) tokens: Vec<TokenDigest>,
}

/// The slot of user `id`, created (and queued for eviction) if missing.
pub(super) fn slot<'a>(shard: &'a mut UserShard, id: &UserId) -> &'a mut UserSlot {
    if !shard.slots.contains_key(id) {
        shard.order.push_back(id.clone());
    }
    shard.slots.entry(id.clone()).or_default()
}
