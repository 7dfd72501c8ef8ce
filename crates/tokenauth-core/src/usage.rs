//! Last-used tracking without a database write per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use time::OffsetDateTime;

use crate::record::TokenRecord;
use crate::token::{TokenDigest, TokenId};

/// One token's latest use, as written by [`TokenStore::record_usage`](crate::store::TokenStore::record_usage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The token.
    pub id: TokenId,
    /// The token's digest: for whatever in front of a store keeps records by digest (the
    /// cache), as [`Ended`](crate::store::Ended) carries it.
    pub digest: TokenDigest,
    /// When it was used.
    pub at: OffsetDateTime,
    /// From where, when known.
    pub ip: Option<IpAddr>,
}

/// How many independently locked parts the buffer has: every authenticated request
/// records a use, so one lock would serialise them all.
const SHARDS: usize = 32;

/// Uses since the last flush, coalesced per token: however many requests a token
/// serves, one write per flush. Keyed by digest, so that authentication can read it
/// before it looks the token up (see `TokenAuth::authenticate`), and split into
/// shards by digest so that requests for different tokens take different locks.
#[derive(Debug)]
pub(crate) struct UsageBuffer {
    shards: Box<[Mutex<HashMap<TokenDigest, Usage>>]>,
}

impl Default for UsageBuffer {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

/// What recording a use found.
pub(crate) struct Recorded {
    /// The first use of this token since the last flush.
    pub(crate) first_in_window: bool,
    /// The address of the previous use in this window, if any.
    pub(crate) previous_ip: Option<IpAddr>,
    /// The token's latest use not yet written, this one included: when, and from where.
    pub(crate) latest: (OffsetDateTime, Option<IpAddr>),
}

/// The shard of `digest` among `count`: digests are uniformly random bytes, so their
/// first bytes spread them evenly.
pub(crate) fn shard_of(digest: &TokenDigest, count: usize) -> usize {
    let bytes = digest.as_bytes();
    let head = u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]);
    (head % count as u64) as usize
}

impl UsageBuffer {
    fn lock(&self, digest: &TokenDigest) -> MutexGuard<'_, HashMap<TokenDigest, Usage>> {
        lock(&self.shards[shard_of(digest, self.shards.len())])
    }

    /// The latest use not yet written of the token with this digest: when, and from
    /// where.
    pub(crate) fn latest(&self, digest: &TokenDigest) -> Option<(OffsetDateTime, Option<IpAddr>)> {
        self.lock(digest).get(digest).map(|usage| (usage.at, usage.ip))
    }

    /// Records a use of `record`'s token.
    pub(crate) fn record(&self, record: &TokenRecord, at: OffsetDateTime, ip: Option<IpAddr>) -> Recorded {
        let mut pending = self.lock(&record.digest);
        match pending.get_mut(&record.digest) {
            Some(usage) => {
                let previous_ip = usage.ip;
                usage.at = usage.at.max(at);
                usage.ip = ip.or(usage.ip);
                Recorded {
                    first_in_window: false,
                    previous_ip,
                    latest: (usage.at, usage.ip),
                }
            }
            None => {
                let usage = Usage {
                    id: record.id.clone(),
                    digest: record.digest,
                    at,
                    ip,
                };
                pending.insert(record.digest, usage);
                Recorded {
                    first_in_window: true,
                    previous_ip: None,
                    latest: (at, ip),
                }
            }
        }
    }

    /// A copy of everything pending, to write. The entries stay until
    /// [`written`](Self::written) is called, so that readers see them while the write is
    /// in flight.
    pub(crate) fn snapshot(&self) -> Vec<(TokenDigest, Usage)> {
        self.shards
            .iter()
            .flat_map(|shard| {
                lock(shard)
                    .iter()
                    .map(|(digest, usage)| (*digest, usage.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Forgets uses that were written, unless a newer use arrived meanwhile.
    pub(crate) fn written(&self, uses: &[(TokenDigest, Usage)]) {
        for (digest, usage) in uses {
            let mut pending = self.lock(digest);
            if pending.get(digest).is_some_and(|now| now == usage) {
                pending.remove(digest);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }
}

/// Nothing under these locks can panic halfway through an update, so a poisoned lock
/// still guards consistent data.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
