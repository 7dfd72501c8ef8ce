//! Last-used tracking without a database write per request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::token::TokenId;
use crate::user::UserId;

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
    pending: Mutex<HashMap<TokenId, Pending>>,
}

/// A use not written yet, and whose token it was.
#[derive(Debug)]
struct Pending {
    usage: Usage,
    user: UserId,
}

/// What recording a use found.
pub(crate) struct Recorded {
    /// The first use of this token since the last flush.
    pub(crate) first_in_window: bool,
    /// The address of the previous use in this window, if any.
    pub(crate) previous_ip: Option<IpAddr>,
}

impl UsageBuffer {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TokenId, Pending>> {
        // Nothing under this lock can panic halfway through an update.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest use not yet flushed: when, and from where.
    pub(crate) fn latest(&self, id: &TokenId) -> Option<(OffsetDateTime, Option<IpAddr>)> {
        self.lock().get(id).map(|p| (p.usage.at, p.usage.ip))
    }

    /// The tokens of `user` used at or after `since` by uses not written yet.
    pub(crate) fn used_since(&self, user: &UserId, since: OffsetDateTime) -> Vec<TokenId> {
        let pending = self.lock();
        let used = pending
            .values()
            .filter(|p| &p.user == user && p.usage.at >= since);
        used.map(|p| p.usage.id.clone()).collect()
    }

    /// Records a use of token `id` of `user`.
    pub(crate) fn record(
        &self,
        id: &TokenId,
        user: &UserId,
        at: OffsetDateTime,
        ip: Option<IpAddr>,
    ) -> Recorded {
        let mut pending = self.lock();
        match pending.get_mut(id) {
            Some(Pending { usage, .. }) => {
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
                    id: id.clone(),
                    at,
                    ip,
                };
                pending.insert(
                    id.clone(),
                    Pending {
                        usage,
                        user: user.clone(),
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
        self.lock().values().map(|p| p.usage.clone()).collect()
    }

    /// Forgets uses that were written, unless a newer use arrived meanwhile.
    pub(crate) fn written(&self, uses: &[Usage]) {
        let mut pending = self.lock();
        for usage in uses {
            if pending.get(&usage.id).is_some_and(|now| &now.usage == usage) {
                pending.remove(&usage.id);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
