//! The readiness endpoint: do the store and the directory answer?

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use tokenauth_core::TokenAuth;
use tokenauth_core::store::{TokenStore, UserDirectory};

use crate::rejection::{UNAVAILABLE_RETRY_AFTER, detail_response, json_response, with_retry_after};

/// What a not-ready probe answers.
pub(super) const NOT_READY: &str = "Not ready: the token store or the user directory does not answer.";

pub(super) async fn readiness<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
) -> Response {
    match auth.ready().await {
        Ok(()) => json_response(StatusCode::OK, &serde_json::json!({ "status": "ready" })),
        Err(error) => {
            tracing::warn!(error = &error as &dyn std::error::Error, "not ready");
            with_retry_after(
                detail_response(StatusCode::SERVICE_UNAVAILABLE, NOT_READY),
                UNAVAILABLE_RETRY_AFTER,
            )
        }
    }
}
