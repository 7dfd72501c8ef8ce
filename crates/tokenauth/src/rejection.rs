//! The responses tokenauth sends when it refuses a request.

use std::time::Duration;

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokenauth_core::{AuthError, BackendError};

/// DRF's 500 message.
pub(crate) const SERVER_ERROR: &str = "A server error occurred.";
/// DRF's 503 message (`ServiceUnavailable`).
pub(crate) const SERVICE_UNAVAILABLE: &str = "Service temporarily unavailable, try again later.";
/// The `Retry-After` of a 503 for an unavailable backend.
pub(crate) const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);
/// DRF's `PermissionDenied` message.
pub(crate) const PERMISSION_DENIED: &str = "You do not have permission to perform this action.";

/// The scheme a challenge names when no [`TokenAuthLayer`](crate::TokenAuthLayer)
/// configured another: the first default keyword.
pub(crate) const DEFAULT_SCHEME: &str = "Token";

/// Sets `WWW-Authenticate` on a 401 (and leaves other responses alone, and a 401
/// that carries challenges of its own: see [`OwnChallenge`]).
pub(crate) fn challenge(response: &mut Response, scheme: HeaderValue) {
    if response.status() == StatusCode::UNAUTHORIZED && response.extensions().get::<OwnChallenge>().is_none()
    {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, scheme);
    }
}

/// Marks a 401 whose `WWW-Authenticate` names other schemes than the layer's (the
/// introspection route's `Basic`): the layer leaves its challenges as they are.
#[cfg_attr(not(feature = "routes"), allow(dead_code, reason = "only the routes set it"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnChallenge;

/// Why a request was refused, rendered as DRF renders it: a status and a JSON body
/// `{"detail": "..."}`; every 401 also carries `WWW-Authenticate` (the
/// [`TokenAuthLayer`](crate::TokenAuthLayer) sets it to its configured scheme,
/// `Token` by default).
///
/// ```
/// use axum_core::response::IntoResponse;
/// use tokenauth::TokenAuthRejection;
///
/// let response = TokenAuthRejection::Expired.into_response();
/// assert_eq!(response.status(), 401);
/// assert_eq!(response.headers()["www-authenticate"], "Token");
/// assert_eq!(TokenAuthRejection::Expired.detail(), "Token has expired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenAuthRejection {
    /// No credentials where they are required.
    NotProvided,
    /// The keyword with no token after it.
    NoCredentials,
    /// More than one word after the keyword.
    ContainsSpaces,
    /// A token that is not valid UTF-8.
    InvalidCharacters,
    /// An unknown, revoked or malformed token.
    InvalidToken,
    /// The token's user is deactivated or deleted.
    UserInactive,
    /// The token has expired.
    Expired,
    /// The token store or user directory failed (logged; the client sees a 500).
    Backend,
    /// The token store or user directory is unavailable: down, unreachable, or busy
    /// past its timeout ([`BackendError::is_unavailable`]). Logged; the client sees
    /// 503 `Service temporarily unavailable, try again later.` (DRF's
    /// `ServiceUnavailable`) with `Retry-After: 5`.
    Unavailable,
    /// The extractor found no [`TokenAuthLayer`](crate::TokenAuthLayer) output: the
    /// layer is not installed in front of this route. Logged; the client sees DRF's
    /// 500 `A server error occurred.`, which says nothing about the server.
    MissingLayer,
    /// The layer in front of the route serves another user type than the extractor asks
    /// for: `Authenticated<expected>` behind a layer whose directory's user type is
    /// `found`, both of them your own [`AuthUser`](tokenauth_core::AuthUser) types
    /// (`Authenticated<User>` works under every directory). Logged; the client sees a
    /// generic 500.
    UserTypeMismatch {
        /// The type the extractor asked for.
        expected: &'static str,
        /// The type the layer's directory yields.
        found: &'static str,
    },
}

impl TokenAuthRejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Backend | Self::MissingLayer | Self::UserTypeMismatch { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `detail` message.
    pub fn detail(&self) -> &'static str {
        match self {
            Self::NotProvided => "Authentication credentials were not provided.",
            Self::NoCredentials => "Invalid token header. No credentials provided.",
            Self::ContainsSpaces => "Invalid token header. Token string should not contain spaces.",
            Self::InvalidCharacters => {
                "Invalid token header. Token string should not contain invalid characters."
            }
            Self::InvalidToken => "Invalid token",
            Self::UserInactive => "User inactive or deleted",
            Self::Expired => "Token has expired",
            // The client learns nothing about the server; the log says what is wrong.
            Self::Backend | Self::MissingLayer | Self::UserTypeMismatch { .. } => SERVER_ERROR,
            Self::Unavailable => SERVICE_UNAVAILABLE,
        }
    }
}

impl std::fmt::Display for TokenAuthRejection {
    /// The `detail` message, but for a user type mismatch, which names both types.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UserTypeMismatch { expected, found } => write!(
                f,
                "Authentication is misconfigured: the handler asks for `Authenticated<{expected}>`, \
                 but the `TokenAuthLayer` in front of it serves `{found}` users"
            ),
            Self::MissingLayer => f.write_str(
                "Authentication is misconfigured: no `TokenAuthLayer` runs in front of this route \
                 (add the route before `.layer(..)`)",
            ),
            _ => f.write_str(self.detail()),
        }
    }
}

impl std::error::Error for TokenAuthRejection {}

impl From<&AuthError> for TokenAuthRejection {
    fn from(error: &AuthError) -> Self {
        match error {
            AuthError::NotProvided => Self::NotProvided,
            AuthError::NoCredentials => Self::NoCredentials,
            AuthError::ContainsSpaces => Self::ContainsSpaces,
            AuthError::InvalidCharacters => Self::InvalidCharacters,
            AuthError::InvalidToken => Self::InvalidToken,
            AuthError::UserInactive => Self::UserInactive,
            AuthError::Expired => Self::Expired,
            AuthError::Backend(error) if error.is_unavailable() => Self::Unavailable,
            _ => Self::Backend,
        }
    }
}

impl IntoResponse for TokenAuthRejection {
    fn into_response(self) -> Response {
        if matches!(self, Self::MissingLayer | Self::UserTypeMismatch { .. }) {
            tracing::error!("{self}");
        }
        let mut response = detail_response(self.status(), self.detail());
        challenge(&mut response, HeaderValue::from_static(DEFAULT_SCHEME));
        if self == Self::Unavailable {
            response = with_retry_after(response, UNAVAILABLE_RETRY_AFTER);
        }
        response
    }
}

/// The one answer to a failed store or directory, after logging the cause: 503 with
/// `Retry-After` if it was unavailable ([`BackendError::is_unavailable`]), DRF's 500
/// otherwise. `what` says what failed, for the log.
pub(crate) fn backend_failure(error: &BackendError, what: &str) -> Response {
    if error.is_unavailable() {
        tracing::warn!(error = error as &dyn std::error::Error, "{what}");
        TokenAuthRejection::Unavailable.into_response()
    } else {
        tracing::error!(error = error as &dyn std::error::Error, "{what}");
        TokenAuthRejection::Backend.into_response()
    }
}

/// The response refusing credentials that failed: [`backend_failure`] when the store or
/// the directory failed, else the rejection's 401.
pub(crate) fn refusal(error: &AuthError) -> Response {
    match error {
        AuthError::Backend(error) => backend_failure(error, "authentication backend failed"),
        other => TokenAuthRejection::from(other).into_response(),
    }
}

/// `response` with `Retry-After: N`, `wait` in whole seconds rounded up (at least 1).
pub(crate) fn with_retry_after(mut response: Response, wait: Duration) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(wait)));
    response
}

/// `wait` in seconds, rounded up, at least 1.
pub(crate) fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// A JSON `{"detail": message}` response, the shape of every DRF error.
pub fn detail_response(status: StatusCode, message: &str) -> Response {
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        detail: &'a str,
    }
    json_response(status, &Detail { detail: message })
}

/// DRF's 405 for `method`: `{"detail":"Method \"POST\" not allowed."}`.
pub(crate) fn method_not_allowed_response(method: &http::Method) -> Response {
    detail_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    )
}

/// A JSON response; objects keep the order their type serializes them in.
pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let bytes = serde_json::to_vec(body).expect("tokenauth's bodies have string keys and always serialize");
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        bytes,
    )
        .into_response()
}
