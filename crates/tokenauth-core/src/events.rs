//! What happens to tokens, as `tracing` events and an audit hook.

use std::fmt;
use std::net::IpAddr;

use time::OffsetDateTime;

use crate::token::TokenId;
use crate::user::UserId;

/// Something that happened to a token. Every event is logged as a structured `tracing`
/// event (target `tokenauth::events`) and passed to the [`EventHook`], if one is set.
/// No event carries a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthEvent {
    /// A token was issued (by login or by an administrator).
    Issued {
        /// The token.
        token_id: TokenId,
        /// Its user.
        user_id: UserId,
        /// Its label.
        name: Option<String>,
    },
    /// A token was used from an address it had not been used from last.
    UsedFromNewIp {
        /// The token.
        token_id: TokenId,
        /// Its user.
        user_id: UserId,
        /// The new address.
        ip: IpAddr,
        /// The address it was used from before, if known.
        previous: Option<IpAddr>,
    },
    /// Sliding expiry: a use pushed a token's idle expiry forward (at most once per
    /// refresh interval per token).
    Renewed {
        /// The token.
        token_id: TokenId,
        /// Its user.
        user_id: UserId,
        /// Its new expiry.
        until: OffsetDateTime,
    },
    /// A token was revoked.
    Revoked {
        /// The token.
        token_id: TokenId,
        /// Its user.
        user_id: UserId,
        /// Why.
        reason: RevokeReason,
    },
    /// An expired token was presented and refused.
    ExpiredRejected {
        /// The token.
        token_id: TokenId,
        /// Its user.
        user_id: UserId,
    },
    /// A login met the per-user token limit.
    LimitReached {
        /// The user.
        user_id: UserId,
        /// The limit.
        max: usize,
        /// Whether the login was refused (`on_limit = reject`) or older tokens were
        /// evicted (`evict_oldest`; each eviction is also a `Revoked` event).
        rejected: bool,
    },
}

/// Why a token was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokeReason {
    /// Its holder logged out.
    Logout,
    /// Its user logged out everywhere.
    LogoutAll,
    /// Its user (or an administrator) revoked it by id.
    ById,
    /// A login under the `replace` policy replaced it.
    Replaced,
    /// A login under the per-user limit evicted it (the oldest).
    Evicted,
    /// Its user's password changed.
    PasswordChanged,
    /// Everything of its user was revoked (a new credential version).
    Everything,
    /// Its user was deleted.
    UserDeleted,
    /// It had expired, and was deleted to keep its user's rows under the cap.
    Pruned,
    /// It had been expired for the whole purge grace.
    Purged,
}

impl RevokeReason {
    /// A short name, as logged.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::ById => "by_id",
            Self::Replaced => "replaced",
            Self::Evicted => "evicted",
            Self::PasswordChanged => "password_changed",
            Self::Everything => "everything",
            Self::UserDeleted => "user_deleted",
            Self::Pruned => "pruned",
            Self::Purged => "purged",
        }
    }
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Receives every [`AuthEvent`], for auditing. It runs inline on the request path: keep
/// it quick and never block (hand events to a channel for slow work).
///
/// Any `Fn(&AuthEvent) + Send + Sync + 'static` closure is a hook.
pub trait EventHook: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &AuthEvent);
}

impl<F: Fn(&AuthEvent) + Send + Sync + 'static> EventHook for F {
    fn on_event(&self, event: &AuthEvent) {
        self(event);
    }
}

/// Logs `event` as a structured `tracing` event.
pub(crate) fn trace(event: &AuthEvent) {
    const TARGET: &str = "tokenauth::events";
    match event {
        AuthEvent::Issued {
            token_id,
            user_id,
            name,
        } => tracing::info!(target: TARGET, event = "issued", %token_id, %user_id, name = name.as_deref()),
        AuthEvent::UsedFromNewIp {
            token_id,
            user_id,
            ip,
            previous,
        } => {
            tracing::info!(target: TARGET, event = "used_from_new_ip", %token_id, %user_id, %ip, previous = previous.map(tracing::field::display))
        }
        AuthEvent::Renewed {
            token_id,
            user_id,
            until,
        } => tracing::debug!(target: TARGET, event = "renewed", %token_id, %user_id, %until),
        AuthEvent::Revoked {
            token_id,
            user_id,
            reason,
        } => tracing::info!(target: TARGET, event = "revoked", %token_id, %user_id, %reason),
        AuthEvent::ExpiredRejected { token_id, user_id } => {
            tracing::info!(target: TARGET, event = "expired_rejected", %token_id, %user_id)
        }
        AuthEvent::LimitReached {
            user_id,
            max,
            rejected,
        } => tracing::warn!(target: TARGET, event = "limit_reached", %user_id, max, rejected),
    }
}
