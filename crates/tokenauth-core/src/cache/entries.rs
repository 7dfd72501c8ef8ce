//! What the cache knows, and how it changes: lookups and fills, checked against the
//! ticket taken before the backend was asked, and the removals that advance the epochs
//! those tickets carry.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use time::OffsetDateTime;

use super::AuthCache;
use super::segment::{TokenEntry, UserSlot};
use crate::record::TokenRecord;
use crate::store::Ended;
use crate::token::TokenDigest;
use crate::usage::lock;
use crate::user::UserId;

/// The epochs read before a lookup, to check before caching its answer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ticket {
    epoch: u64,
    negative_epoch: u64,
}

/// What the cache knows about a digest.
pub(super) enum Lookup {
    /// The record.
    Found(Arc<TokenRecord>),
    /// The store had no such token.
    Unknown,
    /// Nothing: look it up, then offer the answer with this ticket.
    Miss(Ticket),
}

impl AuthCache {
    pub(super) fn ticket(&self) -> Ticket {
        Ticket {
            epoch: self.inner.epoch.load(Ordering::SeqCst),
            negative_epoch: self.inner.negative_epoch.load(Ordering::SeqCst),
        }
    }

    /// What is known about `digest` at `now`. The ticket of a miss is taken before the
    /// caller's lookup starts.
    pub(super) fn token(&self, digest: &TokenDigest, now: OffsetDateTime) -> Lookup {
        let ticket = self.ticket();
        if self.inner.disabled {
            return Lookup::Miss(ticket);
        }
        let lookup = self.look_up(digest, now, ticket);
        let counter = match lookup {
            Lookup::Miss(_) => &self.inner.stats.misses,
            Lookup::Found(_) | Lookup::Unknown => &self.inner.stats.hits,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        lookup
    }

    fn look_up(&self, digest: &TokenDigest, now: OffsetDateTime, ticket: Ticket) -> Lookup {
        if self.is_paused() {
            return Lookup::Miss(ticket);
        }
        {
            // A stale entry stays until the store's answer replaces it in place, keeping
            // its standing in the eviction order.
            let shard = lock(self.token_shard(digest));
            if let Some(entry) = shard.get(digest)
                && self.fresh(entry.filled, now)
            {
                return Lookup::Found(Arc::clone(&entry.record));
            }
        }
        match lock(self.negative_shard(digest)).get(digest) {
            Some(filled) if self.fresh(*filled, now) => Lookup::Unknown,
            _ => Lookup::Miss(ticket),
        }
    }

    /// Keeps the store's answer for `digest`, looked up with `ticket`, unless something
    /// was dropped since the ticket was taken.
    pub(super) fn fill_token(
        &self,
        digest: &TokenDigest,
        record: Option<&Arc<TokenRecord>>,
        ticket: Ticket,
        now: OffsetDateTime,
    ) {
        if !self.serving() {
            return;
        }
        let Some(record) = record else {
            // A stale record of it has had its day.
            lock(self.token_shard(digest)).remove(digest);
            let mut shard = lock(self.negative_shard(digest));
            if self.current(ticket)
                && self.inner.negative_epoch.load(Ordering::SeqCst) == ticket.negative_epoch
            {
                self.evicted(shard.insert(*digest, now));
            }
            return;
        };
        // Lock order: a user's shard, then a token shard; never two token shards. The
        // epoch is checked under both, so that neither a token's nor a user's removal
        // can slip between the check and the insert.
        let user = &record.user_id;
        let mut users = lock(self.user_shard(user));
        let evicted_users = {
            let mut tokens = lock(self.token_shard(digest));
            if !self.current(ticket) {
                return;
            }
            // Listed first: a token must never stay cached once its user's slot, which
            // lists it, is gone.
            let evicted_users = users.list_token(user, digest);
            let entry = TokenEntry {
                record: Arc::clone(record),
                filled: now,
            };
            self.evicted(tokens.insert(*digest, entry));
            evicted_users
        };
        self.drop_users(evicted_users);
        // Evicted tokens leave their digests here: forget those before they pile up.
        users.update(user, |slot| {
            if slot.tokens.len() > 16 && slot.tokens.len().is_power_of_two() {
                slot.tokens.retain(|d| {
                    lock(self.token_shard(d))
                        .peek(d)
                        .is_some_and(|e| &e.record.user_id == user)
                });
            }
        });
    }

    /// Drops the tokens of users evicted to make room (called under their shard's
    /// lock, as a fill for them would need it).
    fn drop_users(&self, evicted: Vec<(UserId, UserSlot)>) {
        for (id, slot) in evicted {
            let dropped = self.drop_tokens(&slot.tokens, &id);
            self.evicted(dropped);
        }
    }

    fn current(&self, ticket: Ticket) -> bool {
        self.serving() && self.inner.epoch.load(Ordering::SeqCst) == ticket.epoch
    }

    /// The directory's answer for user `id` (`Some(None)`: no such user), if cached
    /// and of type `U`.
    pub(super) fn user<U: Clone + Send + Sync + 'static>(
        &self,
        id: &UserId,
        now: OffsetDateTime,
    ) -> Option<Option<U>> {
        if !self.serving() {
            return None;
        }
        let shard = lock(self.user_shard(id));
        let (user, filled) = shard.peek(id)?.user.as_ref()?;
        if !self.fresh(*filled, now) {
            return None;
        }
        let user = user.downcast_ref::<Option<U>>().cloned();
        if user.is_some() {
            // A use, which keeps the user, is an answer (see `UserShard::ensure`).
            shard.get(id);
        }
        user
    }

    /// Keeps the directory's answer for user `id`, looked up with `ticket`, unless
    /// something was dropped since.
    pub(super) fn fill_user<U: Clone + Send + Sync + 'static>(
        &self,
        id: &UserId,
        user: &Option<U>,
        ticket: Ticket,
        now: OffsetDateTime,
    ) {
        if !self.serving() {
            return;
        }
        let mut shard = lock(self.user_shard(id));
        if !self.current(ticket) {
            return;
        }
        let evicted = shard.set_user(id, (Arc::new(user.clone()), now));
        self.drop_users(evicted);
    }

    /// Drops those of `digests` cached for `user`; how many.
    fn drop_tokens(&self, digests: &[TokenDigest], user: &UserId) -> u64 {
        let mut dropped = 0;
        for digest in digests {
            let mut shard = lock(self.token_shard(digest));
            if shard.peek(digest).is_some_and(|e| &e.record.user_id == user) {
                shard.remove(digest);
                dropped += 1;
            }
        }
        dropped
    }

    /// Drops user `id` and every cached token of it.
    pub fn forget_user(&self, id: &UserId) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        let mut shard = lock(self.user_shard(id));
        if let Some(slot) = shard.remove(id) {
            self.drop_tokens(&slot.tokens, id);
        }
    }

    /// Drops the token with this digest.
    pub fn forget_token(&self, digest: &TokenDigest) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        lock(self.token_shard(digest)).remove(digest);
    }

    /// Drops what a store reports it deleted.
    pub(super) fn forget_ended(&self, ended: &[Ended]) {
        for token in ended {
            self.forget_token(&token.digest);
        }
    }

    /// A token with this digest now exists: drop the negative entry.
    pub(super) fn created(&self, digest: &TokenDigest) {
        self.inner.negative_epoch.fetch_add(1, Ordering::SeqCst);
        lock(self.negative_shard(digest)).remove(digest);
    }

    /// A use of the token with this digest at `at` (from `ip`) was written to the
    /// store: the cached record must show it once the use leaves the usage buffer.
    pub(super) fn written(&self, digest: &TokenDigest, at: OffsetDateTime, ip: Option<IpAddr>) {
        // A lookup that read the store before the write must not cache its older copy.
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        lock(self.token_shard(digest)).update(digest, |entry| {
            if entry.record.last_used.is_none_or(|last| at >= last) {
                let mut record = TokenRecord::clone(&entry.record);
                record.last_used = Some(at);
                record.last_ip = ip.or(record.last_ip);
                entry.record = Arc::new(record);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::cache::SHARDS;

    const NOW: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

    /// A new token drops the negative entry of its digest, and a lookup of it that
    /// started before (and found nothing) does not put one back.
    #[test]
    fn creating_a_token_drops_its_negative_entry() {
        let cache = AuthCache::new(100);
        let digest = TokenDigest::of("tka_example");
        let Lookup::Miss(ticket) = cache.token(&digest, NOW) else {
            panic!("empty")
        };
        cache.fill_token(&digest, None, ticket, NOW);
        assert!(matches!(cache.token(&digest, NOW), Lookup::Unknown));

        let Lookup::Unknown = cache.token(&digest, NOW) else {
            panic!("negative")
        };
        cache.created(&digest);
        let Lookup::Miss(_) = cache.token(&digest, NOW) else {
            panic!("dropped")
        };

        // A lookup that started before the creation found nothing: not kept.
        let Lookup::Miss(stale) = cache.token(&digest, NOW) else {
            panic!("empty")
        };
        cache.created(&digest);
        cache.fill_token(&digest, None, stale, NOW);
        assert!(matches!(cache.token(&digest, NOW), Lookup::Miss(_)));
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
            let Lookup::Miss(ticket) = cache.token(&digest, NOW) else {
                panic!("empty")
            };
            cache.fill_token(&digest, Some(&record), ticket, NOW);
            cache.fill_user(&user, &Some(n), cache.ticket(), NOW);
            digests.push((user, digest));
        }
        assert!(cache.len() <= SHARDS, "bounded: {}", cache.len());
        for (user, digest) in digests {
            let token_cached = matches!(cache.token(&digest, NOW), Lookup::Found(_));
            let user_cached = cache.user::<i64>(&user, NOW).is_some();
            assert!(!token_cached || user_cached, "a cached token's user is indexed");
        }
    }
}
