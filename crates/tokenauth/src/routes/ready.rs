//! The readiness endpoint: do the store and the directory answer?

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use tokenauth_core::TokenAuth;
use tokenauth_core::store::{TokenStore, UserDirectory};

use crate::rejection::{UNAVAILABLE_RETRY_AFTER, detail_response, json_response, with_retry_after};

/// What a not-ready probe answers.
/// `{"status": "ready"}`.
#[derive(serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
struct Ready {
    /// `ready`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^ready$"))]
    status: &'static str,
}

pub(super) const NOT_READY: &str = "Not ready: the token store or the user directory does not answer.";

/// Whether the token store and the user directory answer.
#[cfg_attr(feature = "openapi", utoipa::path(
    get, path = "/readyz", tag = "probes",
    responses(
        (status = 200, description = "Ready.", body = Ready),
        (status = 405, response = super::openapi::MethodNotAllowed),
        (status = 503, response = super::openapi::Unavailable),
    ),
))]
pub(super) async fn readiness<S: TokenStore, D: UserDirectory>(
    State(auth): State<TokenAuth<S, D>>,
) -> Response {
    match auth.ready().await {
        Ok(()) => json_response(StatusCode::OK, &Ready { status: "ready" }),
        Err(error) => {
            tracing::warn!(error = &error as &dyn std::error::Error, "not ready");
            with_retry_after(
                detail_response(StatusCode::SERVICE_UNAVAILABLE, NOT_READY),
                UNAVAILABLE_RETRY_AFTER,
            )
        }
    }
}
