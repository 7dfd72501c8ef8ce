//! What happens to tokens, as `tracing` events and an audit hook.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::token::TokenId;
use crate::user::UserId;

/// Something that happened to a token or a login. Every event is passed to the
/// [`EventHook`], if one is set, and logged as a structured `tracing` event (target
/// `tokenauth::events`). No event carries a secret: never a password or a token.
///
/// The events a client can repeat at will (`login_failed`, `login_throttled`,
/// `login_succeeded`, `used_from_new_ip`, `expired_rejected`) are rate-limited in the log, not in the
/// hook: per source (the address and username of a login, the user, the token), at
/// most [`LOG_BURST`] lines per [`LOG_WINDOW`]; the first line logged after a
/// suppression carries `suppressed = N`, the number of lines left out.
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
    /// A login succeeded (a token was issued; an `Issued` event follows).
    LoginSucceeded {
        /// The user.
        user_id: UserId,
        /// The client's address, if known.
        ip: Option<IpAddr>,
    },
    /// A login was refused for its credentials: unknown user, wrong password, inactive
    /// user, or a password that changed during the login.
    LoginFailed {
        /// The username tried, only when it names an existing user. An unknown
        /// "username" is left out: it is often a password typed into the wrong field,
        /// and must not reach the logs.
        username: Option<String>,
        /// The client's address, if known.
        ip: Option<IpAddr>,
    },
    /// A login was refused by the login throttle in front of it, before any lookup or
    /// password work ([`TokenAuth::report_login_throttled`](crate::TokenAuth::report_login_throttled)).
    /// The username is left out: nothing checked that it names a user, and it may be a
    /// password typed into the wrong field.
    LoginThrottled {
        /// The client's address, if known.
        ip: Option<IpAddr>,
    },
}

impl AuthEvent {
    /// The event's name, as logged in the `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Issued { .. } => "issued",
            Self::UsedFromNewIp { .. } => "used_from_new_ip",
            Self::Renewed { .. } => "renewed",
            Self::Revoked { .. } => "revoked",
            Self::ExpiredRejected { .. } => "expired_rejected",
            Self::LimitReached { .. } => "limit_reached",
            Self::LoginSucceeded { .. } => "login_succeeded",
            Self::LoginFailed { .. } => "login_failed",
            Self::LoginThrottled { .. } => "login_throttled",
        }
    }

    /// What the log's rate limit counts this event against, if it is one a client can
    /// repeat at will.
    fn log_source(&self) -> Option<String> {
        match self {
            Self::LoginFailed { username, ip } => Some(format!(
                "{}|{}",
                ip.map(|ip| ip.to_string()).unwrap_or_default(),
                username.as_deref().unwrap_or_default()
            )),
            Self::LoginThrottled { ip } => Some(ip.map(|ip| ip.to_string()).unwrap_or_default()),
            Self::LoginSucceeded { user_id, .. } => Some(user_id.to_string()),
            Self::UsedFromNewIp { token_id, .. } | Self::ExpiredRejected { token_id, .. } => {
                Some(token_id.to_string())
            }
            _ => None,
        }
    }
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
    /// Someone presenting the token itself revoked it: RFC 7009 revocation, or an
    /// operator holding a leaked token (`tokenauth token revoke --token-stdin`).
    ByValue,
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
            Self::ByValue => "by_value",
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

/// How an authentication ended: [`EventHook::on_authentication`], for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// The token works.
    Ok,
    /// The token has expired.
    Expired,
    /// No such token (unknown, revoked, or garbage).
    Invalid,
    /// The token's user is inactive or deleted.
    Inactive,
    /// The `Authorization` header is not one token of the scheme.
    Malformed,
    /// The store or the directory failed: the token was not judged.
    Unavailable,
}

impl AuthOutcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Self; 6] = [
        Self::Ok,
        Self::Expired,
        Self::Invalid,
        Self::Inactive,
        Self::Malformed,
        Self::Unavailable,
    ];

    /// The outcome of an authentication that ended with `result`.
    pub fn of<T>(result: &Result<T, crate::AuthError>) -> Self {
        use crate::AuthError;
        match result {
            Ok(_) => Self::Ok,
            Err(AuthError::Expired) => Self::Expired,
            Err(AuthError::InvalidToken) => Self::Invalid,
            Err(AuthError::UserInactive) => Self::Inactive,
            Err(AuthError::Backend(_)) => Self::Unavailable,
            Err(_) => Self::Malformed,
        }
    }

    /// A short name: `ok`, `expired`, `invalid`, `inactive`, `malformed`, `unavailable`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Expired => "expired",
            Self::Invalid => "invalid",
            Self::Inactive => "inactive",
            Self::Malformed => "malformed",
            Self::Unavailable => "unavailable",
        }
    }
}

/// How a login ended: [`EventHook::on_login`], for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginOutcome {
    /// A token was issued.
    Ok,
    /// Refused for its credentials.
    Failed,
    /// Refused by the login throttle, before any password work.
    Throttled,
    /// Refused because the password-hashing queue was full.
    Busy,
}

impl LoginOutcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Self; 4] = [Self::Ok, Self::Failed, Self::Throttled, Self::Busy];

    /// A short name: `ok`, `failed`, `throttled`, `busy`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Throttled => "throttled",
            Self::Busy => "busy",
        }
    }
}

/// Receives every [`AuthEvent`], for auditing, and the outcome of every authentication
/// and login, for metrics. It runs inline on the request path: keep it quick and never
/// block (hand events to a channel for slow work).
///
/// Any `Fn(&AuthEvent) + Send + Sync + 'static` closure is a hook (of events only).
pub trait EventHook: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &AuthEvent);

    /// Called once per token presented to [`TokenAuth::authenticate`] or
    /// [`TokenAuth::authenticate_header`] (not for a request without credentials).
    ///
    /// [`TokenAuth::authenticate`]: crate::TokenAuth::authenticate
    /// [`TokenAuth::authenticate_header`]: crate::TokenAuth::authenticate_header
    fn on_authentication(&self, outcome: AuthOutcome) {
        let _ = outcome;
    }

    /// Called once per login that got as far as its credentials' check, or was
    /// throttled ([`TokenAuth::report_login`](crate::TokenAuth::report_login)).
    fn on_login(&self, outcome: LoginOutcome) {
        let _ = outcome;
    }
}

impl<F: Fn(&AuthEvent) + Send + Sync + 'static> EventHook for F {
    fn on_event(&self, event: &AuthEvent) {
        self(event);
    }
}

/// The window of the log's rate limit: one minute.
pub const LOG_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);
/// Lines logged per source and window before the rest are suppressed: 5.
pub const LOG_BURST: u32 = 5;
/// Sources remembered at once. When that many were seen within the window, new sources
/// share one budget per event name, so the table cannot grow without bound.
const LOG_SOURCES: usize = 4096;

/// The log's rate limit: which events to log, and how many were suppressed before.
#[derive(Debug, Default)]
pub(crate) struct LogLimiter {
    windows: Mutex<HashMap<(&'static str, String), Window>>,
}

#[derive(Debug)]
struct Window {
    start: OffsetDateTime,
    logged: u32,
    suppressed: u64,
}

impl LogLimiter {
    /// Whether to log `event` at `now`: `Some(n)` to log it, with `n` lines suppressed
    /// since the last one of its source; `None` to leave it out.
    pub(crate) fn admit(&self, event: &AuthEvent, now: OffsetDateTime) -> Option<u64> {
        let Some(source) = event.log_source() else {
            return Some(0);
        };
        let window = Duration::try_from(LOG_WINDOW).expect("one minute fits");
        let mut windows = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut key = (event.name(), source);
        if !windows.contains_key(&key) && windows.len() >= LOG_SOURCES {
            windows.retain(|_, w| now - w.start < window);
            if windows.len() >= LOG_SOURCES {
                key.1 = "*".to_owned();
            }
        }
        let entry = windows.entry(key).or_insert(Window {
            start: now,
            logged: 0,
            suppressed: 0,
        });
        if now - entry.start >= window {
            let suppressed = std::mem::take(&mut entry.suppressed);
            *entry = Window {
                start: now,
                logged: 1,
                suppressed: 0,
            };
            return Some(suppressed);
        }
        if entry.logged < LOG_BURST {
            entry.logged += 1;
            Some(0)
        } else {
            entry.suppressed += 1;
            None
        }
    }
}

/// Logs `event` as a structured `tracing` event; `suppressed` lines of its source were
/// left out before it.
pub(crate) fn trace(event: &AuthEvent, suppressed: u64) {
    const TARGET: &str = "tokenauth::events";
    // Recorded only when lines were left out: an absent field, not `suppressed=0`.
    let suppressed = (suppressed > 0).then_some(suppressed);
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
            tracing::info!(target: TARGET, event = "used_from_new_ip", %token_id, %user_id, %ip, previous = previous.map(tracing::field::display), suppressed)
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
            tracing::info!(target: TARGET, event = "expired_rejected", %token_id, %user_id, suppressed)
        }
        AuthEvent::LimitReached {
            user_id,
            max,
            rejected,
        } => tracing::warn!(target: TARGET, event = "limit_reached", %user_id, max, rejected),
        AuthEvent::LoginSucceeded { user_id, ip } => {
            tracing::info!(target: TARGET, event = "login_succeeded", %user_id, ip = ip.map(tracing::field::display), suppressed)
        }
        AuthEvent::LoginFailed { username, ip } => {
            tracing::warn!(target: TARGET, event = "login_failed", username = username.as_deref(), ip = ip.map(tracing::field::display), suppressed)
        }
        AuthEvent::LoginThrottled { ip } => {
            tracing::warn!(target: TARGET, event = "login_throttled", ip = ip.map(tracing::field::display), suppressed)
        }
    }
}

#[cfg(test)]
mod tests;
