//! The responses tokenauth sends when it refuses a request.

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokenauth_core::AuthError;

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
    /// The extractor found no [`TokenAuthLayer`](crate::TokenAuthLayer) output: the
    /// layer is not installed in front of this route, or serves another user type.
    MissingLayer,
}

impl TokenAuthRejection {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Backend | Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
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
            Self::Backend => "A server error occurred.",
            Self::MissingLayer => {
                "Authentication is misconfigured: is `TokenAuthLayer` installed in front of this route?"
            }
        }
    }
}

impl std::fmt::Display for TokenAuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.detail())
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
            _ => Self::Backend,
        }
    }
}

impl IntoResponse for TokenAuthRejection {
    fn into_response(self) -> Response {
        if self == Self::MissingLayer {
            tracing::error!("{}", self.detail());
        }
        let mut response = detail_response(self.status(), self.detail());
        if self.status() == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
        }
        response
    }
}

/// A JSON `{"detail": message}` response, the shape of every DRF error.
pub fn detail_response(status: StatusCode, message: &str) -> Response {
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        detail: &'a str,
    }
    json_response(status, &Detail { detail: message })
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
