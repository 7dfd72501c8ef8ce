//! Whether a token works, and why not: one rule for authentication, the session list
//! and the administrator's listing.

use std::fmt;

use time::OffsetDateTime;

use crate::error::AuthError;
use crate::expiry::ExpiryPolicy;
use crate::record::TokenRecord;
use crate::user::AuthUser;

/// The verdict on a stored token, in the order the original checks: the token itself,
/// then its user, then expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// It authenticates, until `expires`.
    Valid {
        /// When it expires under the current policy.
        expires: OffsetDateTime,
    },
    /// Its user no longer exists (`User inactive or deleted`).
    UserMissing,
    /// It was issued under another credential version than its user's: the password
    /// changed, or everything was revoked, since (`Invalid token`).
    CredentialsChanged,
    /// Its user may not authenticate (`User inactive or deleted`).
    UserInactive,
    /// It expired at `at` (`Token has expired`).
    Expired {
        /// When.
        at: OffsetDateTime,
    },
}

impl TokenStatus {
    /// The verdict on `record`, whose user is `user` (`None`: deleted), last used at
    /// `last_used` (the freshest use known, written or not), at `now`.
    pub fn of<U: AuthUser>(
        policy: &ExpiryPolicy,
        record: &TokenRecord,
        user: Option<&U>,
        last_used: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Self {
        let Some(user) = user else {
            return Self::UserMissing;
        };
        if user.credential_version() != record.credential_version {
            return Self::CredentialsChanged;
        }
        if !user.is_active() {
            return Self::UserInactive;
        }
        let expires = policy.expires_at(record, last_used);
        if now > expires {
            Self::Expired { at: expires }
        } else {
            Self::Valid { expires }
        }
    }

    /// Whether the token authenticates.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }

    /// What authentication answers for it: `Ok` for a valid token, else the error.
    pub fn check(&self) -> Result<(), AuthError> {
        match self {
            Self::Valid { .. } => Ok(()),
            Self::CredentialsChanged => Err(AuthError::InvalidToken),
            Self::UserMissing | Self::UserInactive => Err(AuthError::UserInactive),
            Self::Expired { .. } => Err(AuthError::Expired),
        }
    }

    /// A one-word name, as the CLI's STATUS column shows it: `valid`, `orphan`,
    /// `revoked`, `inactive` or `expired`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Valid { .. } => "valid",
            Self::UserMissing => "orphan",
            Self::CredentialsChanged => "revoked",
            Self::UserInactive => "inactive",
            Self::Expired { .. } => "expired",
        }
    }
}

impl fmt::Display for TokenStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
