//! Last-used tracking without a database write per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::record::TokenRecord;
use crate::token::{TokenDigest, TokenId};

/// One token's latest use, as written by [`TokenStore::record_usage`](crate::TokenStore::record_usage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The token.
    pub id: TokenId,
    /// When it was used.
    pub at: OffsetDateTime,
    /// From where, when known.
    pub ip: Option<IpAddr>,
}

/// Uses since the last flush, coalesced per token: however many requests a token
/// serves, one write per flush. Keyed by digest, so that authentication can read it
/// before it looks the token up (see `TokenAuth::authenticate`).
#[derive(Debug, Default)]
pub(crate) struct UsageBuffer {
    pending: Mutex<HashMap<TokenDigest, Usage>>,
}

/// What recording a use found.
pub(crate) struct Recorded {
    /// The first use of this token since the last flush.
    pub(crate) first_in_window: bool,
    /// The address of the previous use in this window, if any.
    pub(crate) previous_ip: Option<IpAddr>,
}

impl UsageBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenDigest, Usage>> {
        // Nothing under this lock can panic halfway through an update.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest use not yet written of the token with this digest: when, and from
    /// where.
    pub(crate) fn latest(&self, digest: &TokenDigest) -> Option<(OffsetDateTime, Option<IpAddr>)> {
        self.lock().get(digest).map(|usage| (usage.at, usage.ip))
    }

    /// Records a use of `record`'s token.
    pub(crate) fn record(&self, record: &TokenRecord, at: OffsetDateTime, ip: Option<IpAddr>) -> Recorded {
        let mut pending = self.lock();
        match pending.get_mut(&record.digest) {
            Some(usage) => {
                let previous_ip = usage.ip;
                usage.at = usage.at.max(at);
                usage.ip = ip.or(usage.ip);
                Recorded {
                    first_in_window: false,
                    previous_ip,
                }
            }
            None => {
                let usage = Usage {
                    id: record.id.clone(),
                    at,
                    ip,
                };
                pending.insert(record.digest, usage);
                Recorded {
                    first_in_window: true,
                    previous_ip: None,
                }
            }
        }
    }

    /// A copy of everything pending, to write. The entries stay until
    /// [`written`](Self::written) is called, so that readers see them while the write is
    /// in flight.
    pub(crate) fn snapshot(&self) -> Vec<(TokenDigest, Usage)> {
        self.lock()
            .iter()
            .map(|(digest, usage)| (*digest, usage.clone()))
            .collect()
    }

    /// Forgets uses that were written, unless a newer use arrived meanwhile.
    pub(crate) fn written(&self, uses: &[(TokenDigest, Usage)]) {
        let mut pending = self.lock();
        for (digest, usage) in uses {
            if pending.get(digest).is_some_and(|now| now == usage) {
                pending.remove(digest);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
