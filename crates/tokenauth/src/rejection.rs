//! The responses tokenauth sends when it refuses a request.

use std::time::Duration;

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use tokenauth_core::{AuthError, BackendError, Realm};

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

/// How one request's refusals are worded, decided by the layer from the service's
/// [`Challenge`](tokenauth_core::Challenge) setting and the scheme the client used.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// DRF's: every 401 carries `WWW-Authenticate: <keyword>`, the first keyword.
    Drf(HeaderValue),
    /// RFC 6750's, in this realm: `Bearer realm="..."`, with an `error` once
    /// credentials were sent, and 400 for malformed ones.
    Bearer(Realm),
}

impl Answer {
    /// The answer of a refusal made without a layer: DRF's, with its `Token`.
    pub(crate) fn drf_default() -> Self {
        Self::Drf(HeaderValue::from_static(DEFAULT_SCHEME))
    }

    /// The status of a response refusing for `rejection`: DRF's, but 400 for malformed
    /// credentials under RFC 6750 (`invalid_request`).
    fn status(&self, rejection: TokenAuthRejection) -> StatusCode {
        match self {
            Self::Bearer(_) if rejection.rfc6750_error() == Some(INVALID_REQUEST) => StatusCode::BAD_REQUEST,
            _ => rejection.status(),
        }
    }

    /// The `WWW-Authenticate` of a response with `status`, refusing for `rejection` if
    /// the response is a rejection's: on every 401, and on the 400 of malformed
    /// credentials under RFC 6750.
    fn challenge(&self, status: StatusCode, rejection: Option<TokenAuthRejection>) -> Option<HeaderValue> {
        match self {
            Self::Drf(keyword) => (status == StatusCode::UNAUTHORIZED).then(|| keyword.clone()),
            Self::Bearer(realm) => {
                let error = rejection.and_then(|r| r.rfc6750_error().map(|error| (error, r.detail())));
                let challenged = status == StatusCode::UNAUTHORIZED
                    || (status == StatusCode::BAD_REQUEST
                        && error.is_some_and(|(e, _)| e == INVALID_REQUEST));
                challenged.then(|| bearer_challenge(realm, error, None))
            }
        }
    }

    /// The challenge alone, without an error: `Token` (the first keyword), or
    /// `Bearer realm="..."`.
    #[cfg(feature = "routes")]
    pub(crate) fn bare(&self) -> HeaderValue {
        match self {
            Self::Drf(keyword) => keyword.clone(),
            Self::Bearer(realm) => bearer_challenge(realm, None, None),
        }
    }

    /// Sets the status and the challenge of `response` as this answer words them (but
    /// for a response that carries challenges of its own: see [`OwnChallenge`]).
    pub(crate) fn finish(&self, mut response: Response) -> Response {
        if response.extensions().get::<OwnChallenge>().is_some() {
            return response;
        }
        let rejection = response.extensions().get::<Refusal>().map(|refusal| refusal.0);
        if let Some(rejection) = rejection {
            *response.status_mut() = self.status(rejection);
        }
        if let Some(challenge) = self.challenge(response.status(), rejection) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// RFC 6750's `error` for malformed credentials (400).
const INVALID_REQUEST: &str = "invalid_request";

/// An RFC 6750 challenge: `Bearer realm="..."`, then `error` and `error_description`
/// (the DRF detail) if given, then `scope` if given.
pub(crate) fn bearer_challenge(
    realm: &Realm,
    error: Option<(&str, &str)>,
    scope: Option<&tokenauth_core::Scopes>,
) -> HeaderValue {
    let mut challenge = format!("Bearer realm={}", quoted(realm.as_str()));
    if let Some((error, description)) = error {
        challenge.push_str(&format!(
            ", error=\"{error}\", error_description={}",
            quoted(description)
        ));
    }
    if let Some(scope) = scope {
        // Scope names are printable ASCII without spaces, quotes or backslashes.
        challenge.push_str(&format!(", scope=\"{scope}\""));
    }
    HeaderValue::from_str(&challenge).expect("quoted strings of visible ASCII make a valid header value")
}

/// `text` as an HTTP quoted-string: quotes and backslashes escaped, and anything a
/// header cannot carry (controls, non-ASCII) replaced by `?`.
fn quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            ' '..='~' => quoted.push(c),
            _ => quoted.push('?'),
        }
    }
    quoted.push('"');
    quoted
}

/// Marks a response as a [`TokenAuthRejection`]'s, so that the layer can word it for
/// the request ([`Answer::finish`]).
#[derive(Debug, Clone, Copy)]
struct Refusal(TokenAuthRejection);

/// Marks a 401 whose `WWW-Authenticate` names other schemes than the layer's (the
/// introspection route's `Basic`): the layer leaves its challenges as they are.
#[cfg_attr(not(feature = "routes"), allow(dead_code, reason = "only the routes set it"))]
#[derive(Debug, Clone, Copy)]
pub(crate) struct OwnChallenge;

/// Why a request was refused, rendered as DRF renders it: a status and a JSON body
/// `{"detail": "..."}`; every 401 also carries `WWW-Authenticate` (the
/// [`TokenAuthLayer`](crate::TokenAuthLayer) sets it to its configured scheme,
/// `Token` by default). For a client answered in RFC 6750's terms (see "Challenges" on
/// [`TokenAuthLayer`](crate::TokenAuthLayer)), the layer rewords the refusal as it
/// leaves: a `Bearer` challenge with its `error`, and 400 instead of 401 for malformed
/// credentials (`NoCredentials`, `ContainsSpaces`, `InvalidCharacters`).
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

impl TokenAuthRejection {
    /// RFC 6750's `error` code for this refusal: `invalid_request` for malformed
    /// credentials, `invalid_token` for credentials that fail, none otherwise.
    fn rfc6750_error(self) -> Option<&'static str> {
        match self {
            Self::NoCredentials | Self::ContainsSpaces | Self::InvalidCharacters => Some(INVALID_REQUEST),
            Self::InvalidToken | Self::UserInactive | Self::Expired => Some("invalid_token"),
            _ => None,
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
        response.extensions_mut().insert(Refusal(self));
        let mut response = Answer::drf_default().finish(response);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_quoted_strings() {
        assert_eq!(quoted("Invalid token"), r#""Invalid token""#);
        assert_eq!(quoted(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quoted("é\n"), r#""??""#);
        let challenge = bearer_challenge(&Realm::default(), Some(("invalid_token", r#"say "hi""#)), None);
        assert_eq!(
            challenge,
            r#"Bearer realm="api", error="invalid_token", error_description="say \"hi\"""#
        );
    }
}
