//! The obtain endpoint's handler: a username and password in, a token out.

use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use tokenauth_core::{IssueError, ObtainError, TokenAuth, TokenStore, UserDirectory};

use super::body::read_body;
use super::server_error;
use super::validate::validate;
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
        Err(errors) => return json_response(StatusCode::BAD_REQUEST, &Value::Object(errors)),
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
            let body = serde_json::to_value(&body).expect("a token response always serializes");
            let mut response = json_response(StatusCode::OK, &body);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(ObtainError::InvalidCredentials) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "non_field_errors": [ObtainError::InvalidCredentials.to_string()] }),
        ),
        Err(ObtainError::Issue(error)) => issue_error(&error),
        Err(error) => server_error(&error, "obtain failed"),
    }
}

/// The response to a token that cannot be issued.
fn issue_error(error: &IssueError) -> Response {
    match error {
        IssueError::LifespanTooLong { .. } => json_response(
            StatusCode::BAD_REQUEST,
            &json!({ "lifespan": [error.to_string()] }),
        ),
        IssueError::ScopeNotGrantable { .. } => {
            json_response(StatusCode::BAD_REQUEST, &json!({ "scope": [error.to_string()] }))
        }
        IssueError::LimitReached { .. } => detail_response(StatusCode::FORBIDDEN, &error.to_string()),
        _ => server_error(error, "obtain failed"),
    }
}
