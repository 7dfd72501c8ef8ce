//! The HTTP application: routes, and the limits a front server would otherwise apply.

use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokenauth::core::TokenAuth;
use tokenauth::routes::openapi as doc;
use tokenauth::routes::{
    IntrospectionClient, LoginThrottle, Routes, VerifyOptions, method_not_allowed, readiness,
};
use tokenauth::{Authenticated, TokenAuthLayer, TrustedProxies, detail_response};
use tokenauth_core::store::{TokenStore, UserDirectory};
use tokenauth_core::{AuthUser, TokenInfo};

use crate::{Metrics, openapi};

/// The longest header line accepted (`Name: value`), as gunicorn, nginx and Apache
/// accept by default; longer lines get a 431.
pub const MAX_HEADER_LINE: usize = 8190;

/// The service's routes:
///
/// - `POST /api-token-auth/` and `POST /auth/token`: obtain a token;
/// - `GET /auth/me`: the user and token presented;
/// - `/auth/verify`, any method: forward auth for reverse proxies
///   ([`tokenauth::routes::verify_router`]);
/// - `POST /auth/logout`, `POST /auth/logoutall`, `GET /auth/tokens`,
///   `POST /auth/tokens` (a personal token), `DELETE /auth/tokens/{id}`: session
///   management ([`tokenauth::routes::session_router`]);
/// - `POST /auth/introspect` and `POST /auth/revoke`: OAuth 2.0 token introspection
///   (RFC 7662) and revocation (RFC 7009) ([`Routes::introspection_router`],
///   [`Routes::revocation_router`]);
/// - `GET /openapi.json`: the OpenAPI 3.1 description of these routes
///   ([`crate::openapi`]);
/// - `GET /healthz`: 200 `ok` while the process serves (liveness: no database);
/// - `GET /readyz`: 200 `{"status":"ready"}` when the token store and the user
///   directory answer, else 503 with a `detail` and `Retry-After`
///   ([`tokenauth::routes::readiness`]); 503 too while the server drains before
///   shutting down ([`crate::Draining`]).
///
/// Generic over the backend, which is chosen once, at the top.
pub fn app<S, D>(auth: TokenAuth<S, D>) -> Router
where
    S: TokenStore,
    D: UserDirectory,
{
    app_with(auth, &LoginOptions::default())
}

/// How logins are defended: the throttle and the trusted proxies (which forward auth
/// trusts too); the forward-auth route's headers and cookie; and who may introspect
/// besides tokens with the `introspect` scope. (The scope the session routes require is
/// the service's: `TokenAuth::with_session_scope`.)
#[derive(Debug, Clone, Default)]
pub struct LoginOptions {
    /// The login throttle (default [`LoginThrottle::default`]).
    pub throttle: LoginThrottle,
    /// The proxies whose `X-Forwarded-For` names the client (default none).
    pub proxies: TrustedProxies,
    /// The headers and cookie of `/auth/verify` (default [`VerifyOptions::default`]).
    pub verify: VerifyOptions,
    /// The client credential accepted by `POST /auth/introspect` (default none).
    pub introspection_client: Option<IntrospectionClient>,
}

/// [`app()`] with `options`.
pub fn app_with<S, D>(auth: TokenAuth<S, D>, options: &LoginOptions) -> Router
where
    S: TokenStore,
    D: UserDirectory,
{
    app_serving(auth, options, None)
}

/// [`app_with`], serving `metrics` at `/metrics` too (and describing it).
pub(crate) fn app_serving<S, D>(
    auth: TokenAuth<S, D>,
    options: &LoginOptions,
    metrics: Option<&Metrics>,
) -> Router
where
    S: TokenStore,
    D: UserDirectory,
{
    let proxies = options.proxies.clone();
    let client_ip = move |parts: &axum::http::request::Parts| proxies.client_ip(parts);
    let login_routes = Routes::new(auth.clone())
        .with_login_throttle(options.throttle.clone())
        .with_client_ip(client_ip.clone());
    let login_routes = match &options.introspection_client {
        Some(client) => login_routes.with_introspection_client(client.clone()),
        None => login_routes,
    };
    // The layer answers a wrong method with the 401 first when credentials are not
    // valid, as DRF does (its views check permissions before dispatching on the
    // method), and lets logins through without reading their header.
    let protected = Router::new()
        .route("/auth/me", get(me::<D::User>))
        .merge(login_routes.router())
        .merge(login_routes.introspection_router())
        .layer(TokenAuthLayer::new(auth.clone()).with_client_ip(client_ip));
    // Outside the layer: health checks and revocation ignore the Authorization header
    // (revocation needs none: the token in its form is the proof), and forward auth
    // authenticates by itself (a cookie too, if configured).
    let public = Router::new()
        .merge(login_routes.verify_router(&options.verify))
        .merge(login_routes.revocation_router())
        .route("/healthz", get(healthz))
        .route(
            "/readyz",
            readiness(auth).route_layer(middleware::from_fn(not_ready_while_draining)),
        )
        .merge(openapi::router(&openapi::document(
            &login_routes,
            metrics.is_some(),
        )))
        .merge(metrics.map(Metrics::router).unwrap_or_default())
        .method_not_allowed_fallback(method_not_allowed);
    protected
        .merge(public)
        .fallback(not_found)
        .layer(middleware::from_fn(limit_header_lines))
}

/// `GET /auth/me`'s answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    /// The user's username.
    username: String,
    /// The token presented.
    #[schema(value_type = tokenauth::routes::openapi::TokenInfo)]
    token: TokenInfo,
}

/// The user and the token presented.
#[utoipa::path(
    get, path = "/auth/me", tag = "sessions",
    security(("token" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The user and the token presented.", body = Me),
        (status = 400, response = doc::MalformedCredentials),
        (status = 401, response = doc::Unauthorized),
        (status = 405, response = doc::MethodNotAllowed),
        (status = 503, response = doc::Unavailable),
    ),
)]
pub(crate) async fn me<U: AuthUser>(auth: Authenticated<U>) -> Json<Me> {
    Json(Me {
        username: auth.user.username().to_owned(),
        token: auth.token,
    })
}

/// Liveness: the process serves (no database).
#[utoipa::path(
    get, path = "/healthz", tag = "probes",
    responses(
        (status = 200, description = "`ok`", content_type = "text/plain", body = String),
        (status = 405, response = doc::MethodNotAllowed),
    ),
)]
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` answers while the server drains.
const DRAINING: &str = "Not ready: the server is shutting down.";

/// Answers 503 instead of the readiness check while the server drains, so that load
/// balancers take it out before it stops accepting.
async fn not_ready_while_draining(request: Request, next: Next) -> Response {
    if request
        .extensions()
        .get::<crate::Draining>()
        .is_some_and(crate::Draining::is_draining)
    {
        return detail_response(StatusCode::SERVICE_UNAVAILABLE, DRAINING);
    }
    next.run(request).await
}

pub(crate) async fn not_found() -> Response {
    detail_response(StatusCode::NOT_FOUND, "Not found.")
}

/// Answers 431 with a JSON `detail` for any header line over [`MAX_HEADER_LINE`] bytes.
async fn limit_header_lines(request: Request, next: Next) -> Response {
    let too_long = request
        .headers()
        .iter()
        .any(|(name, value)| name.as_str().len() + 2 + value.len() > MAX_HEADER_LINE);
    if too_long {
        return detail_response(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request header field too large.",
        )
        .into_response();
    }
    next.run(request).await
}
