//! Forward auth: the route a reverse proxy asks whether to let a request through, and
//! who made it.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderName, HeaderValue, StatusCode, header};
use time::format_description::well_known::Rfc3339;
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{AuthUser, Scopes, TokenAuth, Verified};

use super::MAX_SCOPES;
use crate::extract::{Presented, UserOf};
use crate::layer::{ClientIp, answer, authenticate_authorization};
use crate::rejection::{OwnChallenge, TokenAuthRejection, detail_response, json_response, refusal};
use crate::scope::insufficient_scope;

/// Where [`verify_router`](super::verify_router) serves forward auth.
pub const VERIFY_PATH: &str = "/auth/verify";

/// How many scope names a service warns about as not grantable, once each: beyond
/// that, a client asking for made-up scopes cannot fill the log (or memory).
const MAX_WARNED_SCOPES: usize = 32;

/// What the forward-auth route answers with and reads: the names of the identity
/// headers of a 200, of the header carrying a required scope, and the cookie holding a
/// token, if any. The default is `X-Auth-User`, `X-Auth-User-Id`, `X-Auth-Scopes`,
/// `X-Auth-Token-Id`, `X-Auth-Expires`, `X-Auth-Required-Scope` and no cookie.
///
/// ```
/// use http::HeaderName;
/// use tokenauth::routes::VerifyOptions;
///
/// let options = VerifyOptions {
///     user_header: HeaderName::from_static("x-remote-user"),
///     cookie: Some("auth_token".parse().unwrap()),
///     ..VerifyOptions::default()
/// };
/// assert_eq!(options.user_id_header, "x-auth-user-id");
/// ```
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The user's username.
    pub user_header: HeaderName,
    /// The user's id.
    pub user_id_header: HeaderName,
    /// The token's scopes, space-separated (empty when it has none).
    pub scopes_header: HeaderName,
    /// The token's public id (never the token).
    pub token_id_header: HeaderName,
    /// When the token expires, RFC 3339.
    pub expires_header: HeaderName,
    /// The request header a proxy sets to require scopes (space-separated), besides
    /// the `scope` query parameter.
    pub required_scope_header: HeaderName,
    /// A cookie whose value is a token, read when the request has no credentials in
    /// `Authorization` (default none: `Authorization` only).
    pub cookie: Option<CookieName>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            user_header: HeaderName::from_static("x-auth-user"),
            user_id_header: HeaderName::from_static("x-auth-user-id"),
            scopes_header: HeaderName::from_static("x-auth-scopes"),
            token_id_header: HeaderName::from_static("x-auth-token-id"),
            expires_header: HeaderName::from_static("x-auth-expires"),
            required_scope_header: HeaderName::from_static("x-auth-required-scope"),
            cookie: None,
        }
    }
}

/// A cookie name: an RFC 6265 token (visible ASCII without separators such as `=`,
/// `;`, `,`, quotes or spaces).
///
/// ```
/// use tokenauth::routes::CookieName;
///
/// assert!("auth_token".parse::<CookieName>().is_ok());
/// assert!("auth token".parse::<CookieName>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieName(String);

impl CookieName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CookieName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A cookie name that is not an RFC 6265 token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid cookie name {0:?}: a cookie name is visible ASCII without separators ()<>@,;:\\\"/[]?={{}} or spaces"
)]
pub struct InvalidCookieName(pub String);

impl FromStr for CookieName {
    type Err = InvalidCookieName;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let separator = |b: u8| b"()<>@,;:\\\"/[]?={}".contains(&b);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && !separator(b)) {
            return Err(InvalidCookieName(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }
}

/// A refusal of credentials, as a proxy can pass it on: nginx's `auth_request` takes
/// only 401 and 403 as refusals and answers any other status with its own 500, so the
/// 400 of malformed `Bearer` credentials (RFC 6750's `invalid_request`) is a 401 here,
/// with the same challenge, marked so that a layer in front leaves it so.
fn for_proxies(mut response: Response) -> Response {
    if response.status() == StatusCode::BAD_REQUEST {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        response.extensions_mut().insert(OwnChallenge);
    }
    response
}

/// The route's state.
pub(super) struct VerifyState<S, D> {
    pub(super) auth: TokenAuth<S, D>,
    pub(super) options: VerifyOptions,
    pub(super) client_ip: ClientIp,
    /// The required scopes the service cannot grant that were logged already.
    pub(super) warned: Mutex<HashSet<String>>,
}

/// The forward-auth handler: see [`verify`](super::verify). It answers every method;
/// the document lists the usual ones (and its `scope` parameter:
/// `openapi::scope_parameter`).
#[cfg_attr(feature = "openapi", utoipa::path(
    method(get, post, put, patch, delete, trace), path = "/auth/verify", tag = "forward auth", security(("token" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "Let the request through: the identity headers and body.", body = Identity<'_>,
            headers(
                ("X-Auth-User" = String, description = "The username (header names configurable)."),
                ("X-Auth-User-Id" = String, description = "The user's id."),
                ("X-Auth-Scopes" = String, description = "The token's scopes, space-separated."),
                ("X-Auth-Token-Id" = String, description = "The token's public id."),
                ("X-Auth-Expires" = String, description = "When the token expires (RFC 3339)."),
            )),
        (status = 400, description = "A malformed scope requirement (credentials that fail are a 401 here: \
            nginx's `auth_request` turns a 400 into its own 500).", body = super::openapi::Detail),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    ),
))]
pub(super) async fn verify<S: TokenStore, D: UserDirectory>(
    State(state): State<Arc<VerifyState<S, D>>>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let response = match state.required_scopes(&parts) {
        Ok(required) => state.judge(&mut parts, required).await,
        Err(message) => detail_response(StatusCode::BAD_REQUEST, &message),
    };
    log_forwarded(&parts, response.status());
    response
}

impl<S: TokenStore, D: UserDirectory> VerifyState<S, D> {
    /// Authenticates the request and checks its token's scopes: the answer.
    async fn judge(&self, parts: &mut Parts, required: Scopes) -> Response {
        // Worded as the layer in front worded it, if there is one, else as it would.
        let answer = match Presented::of(&parts.extensions) {
            Ok(presented) => presented.answer.clone(),
            Err(_) => answer(&self.auth, parts.headers.get(header::AUTHORIZATION)),
        };
        let verified = match self.authenticate(parts).await {
            Ok(verified) => verified,
            Err(response) => return for_proxies(answer.finish(response)),
        };
        if let Some(missing) = required.first_missing_from(self.auth.grantable_scopes()) {
            self.warn_not_grantable(missing);
        }
        if !required.is_subset(&verified.token.scopes) {
            tracing::debug!(
                token_id = %verified.token.id,
                required = %required,
                granted = %verified.token.scopes,
                "insufficient scope"
            );
            return insufficient_scope(&answer, required).into_response();
        }
        self.identity(&verified)
    }

    /// The request's user and token, or the response refusing it.
    async fn authenticate(&self, parts: &mut Parts) -> Result<Verified<D::User>, Response> {
        // A `TokenAuthLayer` in front authenticated it already: no second use recorded.
        if let Some(Ok(token)) = parts.extensions.get::<Presented>().map(Presented::token)
            && let Some(UserOf(user)) = parts.extensions.get::<UserOf<D::User>>()
        {
            return Ok(Verified {
                user: user.clone(),
                token: token.clone(),
            });
        }
        let ip = (self.client_ip)(parts);
        let verdict = match authenticate_authorization(&self.auth, parts, ip).await {
            Ok(None) => match self.cookie_token(parts) {
                Some(token) => self.auth.authenticate(&token, ip).await.map(Some),
                None => Ok(None),
            },
            verdict => verdict,
        };
        match verdict {
            Ok(Some(verified)) => Ok(verified),
            Ok(None) => Err(TokenAuthRejection::NotProvided.into_response()),
            Err(error) => Err(refusal(&error)),
        }
    }

    /// The token in the configured cookie: the first cookie of that name, if not empty.
    fn cookie_token(&self, parts: &mut Parts) -> Option<String> {
        let name = self.options.cookie.as_ref()?;
        let header::Entry::Occupied(mut entry) = parts.headers.entry(header::COOKIE) else {
            return None;
        };
        entry.iter_mut().for_each(|value| value.set_sensitive(true));
        entry
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|cookies| cookies.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(found, _)| *found == name.as_str())
            .map(|(_, value)| value.trim().trim_matches('"').to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The scopes the request requires: those of every `scope` query parameter and
    /// every required-scope header, or why a malformed list is refused (a 400).
    fn required_scopes(&self, parts: &Parts) -> Result<Scopes, String> {
        let query = form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .filter(|(name, _)| name == "scope")
            .map(|(_, value)| value.into_owned());
        let mut list: Vec<String> = query.collect();
        for value in parts.headers.get_all(&self.options.required_scope_header) {
            let Ok(value) = value.to_str() else {
                return Err(format!(
                    "Invalid {} header: scopes are printable ASCII.",
                    self.options.required_scope_header
                ));
            };
            list.push(value.to_owned());
        }
        let list = list.join(" ");
        if list.split_ascii_whitespace().nth(MAX_SCOPES).is_some() {
            return Err(format!(
                "Too many required scopes: at most {MAX_SCOPES} are accepted."
            ));
        }
        Scopes::parse(&list).map_err(|invalid| format!("\"{}\" is not a valid scope.", invalid.0))
    }

    /// Logs, once per scope name, that a location requires a scope no token can carry.
    fn warn_not_grantable(&self, scope: &str) {
        let mut warned = self
            .warned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if warned.len() < MAX_WARNED_SCOPES && warned.insert(scope.to_owned()) {
            tracing::warn!(
                scope,
                grantable = %self.auth.grantable_scopes(),
                "forward auth: a required scope is not one the service grants, so no token \
                 carries it and every request requiring it is refused (403)"
            );
        }
    }

    /// The 200 for `verified`: the identity headers and a JSON body for proxies that
    /// read one (Oathkeeper).
    fn identity(&self, verified: &Verified<D::User>) -> Response {
        let username = verified.user.username();
        let token = &verified.token;
        let (Some(user), Ok(expires)) = (header_text(username), token.expires.format(&Rfc3339)) else {
            // A stored username (no 5xx for stored data): refused, logged, rather than
            // a header that names someone else once a proxy trims or splits it.
            tracing::warn!(
                user_id = %token.user_id,
                "forward auth: the username cannot be sent as a header value (control \
                 characters, or spaces at either end); rename the user"
            );
            return detail_response(
                StatusCode::FORBIDDEN,
                "This user's name cannot be passed on to the application; ask an administrator \
                 to rename the user.",
            );
        };
        let body = Identity {
            sub: token.user_id.to_string(),
            extra: Extra {
                username,
                scope: token.scopes.to_string(),
                token_id: token.id.to_string(),
                expires: &expires,
            },
        };
        let mut response = json_response(StatusCode::OK, &body);
        let options = &self.options;
        let headers = response.headers_mut();
        headers.insert(options.user_header.clone(), user);
        for (name, value) in [
            (&options.user_id_header, token.user_id.to_string()),
            (&options.scopes_header, token.scopes.to_string()),
            (&options.token_id_header, token.id.to_string()),
            (&options.expires_header, expires),
        ] {
            if let Some(value) = header_text(&value) {
                headers.insert(name.clone(), value);
            }
        }
        response
    }
}

/// The body of a 200: Oathkeeper's session shape (`sub`, `extra`).
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Identity<'a> {
    /// The user's id.
    sub: String,
    /// The rest.
    extra: Extra<'a>,
}

/// What Oathkeeper passes on besides the subject.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Extra<'a> {
    /// The username.
    username: &'a str,
    /// The token's scopes, space-separated.
    scope: String,
    /// The token's public id.
    token_id: String,
    /// When the token expires (RFC 3339).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    expires: &'a str,
}

/// `text` as a header value that proxies pass on unchanged: no control characters
/// (UTF-8 beyond ASCII passes as is) and no spaces at either end, which proxies trim.
fn header_text(text: &str) -> Option<HeaderValue> {
    if text.trim() != text {
        return None;
    }
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

/// Logs the request the proxy asks about, as Traefik (`X-Forwarded-Method`,
/// `X-Forwarded-Uri`) and nginx (`X-Original-URI`, `X-Original-Method` as the
/// configuration in docs/gateway.md sets them) describe it: its method and path,
/// never its query, which may carry secrets.
fn log_forwarded(parts: &Parts, status: StatusCode) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let text = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
    let method = text("x-forwarded-method").or_else(|| text("x-original-method"));
    let uri = text("x-forwarded-uri").or_else(|| text("x-original-uri"));
    let path = uri.map(|uri| uri.split(['?', '#']).next().unwrap_or_default());
    tracing::debug!(
        method = method.unwrap_or("-"),
        path = path.unwrap_or("-"),
        status = status.as_u16(),
        "forward auth"
    );
}
