//! What can go wrong, in words a client can be shown.

use crate::expiry::Lifespan;

/// Why a request could not be authenticated. The messages are DRF's, byte for byte.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials at all (no header, or another scheme) where they are required.
    #[error("Authentication credentials were not provided.")]
    NotProvided,
    /// The keyword with no token after it.
    #[error("Invalid token header. No credentials provided.")]
    NoCredentials,
    /// More than one word after the keyword.
    #[error("Invalid token header. Token string should not contain spaces.")]
    ContainsSpaces,
    /// A token that is not valid UTF-8.
    #[error("Invalid token header. Token string should not contain invalid characters.")]
    InvalidCharacters,
    /// Not a token this service issued, one that was revoked, or one issued before its
    /// user's password changed.
    #[error("Invalid token")]
    InvalidToken,
    /// The token's user is deactivated or gone.
    #[error("User inactive or deleted")]
    UserInactive,
    /// The token outlived its lifespan, or sat unused past the idle timeout.
    #[error("Token has expired")]
    Expired,
    /// The store or the user directory failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why a token could not be issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    /// The requested lifespan is longer than the configured one.
    #[error("Ensure the lifespan is at most {max} ({} seconds).", max.as_duration().whole_seconds())]
    LifespanTooLong {
        /// The configured lifespan: the longest a token may live.
        max: Lifespan,
    },
    /// A requested scope is not one the service grants.
    #[error("Scope \"{scope}\" cannot be granted.")]
    ScopeNotGrantable {
        /// The scope.
        scope: String,
    },
    /// A requested scope is not carried by the token asking for a new one
    /// ([`TokenAuth::issue_personal`](crate::TokenAuth::issue_personal)): a token cannot
    /// mint a broader one.
    #[error("A token cannot grant a scope it does not carry: \"{scope}\".")]
    ScopeNotHeld {
        /// The scope.
        scope: String,
    },
    /// The token store holds one token per user, without names (DRF's
    /// `authtoken_token`): it cannot keep a personal token beside the user's own.
    #[error("This token store keeps one token per user: personal tokens cannot be created.")]
    PersonalTokensUnsupported,
    /// The user holds as many live tokens as allowed and the policy is to refuse.
    #[error(
        "Token limit reached: at most {max} active tokens per user. Log out on another device or revoke a token first."
    )]
    LimitReached {
        /// The limit.
        max: usize,
    },
    /// The user's credentials changed (or the user was deleted) while the token was
    /// being issued under the old ones: nothing was issued.
    #[error("Unable to log in with provided credentials.")]
    CredentialsChanged,
    /// The store failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// Why an obtain (login) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObtainError {
    /// Unknown user, wrong password or inactive user: deliberately indistinguishable.
    #[error("Unable to log in with provided credentials.")]
    InvalidCredentials,
    /// The token asked for cannot be issued (checked before the credentials when it
    /// does not depend on the user: lifespan and scopes).
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// The password hasher's queue is full: nothing was checked. Try again after
    /// `retry_after`.
    #[error("Too many logins at once. Try again in {} seconds.", retry_after.as_secs().max(1))]
    Busy {
        /// A hint for the client: how long to wait.
        retry_after: std::time::Duration,
    },
}

impl From<BackendError> for ObtainError {
    fn from(error: BackendError) -> Self {
        Self::Issue(IssueError::Backend(error))
    }
}

/// A failure of the token store or the user directory, with its cause kept as `source`.
///
/// It is either **unavailable** ([`is_unavailable`](Self::is_unavailable)): the backend
/// could not be reached or did not answer in time (a database down or unreachable, a
/// pool with no free connection before its timeout, a lock held past the busy timeout,
/// the [backend timeout](crate::TokenAuth::with_backend_timeout) passed), which a retry
/// later may fix, and which the web layer answers with 503 and `Retry-After`; or it is
/// a failure of another kind (a bug, a corrupt row, a refused query), answered with
/// 500. Backends decide which of their errors mean unavailable
/// ([`TokenStore::is_unavailable`](crate::store::TokenStore::is_unavailable),
/// [`UserDirectory::is_unavailable`](crate::store::UserDirectory::is_unavailable)).
#[derive(Debug, thiserror::Error)]
#[error("{}", if *unavailable { "token store or user directory unavailable" } else { "token store or user directory failed" })]
pub struct BackendError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
    unavailable: bool,
}

impl BackendError {
    /// Wraps a backend's error: a failure, not unavailability.
    pub fn new(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Box::new(source),
            unavailable: false,
        }
    }

    /// Wraps a backend's error that means the backend is unavailable for now.
    pub fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Box::new(source),
            unavailable: true,
        }
    }

    /// Whether the backend was unavailable (down, unreachable, busy past its timeout)
    /// rather than failing: worth retrying later.
    pub fn is_unavailable(&self) -> bool {
        self.unavailable
    }
}

/// A backend call that did not complete within the backend timeout: the source of an
/// unavailable [`BackendError`].
#[derive(Debug, thiserror::Error)]
#[error("the token store or user directory did not answer within {0:?}")]
pub(crate) struct BackendTimeout(pub(crate) std::time::Duration);
