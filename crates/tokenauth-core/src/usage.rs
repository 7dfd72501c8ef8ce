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

    /// Takes everything pending.
    pub(crate) fn take(&self) -> Vec<Usage> {
        std::mem::take(&mut *self.lock()).into_values().collect()
    }

    /// Puts back uses that could not be written, unless newer ones arrived meanwhile.
    pub(crate) fn restore(&self, uses: Vec<Usage>) {
        let mut pending = self.lock();
        for usage in uses {
            pending.entry(usage.id.clone()).or_insert(usage);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}
