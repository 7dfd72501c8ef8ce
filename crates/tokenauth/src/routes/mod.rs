//! The HTTP endpoints: the obtain-token endpoint (a username and password in, a token
//! out), the session routes (logout, the user's tokens, a personal token, revoking
//! one), forward auth for reverse proxies ([`verify_router`]), and OAuth 2.0 token
//! introspection and revocation for other services ([`Routes::oauth_router`]).
//!
//! [`router`] serves both; [`obtain_router`] and [`session_router`] serve each. They are
//! generic over your app's state, so they `.merge()` into a `Router<AppState>`, and
//! they need no particular place relative to your [`TokenAuthLayer`]:
//!
//! - the obtain endpoint speaks DRF's `obtain_auth_token` protocol: JSON, urlencoded or
//!   multipart bodies, DRF's validation messages, `{"token": ...}` on success (plus
//!   `"expiry"`). Unlike DRF it ignores the `Authorization` header, so a client holding
//!   a dead token can log in again: the layer does not authenticate its paths (see
//!   "Login paths" on [`TokenAuthLayer`]), whether it wraps them or not;
//! - the session routes act on the presented token and its user: they carry their own
//!   [`TokenAuthLayer`], which stands aside when your app's layer already authenticated
//!   the request (see "Layers nest" on [`TokenAuthLayer`]).
//!
//! ```no_run
//! use axum::{Router, extract::State, routing::get};
//! use tokenauth::{Authenticated, TokenAuthLayer, routes};
//! use tokenauth::core::TokenAuth;
//! use tokenauth::core::{MemoryStore, MemoryUserDirectory};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     greeting: &'static str,
//! }
//!
//! async fn hello(State(state): State<AppState>, auth: Authenticated) -> String {
//!     format!("{}, {}", state.greeting, auth.user.username)
//! }
//!
//! let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
//! let app: Router = Router::new()
//!     .route("/hello", get(hello))
//!     .merge(routes::router(auth.clone()))
//!     .layer(TokenAuthLayer::new(auth))
//!     .with_state(AppState { greeting: "Hello" });
//! ```
//!

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};

use crate::extract::Presented;
use crate::layer::DEFAULT_LOGIN_PATHS;
// Named only by the doc comments' links.
#[cfg(doc)]
use crate::layer::TokenAuthLayer;
use crate::rejection::{SERVER_ERROR, detail_response, method_not_allowed_response};

mod body;
mod builder;
mod functions;
mod oauth;
mod obtain;
#[cfg(feature = "openapi")]
pub mod openapi;
mod ready;
mod sessions;
mod throttle;
mod validate;
mod verify;

pub use builder::Routes;
pub use functions::{obtain, obtain_router, readiness, router, session_router, verify, verify_router};
pub use oauth::{
    INTROSPECT_PATH, INTROSPECT_SCOPE, IntrospectionClient, InvalidClient, MIN_CLIENT_SECRET_BYTES,
    REVOKE_PATH,
};
pub use throttle::{InvalidThrottle, LoginThrottle, MAX_THROTTLE_KEYS, Rate, ThrottleConfig};
pub use verify::{CookieName, InvalidCookieName, VERIFY_PATH, VerifyOptions};

/// The two paths the obtain endpoint is served at by [`obtain_router`]: DRF's and
/// tokenauth's own. [`TokenAuthLayer`] does not authenticate
/// them (its default login paths).
pub const OBTAIN_PATHS: [&str; 2] = DEFAULT_LOGIN_PATHS;

/// The longest token `name` accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest `username` accepted, in characters (after trimming): Django's
/// `max_length` for usernames. Longer gets 400 `{"username": ["Ensure this field has
/// no more than 150 characters."]}`, before any password work.
pub const MAX_USERNAME_CHARS: usize = 150;

/// The longest `password` accepted, in bytes (UTF-8). Longer gets 400 `{"password":
/// ["Ensure this field has no more than 4096 bytes."]}`, before any password work.
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// The most scopes one `scope` field may ask for.
pub const MAX_SCOPES: usize = 32;

/// The largest obtain body accepted, in bytes: room for the longest username,
/// password, name and scope list, JSON-escaped. Larger gets 413 `{"detail": "Request
/// body is too large."}`, refused on its `Content-Length` or read no further than this.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The most fields (JSON keys, form pairs, multipart parts) an obtain body may have;
/// more gets 400 `{"detail": "Too many fields: at most 32 are accepted."}`.
pub const MAX_FIELDS: usize = 32;

/// DRF's 405: `{"detail": "Method \"GET\" not allowed."}`. Axum adds the `Allow`
/// header naming the methods the route serves.
///
/// Install it on your own public routes with `Router::method_not_allowed_fallback`,
/// before adding [`TokenAuthLayer`], so that a wrong method with
/// bad credentials is a 401 as in DRF (which authenticates before looking at the
/// method). On routes that require authentication use
/// [`method_not_allowed_authenticated`], which answers anonymous requests with the 401
/// too:
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::{Authenticated, TokenAuthLayer, routes::method_not_allowed};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/", get(|auth: Option<Authenticated>| async move { auth.is_some().to_string() }))
///     .method_not_allowed_fallback(method_not_allowed)
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub async fn method_not_allowed(method: Method) -> Response {
    method_not_allowed_response(&method)
}

/// [`method_not_allowed`] for routes that require authentication: a request without
/// valid credentials gets the 401 first, as a DRF view with `IsAuthenticated` answers
/// (it checks permissions before looking at the method). It works with any user type.
///
/// ```no_run
/// use axum::{Router, routing::get};
/// use tokenauth::routes::method_not_allowed_authenticated;
/// use tokenauth::{Authenticated, TokenAuthLayer};
/// use tokenauth::core::TokenAuth;
/// use tokenauth::core::{MemoryStore, MemoryUserDirectory};
///
/// let auth = TokenAuth::new(MemoryStore::new(), MemoryUserDirectory::new());
/// let app: Router = Router::new()
///     .route("/me", get(|auth: Authenticated| async move { auth.user.username }))
///     .method_not_allowed_fallback(method_not_allowed_authenticated)
///     .layer(TokenAuthLayer::new(auth));
/// ```
pub async fn method_not_allowed_authenticated(request: Request) -> Response {
    match Presented::of(request.extensions()).and_then(Presented::token) {
        Ok(_) => method_not_allowed(request.method().clone()).await,
        Err(rejection) => rejection.into_response(),
    }
}

/// DRF's 500, after logging the cause.
fn server_error(error: &(dyn std::error::Error + 'static), what: &str) -> Response {
    tracing::error!(error, "{what}");
    detail_response(StatusCode::INTERNAL_SERVER_ERROR, SERVER_ERROR)
}

/// A JSON answer carrying a token's secret: `Cache-Control: no-store`, so that no
/// cache keeps it.
fn secret_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut response = crate::rejection::json_response(status, body);
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    response
}

fn not_found() -> Response {
    detail_response(StatusCode::NOT_FOUND, "Not found.")
}
