//! The obtain endpoint's handler: a username and password in, a token out.

use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use tokenauth_core::{IssueError, ObtainError, TokenAuth, TokenStore, UserDirectory};

use super::body::read_body;
use super::server_error;
use super::validate::{FieldErrors, validate};
use crate::rejection::{detail_response, json_response};

#[derive(serde::Serialize)]
struct TokenResponse<'a> {
    token: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    expiry: time::OffsetDateTime,
}

pub(super) async fn obtain_token<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
    request: Request,
) -> Response {
    let data = match read_body(request).await {
        Ok(data) => data,
        Err(response) => return response,
    };
    let credentials = match validate(&data, auth.policy().lifespan()) {
        Ok(credentials) => credentials,
        Err(errors) => return errors.into_response(),
    };
    match auth
        .obtain(&credentials.username, &credentials.password, credentials.request)
        .await
    {
        Ok(issued) => {
            let body = TokenResponse {
                token: issued.token.expose_secret(),
                expiry: issued.info.expires,
            };
            let mut response = json_response(StatusCode::OK, &body);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error @ ObtainError::InvalidCredentials) => {
            FieldErrors::one(FieldErrors::NON_FIELD, error.to_string()).into_response()
        }
        Err(ObtainError::Issue(error)) => issue_error(&error),
        Err(error) => server_error(&error, "obtain failed"),
    }
}

/// The response to a token that cannot be issued.
fn issue_error(error: &IssueError) -> Response {
    match error {
        IssueError::LifespanTooLong { .. } => FieldErrors::one("lifespan", error.to_string()).into_response(),
        IssueError::ScopeNotGrantable { .. } => FieldErrors::one("scope", error.to_string()).into_response(),
        IssueError::LimitReached { .. } => detail_response(StatusCode::FORBIDDEN, &error.to_string()),
        _ => server_error(error, "obtain failed"),
    }
}
