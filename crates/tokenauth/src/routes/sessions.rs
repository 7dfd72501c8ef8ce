//! The session routes: logout, logout everywhere, the user's tokens, creating a
//! personal one, revoking one.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use time::OffsetDateTime;
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{AuthUser, IssueError, RevokeReason, Scopes, TokenAuth, TokenId};

use super::body::read_body;
use super::obtain::issue_error;
#[cfg(feature = "openapi")]
use super::openapi as doc;
use super::validate::validate_personal;
use super::{not_found, secret_response};
use crate::extract::Authenticated;
use crate::rejection::{TokenAuthRejection, backend_failure, detail_response, json_response};

/// Revokes the presented token.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/logout", tag = "sessions", security(("token" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, response = doc::MalformedCredentials),
        (status = 401, response = doc::Unauthorized),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn logout<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
) -> Response {
    match auth.logout(&who.token).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => backend_failure(&error, "logout failed"),
    }
}

/// Revokes every token of the user.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/logoutall", tag = "sessions", security(("token" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, response = doc::MalformedCredentials),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn logout_all<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
) -> Response {
    match auth
        .revoke_user_tokens(&who.user.id(), RevokeReason::LogoutAll)
        .await
    {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => backend_failure(&error, "logout of every token failed"),
    }
}

/// One entry of `GET /auth/tokens`: what its owner may see of a token.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Session<'a> {
    /// Its public id, to revoke it by.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    id: &'a TokenId,
    /// Its label, if any.
    name: Option<&'a str>,
    /// What it may be used for.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    scopes: &'a Scopes,
    /// When it was issued (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    created: OffsetDateTime,
    /// When it expires (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    expiry: OffsetDateTime,
    /// When it was last used, if ever (RFC 3339).
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    last_used: Option<OffsetDateTime>,
    /// Whether it is the token presented.
    current: bool,
}

/// The user's live tokens, oldest first.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/auth/tokens", tag = "sessions", security(("token" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user's live tokens, oldest first; never a secret.", body = Vec<Session<'_>>),
        (status = 400, response = doc::MalformedCredentials),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn list_tokens<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
) -> Response {
    let tokens = match auth.sessions(&who.user).await {
        Ok(tokens) => tokens,
        Err(error) => return backend_failure(&error, "listing tokens failed"),
    };
    let sessions: Vec<Session<'_>> = tokens
        .iter()
        .map(|info| Session {
            id: &info.id,
            name: info.name.as_deref(),
            scopes: &info.scopes,
            created: info.created,
            expiry: info.expires,
            last_used: info.last_used,
            current: info.id == who.token.id,
        })
        .collect();
    json_response(StatusCode::OK, &sessions)
}

/// The answer to `POST /auth/tokens`: the new token, its secret shown this once.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct Created<'a> {
    /// The token's key, shown this once.
    token: &'a str,
    /// Its public id.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    id: &'a TokenId,
    /// Its label.
    name: Option<&'a str>,
    /// What it may be used for.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    scopes: &'a Scopes,
    /// When it expires (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    expiry: OffsetDateTime,
}

/// Creates a personal token for the user of the presented token (see
/// [`TokenAuth::issue_personal`]): authentication first, then the body (bounded, as the
/// obtain endpoint's), then the issue.
#[cfg_attr(feature = "openapi", utoipa::path(
    post, path = "/auth/tokens", tag = "sessions", security(("token" = []), ("bearer" = [])),
    request_body(content(
        (doc::PersonalTokenRequest = "application/json"),
        (doc::PersonalTokenForm = "application/x-www-form-urlencoded"),
        (doc::PersonalTokenMultipart = "multipart/form-data"),
    )),
    responses(
        (status = 201, description = "The new token, its secret shown this once.", body = Created<'_>,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = doc::InvalidBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 413, response = doc::PayloadTooLarge),
        (status = 415, response = doc::UnsupportedMediaType),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn create_token<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
    request: Request,
) -> Response {
    let data = match read_body(request).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let request = match validate_personal(&data, auth.policy().lifespan()) {
        Ok(request) => request,
        Err(errors) => return errors.into_response(),
    };
    match auth.issue_personal(&who.user, &who.token, request).await {
        Ok(issued) => {
            let body = Created {
                token: issued.token.expose_secret(),
                id: &issued.info.id,
                name: issued.info.name.as_deref(),
                scopes: &issued.info.scopes,
                expiry: issued.info.expires,
            };
            secret_response(StatusCode::CREATED, &body)
        }
        Err(error @ IssueError::ScopeNotHeld { .. }) => {
            detail_response(StatusCode::FORBIDDEN, &error.to_string())
        }
        // The password changed (or the user went) since this request authenticated: its
        // token is dead, and answers as it will from now on.
        Err(IssueError::CredentialsChanged) => TokenAuthRejection::InvalidToken.into_response(),
        Err(error) => issue_error(&error, "creating a personal token failed"),
    }
}

/// Revokes one of the user's tokens.
#[cfg_attr(feature = "openapi", utoipa::path(
    delete, path = "/auth/tokens/{id}", tag = "sessions", security(("token" = []), ("bearer" = [])),
    params(("id" = String, Path, description = "The token's public id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 400, response = doc::MalformedCredentials),
        (status = 401, response = doc::Unauthorized),
        (status = 403, response = doc::Forbidden),
        (status = 404, response = doc::NotFound),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 503, response = doc::Unavailable),
    ),
))]
pub(super) async fn revoke_token<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    who: Authenticated<D::User>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    // A malformed id names no token, like an unknown one.
    let Some(id) = id.ok().and_then(|Path(id)| id.parse::<TokenId>().ok()) else {
        return not_found();
    };
    match auth.revoke_own(&who.user.id(), &id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        // Another user's token is as unknown as a missing one: ids do not leak.
        Ok(false) => not_found(),
        Err(error) => backend_failure(&error, "revoking a token failed"),
    }
}
