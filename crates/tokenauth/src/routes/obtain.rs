//! The obtain endpoint's handler: a username and password in, a token out.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{IssueError, ObtainError, TokenAuth};

use super::body::read_body;
#[cfg(feature = "openapi")]
use super::openapi as doc;
use super::throttle::LoginThrottle;
use super::validate::{FieldErrors, validate};
use super::{secret_response, server_error};
use crate::layer::ClientIp;
use crate::rejection::{
    SERVICE_UNAVAILABLE, backend_failure, detail_response, whole_seconds, with_retry_after,
};

/// What the obtain handler works with.
pub(super) struct ObtainState<S, D> {
    pub(super) auth: TokenAuth<S, D>,
    pub(super) throttle: LoginThrottle,
    pub(super) client_ip: ClientIp,
}

/// The obtain endpoint's answer: the token, shown this once, and when it expires.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct TokenResponse<'a> {
    /// The token's key, to present as `Authorization: Token <key>`.
    token: &'a str,
    /// When it expires (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    expiry: time::OffsetDateTime,
}

/// Obtains a token with a username and password, as DRF's `obtain_auth_token`.
///
/// Reads and validates the body (bounded, and all of it before any password work),
/// releases it, applies the login throttle, then logs in.
#[cfg_attr(feature = "openapi", utoipa::path(
    post,
    path = "/auth/token",
    tag = "login",
    request_body(content(
        (doc::ObtainRequest = "application/json"),
        (doc::ObtainForm = "application/x-www-form-urlencoded"),
        (doc::ObtainMultipart = "multipart/form-data"),
    )),
    responses(
        (status = 200, description = "The token, shown this once.", body = TokenResponse<'_>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = doc::InvalidBody),
        (status = 403, response = doc::Forbidden),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 429, response = doc::Throttled),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn obtain_token<S: TokenStore, D: UserDirectory>(
    State(state): State<Arc<ObtainState<S, D>>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let ip = (state.client_ip)(&parts);
    let data = match read_body(Request::from_parts(parts, body)).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let validated = validate(&data, state.auth.policy().lifespan());
    // The parsed body is not needed any more: it is not kept while the login waits
    // for a hashing slot.
    drop(data);
    let mut credentials = match validated {
        Ok(credentials) => credentials,
        Err(errors) => return errors.into_response(),
    };
    if let Err(wait) = state.throttle.check(&credentials.username, ip) {
        state.auth.report_login_throttled(ip);
        return throttled(wait);
    }
    credentials.request.client_ip = ip;
    match state
        .auth
        .obtain(&credentials.username, &credentials.password, credentials.request)
        .await
    {
        Ok(issued) => {
            let body = TokenResponse {
                token: issued.token.expose_secret(),
                expiry: issued.info.expires,
            };
            secret_response(StatusCode::OK, &body)
        }
        Err(error @ ObtainError::InvalidCredentials) => {
            FieldErrors::one(FieldErrors::NON_FIELD, error.to_string()).into_response()
        }
        Err(ObtainError::Issue(error)) => issue_error(&error, "obtain failed"),
        Err(ObtainError::Busy { retry_after }) => with_retry_after(
            detail_response(StatusCode::SERVICE_UNAVAILABLE, SERVICE_UNAVAILABLE),
            retry_after,
        ),
        Err(error) => server_error(&error, "obtain failed"),
    }
}

/// DRF's 429: `Request was throttled. Expected available in N seconds.`, N rounded up,
/// and `Retry-After: N`.
fn throttled(wait: Duration) -> Response {
    let seconds = whole_seconds(wait);
    let unit = if seconds == 1 { "second" } else { "seconds" };
    with_retry_after(
        detail_response(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Request was throttled. Expected available in {seconds} {unit}."),
        ),
        wait,
    )
}

/// The response to a token that cannot be issued; `what` says what failed, for the log.
pub(super) fn issue_error(error: &IssueError, what: &str) -> Response {
    match error {
        IssueError::LifespanTooLong { .. } => FieldErrors::one("lifespan", error.to_string()).into_response(),
        IssueError::ScopeNotGrantable { .. } => FieldErrors::one("scope", error.to_string()).into_response(),
        IssueError::LimitReached { .. } => detail_response(StatusCode::FORBIDDEN, &error.to_string()),
        IssueError::Backend(error) => backend_failure(error, what),
        _ => server_error(error, what),
    }
}
