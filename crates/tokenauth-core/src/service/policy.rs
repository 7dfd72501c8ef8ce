//! The policy knobs of issuing: what a login does to the user's other tokens, and how
//! many live tokens a user may hold.

use std::str::FromStr;

/// The default per-user token limit.
pub const DEFAULT_MAX_TOKENS_PER_USER: usize = 100;

/// What a login does to the user's other tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ObtainPolicy {
    /// Every login issues a new token and keeps the others: one token per device
    /// (default).
    #[default]
    New,
    /// Every login revokes the user's other tokens and issues one new token, atomically.
    Replace,
    /// Django REST Framework's: one token per user. A login returns the user's valid
    /// token (the same key again); when it has none, or only an expired one, a new
    /// token replaces it, atomically, so concurrent logins all get the one key.
    ///
    /// Returning a key again needs a store that can give it back: the Django schema
    /// (`tokenauth-django`) with [`TokenFormat::drf`](crate::TokenFormat::drf) keys,
    /// which DRF keeps in plaintext. Anywhere else tokens are stored as digests and this
    /// acts as [`Replace`](Self::Replace). The token is shared by every client of the
    /// user, so a login's name and lifespan do not apply to it (as in DRF, which has
    /// neither).
    Reuse,
}

/// A string that is not `new`, `replace` or `reuse`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected `new`, `replace` or `reuse`")]
pub struct InvalidObtainPolicy;

impl FromStr for ObtainPolicy {
    type Err = InvalidObtainPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "new" => Ok(Self::New),
            "replace" => Ok(Self::Replace),
            "reuse" => Ok(Self::Reuse),
            _ => Err(InvalidObtainPolicy),
        }
    }
}

/// What happens when a user already holds the maximum number of live tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnLimit {
    /// Revoke the user's oldest live tokens to make room (default).
    #[default]
    EvictOldest,
    /// Refuse the new token (the obtain endpoint answers 403).
    Reject,
}

/// A string that is neither `evict_oldest` nor `reject`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected `evict_oldest` or `reject`")]
pub struct InvalidOnLimit;

impl FromStr for OnLimit {
    type Err = InvalidOnLimit;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "evict_oldest" | "evict-oldest" => Ok(Self::EvictOldest),
            "reject" => Ok(Self::Reject),
            _ => Err(InvalidOnLimit),
        }
    }
}

/// How many live tokens one user may hold, and what happens beyond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLimit {
    max: usize,
    on_limit: OnLimit,
}

impl TokenLimit {
    /// At most `max` live tokens per user (at least 1).
    ///
    /// # Panics
    ///
    /// If `max` is 0.
    pub fn new(max: usize, on_limit: OnLimit) -> Self {
        assert!(max >= 1, "a token limit must allow at least one token");
        Self { max, on_limit }
    }

    /// The maximum.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The cap on one user's stored rows, live and expired: twice the maximum. Issuing
    /// a token deletes the user's oldest expired rows beyond it, so that clients asking
    /// for short lifespans cannot pile rows up until the purge; expired tokens within
    /// the cap still answer `Token has expired` until purged.
    pub fn max_rows(&self) -> usize {
        self.max.saturating_mul(2)
    }

    /// What happens beyond it.
    pub fn on_limit(&self) -> OnLimit {
        self.on_limit
    }
}

impl Default for TokenLimit {
    /// [`DEFAULT_MAX_TOKENS_PER_USER`] tokens, evicting the oldest.
    fn default() -> Self {
        Self::new(DEFAULT_MAX_TOKENS_PER_USER, OnLimit::EvictOldest)
    }
}
