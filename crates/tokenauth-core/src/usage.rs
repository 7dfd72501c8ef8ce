//! Last-used tracking without a database write per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::token::TokenId;

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
/// serves, one write per flush.
#[derive(Debug, Default)]
pub(crate) struct UsageBuffer {
    pending: Mutex<HashMap<TokenId, Usage>>,
}

/// What recording a use found.
pub(crate) struct Recorded {
    /// The first use of this token since the last flush.
    pub(crate) first_in_window: bool,
    /// The address of the previous use in this window, if any.
    pub(crate) previous_ip: Option<IpAddr>,
}

impl UsageBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenId, Usage>> {
        // Nothing under this lock can panic halfway through an update.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest use not yet flushed: when, and from where.
    pub(crate) fn latest(&self, id: &TokenId) -> Option<(OffsetDateTime, Option<IpAddr>)> {
        self.lock().get(id).map(|usage| (usage.at, usage.ip))
    }

    /// Records a use.
    pub(crate) fn record(&self, id: &TokenId, at: OffsetDateTime, ip: Option<IpAddr>) -> Recorded {
        let mut pending = self.lock();
        match pending.get_mut(id) {
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
                pending.insert(
                    id.clone(),
                    Usage {
                        id: id.clone(),
                        at,
                        ip,
                    },
                );
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
    pub(crate) fn snapshot(&self) -> Vec<Usage> {
        self.lock().values().cloned().collect()
    }

    /// Forgets uses that were written, unless a newer use arrived meanwhile.
    pub(crate) fn written(&self, uses: &[Usage]) {
        let mut pending = self.lock();
        for usage in uses {
            if pending.get(&usage.id).is_some_and(|now| now == usage) {
                pending.remove(&usage.id);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
