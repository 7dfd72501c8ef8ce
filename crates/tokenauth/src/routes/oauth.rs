//! OAuth 2.0 token introspection (RFC 7662) and revocation (RFC 7009).

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{AuthError, AuthUser, Scopes, TokenAuth, Verified};

use super::body::read_form;
#[cfg(feature = "openapi")]
use super::openapi as doc;
use crate::extract::Presented;
use crate::rejection::{OwnChallenge, TokenAuthRejection, backend_failure, json_response};
use crate::scope::{ScopeRejection, check_scopes};

/// The path of the introspection endpoint (RFC 7662).
pub const INTROSPECT_PATH: &str = "/auth/introspect";

/// The path of the revocation endpoint (RFC 7009).
pub const REVOKE_PATH: &str = "/auth/revoke";

/// The scope a token needs to introspect other tokens. It works only where the service
/// grants it ([`TokenAuth::with_scopes`]).
pub const INTROSPECT_SCOPE: &str = "introspect";

/// The introspection endpoint's `Basic` challenge, for its client credential.
const BASIC_CHALLENGE: &str = r#"Basic realm="tokenauth""#;

/// The shortest client secret [`IntrospectionClient::new`] accepts, in bytes: the
/// endpoint has no throttle, so the secret must be too long to guess (`openssl rand
/// -hex 32` makes 64).
pub const MIN_CLIENT_SECRET_BYTES: usize = 32;

/// The client credential a resource server presents to the introspection endpoint
/// with HTTP Basic (`client_id:client_secret`, RFC 6749 §2.3.1), as an alternative to a
/// token carrying [`INTROSPECT_SCOPE`].
///
/// Only the secret's SHA-256 digest is kept, and a presented pair is compared with it
/// in constant time. `Debug` shows the id alone.
///
/// ```
/// use tokenauth::routes::IntrospectionClient;
///
/// let client = IntrospectionClient::new("gateway", &"s".repeat(32)).unwrap();
/// assert_eq!(format!("{client:?}"), r#"IntrospectionClient { id: "gateway", secret: "[redacted]" }"#);
/// assert!(IntrospectionClient::new("gateway", "short").is_err());
/// ```
#[derive(Clone)]
pub struct IntrospectionClient {
    id: String,
    id_digest: [u8; 32],
    secret_digest: [u8; 32],
}

/// Why [`IntrospectionClient::new`] refused a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidClient {
    /// The id is empty, or holds a `:` or a control character, which Basic cannot
    /// carry.
    #[error("the introspection client id must be non-empty, without ':' or control characters")]
    Id,
    /// The secret is shorter than [`MIN_CLIENT_SECRET_BYTES`], or holds a control
    /// character.
    #[error(
        "the introspection client secret must be at least {MIN_CLIENT_SECRET_BYTES} bytes, without control characters (`openssl rand -hex 32` makes one)"
    )]
    Secret,
}

impl IntrospectionClient {
    /// The client `id` with `secret`.
    pub fn new(id: impl Into<String>, secret: &str) -> Result<Self, InvalidClient> {
        let id = id.into();
        if id.is_empty() || id.contains(':') || id.chars().any(char::is_control) {
            return Err(InvalidClient::Id);
        }
        if secret.len() < MIN_CLIENT_SECRET_BYTES || secret.chars().any(char::is_control) {
            return Err(InvalidClient::Secret);
        }
        Ok(Self {
            id_digest: Sha256::digest(id.as_bytes()).into(),
            secret_digest: Sha256::digest(secret.as_bytes()).into(),
            id,
        })
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether `id` and `secret` are this client's, compared in constant time.
    fn verify(&self, id: &[u8], secret: &[u8]) -> bool {
        let id: [u8; 32] = Sha256::digest(id).into();
        let secret: [u8; 32] = Sha256::digest(secret).into();
        (id.ct_eq(&self.id_digest) & secret.ct_eq(&self.secret_digest)).into()
    }

    /// Whether the `Basic` credentials `encoded` (base64 of `id:secret`) are this
    /// client's, the id and secret taken as sent or form-urlencoded (RFC 6749 §2.3.1
    /// asks clients to encode them; many do not).
    fn verify_basic(&self, encoded: &[u8]) -> bool {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (id, secret) = (&decoded[..colon], &decoded[colon + 1..]);
        let raw = self.verify(id, secret);
        let (id, secret) = (form_decode(id), form_decode(secret));
        raw | self.verify(&id, &secret)
    }
}

impl fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// One `application/x-www-form-urlencoded` value, decoded (`+` is a space).
fn form_decode(value: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = value.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    percent_encoding::percent_decode(&spaced).collect()
}

/// What the introspection handler works with.
pub(super) struct IntrospectState<S, D> {
    pub(super) auth: TokenAuth<S, D>,
    pub(super) client: Option<IntrospectionClient>,
    pub(super) required: Scopes,
}

impl<S, D> IntrospectState<S, D> {
    pub(super) fn new(auth: TokenAuth<S, D>, client: Option<IntrospectionClient>) -> Self {
        Self {
            auth,
            client,
            required: Scopes::parse(INTROSPECT_SCOPE).expect("a valid scope name"),
        }
    }

    /// `None` if the caller presented the client credential, or a token (the layer
    /// checked it) carrying [`INTROSPECT_SCOPE`]; else the response refusing it.
    fn refusal(&self, parts: &Parts) -> Option<Response> {
        if let Some(client) = &self.client
            && let Some(encoded) = basic_credentials(parts)
        {
            if client.verify_basic(encoded) {
                return None;
            }
            tracing::debug!("introspection: wrong client credentials");
            let refused = oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed.",
            );
            return Some(challenged(refused, None));
        }
        match check_scopes(&parts.extensions, &self.required) {
            Ok(()) => None,
            // No credentials at all: both ways in are offered.
            Err(ScopeRejection::Unauthenticated(TokenAuthRejection::NotProvided))
                if self.client.is_some() =>
            {
                let scheme = Presented::of(&parts.extensions)
                    .map(|presented| presented.answer.bare())
                    .ok();
                Some(challenged(
                    TokenAuthRejection::NotProvided.into_response(),
                    scheme,
                ))
            }
            Err(rejection) => Some(rejection.into_response()),
        }
    }
}

/// The base64 part of an `Authorization: Basic ...` header, if that is its scheme.
fn basic_credentials(parts: &Parts) -> Option<&[u8]> {
    let value = parts.headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at_checked(6)?;
    scheme.eq_ignore_ascii_case(b"basic ").then(|| rest.trim_ascii())
}

/// A 401 challenging with `Basic` (after `scheme`, the layer's, if given), marked so
/// that the layer keeps these challenges.
fn challenged(mut response: Response, scheme: Option<HeaderValue>) -> Response {
    let headers = response.headers_mut();
    headers.remove(header::WWW_AUTHENTICATE);
    if let Some(scheme) = scheme {
        headers.append(header::WWW_AUTHENTICATE, scheme);
    }
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(BASIC_CHALLENGE),
    );
    response.extensions_mut().insert(OwnChallenge);
    response
}

/// An OAuth error (RFC 6749 §5.2): `{"error": ..., "error_description": ...}`.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &OAuthError {
            error,
            error_description: description,
        },
    )
}

/// An OAuth error body (RFC 6749 §5.2).
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct OAuthError<'a> {
    /// `invalid_request` or `invalid_client`.
    error: &'a str,
    /// What went wrong, for people.
    error_description: &'a str,
}

/// The one `token` parameter of a form, or why it is refused: none (or empty), or
/// several (RFC 6749 §3.1: parameters are not repeated).
fn token_param(form: &[(String, String)]) -> Result<&str, &'static str> {
    let mut tokens = form.iter().filter(|(key, _)| key == "token");
    match (tokens.next(), tokens.next()) {
        (Some((_, token)), None) if !token.is_empty() => Ok(token),
        (Some(_), Some(_)) => Err("The token parameter is repeated."),
        _ => Err("The token parameter is missing."),
    }
}

/// The 400 `invalid_request` of a form without its one `token`.
fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// The answer about an active token (RFC 7662 §2.2); an inactive one is
/// `{"active":false}` alone.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Active<'a> {
    /// `true`.
    active: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    /// The token's scopes, space-separated; left out when it has none.
    #[cfg_attr(feature = "openapi", schema(required = false))]
    scope: &'a str,
    /// Its user's username.
    username: &'a str,
    /// Its user's id.
    sub: &'a str,
    /// The `Authorization` keyword to present it with.
    token_type: &'a str,
    /// When it expires (seconds since the epoch).
    exp: i64,
    /// When it was issued (seconds since the epoch).
    iat: i64,
}

/// The answer about any token that is not active: `{"active": false}`, never why.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Inactive {
    /// `false`.
    active: bool,
}

/// `POST /auth/introspect`: the caller admitted, then the form read, then the verdict,
/// which records no use of the token asked about.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/introspect", tag = "oauth",
    security(("token" = []), ("bearer" = []), ("introspectionClient" = [])),
    request_body(content((doc::TokenForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "What the token is, or `{\"active\": false}`.", body = doc::Introspection,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = doc::InvalidRequest),
        (status = 401, response = doc::ClientUnauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn introspect<S: TokenStore, D: UserDirectory>(
    State(state): State<Arc<IntrospectState<S, D>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    if let Some(refusal) = state.refusal(&parts) {
        return refusal;
    }
    let form = match read_form(Request::from_parts(parts, body)).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let token = match token_param(&form) {
        Ok(token) => token,
        Err(why) => return invalid_request(why),
    };
    let response = match state.auth.inspect(token).await {
        Ok(Verified { user, token }) => {
            let scope = token.scopes.to_string();
            let sub = user.id();
            json_response(
                StatusCode::OK,
                &Active {
                    active: true,
                    scope: &scope,
                    username: user.username(),
                    sub: sub.as_str(),
                    token_type: state.auth.challenge(),
                    exp: token.expires.unix_timestamp(),
                    iat: token.created.unix_timestamp(),
                },
            )
        }
        Err(AuthError::Backend(error)) => return backend_failure(&error, "introspection failed"),
        // Unknown, revoked, expired, malformed, inactive user: one answer for all.
        Err(_) => json_response(StatusCode::OK, &Inactive { active: false }),
    };
    no_store(response)
}

/// `POST /auth/revoke`: the token in the form is revoked if it is stored; 200 with an
/// empty body whether it was or not.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/revoke", tag = "oauth",
    request_body(content((doc::TokenForm = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Revoked if it was stored: an empty body either way."),
        (status = 400, response = doc::InvalidRequest),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn revoke<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    request: Request,
) -> Response {
    let form = match read_form(request).await {
        Ok(form) => form,
        Err(response) => return response,
    };
    let token = match token_param(&form) {
        Ok(token) => token,
        Err(why) => return invalid_request(why),
    };
    match auth.revoke_by_value(token).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(error) => backend_failure(&error, "revocation failed"),
    }
}

/// `response` with `Cache-Control: no-store`: an answer about a token is not kept.
fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
